#include "data/dataset_folder.h"

#include <algorithm>
#include <map>

#include "base/spec_node.h"
#include "base/strings.h"

namespace baton {
namespace {

constexpr int kMaxDepth = 8;
constexpr size_t kMaxFiles = 100000;
constexpr std::string_view kSeparators = "-._ 0123456789";  // HF NON_WORDS_CHARS

std::string Extension(std::string_view path) {
  size_t slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  size_t dot = base.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return "";
  return AsciiLower(base.substr(dot));
}

// The HF builder ("module") that reads an extension; "" for none (huggingface/datasets
// src/datasets/packaged_modules/__init__.py _EXTENSION_TO_MODULE, the text formats).
std::string_view ModuleOf(std::string_view ext) {
  if (ext == ".json" || ext == ".jsonl" || ext == ".ndjson") return "json";
  if (ext == ".csv" || ext == ".tsv") return "csv";
  if (ext == ".txt") return "text";
  if (ext == ".parquet" || ext == ".geoparquet" || ext == ".gpq") return "parquet";
  if (ext == ".arrow") return "arrow";
  return "";
}

bool IsIgnored(std::string_view name) {
  // HF FILES_TO_IGNORE, plus ms-swift's renames of dataset_infos.json (loader.py: `.bak` before
  // 3.6, `_bak` since).
  static const char* kIgnored[] = {
      "README.md",         "config.json",    "dataset_info.json",      "dataset_infos.json",
      "dataset_dict.json", "dummy_data.zip", "dataset_infos.json.bak", "dataset_infos.json_bak"};
  for (const char* i : kIgnored) {
    if (name == i) return true;
  }
  return name.starts_with(".");
}

Status ListFiles(Env* env, const std::string& root, const std::string& rel, int depth,
                 std::vector<std::string>* out) {
  if (depth > kMaxDepth) return Status::Ok();
  std::string dir = rel.empty() ? root : JoinPath(root, rel);
  BATON_ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(dir));
  for (const std::string& name : names) {
    std::string child = rel.empty() ? name : rel + "/" + name;
    if (env->IsDirectory(JoinPath(root, child))) {
      if (name.starts_with(".") || name.starts_with("__")) continue;
      BATON_RETURN_IF_ERROR(ListFiles(env, root, child, depth + 1, out));
    } else if (!IsIgnored(name)) {
      if (out->size() >= kMaxFiles) {
        return InvalidArgument("{}: more than {} files; pass the data files' folder", root,
                               kMaxFiles);
      }
      out->push_back(child);
    }
  }
  return Status::Ok();
}

bool ClassMatch(std::string_view pattern, size_t* pi, char c) {
  size_t i = *pi + 1;
  bool negate = i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^');
  if (negate) ++i;
  bool hit = false;
  size_t start = i;
  for (; i < pattern.size() && (pattern[i] != ']' || i == start); ++i) {
    if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
      hit = hit || (c >= pattern[i] && c <= pattern[i + 2]);
      i += 2;
    } else {
      hit = hit || c == pattern[i];
    }
  }
  *pi = i;  // at ']'
  return hit != negate;
}

// A split keyword in a file's name or one of its folders' names (HF
// KEYWORDS_IN_FILENAME_BASE_PATTERNS and KEYWORDS_IN_DIR_NAME_BASE_PATTERNS: the keyword at the
// start of a name or after a separator, followed by a separator; a folder may also end with it).
bool NameCarries(std::string_view name, std::string_view keyword, bool folder) {
  for (size_t at = name.find(keyword); at != std::string_view::npos;
       at = name.find(keyword, at + 1)) {
    bool starts = at == 0 || kSeparators.find(name[at - 1]) != std::string_view::npos;
    size_t after = at + keyword.size();
    bool ends =
        after < name.size() ? kSeparators.find(name[after]) != std::string_view::npos : folder;
    if (starts && ends) return true;
  }
  return false;
}

bool PathCarries(std::string_view path, const std::vector<std::string_view>& keywords) {
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    bool folder = slash != std::string_view::npos;
    std::string_view name = path.substr(start, folder ? slash - start : std::string_view::npos);
    for (std::string_view k : keywords) {
      if (NameCarries(name, k, folder)) return true;
    }
    if (!folder) return false;
    start = slash + 1;
  }
}

