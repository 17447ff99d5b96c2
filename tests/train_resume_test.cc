// Exact resume, in process: a run stopped at every point where the trainer polls for a stop
// (between micro-batches, so mid-accumulation too) and started again must end with the same
// adapter bytes and logged losses as a run never interrupted.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "model/init_model.h"
#include "test_util.h"
#include "tiny_model.h"
#include "train/trainer.h"

namespace baton {
namespace {

using testing::ScopedTempDir;
Env* env = Env::Default();

class TrainResume : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(testing::WriteTinyModel(tmp_.Sub("model")));
    args_ = testing::TinyTrainArgs(tmp_.Sub("model"), 6, 3);
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

  // The "loss" of every training line (the final line's log_history repeats them).
  static std::string Losses(const std::string& dir) {
    std::string log = *env->ReadFile(dir + "/logging.jsonl");
    std::string out;
    std::istringstream lines(log);
    std::smatch m;
    for (std::string line; std::getline(lines, line);) {
      if (line.find("\"log_history\"") != std::string::npos) continue;
      static const std::regex loss("\"loss\":[-0-9.e+]+");
      if (std::regex_search(line, m, loss)) out += m.str() + "\n";
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

// Every file under `dir` with its bytes.
std::map<std::string, std::string> Files(const std::string& dir, const std::string& rel = "") {
  std::map<std::string, std::string> out;
  std::vector<std::string> names = *env->ListDir(JoinPath(dir, rel));
  for (const std::string& name : names) {
    std::string r = rel.empty() ? name : rel + "/" + name;
    if (env->IsDirectory(JoinPath(dir, r))) {
      out.merge(Files(dir, r));
    } else {
      out[r] = *env->ReadFile(JoinPath(dir, r));
    }
  }
  return out;
}

// Two trainers on one output folder: the older one, still running when the newer one takes the
// lease (and here even finishes the run), stops at its next commit without writing anything.
TEST_F(TrainResume, OlderTrainerIsFencedAndWritesNothing) {
  std::string dir = tmp_.Sub("shared");
  TrainArgs a = args_;
  a.output_dir = dir;
  std::map<std::string, std::string> after_newer;
  Result<TrainOutcome> newer = Status::Ok();
  int polls = 0;
  TrainerHooks hooks;
  hooks.print = [](const std::string&) {};
  hooks.should_stop = [&] {
    if (++polls == 2) {  // the older trainer is one micro-batch in, nothing saved yet
      TrainerHooks quiet;
      quiet.print = [](const std::string&) {};
      newer = RunTraining(a, quiet);
      after_newer = Files(dir);
    }
    return false;
  };
  std::vector<std::string> printed;
  hooks.print = [&](const std::string& line) { printed.push_back(line); };
  auto older = RunTraining(a, hooks);
  ASSERT_TRUE(newer.ok()) << newer.status().ToString();
  EXPECT_EQ(*newer, TrainOutcome::kCompleted);
  ASSERT_TRUE(older.ok()) << older.status().ToString();
  EXPECT_EQ(*older, TrainOutcome::kFenced);
  EXPECT_EQ(Files(dir), after_newer);
  EXPECT_TRUE(after_newer.count("COMPLETE"));
  bool told = false;
  for (const std::string& line : printed) told |= line.find("fenced") != std::string::npos;
  EXPECT_TRUE(told) << "the fenced trainer must say why it stopped";
  // The newer attempt's result is the uninterrupted run's.
  ASSERT_TRUE(Run(tmp_.Sub("ref"), 0).ok());
  EXPECT_EQ(after_newer["checkpoint-3/adapter_model.safetensors"],
            *env->ReadFile(tmp_.Sub("ref/checkpoint-3/adapter_model.safetensors")));
}

}  // namespace
}  // namespace baton
