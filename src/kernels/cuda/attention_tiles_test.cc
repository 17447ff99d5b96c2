// Host emulation of the tensor-core attention kernels (attention.cu): the same tiles, the same
// per-lane helpers of attention_tiles.h, loops standing in for warps and lanes, and a model of
// mma.sync.m16n8k16 / ldmatrix.trans written from the PTX ISA fragment tables (not from the
// helpers), compared with the CPU reference. A wrong fragment index, mask, tile range or
// softmax step shows up here without a GPU. What it cannot check: barriers and cp.async ordering.
#include "kernels/cuda/attention_tiles.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_backend.h"

namespace baton::cuda::attn {
namespace {

// --- the hardware model (PTX ISA, mma.m16n8k16 .bf16 and ldmatrix) --------------------------
struct AFrag {
  float v[kWarpSize][4][2];  // lane, register, half (0 = low 16 bits)
};
struct BFrag {
  float v[kWarpSize][2][2];
};
using Acc = float[kWarpSize][4];

// c += A B for one warp, reading A and B out of the lanes' registers as the PTX tables say.
void EmuMma(Acc& c, const AFrag& a, const BFrag& b) {
  float am[16][16] = {}, bm[16][8] = {};
  for (int lane = 0; lane < kWarpSize; ++lane) {
    const int group = lane >> 2, tig = lane % 4;
    for (int i = 0; i < 8; ++i) {  // a0..a7
      int row = (i < 2 || (i >= 4 && i < 6)) ? group : group + 8;
      int col = tig * 2 + (i & 1) + (i >= 4 ? 8 : 0);
      am[row][col] = a.v[lane][i / 2][i % 2];
    }
    for (int i = 0; i < 4; ++i) {  // b0..b3
      int row = tig * 2 + (i & 1) + (i >= 2 ? 8 : 0);
      bm[row][group] = b.v[lane][i / 2][i % 2];
    }
  }
  for (int lane = 0; lane < kWarpSize; ++lane) {
    const int group = lane >> 2, tig = lane % 4;
    for (int i = 0; i < 4; ++i) {  // c0..c3
      int row = i < 2 ? group : group + 8;
      int col = tig * 2 + (i & 1);
      float sum = 0.0f;
      for (int kk = 0; kk < 16; ++kk) sum += am[row][kk] * bm[kk][col];
      c[lane][i] += sum;
    }
  }
}

// A shared-memory tile of bf16 values (held as float), row stride SmemRow(d).
struct Tile {
  int rows = 0, stride = 0;
  std::vector<float> v;
  Tile(int r, int d) : rows(r), stride(SmemRow(d)), v(static_cast<size_t>(r) * SmemRow(d)) {}
  float& at(int r, int c) { return v[static_cast<size_t>(r) * stride + c]; }
  float at(int r, int c) const { return v[static_cast<size_t>(r) * stride + c]; }
};

// ldmatrix.sync.aligned.m8n8.x4.trans: lane 8m + i supplies the address of row i of matrix m
// (here a (row, col) of the tile); with .trans, lane L receives in register m the elements
// (row 2 (L % 4) + h, column L / 4) of matrix m.
void EmuLdmTrans(float (&out)[kWarpSize][4][2], const Tile& t, const int (&row)[kWarpSize],
                 const int (&col)[kWarpSize]) {
  for (int m = 0; m < 4; ++m) {
    for (int lane = 0; lane < kWarpSize; ++lane) {
      for (int h = 0; h < 2; ++h) {
        int src = 8 * m + 2 * (lane % 4) + h;
        out[lane][m][h] = t.at(row[src], col[src] + lane / 4);
      }
    }
  }
}

// --- the kernels' fragment loads, as attention.cu does them --------------------------------
void LoadA(AFrag& a, const Tile& t, int row0, int col0) {
  for (int lane = 0; lane < kWarpSize; ++lane) {
    for (int r = 0; r < 4; ++r) {
      for (int h = 0; h < 2; ++h)
        a.v[lane][r][h] = t.at(row0 + ARow(lane, r), col0 + ACol(lane, r, h));
    }
  }
}
void LoadB(BFrag& b, const Tile& t, int row0, int col0) {
  for (int lane = 0; lane < kWarpSize; ++lane) {
    for (int r = 0; r < 2; ++r) {
      for (int h = 0; h < 2; ++h) {
        b.v[lane][r][h] = t.at(row0 + BCol(lane), col0 + BRow(lane, r, h));
      }
    }
  }
}
void LoadBTrans(BFrag& lo, BFrag& hi, const Tile& t, int row0, int col0) {
  int rows[kWarpSize], cols[kWarpSize];
  for (int lane = 0; lane < kWarpSize; ++lane) {
    rows[lane] = row0 + LdmRow(lane);
    cols[lane] = col0 + LdmCol(lane);
  }
  float r[kWarpSize][4][2];
  EmuLdmTrans(r, t, rows, cols);
  for (int lane = 0; lane < kWarpSize; ++lane) {
    for (int h = 0; h < 2; ++h) {
      lo.v[lane][0][h] = r[lane][0][h];
      lo.v[lane][1][h] = r[lane][1][h];
      hi.v[lane][0][h] = r[lane][2][h];
      hi.v[lane][1][h] = r[lane][3][h];
    }
  }
}

float RoundBf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even (inputs here are finite)
  u &= 0xffff0000u;
  std::memcpy(&x, &u, 4);
  return x;
}

// Per warp: lane registers of accumulator tiles, and the mma on one of them.
template <int kN>
struct WarpAcc {
  float v[kWarpSize][kN][4] = {};
  void Mma(int n, const AFrag& a, const BFrag& b) {
    Acc c;
    for (int lane = 0; lane < kWarpSize; ++lane) {
      for (int i = 0; i < 4; ++i) c[lane][i] = v[lane][n][i];
    }
    EmuMma(c, a, b);
    for (int lane = 0; lane < kWarpSize; ++lane) {
      for (int i = 0; i < 4; ++i) v[lane][n][i] = c[lane][i];
    }
  }
};

// AccToA of attention.cu: tiles 2kk, 2kk+1 rounded into an A fragment.
template <int kN>
void AccToA(AFrag& a, const WarpAcc<kN>& acc, int kk, bool bf16) {
  for (int lane = 0; lane < kWarpSize; ++lane) {
    for (int r = 0; r < 4; ++r) {
      for (int h = 0; h < 2; ++h) {
        float x = acc.v[lane][AccTileForA(kk, r)][AccElemForA(r, h)];
        a.v[lane][r][h] = bf16 ? RoundBf16(x) : x;
      }
    }
  }
}

// __shfl_xor_sync(v, 1) then (v, 2), as QuadMax / QuadSum.
void QuadReduce(float (&v)[kWarpSize], bool is_max) {
  for (int mask : {1, 2}) {
    float w[kWarpSize];
    for (int lane = 0; lane < kWarpSize; ++lane) {
      float other = v[lane ^ mask];
      w[lane] = is_max ? std::fmax(v[lane], other) : v[lane] + other;
    }
    std::memcpy(v, w, sizeof(w));
  }
}

// --- the problem ------------------------------------------------------------------------------
struct Problem {
  int nb, nt, ns, nh, nkv, d;
  std::vector<float> q, k, v, dout;
  std::vector<int32_t> pos;
  std::vector<uint8_t> valid;
  int group() const { return nh / nkv; }
  float scale() const { return 1.0f / std::sqrt(static_cast<float>(d)); }
  int64_t QOff(int b, int t, int h) const { return ((int64_t{b} * nt + t) * nh + h) * d; }
  int64_t KOff(int b, int s, int kvh) const { return ((int64_t{b} * ns + s) * nkv + kvh) * d; }
};

struct Grads {
  std::vector<float> out, dq, dk, dv, lse, delta;
};

// Visit counts, to check that causal skipping happens.
struct Visits {
  int key_tiles = 0, query_steps = 0;
};

template <int kD>
struct Emulator {
  const Problem& p;
  bool bf16;
  int dkv_slices;  // warp groups of a dK/dV block taking alternate items
  Visits visits;
  static constexpr int kNT = kTileK / 8, kNQ = kTileQB / 8, kDT = kD / 8;

