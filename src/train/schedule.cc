#include "train/schedule.h"

#include <algorithm>
#include <cmath>

namespace baton {

Result<LrSchedule> ParseLrSchedule(const std::string& name) {
  if (name == "cosine") return LrSchedule::kCosine;
  if (name == "linear") return LrSchedule::kLinear;
  if (name == "constant") return LrSchedule::kConstant;
  if (name == "constant_with_warmup") return LrSchedule::kConstantWithWarmup;
  return InvalidArgument(
      "--lr_scheduler_type '{}' is not supported (cosine, linear, constant, "
      "constant_with_warmup)",
      name);
}

double LearningRateAt(LrSchedule schedule, double lr, int64_t step, int64_t warmup_steps,
                      int64_t max_steps) {
  if (schedule == LrSchedule::kConstant) return lr;  // transformers passes it no warmup
  if (step < warmup_steps) {
    return lr * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup_steps));
  }
  double progress = static_cast<double>(step - warmup_steps) /
                    static_cast<double>(std::max<int64_t>(1, max_steps - warmup_steps));
  switch (schedule) {
    case LrSchedule::kCosine:
      return lr * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
    case LrSchedule::kLinear:
      return lr * std::max(0.0, 1.0 - progress);
    case LrSchedule::kConstant:
    case LrSchedule::kConstantWithWarmup:
      return lr;
  }
  return lr;
}

int64_t WarmupSteps(double warmup_ratio, int64_t max_steps) {
  return static_cast<int64_t>(std::ceil(warmup_ratio * static_cast<double>(max_steps)));
}

}  // namespace baton
