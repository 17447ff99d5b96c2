#include "data/prepare.h"

#include <gtest/gtest.h>

#include "data_test_util.h"
#include "test_util.h"

namespace baton {
namespace {

using testing::DatasetFixture;
using testing::FailsWith;
using testing::QwenTokenizer;

Result<PreparedData> Prepare(const DataOptions& options, std::string default_system = "") {
  ChatRenderOptions render;
  render.default_system = std::move(default_system);
  return PrepareDatasets(Env::Default(), options, QwenTokenizer(), ChatTemplateKind::kChatML,
                         render);
}

DataOptions Mixed() {
  DataOptions o;
  o.datasets = {DatasetFixture("alpaca.jsonl") + "#10 self-cognition#20",
                DatasetFixture("sharegpt.json")};
  o.model_name = {"小黄", "Xiao Huang"};
  o.model_author = {"魔搭", "ModelScope"};
  return o;
}

TEST(DatasetPrepare, SamplesSplitsAndSummarises) {
  DataOptions o = Mixed();
  o.split_dataset_ratio = 0.1;
  auto data = Prepare(o);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  const DataSummary& s = data->summary;
  ASSERT_EQ(s.datasets.size(), 3u);
  // alpaca: 3 rows, #10 -> 1 validation row (at least one), 9 training rows.
  EXPECT_EQ(s.datasets[0].rows, 3);
  EXPECT_EQ(s.datasets[0].val_rows, 1);
  EXPECT_EQ(s.datasets[0].train_rows, 9);
  // self-cognition#20: floor(20 * 0.1) = 2 validation rows, 18 training rows.
  EXPECT_EQ(s.datasets[1].source, "self-cognition (built in)");
  EXPECT_GE(s.datasets[1].rows, 100);
  EXPECT_EQ(s.datasets[1].val_rows, 2);
  EXPECT_EQ(s.datasets[1].train_rows, 18);
  // sharegpt: 2 rows, 1 + 1.
  EXPECT_EQ(s.datasets[2].val_rows, 1);
  EXPECT_EQ(s.datasets[2].train_rows, 1);
  EXPECT_EQ(data->train.size(), 28u);
  EXPECT_EQ(data->val.size(), 4u);
  EXPECT_EQ(s.train.examples, 28);
  EXPECT_EQ(s.val.examples, 4);
  int64_t tokens = 0;
  for (const TrainExample& ex : data->train) tokens += static_cast<int64_t>(ex.input_ids.size());
  EXPECT_EQ(s.train.tokens, tokens);
  EXPECT_GT(s.train.trainable_tokens, 0);
  EXPECT_LT(s.train.trainable_tokens, s.train.tokens);
  std::string text = s.ToString();
  EXPECT_NE(text.find("self-cognition#20"), std::string::npos) << text;
  EXPECT_NE(text.find("train: 28 examples"), std::string::npos) << text;
  EXPECT_NE(text.find("val: 4 examples"), std::string::npos) << text;
  // Self-cognition placeholders were filled.
  for (const TrainExample& ex : data->train) {
    EXPECT_EQ(QwenTokenizer().Decode(ex.input_ids).find("{{"), std::string::npos);
  }
}

TEST(DatasetPrepare, DeterministicPerSeed) {
  DataOptions o = Mixed();
  auto a = Prepare(o), b = Prepare(o);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->train.size(), 32u);  // 10 + 20 + 2, no split by default
  EXPECT_TRUE(a->val.empty());
  for (size_t i = 0; i < a->train.size(); ++i) {
    EXPECT_EQ(a->train[i].input_ids, b->train[i].input_ids) << i;
    EXPECT_EQ(a->train[i].labels, b->train[i].labels) << i;
  }
  o.seed = 7;
  auto c = Prepare(o);
  ASSERT_TRUE(c.ok());
  bool differs = false;
  for (size_t i = 0; i < a->train.size(); ++i)
    differs |= a->train[i].input_ids != c->train[i].input_ids;
  EXPECT_TRUE(differs);
}

TEST(DatasetPrepare, SystemOverride) {
  const Tokenizer& tok = QwenTokenizer();
  DataOptions o;
  o.datasets = {DatasetFixture("alpaca.jsonl")};
  o.dataset_shuffle = false;
  o.system = "You are Baton.";
  auto data = Prepare(o, "Default system.");
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  ASSERT_EQ(data->train.size(), 3u);
  EXPECT_EQ(tok.Decode(data->train[0].input_ids).rfind("<|im_start|>system\nYou are Baton.", 0),
            0u);
  // A row with its own system keeps it.
  EXPECT_EQ(tok.Decode(data->train[2].input_ids).rfind("<|im_start|>system\nYou are terse.", 0),
            0u);
  // Without --system the template's default applies; --system "" removes it.
  o.system.reset();
  data = Prepare(o, "Default system.");
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(tok.Decode(data->train[0].input_ids).rfind("<|im_start|>system\nDefault system.", 0),
            0u);
  o.system = "";
  data = Prepare(o, "Default system.");
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(tok.Decode(data->train[0].input_ids).rfind("<|im_start|>user\n", 0), 0u);
}

TEST(DatasetPrepare, TruncationCounts) {
  DataOptions o;
  o.datasets = {DatasetFixture("messages.jsonl")};
  o.dataset_shuffle = false;
  o.max_length = 0;  // no limit: measure both rows
  auto data = Prepare(o);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  auto len0 = static_cast<int64_t>(data->train[0].input_ids.size());
  auto len1 = static_cast<int64_t>(data->train[1].input_ids.size());
  ASSERT_NE(len0, len1);
  EXPECT_EQ(data->summary.train.longest, std::max(len0, len1));

  o.max_length = std::min(len0, len1);  // the longer row is deleted (ms-swift's default)
  data = Prepare(o);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->summary.train.examples, 1);
  EXPECT_EQ(data->summary.train.dropped_too_long, 1);
  EXPECT_EQ(data->summary.train.truncated, 0);
  EXPECT_EQ(data->summary.train.longest, o.max_length);

