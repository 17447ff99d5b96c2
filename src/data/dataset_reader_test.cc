#include "data/dataset_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "data_test_util.h"
#include "test_util.h"

namespace baton {
namespace {

using testing::DatasetFixture;
using testing::FailsWith;

Result<std::vector<Conversation>> Read(const std::string& name) {
  return ReadDatasetPath(Env::Default(), DatasetFixture(name));
}

TEST(DatasetFiles, EachShapeFromFile) {
  auto alpaca = Read("alpaca.jsonl");
  ASSERT_TRUE(alpaca.ok()) << alpaca.status().ToString();
  ASSERT_EQ(alpaca->size(), 3u);  // the blank line is skipped
  EXPECT_EQ((*alpaca)[0].messages[0].content, "Add the two numbers.\n2 and 3");
  EXPECT_EQ((*alpaca)[1].origin, DatasetFixture("alpaca.jsonl") + ":3");
  EXPECT_EQ((*alpaca)[2].messages[0].role, "system");

  auto messages = Read("messages.jsonl");
  ASSERT_TRUE(messages.ok()) << messages.status().ToString();
  ASSERT_EQ(messages->size(), 2u);
  EXPECT_EQ((*messages)[1].messages.size(), 4u);

  auto sharegpt = Read("sharegpt.json");
  ASSERT_TRUE(sharegpt.ok()) << sharegpt.status().ToString();
  ASSERT_EQ(sharegpt->size(), 2u);
  EXPECT_EQ((*sharegpt)[0].origin, DatasetFixture("sharegpt.json") + ":2");
  EXPECT_EQ((*sharegpt)[1].origin, DatasetFixture("sharegpt.json") + ":8");
  EXPECT_EQ((*sharegpt)[1].messages[0].content, "Answer in French.");

  auto qr = Read("query_response.jsonl");
  ASSERT_TRUE(qr.ok()) << qr.status().ToString();
  ASSERT_EQ(qr->size(), 2u);
  EXPECT_EQ((*qr)[0].messages.size(), 5u);  // system + history pair + query/response
  EXPECT_EQ((*qr)[1].messages[1].content, "你好！");
}

TEST(DatasetFiles, FolderConcatenatesJsonFilesSorted) {
  auto rows = Read("folder");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 3u);  // a.json (2 rows), b.jsonl (1 row); notes.txt ignored
  EXPECT_EQ((*rows)[0].messages[0].content, "a1");
  EXPECT_EQ((*rows)[1].messages[0].content, "a2");
  EXPECT_EQ((*rows)[2].messages[0].content, "b1");
  EXPECT_TRUE(FailsWith(Read("empty_folder").status(), {"empty_folder", "no data files"}));
}

TEST(DatasetFiles, ErrorsNameFileAndLine) {
  EXPECT_TRUE(FailsWith(Read("bad_json.jsonl").status(), {"bad_json.jsonl:3:", "invalid JSON"}));
  EXPECT_TRUE(FailsWith(Read("unknown_shape.jsonl").status(),
                        {"unknown_shape.jsonl:2: no 'query' column (the row's columns: 'bar', "
                         "'foo')"}));
  EXPECT_TRUE(
      FailsWith(Read("missing_field.jsonl").status(), {"missing_field.jsonl:3:", "'output'"}));
  EXPECT_TRUE(FailsWith(Read("empty_field.jsonl").status(),
                        {"empty_field.jsonl:1:", "'response' is empty"}));
  EXPECT_TRUE(FailsWith(Read("wrong_type.jsonl").status(),
                        {"wrong_type.jsonl:2:", "messages[1]", "expected a string, got number"}));
  EXPECT_TRUE(FailsWith(Read("ends_with_user.jsonl").status(),
                        {"ends_with_user.jsonl:1:", "ends with a 'user' turn"}));
  EXPECT_TRUE(FailsWith(Read("bad_role.jsonl").status(),
                        {"bad_role.jsonl:1:", "unsupported role 'function'"}));
  EXPECT_TRUE(FailsWith(Read("empty.jsonl").status(), {"empty.jsonl", "empty file"}));
  EXPECT_TRUE(FailsWith(Read("bad_row_in_array.json").status(),
                        {"bad_row_in_array.json:4: row 2", "'response'"}));
  EXPECT_TRUE(FailsWith(Read("not_array.json").status(),
                        {"not_array.json:1:", "must hold an array of rows"}));
  // Plain text rows are {"text": line}: a response with no query until --columns says otherwise.
  EXPECT_TRUE(FailsWith(Read("folder/notes.txt").status(), {"notes.txt:1:", "no 'query' column"}));
  EXPECT_TRUE(FailsWith(Read("README.md").status(), {"README.md: unsupported dataset file type"}));
  EXPECT_TRUE(FailsWith(ParseDatasetText("version https://git-lfs.github.com/spec/v1\noid "
                                         "sha256:ab\nsize 12\n",
                                         "train.csv", DatasetFormat::kCsv)
                            .status(),
                        {"train.csv: a Git LFS pointer, not the data", "git lfs pull"}));
  Status missing = Read("no_such_file.jsonl").status();
  EXPECT_TRUE(FailsWith(missing, {"no_such_file.jsonl", "no such file"}));
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
}

TEST(DatasetFiles, ParseTextEdgeCases) {
  // A byte-order mark and CRLF line ends are accepted.
  auto rows = ParseDatasetText("\xEF\xBB\xBF{\"query\": \"q\", \"response\": \"r\"}\r\n\r\n",
                               "x.jsonl", DatasetFormat::kJsonl);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(rows->size(), 1u);
  // A .json file of one row per line is JSON Lines, as Hugging Face datasets reads it.
  rows = ParseDatasetText(
      "{\"query\": \"q\", \"response\": \"r\"}\n{\"query\": \"q2\", "
      "\"response\": \"r2\"}\n",
      "x.json", DatasetFormat::kJson);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(rows->size(), 2u);
  EXPECT_TRUE(FailsWith(ParseDatasetText("[]", "x.json", DatasetFormat::kJson).status(),
                        {"x.json", "no rows"}));
  EXPECT_TRUE(FailsWith(ParseDatasetText("[{\"query\": \"q\",\n \"response\": \"r\"},\n 5]",
                                         "x.json", DatasetFormat::kJson)
                            .status(),
                        {"x.json:3: row 1", "not a JSON object"}));
  EXPECT_TRUE(FailsWith(ParseDatasetText("[{\"a\": 1},\n", "x.json", DatasetFormat::kJson).status(),
                        {"x.json:2:", "invalid JSON"}));
  // Brackets and quotes inside strings do not confuse the row-line scan.
  rows = ParseDatasetText(
      "[{\"query\": \"a ] } \\\" [\", \"response\": \"r\"},\n\n {\"query\": \"q\", \"response\": "
      "1}]",
      "x.json", DatasetFormat::kJson);
  EXPECT_TRUE(FailsWith(rows.status(), {"x.json:3: row 1"}));
  // A stray closing bracket or byte where a row should start ends the row-line scan (it used to
  // loop there, growing without bound: found by fuzz/fuzz_dataset.cc); the parse says where.
  for (const char* text : {"[\n {\"a\": 1},\n }\n]", "[\n {}, \x01 {} ]", "[{} {}]", "[{}}]"}) {
    auto bad = ParseDatasetText(text, "x.json", DatasetFormat::kJson);
    EXPECT_TRUE(FailsWith(bad.status(), {"x.json:"})) << text << ": " << bad.status().ToString();
  }
}

TEST(DatasetFiles, ARowOverTheLimitIsRefusedWithFileAndLine) {
  testing::ScopedTempDir tmp;
  Env* env = Env::Default();
  std::string ok_row = R"({"query": "q", "response": "r"})";
  // A row one byte over the limit (it would parse as JSON), after a good row.
  std::string big =
      R"({"query": ")" + std::string(kMaxDatasetRowBytes + 1 - 30, 'x') + R"(", "response": "r"})";
  ASSERT_EQ(big.size(), kMaxDatasetRowBytes + 1);
  std::string jsonl = tmp.Sub("big.jsonl");
  ASSERT_TRUE(env->WriteFileAtomic(jsonl, ok_row + "\n" + big + "\n" + ok_row + "\n").ok());
  EXPECT_TRUE(FailsWith(ReadDatasetPath(env, jsonl).status(),
                        {jsonl + ":2: the row is longer than 8388608 bytes"}));
  // The same row in a JSON array.
  std::string json = tmp.Sub("big.json");
  ASSERT_TRUE(env->WriteFileAtomic(json, "[\n" + ok_row + ",\n" + big + "\n]\n").ok());
  EXPECT_TRUE(FailsWith(ReadDatasetPath(env, json).status(),
                        {json + ":3: the row is longer than 8388608 bytes"}));
  // One byte less is read.
  std::string fits = big.substr(0, 12) + big.substr(13);
  ASSERT_TRUE(env->WriteFileAtomic(jsonl, ok_row + "\n" + fits).ok());
  Result<std::vector<Conversation>> rows = ReadDatasetPath(env, jsonl);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(rows->size(), 2u);
}

TEST(DatasetFiles, AnOverLongLineIsNotReadWhole) {
  // A 64 GiB sparse file whose first line never ends: reading it whole would fail or take
  // minutes; the reader stops after the limit.
  testing::ScopedTempDir tmp;
  std::string path = tmp.Sub("endless.jsonl");
  ASSERT_TRUE(Env::Default()->WriteFileAtomic(path, "{\"query\": \"").ok());
  ASSERT_EQ(truncate(path.c_str(), int64_t{64} << 30), 0);
  EXPECT_TRUE(FailsWith(ReadDatasetPath(Env::Default(), path).status(),
                        {path + ":1: the row is longer than"}));
}

TEST(DatasetFiles, RowsWithKeysGivenTwiceOrHugeNumbersAreErrors) {
  EXPECT_TRUE(FailsWith(ParseDatasetText("{\"query\": \"a\", \"query\": \"b\", \"response\": "
                                         "\"r\"}\n",
                                         "d.jsonl", DatasetFormat::kJsonl)
                            .status(),
                        {"d.jsonl", "key 'query' is given twice"}));
  EXPECT_TRUE(FailsWith(ParseDatasetText("{\"query\": \"a\", \"response\": \"r\"}\n{\"query\": "
                                         "1e99999}\n",
                                         "d.jsonl", DatasetFormat::kJsonl)
                            .status(),
                        {"d.jsonl:2:", "number overflow"}));
  EXPECT_TRUE(FailsWith(ParseDatasetText("{\"query\": \"a\xFE\", \"response\": \"r\"}\n", "d.jsonl",
                                         DatasetFormat::kJsonl)
                            .status(),
                        {"d.jsonl:1:", "UTF-8"}));
}

}  // namespace
}  // namespace baton
