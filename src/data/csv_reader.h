// Reading CSV and TSV dataset files (RFC 4180) with libcsv: quoted fields may hold the delimiter,
// doubled quotes and line breaks; lines end in LF or CRLF; a UTF-8 BOM is skipped; blank lines
// are skipped; cells keep their spaces. The first record is the header (the column names), as
// pandas.read_csv, which Hugging Face datasets and ms-swift use, takes it.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace baton {

struct CsvRecord {
  size_t number = 0;  // 1-based, the header being record 0
  size_t line = 0;    // the 1-based line the record starts on
  std::vector<std::string> fields;
};

// Parses `text` (named `name` in errors) record by record, calling `on_record` for each one after
// the header; `header` receives the column names (an empty name becomes "Unnamed: <index>", as
// pandas names it). Errors name "NAME:LINE: record N": an unterminated quote, text after a closing
// quote, more cells than the header has, or a record over kMaxDatasetRowBytes (refused before
// more of it is read). A record with fewer cells than the header leaves the others out, as pandas
// reads them as missing. Text that is not UTF-8 (binary data, another encoding), a file without
// a header, and a header naming a column twice are errors naming the file.
Status ParseCsv(std::string_view text, std::string_view name, char delimiter,
                std::vector<std::string>* header,
                const std::function<Status(const CsvRecord&)>& on_record);

}  // namespace baton
