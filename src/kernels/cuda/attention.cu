// Grouped-query causal attention, forward and backward (kernels.h), flash style: no [T, S]
// matrix ever reaches global memory. Two paths:
//  - plain: one warp per query row (or per key row in the dK/dV pass), f32 arithmetic, any head
//    size up to 512; f32 tensors and bf16 shapes the fast path does not take.
//  - tensor cores: bf16 with D in {16, 32, 64, 128} (the sizes WithHeadDim instantiates),
//    mma.sync.m16n8k16 (bf16 in, f32 accumulate), f32 softmax statistics; warps of 4 own 16 rows
//    of a tile each.
//    Forward: 64 query rows per block, 64-slot key tiles, online softmax, key tiles after the
//    tile's last position skipped. Backward, with no forward output to reuse: (1) per 64-query
//    tile, recompute the forward to get the row log-sum-exp and delta = rowsum(dO * O) (stored
//    in the workspace), then dQ = scale * sum_j P (dP - delta) K; (2) per 64-slot key tile and kv
//    head, dV = sum P^T dO and dK = scale * sum dS^T Q over the group's heads and 32-query steps
//    in a fixed order (split over two warp groups when the grid has no more blocks than the GPU
//    has SMs, summed in order; one warp group otherwise).
//    No atomics: every sum has one order, so results repeat bit for bit on one GPU.
// Tile bookkeeping, fragment layouts and softmax steps live in attention_tiles.h, whose host
// emulation (attention_tiles_test.cc) checks them against the CPU reference.
#include <cuda_bf16.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "kernels/cuda/attention_tiles.h"
#include "kernels/cuda/kernels.h"

namespace baton::cuda {
namespace {

using namespace attn;  // NOLINT: the tile constants and helpers are this file's vocabulary
using bf16 = __nv_bfloat16;

static_assert(kTileQ == kTileK, "forward and dQ kernels size Q and K tiles alike");
static_assert(kTileQB == kWarpSize, "the dK/dV kernel gives each lane one query of a step");
static_assert(kTileK % 16 == 0 && kTileQB % 16 == 0, "whole mma k-steps");

constexpr unsigned kFullMask = 0xffffffffu;

// ================================================================================================
// Plain kernels: one warp per row, lane j holds dimensions j, j + 32, ... (at most kPlainRegs).
// ================================================================================================
constexpr int kPlainRegs = 16;
constexpr int kPlainMaxD = kPlainRegs * kWarpSize;
constexpr int kPlainWarps = 4;

__device__ __forceinline__ float ToF(float x) { return x; }
__device__ __forceinline__ float ToF(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ void Put(float* p, float x) { *p = x; }
__device__ __forceinline__ void Put(bf16* p, float x) { *p = __float2bfloat16_rn(x); }

// Butterfly sum: every lane ends with the same bits (each step adds two equal-bit operands in
// either order).
__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}

template <typename E>
__device__ __forceinline__ void LoadRow(const E* row, int d, int lane, float (&x)[kPlainRegs]) {
#pragma unroll
  for (int j = 0; j < kPlainRegs; ++j) {
    int i = lane + j * kWarpSize;
    x[j] = i < d ? ToF(row[i]) : 0.0f;
  }
}

template <typename E>
__device__ __forceinline__ float RowDot(const float (&x)[kPlainRegs], const E* row, int d,
                                        int lane) {
  float part = 0.0f;
#pragma unroll
  for (int j = 0; j < kPlainRegs; ++j) {
    int i = lane + j * kWarpSize;
    if (i < d) part += x[j] * ToF(row[i]);
  }
  return WarpSum(part);
}

// Online softmax of one query row over slots [0, last] (natural-log units, as the CPU): the
// running max m, sum l and unnormalised output o.
template <typename E>
__device__ void PlainAttendRow(const float (&qv)[kPlainRegs], const E* k_b, const E* v_b,
                               const uint8_t* valid, int last, int64_t kv_stride, int d,
                               float scale, int lane, float& m, float& l, float (&o)[kPlainRegs]) {
  m = -INFINITY;
  l = 0.0f;
#pragma unroll
  for (int j = 0; j < kPlainRegs; ++j) o[j] = 0.0f;
  for (int s = 0; s <= last; ++s) {
    if (!valid[s]) continue;
    float x = RowDot(qv, k_b + s * kv_stride, d, lane) * scale;
    if (x > m) {  // warp-uniform: x and m have the same bits in every lane
      float c = m == -INFINITY ? 0.0f : expf(m - x);
      l *= c;
#pragma unroll
      for (int j = 0; j < kPlainRegs; ++j) o[j] *= c;
      m = x;
    }
    float p = expf(x - m);
    l += p;
    const E* vr = v_b + s * kv_stride;
#pragma unroll
    for (int j = 0; j < kPlainRegs; ++j) {
      int i = lane + j * kWarpSize;
      if (i < d) o[j] += p * ToF(vr[i]);
    }
  }
}

// The (b, t, h) query row of this warp, or ok = false past the last row.
struct PlainRow {
  int64_t row, bt;
  int b, t, h, kvh, lane;
  bool ok;
};
__device__ __forceinline__ PlainRow LocatePlainRow(int nb, int nt, int nh, int group) {
  PlainRow r;
  r.lane = threadIdx.x % kWarpSize;
  r.row = static_cast<int64_t>(blockIdx.x) * kPlainWarps + threadIdx.x / kWarpSize;
  r.ok = r.row < static_cast<int64_t>(nb) * nt * nh;
  r.h = static_cast<int>(r.row % nh);
  r.bt = r.row / nh;
  r.t = static_cast<int>(r.bt % nt);
  r.b = static_cast<int>(r.bt / nt);
  r.kvh = r.h / group;
  return r;
}

template <typename E>
__global__ void __launch_bounds__(kPlainWarps* kWarpSize)
    PlainForwardKernel(const E* q, const E* k, const E* v, const int32_t* q_pos,
                       const uint8_t* key_valid, E* out, int nb, int nt, int ns, int nh, int nkv,
                       int d, float scale) {
  const PlainRow r = LocatePlainRow(nb, nt, nh, nh / nkv);
  if (!r.ok) return;  // whole warps only
  const int64_t kv_stride = static_cast<int64_t>(nkv) * d;
  const E* k_b = k + (static_cast<int64_t>(r.b) * ns * nkv + r.kvh) * d;
  const E* v_b = v + (static_cast<int64_t>(r.b) * ns * nkv + r.kvh) * d;
  float qv[kPlainRegs], o[kPlainRegs], m, l;
  LoadRow(q + r.row * d, d, r.lane, qv);
  PlainAttendRow(qv, k_b, v_b, key_valid + static_cast<int64_t>(r.b) * ns,
                 LastSlot(q_pos[r.bt], ns), kv_stride, d, scale, r.lane, m, l, o);
  const float inv = InvSum(l);
#pragma unroll
  for (int j = 0; j < kPlainRegs; ++j) {
    int i = r.lane + j * kWarpSize;
    if (i < d) Put(out + r.row * d + i, o[j] * inv);
  }
}

// Backward part 1, per query row: lse (natural log; +inf when the row sees no key), delta =
// dO . O, and dq = scale * sum_s P (dP - delta) k_s.
template <typename E>
__global__ void __launch_bounds__(kPlainWarps* kWarpSize)
    PlainBackwardDqKernel(const E* q, const E* k, const E* v, const int32_t* q_pos,
                          const uint8_t* key_valid, const E* dout, E* dq, float* lse_ws,
                          float* delta_ws, int nb, int nt, int ns, int nh, int nkv, int d,
                          float scale) {
  const PlainRow r = LocatePlainRow(nb, nt, nh, nh / nkv);
  if (!r.ok) return;
  const int64_t kv_stride = static_cast<int64_t>(nkv) * d;
  const E* k_b = k + (static_cast<int64_t>(r.b) * ns * nkv + r.kvh) * d;
  const E* v_b = v + (static_cast<int64_t>(r.b) * ns * nkv + r.kvh) * d;
  const uint8_t* valid = key_valid + static_cast<int64_t>(r.b) * ns;
  const int last = LastSlot(q_pos[r.bt], ns);
  float qv[kPlainRegs], dov[kPlainRegs], o[kPlainRegs], m, l;
  LoadRow(q + r.row * d, d, r.lane, qv);
  LoadRow(dout + r.row * d, d, r.lane, dov);
  PlainAttendRow(qv, k_b, v_b, valid, last, kv_stride, d, scale, r.lane, m, l, o);
  const float inv = InvSum(l);
  float part = 0.0f;
#pragma unroll
  for (int j = 0; j < kPlainRegs; ++j) part += dov[j] * (o[j] * inv);
  const float delta = WarpSum(part);
  const float lse = l > 0.0f ? m + logf(l) : INFINITY;
  if (r.lane == 0) {
    int64_t idx = RowStatIndex(r.b, r.h, r.t, nh, nt);
    lse_ws[idx] = lse;
    delta_ws[idx] = delta;
  }
  float g[kPlainRegs];
#pragma unroll
  for (int j = 0; j < kPlainRegs; ++j) g[j] = 0.0f;
  if (l > 0.0f) {
    for (int s = 0; s <= last; ++s) {
      if (!valid[s]) continue;
      const E* kr = k_b + s * kv_stride;
      float p = expf(RowDot(qv, kr, d, r.lane) * scale - lse);
      float ds = p * (RowDot(dov, v_b + s * kv_stride, d, r.lane) - delta);
#pragma unroll
      for (int j = 0; j < kPlainRegs; ++j) {
        int i = r.lane + j * kWarpSize;
        if (i < d) g[j] += ds * ToF(kr[i]);
      }
    }
  }
#pragma unroll
  for (int j = 0; j < kPlainRegs; ++j) {
    int i = r.lane + j * kWarpSize;
    if (i < d) Put(dq + r.row * d + i, g[j] * scale);
  }
}

// Backward part 2, one warp per key row (b, s, kv head): dk, dv summed over the group's heads
// and the queries that see slot s, in order.
template <typename E>
__global__ void __launch_bounds__(kPlainWarps* kWarpSize)
    PlainBackwardDkvKernel(const E* q, const E* k, const E* v, const int32_t* q_pos,
                           const uint8_t* key_valid, const E* dout, const float* lse_ws,
                           const float* delta_ws, E* dk, E* dv, int nb, int nt, int ns, int nh,
                           int nkv, int d, float scale) {
  const int lane = threadIdx.x % kWarpSize;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kPlainWarps + threadIdx.x / kWarpSize;
  if (row >= static_cast<int64_t>(nb) * ns * nkv) return;
  const int kvh = static_cast<int>(row % nkv);
  const int s = static_cast<int>((row / nkv) % ns);
  const int b = static_cast<int>(row / nkv / ns);
  const int group = nh / nkv;
  float kv[kPlainRegs], vv[kPlainRegs], gk[kPlainRegs], gv[kPlainRegs];
  LoadRow(k + row * d, d, lane, kv);
  LoadRow(v + row * d, d, lane, vv);
#pragma unroll
  for (int j = 0; j < kPlainRegs; ++j) gk[j] = gv[j] = 0.0f;
  if (key_valid[static_cast<int64_t>(b) * ns + s]) {
    for (int gi = 0; gi < group; ++gi) {
      const int h = kvh * group + gi;
      for (int t = 0; t < nt; ++t) {
        if (s > LastSlot(q_pos[static_cast<int64_t>(b) * nt + t], ns)) continue;
        const int64_t idx = RowStatIndex(b, h, t, nh, nt);
        const float lse = lse_ws[idx];
        if (lse == INFINITY) continue;
        const int64_t qoff = ((static_cast<int64_t>(b) * nt + t) * nh + h) * d;
        float p = expf(RowDot(kv, q + qoff, d, lane) * scale - lse);
        float ds = p * (RowDot(vv, dout + qoff, d, lane) - delta_ws[idx]);
#pragma unroll
        for (int j = 0; j < kPlainRegs; ++j) {
          int i = lane + j * kWarpSize;
          if (i < d) {
            gv[j] += p * ToF(dout[qoff + i]);
            gk[j] += ds * ToF(q[qoff + i]);
          }
        }
      }
    }
  }
#pragma unroll
  for (int j = 0; j < kPlainRegs; ++j) {
    int i = lane + j * kWarpSize;
    if (i < d) {
      Put(dk + row * d + i, gk[j] * scale);
      Put(dv + row * d + i, gv[j]);
    }
  }
}

// ================================================================================================
// Tensor-core kernels (bf16). Layouts of every fragment: attention_tiles.h.
// ================================================================================================
__device__ __forceinline__ uint32_t SmemAddr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void CpAsync16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(SmemAddr(dst)), "l"(src)
               : "memory");
}
__device__ __forceinline__ void CpAsyncCommit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
__device__ __forceinline__ void CpAsyncWaitAll() {
  asm volatile("cp.async.wait_group 0;\n" ::: "memory");
}

