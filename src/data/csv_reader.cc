#include "data/csv_reader.h"

#include <csv.h>

#include <memory>
#include <set>

#include "base/utf8.h"
#include "data/dataset_reader.h"

namespace baton {
namespace {

// libcsv strips spaces and tabs around unquoted cells unless told which bytes are spaces;
// pandas keeps them, and a tab is the TSV delimiter.
int NoSpaces(unsigned char) { return 0; }

struct ParseState {
  std::vector<std::string> fields;
  std::vector<std::vector<std::string>> done;  // records completed by the chunk just parsed
  size_t bytes = 0;                            // of the record in progress
};

void OnField(void* data, size_t len, void* state) {
  auto* s = static_cast<ParseState*>(state);
  s->fields.emplace_back(static_cast<const char*>(data), len);
}

void OnRecordEnd(int, void* state) {
  auto* s = static_cast<ParseState*>(state);
  s->done.push_back(std::move(s->fields));
  s->fields.clear();
}

struct ParserDeleter {
  void operator()(csv_parser* p) const {
    csv_free(p);
    delete p;
  }
};

}  // namespace

Status ParseCsv(std::string_view text, std::string_view name, char delimiter,
                std::vector<std::string>* header,
                const std::function<Status(const CsvRecord&)>& on_record) {
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (text.substr(0, kBom.size()) == kBom) text.remove_prefix(kBom.size());
  if (std::optional<size_t> bad = FindInvalidUtf8(text)) {
    return InvalidArgument(
        "{}: not UTF-8 text (byte 0x{:02X} at offset {}): binary data or another encoding; "
        "Baton reads UTF-8 CSV/TSV files",
        name, static_cast<unsigned char>(text[*bad]), *bad);
  }
  if (text.find('\0') != std::string_view::npos) {
    return InvalidArgument("{}: holds NUL bytes, so it is binary data, not CSV/TSV text", name);
  }
  std::unique_ptr<csv_parser, ParserDeleter> parser(new csv_parser);
  // Strict: a quote inside an unquoted cell, or text after a closing quote, is an error rather
  // than a guess; STRICT_FINI: a quote still open at the end of the file is one too.
  if (csv_init(parser.get(), CSV_STRICT | CSV_STRICT_FINI) != 0) {
    return Internal("{}: could not start the CSV parser", name);
  }
  csv_set_delim(parser.get(), static_cast<unsigned char>(delimiter));
  csv_set_space_func(parser.get(), NoSpaces);
  ParseState state;
  size_t record_no = 0, line_no = 0, record_line = 0, pos = 0;
  bool have_header = false;
  auto deliver = [&]() -> Status {
    for (std::vector<std::string>& fields : state.done) {
      if (!have_header) {
        have_header = true;
        std::set<std::string> seen;
        for (size_t i = 0; i < fields.size(); ++i) {
          if (fields[i].empty()) fields[i] = fmt::format("Unnamed: {}", i);
          if (!seen.insert(fields[i]).second) {
            return InvalidArgument("{}:{}: the header names column '{}' twice", name, record_line,
                                   fields[i]);
          }
        }
        *header = std::move(fields);
        continue;
      }
      ++record_no;
      if (fields.size() > header->size()) {
        return InvalidArgument(
            "{}:{}: record {} has {} cells but the header has {} columns (an unquoted '{}' in a "
            "cell? quote the cell)",
            name, record_line, record_no, fields.size(), header->size(),
            delimiter == '\t' ? "\\t" : std::string(1, delimiter));
      }
      BATON_RETURN_IF_ERROR(on_record({record_no, record_line, std::move(fields)}));
    }
    state.done.clear();
    return Status::Ok();
  };
  // Fed one line at a time, so that each record's first line is known and an error names it.
  while (pos < text.size()) {
    size_t end = text.substr(pos, kMaxDatasetRowBytes + 1).find('\n');
    ++line_no;
    if (end == std::string_view::npos) {
      if (text.size() - pos > kMaxDatasetRowBytes)
        end = kMaxDatasetRowBytes + 1;
      else
        end = text.size() - pos - 1;
    }
    std::string_view chunk = text.substr(pos, end + 1);
    pos += chunk.size();
    bool between_records = state.bytes == 0;
    if (between_records && chunk.find_first_not_of("\r\n") == std::string_view::npos) continue;
    if (between_records) record_line = line_no;
    state.bytes += chunk.size();
    if (state.bytes > kMaxDatasetRowBytes) {
      return InvalidArgument("{}:{}: record {} is longer than {} bytes, Baton's limit for one row",
                             name, record_line, record_no + (have_header ? 1 : 0),
                             kMaxDatasetRowBytes);
    }
    size_t n = csv_parse(parser.get(), chunk.data(), chunk.size(), OnField, OnRecordEnd, &state);
    if (n != chunk.size()) {
      return InvalidArgument(
          "{}:{}: record {}: malformed quoting on line {} ({}): a quoted cell must end with a "
          "quote right before the delimiter or the line's end, and a quote inside it is doubled "
          "(\"\")",
          name, record_line, record_no + (have_header ? 1 : 0), line_no,
          csv_strerror(csv_error(parser.get())));
    }
    if (!state.done.empty()) state.bytes = 0;
    BATON_RETURN_IF_ERROR(deliver());
  }
  if (csv_fini(parser.get(), OnField, OnRecordEnd, &state) != 0) {
    return InvalidArgument(
        "{}:{}: record {}: a quoted cell is never closed (a missing '\"' before the end of the "
        "file)",
        name, record_line, record_no + (have_header ? 1 : 0));
  }
  BATON_RETURN_IF_ERROR(deliver());
  if (!have_header) return InvalidArgument("{}: empty file, no header and no rows", name);
  return Status::Ok();
}

}  // namespace baton