  float Out(float x) const { return bf16 ? RoundBf16(x) : x; }

  // The rows of a query tile: per warp and lane, the two rows and their last visible slots.
  struct Rows {
    int rows, n_tiles;
    int row_lo[kWarps][kWarpSize], row_hi[kWarps][kWarpSize];
    int last_lo[kWarps][kWarpSize], last_hi[kWarps][kWarpSize];
  };
  Rows LocateRows(int b, int t0) const {
    Rows r;
    r.rows = std::min(p.nt - t0, kTileQ);
    int max_pos = INT_MIN;
    for (int i = 0; i < r.rows; ++i) max_pos = std::max(max_pos, p.pos[b * p.nt + t0 + i]);
    r.n_tiles = KeyTilesToVisit(max_pos, p.ns, kTileK);
    for (int w = 0; w < kWarps; ++w) {
      for (int lane = 0; lane < kWarpSize; ++lane) {
        int lo = w * kWarpRows + AccRow(lane, 0), hi = w * kWarpRows + AccRow(lane, 2);
        r.row_lo[w][lane] = lo;
        r.row_hi[w][lane] = hi;
        r.last_lo[w][lane] = lo < r.rows ? LastSlot(p.pos[b * p.nt + t0 + lo], p.ns) : -1;
        r.last_hi[w][lane] = hi < r.rows ? LastSlot(p.pos[b * p.nt + t0 + hi], p.ns) : -1;
      }
    }
    return r;
  }

  // LoadTileAsync: rows past n, or with a zero keep flag, are zero.
  Tile LoadRows(const std::vector<float>& src, int64_t off, int64_t stride, int rows, int n,
                const uint8_t* keep) const {
    Tile t(rows, kD);
    for (int r = 0; r < std::min(rows, n); ++r) {
      if (keep != nullptr && keep[r] == 0) continue;
      for (int c = 0; c < kD; ++c) t.at(r, c) = src[off + r * stride + c];
    }
    return t;
  }
  void KeyTile(int b, int kvh, int key0, Tile& ks, Tile& vs, uint8_t (&flags)[kTileK]) const {
    const uint8_t* valid = p.valid.data() + b * p.ns + key0;
    const int n = p.ns - key0;
    ks = LoadRows(p.k, p.KOff(b, key0, kvh), int64_t{p.nkv} * kD, kTileK, n, valid);
    vs = LoadRows(p.v, p.KOff(b, key0, kvh), int64_t{p.nkv} * kD, kTileK, n, valid);
    for (int r = 0; r < kTileK; ++r) flags[r] = r < n && valid[r] != 0 ? 1 : 0;
  }