// Two adjacent bf16 of shared memory as one register (the lower column in the low half).
__device__ __forceinline__ uint32_t LdS32(const bf16* p) {
  return *reinterpret_cast<const uint32_t*>(p);
}
__device__ __forceinline__ uint32_t PackBf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return static_cast<uint32_t>(__bfloat16_as_ushort(v.x)) |
         (static_cast<uint32_t>(__bfloat16_as_ushort(v.y)) << 16);
}

// c += a (16x16, row) * b (16x8, col); bf16 inputs, f32 accumulators.
__device__ __forceinline__ void Mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                    uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
      "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// A fragment of the 16x16 block at (row0, col0) of a row-major shared tile.
__device__ __forceinline__ void LoadA(uint32_t (&a)[4], const bf16* tile, int stride, int row0,
                                      int col0, int lane) {
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    a[r] = LdS32(tile + (row0 + ARow(lane, r)) * stride + col0 + ACol(lane, r, 0));
  }
}

// B fragment (k = 16 columns from col0, n = 8 rows from row0) of a row-major tile X[n][k]: the
// B of X^T, e.g. K for S = Q K^T.
__device__ __forceinline__ void LoadB(uint32_t& b0, uint32_t& b1, const bf16* tile, int stride,
                                      int row0, int col0, int lane) {
  const bf16* p = tile + (row0 + BCol(lane)) * stride + col0;
  b0 = LdS32(p + BRow(lane, 0, 0));
  b1 = LdS32(p + BRow(lane, 1, 0));
}

// B fragments of the 16x16 block at (row0 = k, col0 = n) of a row-major tile X[k][n] (e.g. V for
// O = P V): r[0], r[1] for columns col0..col0+7, r[2], r[3] for col0+8..col0+15. ldmatrix.trans;
// -DBATON_ATTN_NO_LDMATRIX builds the same registers from 16-bit loads (to rule it out).
__device__ __forceinline__ void LoadBTrans(uint32_t (&r)[4], const bf16* tile, int stride, int row0,
                                           int col0, int lane) {
#ifndef BATON_ATTN_NO_LDMATRIX
  const bf16* p = tile + (row0 + LdmRow(lane)) * stride + col0 + LdmCol(lane);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(SmemAddr(p))
               : "memory");
