#include "kernels/cuda/cuda_backend.h"

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cmath>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "kernels/cuda/kernels.h"

namespace baton {
namespace {

using cuda::Elem;

// cuBLASLt workspace: enough for split-K reductions of the shapes a transformer layer has.
constexpr size_t kGemmWorkspaceBytes = 32u << 20;

Elem ElemOf(DType t) { return t == DType::kBF16 ? Elem::kBF16 : Elem::kF32; }

cudaDataType_t CudaTypeOf(DType t) { return t == DType::kBF16 ? CUDA_R_16BF : CUDA_R_32F; }

// The largest power of two (up to 256) dividing a pointer: what cuBLASLt may assume of it.
uint32_t AlignmentOf(const void* p) {
  auto v = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 1 && v % a != 0) a /= 2;
  return a;
}

class CudaBackend : public Backend {
 public:
  ~CudaBackend() override {
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    for (auto& [key, plan] : plans_) DestroyPlan(plan);
    if (workspace_ != nullptr) cudaFree(workspace_);
    if (lt_ != nullptr) cublasLtDestroy(lt_);
    // The stream stays: a tensor that outlives the backend frees its memory on it.
  }

  Status Init(const CudaBackendOptions& options) {
    options_ = options;
    if (options.activations != DType::kBF16 && options.activations != DType::kF32) {
      return InvalidArgument("CUDA backend: activations must be bf16 or f32, not {}",
                             DTypeTorchName(options.activations));
    }
    int count = CudaDeviceCount();
    if (count == 0) {
      return FailedPrecondition("CUDA backend: no GPU is visible (cudaGetDeviceCount: {})",
                                cudaGetErrorString(cudaGetDeviceCount(&count)));
    }
    if (options.device < 0 || options.device >= count) {
      return InvalidArgument("CUDA backend: device {} does not exist ({} visible)", options.device,
                             count);
    }
    BATON_RETURN_IF_ERROR(Cuda(cudaSetDevice(options.device), "cudaSetDevice"));
    cudaDeviceProp prop{};
    BATON_RETURN_IF_ERROR(
        Cuda(cudaGetDeviceProperties(&prop, options.device), "device properties"));
    if (prop.major < 8) {
      return FailedPrecondition("CUDA backend: {} has compute capability {}.{}; bf16 needs 8.0+",
                                prop.name, prop.major, prop.minor);
    }
    gpu_name_ = prop.name;
    BATON_RETURN_IF_ERROR(
        Cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate"));
    BATON_RETURN_IF_ERROR(Cuda(cudaDeviceGetDefaultMemPool(&pool_, options.device), "mem pool"));
    uint64_t keep = UINT64_MAX;  // the pool keeps freed memory for the next step
    BATON_RETURN_IF_ERROR(
        Cuda(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &keep), "mem pool"));
    if (cublasLtCreate(&lt_) != CUBLAS_STATUS_SUCCESS) {
      return Internal("CUDA backend: cublasLtCreate failed");
    }
    BATON_RETURN_IF_ERROR(Cuda(cudaMalloc(&workspace_, kGemmWorkspaceBytes), "GEMM workspace"));
    return Status::Ok();
  }

  std::string name() const override {
    return fmt::format("cuda({}, {})", gpu_name_, DTypeTorchName(options_.activations));
  }
  Device device() const override { return Device::kCuda; }
  DType activation_dtype() const override { return options_.activations; }
  DType weight_dtype() const override { return options_.activations; }
  bool SupportsDType(DType dtype) const override {
    return dtype == DType::kF32 || dtype == DType::kBF16;
  }
  // 1024 rows of a 152k vocabulary: 311 MB of bf16 logits, written over by their gradient.
  int64_t logit_rows_per_chunk() const override { return 1024; }

  Tensor NewTensor(Shape shape, DType dtype) override {
    auto storage = std::make_shared<Storage>();
    storage->bytes = static_cast<size_t>(NumElements(shape)) * DTypeSize(dtype);
    storage->device = Device::kCuda;
    void* p = nullptr;
    // Rounded to 256 bytes so every tensor starts where cuBLASLt and vector loads want it.
    size_t alloc = std::max<size_t>(256, (storage->bytes + 255) / 256 * 256);
    Record(cudaMallocAsync(&p, alloc, stream_), "cudaMallocAsync");
    storage->data = p;
    cudaStream_t stream = stream_;
    storage->release = [stream](void* q) {
      if (q != nullptr) cudaFreeAsync(q, stream);
    };
    return Tensor::FromStorage(std::move(storage), std::move(shape), dtype);
  }

