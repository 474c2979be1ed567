/*
 * spmm_f32_neon.c — float32 sparse × dense, AArch64 NEON (spmm.h has the contract,
 * spmm_scalar.c the reference).
 *
 * A tile is one row block (R rows) × MT q-registers of 4 columns.  Per entry e
 * (column k = kidx[e]): MT loads of X's row k, the entry's R weights loaded as
 * vectors (ld1r for R = 1), R·MT by-element FMAs (fmla v.4s, v.4s, w.s[r]) into
 * R·MT accumulators — each X load serves R rows.  Every output element sums bias,
 * then the entries in order, as the scalar twin does (the FMA rounds once where the
 * twin rounds the product and the sum: the results agree within float rounding, not
 * bit for bit).
 *
 *   R  MT  columns  accumulators + X + weight registers (32 q)
 *   1   8     32        8 + 8 + 1   (8 chains for the FMA latency)
 *   2   8     32       16 + 8 + 1
 *   4   4     16       16 + 4 + 1
 *   8   2      8       16 + 2 + 2
 *
 * NEON has no masked loads: a column tail of v ≤ MT vectors, the last one partial,
 * runs the same tile with MT = v, its last vector of t = 1..4 columns loaded and
 * stored lane by lane, so X is read only in m0..m1−1 and Y written only there.  Rows
 * ≥ N of the last row block are computed (their weights are 0) but not stored.  The
 * loop over chunks of columns and row blocks is spmm_f32_drive.h's.
 */
#include "spmm.h"

#include "../internal.h"
#include "spmm_f32_drive.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* numpy.clip order min(max(v, lo), hi); a NaN v stays NaN (vmaxq/vminq propagate NaN) */
static inline float32x4_t clamp4(float32x4_t v, float32x4_t lo, float32x4_t hi) {
    return vminq_f32(vmaxq_f32(v, lo), hi);
}

/* columns 0 .. t−1 of p (t = 1 .. 4), 0 in the others */
static ALWAYS_INLINE float32x4_t load_part(const float *p, int t) {
    const float32x2_t z = vdup_n_f32(0.0f);
    switch (t) {
    case 1: return vcombine_f32(vld1_lane_f32(p, z, 0), z);
    case 2: return vcombine_f32(vld1_f32(p), z);
    case 3: return vcombine_f32(vld1_f32(p), vld1_lane_f32(p + 2, z, 0));
    default: return vld1q_f32(p);
    }
}

static ALWAYS_INLINE void store_part(float *p, float32x4_t v, int t) {
    switch (t) {
    case 1: vst1q_lane_f32(p, v, 0); break;
    case 2: vst1_f32(p, vget_low_f32(v)); break;
    case 3: vst1_f32(p, vget_low_f32(v)); vst1q_lane_f32(p + 2, v, 2); break;
    default: vst1q_f32(p, v); break;
    }
}

/* acc + x · (lane r of the entry's weights, 4 to a vector) */
static ALWAYS_INLINE float32x4_t fma_row(float32x4_t acc, float32x4_t x, const float32x4_t *wq,
                                         const int r) {
    switch (r & 3) {
    case 0: return vfmaq_laneq_f32(acc, x, wq[r >> 2], 0);
    case 1: return vfmaq_laneq_f32(acc, x, wq[r >> 2], 1);
    case 2: return vfmaq_laneq_f32(acc, x, wq[r >> 2], 2);
    default: return vfmaq_laneq_f32(acc, x, wq[r >> 2], 3);
    }
}

/* One tile: row block b, columns m .. m + n − 1; n = 4·MT, or when `part` the last
 * vector holds the t = n − 4·(MT − 1) columns left. */