#else
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int n = col0 + 8 * (j >> 1) + BCol(lane);
    const int kr = row0 + BRow(lane, j & 1, 0);
    r[j] = static_cast<uint32_t>(__bfloat16_as_ushort(tile[kr * stride + n])) |
           (static_cast<uint32_t>(__bfloat16_as_ushort(tile[(kr + 1) * stride + n])) << 16);
  }
#endif
}

// The accumulators of tiles 2kk, 2kk+1 (probabilities or dS), rounded, as an A fragment.
template <int kNT>
__device__ __forceinline__ void AccToA(uint32_t (&a)[4], const float (&acc)[kNT][4], int kk) {
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const float* t = acc[AccTileForA(kk, r)];
    a[r] = PackBf16(t[AccElemForA(r, 0)], t[AccElemForA(r, 1)]);
  }
}

__device__ __forceinline__ float QuadMax(float v) {
  v = fmaxf(v, __shfl_xor_sync(kFullMask, v, 1));
  return fmaxf(v, __shfl_xor_sync(kFullMask, v, 2));
}
__device__ __forceinline__ float QuadSum(float v) {
  v += __shfl_xor_sync(kFullMask, v, 1);
  return v + __shfl_xor_sync(kFullMask, v, 2);
}

// Issues (cp.async) rows [0, kRows) of a [rows, kD] global tile (row r at src + r * stride) into
// a shared tile; rows r >= n, or with keep[r] == 0 when keep is given, are zero-filled, so
// padding slots and rows past the end hold zeros (never NaN from stale memory). Threads `tid` of
// `nthreads` share the work (default: the block's kThreads).
template <int kD, int kRows>
__device__ __forceinline__ void LoadTileAsync(bf16* dst, const bf16* src, int64_t stride, int n,
                                              const uint8_t* keep, int tid = -1,
                                              int nthreads = kThreads) {
  constexpr int kChunks = kD / 8;  // 16-byte pieces per row
  for (int c = tid < 0 ? static_cast<int>(threadIdx.x) : tid; c < kRows * kChunks; c += nthreads) {
    const int r = c / kChunks, ch = c % kChunks;
    bf16* d = dst + r * SmemRow(kD) + ch * 8;
    if (r < n && (keep == nullptr || keep[r] != 0)) {
      CpAsync16(d, src + r * stride + ch * 8);
    } else {
      *reinterpret_cast<uint4*>(d) = make_uint4(0, 0, 0, 0);
    }
  }
}

// key_valid of a key tile into shared flags (0 past the n slots left).
__device__ __forceinline__ void LoadFlags(uint8_t* dst, const uint8_t* valid, int n) {
  for (int r = threadIdx.x; r < kTileK; r += kThreads) dst[r] = r < n && valid[r] != 0 ? 1 : 0;
}

// A warp's 16 staged rows (shared, row stride SmemRow(kD)) to global rows row0.. of a tile;
// rows >= n are not written.
template <int kD>
__device__ __forceinline__ void StoreWarpRows(bf16* dst, int64_t stride, int row0,
                                              const bf16* stage, int n, int lane) {
  constexpr int kChunks = kD / 8;
  for (int c = lane; c < kWarpRows * kChunks; c += kWarpSize) {
    const int r = c / kChunks, ch = c % kChunks;
    if (r < n) {
      *reinterpret_cast<uint4*>(dst + (row0 + r) * stride + ch * 8) =
          *reinterpret_cast<const uint4*>(stage + r * SmemRow(kD) + ch * 8);
    }
  }
}

// Accumulators [kD/8][4] of a warp, times the row factors, rounded into the warp's 16 rows of a
// shared stage.
template <int kD>
__device__ __forceinline__ void StageAcc(bf16* stage, const float (&acc)[kD / 8][4], float f_lo,
                                         float f_hi, int lane) {
#pragma unroll
  for (int dt = 0; dt < kD / 8; ++dt) {
    const int col = dt * 8 + AccCol(lane, 0);
    *reinterpret_cast<uint32_t*>(stage + AccRow(lane, 0) * SmemRow(kD) + col) =
        PackBf16(acc[dt][0] * f_lo, acc[dt][1] * f_lo);
    *reinterpret_cast<uint32_t*>(stage + AccRow(lane, 2) * SmemRow(kD) + col) =
        PackBf16(acc[dt][2] * f_hi, acc[dt][3] * f_hi);
  }
}

// Largest position among a query tile's first `rows` rows, for every thread of the block.
__device__ __forceinline__ int TileMaxPos(const int32_t* pos, int rows, int* slot) {
  if (threadIdx.x < kWarpSize) {
    int m = INT_MIN;
    for (int r = threadIdx.x; r < rows; r += kWarpSize) m = max(m, pos[r]);
    m = __reduce_max_sync(kFullMask, m);
    if (threadIdx.x == 0) *slot = m;
  }
  __syncthreads();
  return *slot;
}

// Shared-memory bytes of each kernel for head size d.
constexpr size_t TileBytes(int rows, int d) {
  return static_cast<size_t>(rows) * SmemRow(d) * sizeof(uint16_t);
}
constexpr size_t ForwardSmemBytes(int d) { return 3 * TileBytes(kTileQ, d) + kTileK; }
constexpr size_t DqSmemBytes(int d) { return 4 * TileBytes(kTileQ, d) + 2 * kTileK; }
constexpr size_t DkvSmemBytes(int d, int slices) {
  return 2 * TileBytes(kTileKB, d) + slices * (4 * TileBytes(kTileQB, d) + 2 * 3 * kTileQB * 4);
}

// Where a query tile's block stands: warp, lane, its two rows, the rows' last visible slots.
struct QueryTile {
  int lane, warp, row_lo, row_hi, rows, last_lo, last_hi;
};
__device__ __forceinline__ QueryTile LocateQueryTile(const int32_t* pos, int t0, int nt, int ns) {
  QueryTile q;
  q.lane = threadIdx.x % kWarpSize;
  q.warp = threadIdx.x / kWarpSize;
  q.row_lo = q.warp * kWarpRows + AccRow(q.lane, 0);
  q.row_hi = q.warp * kWarpRows + AccRow(q.lane, 2);
  q.rows = min(nt - t0, kTileQ);
  q.last_lo = q.row_lo < q.rows ? LastSlot(pos[q.row_lo], ns) : -1;
  q.last_hi = q.row_hi < q.rows ? LastSlot(pos[q.row_hi], ns) : -1;
  return q;
}

