// Reading dataset files: JSON (a top-level array of rows), JSON Lines (one row per line; blank
// lines skipped), CSV and TSV (data/csv_reader.h), plain text (one row {"text": line} per
// non-blank line, as HF's text builder) and folders of them (data/dataset_folder.h). Columns are
// mapped as ms-swift maps them (data/row_mapping.h). Every error names the file and the line of
// the row.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "data/conversation.h"
#include "data/row_mapping.h"

namespace baton {

enum class DatasetFormat { kJson, kJsonl, kCsv, kTsv, kText };

// The longest row Baton reads: a JSON Lines line, or an element of a JSON array, of more bytes is
// an error naming its file and line (a row is a conversation; 128k tokens of text are about
// 0.5 MB). A longer line is refused after reading this many bytes of it, not all of it.
inline constexpr size_t kMaxDatasetRowBytes = 8 << 20;

// Parses the text of one dataset file; `name` stands for the file in error messages:
// "NAME:LINE: ..." for JSON Lines, "NAME:LINE: row I: ..." for a JSON array (I is 0-based).
// A .json file whose text starts with '{' is read as JSON Lines, as Hugging Face datasets does.
// "NAME:LINE: record N: ..." for CSV/TSV.
Result<std::vector<Conversation>> ParseDatasetText(std::string_view text, std::string_view name,
                                                   DatasetFormat format,
                                                   const RowMapping& mapping = {});

// Reads a .json, .jsonl, .csv, .tsv or .txt file, or a folder's data files (ResolveDatasetFolder,
// concatenated in path order). An empty file or a folder without data files is an error; so is
// Parquet or Arrow, with a command that converts it. Files are mapped, not copied into memory,
// and never modified.
Result<std::vector<Conversation>> ReadDatasetPath(Env* env, const std::string& path,
                                                  const RowMapping& mapping = {});

}  // namespace baton
