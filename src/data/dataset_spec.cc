#include "data/dataset_spec.h"

#include <charconv>

#include "data/dataset_reader.h"
#include "data/sampling.h"
#include "data/self_cognition.h"

namespace baton {
namespace {

bool Exists(Env* env, const std::string& path) {
  return !path.empty() && (env->FileExists(path) || env->IsDirectory(path));
}

bool IsSelfCognitionName(std::string_view name) {
  return name == kSelfCognitionName || name == "swift/self-cognition" ||
         name == "modelscope/self-cognition";
}

// "dir/self_cognition.jsonl" -> "self_cognition".
std::string Stem(std::string_view path) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  if (slash != std::string_view::npos) path.remove_prefix(slash + 1);
  size_t dot = path.find('.');
  return std::string(path.substr(0, dot));
}

std::vector<std::string> SplitSpaces(const std::string& s) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while ((pos = s.find_first_not_of(" \t\n", pos)) != std::string::npos) {
    size_t end = s.find_first_of(" \t\n", pos);
    if (end == std::string::npos) end = s.size();
    parts.push_back(s.substr(pos, end - pos));
    pos = end;
  }
  return parts;
}

Result<DatasetSpec> ResolveOne(Env* env, const std::string& value) {
  DatasetSpec spec;
  spec.text = value;
  std::string base = value;
  if (!Exists(env, value)) {
    size_t hash = value.rfind('#');
    if (hash != std::string::npos) {
      base = value.substr(0, hash);
      std::string_view count = std::string_view(value).substr(hash + 1);
      int64_t n = 0;
      auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), n);
      if (ec != std::errc() || end != count.data() + count.size() || n <= 0) {
        return InvalidArgument(
            "--dataset '{}': '#{}' is not a positive row count (the form is PATH#N)", value, count);
      }
      if (n > kMaxSampleRows) {
        return InvalidArgument(
            "--dataset '{}': '#{}' is over the limit of {} rows Baton samples from one dataset",
            value, count, kMaxSampleRows);
      }
      spec.sample = n;
    }
  }
  if (Exists(env, base)) {
    spec.path = base;
    spec.folder = env->IsDirectory(base);
    if (spec.folder) {
      spec.rule = RuleForFolder(base);
      spec.self_cognition = spec.rule == DatasetRule::kSelfCognition;
    } else {
      std::string stem = Stem(base);
      spec.self_cognition = stem == "self_cognition" || stem == kSelfCognitionName;
    }
    return spec;
  }
  if (IsSelfCognitionName(base)) {
    spec.builtin = std::string(kSelfCognitionName);
    spec.self_cognition = true;
    return spec;
  }
  if (base.find("::") != std::string::npos) {
    return InvalidArgument(
        "--dataset '{}': Baton does not download from dataset hubs; download the files and pass "
        "their path",
        value);
  }
  return NotFound(
      "--dataset '{}': no such file or folder '{}' (Baton reads local .json/.jsonl/.csv/.tsv/.txt "
      "files and folders of them; the built-in dataset is 'self-cognition')",
      value, base);
}

}  // namespace

std::pair<std::string, std::string> SplitSampleSuffix(std::string_view value) {
  size_t hash = value.rfind('#');
  if (hash == std::string_view::npos || hash + 1 == value.size() ||
      value.find_first_not_of("0123456789", hash + 1) != std::string_view::npos) {
    return {std::string(value), ""};
  }
  return {std::string(value.substr(0, hash)), std::string(value.substr(hash))};
}

Result<std::vector<DatasetSpec>> ParseDatasetSpecs(Env* env, const std::vector<std::string>& args) {
  std::vector<DatasetSpec> specs;
  for (const std::string& arg : args) {
    // A path with spaces in it (with or without "#N") is taken whole; otherwise spaces separate
    // values.
    auto [location, count] = SplitSampleSuffix(arg);
    bool whole = Exists(env, arg) || (!count.empty() && Exists(env, location));
    std::vector<std::string> values = whole ? std::vector<std::string>{arg} : SplitSpaces(arg);
    for (const std::string& value : values) {
      BATON_ASSIGN_OR_RETURN(DatasetSpec spec, ResolveOne(env, value));
      specs.push_back(std::move(spec));
    }
  }
  if (specs.empty()) return InvalidArgument("--dataset: no dataset given");
  return specs;
}

Result<std::vector<Conversation>> LoadDatasetRows(
    Env* env, const DatasetSpec& spec, const std::map<std::string, std::string>& columns) {
  RowMapping mapping{columns, spec.rule};
  if (spec.builtin == kSelfCognitionName) {
    return ParseDatasetText(EmbeddedSelfCognitionJsonl(), kSelfCognitionName, DatasetFormat::kJsonl,
                            mapping);
  }
  return ReadDatasetPath(env, spec.path, mapping);
}

std::optional<std::string> FolderRuleNotice(const DatasetSpec& spec) {
  if (!spec.folder || spec.rule != DatasetRule::kNone) return std::nullopt;
  return fmt::format(
      "dataset {}: no ms-swift dataset rule applies to a folder of this name (only a folder "
      "named self-cognition gets {{{{NAME}}}}/{{{{AUTHOR}}}} filled in, and one named "
      "alpaca-gpt4-data-zh its leading '输入：' cut); its rows are read as they are",
      spec.path);
}

}  // namespace baton
