// Which files of a local dataset folder are its training data, the way Hugging Face `datasets`
// answers it for `load_dataset(folder, split="train")`, which is what ms-swift 3 calls for a
// folder (swift/llm/dataset/loader.py `_load_repo_dataset`; huggingface/datasets
// src/datasets/load.py `LocalDatasetModuleFactory`, src/datasets/data_files.py):
//  1. README.md's YAML front matter `configs:` -> the `default` config's (or the only one's)
//     `data_files` of split `train` (a glob, a list of them, or `- split: train / path: ...`);
//  2. else files or folders whose names carry the split keyword `train`/`training` (e.g.
//     `train.csv`, `data/train-00000.jsonl`, `train/part.json`), when any file names a split;
//  3. else every file.
// Then the most common data extension wins (ties: .parquet, .arrow, .jsonl, .json, .csv) and only
// files of its kind are read. Hidden files and folders (`.msc`, `.mdl`, `.mv`, `.git`), `__*`
// folders, README.md, and ModelScope's `dataset_infos.json` (and ms-swift's `.bak`/`_bak`
// renames of it) are never data. The folder is only read.
#pragma once

#include <string>
#include <vector>

#include "base/env.h"
#include "base/status.h"

namespace baton {

// The data files of `folder`, sorted by path. An error names the folder (or its README.md) and
// says what it holds when nothing is data.
Result<std::vector<std::string>> ResolveDatasetFolder(Env* env, const std::string& folder);

// Glob matching as in HF data_files patterns: `*` and `?` stay within one path segment, `**`
// spans segments (`**/` also matches nothing), `[abc]`, `[a-z]` and `[!x]` classes.
bool GlobMatch(std::string_view pattern, std::string_view path);

}  // namespace baton
