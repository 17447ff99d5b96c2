// AdamW with decoupled weight decay, exactly as torch.optim.AdamW computes it in f32, over the
// flat LoRA parameter block: one loop, and the moments are one block each for checkpoints.
#pragma once

#include "tensor/backend.h"

namespace baton {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

class AdamW {
 public:
  // Moments live on `backend`'s device (null: the CPU), where Step runs.
  AdamW(int64_t num_params, const AdamWOptions& options, Backend* backend = nullptr);
  // One update of `params` (f32, flat, on the backend's device) with `grads` at rate `lr`.
  Status Step(Tensor& params, const Tensor& grads, double lr);

  int64_t step() const { return step_; }
  Tensor& exp_avg() { return exp_avg_; }
  Tensor& exp_avg_sq() { return exp_avg_sq_; }
  void set_step(int64_t step) { step_ = step; }
  const AdamWOptions& options() const { return options_; }

 private:
  AdamWOptions options_;
  std::unique_ptr<Backend> own_backend_;  // the CPU backend when none was given
  Backend* backend_;
  int64_t step_ = 0;
  Tensor exp_avg_;     // first moment, f32
  Tensor exp_avg_sq_;  // second moment, f32
};

}  // namespace baton
