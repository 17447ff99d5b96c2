// Row and elementwise kernels (kernels.h): f32 arithmetic on f32 or bf16 storage, in the CPU
// backend's order of operations (kernels/cpu/cpu_backend.cc) wherever that costs nothing.
// Row reductions are one block per row with a fixed-order tree (BlockReduce): no atomics.
#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>

#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/kernels.h"
#include "kernels/kernel_math.h"

namespace baton::cuda {
namespace {

using internal::Aligned;
using internal::BlockReduce;
using internal::DispatchElem;
using internal::FromF32;
using internal::GlobalThread;
using internal::GridFor;
using internal::GridThreads;
using internal::kMaxBlocks;
using internal::kReduceSlots;
using internal::kThreads;
using internal::LaunchElementwise;
using internal::LoadN;
using internal::LoadRowPack;
using internal::MaxOp;
using internal::StoreN;
using internal::StoreRowPack;
using internal::SumOp;
using internal::ToF32;
using internal::VecOf;
using kmath::AddRn;
using kmath::DivRn;
using kmath::MulRn;
using kmath::SubRn;

constexpr int kRowThreads = 256;  // RmsNorm: d ~8k is 4 packs of 8 bf16 per thread
constexpr int kCeThreads = 512;   // CrossEntropy: v ~152k is ~37 packs of 8 bf16 per thread

unsigned RowGrid(int64_t rows) { return static_cast<unsigned>(std::min(rows, kMaxBlocks)); }

// 1 / sqrt(mean(x^2) + eps) from the row's sum of squares, rounded as the CPU rounds it.
__device__ __forceinline__ float RmsInverse(double sum_squares, int64_t d, float eps) {
  const float mean = static_cast<float>(sum_squares / static_cast<double>(d));
  return DivRn(1.0f, kmath::SqrtRn(AddRn(mean, eps)));
}

// --- RmsNorm ----------------------------------------------------------------------------------
// One block per row; thread t owns the packs j = (t + k * blockDim) * kVec of the row.
template <typename T, bool kWide>
__global__ void __launch_bounds__(kRowThreads)
    RmsNormKernel(const T* x, const float* w, float eps, T* y, int64_t m, int64_t d) {
  constexpr int kVec = VecOf<T>();
  __shared__ double scratch[kReduceSlots];
  const int64_t first = static_cast<int64_t>(threadIdx.x) * kVec;
  const int64_t step = static_cast<int64_t>(blockDim.x) * kVec;
  for (int64_t row = blockIdx.x; row < m; row += gridDim.x) {
    const T* xr = x + row * d;
    T* yr = y + row * d;
    double ss = 0;
    for (int64_t j = first; j < d; j += step) {
      float xv[kVec];
      LoadRowPack<kWide>(xr, j, d, xv);  // elements past the end read 0: they add nothing
#pragma unroll
      for (int k = 0; k < kVec; ++k) ss += static_cast<double>(xv[k]) * xv[k];
    }
    ss = BlockReduce(ss, SumOp{}, 0.0, scratch);
    const float inv = RmsInverse(ss, d, eps);
    for (int64_t j = first; j < d; j += step) {
      float xv[kVec], wv[kVec];
      LoadRowPack<kWide>(xr, j, d, xv);
      LoadRowPack<kWide>(w, j, d, wv);
#pragma unroll
      for (int k = 0; k < kVec; ++k) xv[k] = MulRn(wv[k], MulRn(xv[k], inv));
      StoreRowPack<kWide>(yr, j, d, xv);
    }
  }
}

// dx = r * w * dy - x * r^3 * mean(x * w * dy); dx may alias dy (each thread reads a pack
// before it writes the same pack).
template <typename T, bool kWide>
__global__ void __launch_bounds__(kRowThreads)
    RmsNormBackwardKernel(const T* x, const float* w, float eps, const T* dy, T* dx, int64_t m,
                          int64_t d) {
  constexpr int kVec = VecOf<T>();
  __shared__ double scratch[kReduceSlots];
  const int64_t first = static_cast<int64_t>(threadIdx.x) * kVec;
  const int64_t step = static_cast<int64_t>(blockDim.x) * kVec;
  for (int64_t row = blockIdx.x; row < m; row += gridDim.x) {
    const T* xr = x + row * d;
    const T* gr = dy + row * d;
    T* out = dx + row * d;
    double ss = 0, dot = 0;
    for (int64_t j = first; j < d; j += step) {
      float xv[kVec], wv[kVec], gv[kVec];
      LoadRowPack<kWide>(xr, j, d, xv);
      LoadRowPack<kWide>(w, j, d, wv);
      LoadRowPack<kWide>(gr, j, d, gv);
#pragma unroll
      for (int k = 0; k < kVec; ++k) {
        ss += static_cast<double>(xv[k]) * xv[k];
        dot += static_cast<double>(xv[k]) * wv[k] * gv[k];
      }
    }
    ss = BlockReduce(ss, SumOp{}, 0.0, scratch);
    dot = BlockReduce(dot, SumOp{}, 0.0, scratch);
    const float r = RmsInverse(ss, d, eps);
    const float c = MulRn(MulRn(MulRn(static_cast<float>(dot / static_cast<double>(d)), r), r), r);
    for (int64_t j = first; j < d; j += step) {
      float xv[kVec], wv[kVec], gv[kVec];
      LoadRowPack<kWide>(xr, j, d, xv);
      LoadRowPack<kWide>(w, j, d, wv);
      LoadRowPack<kWide>(gr, j, d, gv);
#pragma unroll
      for (int k = 0; k < kVec; ++k) xv[k] = SubRn(MulRn(MulRn(r, wv[k]), gv[k]), MulRn(xv[k], c));
      StoreRowPack<kWide>(out, j, d, xv);
    }
  }
}

// Wide loads when every row starts on a pack boundary: the row length and each pointer.
template <typename T>
bool RowsWide(int64_t d, std::initializer_list<const void*> rows, const float* w) {
  constexpr int kVec = VecOf<T>();
  if (d % kVec != 0 || (w != nullptr && !Aligned<float, kVec>(w))) return false;
  for (const void* p : rows) {
    if (!Aligned<T, kVec>(p)) return false;
  }
  return true;
}

// --- Rope -------------------------------------------------------------------------------------
// Thread (row, i) computes the pair's cos/sin once and rotates (v[i], v[i + d/2]) of every head;
// neighbouring threads touch neighbouring i, so each head's loads coalesce.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    RopeKernel(T* x, const int32_t* positions, const float* inv_freq, float scale, float sign,
               int64_t rows, int64_t heads, int64_t d) {
  const int64_t half = d / 2;
  const int64_t total = rows * half;
  for (int64_t t = GlobalThread(); t < total; t += GridThreads()) {
    const int64_t row = t / half, i = t - row * half;
    // HF's rounding: an f32 product, then accurate f32 sin/cos (angles reach ~32k radians).
    const float angle = MulRn(static_cast<float>(positions[row]), inv_freq[i]);
    float s, c;
    sincosf(angle, &s, &c);
    const float cs = MulRn(c, scale);
    const float sn = MulRn(sign, MulRn(s, scale));
    T* base = x + row * heads * d;
    for (int64_t h = 0; h < heads; ++h) {
      T* v = base + h * d;
      const float x1 = ToF32(v[i]), x2 = ToF32(v[i + half]);
      v[i] = FromF32<T>(SubRn(MulRn(x1, cs), MulRn(x2, sn)));
      v[i + half] = FromF32<T>(AddRn(MulRn(x2, cs), MulRn(x1, sn)));
    }
  }
}

// --- elementwise ops (run by internal::ElementwiseKernel) -------------------------------------
template <typename T>
struct SiluMulOp {
  const T* gate;
  const T* up;
  T* out;
  template <int kN>
  __device__ void Apply(int64_t i) const {
    float g[kN], u[kN];
    LoadN<kN>(gate + i, g);
    LoadN<kN>(up + i, u);
#pragma unroll
    for (int k = 0; k < kN; ++k) g[k] = kmath::SiluMul(g[k], u[k]);
    StoreN<kN>(out + i, g);
  }
};

template <typename T>
struct SiluMulBackwardOp {
  const T* gate;
  const T* up;
  const T* dout;
  T* dgate;
  T* dup;
  template <int kN>
  __device__ void Apply(int64_t i) const {
    float g[kN], u[kN], go[kN];
    LoadN<kN>(gate + i, g);
    LoadN<kN>(up + i, u);
    LoadN<kN>(dout + i, go);
#pragma unroll
    for (int k = 0; k < kN; ++k) kmath::SiluMulGrad(g[k], u[k], go[k], &g[k], &u[k]);
    StoreN<kN>(dgate + i, g);
    StoreN<kN>(dup + i, u);
  }
};

template <typename T>
struct AddOp {
  T* x;
  const T* y;
  template <int kN>
  __device__ void Apply(int64_t i) const {
    float a[kN], b[kN];
    LoadN<kN>(x + i, a);
    LoadN<kN>(y + i, b);
#pragma unroll
    for (int k = 0; k < kN; ++k) a[k] = AddRn(a[k], b[k]);
    StoreN<kN>(x + i, a);
  }
};

// x[m, cols] += bias[cols]; a pack never straddles rows (cols % kN == 0 when kN > 1).
template <typename T>
struct AddBiasOp {
  T* x;
  const float* bias;
  int64_t cols;
  template <int kN>
  __device__ void Apply(int64_t i) const {
    float a[kN], b[kN];
    LoadN<kN>(x + i, a);
    LoadN<kN>(bias + i % cols, b);
#pragma unroll
    for (int k = 0; k < kN; ++k) a[k] = AddRn(a[k], b[k]);
    StoreN<kN>(x + i, a);
  }
};

// out[n, d] = table[ids[n], :]; a pack never straddles rows (d % kN == 0 when kN > 1).
template <typename TTable, typename TOut>
struct EmbeddingOp {
  const TTable* table;
  const int32_t* ids;
  TOut* out;
  int64_t d;
  template <int kN>
  __device__ void Apply(int64_t i) const {
    const int64_t row = i / d, col = i - row * d;
    float v[kN];
    LoadN<kN>(table + static_cast<int64_t>(ids[row]) * d + col, v);
    StoreN<kN>(out + i, v);
  }
};

template <typename T>
struct DropoutOp {
  const T* x;
  T* out;
  uint64_t base, threshold;
  float scale;
  template <int kN>
  __device__ void Apply(int64_t i) const {
    float v[kN];
    LoadN<kN>(x + i, v);
#pragma unroll
    for (int k = 0; k < kN; ++k) {
      const bool keep = kmath::DropoutKeep(base, static_cast<uint64_t>(i + k), threshold);
      v[k] = keep ? MulRn(v[k], scale) : 0.0f;
    }
    StoreN<kN>(out + i, v);
  }
};

template <typename TSrc, typename TDst>
struct ConvertOp {
  const TSrc* src;
  TDst* dst;
  template <int kN>
  __device__ void Apply(int64_t i) const {
    float v[kN];
    LoadN<kN>(src + i, v);
    StoreN<kN>(dst + i, v);
  }
};

template <typename T>
struct FillUniformOp {
  T* x;
  uint64_t base;
  float bound;
  template <int kN>
  __device__ void Apply(int64_t i) const {
    float v[kN];
#pragma unroll
    for (int k = 0; k < kN; ++k)
      v[k] = kmath::UniformSymmetric(base, static_cast<uint64_t>(i + k), bound);
    StoreN<kN>(x + i, v);
  }
};

// --- CrossEntropy -----------------------------------------------------------------------------
// One block per row, three passes over it: max, sum of exp (double), then dlogits; thread t owns
// the packs j = (t + k * blockDim) * kVec, as in RmsNorm.
template <typename T, bool kWide>
__global__ void __launch_bounds__(kCeThreads)
    CrossEntropyKernel(const T* logits, const int32_t* labels, float grad_scale, T* dlogits,
                       double* row_loss, int32_t* row_hit, int64_t n, int64_t v) {
  constexpr int kVec = VecOf<T>();
  __shared__ float max_scratch[kReduceSlots];
  __shared__ double sum_scratch[kReduceSlots];
  const int64_t first = static_cast<int64_t>(threadIdx.x) * kVec;
  const int64_t step = static_cast<int64_t>(blockDim.x) * kVec;
  for (int64_t row = blockIdx.x; row < n; row += gridDim.x) {
    const T* x = logits + row * v;
    T* g = dlogits + row * v;
    const int32_t label = labels[row];  // the same for the whole block
    if (label == -100) {  // kIgnoreLabel (tensor/backend.h); the kernels see no Baton headers
      const float zeros[kVec] = {};
      for (int64_t j = first; j < v; j += step) StoreRowPack<kWide>(g, j, v, zeros);
      if (threadIdx.x == 0) row_loss[row] = 0.0;
      if (threadIdx.x == 0 && row_hit != nullptr) row_hit[row] = 0;
      continue;
    }
    // Read before anyone writes the row (g may alias x): the reductions' barriers come between.
    const float target = ToF32(x[label]);
    float mx = -INFINITY;
    for (int64_t j = first; j < v; j += step) {
      float xv[kVec];
      const int valid = LoadRowPack<kWide>(x, j, v, xv);
#pragma unroll
      for (int k = 0; k < kVec; ++k) {
        if (k < valid) mx = fmaxf(mx, xv[k]);
      }
    }
    mx = BlockReduce(mx, MaxOp{}, -INFINITY, max_scratch);
    double sum = 0;
    float neg_first = -INFINITY;  // -(index) of the first maximum this thread saw
    for (int64_t j = first; j < v; j += step) {
      float xv[kVec];
      const int valid = LoadRowPack<kWide>(x, j, v, xv);
#pragma unroll
      for (int k = 0; k < kVec; ++k) {
        if (k < valid) {
          sum += static_cast<double>(kmath::ExpF(SubRn(xv[k], mx)));
          if (xv[k] == mx) neg_first = fmaxf(neg_first, -static_cast<float>(j + k));
        }
      }
    }
    sum = BlockReduce(sum, SumOp{}, 0.0, sum_scratch);
    if (row_hit != nullptr) {  // the same for the whole block; indices < 2^24 are exact floats
      neg_first = BlockReduce(neg_first, MaxOp{}, -INFINITY, max_scratch);
      if (threadIdx.x == 0) row_hit[row] = -neg_first == static_cast<float>(label) ? 1 : 0;
    }
    if (threadIdx.x == 0) {
      row_loss[row] = static_cast<double>(mx) + log(sum) - static_cast<double>(target);
    }
    // As the CPU: g = exp(x - max) * f32(grad_scale / sum), then g[label] -= grad_scale.
    const float scale = static_cast<float>(static_cast<double>(grad_scale) / sum);
    for (int64_t j = first; j < v; j += step) {
      float xv[kVec];
      LoadRowPack<kWide>(x, j, v, xv);
#pragma unroll
      for (int k = 0; k < kVec; ++k) {
        float e = MulRn(kmath::ExpF(SubRn(xv[k], mx)), scale);
        if (j + k == label) e = SubRn(e, grad_scale);
        xv[k] = e;
      }
      StoreRowPack<kWide>(g, j, v, xv);
    }
  }
}

}  // namespace

