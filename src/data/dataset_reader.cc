#include "data/dataset_reader.h"

#include "base/strings.h"
#include "base/utf8.h"
#include "data/csv_reader.h"
#include "data/dataset_folder.h"

namespace baton {
namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool IsBlank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

Status RowTooLong(std::string_view name, size_t line) {
  return InvalidArgument("{}:{}: the row is longer than {} bytes, Baton's limit for one row", name,
                         line, kMaxDatasetRowBytes);
}

Result<Conversation> RowToConversation(const Json& row, const RowMapping& mapping,
                                       std::string_view where) {
  BATON_ASSIGN_OR_RETURN(Json mapped, MapRowColumns(row, mapping, where));
  return ConversationFromRow(mapped, where);
}

// Calls `on_line(line, line_no)` for each non-blank line (its '\n' cut off). Looks for a line's
// end only as far as the row limit: the rest of an over-long line is never read (the text may be
// a mapped file).
template <typename F>
Status ForEachLine(std::string_view text, std::string_view name, F&& on_line) {
  size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    size_t end = text.substr(pos, kMaxDatasetRowBytes + 1).find('\n');
    ++line_no;
    if (end == std::string_view::npos) {
      if (text.size() - pos > kMaxDatasetRowBytes) return RowTooLong(name, line_no);
      end = text.size() - pos;
    }
    std::string_view line = text.substr(pos, end);
    pos += end + 1;
    if (IsBlank(line)) continue;
    BATON_RETURN_IF_ERROR(on_line(line, line_no));
  }
  return Status::Ok();
}

Result<std::vector<Conversation>> ParseJsonl(std::string_view text, std::string_view name,
                                             const RowMapping& mapping) {
  std::vector<Conversation> rows;
  BATON_RETURN_IF_ERROR(
      ForEachLine(text, name, [&](std::string_view line, size_t line_no) -> Status {
        std::string where = fmt::format("{}:{}", name, line_no);
        Result<Json> row = ParseJson(line, name, line_no);
        if (!row.ok()) {
          bool pretty_json = line_no == 1 && EndsWith(name, ".json") && IsBlank(line.substr(1));
          if (!pretty_json) return row.status();
          return InvalidArgument(
              "{} (a .json file must hold an array of rows, or one row per line)",
              row.status().message());
        }
        BATON_ASSIGN_OR_RETURN(Conversation conv, RowToConversation(*row, mapping, where));
        rows.push_back(std::move(conv));
        return Status::Ok();
      }));
  return rows;
}