  o.truncation_strategy = TruncationStrategy::kRight;  // now it is cut instead
  data = Prepare(o);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->summary.train.examples, 2);
  EXPECT_EQ(data->summary.train.truncated, 1);
  EXPECT_EQ(data->summary.train.dropped_too_long, 0);
  for (const TrainExample& ex : data->train) {
    EXPECT_LE(static_cast<int64_t>(ex.input_ids.size()), o.max_length);
  }

  o.max_length = 8;  // both cut before any answer token
  EXPECT_TRUE(FailsWith(Prepare(o).status(), {"no training examples left", "2 had no answer"}));
  o.truncation_strategy = TruncationStrategy::kDelete;
  EXPECT_TRUE(FailsWith(Prepare(o).status(), {"no training examples left", "--max_length 8"}));
}

TEST(DatasetPrepare, PlaceholdersOnlyFilledInSelfCognition) {
  // As in ms-swift, {{NAME}} in a user's own file is their text, not a placeholder.
  testing::ScopedTempDir tmp;
  std::string path = tmp.Sub("baton_prepare_test_names.jsonl");
  ASSERT_TRUE(Env::Default()
                  ->WriteFileAtomic(path, "{\"query\": \"q\", \"response\": \"I am {{NAME}}\"}\n")
                  .ok());
  DataOptions o;
  o.datasets = {path};
  auto data = Prepare(o);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_NE(QwenTokenizer().Decode(data->train[0].input_ids).find("{{NAME}}"), std::string::npos);

  o.datasets = {"self-cognition#4"};
  EXPECT_TRUE(FailsWith(Prepare(o).status(), {"--model_name"}));
}

TEST(DatasetPrepare, ErrorsNameTheDataset) {
  DataOptions o;
  o.datasets = {DatasetFixture("unknown_shape.jsonl")};
  EXPECT_TRUE(FailsWith(Prepare(o).status(), {"unknown_shape.jsonl:2:"}));
  o.datasets = {DatasetFixture("sharegpt.json")};
  o.split_dataset_ratio = 0.5;  // 2 rows: 1 + 1 is fine
  EXPECT_TRUE(Prepare(o).ok());
  o.datasets = {DatasetFixture("folder/b.jsonl")};  // 1 row cannot be split
  EXPECT_TRUE(FailsWith(Prepare(o).status(), {"b.jsonl", "no training rows"}));
}

}  // namespace
}  // namespace baton
