// The learning-rate schedules against values worked out by hand from transformers' lambdas
// (optimization.py), which ms-swift uses: with w warmup steps and T training steps,
//   warmup (k < w):        k / max(1, w)
//   cosine:                max(0, 0.5 * (1 + cos(pi * (k - w) / max(1, T - w))))
//   linear:                max(0, (T - k) / max(1, T - w))
//   constant_with_warmup:  1
//   constant:              1 at every step (get_scheduler gives it no warmup)
// and warmup_ratio r turns into w = ceil(T * r) (TrainingArguments.get_warmup_steps).
#include "train/schedule.h"

#include <gtest/gtest.h>

namespace baton {
namespace {

constexpr double kLr = 2e-4;

double Rate(LrSchedule s, int64_t step, int64_t warmup, int64_t max_steps) {
  return LearningRateAt(s, kLr, step, warmup, max_steps);
}

TEST(LrScheduleTest, ParsesTheTransformersNames) {
  EXPECT_EQ(*ParseLrSchedule("cosine"), LrSchedule::kCosine);
  EXPECT_EQ(*ParseLrSchedule("linear"), LrSchedule::kLinear);
  EXPECT_EQ(*ParseLrSchedule("constant"), LrSchedule::kConstant);
  EXPECT_EQ(*ParseLrSchedule("constant_with_warmup"), LrSchedule::kConstantWithWarmup);
  Result<LrSchedule> bad = ParseLrSchedule("polynomial");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("--lr_scheduler_type 'polynomial'"), std::string::npos)
      << bad.status().message();
}

TEST(LrScheduleTest, WarmupRisesLinearlyFromZero) {
  // w = 4, T = 10: steps 0..3 are warmup at 0, 1/4, 2/4, 3/4 of the rate.
  for (LrSchedule s : {LrSchedule::kCosine, LrSchedule::kLinear, LrSchedule::kConstantWithWarmup}) {
    EXPECT_EQ(Rate(s, 0, 4, 10), 0.0);
    EXPECT_DOUBLE_EQ(Rate(s, 1, 4, 10), kLr * 0.25);
    EXPECT_DOUBLE_EQ(Rate(s, 3, 4, 10), kLr * 0.75);
    // The first step after warmup is the full rate for every schedule: progress 0.
    EXPECT_DOUBLE_EQ(Rate(s, 4, 4, 10), kLr);
  }
}

TEST(LrScheduleTest, CosineDecaysToZeroAtMaxSteps) {
  // w = 3, T = 10: progress (k - 3) / 7.
  EXPECT_DOUBLE_EQ(Rate(LrSchedule::kCosine, 3, 3, 10), kLr);
  EXPECT_DOUBLE_EQ(Rate(LrSchedule::kCosine, 4, 3, 10), kLr * 0.9504844339512095);  // 1/7
  // Halfway through the decay the rate is half: w = 2, T = 10, k = 6 -> progress 4/8.
  EXPECT_DOUBLE_EQ(Rate(LrSchedule::kCosine, 6, 2, 10), kLr * 0.5);
  // The last step trained (k = T - 1) still has a small rate; k = T would be 0.
  EXPECT_DOUBLE_EQ(Rate(LrSchedule::kCosine, 9, 3, 10), kLr * 0.04951556604879048);  // 6/7
  EXPECT_NEAR(Rate(LrSchedule::kCosine, 10, 3, 10), 0.0, 1e-20);
  // Past the end the clamp keeps it at zero, never negative.
  EXPECT_GE(Rate(LrSchedule::kCosine, 12, 3, 10), 0.0);
}

TEST(LrScheduleTest, LinearDecaysToZeroAtMaxSteps) {
  // w = 3, T = 10: (10 - k) / 7.
  EXPECT_DOUBLE_EQ(Rate(LrSchedule::kLinear, 3, 3, 10), kLr);
  EXPECT_DOUBLE_EQ(Rate(LrSchedule::kLinear, 5, 3, 10), kLr * 5.0 / 7.0);
  EXPECT_DOUBLE_EQ(Rate(LrSchedule::kLinear, 9, 3, 10), kLr * 1.0 / 7.0);
  EXPECT_EQ(Rate(LrSchedule::kLinear, 10, 3, 10), 0.0);
  EXPECT_EQ(Rate(LrSchedule::kLinear, 12, 3, 10), 0.0);  // clamped, never negative
}

TEST(LrScheduleTest, ConstantIgnoresWarmupAndConstantWithWarmupDoesNot) {
  for (int64_t k : {0, 1, 3, 9}) {
    EXPECT_EQ(Rate(LrSchedule::kConstant, k, 4, 10), kLr) << k;
  }
  EXPECT_EQ(Rate(LrSchedule::kConstantWithWarmup, 0, 4, 10), 0.0);
  EXPECT_DOUBLE_EQ(Rate(LrSchedule::kConstantWithWarmup, 2, 4, 10), kLr * 0.5);
  EXPECT_EQ(Rate(LrSchedule::kConstantWithWarmup, 9, 4, 10), kLr);
}

TEST(LrScheduleTest, NoWarmupStartsAtTheFullRate) {
  EXPECT_DOUBLE_EQ(Rate(LrSchedule::kCosine, 0, 0, 8), kLr);
  EXPECT_DOUBLE_EQ(Rate(LrSchedule::kLinear, 0, 0, 8), kLr);
  EXPECT_EQ(Rate(LrSchedule::kConstantWithWarmup, 0, 0, 8), kLr);
  // k = 4 of T = 8: cosine 0.5, linear 4/8.
  EXPECT_DOUBLE_EQ(Rate(LrSchedule::kCosine, 4, 0, 8), kLr * 0.5);
  EXPECT_DOUBLE_EQ(Rate(LrSchedule::kLinear, 4, 0, 8), kLr * 0.5);
  EXPECT_DOUBLE_EQ(Rate(LrSchedule::kLinear, 7, 0, 8), kLr / 8.0);
}

TEST(LrScheduleTest, OneStepRuns) {
  // T = 1 without warmup: the only step has the full rate (progress 0).
  EXPECT_DOUBLE_EQ(Rate(LrSchedule::kCosine, 0, 0, 1), kLr);
  EXPECT_DOUBLE_EQ(Rate(LrSchedule::kLinear, 0, 0, 1), kLr);
  // Any warmup ratio > 0 rounds up to one warmup step, so transformers trains that step at 0.
  int64_t w = WarmupSteps(0.05, 1);
  EXPECT_EQ(w, 1);
  EXPECT_EQ(Rate(LrSchedule::kCosine, 0, w, 1), 0.0);
  EXPECT_EQ(Rate(LrSchedule::kLinear, 0, w, 1), 0.0);
  EXPECT_EQ(Rate(LrSchedule::kConstant, 0, w, 1), kLr);
}

TEST(LrScheduleTest, WarmupIsEveryStep) {
  // warmup_ratio 1: w = T, every trained step is warmup (the decay never starts).
  int64_t w = WarmupSteps(1.0, 5);
  EXPECT_EQ(w, 5);
  EXPECT_DOUBLE_EQ(Rate(LrSchedule::kCosine, 4, w, 5), kLr * 0.8);
  EXPECT_DOUBLE_EQ(Rate(LrSchedule::kLinear, 4, w, 5), kLr * 0.8);
}

TEST(LrScheduleTest, WarmupStepsRoundUpLikeTransformers) {
  EXPECT_EQ(WarmupSteps(0.0, 100), 0);
  EXPECT_EQ(WarmupSteps(0.05, 100), 5);
  EXPECT_EQ(WarmupSteps(0.03, 10), 1);  // 0.3 -> 1
  EXPECT_EQ(WarmupSteps(0.1, 30), 3);
  // 100 * 0.07 is 7.000000000000001 in double; Python's math.ceil gives 8 as well.
  EXPECT_EQ(WarmupSteps(0.07, 100), 8);
  EXPECT_EQ(WarmupSteps(1.0, 7), 7);
  EXPECT_EQ(WarmupSteps(0.5, 0), 0);
}

}  // namespace
}  // namespace baton