cudaError_t RmsNorm(Elem e, const void* x, const float* w, float eps, void* y, int64_t m, int64_t d,
                    cudaStream_t stream) {
  if (m < 0 || d < 0) return cudaErrorInvalidValue;
  if (m == 0 || d == 0) return cudaSuccess;
  return DispatchElem(e, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x);
    T* py = static_cast<T*>(y);
    if (RowsWide<T>(d, {x, y}, w)) {
      RmsNormKernel<T, true><<<RowGrid(m), kRowThreads, 0, stream>>>(px, w, eps, py, m, d);
    } else {
      RmsNormKernel<T, false><<<RowGrid(m), kRowThreads, 0, stream>>>(px, w, eps, py, m, d);
    }
    return cudaGetLastError();
  });
}

cudaError_t RmsNormBackward(Elem e, const void* x, const float* w, float eps, const void* dy,
                            void* dx, int64_t m, int64_t d, cudaStream_t stream) {
  if (m < 0 || d < 0) return cudaErrorInvalidValue;
  if (m == 0 || d == 0) return cudaSuccess;
  return DispatchElem(e, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x);
    const T* pdy = static_cast<const T*>(dy);
    T* pdx = static_cast<T*>(dx);
    if (RowsWide<T>(d, {x, dy, dx}, w)) {
      RmsNormBackwardKernel<T, true>
          <<<RowGrid(m), kRowThreads, 0, stream>>>(px, w, eps, pdy, pdx, m, d);
    } else {
      RmsNormBackwardKernel<T, false>
          <<<RowGrid(m), kRowThreads, 0, stream>>>(px, w, eps, pdy, pdx, m, d);
    }
    return cudaGetLastError();
  });
}