// The forward pass of one query tile over key tiles [0, n_tiles). The caller has issued Q (Qs)
// and key tile 0 (Ks, flags) and committed. Pipeline per tile j: V_j loads while S = Q K_j^T
// and the softmax run, K_{j+1} while O += P V_j. Leaves this lane's unnormalised output rows o,
// their running max m and this lane's part of the sum l.
template <int kD>
__device__ __forceinline__ void ForwardTile(const bf16* Qs, bf16* Ks, bf16* Vs, uint8_t* flags,
                                            const bf16* k_g, const bf16* v_g,
                                            const uint8_t* valid_g, int64_t kv_stride, int ns,
                                            int n_tiles, const QueryTile& qt, float scale_log2,
                                            float (&o)[kD / 8][4], float& m_lo, float& m_hi,
                                            float& l_lo, float& l_hi) {
  constexpr int kRow = SmemRow(kD), kKd = kD / 16, kNT = kTileK / 8;
  const int lane = qt.lane, row0 = qt.warp * kWarpRows;
  CpAsyncWaitAll();
  __syncthreads();
  uint32_t qa[kKd][4];
#pragma unroll
  for (int kd = 0; kd < kKd; ++kd) LoadA(qa[kd], Qs, kRow, row0, kd * 16, lane);
#pragma unroll
  for (int dt = 0; dt < kD / 8; ++dt) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.0f;
  m_lo = m_hi = -INFINITY;
  l_lo = l_hi = 0.0f;
  for (int j = 0; j < n_tiles; ++j) {
    const int key0 = j * kTileK;
    if (j > 0) {
      CpAsyncWaitAll();  // K_j and its flags
      __syncthreads();   // ... visible to all; every warp is done with V_{j-1}
    }
    LoadTileAsync<kD, kTileK>(Vs, v_g + key0 * kv_stride, kv_stride, ns - key0, valid_g + key0);
    CpAsyncCommit();
    float s[kNT][4];
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
#pragma unroll
    for (int kd = 0; kd < kKd; ++kd) {
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt) {
        uint32_t b0, b1;
        LoadB(b0, b1, Ks, kRow, nt * 8, kd * 16, lane);
        Mma(s[nt], qa[kd], b0, b1);
      }
    }
    MaskScores<kNT>(s, lane, key0, qt.last_lo, qt.last_hi, flags, scale_log2);
    float mx_lo, mx_hi;
    RowMaxPartial<kNT>(s, mx_lo, mx_hi);
    const float f_lo = UpdateMax(m_lo, QuadMax(mx_lo));
    const float f_hi = UpdateMax(m_hi, QuadMax(mx_hi));
    float sum_lo = 0.0f, sum_hi = 0.0f;
    ExpRows<kNT>(s, m_lo, m_hi, sum_lo, sum_hi);
    l_lo = l_lo * f_lo + sum_lo;
    l_hi = l_hi * f_hi + sum_hi;
    ScaleRows<kD / 8>(o, f_lo, f_hi);
    CpAsyncWaitAll();  // V_j
    __syncthreads();   // ... visible to all; every warp is done with K_j and the flags
    if (j + 1 < n_tiles) {
      const int next = key0 + kTileK;
      LoadFlags(flags, valid_g + next, ns - next);
      LoadTileAsync<kD, kTileK>(Ks, k_g + next * kv_stride, kv_stride, ns - next, valid_g + next);
      CpAsyncCommit();
    }
#pragma unroll
    for (int kk = 0; kk < kTileK / 16; ++kk) {
      uint32_t a[4];
      AccToA<kNT>(a, s, kk);
#pragma unroll
      for (int dt2 = 0; dt2 < kD / 16; ++dt2) {
        uint32_t bv[4];
        LoadBTrans(bv, Vs, kRow, kk * 16, dt2 * 16, lane);
        Mma(o[2 * dt2], a, bv[0], bv[1]);
        Mma(o[2 * dt2 + 1], a, bv[2], bv[3]);
      }
    }
  }
}

// grid (H, B, ceil(T / 64)), the last query tiles (the most keys) first.
template <int kD>
__global__ void __launch_bounds__(kThreads)
    AttnForwardKernel(const bf16* __restrict__ q, const bf16* __restrict__ k,
                      const bf16* __restrict__ v, const int32_t* __restrict__ q_pos,
                      const uint8_t* __restrict__ key_valid, bf16* __restrict__ out, int nt, int ns,
                      int nh, int nkv, float scale_log2) {
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ int max_pos;
  constexpr int kRow = SmemRow(kD);
  bf16* Qs = reinterpret_cast<bf16*>(smem);
  bf16* Ks = Qs + kTileQ * kRow;
  bf16* Vs = Ks + kTileK * kRow;
  uint8_t* flags = reinterpret_cast<uint8_t*>(Vs + kTileK * kRow);

  const int h = blockIdx.x, b = blockIdx.y;
  const int t0 = (gridDim.z - 1 - blockIdx.z) * kTileQ;
  const int kvh = h / (nh / nkv);
  const int64_t q_stride = static_cast<int64_t>(nh) * kD;
  const int64_t kv_stride = static_cast<int64_t>(nkv) * kD;
  const int64_t q_off = ((static_cast<int64_t>(b) * nt + t0) * nh + h) * kD;
  const int64_t kv_off = (static_cast<int64_t>(b) * ns * nkv + kvh) * kD;
  const uint8_t* valid_g = key_valid + static_cast<int64_t>(b) * ns;
  const int32_t* pos_g = q_pos + static_cast<int64_t>(b) * nt + t0;
  const QueryTile qt = LocateQueryTile(pos_g, t0, nt, ns);
  const int n_tiles = KeyTilesToVisit(TileMaxPos(pos_g, qt.rows, &max_pos), ns, kTileK);

  LoadTileAsync<kD, kTileQ>(Qs, q + q_off, q_stride, qt.rows, nullptr);
  if (n_tiles > 0) {
    LoadFlags(flags, valid_g, ns);
    LoadTileAsync<kD, kTileK>(Ks, k + kv_off, kv_stride, ns, valid_g);
  }
  CpAsyncCommit();
  float o[kD / 8][4], m_lo, m_hi, l_lo, l_hi;
  ForwardTile<kD>(Qs, Ks, Vs, flags, k + kv_off, v + kv_off, valid_g, kv_stride, ns, n_tiles, qt,
                  scale_log2, o, m_lo, m_hi, l_lo, l_hi);
  // The warp's own 16 rows of Qs (only it ever read them) stage the output for 16-byte stores.
  bf16* stage = Qs + qt.warp * kWarpRows * kRow;
  StageAcc<kD>(stage, o, InvSum(QuadSum(l_lo)), InvSum(QuadSum(l_hi)), qt.lane);
  __syncwarp();
  StoreWarpRows<kD>(out + q_off, q_stride, qt.warp * kWarpRows, stage,
                    qt.rows - qt.warp * kWarpRows, qt.lane);
}