  // ForwardTile: per warp the unnormalised output, the row max and the lane's part of the sum.
  struct Forward {
    WarpAcc<kDT> o[kWarps];
    float m_lo[kWarps][kWarpSize], m_hi[kWarps][kWarpSize];
    float l_lo[kWarps][kWarpSize], l_hi[kWarps][kWarpSize];
  };
  void ForwardTile(int b, int kvh, const Rows& rows, const Tile& qs, Forward& f) {
    const float scale_log2 = p.scale() * kLog2e;
    AFrag qa[kWarps][kD / 16];
    for (int w = 0; w < kWarps; ++w) {
      for (int kd = 0; kd < kD / 16; ++kd) LoadA(qa[w][kd], qs, w * kWarpRows, kd * 16);
      for (int lane = 0; lane < kWarpSize; ++lane) {
        f.m_lo[w][lane] = f.m_hi[w][lane] = -INFINITY;
        f.l_lo[w][lane] = f.l_hi[w][lane] = 0.0f;
      }
    }
    for (int j = 0; j < rows.n_tiles; ++j) {
      ++visits.key_tiles;
      const int key0 = j * kTileK;
      Tile ks(kTileK, kD), vs(kTileK, kD);
      uint8_t flags[kTileK];
      KeyTile(b, kvh, key0, ks, vs, flags);
      for (int w = 0; w < kWarps; ++w) {
        WarpAcc<kNT> s;
        for (int kd = 0; kd < kD / 16; ++kd) {
          for (int nt = 0; nt < kNT; ++nt) {
            BFrag bk;
            LoadB(bk, ks, nt * 8, kd * 16);
            s.Mma(nt, qa[w][kd], bk);
          }
        }
        float mx_lo[kWarpSize], mx_hi[kWarpSize];
        for (int lane = 0; lane < kWarpSize; ++lane) {
          MaskScores<kNT>(s.v[lane], lane, key0, rows.last_lo[w][lane], rows.last_hi[w][lane],
                          flags, scale_log2);
          RowMaxPartial<kNT>(s.v[lane], mx_lo[lane], mx_hi[lane]);
        }
        QuadReduce(mx_lo, true);
        QuadReduce(mx_hi, true);
        for (int lane = 0; lane < kWarpSize; ++lane) {
          float f_lo = UpdateMax(f.m_lo[w][lane], mx_lo[lane]);
          float f_hi = UpdateMax(f.m_hi[w][lane], mx_hi[lane]);
          float sum_lo = 0.0f, sum_hi = 0.0f;
          ExpRows<kNT>(s.v[lane], f.m_lo[w][lane], f.m_hi[w][lane], sum_lo, sum_hi);
          f.l_lo[w][lane] = f.l_lo[w][lane] * f_lo + sum_lo;
          f.l_hi[w][lane] = f.l_hi[w][lane] * f_hi + sum_hi;
          ScaleRows<kDT>(f.o[w].v[lane], f_lo, f_hi);
        }
        for (int kk = 0; kk < kTileK / 16; ++kk) {
          AFrag a;
          AccToA<kNT>(a, s, kk, bf16);
          for (int dt2 = 0; dt2 < kD / 16; ++dt2) {
            BFrag lo, hi;
            LoadBTrans(lo, hi, vs, kk * 16, dt2 * 16);
            f.o[w].Mma(2 * dt2, a, lo);
            f.o[w].Mma(2 * dt2 + 1, a, hi);
          }
        }
      }
    }
  }

  // StageAcc + StoreWarpRows: acc * factor, rounded, into rows row0.. of a [rows, d] output.
  void StoreAcc(const WarpAcc<kDT>& acc, const float (&f_lo)[kWarpSize],
                const float (&f_hi)[kWarpSize], std::vector<float>& dst, int64_t off,
                int64_t stride, int row0, int n) const {
    for (int lane = 0; lane < kWarpSize; ++lane) {
      for (int dt = 0; dt < kDT; ++dt) {
        for (int i = 0; i < 4; ++i) {
          int r = AccRow(lane, i), c = dt * 8 + AccCol(lane, i);
          if (row0 + r >= n) continue;
          float f = i < 2 ? f_lo[lane] : f_hi[lane];
          dst[off + (row0 + r) * stride + c] = Out(acc.v[lane][dt][i] * f);
        }
      }
    }
  }

