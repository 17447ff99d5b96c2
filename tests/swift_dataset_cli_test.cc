// ms-swift users' datasets through the `baton` binary: folders shaped like what
// `modelscope download --dataset X --local_dir D` leaves (the three the spot-instance recipe
// uses), read as ms-swift 3 reads them, trained on to completion, and left exactly as they were.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "base/env.h"
#include "cli_process.h"
#include "test_util.h"
#include "tiny_model.h"

namespace baton::testing {
namespace {

class SwiftDatasetCliTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(WriteTinyModel(tmp_.Sub("model"))); }

  void Put(const std::string& rel, const std::string& text) {
    std::string path = tmp_.Sub(rel);
    ASSERT_TRUE(Env::Default()->CreateDirs(path.substr(0, path.rfind('/'))).ok());
    ASSERT_TRUE(Env::Default()->WriteFileAtomic(path, text).ok());
  }

  // Every file under `folder` (hidden ones too) with its bytes: equal snapshots mean the
  // folder was not modified (nothing renamed, written, added or removed).
  std::map<std::string, std::string> Snapshot(const std::string& folder) {
    std::map<std::string, std::string> out;
    std::vector<std::string> todo = {""};
    while (!todo.empty()) {
      std::string rel = todo.back();
      todo.pop_back();
      std::string dir = rel.empty() ? folder : folder + "/" + rel;
      auto names = Env::Default()->ListDir(dir);
      EXPECT_TRUE(names.ok());
      if (!names.ok()) break;
      for (const std::string& n : *names) {
        std::string child = rel.empty() ? n : rel + "/" + n;
        if (Env::Default()->IsDirectory(folder + "/" + child)) {
          todo.push_back(child);
        } else {
          out[child] = *Env::Default()->ReadFile(folder + "/" + child);
        }
      }
    }
    return out;
  }