// Backward 1: grid (H, B, ceil(T / 64)), last query tiles first. Pass A recomputes the forward of
// the tile (lse, delta -> workspace); pass B accumulates dQ over the same key tiles,
// double-buffered: buffer 0 is (Ks, Vs), buffer 1 reuses (Qs, dOs) once Q and dO sit in registers.
template <int kD>
__global__ void __launch_bounds__(kThreads)
    AttnBackwardDqKernel(const bf16* __restrict__ q, const bf16* __restrict__ k,
                         const bf16* __restrict__ v, const int32_t* __restrict__ q_pos,
                         const uint8_t* __restrict__ key_valid, const bf16* __restrict__ dout,
                         bf16* __restrict__ dq, float* __restrict__ lse_ws,
                         float* __restrict__ delta_ws, int nt, int ns, int nh, int nkv,
                         float scale_log2, float scale) {
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ int max_pos;
  constexpr int kRow = SmemRow(kD), kKd = kD / 16, kNT = kTileK / 8;
  bf16* Qs = reinterpret_cast<bf16*>(smem);
  bf16* dOs = Qs + kTileQ * kRow;
  bf16* Ks = dOs + kTileQ * kRow;
  bf16* Vs = Ks + kTileK * kRow;
  uint8_t* flags = reinterpret_cast<uint8_t*>(Vs + kTileK * kRow);  // [2][kTileK]

  const int h = blockIdx.x, b = blockIdx.y;
  const int t0 = (gridDim.z - 1 - blockIdx.z) * kTileQ;
  const int kvh = h / (nh / nkv);
  const int64_t q_stride = static_cast<int64_t>(nh) * kD;
  const int64_t kv_stride = static_cast<int64_t>(nkv) * kD;
  const int64_t q_off = ((static_cast<int64_t>(b) * nt + t0) * nh + h) * kD;
  const int64_t kv_off = (static_cast<int64_t>(b) * ns * nkv + kvh) * kD;
  const bf16* k_g = k + kv_off;
  const bf16* v_g = v + kv_off;
  const uint8_t* valid_g = key_valid + static_cast<int64_t>(b) * ns;
  const int32_t* pos_g = q_pos + static_cast<int64_t>(b) * nt + t0;
  const QueryTile qt = LocateQueryTile(pos_g, t0, nt, ns);
  const int lane = qt.lane, row0 = qt.warp * kWarpRows;
  const int n_tiles = KeyTilesToVisit(TileMaxPos(pos_g, qt.rows, &max_pos), ns, kTileK);

  // --- pass A: the forward, then lse and delta = rowsum(dO * O) with O in f32 -----------------
  LoadTileAsync<kD, kTileQ>(Qs, q + q_off, q_stride, qt.rows, nullptr);
  LoadTileAsync<kD, kTileQ>(dOs, dout + q_off, q_stride, qt.rows, nullptr);
  if (n_tiles > 0) {
    LoadFlags(flags, valid_g, ns);
    LoadTileAsync<kD, kTileK>(Ks, k_g, kv_stride, ns, valid_g);
  }
  CpAsyncCommit();
  float o[kD / 8][4], m_lo, m_hi, l_lo, l_hi;
  ForwardTile<kD>(Qs, Ks, Vs, flags, k_g, v_g, valid_g, kv_stride, ns, n_tiles, qt, scale_log2, o,
                  m_lo, m_hi, l_lo, l_hi);
  l_lo = QuadSum(l_lo);
  l_hi = QuadSum(l_hi);
  float delta_lo = 0.0f, delta_hi = 0.0f;
#pragma unroll
  for (int dt = 0; dt < kD / 8; ++dt) {
    const bf16* g_lo = dOs + qt.row_lo * kRow + dt * 8 + AccCol(lane, 0);
    const bf16* g_hi = dOs + qt.row_hi * kRow + dt * 8 + AccCol(lane, 0);
    delta_lo += o[dt][0] * __bfloat162float(g_lo[0]) + o[dt][1] * __bfloat162float(g_lo[1]);
    delta_hi += o[dt][2] * __bfloat162float(g_hi[0]) + o[dt][3] * __bfloat162float(g_hi[1]);
  }
  delta_lo = QuadSum(delta_lo) * InvSum(l_lo);
  delta_hi = QuadSum(delta_hi) * InvSum(l_hi);
  const float lse_lo = RowLse(m_lo, l_lo), lse_hi = RowLse(m_hi, l_hi);
  if ((lane & 3) == 0) {
    if (qt.row_lo < qt.rows) {
      const int64_t i = RowStatIndex(b, h, t0 + qt.row_lo, nh, nt);
      lse_ws[i] = lse_lo;
      delta_ws[i] = delta_lo;
    }
    if (qt.row_hi < qt.rows) {
      const int64_t i = RowStatIndex(b, h, t0 + qt.row_hi, nh, nt);
      lse_ws[i] = lse_hi;
      delta_ws[i] = delta_hi;
    }
  }
  uint32_t qa[kKd][4], da[kKd][4];
#pragma unroll
  for (int kd = 0; kd < kKd; ++kd) {
    LoadA(qa[kd], Qs, kRow, row0, kd * 16, lane);
    LoadA(da[kd], dOs, kRow, row0, kd * 16, lane);
  }
  __syncthreads();  // every warp is done with Qs, dOs, Ks, Vs and the flags of pass A

  // --- pass B: dQ += dS K, dS = P (dP - delta), P = exp2(x - lse), dP = dO V^T ---------------
  if (n_tiles > 0) {
    LoadFlags(flags, valid_g, ns);
    LoadTileAsync<kD, kTileK>(Ks, k_g, kv_stride, ns, valid_g);
    LoadTileAsync<kD, kTileK>(Vs, v_g, kv_stride, ns, valid_g);
    CpAsyncCommit();
  }
  float acc[kD / 8][4];
#pragma unroll
  for (int dt = 0; dt < kD / 8; ++dt) acc[dt][0] = acc[dt][1] = acc[dt][2] = acc[dt][3] = 0.0f;
  for (int j = 0; j < n_tiles; ++j) {
    const int key0 = j * kTileK;
    CpAsyncWaitAll();  // tile j
    __syncthreads();   // ... visible to all; every warp is done with tile j - 1
    const bf16* kt = (j & 1) ? Qs : Ks;
    const bf16* vt = (j & 1) ? dOs : Vs;
    const uint8_t* ft = flags + (j & 1) * kTileK;
    if (j + 1 < n_tiles) {  // into the buffer tile j - 1 used
      const int next = key0 + kTileK;
      LoadFlags(flags + ((j + 1) & 1) * kTileK, valid_g + next, ns - next);
      LoadTileAsync<kD, kTileK>((j & 1) ? Ks : Qs, k_g + next * kv_stride, kv_stride, ns - next,
                                valid_g + next);
      LoadTileAsync<kD, kTileK>((j & 1) ? Vs : dOs, v_g + next * kv_stride, kv_stride, ns - next,
                                valid_g + next);
      CpAsyncCommit();
    }
    float s[kNT][4], dp[kNT][4];
#pragma unroll
    for (int nt8 = 0; nt8 < kNT; ++nt8) {
#pragma unroll
      for (int i = 0; i < 4; ++i) s[nt8][i] = dp[nt8][i] = 0.0f;
    }
#pragma unroll
    for (int kd = 0; kd < kKd; ++kd) {
#pragma unroll
      for (int nt8 = 0; nt8 < kNT; ++nt8) {
        uint32_t b0, b1;
        LoadB(b0, b1, kt, kRow, nt8 * 8, kd * 16, lane);
        Mma(s[nt8], qa[kd], b0, b1);
        LoadB(b0, b1, vt, kRow, nt8 * 8, kd * 16, lane);
        Mma(dp[nt8], da[kd], b0, b1);
      }
    }
    MaskScores<kNT>(s, lane, key0, qt.last_lo, qt.last_hi, ft, scale_log2);
    ProbRows<kNT>(s, lse_lo, lse_hi);
    DsRows<kNT>(s, dp, delta_lo, delta_hi);
#pragma unroll
    for (int kk = 0; kk < kTileK / 16; ++kk) {
      uint32_t a[4];
      AccToA<kNT>(a, dp, kk);
#pragma unroll
      for (int dt2 = 0; dt2 < kD / 16; ++dt2) {
        uint32_t bk[4];
        LoadBTrans(bk, kt, kRow, kk * 16, dt2 * 16, lane);
        Mma(acc[2 * dt2], a, bk[0], bk[1]);
        Mma(acc[2 * dt2 + 1], a, bk[2], bk[3]);
      }
    }
  }
  __syncthreads();  // Qs may hold the last key tile
  bf16* stage = Qs + row0 * kRow;
  StageAcc<kD>(stage, acc, scale, scale, lane);
  __syncwarp();
  StoreWarpRows<kD>(dq + q_off, q_stride, row0, stage, qt.rows - row0, lane);
}

