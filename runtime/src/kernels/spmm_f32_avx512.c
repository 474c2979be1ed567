/*
 * spmm_f32_avx512.c — float32 sparse × dense, AVX-512F (spmm.h has the contract,
 * spmm_scalar.c the reference).
 *
 * A tile is one row block (R rows) × MT zmm vectors of 16 columns.  Per entry e
 * (column k = kidx[e]): MT loads of X's row k, R broadcasts of the entry's weights,
 * R·MT FMAs into R·MT accumulators — each X load serves R rows.  Every output
 * element sums bias, then the entries in order, as the scalar twin does (the FMA
 * rounds once where the twin rounds the product and the sum: the results agree
 * within float rounding, not bit for bit).
 *
 *   R  MT  columns  accumulators + X registers
 *   1   8    128        8 + 8    (8 chains: R = 1 needs the width for the FMA latency)
 *   2   8    128       16 + 8
 *   4   4     64       16 + 4
 *   8   2     32       16 + 2
 *
 * A column tail of v ≤ MT vectors, the last one partial, runs the same tile with
 * MT = v and the last vector masked: X is read only in m0..m1−1 and Y written only
 * there.  Rows ≥ N of the
 * last row block are computed (their weights are 0) but not stored.
 * The loop over chunks of columns and row blocks is spmm_f32_drive.h's.
 */
#include "spmm.h"

#include "../internal.h"
#include "spmm_f32_drive.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f")

/* numpy.clip order min(max(v, lo), hi); maxps/minps return their second operand when
 * either is NaN, so v goes second and a NaN v stays NaN (as the scalar twin's clamp). */
static inline __m512 clamp16(__m512 v, __m512 lo, __m512 hi) {
    return _mm512_min_ps(hi, _mm512_max_ps(lo, v));
}

static inline __mmask16 lanes16(int32_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
}

/* One tile: row block b, columns m .. m + n − 1; n = 16·MT, or when `masked` the last
 * vector holds the n − 16·(MT − 1) columns left. */
static inline __attribute__((always_inline)) void tile(const irc_spmm_f32_args *a, int32_t b,
                                                       int32_t m, const int R, const int MT,
                                                       const int masked, int32_t n) {
    const __mmask16 km = masked ? lanes16(n - 16 * (MT - 1)) : (__mmask16)0xFFFF;
    const irc_spmm_w *w = a->w;
    const int32_t e0 = w->ptr[b], e1 = w->ptr[b + 1];
    const int32_t n0 = b * R;
    const int rows = w->N - n0 < R ? w->N - n0 : R;
    __m512 acc[8][8];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        const float bias = a->bias && r < rows ? a->bias[n0 + r] : 0.0f;
#pragma GCC unroll 8
        for (int j = 0; j < MT; j++) acc[r][j] = _mm512_set1_ps(bias);
    }
    const float *wv = (const float *)w->vals + (size_t)e0 * R;
    const int32_t *kidx = w->kidx;
    const float *xm = a->x + m;
    const size_t ldx = a->ldx;
    for (int32_t e = e0; e < e1; e++) {
        const float *xr = xm + (size_t)kidx[e] * ldx;
        if (R >= 2) {   /* this row's columns of the next tile, into L2 (a hint: never faults) */
#pragma GCC unroll 8
            for (int j = 0; j < MT; j++) _mm_prefetch((const char *)(xr + 16 * (MT + j)), _MM_HINT_T1);
        }
        __m512 xv[8];
#pragma GCC unroll 8
        for (int j = 0; j < MT; j++)
            xv[j] = masked && j == MT - 1 ? _mm512_maskz_loadu_ps(km, xr + 16 * j)
                                          : _mm512_loadu_ps(xr + 16 * j);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const __m512 wr = _mm512_set1_ps(wv[r]);
#pragma GCC unroll 8
            for (int j = 0; j < MT; j++) acc[r][j] = _mm512_fmadd_ps(wr, xv[j], acc[r][j]);
        }
        wv += R;
    }
    const __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        if (r >= rows) break;
        float *yr = a->y + (size_t)(n0 + r) * a->ldy + m;
#pragma GCC unroll 8
        for (int j = 0; j < MT; j++) {
            const __m512 v = clamp16(acc[r][j], lo, hi);
            if (masked && j == MT - 1)
                _mm512_mask_storeu_ps(yr + 16 * j, km, v);
            else
                _mm512_storeu_ps(yr + 16 * j, v);
        }
    }
}

/* Tiles of R rows: full tiles of MT vectors, tails of 1 .. MT vectors with the last
 * one masked.  Each is a function of its own so its accumulators stay in registers. */
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
    {128, tile_1x8, tails1}, {128, tile_2x8, tails2}, {64, tile_4x4, tails4}, {32, tile_8x2, tails8},
};

static void run_avx512(const irc_spmm_f32_args *a) {
    const int32_t R = a->w->R;
    irc_spmm_f32_drive(a, 16, &tiles[R == 1 ? 0 : R == 2 ? 1 : R == 4 ? 2 : 3]);
}

#pragma GCC pop_options

const irc_spmm_f32_family irc_spmm_f32_avx512 = {"avx512", IRC_ISA_AVX512VNNI, run_avx512};
#endif