cudaError_t Rope(Elem e, void* x, const int32_t* positions, const float* inv_freq, float scale,
                 float sign, int64_t rows, int64_t heads, int64_t d, cudaStream_t stream) {
  if (rows < 0 || heads < 0 || d < 0) return cudaErrorInvalidValue;
  if (rows == 0 || heads == 0 || d / 2 == 0) return cudaSuccess;
  return DispatchElem(e, [&](auto tag) {
    using T = typename decltype(tag)::type;
    RopeKernel<T><<<GridFor(rows * (d / 2)), kThreads, 0, stream>>>(
        static_cast<T*>(x), positions, inv_freq, scale, sign, rows, heads, d);
    return cudaGetLastError();
  });
}

cudaError_t SiluMul(Elem e, const void* gate, const void* up, void* out, int64_t n,
                    cudaStream_t stream) {
  return DispatchElem(e, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kVec = VecOf<T>();
    SiluMulOp<T> op{static_cast<const T*>(gate), static_cast<const T*>(up), static_cast<T*>(out)};
    const bool vec = Aligned<T, kVec>(gate) && Aligned<T, kVec>(up) && Aligned<T, kVec>(out);
    return LaunchElementwise<kVec>(op, n, vec, stream);
  });
}

cudaError_t SiluMulBackward(Elem e, const void* gate, const void* up, const void* dout, void* dgate,
                            void* dup, int64_t n, cudaStream_t stream) {
  return DispatchElem(e, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kVec = VecOf<T>();
    SiluMulBackwardOp<T> op{static_cast<const T*>(gate), static_cast<const T*>(up),
                            static_cast<const T*>(dout), static_cast<T*>(dgate),
                            static_cast<T*>(dup)};
    const bool vec = Aligned<T, kVec>(gate) && Aligned<T, kVec>(up) && Aligned<T, kVec>(dout) &&
                     Aligned<T, kVec>(dgate) && Aligned<T, kVec>(dup);
    return LaunchElementwise<kVec>(op, n, vec, stream);
  });
}

