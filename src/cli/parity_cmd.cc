// baton parity --model DIR [--adapter DIR] --reference FILE.safetensors
#include <algorithm>
#include <cstdio>

#include "cli/commands.h"
#include "kernels/backend_factory.h"
#include "train/parity.h"

namespace baton::cli {

void AddParityCommand(CLI::App& root, Action& action) {
  auto opts = std::make_shared<ParityOptions>();
  auto adapter = std::make_shared<std::string>();
  auto device = std::make_shared<std::string>("cpu");
  auto dtype = std::make_shared<std::string>("float32");
  CLI::App* cmd = root.add_subcommand(
      "parity",
      "Check the engine against a Hugging Face reference file (logits, padded batch, "
      "greedy generation, LoRA logits and loss)");
  cmd->add_option("--model", opts->model_dir, "Hugging Face model folder")->required();
  cmd->add_option("--adapter,--adapters", *adapter, "PEFT LoRA adapter folder");
  cmd->add_option("--reference", opts->reference_path, "reference .safetensors")->required();
  cmd->add_option("--tolerance", opts->logits_tolerance,
                  "relative tolerance for logits, loss and gradients (default 1e-4, f32)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--device", *device, "cpu (default), cuda or auto")->capture_default_str();
  cmd->add_option("--torch_dtype", *dtype, "float32 (default) or bfloat16 (CUDA)")
      ->capture_default_str();
  cmd->callback([&action, opts, adapter, device, dtype] {
    action = [opts, adapter, device, dtype] {
      if (!adapter->empty()) opts->adapter_dir = *adapter;
      opts->loss_tolerance = opts->logits_tolerance;
      opts->grad_tolerance = std::max(opts->grad_tolerance, opts->logits_tolerance);
      Result<std::unique_ptr<Backend>> made = MakeBackend(*device, *dtype);
      if (!made.ok()) return ReportError(made.status());
      std::unique_ptr<Backend> backend = std::move(made).value();
      Result<ParityReport> report = RunParity(Env::Default(), backend.get(), *opts);
      if (!report.ok()) return ReportError(report.status());
      std::printf("model %s on %s\n%s", opts->model_dir.c_str(), backend->name().c_str(),
                  report->ToText().c_str());
      return report->ok() ? 0 : 1;
    };
  });
}

}  // namespace baton::cli