// Backward 2: grid (Hkv, B, ceil(S / 64)), key tiles in order (the first ones see the most
// queries). Warp w of a slice owns key slots key0 + 16w .. + 15 and keeps their dK, dV in
// registers. The block walks the (head of the group, 32-query step) items in order, skipping
// steps whose largest position is before key0; with kSlices > 1, slice s takes the visited items
// s, s + kSlices, ... and the slices' sums are added in slice order at the end (more warps for
// small grids, same order every run). Each slice loads its next item while computing.
template <int kD, int kSlices>
__global__ void __launch_bounds__(kThreads* kSlices)
    AttnBackwardDkvKernel(const bf16* __restrict__ q, const bf16* __restrict__ k,
                          const bf16* __restrict__ v, const int32_t* __restrict__ q_pos,
                          const uint8_t* __restrict__ key_valid, const bf16* __restrict__ dout,
                          const float* __restrict__ lse_ws, const float* __restrict__ delta_ws,
                          bf16* __restrict__ dk, bf16* __restrict__ dv, int nt, int ns, int nh,
                          int nkv, float scale_log2, float scale) {
  extern __shared__ __align__(16) unsigned char smem[];
  constexpr int kRow = SmemRow(kD), kKd = kD / 16, kNQ = kTileQB / 8, kAcc = kD / 8 * 4;
  // K and V fragments stay in registers where they fit beside the dK, dV accumulators.
  constexpr bool kKvInRegs = kD <= 64;
  bf16* Ks = reinterpret_cast<bf16*>(smem);
  bf16* Vs = Ks + kTileKB * kRow;
  bf16* Qb = Vs + kTileKB * kRow;                 // [kSlices][2][kTileQB][kRow]
  bf16* dOb = Qb + kSlices * 2 * kTileQB * kRow;  // [kSlices][2][kTileQB][kRow]
  float* lse_s = reinterpret_cast<float*>(dOb + kSlices * 2 * kTileQB * kRow);  // [kSlices][2][32]
  float* delta_s = lse_s + kSlices * 2 * kTileQB;
  int* last_s = reinterpret_cast<int*>(delta_s + kSlices * 2 * kTileQB);
  // The slices' partial sums meet in the Q/dO buffers once those are done with.
  static_assert((kSlices - 1) * 2 * kAcc * kThreads * sizeof(float) <=
                    static_cast<size_t>(kSlices) * 4 * kTileQB * kRow * sizeof(bf16),
                "partial sums fit the Q/dO buffers");

  const int slice = threadIdx.x / kThreads, tid = threadIdx.x % kThreads;
  const int lane = tid % kWarpSize, warp = tid / kWarpSize;
  const int kvh = blockIdx.x, b = blockIdx.y, key0 = blockIdx.z * kTileKB;
  const int group = nh / nkv;
  const int nkeys = min(ns - key0, kTileKB);
  const int row0 = warp * kWarpRows;
  const int64_t q_stride = static_cast<int64_t>(nh) * kD;
  const int64_t kv_stride = static_cast<int64_t>(nkv) * kD;
  const int64_t kv_off = ((static_cast<int64_t>(b) * ns + key0) * nkv + kvh) * kD;
  const uint8_t* valid_g = key_valid + static_cast<int64_t>(b) * ns + key0;
  const int32_t* pos_g = q_pos + static_cast<int64_t>(b) * nt;
  const int key_lo = row0 + AccRow(lane, 0), key_hi = row0 + AccRow(lane, 2);
  const bool valid_lo = key_lo < nkeys && valid_g[key_lo] != 0;
  const bool valid_hi = key_hi < nkeys && valid_g[key_hi] != 0;
  const int all = static_cast<int>(threadIdx.x);
  const bool any_valid = __syncthreads_or(all < nkeys && valid_g[all] != 0);

  float gk[kD / 8][4], gv[kD / 8][4];
#pragma unroll
  for (int dt = 0; dt < kD / 8; ++dt) {
#pragma unroll
    for (int i = 0; i < 4; ++i) gk[dt][i] = gv[dt][i] = 0.0f;
  }
  if (any_valid) {  // block-uniform
    const int n_steps = (nt + kTileQB - 1) / kTileQB;
    const int n_items = group * n_steps;
    // First item >= it whose query step reaches this key tile (n_items if none); every warp
    // finds the same one.
    auto next_item = [&](int it) {
      for (; it < n_items; ++it) {
        const int t = (it % n_steps) * kTileQB + lane;
        const int mx = __reduce_max_sync(kFullMask, t < nt ? pos_g[t] : INT_MIN);
        if (QueryTileReaches(mx, key0)) return it;
      }
      return n_items;
    };
    // This slice's next item: kSlices visited items on.
    auto advance = [&](int it) {
      for (int i = 0; i < kSlices && it < n_items; ++i) it = next_item(it + 1);
      return it;
    };
    auto issue = [&](int it, int buf) {  // by the slice's threads
      const int h = kvh * group + it / n_steps, t0 = (it % n_steps) * kTileQB;
      const int rows = min(nt - t0, kTileQB);
      const int64_t off = ((static_cast<int64_t>(b) * nt + t0) * nh + h) * kD;
      const int at = slice * 2 + buf;
      LoadTileAsync<kD, kTileQB>(Qb + at * kTileQB * kRow, q + off, q_stride, rows, nullptr, tid,
                                 kThreads);
      LoadTileAsync<kD, kTileQB>(dOb + at * kTileQB * kRow, dout + off, q_stride, rows, nullptr,
                                 tid, kThreads);
      for (int r = tid; r < kTileQB; r += kThreads) {
        const bool in = r < rows;
        const int64_t i = in ? RowStatIndex(b, h, t0 + r, nh, nt) : 0;
        lse_s[at * kTileQB + r] = in ? lse_ws[i] : INFINITY;
        delta_s[at * kTileQB + r] = in ? delta_ws[i] : 0.0f;
        last_s[at * kTileQB + r] = in ? LastSlot(pos_g[t0 + r], ns) : -1;
      }
    };
    int it = next_item(0);
    for (int i = 0; i < slice && it < n_items; ++i) it = next_item(it + 1);
    LoadTileAsync<kD, kTileKB>(Ks, k + kv_off, kv_stride, nkeys, valid_g, all, kSlices * kThreads);
    LoadTileAsync<kD, kTileKB>(Vs, v + kv_off, kv_stride, nkeys, valid_g, all, kSlices * kThreads);
    if (it < n_items) issue(it, 0);
    CpAsyncCommit();
    CpAsyncWaitAll();
    bool more = __syncthreads_or(it < n_items);
    uint32_t ka[kKvInRegs ? kKd : 1][4], va[kKvInRegs ? kKd : 1][4];
    if constexpr (kKvInRegs) {
#pragma unroll
      for (int kd = 0; kd < kKd; ++kd) {
        LoadA(ka[kd], Ks, kRow, row0, kd * 16, lane);
        LoadA(va[kd], Vs, kRow, row0, kd * 16, lane);
      }
    }
    int buf = 0;
    while (more) {                       // rounds: every slice with an item left does one
      const bool active = it < n_items;  // slice-uniform
      const int next = active ? advance(it) : n_items;
      if (next < n_items) {  // into the buffer this slice's previous item used
        issue(next, buf ^ 1);
        CpAsyncCommit();
      }
      if (active) {
        const int at = slice * 2 + buf;
        const bf16* Qt = Qb + at * kTileQB * kRow;
        const bf16* dOt = dOb + at * kTileQB * kRow;
        float st[kNQ][4], dpt[kNQ][4];  // rows: the warp's 16 keys; columns: the step's queries
#pragma unroll
        for (int n8 = 0; n8 < kNQ; ++n8) {
#pragma unroll
          for (int i = 0; i < 4; ++i) st[n8][i] = dpt[n8][i] = 0.0f;
        }
#pragma unroll
        for (int kd = 0; kd < kKd; ++kd) {
          uint32_t a_k[4], a_v[4];
          if constexpr (kKvInRegs) {
#pragma unroll
            for (int r = 0; r < 4; ++r) {
              a_k[r] = ka[kd][r];
              a_v[r] = va[kd][r];
            }
          } else {
            LoadA(a_k, Ks, kRow, row0, kd * 16, lane);
            LoadA(a_v, Vs, kRow, row0, kd * 16, lane);
          }
#pragma unroll
          for (int n8 = 0; n8 < kNQ; ++n8) {
            uint32_t b0, b1;
            LoadB(b0, b1, Qt, kRow, n8 * 8, kd * 16, lane);
            Mma(st[n8], a_k, b0, b1);  // S^T = K Q^T
            LoadB(b0, b1, dOt, kRow, n8 * 8, kd * 16, lane);
            Mma(dpt[n8], a_v, b0, b1);  // dP^T = V dO^T
          }
        }
        MaskScoresT<kNQ>(st, lane, key0 + key_lo, key0 + key_hi, valid_lo, valid_hi,
                         last_s + at * kTileQB, scale_log2);
        ProbCols<kNQ>(st, lane, lse_s + at * kTileQB);
        DsCols<kNQ>(st, dpt, lane, delta_s + at * kTileQB);
#pragma unroll
        for (int kk = 0; kk < kTileQB / 16; ++kk) {
          uint32_t ap[4], ads[4];
          AccToA<kNQ>(ap, st, kk);
          AccToA<kNQ>(ads, dpt, kk);
#pragma unroll
          for (int dt2 = 0; dt2 < kD / 16; ++dt2) {
            uint32_t bb[4];
            LoadBTrans(bb, dOt, kRow, kk * 16, dt2 * 16, lane);  // dV += P^T dO
            Mma(gv[2 * dt2], ap, bb[0], bb[1]);
            Mma(gv[2 * dt2 + 1], ap, bb[2], bb[3]);
            LoadBTrans(bb, Qt, kRow, kk * 16, dt2 * 16, lane);  // dK += dS^T Q
            Mma(gk[2 * dt2], ads, bb[0], bb[1]);
            Mma(gk[2 * dt2 + 1], ads, bb[2], bb[3]);
          }
        }
      }
      CpAsyncWaitAll();                         // the next items
      more = __syncthreads_or(next < n_items);  // ... visible; every warp done with this round
      it = next;
      buf ^= 1;
    }
  }
  if constexpr (kSlices > 1) {
    // Slices 1.. hand their sums to slice 0 (each thread to the one with its tid), which adds
    // them in slice order. The last barrier above ended every use of the Q/dO buffers.
    float* part = reinterpret_cast<float*>(Qb);  // [kSlices - 1][2][kAcc][kThreads]
    if (slice > 0) {
      float* mine = part + (slice - 1) * 2 * kAcc * kThreads;
#pragma unroll
      for (int dt = 0; dt < kD / 8; ++dt) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          mine[(dt * 4 + i) * kThreads + tid] = gk[dt][i];
          mine[(kAcc + dt * 4 + i) * kThreads + tid] = gv[dt][i];
        }
      }
    }
    __syncthreads();
    if (slice == 0) {
      for (int s = 1; s < kSlices; ++s) {
        const float* theirs = part + (s - 1) * 2 * kAcc * kThreads;
#pragma unroll
        for (int dt = 0; dt < kD / 8; ++dt) {
#pragma unroll
          for (int i = 0; i < 4; ++i) {
            gk[dt][i] += theirs[(dt * 4 + i) * kThreads + tid];
            gv[dt][i] += theirs[(kAcc + dt * 4 + i) * kThreads + tid];
          }
        }
      }
    }
  }
  if (slice == 0) {
    // Each warp only ever read its own 16 rows of Ks and Vs: they stage its dK and dV.
    bf16* stage_k = Ks + row0 * kRow;
    bf16* stage_v = Vs + row0 * kRow;
    StageAcc<kD>(stage_k, gk, scale, scale, lane);
    StageAcc<kD>(stage_v, gv, 1.0f, 1.0f, lane);
    __syncwarp();
    StoreWarpRows<kD>(dk + kv_off, kv_stride, row0, stage_k, nkeys - row0, lane);
    StoreWarpRows<kD>(dv + kv_off, kv_stride, row0, stage_v, nkeys - row0, lane);
  }
}