// README.md's YAML front matter, between a first line "---" and the next "---" line.
std::optional<std::string> FrontMatter(const std::string& text) {
  std::string_view t = text;
  if (t.starts_with("\xEF\xBB\xBF")) t.remove_prefix(3);
  if (!t.starts_with("---\n") && !t.starts_with("---\r\n")) return std::nullopt;
  size_t body = t.find('\n') + 1;
  for (size_t pos = body; pos < t.size();) {
    size_t end = t.find('\n', pos);
    std::string_view line = t.substr(pos, end == std::string_view::npos ? end : end - pos);
    if (line == "---" || line == "---\r") return std::string(t.substr(body, pos - body));
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return std::nullopt;
}

// The train split's patterns of README.md's `configs`, or nullopt when it declares none.
Result<std::optional<std::vector<std::string>>> ReadmePatterns(Env* env,
                                                               const std::string& folder) {
  std::string readme = JoinPath(folder, "README.md");
  if (!env->FileExists(readme)) return std::optional<std::vector<std::string>>();
  BATON_ASSIGN_OR_RETURN(uint64_t size, env->FileSize(readme));
  if (size > SpecNode::kMaxDocumentBytes) return std::optional<std::vector<std::string>>();
  BATON_ASSIGN_OR_RETURN(std::string text, env->ReadFile(readme));
  std::optional<std::string> yaml = FrontMatter(text);
  if (!yaml) return std::optional<std::vector<std::string>>();
  BATON_ASSIGN_OR_RETURN(SpecNode root, SpecNode::Parse(*yaml, readme + " (front matter)"));
  SpecNode configs = root.Get("configs");
  if (!configs.present()) return std::optional<std::vector<std::string>>();
  if (!configs.IsList()) return configs.Error("expected a list of configs");
  // ms-swift asks for the subset 'default' (loader.py); HF also takes the one marked
  // `default: true`, or the only one.
  std::optional<SpecNode> chosen;
  std::vector<std::string> names;
  for (size_t i = 0; i < configs.size(); ++i) {
    SpecNode c = configs.Item(i);
    BATON_ASSIGN_OR_RETURN(std::string name, c.String("config_name", "default"));
    BATON_ASSIGN_OR_RETURN(bool is_default, c.Bool("default", false));
    names.push_back(name);
    if (name == "default" || is_default) chosen = c;
  }
  if (!chosen && configs.size() == 1) chosen = configs.Item(0);
  if (!chosen) {
    return configs.Error(
        fmt::format("no config is named 'default' or marked `default: true` "
                    "(configs: {}); Baton reads the default one",
                    fmt::join(names, ", ")));
  }
  SpecNode files = chosen->Get("data_files");
  if (!files.present()) return chosen->Error("data_files", "required key is missing");
  std::vector<std::string> patterns, splits;
  if (files.IsScalar()) {
    BATON_ASSIGN_OR_RETURN(patterns, files.AsStrings());
    return std::optional(patterns);
  }
  if (!files.IsList()) return files.Error("expected a path, a list of paths or of {split, path}");
  for (size_t i = 0; i < files.size(); ++i) {
    SpecNode f = files.Item(i);
    if (f.IsScalar()) {
      BATON_ASSIGN_OR_RETURN(std::vector<std::string> p, f.AsStrings());
      patterns.insert(patterns.end(), p.begin(), p.end());
      continue;
    }
    BATON_ASSIGN_OR_RETURN(std::string split, f.String("split", "train"));
    splits.push_back(split);
    if (split != "train") continue;
    if (!f.Has("path")) return f.Error("path", "required key is missing");
    BATON_ASSIGN_OR_RETURN(std::vector<std::string> p, f.Get("path").AsStrings());
    patterns.insert(patterns.end(), p.begin(), p.end());
  }
  if (patterns.empty()) {
    return files.Error(
        fmt::format("no data files for split 'train' (splits: {})", fmt::join(splits, ", ")));
  }
  return std::optional(patterns);
}

}  // namespace

