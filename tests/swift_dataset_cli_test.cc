// ms-swift users' datasets through the `baton` binary: folders shaped like what
// `modelscope download --dataset X --local_dir D` leaves (the three the spot-instance recipe
// uses), read as ms-swift 3 reads them, trained on to completion, and left exactly as they were.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/json.h"
#include "cli_process.h"
#include "kernels/cpu/cpu_backend.h"
#include "model/lora.h"
#include "model/transformer.h"
#include "test_paths.h"
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

// Logits of `model_dir` (with `adapter_dir`'s adapter when given) on a fixed prompt, f32 on the
// CPU.
Tensor Logits(const std::string& model_dir, const std::string& adapter_dir) {
  Env* env = Env::Default();
  std::unique_ptr<Backend> backend = MakeCpuBackend({CpuGemm::kNaive, 1});
  auto model = Transformer::Load(env, model_dir, backend.get());
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return Tensor();
  std::optional<LoraAdapter> adapter;
  if (!adapter_dir.empty()) {
    auto loaded = LoraAdapter::Load(env, adapter_dir, (*model)->config());
    EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
    if (!loaded.ok()) return Tensor();
    adapter.emplace(std::move(loaded).value());
    (*model)->SetAdapter(&*adapter);
  }
  std::vector<int32_t> ids;
  for (int i = 0; i < 19; ++i) ids.push_back((i * 7919 + 101) % 151000);
  auto logits = (*model)->Forward(Tensor::FromI32(ids, {1, 19}), Tensor());
  EXPECT_TRUE(logits.ok()) << logits.status().ToString();
  return logits.ok() ? logits->Clone() : Tensor();
}