// ================================================================================================
// Launchers.
// ================================================================================================
// The head sizes the tensor-core kernels are built for: 64 and 128 (Qwen2/2.5, Llama), 16 and
// 32 (test models). Each one costs nvcc minutes per architecture; other sizes take the plain
// kernels.
template <typename F>
cudaError_t WithHeadDim(int64_t d, F&& f) {
  switch (d) {
    case 16:
      return f(std::integral_constant<int, 16>{});
    case 32:
      return f(std::integral_constant<int, 32>{});
    case 64:
      return f(std::integral_constant<int, 64>{});
    case 128:
      return f(std::integral_constant<int, 128>{});
    default:
      return cudaErrorInvalidValue;
  }
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Shapes and pointers the tensor-core kernels take: bf16, D in {16, 32, 64, 128},
// 16-byte aligned rows, at most 65535 tiles along T and S (grid z).
bool TensorCoreShape(Elem e, int64_t t, int64_t s, int64_t d,
                     std::initializer_list<const void*> ptrs) {
  if (e != Elem::kBF16 || (d != 16 && d != 32 && d != 64 && d != 128)) return false;
  if ((t + kTileQ - 1) / kTileQ > 65535 || (s + kTileKB - 1) / kTileKB > 65535) return false;
  for (const void* p : ptrs) {
    if (!Aligned16(p)) return false;
  }
  return true;
}

// The current device: SM count, shared memory a block may opt in to; ok = sm_80 or newer.
struct DeviceInfo {
  bool ok = false;
  int sms = 0;
  size_t smem_optin = 0;
};
DeviceInfo CurrentDevice() {
  DeviceInfo info;
  int dev = 0, major = 0, sms = 0, optin = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess) {
    return info;
  }
  info.ok = major >= 8;
  info.sms = sms;
  info.smem_optin = static_cast<size_t>(optin);
  return info;
}

template <typename Kernel>
cudaError_t AllowSmem(Kernel kernel, size_t bytes) {
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              static_cast<int>(bytes));
}

bool ShapeOk(int64_t B, int64_t T, int64_t S, int64_t H, int64_t Hkv, int64_t D) {
  const int64_t kMax = INT_MAX / 2;
  return B >= 0 && T >= 0 && S >= 0 && H > 0 && Hkv > 0 && D > 0 && H % Hkv == 0 && B < 65536 &&
         H < 65536 && T < kMax && S < kMax && D <= kMax;
}

unsigned PlainBlocks(int64_t rows) {
  return static_cast<unsigned>((rows + kPlainWarps - 1) / kPlainWarps);
}

template <typename E>
cudaError_t PlainForward(const void* q, const void* k, const void* v, const int32_t* q_pos,
                         const uint8_t* key_valid, void* out, int64_t B, int64_t T, int64_t S,
                         int64_t H, int64_t Hkv, int64_t D, float scale, cudaStream_t stream) {
  PlainForwardKernel<E><<<PlainBlocks(B * T * H), kPlainWarps * kWarpSize, 0, stream>>>(
      static_cast<const E*>(q), static_cast<const E*>(k), static_cast<const E*>(v), q_pos,
      key_valid, static_cast<E*>(out), int(B), int(T), int(S), int(H), int(Hkv), int(D), scale);
  return cudaGetLastError();
}