  void ForwardBlock(int b, int h, int t0, Grads& g) {
    const int kvh = h / p.group();
    const int64_t stride = int64_t{p.nh} * kD;
    Rows rows = LocateRows(b, t0);
    Tile qs = LoadRows(p.q, p.QOff(b, t0, h), stride, kTileQ, rows.rows, nullptr);
    Forward f;
    ForwardTile(b, kvh, rows, qs, f);
    for (int w = 0; w < kWarps; ++w) {
      float inv_lo[kWarpSize], inv_hi[kWarpSize];
      std::memcpy(inv_lo, f.l_lo[w], sizeof(inv_lo));
      std::memcpy(inv_hi, f.l_hi[w], sizeof(inv_hi));
      QuadReduce(inv_lo, false);
      QuadReduce(inv_hi, false);
      for (int lane = 0; lane < kWarpSize; ++lane) {
        inv_lo[lane] = InvSum(inv_lo[lane]);
        inv_hi[lane] = InvSum(inv_hi[lane]);
      }
      StoreAcc(f.o[w], inv_lo, inv_hi, g.out, p.QOff(b, t0, h), stride, w * kWarpRows, rows.rows);
    }
  }

  void DqBlock(int b, int h, int t0, Grads& g) {
    const int kvh = h / p.group();
    const int64_t stride = int64_t{p.nh} * kD;
    const float scale_log2 = p.scale() * kLog2e;
    Rows rows = LocateRows(b, t0);
    Tile qs = LoadRows(p.q, p.QOff(b, t0, h), stride, kTileQ, rows.rows, nullptr);
    Tile dos = LoadRows(p.dout, p.QOff(b, t0, h), stride, kTileQ, rows.rows, nullptr);
    Forward f;
    ForwardTile(b, kvh, rows, qs, f);
    float lse_lo[kWarps][kWarpSize], lse_hi[kWarps][kWarpSize];
    float delta_lo[kWarps][kWarpSize], delta_hi[kWarps][kWarpSize];
    for (int w = 0; w < kWarps; ++w) {
      QuadReduce(f.l_lo[w], false);
      QuadReduce(f.l_hi[w], false);
      for (int lane = 0; lane < kWarpSize; ++lane) {
        float dl = 0.0f, dh = 0.0f;
        for (int dt = 0; dt < kDT; ++dt) {
          int col = dt * 8 + AccCol(lane, 0);
          const float* o = f.o[w].v[lane][dt];
          dl += o[0] * dos.at(rows.row_lo[w][lane], col) +
                o[1] * dos.at(rows.row_lo[w][lane], col + 1);
          dh += o[2] * dos.at(rows.row_hi[w][lane], col) +
                o[3] * dos.at(rows.row_hi[w][lane], col + 1);
        }
        delta_lo[w][lane] = dl;
        delta_hi[w][lane] = dh;
      }
      QuadReduce(delta_lo[w], false);
      QuadReduce(delta_hi[w], false);
      for (int lane = 0; lane < kWarpSize; ++lane) {
        delta_lo[w][lane] *= InvSum(f.l_lo[w][lane]);
        delta_hi[w][lane] *= InvSum(f.l_hi[w][lane]);
        lse_lo[w][lane] = RowLse(f.m_lo[w][lane], f.l_lo[w][lane]);
        lse_hi[w][lane] = RowLse(f.m_hi[w][lane], f.l_hi[w][lane]);
        if ((lane & 3) != 0) continue;
        for (int half = 0; half < 2; ++half) {
          int row = half ? rows.row_hi[w][lane] : rows.row_lo[w][lane];
          if (row >= rows.rows) continue;
          int64_t i = RowStatIndex(b, h, t0 + row, p.nh, p.nt);
          g.lse[i] = half ? lse_hi[w][lane] : lse_lo[w][lane];
          g.delta[i] = half ? delta_hi[w][lane] : delta_lo[w][lane];
        }
      }
    }
    AFrag qa[kWarps][kD / 16], da[kWarps][kD / 16];
    for (int w = 0; w < kWarps; ++w) {
      for (int kd = 0; kd < kD / 16; ++kd) {
        LoadA(qa[w][kd], qs, w * kWarpRows, kd * 16);
        LoadA(da[w][kd], dos, w * kWarpRows, kd * 16);
      }
    }
    WarpAcc<kDT> acc[kWarps];
    for (int j = 0; j < rows.n_tiles; ++j) {
      const int key0 = j * kTileK;
      Tile ks(kTileK, kD), vs(kTileK, kD);
      uint8_t flags[kTileK];
      KeyTile(b, kvh, key0, ks, vs, flags);
      for (int w = 0; w < kWarps; ++w) {
        WarpAcc<kNT> s, dp;
        for (int kd = 0; kd < kD / 16; ++kd) {
          for (int nt = 0; nt < kNT; ++nt) {
            BFrag bb;
            LoadB(bb, ks, nt * 8, kd * 16);
            s.Mma(nt, qa[w][kd], bb);
            LoadB(bb, vs, nt * 8, kd * 16);
            dp.Mma(nt, da[w][kd], bb);
          }
        }
        for (int lane = 0; lane < kWarpSize; ++lane) {
          MaskScores<kNT>(s.v[lane], lane, key0, rows.last_lo[w][lane], rows.last_hi[w][lane],
                          flags, scale_log2);
          ProbRows<kNT>(s.v[lane], lse_lo[w][lane], lse_hi[w][lane]);
          DsRows<kNT>(s.v[lane], dp.v[lane], delta_lo[w][lane], delta_hi[w][lane]);
        }
        for (int kk = 0; kk < kTileK / 16; ++kk) {
          AFrag a;
          AccToA<kNT>(a, dp, kk, bf16);
          for (int dt2 = 0; dt2 < kD / 16; ++dt2) {
            BFrag lo, hi;
            LoadBTrans(lo, hi, ks, kk * 16, dt2 * 16);
            acc[w].Mma(2 * dt2, a, lo);
            acc[w].Mma(2 * dt2 + 1, a, hi);
          }
        }
      }
    }
    float scale[kWarpSize];
    std::fill(scale, scale + kWarpSize, p.scale());
    for (int w = 0; w < kWarps; ++w) {
      StoreAcc(acc[w], scale, scale, g.dq, p.QOff(b, t0, h), stride, w * kWarpRows, rows.rows);
    }
  }

