#include "train/adamw.h"

#include <cmath>

namespace baton {

AdamW::AdamW(int64_t num_params, const AdamWOptions& options)
    : options_(options),
      exp_avg_(Tensor::Zeros({num_params}, DType::kF32)),
      exp_avg_sq_(Tensor::Zeros({num_params}, DType::kF32)) {}

void AdamW::Step(Tensor& params, const Tensor& grads, double lr) {
  ++step_;
  // The same operations, in the same f32 order, as torch's single-tensor AdamW.
  const float b1 = static_cast<float>(options_.beta1), b2 = static_cast<float>(options_.beta2);
  const float decay = static_cast<float>(1.0 - lr * options_.weight_decay);
  const double bc1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step_));
  const double bc2 = 1.0 - std::pow(options_.beta2, static_cast<double>(step_));
  const float step_size = static_cast<float>(lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float eps = static_cast<float>(options_.eps);
  float* p = params.f32();
  const float* g = grads.f32();
  float* m = exp_avg_.f32();
  float* v = exp_avg_sq_.f32();
  for (int64_t i = 0; i < params.numel(); ++i) {
    p[i] *= decay;
    m[i] += (g[i] - m[i]) * (1.0f - b1);
    v[i] = v[i] * b2 + (1.0f - b2) * g[i] * g[i];
    float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
    p[i] -= step_size * (m[i] / denom);
  }
}

}  // namespace baton