cudaError_t Add(Elem e, void* x, const void* y, int64_t n, cudaStream_t stream) {
  return DispatchElem(e, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kVec = VecOf<T>();
    AddOp<T> op{static_cast<T*>(x), static_cast<const T*>(y)};
    return LaunchElementwise<kVec>(op, n, Aligned<T, kVec>(x) && Aligned<T, kVec>(y), stream);
  });
}

cudaError_t AddBias(Elem e, void* x, const float* bias, int64_t m, int64_t n, cudaStream_t stream) {
  if (m < 0 || n < 0) return cudaErrorInvalidValue;
  if (m == 0 || n == 0) return cudaSuccess;
  return DispatchElem(e, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kVec = VecOf<T>();
    AddBiasOp<T> op{static_cast<T*>(x), bias, n};
    const bool vec = n % kVec == 0 && Aligned<T, kVec>(x) && Aligned<float, kVec>(bias);
    return LaunchElementwise<kVec>(op, m * n, vec, stream);
  });
}

cudaError_t Embedding(Elem table_e, const void* table, const int32_t* ids, Elem out_e, void* out,
                      int64_t n, int64_t d, cudaStream_t stream) {
  if (n < 0 || d < 0) return cudaErrorInvalidValue;
  if (n == 0 || d == 0) return cudaSuccess;
  return DispatchElem(table_e, [&](auto table_tag) {
    using TTable = typename decltype(table_tag)::type;
    return DispatchElem(out_e, [&](auto out_tag) {
      using TOut = typename decltype(out_tag)::type;
      constexpr int kVec = std::min(VecOf<TTable>(), VecOf<TOut>());
      EmbeddingOp<TTable, TOut> op{static_cast<const TTable*>(table), ids, static_cast<TOut*>(out),
                                   d};
      const bool vec = d % kVec == 0 && Aligned<TTable, kVec>(table) && Aligned<TOut, kVec>(out);
      return LaunchElementwise<kVec>(op, n * d, vec, stream);
    });
  });
}

