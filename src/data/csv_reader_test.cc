#include "data/csv_reader.h"

#include <gtest/gtest.h>

#include "data/dataset_reader.h"
#include "data_test_util.h"

namespace baton {
namespace {

using testing::FailsWith;

struct Parsed {
  std::vector<std::string> header;
  std::vector<CsvRecord> records;
};

Result<Parsed> Parse(std::string_view text, char delimiter = ',') {
  Parsed p;
  Status s = ParseCsv(text, "t.csv", delimiter, &p.header, [&](const CsvRecord& r) {
    p.records.push_back(r);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return p;
}

TEST(CsvReader, Rfc4180QuotedFieldsWithCommasQuotesAndLineBreaks) {
  auto p = Parse(
      "instruction,input,output\r\n"
      "\"Say \"\"hi\"\", please\",,\"line one\r\nline two\"\r\n"
      "plain, spaced ,\"a,b\"\r\n");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->header, (std::vector<std::string>{"instruction", "input", "output"}));
  ASSERT_EQ(p->records.size(), 2u);
  EXPECT_EQ(p->records[0].fields,
            (std::vector<std::string>{"Say \"hi\", please", "", "line one\r\nline two"}));
  EXPECT_EQ(p->records[0].line, 2u);
  EXPECT_EQ(p->records[0].number, 1u);
  // Spaces around an unquoted cell are kept (pandas keeps them); the record starts on line 4.
  EXPECT_EQ(p->records[1].fields, (std::vector<std::string>{"plain", " spaced ", "a,b"}));
  EXPECT_EQ(p->records[1].line, 4u);
}

TEST(CsvReader, BomBlankLinesNoFinalNewlineAndUtf8) {
  auto p = Parse("\xEF\xBB\xBFq,r\n\n中文,\"回答，带逗号\"\n\nx,y");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->header[0], "q");  // the BOM is not part of the first name
  ASSERT_EQ(p->records.size(), 2u);
  EXPECT_EQ(p->records[0].fields[1], "回答，带逗号");
  EXPECT_EQ(p->records[0].line, 3u);
  EXPECT_EQ(p->records[1].fields, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(p->records[1].line, 5u);
}

TEST(CsvReader, TsvKeepsCommasAndHonoursQuotes) {
  auto p = Parse("query\tresponse\na, b\t\"tab\there\"\n", '\t');
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->records.size(), 1u);
  EXPECT_EQ(p->records[0].fields, (std::vector<std::string>{"a, b", "tab\there"}));
}

TEST(CsvReader, HeaderNamesEmptyColumnsAndRefusesDuplicates) {
  auto p = Parse(",query,response\n0,q,r\n");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->header[0], "Unnamed: 0");
  EXPECT_TRUE(FailsWith(Parse("q,q\n1,2\n").status(), {"t.csv:1:", "column 'q' twice"}));
}

TEST(CsvReader, FewerCellsAreMissingMoreAreAnError) {
  auto p = Parse("a,b,c\n1,2\n");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->records[0].fields.size(), 2u);
  EXPECT_TRUE(FailsWith(Parse("a,b\n1,2\n1,2,3\n").status(),
                        {"t.csv:3: record 2 has 3 cells but the header has 2 columns"}));
}

TEST(CsvReader, MalformedQuotingNamesRecordAndLine) {
  // Text after a closing quote, on record 2 (line 3).
  EXPECT_TRUE(FailsWith(Parse("a,b\n1,2\n\"x\"y,2\n").status(), {"t.csv:3: record 2"}));
  // A quote in the middle of an unquoted cell.
  EXPECT_TRUE(FailsWith(Parse("a,b\nab\"c,2\n").status(), {"t.csv:2: record 1"}));
  // A quote opened on line 3 and never closed.
  EXPECT_TRUE(FailsWith(Parse("a,b\n1,2\n\"open,2\nmore\n").status(),
                        {"t.csv:3: record 2", "never closed"}));
}

TEST(CsvReader, BinaryDataAndEmptyFilesAreWholeFileErrors) {
  EXPECT_TRUE(FailsWith(Parse(std::string_view("a,b\n\x89PNG\xFF\x00", 10)).status(),
                        {"t.csv: not UTF-8 text"}));
  EXPECT_TRUE(FailsWith(Parse(std::string_view("a,b\n1,\0", 7)).status(), {"NUL bytes"}));
  EXPECT_TRUE(FailsWith(Parse("\n\r\n").status(), {"t.csv: empty file"}));
}

TEST(CsvReader, ARecordOverTheRowLimitIsRefused) {
  std::string big = "a,b\n1,2\n\"" + std::string(kMaxDatasetRowBytes / 2, 'x') + "\n" +
                    std::string(kMaxDatasetRowBytes / 2, 'y') + "\",2\n";
  EXPECT_TRUE(FailsWith(Parse(big).status(), {"t.csv:3: record 2 is longer than 8388608 bytes"}));
}

}  // namespace
}  // namespace baton
