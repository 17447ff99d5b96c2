// Tile bookkeeping, fragment layouts and softmax math of the tensor-core attention kernels
// (attention.cu). Plain C++ that g++ compiles too: attention_tiles_test.cc runs the kernels'
// per-lane steps on the host (loops standing in for threads) against the CPU reference, so the
// indexing is checked without a GPU.
//
// Units: scores are kept in log2 units, x = (q . k) * scale * log2(e), so exp() is one exp2().
// The log-sum-exp the backward pass stores is in the same units: P = exp2(x - lse).
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define BATON_HD __host__ __device__ __forceinline__
#else
#define BATON_HD inline
#endif
// Register arrays stay in registers only when their loops unroll; host compilers don't know it.
#ifdef __CUDA_ARCH__
#define BATON_UNROLL _Pragma("unroll")
#else
#define BATON_UNROLL
#endif

namespace baton::cuda::attn {

inline constexpr int kWarpSize = 32;
inline constexpr int kWarps = 4;  // per block, in every tensor-core kernel
inline constexpr int kThreads = kWarps * kWarpSize;
inline constexpr int kWarpRows = 16;                // rows of one mma tile; a warp owns 16 rows
inline constexpr int kTileQ = kWarps * kWarpRows;   // query rows of a forward / dQ block
inline constexpr int kTileK = 64;                   // key slots per step of a forward / dQ block
inline constexpr int kTileKB = kWarps * kWarpRows;  // key slots of a dK/dV block
inline constexpr int kTileQB = 32;                  // query rows per step of a dK/dV block
inline constexpr int kPad = 8;  // bf16 padding per shared-memory row: conflict-free fragments
inline constexpr float kLog2e = 1.4426950408889634f;

// Elements per shared-memory row of a [rows, d] bf16 tile. (d + 8) / 2 words is 4 * odd for d a
// multiple of 16, so the 8 rows a fragment load touches fall on 8 different 4-bank groups.
BATON_HD constexpr int SmemRow(int d) { return d + kPad; }

BATON_HD float Exp2(float x) {
#ifdef __CUDA_ARCH__
  return exp2f(x);
#else
  return std::exp2(x);
#endif
}
BATON_HD float Log2(float x) {
#ifdef __CUDA_ARCH__
  return log2f(x);
#else
  return std::log2(x);
#endif
}

// --- visibility and tile ranges -----------------------------------------------------------------
// Last key slot a query at position `pos` may see; negative when it sees none.
BATON_HD int LastSlot(int pos, int s) { return pos < s - 1 ? pos : s - 1; }

// Key tiles [0, n) a query tile must visit, given the largest position among its rows (tiles
// after it are hidden from every row: causal skipping).
BATON_HD int KeyTilesToVisit(int max_pos, int s, int tile_k) {
  int last = LastSlot(max_pos, s);
  return last < 0 ? 0 : last / tile_k + 1;
}

// Whether a query tile whose largest position is `max_pos` sees any slot of the key tile that
// starts at slot `key0` (< S).
BATON_HD bool QueryTileReaches(int max_pos, int key0) { return max_pos >= key0; }

// Workspace of the backward pass: lse[B, H, T] then delta[B, H, T], f32.
BATON_HD int64_t RowStatIndex(int64_t b, int64_t h, int64_t t, int64_t nh, int64_t nt) {
  return (b * nh + h) * nt + t;
}

// --- mma.sync.m16n8k16 fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16") -----
// g = lane / 4 (the group), c = lane % 4 (the thread in the group).
// Accumulator C/D, 16x8 f32: element i (0..3) of a lane.
BATON_HD constexpr int AccRow(int lane, int i) { return (lane >> 2) + 8 * (i >> 1); }
BATON_HD constexpr int AccCol(int lane, int i) { return 2 * (lane & 3) + (i & 1); }
// A, 16x16 bf16 row-major: register r (0..3) holds two elements, half h (0 = low 16 bits).
BATON_HD constexpr int ARow(int lane, int r) { return (lane >> 2) + 8 * (r & 1); }
BATON_HD constexpr int ACol(int lane, int r, int h) { return 2 * (lane & 3) + 8 * (r >> 1) + h; }
// B, 16x8 bf16 "col": register r (0..1), half h; k is the row of B, n its column.
BATON_HD constexpr int BRow(int lane, int r, int h) { return 2 * (lane & 3) + 8 * r + h; }
BATON_HD constexpr int BCol(int lane) { return lane >> 2; }
// The accumulators of two adjacent 16x8 tiles (columns 16kk..16kk+15) are, rounded to bf16, the
// A fragment of a 16x16 block with k = those columns: register r, half h comes from tile
// AccTileForA(kk, r), element AccElemForA(r, h).
BATON_HD constexpr int AccTileForA(int kk, int r) { return 2 * kk + (r >> 1); }
BATON_HD constexpr int AccElemForA(int r, int h) { return 2 * (r & 1) + h; }
// ldmatrix.x4 of the 16x16 block at (row0, col0) of a row-major tile: the row and column of the
// 8-element row whose address a lane supplies. Matrices 0..3 are (rows 0-7, cols 0-7),
// (rows 8-15, cols 0-7), (rows 0-7, cols 8-15), (rows 8-15, cols 8-15). With .trans, on a tile
// X[k][n], registers 0, 1 are the B fragment of columns col0..col0+7 and 2, 3 that of
// col0+8..col0+15.
BATON_HD constexpr int LdmRow(int lane) { return (lane & 7) + 8 * ((lane >> 3) & 1); }
BATON_HD constexpr int LdmCol(int lane) { return 8 * (lane >> 4); }

// --- online softmax (rows of a lane's accumulator tiles) ------------------------------------
// A running max of -inf (nothing seen yet) subtracts as 0 so that exp2(-inf - 0) = 0, never NaN.
BATON_HD float SafeMax(float m) { return m == -INFINITY ? 0.0f : m; }

// Moves the running max m to include a tile whose max is tile_max; returns the factor that
// rescales what was accumulated under the old max (0 when nothing was).
BATON_HD float UpdateMax(float& m, float tile_max) {
  float m_new = m > tile_max ? m : tile_max;
  float factor = Exp2(m - SafeMax(m_new));
  m = m_new;
  return factor;
}

// log2-sum-exp of a row from its max and sum; +inf for a row that saw no key, so that every P
// recomputed from it is exp2(x - inf) = 0.
BATON_HD float RowLse(float m, float l) { return l > 0.0f ? m + Log2(l) : INFINITY; }
BATON_HD float InvSum(float l) { return l > 0.0f ? 1.0f / l : 0.0f; }

// Scores of a lane's tiles s[nt][i] (rows: queries lo = AccRow i < 2, hi = i >= 2; columns: key
// slots key0 + nt * 8 + AccCol) to log2 units, -inf where hidden. `valid` holds the tile's
// key_valid flags (0 past S); last_lo / last_hi are the rows' LastSlot (-1 past T).
template <int kNT>
BATON_HD void MaskScores(float (&s)[kNT][4], int lane, int key0, int last_lo, int last_hi,
                         const uint8_t* valid, float scale_log2) {
  BATON_UNROLL for (int nt = 0; nt < kNT; ++nt) {
    BATON_UNROLL for (int i = 0; i < 4; ++i) {
      int col = nt * 8 + AccCol(lane, i);
      int last = (i >> 1) ? last_hi : last_lo;
      bool seen = valid[col] != 0 && key0 + col <= last;
      s[nt][i] = seen ? s[nt][i] * scale_log2 : -INFINITY;
    }
  }
}

// The same for the transposed tile of the dK/dV kernel: rows are key slots (slot_lo, slot_hi,
// their key_valid flags, false past S), columns are the step's queries with LastSlot q_last[col].
template <int kNT>
BATON_HD void MaskScoresT(float (&s)[kNT][4], int lane, int slot_lo, int slot_hi, bool valid_lo,
                          bool valid_hi, const int* q_last, float scale_log2) {
  BATON_UNROLL for (int nt = 0; nt < kNT; ++nt) {
    BATON_UNROLL for (int i = 0; i < 4; ++i) {
      int col = nt * 8 + AccCol(lane, i);
      bool hi = (i >> 1) != 0;
      bool seen = (hi ? valid_hi : valid_lo) && (hi ? slot_hi : slot_lo) <= q_last[col];
      s[nt][i] = seen ? s[nt][i] * scale_log2 : -INFINITY;
    }
  }
}

// This lane's part of each row's max (the caller reduces over the 4 lanes of a group).
template <int kNT>
BATON_HD void RowMaxPartial(const float (&s)[kNT][4], float& max_lo, float& max_hi) {
  max_lo = -INFINITY;
  max_hi = -INFINITY;
  BATON_UNROLL for (int nt = 0; nt < kNT; ++nt) {
    max_lo = s[nt][0] > max_lo ? s[nt][0] : max_lo;
    max_lo = s[nt][1] > max_lo ? s[nt][1] : max_lo;
    max_hi = s[nt][2] > max_hi ? s[nt][2] : max_hi;
    max_hi = s[nt][3] > max_hi ? s[nt][3] : max_hi;
  }
}

// s = exp2(s - max) per row (hidden -inf scores give 0); adds this lane's row sums to sum_lo/hi.
template <int kNT>
BATON_HD void ExpRows(float (&s)[kNT][4], float m_lo, float m_hi, float& sum_lo, float& sum_hi) {
  float base_lo = SafeMax(m_lo), base_hi = SafeMax(m_hi);
  BATON_UNROLL for (int nt = 0; nt < kNT; ++nt) {
    s[nt][0] = Exp2(s[nt][0] - base_lo);
    s[nt][1] = Exp2(s[nt][1] - base_lo);
    s[nt][2] = Exp2(s[nt][2] - base_hi);
    s[nt][3] = Exp2(s[nt][3] - base_hi);
    sum_lo += s[nt][0] + s[nt][1];
    sum_hi += s[nt][2] + s[nt][3];
  }
}

// acc rows *= factor (the online rescale of the output accumulators).
template <int kNT>
BATON_HD void ScaleRows(float (&acc)[kNT][4], float f_lo, float f_hi) {
  BATON_UNROLL for (int nt = 0; nt < kNT; ++nt) {
    acc[nt][0] *= f_lo;
    acc[nt][1] *= f_lo;
    acc[nt][2] *= f_hi;
    acc[nt][3] *= f_hi;
  }
}

// Backward, rows are queries: P = exp2(x - lse) from the stored row log-sum-exp.
template <int kNT>
BATON_HD void ProbRows(float (&s)[kNT][4], float lse_lo, float lse_hi) {
  BATON_UNROLL for (int nt = 0; nt < kNT; ++nt) {
    s[nt][0] = Exp2(s[nt][0] - lse_lo);
    s[nt][1] = Exp2(s[nt][1] - lse_lo);
    s[nt][2] = Exp2(s[nt][2] - lse_hi);
    s[nt][3] = Exp2(s[nt][3] - lse_hi);
  }
}

// dS = P * (dP - delta), written over dp; delta = rowsum(dO * O) of the row.
template <int kNT>
BATON_HD void DsRows(const float (&p)[kNT][4], float (&dp)[kNT][4], float delta_lo,
                     float delta_hi) {
  BATON_UNROLL for (int nt = 0; nt < kNT; ++nt) {
    dp[nt][0] = p[nt][0] * (dp[nt][0] - delta_lo);
    dp[nt][1] = p[nt][1] * (dp[nt][1] - delta_lo);
    dp[nt][2] = p[nt][2] * (dp[nt][2] - delta_hi);
    dp[nt][3] = p[nt][3] * (dp[nt][3] - delta_hi);
  }
}

// The transposed forms for the dK/dV kernel: columns are queries with lse[col], delta[col].
template <int kNT>
BATON_HD void ProbCols(float (&s)[kNT][4], int lane, const float* lse) {
  BATON_UNROLL for (int nt = 0; nt < kNT; ++nt) {
    BATON_UNROLL for (int i = 0; i < 4; ++i) s[nt][i] =
        Exp2(s[nt][i] - lse[nt * 8 + AccCol(lane, i)]);
  }
}
template <int kNT>
BATON_HD void DsCols(const float (&p)[kNT][4], float (&dp)[kNT][4], int lane, const float* delta) {
  BATON_UNROLL for (int nt = 0; nt < kNT; ++nt) {
    BATON_UNROLL for (int i = 0; i < 4; ++i) {
      dp[nt][i] = p[nt][i] * (dp[nt][i] - delta[nt * 8 + AccCol(lane, i)]);
    }
  }
}

}  // namespace baton::cuda::attn