  void DkvBlock(int b, int kvh, int key0, Grads& g) {
    const float scale_log2 = p.scale() * kLog2e;
    const int nkeys = std::min(p.ns - key0, kTileKB);
    const int64_t kv_stride = int64_t{p.nkv} * kD, q_stride = int64_t{p.nh} * kD;
    const uint8_t* valid = p.valid.data() + b * p.ns + key0;
    bool any_valid = false;
    for (int r = 0; r < nkeys; ++r) any_valid |= valid[r] != 0;
    // Per slice: slice s takes the visited items s, s + slices, ...
    std::vector<WarpAcc<kDT>> gk(dkv_slices * kWarps), gv(dkv_slices * kWarps);
    int visited = 0;
    if (any_valid) {
      Tile ks = LoadRows(p.k, p.KOff(b, key0, kvh), kv_stride, kTileKB, nkeys, valid);
      Tile vs = LoadRows(p.v, p.KOff(b, key0, kvh), kv_stride, kTileKB, nkeys, valid);
      const int n_steps = (p.nt + kTileQB - 1) / kTileQB;
      for (int it = 0; it < p.group() * n_steps; ++it) {
        const int h = kvh * p.group() + it / n_steps, t0 = (it % n_steps) * kTileQB;
        int mx = INT_MIN;  // next_item: __reduce_max_sync over the step's 32 rows
        for (int lane = 0; lane < kWarpSize; ++lane) {
          if (t0 + lane < p.nt) mx = std::max(mx, p.pos[b * p.nt + t0 + lane]);
        }
        if (!QueryTileReaches(mx, key0)) continue;
        ++visits.query_steps;
        const int slice = visited++ % dkv_slices;
        const int rows = std::min(p.nt - t0, kTileQB);
        Tile qt = LoadRows(p.q, p.QOff(b, t0, h), q_stride, kTileQB, rows, nullptr);
        Tile dot = LoadRows(p.dout, p.QOff(b, t0, h), q_stride, kTileQB, rows, nullptr);
        float lse[kTileQB], delta[kTileQB];
        int last[kTileQB];
        for (int r = 0; r < kTileQB; ++r) {
          bool in = r < rows;
          int64_t i = in ? RowStatIndex(b, h, t0 + r, p.nh, p.nt) : 0;
          lse[r] = in ? g.lse[i] : INFINITY;
          delta[r] = in ? g.delta[i] : 0.0f;
          last[r] = in ? LastSlot(p.pos[b * p.nt + t0 + r], p.ns) : -1;
        }
        for (int w = 0; w < kWarps; ++w) {
          const int row0 = w * kWarpRows;
          WarpAcc<kDT>& wk = gk[slice * kWarps + w];
          WarpAcc<kDT>& wv = gv[slice * kWarps + w];
          WarpAcc<kNQ> st, dpt;
          for (int kd = 0; kd < kD / 16; ++kd) {
            AFrag a_k, a_v;
            LoadA(a_k, ks, row0, kd * 16);
            LoadA(a_v, vs, row0, kd * 16);
            for (int n8 = 0; n8 < kNQ; ++n8) {
              BFrag bb;
              LoadB(bb, qt, n8 * 8, kd * 16);
              st.Mma(n8, a_k, bb);
              LoadB(bb, dot, n8 * 8, kd * 16);
              dpt.Mma(n8, a_v, bb);
            }
          }
          for (int lane = 0; lane < kWarpSize; ++lane) {
            const int key_lo = row0 + AccRow(lane, 0), key_hi = row0 + AccRow(lane, 2);
            const bool valid_lo = key_lo < nkeys && valid[key_lo] != 0;
            const bool valid_hi = key_hi < nkeys && valid[key_hi] != 0;
            MaskScoresT<kNQ>(st.v[lane], lane, key0 + key_lo, key0 + key_hi, valid_lo, valid_hi,
                             last, scale_log2);
            ProbCols<kNQ>(st.v[lane], lane, lse);
            DsCols<kNQ>(st.v[lane], dpt.v[lane], lane, delta);
          }
          for (int kk = 0; kk < kTileQB / 16; ++kk) {
            AFrag ap, ads;
            AccToA<kNQ>(ap, st, kk, bf16);
            AccToA<kNQ>(ads, dpt, kk, bf16);
            for (int dt2 = 0; dt2 < kD / 16; ++dt2) {
              BFrag lo, hi;
              LoadBTrans(lo, hi, dot, kk * 16, dt2 * 16);
              wv.Mma(2 * dt2, ap, lo);
              wv.Mma(2 * dt2 + 1, ap, hi);
              LoadBTrans(lo, hi, qt, kk * 16, dt2 * 16);
              wk.Mma(2 * dt2, ads, lo);
              wk.Mma(2 * dt2 + 1, ads, hi);
            }
          }
        }
      }
    }
    float scale[kWarpSize], one[kWarpSize];
    std::fill(scale, scale + kWarpSize, p.scale());
    std::fill(one, one + kWarpSize, 1.0f);
    for (int w = 0; w < kWarps; ++w) {  // slice 0 adds the others' sums in slice order
      for (int sl = 1; sl < dkv_slices; ++sl) {
        for (int lane = 0; lane < kWarpSize; ++lane) {
          for (int dt = 0; dt < kDT; ++dt) {
            for (int i = 0; i < 4; ++i) {
              gk[w].v[lane][dt][i] += gk[sl * kWarps + w].v[lane][dt][i];
              gv[w].v[lane][dt][i] += gv[sl * kWarps + w].v[lane][dt][i];
            }
          }
        }
      }
      StoreAcc(gk[w], scale, scale, g.dk, p.KOff(b, key0, kvh), kv_stride, w * kWarpRows, nkeys);
      StoreAcc(gv[w], one, one, g.dv, p.KOff(b, key0, kvh), kv_stride, w * kWarpRows, nkeys);
    }
  }