bool GlobMatch(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0;
  while (pi < p.size()) {
    if (p.substr(pi, 2) == "**") {
      size_t rest = pi + 2;
      if (rest < p.size() && p[rest] == '/' && GlobMatch(p.substr(rest + 1), s.substr(si))) {
        return true;
      }
      for (size_t k = si; k <= s.size(); ++k) {
        if (GlobMatch(p.substr(rest), s.substr(k))) return true;
      }
      return false;
    }
    if (p[pi] == '*') {
      for (size_t k = si; k <= s.size(); ++k) {
        if (GlobMatch(p.substr(pi + 1), s.substr(k))) return true;
        if (k < s.size() && s[k] == '/') break;
      }
      return false;
    }
    if (si >= s.size()) return false;
    if (p[pi] == '?') {
      if (s[si] == '/') return false;
    } else if (p[pi] == '[' && p.find(']', pi + 2) != std::string_view::npos) {
      if (s[si] == '/' || !ClassMatch(p, &pi, s[si])) return false;
    } else if (p[pi] != s[si]) {
      return false;
    }
    ++pi;
    ++si;
  }
  return si == s.size();
}

Result<std::vector<std::string>> ResolveDatasetFolder(Env* env, const std::string& folder) {
  std::vector<std::string> all;
  BATON_RETURN_IF_ERROR(ListFiles(env, folder, "", 0, &all));
  std::sort(all.begin(), all.end());
  std::vector<std::string> picked;
  BATON_ASSIGN_OR_RETURN(std::optional<std::vector<std::string>> patterns,
                         ReadmePatterns(env, folder));
  if (patterns) {
    for (const std::string& file : all) {
      for (std::string pattern : *patterns) {
        if (pattern.starts_with("./")) pattern.erase(0, 2);
        if (GlobMatch(pattern, file)) {
          picked.push_back(file);
          break;
        }
      }
    }
    if (picked.empty()) {
      return InvalidArgument("{}: its `configs` data_files ({}) match no file of the folder",
                             JoinPath(folder, "README.md"), fmt::join(*patterns, ", "));
    }
  } else {
    static const std::vector<std::string_view> kTrain = {"train", "training"};
    static const std::vector<std::string_view> kAnySplit = {
        "train", "training", "validation", "valid", "dev",
        "val",   "test",     "testing",    "eval",  "evaluation"};
    bool split_named = false;
    for (const std::string& f : all) {
      split_named = split_named || (!ModuleOf(Extension(f)).empty() && PathCarries(f, kAnySplit));
    }
    for (const std::string& f : all) {
      if (!split_named || PathCarries(f, kTrain)) picked.push_back(f);
    }
    if (picked.empty() && split_named) {
      return InvalidArgument(
          "{}: its files name splits but none is 'train' (e.g. train.csv); Baton trains on the "
          "train split",
          folder);
    }
  }
  // The most common data extension decides the format (HF infer_module_for_data_files_list).
  std::map<std::string, int> count;
  for (const std::string& f : picked) {
    std::string ext = Extension(f);
    if (!ModuleOf(ext).empty()) ++count[ext];
  }
  if (count.empty()) {
    std::string shown;
    for (size_t i = 0; i < all.size() && i < 10; ++i) shown += (i ? ", " : "") + all[i];
    return InvalidArgument(
        "{}: folder has no data files (.csv, .tsv, .json, .jsonl, .txt, .parquet){}", folder,
        all.empty() ? "; it is empty" : fmt::format("; it holds {}", shown));
  }
  static const char* kPreference[] = {".parquet", ".arrow", ".jsonl", ".json", ".csv"};
  auto rank = [](const std::string& ext) {
    for (size_t i = 0; i < std::size(kPreference); ++i) {
      if (ext == kPreference[i]) return static_cast<int>(i);
    }
    return static_cast<int>(std::size(kPreference));
  };
  std::string best;
  for (const auto& [ext, n] : count) {
    if (best.empty() || n > count[best] || (n == count[best] && rank(ext) < rank(best))) best = ext;
  }
  std::string_view module = ModuleOf(best);
  std::vector<std::string> out;
  for (const std::string& f : picked) {
    if (ModuleOf(Extension(f)) == module) out.push_back(JoinPath(folder, f));
  }
  return out;
}

}  // namespace baton