static ALWAYS_INLINE void tile(const irc_spmm_f32_args *a, int32_t b, int32_t m, const int R,
                               const int MT, const int part, int32_t n) {
    const int t = part ? (int)(n - 4 * (MT - 1)) : 4;
    const irc_spmm_w *w = a->w;
    const int32_t e0 = w->ptr[b], e1 = w->ptr[b + 1];
    const int32_t n0 = b * R;
    const int rows = w->N - n0 < R ? w->N - n0 : R;
    float32x4_t acc[8][8];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        const float bias = a->bias && r < rows ? a->bias[n0 + r] : 0.0f;
#pragma GCC unroll 8
        for (int j = 0; j < MT; j++) acc[r][j] = vdupq_n_f32(bias);
    }
    const float *wv = (const float *)w->vals + (size_t)e0 * R;
    const int32_t *kidx = w->kidx;
    const float *xm = a->x + m;
    const size_t ldx = a->ldx;
    for (int32_t e = e0; e < e1; e++) {
        const float *xr = xm + (size_t)kidx[e] * ldx;
        if (R >= 2) {   /* this row's columns of the next tile, into L2 (a hint: never faults) */
#pragma GCC unroll 4
            for (int j = 0; j < (MT + 3) / 4; j++) __builtin_prefetch(xr + 4 * MT + 16 * j, 0, 2);
        }
        float32x4_t xv[8], wq[2];
#pragma GCC unroll 8
        for (int j = 0; j < MT; j++)
            xv[j] = part && j == MT - 1 ? load_part(xr + 4 * j, t) : vld1q_f32(xr + 4 * j);
        if (R == 1) {
            wq[0] = vld1q_dup_f32(wv);
        } else if (R == 2) {
            wq[0] = vcombine_f32(vld1_f32(wv), vdup_n_f32(0.0f));
        } else {
#pragma GCC unroll 2
            for (int i = 0; i < R / 4; i++) wq[i] = vld1q_f32(wv + 4 * i);
        }
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
#pragma GCC unroll 8
            for (int j = 0; j < MT; j++) acc[r][j] = fma_row(acc[r][j], xv[j], wq, r);
        }
        wv += R;
    }
    const float32x4_t lo = vdupq_n_f32(a->lo), hi = vdupq_n_f32(a->hi);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        if (r >= rows) break;
        float *yr = a->y + (size_t)(n0 + r) * a->ldy + m;
#pragma GCC unroll 8
        for (int j = 0; j < MT; j++) {
            const float32x4_t v = clamp4(acc[r][j], lo, hi);
            if (part && j == MT - 1)
                store_part(yr + 4 * j, v, t);
            else
                vst1q_f32(yr + 4 * j, v);
        }
    }
}

/* Tiles of R rows: full tiles of MT vectors, tails of 1 .. MT vectors with the last
 * one partial.  Each is a function of its own so its accumulators stay in registers. */
#define FULL(R, MT)                                                                           \
    static void tile_##R##x##MT(const irc_spmm_f32_args *a, int32_t b, int32_t m, int32_t n) { \
        tile(a, b, m, R, MT, 0, n);                                                            \
    }
#define TAIL(R, MT)                                                                           \
    static void tail_##R##x##MT(const irc_spmm_f32_args *a, int32_t b, int32_t m, int32_t n) { \
        tile(a, b, m, R, MT, 1, n);                                                            \
    }
FULL(1, 8) FULL(2, 8) FULL(4, 4) FULL(8, 2)
TAIL(1, 1) TAIL(1, 2) TAIL(1, 3) TAIL(1, 4) TAIL(1, 5) TAIL(1, 6) TAIL(1, 7) TAIL(1, 8)
TAIL(2, 1) TAIL(2, 2) TAIL(2, 3) TAIL(2, 4) TAIL(2, 5) TAIL(2, 6) TAIL(2, 7) TAIL(2, 8)
TAIL(4, 1) TAIL(4, 2) TAIL(4, 3) TAIL(4, 4)
TAIL(8, 1) TAIL(8, 2)
#undef FULL
#undef TAIL

static const irc_spmm_f32_tile_fn tails1[8] = {tail_1x1, tail_1x2, tail_1x3, tail_1x4,
                                               tail_1x5, tail_1x6, tail_1x7, tail_1x8};
static const irc_spmm_f32_tile_fn tails2[8] = {tail_2x1, tail_2x2, tail_2x3, tail_2x4,
                                               tail_2x5, tail_2x6, tail_2x7, tail_2x8};
static const irc_spmm_f32_tile_fn tails4[4] = {tail_4x1, tail_4x2, tail_4x3, tail_4x4};
static const irc_spmm_f32_tile_fn tails8[2] = {tail_8x1, tail_8x2};
static const irc_spmm_f32_tiles tiles[4] = {    /* R = 1, 2, 4, 8 */
    {32, tile_1x8, tails1}, {32, tile_2x8, tails2}, {16, tile_4x4, tails4}, {8, tile_8x2, tails8},
};

static void run_neon(const irc_spmm_f32_args *a) {
    const int32_t R = a->w->R;
    irc_spmm_f32_drive(a, 4, &tiles[R == 1 ? 0 : R == 2 ? 1 : R == 4 ? 2 : 3]);
}

const irc_spmm_f32_family irc_spmm_f32_neon = {"neon", IRC_ISA_NEON, run_neon};
#endif
