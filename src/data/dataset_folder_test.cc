#include "data/dataset_folder.h"

#include <gtest/gtest.h>

#include "data/dataset_reader.h"
#include "data_test_util.h"
#include "test_util.h"

namespace baton {
namespace {

using testing::FailsWith;
using testing::ScopedTempDir;

class DatasetFolder : public ::testing::Test {
 protected:
  void Put(const std::string& rel, const std::string& text) {
    std::string path = tmp_.Sub(rel);
    ASSERT_TRUE(Env::Default()->CreateDirs(path.substr(0, path.rfind('/'))).ok());
    ASSERT_TRUE(Env::Default()->WriteFileAtomic(path, text).ok());
  }
  std::vector<std::string> Resolve(const std::string& folder) {
    auto r = ResolveDatasetFolder(Env::Default(), tmp_.Sub(folder));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<std::string> rel;
    if (r.ok()) {
      for (const std::string& f : *r) rel.push_back(f.substr(tmp_.Sub(folder).size() + 1));
    }
    return rel;
  }
  ScopedTempDir tmp_;
};

TEST(GlobMatch, SegmentsClassesAndDoubleStar) {
  EXPECT_TRUE(GlobMatch("*.csv", "train.csv"));
  EXPECT_FALSE(GlobMatch("*.csv", "data/train.csv"));
  EXPECT_TRUE(GlobMatch("**/*.csv", "train.csv"));
  EXPECT_TRUE(GlobMatch("**/*.csv", "a/b/train.csv"));
  EXPECT_TRUE(GlobMatch("data/train-*", "data/train-00000-of-00001.parquet"));
  EXPECT_TRUE(GlobMatch("part[0-9].json", "part7.json"));
  EXPECT_FALSE(GlobMatch("part[!0-9].json", "part7.json"));
  EXPECT_TRUE(GlobMatch("self_cognition.jsonl", "self_cognition.jsonl"));
  EXPECT_FALSE(GlobMatch("self_cognition.jsonl", "self_cognition.jsonl.bak"));
}

TEST_F(DatasetFolder, ModelScopeDownloadReadsTrainCsvAndIgnoresItsExtras) {
  Put("zh/train.csv", "instruction,input,output\na,,b\n");
  Put("zh/README.md", "---\nlicense: CC BY NC 4.0\ntags:\n- gpt\n---\n# card\n");
  Put("zh/dataset_infos.json", "{\"default\": {}}");
  Put("zh/dataset_infos.json.bak", "{}");
  Put("zh/dataset_infos.json_bak", "{}");
  Put("zh/.msc", "\x01\x02");
  Put("zh/.mdl", "x");
  Put("zh/.mv", "x");
  Put("zh/test.csv", "instruction,input,output\nt,,t\n");
  EXPECT_EQ(Resolve("zh"), (std::vector<std::string>{"train.csv"}));
}

TEST_F(DatasetFolder, ReadmeConfigsDataFilesWin) {
  Put("sc/README.md",
      "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: "
      "\"self_cognition.jsonl\"\n---\ntext\n");
  Put("sc/self_cognition.jsonl", "{\"query\": \"q\", \"response\": \"r\"}\n");
  Put("sc/other.jsonl", "{\"query\": \"q\", \"response\": \"r\"}\n");
  Put("sc/dataset_infos.json", "{}");
  EXPECT_EQ(Resolve("sc"), (std::vector<std::string>{"self_cognition.jsonl"}));
  // A plain list, a glob, a split other than train.
  Put("g/README.md", "---\nconfigs:\n- config_name: default\n  data_files: \"data/*.csv\"\n---\n");
  Put("g/data/a.csv", "q,r\n1,2\n");
  Put("g/data/b.csv", "q,r\n1,2\n");
  Put("g/x.csv", "q,r\n1,2\n");
  EXPECT_EQ(Resolve("g"), (std::vector<std::string>{"data/a.csv", "data/b.csv"}));
  Put("t/README.md",
      "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: test\n    path: t.csv\n"
      "---\n");
  Put("t/t.csv", "q,r\n1,2\n");
  EXPECT_TRUE(FailsWith(ResolveDatasetFolder(Env::Default(), tmp_.Sub("t")).status(),
                        {"README.md", "no data files for split 'train' (splits: test)"}));
  Put("n/README.md", "---\nconfigs:\n- config_name: default\n  data_files: nothing*.csv\n---\n");
  Put("n/a.csv", "q,r\n1,2\n");
  EXPECT_TRUE(FailsWith(ResolveDatasetFolder(Env::Default(), tmp_.Sub("n")).status(),
                        {"README.md: its `configs` data_files (nothing*.csv) match no file"}));
}

TEST_F(DatasetFolder, SplitKeywordsInFileAndFolderNames) {
  Put("s/data/train-00000.jsonl", "{}");
  Put("s/data/validation-00000.jsonl", "{}");
  Put("s/my_training_set.json", "[]");
  Put("s/trainer.jsonl", "{}");  // "trainer" is not the keyword
  Put("s/train/part.jsonl", "{}");
  EXPECT_EQ(Resolve("s"), (std::vector<std::string>{"data/train-00000.jsonl",
                                                    "my_training_set.json", "train/part.jsonl"}));
  Put("v/valid.csv", "q,r\n1,2\n");
  Put("v/test.csv", "q,r\n1,2\n");
  EXPECT_TRUE(FailsWith(ResolveDatasetFolder(Env::Default(), tmp_.Sub("v")).status(),
                        {"name splits but none is 'train'"}));
}

TEST_F(DatasetFolder, MostCommonExtensionWinsWithHfTieBreak) {
  Put("m/a.jsonl", "{}");
  Put("m/b.jsonl", "{}");
  Put("m/c.csv", "q,r\n");
  Put("m/notes.md", "x");
  EXPECT_EQ(Resolve("m"), (std::vector<std::string>{"a.jsonl", "b.jsonl"}));
  Put("t/a.csv", "q,r\n");
  Put("t/b.json", "[]");
  EXPECT_EQ(Resolve("t"), (std::vector<std::string>{"b.json"}));  // .json before .csv
  Put("c/a.csv", "q,r\n");
  Put("c/b.tsv", "q\tr\n");
  EXPECT_EQ(Resolve("c"), (std::vector<std::string>{"a.csv", "b.tsv"}));  // one builder
}

TEST_F(DatasetFolder, NoDataFilesIsAnErrorListingWhatIsThere) {
  Put("e/notes.md", "x");
  Put("e/dataset_infos.json", "{}");
  Put("e/.msc", "x");
  EXPECT_TRUE(FailsWith(ResolveDatasetFolder(Env::Default(), tmp_.Sub("e")).status(),
                        {"e: folder has no data files", "it holds notes.md"}));
}

TEST_F(DatasetFolder, ParquetIsRefusedWithAConversionCommand) {
  Put("p/train-00000.parquet", "PAR1....PAR1");
  auto r = ReadDatasetPath(Env::Default(), tmp_.Sub("p"));
  EXPECT_TRUE(
      FailsWith(r.status(), {tmp_.Sub("p/train-00000.parquet"), "does not read .parquet files",
                             "pd.read_parquet", "to_json"}));
}

}  // namespace
}  // namespace baton