// Skips one JSON value starting at text[pos]; on text that is not JSON it stops somewhere (at
// worst where it started), and ScanElements stops too.
size_t SkipValue(std::string_view text, size_t pos) {
  int depth = 0;
  bool in_string = false;
  for (; pos < text.size(); ++pos) {
    char c = text[pos];
    if (in_string) {
      if (c == '\\') {
        ++pos;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      if (depth == 0) return pos;  // the end of the enclosing array
      --depth;
    } else if (c == ',' && depth == 0) {
      return pos;
    }
  }
  return pos;
}

// Where each element of the top-level array starts (its 1-based line) and how many bytes it
// spans; nlohmann does not keep positions, so a light scan of the text finds them. It runs before
// the text is parsed, so that no over-long row is parsed; on text that is not JSON its answer
// does not matter, as the parse that follows reports the error.
struct Element {
  size_t line;
  size_t bytes;
};
std::vector<Element> ScanElements(std::string_view text) {
  std::vector<Element> elements;
  size_t pos = text.find('[');
  if (pos == std::string_view::npos) return elements;
  size_t line = 1, counted_to = 0;
  ++pos;
  while (pos < text.size()) {
    pos = text.find_first_not_of(" \t\r\n", pos);
    if (pos == std::string_view::npos || text[pos] == ']') break;
    for (; counted_to < pos; ++counted_to) line += text[counted_to] == '\n';
    size_t start = pos;
    pos = SkipValue(text, pos);
    // No progress (a byte that starts no value): the text is not JSON, the parse will say where.
    // Found by fuzz_dataset: this loop used to push elements here until memory ran out.
    if (pos <= start) break;
    elements.push_back({line, pos - start});
    pos = text.find_first_not_of(" \t\r\n", pos);
    if (pos == std::string_view::npos || text[pos] != ',') break;  // ']' or not JSON
    ++pos;
  }
  return elements;
}

Result<std::vector<Conversation>> ParseJsonArray(std::string_view text, std::string_view name,
                                                 const RowMapping& mapping) {
  std::vector<Element> elements = ScanElements(text);
  for (const Element& e : elements) {
    if (e.bytes > kMaxDatasetRowBytes) return RowTooLong(name, e.line);
  }
  BATON_ASSIGN_OR_RETURN(Json doc, ParseJson(text, name));
  if (!doc.is_array()) {
    return InvalidArgument("{}:1: expected a JSON array of rows (or one row per line), got {}",
                           name, doc.type_name());
  }
  std::vector<Conversation> rows;
  rows.reserve(doc.size());
  for (size_t i = 0; i < doc.size(); ++i) {
    size_t line = i < elements.size() ? elements[i].line : 1;
    BATON_ASSIGN_OR_RETURN(
        Conversation conv,
        RowToConversation(doc[i], mapping, fmt::format("{}:{}: row {}", name, line, i)));
    conv.origin = fmt::format("{}:{}", name, line);
    rows.push_back(std::move(conv));
  }
  return rows;
}

Result<std::vector<Conversation>> ParseCsvRows(std::string_view text, std::string_view name,
                                               char delimiter, const RowMapping& mapping) {
  std::vector<Conversation> rows;
  std::vector<std::string> header;
  BATON_RETURN_IF_ERROR(ParseCsv(text, name, delimiter, &header, [&](const CsvRecord& r) {
    Json row = Json::object();
    for (size_t i = 0; i < r.fields.size(); ++i) row[header[i]] = r.fields[i];
    std::string where = fmt::format("{}:{}: record {}", name, r.line, r.number);
    BATON_ASSIGN_OR_RETURN(Conversation conv, RowToConversation(row, mapping, where));
    conv.origin = fmt::format("{}:{}", name, r.line);
    rows.push_back(std::move(conv));
    return Status::Ok();
  }));
  return rows;
}

// HF's text builder: one row {"text": line} per line; blank lines carry no row here.
Result<std::vector<Conversation>> ParseTextRows(std::string_view text, std::string_view name,
                                                const RowMapping& mapping) {
  if (std::optional<size_t> bad = FindInvalidUtf8(text)) {
    return InvalidArgument("{}: not UTF-8 text (byte 0x{:02X} at offset {}): binary data?", name,
                           static_cast<unsigned char>(text[*bad]), *bad);
  }
  std::vector<Conversation> rows;
  BATON_RETURN_IF_ERROR(
      ForEachLine(text, name, [&](std::string_view line, size_t line_no) -> Status {
        if (line.back() == '\r') line.remove_suffix(1);
        Json row = {{"text", std::string(line)}};
        BATON_ASSIGN_OR_RETURN(
            Conversation conv,
            RowToConversation(row, mapping, fmt::format("{}:{}", name, line_no)));
        rows.push_back(std::move(conv));
        return Status::Ok();
      }));
  return rows;
}

Result<DatasetFormat> FormatOf(const std::string& path) {
  std::string lower = AsciiLower(path);
  if (EndsWith(lower, ".jsonl") || EndsWith(lower, ".ndjson")) return DatasetFormat::kJsonl;
  if (EndsWith(lower, ".json")) return DatasetFormat::kJson;
  if (EndsWith(lower, ".csv")) return DatasetFormat::kCsv;
  if (EndsWith(lower, ".tsv")) return DatasetFormat::kTsv;
  if (EndsWith(lower, ".txt")) return DatasetFormat::kText;
  for (const char* ext : {".parquet", ".geoparquet", ".gpq", ".arrow"}) {
    if (!EndsWith(lower, ext)) continue;
    // Debian 12 packages no Parquet/Arrow library for C++ (no libarrow-dev, libparquet-dev).
    return InvalidArgument(
        "{}: Baton does not read {} files; convert it to JSON Lines first, e.g. python3 -c "
        "\"import pandas as pd; pd.read_{}('{}').to_json('{}.jsonl', orient='records', "
        "lines=True, force_ascii=False)\" (needs pandas and pyarrow), then pass the .jsonl file",
        path, ext, std::string_view(ext) == ".arrow" ? "feather" : "parquet", path,
        path.substr(0, path.rfind('.')));
  }
  return InvalidArgument(
      "{}: unsupported dataset file type (Baton reads .json, .jsonl, .csv, .tsv and .txt)", path);
}

Result<std::vector<Conversation>> ReadDatasetFile(Env* env, const std::string& path,
                                                  const RowMapping& mapping) {
  BATON_ASSIGN_OR_RETURN(DatasetFormat format, FormatOf(path));
  // Mapped, so that a file with an over-long row costs no memory (only the limit's worth of it
  // is ever read).
  BATON_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, env->MapFile(path));
  std::string_view text(reinterpret_cast<const char*>(file->data()), file->size());
  return ParseDatasetText(text, path, format, mapping);
}

}  // namespace