  Status Synchronize() override {
    Record(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    return DeviceError();
  }

  std::optional<int64_t> PeakDeviceBytes() override {
    uint64_t used = 0;
    cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrUsedMemHigh, &used);
    return static_cast<int64_t>(used + kGemmWorkspaceBytes);
  }
  void ResetPeakDeviceBytes() override {
    uint64_t zero = 0;
    cudaStreamSynchronize(stream_);
    cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrUsedMemHigh, &zero);
  }

 protected:
  Status DeviceError() const override {
    std::lock_guard<std::mutex> lock(error_mu_);
    return error_;
  }

  void DoCopy(const Tensor& src, Tensor& dst) override {
    Record(cudaMemcpyAsync(dst.raw(), src.raw(), src.nbytes(), cudaMemcpyDefault, stream_),
           "cudaMemcpyAsync");
    // The CPU may read a host destination as soon as Copy returns.
    if (dst.device() == Device::kCpu) Record(cudaStreamSynchronize(stream_), "copy to host");
  }

  void DoZero(Tensor& t) override {
    Record(cudaMemsetAsync(t.raw(), 0, t.nbytes(), stream_), "cudaMemsetAsync");
  }

  void DoGemm(bool ta, bool tb, const Tensor& a, const Tensor& b, Tensor& c, float alpha,
              float beta) override {
    int64_t m = c.dim(0), n = c.dim(1), k = ta ? a.dim(0) : a.dim(1);
    if (m == 0 || n == 0) return;
    if (k == 0) {  // the contract is c = beta * c
      if (beta == 0.0f) {
        DoZero(c);
      } else if (c.dtype() == DType::kF32) {
        Record(cuda::Scale(c.f32(), beta, c.numel(), stream_), "Scale");
      } else {
        Fail("Gemm with K = 0 and beta != 0 on bf16 is not supported");
      }
      return;
    }
    // Mixed inputs (bf16 activations with f32 LoRA matrices): the f32 side is rounded to bf16.
    Tensor a16 = a, b16 = b;
    if (a.dtype() != b.dtype()) {
      Tensor& f32_side = a.dtype() == DType::kF32 ? a16 : b16;
      Tensor converted = NewTensor(f32_side.shape(), DType::kBF16);
      Record(cuda::Convert(Elem::kF32, f32_side.raw(), Elem::kBF16, converted.raw(),
                           f32_side.numel(), stream_),
             "Convert");
      f32_side = converted;
    }
    if (a16.dtype() == DType::kF32 && c.dtype() != DType::kF32) {
      Fail("Gemm: f32 inputs with a bf16 output are not supported");
      return;
    }
    // Row-major C[m,n] = op(A) op(B) is column-major C^T[n,m] = op(B)^T op(A)^T: cuBLASLt's
    // "A" is our b, its "B" our a, and no data moves.
    PlanKey key{ta,
                tb,
                m,
                n,
                k,
                a16.dtype(),
                c.dtype(),
                AlignmentOf(b16.raw()),
                AlignmentOf(a16.raw()),
                AlignmentOf(c.raw())};
    Plan* plan = GetPlan(key);
    if (plan == nullptr) return;
    cublasStatus_t st =
        cublasLtMatmul(lt_, plan->desc, &alpha, b16.raw(), plan->a_layout, a16.raw(),
                       plan->b_layout, &beta, c.raw(), plan->c_layout, c.raw(), plan->c_layout,
                       &plan->algo, workspace_, kGemmWorkspaceBytes, stream_);
    if (st != CUBLAS_STATUS_SUCCESS) {
      Fail(fmt::format("cublasLtMatmul failed ({}) for [{}x{}]x[{}] ta={} tb={}",
                       static_cast<int>(st), m, k, n, ta, tb));
    }
  }