  // The launches: forward, then backward (dQ kernel, then dK/dV kernel), every block.
  Grads Run() {
    Grads g;
    const size_t nq = p.q.size(), nk = p.k.size(), rows = size_t(p.nb) * p.nh * p.nt;
    g.out.assign(nq, NAN);  // NaN where a kernel forgets to write
    g.dq.assign(nq, NAN);
    g.dk.assign(nk, NAN);
    g.dv.assign(nk, NAN);
    g.lse.assign(rows, NAN);
    g.delta.assign(rows, NAN);
    const int q_tiles = (p.nt + kTileQ - 1) / kTileQ, k_tiles = (p.ns + kTileKB - 1) / kTileKB;
    for (int b = 0; b < p.nb; ++b) {
      for (int h = 0; h < p.nh; ++h) {
        for (int x = 0; x < q_tiles; ++x) ForwardBlock(b, h, (q_tiles - 1 - x) * kTileQ, g);
      }
    }
    for (int b = 0; b < p.nb; ++b) {
      for (int h = 0; h < p.nh; ++h) {
        for (int x = 0; x < q_tiles; ++x) DqBlock(b, h, (q_tiles - 1 - x) * kTileQ, g);
      }
    }
    for (int b = 0; b < p.nb; ++b) {
      for (int kvh = 0; kvh < p.nkv; ++kvh) {
        for (int x = 0; x < k_tiles; ++x) DkvBlock(b, kvh, x * kTileKB, g);
      }
    }
    return g;
  }
};

// --- test cases -------------------------------------------------------------------------------
struct Case {
  int nb, nt, ns, nh, nkv, d;
  bool pad;
};

Problem MakeProblem(const Case& c, uint64_t seed, bool bf16) {
  Problem p{c.nb, c.nt, c.ns, c.nh, c.nkv, c.d, {}, {}, {}, {}, {}, {}};
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> wide(-2.0f, 2.0f), unit(-1.0f, 1.0f);
  auto fill = [&](std::vector<float>& x, size_t n, std::uniform_real_distribution<float>& u) {
    x.resize(n);
    for (float& e : x) e = bf16 ? RoundBf16(u(rng)) : u(rng);
  };
  const size_t nq = size_t(c.nb) * c.nt * c.nh * c.d, nk = size_t(c.nb) * c.ns * c.nkv * c.d;
  fill(p.q, nq, wide);
  fill(p.k, nk, wide);
  fill(p.v, nk, unit);
  fill(p.dout, nq, unit);
  p.pos.resize(size_t(c.nb) * c.nt);
  for (int b = 0; b < c.nb; ++b) {
    for (int t = 0; t < c.nt; ++t) p.pos[b * c.nt + t] = c.ns - c.nt + t;  // a KV cache if T < S
  }
  p.valid.assign(size_t(c.nb) * c.ns, 1);
  if (c.pad) {
    // Batch 0 drops every 7th slot; batch 1 also slot 0, so its first query sees no key; the
    // last batch pads a whole 64-slot tile when S allows (a dK/dV block with no valid key).
    for (int b = 0; b < c.nb; ++b) {
      for (int s = 0; s < c.ns; ++s) {
        bool drop = s % 7 == 3 || (b == 1 && s == 0) ||
                    (b == c.nb - 1 && c.ns > 2 * kTileKB && s >= kTileKB && s < 2 * kTileKB);
        p.valid[b * c.ns + s] = drop ? 0 : 1;
      }
    }
  }
  return p;
}

Grads CpuReference(const Problem& p) {
  auto cpu = MakeCpuBackend(CpuBackendOptions{});
  Tensor q = Tensor::FromF32(p.q, {p.nb, p.nt, p.nh, p.d});
  Tensor k = Tensor::FromF32(p.k, {p.nb, p.ns, p.nkv, p.d});
  Tensor v = Tensor::FromF32(p.v, {p.nb, p.ns, p.nkv, p.d});
  Tensor dout = Tensor::FromF32(p.dout, {p.nb, p.nt, p.nh, p.d});
  Tensor pos = Tensor::FromI32(p.pos, {p.nb, p.nt});
  Tensor valid = Tensor::Empty({p.nb, p.ns}, DType::kU8);
  std::memcpy(valid.raw(), p.valid.data(), p.valid.size());
  Tensor out = Tensor::Empty(q.shape(), DType::kF32), dq = Tensor::Empty(q.shape(), DType::kF32);
  Tensor dk = Tensor::Empty(k.shape(), DType::kF32), dv = Tensor::Empty(k.shape(), DType::kF32);
  EXPECT_TRUE(cpu->Attention(q, k, v, pos, valid, out).ok());
  EXPECT_TRUE(cpu->AttentionBackward(q, k, v, pos, valid, dout, dq, dk, dv).ok());
  auto vec = [](const Tensor& t) { return std::vector<float>(t.f32(), t.f32() + t.numel()); };
  return {vec(out), vec(dq), vec(dk), vec(dv), {}, {}};
}

// max |got - want| / max(1, max |want|); NaN (an element never written) counts as infinite.
double RelError(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0, ref = 1;
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(got[i])) return INFINITY;
    diff = std::max(diff, std::fabs(double(got[i]) - want[i]));
    ref = std::max(ref, std::fabs(double(want[i])));
  }
  return diff / ref;
}

