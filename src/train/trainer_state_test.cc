// trainer_state.json: every field survives a write and a read (through the text that lands in a
// checkpoint), the optional fields may be absent, and a bad field is an error naming the field
// and the file.
#include "train/trainer_state.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>

namespace baton {
namespace {

constexpr char kSource[] = "ckpt/checkpoint-7/trainer_state.json";

// Every field set to a value unlike its default, so a field that is dropped shows.
TrainerState FullState() {
  TrainerState s;
  s.global_step = 7;
  s.max_steps = 120;
  s.micro_step = 3;
  s.window_loss_sum = 4.125;
  s.log_loss_sum = 2.0 / 3.0;  // needs every digit to come back exactly
  s.log_grad_norm_sum = 0.1;
  s.log_steps = 5;
  s.best_metric = 1.875;
  s.best_step = 6;
  s.seed = 18446744073709551557ull;  // above INT64_MAX: stored unsigned
  s.num_train_examples = 1000;
  s.trained_tokens = 123456789012;
  s.train_seconds = 3600.25;
  s.attempts = 3;
  s.args = Json{{"learning_rate", 1e-4}, {"lora_rank", 8}, {"model", "Qwen/Qwen3-0.6B"}};
  s.window_correct = 41;
  s.log_acc_sum = 1.0 / 7.0;
  s.total_loss_sum = 2.0 / 9.0;
  return s;
}

// Writes `s` as a checkpoint does (JSON text) and reads it back.
TrainerState RoundTrip(const TrainerState& s) {
  Result<Json> parsed = ParseJson(s.ToJson().dump(2), kSource);
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  Result<TrainerState> back = TrainerState::FromJson(*parsed, kSource);
  EXPECT_TRUE(back.ok()) << back.status().ToString();
  return back.ok() ? *back : TrainerState{};
}

void ExpectSameState(const TrainerState& a, const TrainerState& b) {
  EXPECT_EQ(a.global_step, b.global_step);
  EXPECT_EQ(a.max_steps, b.max_steps);
  EXPECT_EQ(a.micro_step, b.micro_step);
  EXPECT_EQ(a.window_loss_sum, b.window_loss_sum);
  EXPECT_EQ(a.log_loss_sum, b.log_loss_sum);
  EXPECT_EQ(a.log_grad_norm_sum, b.log_grad_norm_sum);
  EXPECT_EQ(a.log_steps, b.log_steps);
  EXPECT_EQ(a.best_metric, b.best_metric);
  EXPECT_EQ(a.best_step, b.best_step);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.num_train_examples, b.num_train_examples);
  EXPECT_EQ(a.trained_tokens, b.trained_tokens);
  EXPECT_EQ(a.train_seconds, b.train_seconds);
  EXPECT_EQ(a.window_correct, b.window_correct);
  EXPECT_EQ(a.log_acc_sum, b.log_acc_sum);
  EXPECT_EQ(a.total_loss_sum, b.total_loss_sum);
  EXPECT_EQ(a.attempts, b.attempts);
  EXPECT_EQ(a.args, b.args);
}

// The status failed with `code` and its message names every one of `parts`.
::testing::AssertionResult FailsWith(const Result<TrainerState>& r, StatusCode code,
                                     std::initializer_list<std::string> parts) {
  if (r.ok()) return ::testing::AssertionFailure() << "expected an error, got OK";
  if (r.status().code() != code) {
    return ::testing::AssertionFailure() << "wrong code: " << r.status().ToString();
  }
  for (const std::string& p : parts) {
    if (r.status().message().find(p) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "message lacks '" << p << "': " << r.status().message();
    }
  }
  return ::testing::AssertionSuccess();
}

TEST(TrainerStateTest, EveryFieldSurvivesTheRoundTrip) {
  TrainerState s = FullState();
  ExpectSameState(RoundTrip(s), s);
}

TEST(TrainerStateTest, WritesTheFormatAndVersion) {
  Json j = FullState().ToJson();
  EXPECT_EQ(j["format"], "baton-trainer-state");
  EXPECT_EQ(j["version"], TrainerState::kVersion);
  EXPECT_EQ(j["global_step"], 7);
  EXPECT_EQ(j["best_step"], 6);
}

TEST(TrainerStateTest, DefaultsSurviveTheRoundTrip) {
  TrainerState s;  // no best checkpoint yet, no args
  Json j = s.ToJson();
  EXPECT_TRUE(j["best_metric"].is_null());
  EXPECT_TRUE(j["best_step"].is_null());
  TrainerState back = RoundTrip(s);
  ExpectSameState(back, s);
  EXPECT_FALSE(back.best_metric.has_value());
  EXPECT_FALSE(back.best_step.has_value());
  EXPECT_EQ(back.seed, 42u);
  EXPECT_EQ(back.attempts, 1);
}

TEST(TrainerStateTest, OptionalFieldsMayBeAbsent) {
  // A file from before trained_tokens/train_seconds/attempts, with no best checkpoint and no args.
  Json j = FullState().ToJson();
  // Nor token_acc's counts and the loss total (added for ms-swift's log lines).
  for (const char* key : {"trained_tokens", "train_seconds", "attempts", "best_metric", "best_step",
                          "args", "window_correct", "log_acc_sum", "total_loss_sum"}) {
    j.erase(key);
  }
  Result<TrainerState> r = TrainerState::FromJson(j, kSource);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->global_step, 7);
  EXPECT_EQ(r->trained_tokens, 0);
  EXPECT_EQ(r->train_seconds, 0.0);
  EXPECT_EQ(r->attempts, 1);
  EXPECT_FALSE(r->best_metric.has_value());
  EXPECT_FALSE(r->best_step.has_value());
  EXPECT_TRUE(r->args.is_null());
  EXPECT_EQ(r->window_correct, 0);
  EXPECT_EQ(r->log_acc_sum, 0.0);
  EXPECT_EQ(r->total_loss_sum, 0.0);
}