  ProcessResult Train(const std::string& dataset, std::vector<std::string> extra = {},
                      const std::string& run = "run") {
    std::vector<std::string> args = {BATON_BINARY,
                                     "train",
                                     "--model",
                                     tmp_.Sub("model"),
                                     "--dataset",
                                     dataset,
                                     "--output_dir",
                                     tmp_.Sub(run),
                                     "--max_steps",
                                     "2",
                                     "--gradient_accumulation_steps",
                                     "1",
                                     "--max_length",
                                     "96",
                                     "--template",
                                     "chatml",
                                     "--save_steps",
                                     "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunProcess(args, {}, tmp_.Sub(run + ".log"));
  }

  // ModelScope's extras in every download: dataset_infos.json (and ms-swift's renames of it,
  // left by an earlier `swift sft`) and the hub's hidden cache files.
  void PutModelScopeExtras(const std::string& dir) {
    Put(dir + "/dataset_infos.json", R"({"default": {"splits": {"train": {"num_examples": 1}}}})");
    Put(dir + "/dataset_infos.json_bak", "{}");
    Put(dir + "/.msc", std::string("\x00\x01\x02\xFF", 4));
    Put(dir + "/.mdl", "meta");
    Put(dir + "/.mv", "Revision:master");
  }

  ScopedTempDir tmp_;
};

constexpr std::string_view kZhCsv =
    "\xEF\xBB\xBFinstruction,input,output\r\n"
    "保持健康的三个提示。,,\"以下是保持健康的三个提示：\r\n1. 保持身体活动。\r\n2. 均衡饮食，"
    "多吃蔬菜。\"\r\n"
    "把这句话翻译成英文。,输入：你好，世界,\"Hello, world\"\r\n"
    "\"引用 "
    "\"\"一句话\"\"，再解释它\",\"输入：\"\"慢慢来\"\"\",\"它的意思是\"\"不要着急\"\"。\"\r\n"
    "写一首诗,,春风又绿江南岸\r\n";

constexpr std::string_view kEnCsv =
    "instruction,input,output\n"
    "Give three tips for staying healthy.,,\"1. Eat well, sleep well.\n2. Exercise.\n3. Drink "
    "water.\"\n"
    "\"Say \"\"hello\"\", politely\",to a friend,\"Hello, my friend!\"\n"
    "Sum the numbers.,\"2, 3\",5\n";

constexpr std::string_view kSelfCognition =
    R"({"query": "你是谁？", "response": "我是{{NAME}}，由{{AUTHOR}}训练的人工智能助手。", "tag": "zh"})"
    "\n"
    R"({"query": "Who are you?", "response": "I am {{NAME}}, an assistant trained by {{AUTHOR}}.", "tag": "en"})"
    "\n"
    R"({"query": "what's your name?", "response": "My name is {{NAME}}.", "tag": "en"})"
    "\n";

TEST_F(SwiftDatasetCliTest, TheRecipesThreeModelScopeFoldersTrainAndStayUnmodified) {
  Put("data/alpaca-gpt4-data-zh/train.csv", std::string(kZhCsv));
  Put("data/alpaca-gpt4-data-zh/README.md",
      "---\nlicense: CC BY NC 4.0\ntags:\n- gpt4\ntext:\n  conversational:\n    size_scale:\n"
      "    - 10k-100k\n---\n数据已经预设了train分片\n");
  PutModelScopeExtras("data/alpaca-gpt4-data-zh");
  Put("data/alpaca-gpt4-data-en/train.csv", std::string(kEnCsv));
  Put("data/alpaca-gpt4-data-en/README.md",
      "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: "
      "\"train.csv\"\n---\n# alpaca-gpt4-data-en\n");
  Put("data/alpaca-gpt4-data-en/extra.jsonl", "not a data file of the config\n");
  PutModelScopeExtras("data/alpaca-gpt4-data-en");
  Put("data/self-cognition/self_cognition.jsonl", std::string(kSelfCognition));
  Put("data/self-cognition/README.md",
      "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: "
      "\"self_cognition.jsonl\"\n---\n总共108条\n");
  PutModelScopeExtras("data/self-cognition");
  std::map<std::string, std::map<std::string, std::string>> before;
  for (const char* d : {"alpaca-gpt4-data-zh", "alpaca-gpt4-data-en", "self-cognition"}) {
    before[d] = Snapshot(tmp_.Sub(std::string("data/") + d));
  }

  ProcessResult zh = Train(tmp_.Sub("data/alpaca-gpt4-data-zh") + "#6", {}, "zh");
  EXPECT_EQ(zh.exit_code, 0) << zh.output;
  EXPECT_NE(zh.output.find("4 rows -> 6 train"), std::string::npos) << zh.output;
  ProcessResult en = Train(tmp_.Sub("data/alpaca-gpt4-data-en") + "#3", {}, "en");
  EXPECT_EQ(en.exit_code, 0) << en.output;
  EXPECT_NE(en.output.find("3 rows -> 3 train"), std::string::npos) << en.output;
  // The folder's name says it is alpaca-gpt4-data-en: no rule applies, and Baton says so once.
  size_t notice = en.output.find("no ms-swift dataset rule applies");
  EXPECT_NE(notice, std::string::npos) << en.output;
  EXPECT_EQ(en.output.find("no ms-swift dataset rule applies", notice + 1), std::string::npos);
  EXPECT_EQ(zh.output.find("no ms-swift dataset rule applies"), std::string::npos) << zh.output;

  // self-cognition/ gets ms-swift's {{NAME}}/{{AUTHOR}} rule: without the values it is refused.
  ProcessResult no_name = Train(tmp_.Sub("data/self-cognition") + "#5", {}, "sc0");
  EXPECT_EQ(no_name.exit_code, 2) << no_name.output;
  EXPECT_NE(no_name.output.find("self-cognition row says {{NAME}} but --model_name was not given"),
            std::string::npos)
      << no_name.output;
  ProcessResult sc =
      Train(tmp_.Sub("data/self-cognition") + "#5",
            {"--model_name", "小巴", "Baton", "--model_author", "巴顿团队", "Baton Team"}, "sc");
  EXPECT_EQ(sc.exit_code, 0) << sc.output;
  EXPECT_NE(sc.output.find("3 rows -> 5 train"), std::string::npos) << sc.output;
  for (const char* run : {"zh", "en", "sc"}) {
    EXPECT_TRUE(Env::Default()->FileExists(tmp_.Sub(std::string(run) + "/COMPLETE"))) << run;
  }
  for (const char* d : {"alpaca-gpt4-data-zh", "alpaca-gpt4-data-en", "self-cognition"}) {
    EXPECT_EQ(Snapshot(tmp_.Sub(std::string("data/") + d)), before[d]) << d << " was modified";
  }
}

TEST_F(SwiftDatasetCliTest, ARenamedSelfCognitionFolderGetsNoRuleAndBatonSaysSo) {
  Put("data/sc-copy/self_cognition.jsonl", std::string(kSelfCognition));
  ProcessResult r = Train(tmp_.Sub("data/sc-copy") + "#3");
  EXPECT_EQ(r.exit_code, 0) << r.output;  // trained on the placeholders as written, as ms-swift
  EXPECT_NE(r.output.find("dataset " + tmp_.Sub("data/sc-copy") +
                          ": no ms-swift dataset rule applies to a folder of this name"),
            std::string::npos)
      << r.output;
}

TEST_F(SwiftDatasetCliTest, ColumnsFlagMapsOtherColumns) {
  Put("data/mine/train.tsv", "ask\treply\nWhat is 2+2?\t4\nName a colour.\tBlue, or red.\n");
  ProcessResult bad = Train(tmp_.Sub("data/mine"), {}, "bad");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find(tmp_.Sub("data/mine/train.tsv") +
                            ":2: record 1: no 'query' column (the row's columns: 'ask', 'reply')"),
            std::string::npos)
      << bad.output;
  EXPECT_FALSE(Env::Default()->FileExists(tmp_.Sub("bad/checkpoint-2")));
  ProcessResult ok =
      Train(tmp_.Sub("data/mine"), {"--columns", R"({"ask": "query", "reply": "response"})"});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  ProcessResult flag = Train(tmp_.Sub("data/mine"), {"--columns", "[1]"}, "flag");
  EXPECT_EQ(flag.exit_code, 2) << flag.output;
  EXPECT_NE(flag.output.find("--columns: expected a JSON object"), std::string::npos)
      << flag.output;
}