template <int kD>
Visits CheckAgainstCpu(const Case& c, bool bf16, double tol, int dkv_slices = 1) {
  SCOPED_TRACE(::testing::Message()
               << "b" << c.nb << " t" << c.nt << " s" << c.ns << " h" << c.nh << " hkv" << c.nkv
               << " d" << c.d << (bf16 ? " bf16" : " f32") << " slices" << dkv_slices);
  Problem p = MakeProblem(c, 7 + c.d + c.nt, bf16);
  Grads want = CpuReference(p);
  Emulator<kD> emu{p, bf16, dkv_slices, {}};
  Grads got = emu.Run();
  EXPECT_LT(RelError(got.out, want.out), tol) << "out";
  EXPECT_LT(RelError(got.dq, want.dq), tol) << "dq";
  EXPECT_LT(RelError(got.dk, want.dk), tol) << "dk";
  EXPECT_LT(RelError(got.dv, want.dv), tol) << "dv";
  if (c.pad && c.nb > 1 && c.nt == c.ns) {  // batch 1, query 0 sees no key: zeros, no grad
    for (int h = 0; h < c.nh; ++h) {
      int64_t off = p.QOff(1, 0, h);
      for (int i = 0; i < c.d; ++i) {
        EXPECT_EQ(got.out[off + i], 0.0f);
        EXPECT_EQ(got.dq[off + i], 0.0f);
      }
      EXPECT_EQ(got.lse[RowStatIndex(1, h, 0, c.nh, c.nt)], INFINITY);
    }
  }
  return emu.visits;
}

constexpr double kF32Tol = 1e-5;   // f32 in the emulator: only summation order differs
constexpr double kBf16Tol = 1e-2;  // P and dS rounded to bf16 before their products

TEST(AttentionTiles, GqaPaddingAndPartialTilesD16) {
  CheckAgainstCpu<16>({2, 70, 70, 4, 2, 16, true}, false, kF32Tol);
}

TEST(AttentionTiles, GqaPaddingD64) {
  CheckAgainstCpu<64>({2, 130, 130, 4, 2, 64, true}, false, kF32Tol);
}

TEST(AttentionTiles, PaddedKeyTileD32) {
  // S = 200: the last batch pads slots 64..127, a whole key tile (dK/dV block with no key).
  CheckAgainstCpu<32>({2, 200, 200, 2, 1, 32, true}, false, kF32Tol);
}

TEST(AttentionTiles, KvCacheOffsetsD64) {
  // T < S: q_pos = S - T + t, so every key tile up to the query is visited.
  CheckAgainstCpu<64>({1, 5, 133, 2, 1, 64, false}, false, kF32Tol);
  CheckAgainstCpu<64>({2, 70, 150, 4, 2, 64, true}, false, kF32Tol);
}

TEST(AttentionTiles, MultiHeadExactTilesD32) {
  CheckAgainstCpu<32>({1, 64, 64, 3, 3, 32, false}, false, kF32Tol);
}

TEST(AttentionTiles, LastRowAloneOnAKeyTileD16) {
  // The last query (position 128, resp. 64) is the only one that sees the first slot of the last
  // key tile: a one-row query tile and a dK/dV step whose largest position equals key0.
  CheckAgainstCpu<16>({1, 129, 129, 2, 1, 16, false}, false, kF32Tol);
  CheckAgainstCpu<16>({2, 65, 65, 2, 2, 16, true}, false, kF32Tol);
}