TEST(TrainerStateTest, OptionalBestMayBePresentAlone) {
  TrainerState s = FullState();
  s.best_step.reset();  // a metric without a step is still kept as written
  ExpectSameState(RoundTrip(s), s);
  s = FullState();
  s.best_metric.reset();
  ExpectSameState(RoundTrip(s), s);
}

TEST(TrainerStateTest, EveryMissingRequiredFieldIsNamed) {
  for (const char* key :
       {"version", "global_step", "max_steps", "micro_step", "window_loss_sum", "log_loss_sum",
        "log_grad_norm_sum", "log_steps", "seed", "num_train_examples"}) {
    Json j = FullState().ToJson();
    j.erase(key);
    EXPECT_TRUE(FailsWith(TrainerState::FromJson(j, kSource), StatusCode::kNotFound,
                          {kSource, std::string("'") + key + "'"}))
        << key;
  }
}

TEST(TrainerStateTest, EveryFieldOfTheWrongTypeIsNamed) {
  for (const char* key :
       {"version", "global_step", "max_steps", "micro_step", "window_loss_sum", "log_loss_sum",
        "log_grad_norm_sum", "log_steps", "seed", "num_train_examples", "trained_tokens",
        "train_seconds", "attempts", "best_metric", "best_step", "window_correct", "log_acc_sum",
        "total_loss_sum"}) {
    Json j = FullState().ToJson();
    j[key] = "seven";
    EXPECT_TRUE(FailsWith(TrainerState::FromJson(j, kSource), StatusCode::kInvalidArgument,
                          {kSource, std::string("'") + key + "'", "string"}))
        << key;
  }
  // A fraction where a count belongs is as wrong as a string.
  Json j = FullState().ToJson();
  j["global_step"] = 7.5;
  EXPECT_TRUE(FailsWith(TrainerState::FromJson(j, kSource), StatusCode::kInvalidArgument,
                        {kSource, "'global_step'"}));
}

TEST(TrainerStateTest, OutOfRangeValuesAreCorruptionNamingTheKey) {
  struct Case {
    const char* key;
    Json value;
  };
  const Case cases[] = {
      {"global_step", -1}, {"max_steps", -3},          {"micro_step", -1},
      {"log_steps", -1},   {"num_train_examples", -1}, {"trained_tokens", -5},
      {"attempts", 0},     {"best_step", -1},          {"best_step", 8},  // after global_step 7
      {"seed", -1},        {"train_seconds", -1.0},    {"window_correct", -1}};
  for (const Case& c : cases) {
    Json j = FullState().ToJson();
    j[c.key] = c.value;
    EXPECT_TRUE(FailsWith(TrainerState::FromJson(j, kSource), StatusCode::kCorruption,
                          {kSource, std::string("'") + c.key + "'"}))
        << c.key << " = " << c.value.dump();
  }
  // 2^63 and more would wrap to a negative step; floats too large for an integer are no step.
  for (Json big : {Json(9223372036854775808ull), Json(18446744073709551615ull), Json(1e300)}) {
    Json j = FullState().ToJson();
    j["global_step"] = big;
    EXPECT_TRUE(FailsWith(TrainerState::FromJson(j, kSource), StatusCode::kInvalidArgument,
                          {kSource, "'global_step'"}))
        << big.dump();
  }
  Json j = FullState().ToJson();
  j["args"] = "lr=1";
  EXPECT_TRUE(
      FailsWith(TrainerState::FromJson(j, kSource), StatusCode::kCorruption, {kSource, "'args'"}));
  j = FullState().ToJson();
  j["version"] = 0;
  EXPECT_TRUE(FailsWith(TrainerState::FromJson(j, kSource), StatusCode::kCorruption,
                        {kSource, "version 0"}));
}

TEST(TrainerStateTest, RejectsOtherDocumentsAndNewerVersions) {
  EXPECT_TRUE(FailsWith(TrainerState::FromJson(Json::array(), kSource), StatusCode::kCorruption,
                        {kSource, "not a baton trainer state"}));
  Json j = FullState().ToJson();
  j["format"] = "hf-trainer-state";
  EXPECT_TRUE(FailsWith(TrainerState::FromJson(j, kSource), StatusCode::kCorruption,
                        {kSource, "not a baton trainer state"}));
  j["format"] = 5;  // not even a string
  EXPECT_TRUE(FailsWith(TrainerState::FromJson(j, kSource), StatusCode::kCorruption,
                        {kSource, "not a baton trainer state"}));
  j = FullState().ToJson();
  j["version"] = TrainerState::kVersion + 1;
  EXPECT_TRUE(
      FailsWith(TrainerState::FromJson(j, kSource), StatusCode::kUnimplemented,
                {kSource, "version " + std::to_string(TrainerState::kVersion + 1), "newer"}));
}

}  // namespace
}  // namespace baton
