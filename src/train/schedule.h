// Learning-rate schedules as transformers computes them: the rate used by optimizer step k
// (0-based) is lr * lambda(k); warmup is linear from 0 over `warmup_steps`. As in transformers'
// get_scheduler, "constant" ignores the warmup and "constant_with_warmup" applies it.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace baton {

enum class LrSchedule { kCosine, kLinear, kConstant, kConstantWithWarmup };
// "cosine", "linear", "constant", "constant_with_warmup".
Result<LrSchedule> ParseLrSchedule(const std::string& name);

double LearningRateAt(LrSchedule schedule, double lr, int64_t step, int64_t warmup_steps,
                      int64_t max_steps);
// transformers: ceil(warmup_ratio * max_steps).
int64_t WarmupSteps(double warmup_ratio, int64_t max_steps);

}  // namespace baton
