// baton parity --model DIR [--adapter DIR] --reference FILE.safetensors
#include <cstdio>

#include "cli/commands.h"
#include "kernels/cpu/cpu_backend.h"
#include "train/parity.h"

namespace baton::cli {

void AddParityCommand(CLI::App& root, Action& action) {
  auto opts = std::make_shared<ParityOptions>();
  auto adapter = std::make_shared<std::string>();
  CLI::App* cmd = root.add_subcommand(
      "parity",
      "Check the engine against a Hugging Face reference file (logits, padded batch, "
      "greedy generation, LoRA logits and loss)");
  cmd->add_option("--model", opts->model_dir, "Hugging Face model folder")->required();
  cmd->add_option("--adapter,--adapters", *adapter, "PEFT LoRA adapter folder");
  cmd->add_option("--reference", opts->reference_path, "reference .safetensors")->required();
  cmd->add_option("--tolerance", opts->logits_tolerance,
                  "relative tolerance for logits and loss (default 1e-4, f32)");
  cmd->callback([&action, opts, adapter] {
    action = [opts, adapter] {
      if (!adapter->empty()) opts->adapter_dir = *adapter;
      opts->loss_tolerance = opts->logits_tolerance;
      std::unique_ptr<Backend> backend = MakeCpuBackend(CpuBackendOptionsFromEnv());
      Result<ParityReport> report = RunParity(Env::Default(), backend.get(), *opts);
      if (!report.ok()) return ReportError(report.status());
      std::printf("model %s on %s\n%s", opts->model_dir.c_str(), backend->name().c_str(),
                  report->ToText().c_str());
      return report->ok() ? 0 : 1;
    };
  });
}

}  // namespace baton::cli
