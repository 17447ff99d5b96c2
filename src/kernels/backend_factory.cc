#include "kernels/backend_factory.h"

#include "kernels/cpu/cpu_backend.h"
#ifdef BATON_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace baton {

bool BuiltWithCuda() {
#ifdef BATON_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

int VisibleGpuCount() {
#ifdef BATON_HAVE_CUDA
  return CudaDeviceCount();
#else
  return 0;
#endif
}

Result<std::unique_ptr<Backend>> MakeBackend(std::string_view device, DType dtype) {
  if (device != "auto" && device != "cpu" && device != "cuda") {
    return InvalidArgument("device '{}': expected auto, cpu or cuda", device);
  }
  if (dtype != DType::kF32 && dtype != DType::kBF16) {
    return InvalidArgument("dtype {}: expected float32 or bfloat16", DTypeTorchName(dtype));
  }
  bool cuda = device == "cuda" || (device == "auto" && VisibleGpuCount() > 0);
  if (!cuda) {
    if (dtype != DType::kF32) {
      return InvalidArgument(
          "bfloat16 computes on the GPU only; {} (use --torch_dtype float32 on the CPU)",
          !BuiltWithCuda() ? "this baton was built without CUDA" : "no GPU is visible here");
    }
    return MakeCpuBackend(CpuBackendOptionsFromEnv());
  }
#ifdef BATON_HAVE_CUDA
  CudaBackendOptions options;
  options.activations = dtype;
  return MakeCudaBackend(options);
#else
  return FailedPrecondition(
      "--device cuda: this baton was built without CUDA (rebuild where nvcc is installed, or "
      "use --device cpu)");
#endif
}

Result<std::unique_ptr<Backend>> MakeBackend(std::string_view device,
                                             std::string_view torch_dtype) {
  BATON_ASSIGN_OR_RETURN(DType dtype, DTypeFromTorchName(torch_dtype));
  return MakeBackend(device, dtype);
}

}  // namespace baton