TEST_F(SwiftDatasetCliTest, BrokenFilesAreRefusedBeforeTrainingNamingFileAndLine) {
  Put("data/q/train.csv", "instruction,input,output\na,,b\n\"c\"d,,e\n");
  ProcessResult quote = Train(tmp_.Sub("data/q") + "#2", {}, "q");
  EXPECT_EQ(quote.exit_code, 2) << quote.output;
  EXPECT_NE(quote.output.find(tmp_.Sub("data/q/train.csv") + ":3: record 2: malformed quoting"),
            std::string::npos)
      << quote.output;
  Put("data/bin/train.csv", std::string("\x89PNG\r\n\x1A\n\x00\x00\x00\x0DIHDR", 16));
  ProcessResult bin = Train(tmp_.Sub("data/bin"), {}, "bin");
  EXPECT_EQ(bin.exit_code, 2) << bin.output;
  EXPECT_NE(bin.output.find(tmp_.Sub("data/bin/train.csv") + ": not UTF-8 text"), std::string::npos)
      << bin.output;
  Put("data/pq/train-00000-of-00001.parquet", "PAR1");
  ProcessResult pq = Train(tmp_.Sub("data/pq"), {}, "pq");
  EXPECT_EQ(pq.exit_code, 2) << pq.output;
  EXPECT_NE(pq.output.find("does not read .parquet files"), std::string::npos) << pq.output;
  EXPECT_NE(pq.output.find("pd.read_parquet("), std::string::npos) << pq.output;
  for (const char* run : {"q", "bin", "pq"}) {
    EXPECT_FALSE(Env::Default()->FileExists(tmp_.Sub(std::string(run) + "/checkpoint-2"))) << run;
  }
}

}  // namespace
}  // namespace baton::testing