template <typename E>
cudaError_t PlainBackward(const void* q, const void* k, const void* v, const int32_t* q_pos,
                          const uint8_t* key_valid, const void* dout, void* dq, void* dk, void* dv,
                          float* lse, float* delta, int64_t B, int64_t T, int64_t S, int64_t H,
                          int64_t Hkv, int64_t D, float scale, cudaStream_t stream) {
  const E* qe = static_cast<const E*>(q);
  const E* ke = static_cast<const E*>(k);
  const E* ve = static_cast<const E*>(v);
  const E* doe = static_cast<const E*>(dout);
  if (T > 0) {
    PlainBackwardDqKernel<E><<<PlainBlocks(B * T * H), kPlainWarps * kWarpSize, 0, stream>>>(
        qe, ke, ve, q_pos, key_valid, doe, static_cast<E*>(dq), lse, delta, int(B), int(T), int(S),
        int(H), int(Hkv), int(D), scale);
    if (cudaError_t err = cudaGetLastError(); err != cudaSuccess) return err;
  }
  if (S > 0) {
    PlainBackwardDkvKernel<E><<<PlainBlocks(B * S * Hkv), kPlainWarps * kWarpSize, 0, stream>>>(
        qe, ke, ve, q_pos, key_valid, doe, lse, delta, static_cast<E*>(dk), static_cast<E*>(dv),
        int(B), int(T), int(S), int(H), int(Hkv), int(D), scale);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t AttentionForward(Elem e, const void* q, const void* k, const void* v,
                             const int32_t* q_pos, const uint8_t* key_valid, void* out, int64_t B,
                             int64_t T, int64_t S, int64_t H, int64_t Hkv, int64_t D,
                             cudaStream_t stream) {
  if (!ShapeOk(B, T, S, H, Hkv, D)) return cudaErrorInvalidValue;
  if (B == 0 || T == 0) return cudaSuccess;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const DeviceInfo dev =
      TensorCoreShape(e, T, S, D, {q, k, v, out}) ? CurrentDevice() : DeviceInfo{};
  if (dev.ok && ForwardSmemBytes(static_cast<int>(D)) <= dev.smem_optin) {
    return WithHeadDim(D, [&](auto kd) -> cudaError_t {
      constexpr int kD = decltype(kd)::value;
      const size_t smem = ForwardSmemBytes(kD);
      if (cudaError_t err = AllowSmem(AttnForwardKernel<kD>, smem); err != cudaSuccess) {
        return err;
      }
      const dim3 grid(unsigned(H), unsigned(B), static_cast<unsigned>((T + kTileQ - 1) / kTileQ));
      AttnForwardKernel<kD><<<grid, kThreads, smem, stream>>>(
          static_cast<const bf16*>(q), static_cast<const bf16*>(k), static_cast<const bf16*>(v),
          q_pos, key_valid, static_cast<bf16*>(out), int(T), int(S), int(H), int(Hkv),
          scale * kLog2e);
      return cudaGetLastError();
    });
  }
  if (D > kPlainMaxD) return cudaErrorInvalidValue;
  return e == Elem::kF32 ? PlainForward<float>(q, k, v, q_pos, key_valid, out, B, T, S, H, Hkv, D,
                                               scale, stream)
                         : PlainForward<bf16>(q, k, v, q_pos, key_valid, out, B, T, S, H, Hkv, D,
                                              scale, stream);
}

size_t AttentionBackwardWorkspaceBytes(int64_t B, int64_t T, int64_t H) {
  return 2 * static_cast<size_t>(B) * static_cast<size_t>(T) * static_cast<size_t>(H) *
         sizeof(float);
}

cudaError_t AttentionBackward(Elem e, const void* q, const void* k, const void* v,
                              const int32_t* q_pos, const uint8_t* key_valid, const void* dout,
                              void* dq, void* dk, void* dv, void* workspace, int64_t B, int64_t T,
                              int64_t S, int64_t H, int64_t Hkv, int64_t D, cudaStream_t stream) {
  if (!ShapeOk(B, T, S, H, Hkv, D)) return cudaErrorInvalidValue;
  if (B == 0) return cudaSuccess;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  float* lse = static_cast<float*>(workspace);
  float* delta = lse + B * H * T;
  const int d = static_cast<int>(D);
  const DeviceInfo dev =
      TensorCoreShape(e, T, S, D, {q, k, v, dout, dq, dk, dv}) ? CurrentDevice() : DeviceInfo{};
  if (dev.ok && DqSmemBytes(d) <= dev.smem_optin && DkvSmemBytes(d, 1) <= dev.smem_optin) {
    return WithHeadDim(D, [&](auto kd) -> cudaError_t {
      constexpr int kD = decltype(kd)::value;
      const float scale_log2 = scale * kLog2e;
      if (T > 0) {
        const size_t bytes = DqSmemBytes(kD);
        if (cudaError_t err = AllowSmem(AttnBackwardDqKernel<kD>, bytes); err != cudaSuccess) {
          return err;
        }
        const dim3 grid(unsigned(H), unsigned(B), static_cast<unsigned>((T + kTileQ - 1) / kTileQ));
        AttnBackwardDqKernel<kD><<<grid, kThreads, bytes, stream>>>(
            static_cast<const bf16*>(q), static_cast<const bf16*>(k), static_cast<const bf16*>(v),
            q_pos, key_valid, static_cast<const bf16*>(dout), static_cast<bf16*>(dq), lse, delta,
            int(T), int(S), int(H), int(Hkv), scale_log2, scale);
        if (cudaError_t err = cudaGetLastError(); err != cudaSuccess) return err;
      }
      if (S == 0) return cudaSuccess;
      // Two slices per block when the grid alone would leave SMs idle (few kv heads).
      const int64_t key_tiles = (S + kTileKB - 1) / kTileKB;
      const bool two = B * Hkv * key_tiles <= dev.sms && DkvSmemBytes(kD, 2) <= dev.smem_optin;
      const dim3 grid(unsigned(Hkv), unsigned(B), static_cast<unsigned>(key_tiles));
      auto launch = [&](auto kernel, int slices) -> cudaError_t {
        const size_t bytes = DkvSmemBytes(kD, slices);
        if (cudaError_t err = AllowSmem(kernel, bytes); err != cudaSuccess) return err;
        kernel<<<grid, kThreads * slices, bytes, stream>>>(
            static_cast<const bf16*>(q), static_cast<const bf16*>(k), static_cast<const bf16*>(v),
            q_pos, key_valid, static_cast<const bf16*>(dout), lse, delta, static_cast<bf16*>(dk),
            static_cast<bf16*>(dv), int(T), int(S), int(H), int(Hkv), scale_log2, scale);
        return cudaGetLastError();
      };
      // Two slices hold twice the Q/dO buffers: sized for the head sizes WithHeadDim has (at
      // most 128); a larger one would take one slice.
      if constexpr (kD <= 128) {
        if (two) return launch(AttnBackwardDkvKernel<kD, 2>, 2);
      }
      return launch(AttnBackwardDkvKernel<kD, 1>, 1);
    });
  }
  if (D > kPlainMaxD) return cudaErrorInvalidValue;
  return e == Elem::kF32 ? PlainBackward<float>(q, k, v, q_pos, key_valid, dout, dq, dk, dv, lse,
                                                delta, B, T, S, H, Hkv, D, scale, stream)
                         : PlainBackward<bf16>(q, k, v, q_pos, key_valid, dout, dq, dk, dv, lse,
                                               delta, B, T, S, H, Hkv, D, scale, stream);
}

}  // namespace baton::cuda