cudaError_t Dropout(Elem e, const void* x, float p, uint64_t seed, void* out, int64_t n,
                    cudaStream_t stream) {
  return DispatchElem(e, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kVec = VecOf<T>();
    // The CPU's scale and mask (cpu_backend.cc DoDropout).
    DropoutOp<T> op{static_cast<const T*>(x), static_cast<T*>(out), kmath::Mix64(seed),
                    kmath::DropoutThreshold(p), 1.0f / (1.0f - p)};
    return LaunchElementwise<kVec>(op, n, Aligned<T, kVec>(x) && Aligned<T, kVec>(out), stream);
  });
}

cudaError_t CrossEntropy(Elem e, const void* logits, const int32_t* labels, float grad_scale,
                         void* dlogits, double* row_loss, int32_t* row_hit, int64_t n, int64_t v,
                         cudaStream_t stream) {
  if (n < 0 || v < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  return DispatchElem(e, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(logits);
    T* pg = static_cast<T*>(dlogits);
    if (RowsWide<T>(v, {logits, dlogits}, nullptr)) {
      CrossEntropyKernel<T, true><<<RowGrid(n), kCeThreads, 0, stream>>>(px, labels, grad_scale, pg,
                                                                         row_loss, row_hit, n, v);
    } else {
      CrossEntropyKernel<T, false><<<RowGrid(n), kCeThreads, 0, stream>>>(
          px, labels, grad_scale, pg, row_loss, row_hit, n, v);
    }
    return cudaGetLastError();
  });
}

cudaError_t Convert(Elem src_e, const void* src, Elem dst_e, void* dst, int64_t n,
                    cudaStream_t stream) {
  return DispatchElem(src_e, [&](auto src_tag) {
    using TSrc = typename decltype(src_tag)::type;
    return DispatchElem(dst_e, [&](auto dst_tag) {
      using TDst = typename decltype(dst_tag)::type;
      constexpr int kVec = std::min(VecOf<TSrc>(), VecOf<TDst>());
      ConvertOp<TSrc, TDst> op{static_cast<const TSrc*>(src), static_cast<TDst*>(dst)};
      const bool vec = Aligned<TSrc, kVec>(src) && Aligned<TDst, kVec>(dst);
      return LaunchElementwise<kVec>(op, n, vec, stream);
    });
  });
}

cudaError_t FillUniform(Elem e, void* x, int64_t n, uint64_t seed, float bound,
                        cudaStream_t stream) {
  return DispatchElem(e, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kVec = VecOf<T>();
    FillUniformOp<T> op{static_cast<T*>(x), kmath::Mix64(seed), bound};
    return LaunchElementwise<kVec>(op, n, Aligned<T, kVec>(x), stream);
  });
}

}  // namespace baton::cuda