  void DoAddBias(Tensor& x, const Tensor& bias) override {
    Record(cuda::AddBias(ElemOf(x.dtype()), x.raw(), bias.f32(), x.dim(0), x.dim(1), stream_),
           "AddBias");
  }

  void DoRmsNorm(const Tensor& x, const Tensor& w, float eps, Tensor& y) override {
    Record(cuda::RmsNorm(ElemOf(x.dtype()), x.raw(), w.f32(), eps, y.raw(), x.dim(0), x.dim(1),
                         stream_),
           "RmsNorm");
  }

  void DoRope(Tensor& x, const Tensor& positions, const Tensor& inv_freq, float scale,
              float sign) override {
    Record(cuda::Rope(ElemOf(x.dtype()), x.raw(), positions.data<int32_t>(), inv_freq.f32(), scale,
                      sign, x.dim(0) * x.dim(1), x.dim(2), x.dim(3), stream_),
           "Rope");
  }

  void DoAttention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& q_positions,
                   const Tensor& key_valid, Tensor& out) override {
    Record(
        cuda::AttentionForward(ElemOf(q.dtype()), q.raw(), k.raw(), v.raw(),
                               q_positions.data<int32_t>(), key_valid.data<uint8_t>(), out.raw(),
                               q.dim(0), q.dim(1), k.dim(1), q.dim(2), k.dim(2), q.dim(3), stream_),
        "AttentionForward");
  }

  void DoAttentionBackward(const Tensor& q, const Tensor& k, const Tensor& v,
                           const Tensor& q_positions, const Tensor& key_valid, const Tensor& dout,
                           Tensor& dq, Tensor& dk, Tensor& dv) override {
    size_t bytes = cuda::AttentionBackwardWorkspaceBytes(q.dim(0), q.dim(1), q.dim(2));
    Tensor workspace = NewTensor({static_cast<int64_t>(bytes)}, DType::kU8);
    Record(cuda::AttentionBackward(
               ElemOf(q.dtype()), q.raw(), k.raw(), v.raw(), q_positions.data<int32_t>(),
               key_valid.data<uint8_t>(), dout.raw(), dq.raw(), dk.raw(), dv.raw(), workspace.raw(),
               q.dim(0), q.dim(1), k.dim(1), q.dim(2), k.dim(2), q.dim(3), stream_),
           "AttentionBackward");
  }

  void DoSiluMul(const Tensor& gate, const Tensor& up, Tensor& out) override {
    Record(
        cuda::SiluMul(ElemOf(gate.dtype()), gate.raw(), up.raw(), out.raw(), gate.numel(), stream_),
        "SiluMul");
  }

  void DoAdd(Tensor& x, const Tensor& y) override {
    Record(cuda::Add(ElemOf(x.dtype()), x.raw(), y.raw(), x.numel(), stream_), "Add");
  }

  void DoEmbedding(const Tensor& table, const Tensor& ids, Tensor& out) override {
    Record(cuda::Embedding(ElemOf(table.dtype()), table.raw(), ids.data<int32_t>(),
                           ElemOf(out.dtype()), out.raw(), ids.numel(), table.dim(1), stream_),
           "Embedding");
  }

  void DoDropout(const Tensor& x, float p, uint64_t seed, Tensor& out) override {
    Record(cuda::Dropout(ElemOf(x.dtype()), x.raw(), p, seed, out.raw(), x.numel(), stream_),
           "Dropout");
  }

  void DoRmsNormBackward(const Tensor& x, const Tensor& w, float eps, const Tensor& dy,
                         Tensor& dx) override {
    Record(cuda::RmsNormBackward(ElemOf(x.dtype()), x.raw(), w.f32(), eps, dy.raw(), dx.raw(),
                                 x.dim(0), x.dim(1), stream_),
           "RmsNormBackward");
  }

  void DoSiluMulBackward(const Tensor& gate, const Tensor& up, const Tensor& dout, Tensor& dgate,
                         Tensor& dup) override {
    Record(cuda::SiluMulBackward(ElemOf(gate.dtype()), gate.raw(), up.raw(), dout.raw(),
                                 dgate.raw(), dup.raw(), gate.numel(), stream_),
           "SiluMulBackward");
  }

  double DoCrossEntropy(const Tensor& logits, const Tensor& labels, float grad_scale,
                        Tensor& dlogits, int64_t* correct) override {
    int64_t n = logits.dim(0);
    Tensor row_loss = NewTensor({n}, DType::kI64);  // doubles: 8 bytes each
    Tensor row_hit = correct ? NewTensor({n}, DType::kI32) : Tensor();
    Record(
        cuda::CrossEntropy(ElemOf(logits.dtype()), logits.raw(), labels.data<int32_t>(), grad_scale,
                           dlogits.raw(), row_loss.data<double>(),
                           correct ? row_hit.data<int32_t>() : nullptr, n, logits.dim(1), stream_),
        "CrossEntropy");
    std::vector<double> host(static_cast<size_t>(n));
    Record(cudaMemcpyAsync(host.data(), row_loss.raw(), n * sizeof(double), cudaMemcpyDeviceToHost,
                           stream_),
           "loss to host");
    std::vector<int32_t> hits(correct ? static_cast<size_t>(n) : 0);
    if (correct) {
      Record(cudaMemcpyAsync(hits.data(), row_hit.raw(), n * sizeof(int32_t),
                             cudaMemcpyDeviceToHost, stream_),
             "hits to host");
    }
    Record(cudaStreamSynchronize(stream_), "CrossEntropy");
    for (int32_t h : hits) *correct += h;
    double total = 0;  // rows in order, as the CPU sums them
    for (double l : host) total += l;
    return total;
  }

  double DoSumSquares(const Tensor& x) override {
    Tensor partials = NewTensor({cuda::SumSquaresPartials() + 1}, DType::kI64);
    double* p = partials.data<double>();
    Record(cuda::SumSquares(x.f32(), x.numel(), p, p + cuda::SumSquaresPartials(), stream_),
           "SumSquares");
    double out = 0;
    Record(cudaMemcpyAsync(&out, p + cuda::SumSquaresPartials(), sizeof(double),
                           cudaMemcpyDeviceToHost, stream_),
           "SumSquares to host");
    Record(cudaStreamSynchronize(stream_), "SumSquares");
    return out;
  }

  void DoScale(Tensor& x, float c) override {
    Record(cuda::Scale(x.f32(), c, x.numel(), stream_), "Scale");
  }

  void DoAdamWStep(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v,
                   const AdamWArgs& a) override {
    Record(cuda::AdamW(params.f32(), grads.f32(), m.f32(), v.f32(), params.numel(), a.beta1,
                       a.beta2, a.decay, a.step_size, a.bc2_sqrt, a.eps, stream_),
           "AdamW");
  }

 private:
  struct PlanKey {
    bool ta, tb;
    int64_t m, n, k;
    DType in, out;
    uint32_t align_a, align_b, align_c;  // cuBLASLt's A (our b), B (our a), C
    auto Tie() const { return std::tie(ta, tb, m, n, k, in, out, align_a, align_b, align_c); }
    bool operator<(const PlanKey& o) const { return Tie() < o.Tie(); }
  };
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a_layout = nullptr, b_layout = nullptr, c_layout = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };

  static void DestroyPlan(Plan& p) {
    if (p.desc) cublasLtMatmulDescDestroy(p.desc);
    if (p.a_layout) cublasLtMatrixLayoutDestroy(p.a_layout);
    if (p.b_layout) cublasLtMatrixLayoutDestroy(p.b_layout);
    if (p.c_layout) cublasLtMatrixLayoutDestroy(p.c_layout);
  }

  // The descriptors and the heuristic's first algorithm for one GEMM shape, made once.
  Plan* GetPlan(const PlanKey& key) {
    auto it = plans_.find(key);
    if (it != plans_.end()) return &it->second;
    Plan p;
    cudaDataType_t in = CudaTypeOf(key.in), out = CudaTypeOf(key.out);
    bool ok =
        cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F) == CUBLAS_STATUS_SUCCESS;
    cublasOperation_t op_a = key.tb ? CUBLAS_OP_T : CUBLAS_OP_N;  // cuBLASLt's A is our b
    cublasOperation_t op_b = key.ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    ok = ok && cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a,
                                              sizeof(op_a)) == CUBLAS_STATUS_SUCCESS;
    ok = ok && cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b,
                                              sizeof(op_b)) == CUBLAS_STATUS_SUCCESS;
    // Column-major views of the row-major buffers: rows = the row-major column count.
    uint64_t a_rows = key.tb ? key.k : key.n, a_cols = key.tb ? key.n : key.k;
    uint64_t b_rows = key.ta ? key.m : key.k, b_cols = key.ta ? key.k : key.m;
    ok = ok && cublasLtMatrixLayoutCreate(&p.a_layout, in, a_rows, a_cols, a_rows) ==
                   CUBLAS_STATUS_SUCCESS;
    ok = ok && cublasLtMatrixLayoutCreate(&p.b_layout, in, b_rows, b_cols, b_rows) ==
                   CUBLAS_STATUS_SUCCESS;
    ok = ok &&
         cublasLtMatrixLayoutCreate(&p.c_layout, out, key.n, key.m, key.n) == CUBLAS_STATUS_SUCCESS;
    cublasLtMatmulPreference_t pref = nullptr;
    ok = ok && cublasLtMatmulPreferenceCreate(&pref) == CUBLAS_STATUS_SUCCESS;
    uint64_t ws = kGemmWorkspaceBytes;
    // In-place split-K (parts summed into the output buffer, ordered by counters in the
    // workspace, not atomics) stays excluded as a precaution. cuBLASLt orders every scheme's
    // sum; a GEMM repeats bit for bit because its plan (algorithm included) is cached per shape.
    uint32_t schemes =
        CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE | CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE;
    ok = ok && cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                    &ws, sizeof(ws)) == CUBLAS_STATUS_SUCCESS;
    ok = ok &&
         cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                                              &schemes, sizeof(schemes)) == CUBLAS_STATUS_SUCCESS;
    ok = ok && cublasLtMatmulPreferenceSetAttribute(
                   pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &key.align_a,
                   sizeof(key.align_a)) == CUBLAS_STATUS_SUCCESS;
    ok = ok && cublasLtMatmulPreferenceSetAttribute(
                   pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &key.align_b,
                   sizeof(key.align_b)) == CUBLAS_STATUS_SUCCESS;
    ok = ok && cublasLtMatmulPreferenceSetAttribute(
                   pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &key.align_c,
                   sizeof(key.align_c)) == CUBLAS_STATUS_SUCCESS;
    ok = ok && cublasLtMatmulPreferenceSetAttribute(
                   pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &key.align_c,
                   sizeof(key.align_c)) == CUBLAS_STATUS_SUCCESS;
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    ok = ok &&
         cublasLtMatmulAlgoGetHeuristic(lt_, p.desc, p.a_layout, p.b_layout, p.c_layout, p.c_layout,
                                        pref, 1, &result, &found) == CUBLAS_STATUS_SUCCESS;
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (!ok || found == 0) {
      DestroyPlan(p);
      Fail(fmt::format("cuBLASLt has no algorithm for [{}x{}]x[{}] ({} -> {}, ta={}, tb={})", key.m,
                       key.k, key.n, DTypeName(key.in), DTypeName(key.out), key.ta, key.tb));
      return nullptr;
    }
    p.algo = result.algo;
    return &plans_.emplace(key, p).first->second;
  }

  void Record(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return;
    Fail(fmt::format("{}: {}", what, cudaGetErrorString(e)));
  }
  void Fail(const std::string& message) {
    std::lock_guard<std::mutex> lock(error_mu_);
    if (error_.ok()) error_ = Internal("CUDA backend: {}", message);
  }
  static Status Cuda(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return Status::Ok();
    return Internal("CUDA backend: {}: {}", what, cudaGetErrorString(e));
  }

  CudaBackendOptions options_;
  std::string gpu_name_;
  cudaStream_t stream_ = nullptr;
  cudaMemPool_t pool_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  void* workspace_ = nullptr;
  std::map<PlanKey, Plan> plans_;
  mutable std::mutex error_mu_;
  Status error_;
};

}  // namespace

int CudaDeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear it: "no driver" is an answer here, not an error
    return 0;
  }
  return n;
}

Result<std::unique_ptr<Backend>> MakeCudaBackend(const CudaBackendOptions& options) {
  auto backend = std::make_unique<CudaBackend>();
  BATON_RETURN_IF_ERROR(backend->Init(options));
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace baton
