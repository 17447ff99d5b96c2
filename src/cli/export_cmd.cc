// baton export --adapters CKPT [--model M] --merge_lora true [--output_dir DIR]
// ms-swift's `swift export --merge_lora true` (swift/llm/export/merge_lora.py @v3.12.6): the
// adapter merged into the base model's weights, written as a Hugging Face model folder
// (default CKPT-merged, as ms-swift names it), with the adapter's args.json copied along.
// ms-swift skips the export when that folder exists; Baton refuses it unless --overwrite true,
// so a stale merge of another adapter is never taken for this one.
#include <unistd.h>

#include <cctype>
#include <cstdio>

#include "cli/adapter_source.h"
#include "cli/commands.h"
#include "model/config.h"
#include "model/merge_lora.h"
#include "run/layout.h"
#include "store/cache.h"

namespace baton::cli {
namespace {

struct ExportFlags {
  std::string adapters;
  std::string model;
  bool merge_lora = false;
  std::string output_dir;
  std::string max_shard_size = "5GB";
  bool overwrite = false;
};

// Hugging Face's max_shard_size: bytes, or a number with KB/MB/GB (powers of 1000) or
// KiB/MiB/GiB (powers of 1024), as transformers' convert_file_size_to_int reads it.
Result<uint64_t> ParseShardSize(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string unit = text.substr(digits);
  static const std::pair<const char*, uint64_t> kUnits[] = {{"", 1},
                                                            {"B", 1},
                                                            {"KB", 1000},
                                                            {"MB", 1000'000},
                                                            {"GB", 1000'000'000},
                                                            {"KiB", 1ull << 10},
                                                            {"MiB", 1ull << 20},
                                                            {"GiB", 1ull << 30}};
  for (const auto& [name, scale] : kUnits) {
    if (digits > 0 && digits <= 12 && unit == name) {
      uint64_t n = std::stoull(text.substr(0, digits));
      if (n > 0) return n * scale;
    }
  }
  return InvalidArgument("--max_shard_size {}: expected a positive size such as 5GB, 500MB or 2GiB",
                         text);
}

// Where the merged model goes: --output_dir, else ms-swift's "<adapter folder>-merged" (for a
// store URL, "<checkpoint name>-merged" in the current folder).
std::string OutputDir(const ExportFlags& f) {
  if (!f.output_dir.empty()) return f.output_dir;
  std::string path = f.adapters;
  if (IsRemoteUrl(path)) {
    if (auto parts = SplitStoreUrl(path)) path = parts->second;
  }
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path + "-merged";
}

Status RunExport(const ExportFlags& f) {
  if (!f.merge_lora) {
    return InvalidArgument(
        "--merge_lora true is required: merging a LoRA adapter is the export Baton does");
  }
  if (f.adapters.empty()) return InvalidArgument("--adapters is required");
  BATON_ASSIGN_OR_RETURN(uint64_t shard_bytes, ParseShardSize(f.max_shard_size));
  Env* env = Env::Default();
  const std::string out = OutputDir(f);
  if (env->FileExists(out) && !env->IsDirectory(out)) {
    return InvalidArgument("--output_dir {}: is a file", out);
  }
  if (env->IsDirectory(out)) {
    BATON_ASSIGN_OR_RETURN(std::vector<std::string> there, env->ListDir(out));
    if (!there.empty() && !f.overwrite) {
      return Status(StatusCode::kFailedPrecondition,
                    fmt::format("--output_dir {}: exists and is not empty; pass --overwrite true "
                                "to replace it, or choose another --output_dir",
                                out));
    }
  }
  BATON_ASSIGN_OR_RETURN(ModelAndAdapter where, ResolveModelAndAdapter(f.model, f.adapters, env));
  BATON_ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::Load(env, where.model_dir));
  BATON_ASSIGN_OR_RETURN(LoraAdapter adapter, LoraAdapter::Load(env, where.adapter_dir, config));
  std::fprintf(stderr, "merging %s (%zu modules) into %s\n", f.adapters.c_str(),
               adapter.entries().size(), where.model_dir.c_str());
  // Written next to its destination and renamed into place: an interrupted export leaves no
  // folder that looks like a finished one.
  const std::string staging = fmt::format("{}.partial-{}", out, getpid());
  BATON_RETURN_IF_ERROR(env->DeleteRecursively(staging));
  MergeOptions options;
  options.max_shard_bytes = shard_bytes;
  options.progress = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  Status merged = MergeLoraIntoModel(env, where.model_dir, adapter, staging, options);
  const std::string args_json = JoinPath(where.adapter_dir, kSwiftArgsFile);
  if (merged.ok() && env->FileExists(args_json)) {
    merged = env->CopyFile(args_json, JoinPath(staging, kSwiftArgsFile));  // as ms-swift does
  }
  if (merged.ok() && env->IsDirectory(out)) merged = env->DeleteRecursively(out);
  if (merged.ok()) merged = env->RenameFile(staging, out);
  if (!merged.ok()) {
    (void)env->DeleteRecursively(staging);
    return merged;
  }
  std::printf("merged model written to %s\n", out.c_str());
  return Status::Ok();
}

}  // namespace

void AddExportCommand(CLI::App& root, Action& action) {
  auto f = std::make_shared<ExportFlags>();
  CLI::App* cmd = root.add_subcommand(
      "export", "Merge a LoRA adapter into its base model (swift export --merge_lora true)");
  cmd->add_option("--adapters", f->adapters, "adapter folder or store URL (e.g. a checkpoint)")
      ->required();
  cmd->add_option("--model", f->model,
                  "base model folder or store URL (default: the adapter's args.json)");
  cmd->add_option("--merge_lora", f->merge_lora, "must be true (true/false)");
  cmd->add_option("--output_dir", f->output_dir,
                  "where the merged model goes (default CKPT-merged)");
  cmd->add_option("--max_shard_size", f->max_shard_size, "largest safetensors file (5GB, 500MB)")
      ->capture_default_str();
  cmd->add_option("--overwrite", f->overwrite, "replace a non-empty --output_dir (true/false)");
  cmd->callback([&action, f] {
    action = [f] {
      Status s = RunExport(*f);
      return s.ok() ? 0 : ReportError(s);
    };
  });
}

}  // namespace baton::cli