Result<std::vector<Conversation>> ParseDatasetText(std::string_view text, std::string_view name,
                                                   DatasetFormat format,
                                                   const RowMapping& mapping) {
  if (text.substr(0, kUtf8Bom.size()) == kUtf8Bom) text.remove_prefix(kUtf8Bom.size());
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return InvalidArgument("{}: empty file, no rows", name);
  // A dataset repository cloned without Git LFS (ms-swift's docs suggest `git clone`) holds
  // pointers in place of its data files.
  if (text.starts_with("version https://git-lfs.github.com/spec/")) {
    return InvalidArgument(
        "{}: a Git LFS pointer, not the data: fetch the file itself (`git lfs pull` in the "
        "clone, or `modelscope download --dataset`)",
        name);
  }
  std::vector<Conversation> rows;
  if (format == DatasetFormat::kCsv || format == DatasetFormat::kTsv) {
    char delimiter = format == DatasetFormat::kCsv ? ',' : '\t';
    BATON_ASSIGN_OR_RETURN(rows, ParseCsvRows(text, name, delimiter, mapping));
  } else if (format == DatasetFormat::kText) {
    BATON_ASSIGN_OR_RETURN(rows, ParseTextRows(text, name, mapping));
  } else if (format == DatasetFormat::kJson && text[first] == '[') {
    BATON_ASSIGN_OR_RETURN(rows, ParseJsonArray(text, name, mapping));
  } else {
    BATON_ASSIGN_OR_RETURN(rows, ParseJsonl(text, name, mapping));
  }
  if (rows.empty()) {
    bool csv = format == DatasetFormat::kCsv || format == DatasetFormat::kTsv;
    return InvalidArgument("{}: no rows ({})", name, csv ? "a header only" : "an empty array");
  }
  return rows;
}

Result<std::vector<Conversation>> ReadDatasetPath(Env* env, const std::string& path,
                                                  const RowMapping& mapping) {
  if (!env->IsDirectory(path)) {
    if (!env->FileExists(path)) return NotFound("{}: no such file or folder", path);
    return ReadDatasetFile(env, path, mapping);
  }
  BATON_ASSIGN_OR_RETURN(std::vector<std::string> files, ResolveDatasetFolder(env, path));
  std::vector<Conversation> rows;
  for (const std::string& file : files) {
    BATON_ASSIGN_OR_RETURN(std::vector<Conversation> part, ReadDatasetFile(env, file, mapping));
    rows.insert(rows.end(), std::make_move_iterator(part.begin()),
                std::make_move_iterator(part.end()));
  }
  return rows;
}

}  // namespace baton