TEST(AttentionTiles, TwoSlicesPerKeyTile) {
  // dK/dV blocks whose two warp groups take alternate (head, query step) items.
  CheckAgainstCpu<16>({2, 70, 70, 4, 2, 16, true}, false, kF32Tol, 2);
  CheckAgainstCpu<64>({2, 130, 130, 4, 2, 64, true}, false, kF32Tol, 2);
  CheckAgainstCpu<16>({1, 129, 129, 2, 1, 16, false}, false, kF32Tol, 2);
  CheckAgainstCpu<64>({2, 130, 130, 4, 2, 64, true}, true, kBf16Tol, 2);
}

TEST(AttentionTiles, Bf16RoundingStaysClose) {
  CheckAgainstCpu<64>({2, 130, 130, 4, 2, 64, true}, true, kBf16Tol);
  CheckAgainstCpu<16>({1, 37, 37, 4, 2, 16, true}, true, kBf16Tol);
}

TEST(AttentionTiles, CausalSkippingVisitsOnlyNeededTiles) {
  // T = S = 130, one head: query tiles of 64 rows visit 1, 2 and 3 key tiles (forward and dQ
  // pass A), and key tile j's dK/dV block visits the 32-query steps from 2j on (5 + 3 + 1).
  Visits v = CheckAgainstCpu<16>({1, 130, 130, 1, 1, 16, false}, false, kF32Tol);
  EXPECT_EQ(v.key_tiles, 2 * (1 + 2 + 3));
  EXPECT_EQ(v.query_steps, 5 + 3 + 1);
}

TEST(AttentionTiles, TileRanges) {
  EXPECT_EQ(LastSlot(5, 10), 5);
  EXPECT_EQ(LastSlot(50, 10), 9);
  EXPECT_LT(LastSlot(-1, 10), 0);
  EXPECT_LT(LastSlot(0, 0), 0);
  EXPECT_EQ(KeyTilesToVisit(63, 1000, 64), 1);
  EXPECT_EQ(KeyTilesToVisit(64, 1000, 64), 2);
  EXPECT_EQ(KeyTilesToVisit(5000, 130, 64), 3);
  EXPECT_EQ(KeyTilesToVisit(INT_MIN, 130, 64), 0);
  EXPECT_EQ(KeyTilesToVisit(3, 0, 64), 0);
  EXPECT_TRUE(QueryTileReaches(64, 64));
  EXPECT_FALSE(QueryTileReaches(63, 64));
  EXPECT_EQ(RowStatIndex(1, 2, 3, 4, 5), (1 * 4 + 2) * 5 + 3);
}

TEST(AttentionTiles, OnlineSoftmaxEdges) {
  float m = -INFINITY;
  EXPECT_EQ(UpdateMax(m, -INFINITY), 0.0f);  // nothing seen: no NaN from -inf - -inf
  EXPECT_EQ(m, -INFINITY);
  EXPECT_EQ(UpdateMax(m, 3.0f), 0.0f);
  EXPECT_EQ(m, 3.0f);
  EXPECT_EQ(UpdateMax(m, 1.0f), 1.0f);
  EXPECT_EQ(UpdateMax(m, 4.0f), 0.5f);
  EXPECT_EQ(m, 4.0f);
  EXPECT_EQ(RowLse(-INFINITY, 0.0f), INFINITY);
  EXPECT_EQ(RowLse(2.0f, 4.0f), 4.0f);
  EXPECT_EQ(InvSum(0.0f), 0.0f);
  EXPECT_EQ(Exp2(-INFINITY - INFINITY), 0.0f);  // a hidden score of a row with no key
}

TEST(AttentionTiles, FragmentMapsMatchThePtxTables) {
  // The C fragment of two adjacent n-tiles is the A fragment of their 16 columns.
  for (int lane = 0; lane < kWarpSize; ++lane) {
    for (int r = 0; r < 4; ++r) {
      for (int h = 0; h < 2; ++h) {
        int tile = AccTileForA(1, r), elem = AccElemForA(r, h);
        EXPECT_EQ(AccRow(lane, elem), ARow(lane, r));
        EXPECT_EQ(tile * 8 + AccCol(lane, elem), 16 + ACol(lane, r, h));
      }
    }
  }
  // ldmatrix.trans of X[k][n] gives the B fragments that direct loads of X^T would.
  Tile x(16, 16);
  for (int r = 0; r < 16; ++r) {
    for (int c = 0; c < 16; ++c) x.at(r, c) = float(r * 100 + c);
  }
  Tile xt(16, 16);
  for (int r = 0; r < 16; ++r) {
    for (int c = 0; c < 16; ++c) xt.at(c, r) = x.at(r, c);
  }
  BFrag lo, hi, want_lo, want_hi;
  LoadBTrans(lo, hi, x, 0, 0);
  LoadB(want_lo, xt, 0, 0);
  LoadB(want_hi, xt, 8, 0);
  EXPECT_EQ(std::memcmp(&lo, &want_lo, sizeof(lo)), 0);
  EXPECT_EQ(std::memcmp(&hi, &want_hi, sizeof(hi)), 0);
}

}  // namespace
}  // namespace baton::cuda::attn
