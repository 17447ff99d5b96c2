// Reading dataset files: JSON (a top-level array of rows), JSON Lines (one row per line; blank
// lines skipped) and folders of them. Every error names the file and the line of the row.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "data/conversation.h"

namespace baton {

enum class DatasetFormat { kJson, kJsonl };

// The longest row Baton reads: a JSON Lines line, or an element of a JSON array, of more bytes is
// an error naming its file and line (a row is a conversation; 128k tokens of text are about
// 0.5 MB). A longer line is refused after reading this many bytes of it, not all of it.
inline constexpr size_t kMaxDatasetRowBytes = 8 << 20;

// Parses the text of one dataset file; `name` stands for the file in error messages:
// "NAME:LINE: ..." for JSON Lines, "NAME:LINE: row I: ..." for a JSON array (I is 0-based).
// A .json file whose text starts with '{' is read as JSON Lines, as Hugging Face datasets does.
Result<std::vector<Conversation>> ParseDatasetText(std::string_view text, std::string_view name,
                                                   DatasetFormat format);

// Reads a .json or .jsonl file, or every *.json / *.jsonl file directly inside a folder (sorted
// by name, concatenated). An empty file or a folder without such files is an error. Files are
// mapped, not copied into memory.
Result<std::vector<Conversation>> ReadDatasetPath(Env* env, const std::string& path);

}  // namespace baton