// The issue's "done when": ms-swift's documented LoRA line (tests/data/ms-swift/train.sh, its
// README's quick start: three ModelScope datasets, bf16, 16-step accumulation, self-cognition's
// --model_author/--model_name) runs with one edit, `swift sft` -> `baton train`. The folder it
// runs in holds what the line names: `Qwen/Qwen2.5-7B-Instruct` is the tiny model and
// `AI-ModelScope/alpaca-gpt4-data-zh`, `-en` and `swift/self-cognition` are folders shaped like
// their `modelscope download`s, so even the paths stay as written. It trains to completion
// (float32 on this CPU, said once), each checkpoint has ms-swift's args.json, the datasets are
// left as they were, and `baton export --merge_lora true` gives a model whose logits are those
// of base + adapter.
TEST_F(SwiftDatasetCliTest, TheRecipesSwiftSftLineRunsUnchangedThroughBatonTrain) {
  Env* env = Env::Default();
  const std::string zh = "work/AI-ModelScope/alpaca-gpt4-data-zh";
  const std::string en = "work/AI-ModelScope/alpaca-gpt4-data-en";
  const std::string sc = "work/swift/self-cognition";
  // The tricky rows above and more plain ones: #500 repeats a dataset at most 100 times.
  std::string zh_csv(kZhCsv), en_csv(kEnCsv), sc_jsonl(kSelfCognition);
  for (int i = 1; i <= 8; ++i) {
    zh_csv += fmt::format("计算{}加{}。,,\"{}加{}等于{}。\"\r\n", i, i + 1, i, i + 1, 2 * i + 1);
    en_csv += fmt::format("Add {} and {}.,,\"{} + {} = {}, the sum.\"\n", i, i, i, i, 2 * i);
    sc_jsonl += fmt::format(
        R"({{"query": "问题{}：你叫什么？", "response": "我叫{{{{NAME}}}}。", "tag": "zh"}})"
        "\n",
        i);
  }
  Put(zh + "/train.csv", zh_csv);
  Put(zh + "/README.md",
      "---\nlicense: CC BY NC 4.0\ntags:\n- gpt4\n---\n数据已经预设了train分片\n");
  PutModelScopeExtras(zh);
  Put(en + "/train.csv", en_csv);
  PutModelScopeExtras(en);
  Put(sc + "/self_cognition.jsonl", sc_jsonl);
  Put(sc + "/README.md",
      "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: "
      "\"self_cognition.jsonl\"\n---\n");
  PutModelScopeExtras(sc);
  std::map<std::string, std::map<std::string, std::string>> before;
  for (const std::string& d : {zh, en, sc}) before[d] = Snapshot(tmp_.Sub(d));
  const std::string model = tmp_.Sub("work/Qwen/Qwen2.5-7B-Instruct");
  ASSERT_NO_FATAL_FAILURE(WriteTinyModel(model));
  // Qwen2.5-Instruct's tokenizer_config.json names its chat template (ChatML, with Qwen2.5's
  // default system prompt); abridged to what template detection reads.
  Json tokenizer_config = {
      {"chat_template",
       "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + "
       "messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are "
       "Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}{%- endif "
       "%}{%- for message in messages %}...{%- endfor %}"},
      {"eos_token", "<|im_end|>"},
      {"model_max_length", 131072}};
  ASSERT_TRUE(
      env->WriteFileAtomic(model + "/tokenizer_config.json", DumpJson(tokenizer_config, 2)).ok());

  // The line as ms-swift documents it; the only edit is the command.
  Result<std::string> script = env->ReadFile(TestDataDir() + "/ms-swift/train.sh");
  ASSERT_TRUE(script.ok()) << script.status().ToString();
  std::string edited = *script;
  ASSERT_NE(edited.find("\nswift sft \\\n"), std::string::npos) << edited;
  edited.replace(edited.find("swift sft"), 9, "baton train");
  ASSERT_TRUE(env->WriteFileAtomic(tmp_.Sub("work/train.sh"), edited).ok());
  const std::string bin = std::string(BATON_BINARY).substr(0, std::string(BATON_BINARY).rfind('/'));
  ProcessResult train =
      RunProcess({"/bin/bash", "-c", "cd \"$0\" && PATH=\"$1:$PATH\" exec bash train.sh",
                  tmp_.Sub("work"), bin},
                 {}, tmp_.Sub("train.log"), 1800000);
  ASSERT_EQ(train.exit_code, 0) << train.output;
  EXPECT_NE(train.output.find("--torch_dtype bfloat16: "), std::string::npos) << train.output;
  EXPECT_NE(train.output.find("training computes in float32 on the CPU"), std::string::npos);
  // #500 of each: 12, 11 and 11 rows repeated as ms-swift's sample_dataset does.
  for (const char* rows : {"12 rows -> 500 train", "11 rows -> 500 train"}) {
    EXPECT_NE(train.output.find(rows), std::string::npos) << rows << "\n" << train.output;
  }
  // ms-swift has rules for the zh folder and self-cognition, none for the en one: said once.
  const std::string notice = "no ms-swift dataset rule applies";
  size_t at = train.output.find(notice);
  EXPECT_NE(train.output.find("dataset AI-ModelScope/alpaca-gpt4-data-en: " + notice),
            std::string::npos)
      << train.output;
  EXPECT_EQ(train.output.find(notice, at + 1), std::string::npos) << train.output;
  EXPECT_TRUE(env->FileExists(tmp_.Sub("work/output/COMPLETE")));
  for (const std::string& d : {zh, en, sc}) {
    EXPECT_EQ(Snapshot(tmp_.Sub(d)), before[d]) << d << " was modified";
  }

  // 1500 rows, 16 per step: 94 steps; --save_steps 50 and --save_total_limit 2 keep 50 and 94.
  Result<std::string> log = env->ReadFile(tmp_.Sub("work/output/logging.jsonl"));
  ASSERT_TRUE(log.ok());
  std::string last_line = log->substr(log->rfind('\n', log->size() - 2) + 1);
  Result<Json> final_line = ParseJson(last_line, "logging.jsonl");
  ASSERT_TRUE(final_line.ok()) << final_line.status().ToString();
  const std::string ckpt = JsonStringOr(*final_line, "last_model_checkpoint");
  EXPECT_EQ(ckpt, "output/checkpoint-94") << last_line;
  EXPECT_TRUE(env->FileExists(tmp_.Sub("work/output/checkpoint-50/MANIFEST.json")));
  EXPECT_FALSE(env->FileExists(tmp_.Sub("work/output/checkpoint-5/MANIFEST.json")));
  Result<Json> args = ReadJsonFile(env, tmp_.Sub("work/output/checkpoint-94/args.json"));
  ASSERT_TRUE(args.ok()) << args.status().ToString();
  EXPECT_EQ((*args)["model"], "Qwen/Qwen2.5-7B-Instruct");
  EXPECT_EQ((*args)["train_type"], "lora");
  EXPECT_EQ((*args)["torch_dtype"], "bfloat16");
  EXPECT_EQ((*args)["system"], "You are a helpful assistant.");
  EXPECT_EQ((*args)["lora_rank"], 8);
  EXPECT_EQ((*args)["lora_alpha"], 32.0);
  EXPECT_EQ((*args)["max_length"], 2048);
  EXPECT_EQ((*args)["model_author"], Json::array({"swift"}));
  EXPECT_TRUE((*args)["template"].is_string() && (*args)["model_type"].is_string()) << *args;

  // swift export's line for it, the model from args.json (relative, as ms-swift resolves it).
  ProcessResult exported = RunProcess(
      {"/bin/bash", "-c",
       "cd \"$0\" && exec \"$1\" export --adapters output/checkpoint-94 --merge_lora true",
       tmp_.Sub("work"), BATON_BINARY},
      {}, tmp_.Sub("export.log"));
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  Tensor want = Logits(model, tmp_.Sub("work/output/checkpoint-94"));
  Tensor got = Logits(tmp_.Sub("work/output/checkpoint-94-merged"), "");
  Tensor base = Logits(model, "");
  ASSERT_EQ(want.shape(), got.shape());
  double diff = 0, scale = 0, moved = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(want.f32()[i] - got.f32()[i])));
    moved = std::max(moved, static_cast<double>(std::fabs(want.f32()[i] - base.f32()[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(want.f32()[i])));
  }
  EXPECT_LT(diff / scale, 1e-5);
  EXPECT_GT(moved / scale, 1e-4) << "training left the adapter without effect";
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
