#include "train/adamw.h"

#include <cmath>

#include "kernels/cpu/cpu_backend.h"

namespace baton {

AdamW::AdamW(int64_t num_params, const AdamWOptions& options, Backend* backend)
    : options_(options) {
  if (backend == nullptr) {
    CpuBackendOptions cpu;
    cpu.gemm = CpuGemm::kNaive;  // no GEMMs here; leaves the BLAS thread count alone
    own_backend_ = MakeCpuBackend(cpu);
    backend = own_backend_.get();
  }
  backend_ = backend;
  exp_avg_ = backend_->NewZeros({num_params}, DType::kF32);
  exp_avg_sq_ = backend_->NewZeros({num_params}, DType::kF32);
}

Status AdamW::Step(Tensor& params, const Tensor& grads, double lr) {
  ++step_;
  // The bias corrections in double, then every element in f32 as torch's single-tensor AdamW.
  const double bc1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step_));
  const double bc2 = 1.0 - std::pow(options_.beta2, static_cast<double>(step_));
  Backend::AdamWArgs a;
  a.beta1 = static_cast<float>(options_.beta1);
  a.beta2 = static_cast<float>(options_.beta2);
  a.decay = static_cast<float>(1.0 - lr * options_.weight_decay);
  a.step_size = static_cast<float>(lr / bc1);
  a.bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  a.eps = static_cast<float>(options_.eps);
  return backend_->AdamWStep(params, grads, exp_avg_, exp_avg_sq_, a);
}

}  // namespace baton
