// TrainArgs::Validate: every number of `baton train` (and a job's train section) is range-checked
// before anything is sized by it (issue 15: `--learning_rate inf` trained to nan and was saved).
#include "train/train_args.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace baton {
namespace {

TrainArgs Good() {
  TrainArgs a;
  a.model = "m";
  a.dataset = {"d.jsonl"};
  return a;
}

std::string Error(const TrainArgs& a) {
  Status s = a.Validate();
  EXPECT_FALSE(s.ok());
  return s.message();
}

TEST(TrainArgsValidate, EveryNumberIsFinite) {
  ASSERT_TRUE(Good().Validate().ok());
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Every floating-point field, through the one field list: none may be nan or inf.
  std::vector<std::string> names;
  Good().VisitFields([&](const char* key, auto& field) {
    if constexpr (std::is_floating_point_v<std::decay_t<decltype(field)>>) names.push_back(key);
  });
  ASSERT_GE(names.size(), 10u);
  for (const std::string& name : names) {
    for (double bad : {inf, -inf, nan}) {
      TrainArgs a = Good();
      a.max_steps = 10;  // num_train_epochs must fail on its own, not through max_steps
      a.VisitFields([&](const char* key, auto& field) {
        if constexpr (std::is_floating_point_v<std::decay_t<decltype(field)>>) {
          if (key == name) field = bad;
        }
      });
      EXPECT_NE(Error(a).find("--" + name + " must be a finite number"), std::string::npos)
          << name << " = " << bad << ": " << Error(a);
    }
  }
}

TEST(TrainArgsValidate, RangesNameTheFlag) {
  struct Case {
    void (*set)(TrainArgs&);
    const char* want;
  };
  const Case cases[] = {
      {[](TrainArgs& a) { a.lora_rank = -1; }, "--lora_rank must be in [1, 65536], got -1"},
      {[](TrainArgs& a) { a.lora_rank = 1000000000; }, "--lora_rank must be in [1, 65536]"},
      {[](TrainArgs& a) { a.max_steps = int64_t{1} << 62; },
       "--max_steps must be in [1, 1000000000]"},
      {[](TrainArgs& a) { a.num_train_epochs = 1e30; },
       "--num_train_epochs must be in [0, 1000000]"},
      {[](TrainArgs& a) { a.warmup_ratio = 2; }, "--warmup_ratio must be in [0, 1], got 2"},
      {[](TrainArgs& a) { a.lora_alpha = 0; }, "--lora_alpha must be positive, got 0"},
      {[](TrainArgs& a) { a.learning_rate = -1e-4; }, "--learning_rate must be positive"},
      {[](TrainArgs& a) { a.adam_beta1 = 1; }, "--adam_beta1 must be in [0, 1), got 1"},
      {[](TrainArgs& a) { a.adam_beta2 = -0.1; }, "--adam_beta2 must be in [0, 1)"},
      {[](TrainArgs& a) { a.adam_epsilon = 0; }, "--adam_epsilon must be positive"},
      {[](TrainArgs& a) { a.per_device_train_batch_size = 1 << 30; },
       "--per_device_train_batch_size must be in [1, 1048576]"},
      {[](TrainArgs& a) { a.gradient_accumulation_steps = -2; },
       "--gradient_accumulation_steps must be in [1, 1048576], got -2"},
      {[](TrainArgs& a) { a.max_length = 0; }, "--max_length must be in [1, 16777216], got 0"},
      {[](TrainArgs& a) { a.save_total_limit = -1; }, "--save_total_limit must be >= 0"},
      {[](TrainArgs& a) { a.lora_dropout = 1; }, "--lora_dropout must be in [0, 1), got 1"},
  };
  for (const Case& c : cases) {
    TrainArgs a = Good();
    c.set(a);
    std::string err = Error(a);
    EXPECT_NE(err.find(c.want), std::string::npos) << err;
  }
  TrainArgs a = Good();
  a.gradient_accumulation_steps = 0;  // ms-swift's default: ceil(16 / batch)
  EXPECT_TRUE(a.Validate().ok());
}

TEST(TrainArgsValidate, TotalStepsNeverOverflow) {
  TrainArgs a = Good();
  a.num_train_epochs = 2.5;
  EXPECT_EQ(*a.TotalSteps(4), 10);
  a.num_train_epochs = 1e6;  // within its own bound, but 10^6 x 10^4 steps is not
  Result<int64_t> steps = a.TotalSteps(10000);
  ASSERT_FALSE(steps.ok());
  EXPECT_NE(steps.status().message().find("--num_train_epochs 1000000 x 10000 steps per epoch"),
            std::string::npos)
      << steps.status().message();
  a.max_steps = 7;
  EXPECT_EQ(*a.TotalSteps(10000), 7);
}

TEST(TrainArgsValidate, RefusesStringsThatAreNotUtf8NamingTheFlag) {
  // Every string is saved in each checkpoint's JSON; nlohmann's dump() throws on these.
  TrainArgs a = Good();
  ASSERT_TRUE(a.Validate().ok());
  a.system = "sys\xFE";
  EXPECT_EQ(a.Validate().message(), "--system: not valid UTF-8: byte 0xFE at offset 3");
  a = Good();
  a.model_author = {"巴顿团队", "Baton\xC0\x80"};
  EXPECT_EQ(a.Validate().message(), "--model_author: not valid UTF-8: byte 0xC0 at offset 5");
  a = Good();
  a.output_dir = "run\xFF";
  EXPECT_EQ(a.Validate().message(), "--output_dir: not valid UTF-8: byte 0xFF at offset 3");
}

}  // namespace
}  // namespace baton
