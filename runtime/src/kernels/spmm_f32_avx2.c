/*
 * spmm_f32_avx2.c — float32 sparse × dense, AVX2 + FMA (spmm.h has the contract,
 * spmm_scalar.c the reference).
 *
 * A tile is one row block (R rows) × MT ymm vectors of 8 columns.  Per entry e
 * (column k = kidx[e]): MT loads of X's row k, R broadcasts of the entry's weights,
 * R·MT FMAs into R·MT accumulators — each X load serves R rows.  Every output
 * element sums bias, then the entries in order, as the scalar twin does (the FMA
 * rounds once where the twin rounds the product and the sum: the results agree
 * within float rounding, not bit for bit).
 *
 *   R  MT  columns  accumulators + X registers (16 ymm)
 *   1   8     64        8 + 0    (X is an FMA memory operand; 8 chains for the latency)
 *   2   4     32        8 + 4
 *   4   2     16        8 + 2
 *   8   2     16        8 + 2    as two tiles of 4 rows (8 × 1 ran 20 % slower: one X
 *                                load per 8 broadcasts, all on the load ports)
 *
 * A column tail of v ≤ MT vectors, the last one partial, runs the same tile with
 * MT = v and the last vector through vmaskmovps: X is read only in m0..m1−1 and Y
 * written only there.  Rows ≥ N of the last row block are computed (their weights
 * are 0) but not stored.  The loop over chunks of columns and row blocks is
 * spmm_f32_drive.h's.
 */
#include "spmm.h"

#include "../internal.h"
#include "spmm_f32_drive.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx2,fma")

/* numpy.clip order min(max(v, lo), hi); maxps/minps return their second operand when
 * either is NaN, so v goes second and a NaN v stays NaN (as the scalar twin's clamp). */
static inline __m256 clamp8(__m256 v, __m256 lo, __m256 hi) {
    return _mm256_min_ps(hi, _mm256_max_ps(lo, v));
}

/* lanes j < n (n may be >= 8) */
static inline __m256i lanes8(int32_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* One tile: rows r0 .. r0 + RT − 1 of row block b (R rows), columns m .. m + n − 1;
 * n = 8·MT, or when `masked` the last vector holds the n − 8·(MT − 1) columns left. */
static inline __attribute__((always_inline)) void tile(const irc_spmm_f32_args *a, int32_t b,
                                                       int32_t m, const int R, const int RT,
                                                       const int r0, const int MT,
                                                       const int masked, int32_t n) {
    const __m256i km = lanes8(masked ? n - 8 * (MT - 1) : 8);
    const irc_spmm_w *w = a->w;
    const int32_t e0 = w->ptr[b], e1 = w->ptr[b + 1];
    const int32_t n0 = b * R + r0;
    const int rows = w->N - n0 < RT ? w->N - n0 : RT;
    if (rows <= 0) return;
    __m256 acc[8][8];
#pragma GCC unroll 8
    for (int r = 0; r < RT; r++) {
        const float bias = a->bias && r < rows ? a->bias[n0 + r] : 0.0f;
#pragma GCC unroll 8
        for (int j = 0; j < MT; j++) acc[r][j] = _mm256_set1_ps(bias);
    }
    const float *wv = (const float *)w->vals + (size_t)e0 * R + r0;
    const int32_t *kidx = w->kidx;
    const float *xm = a->x + m;
    const size_t ldx = a->ldx;
    for (int32_t e = e0; e < e1; e++) {
        const float *xr = xm + (size_t)kidx[e] * ldx;
        if (R >= 2) {   /* this row's columns of the next tile, into L2 (a hint: never faults) */
#pragma GCC unroll 4
            for (int j = 0; j < (MT + 1) / 2; j++)
                _mm_prefetch((const char *)(xr + 8 * MT + 16 * j), _MM_HINT_T1);
        }
        __m256 xv[8];
#pragma GCC unroll 8
        for (int j = 0; j < MT; j++)
            xv[j] = masked && j == MT - 1 ? _mm256_maskload_ps(xr + 8 * j, km)
                                          : _mm256_loadu_ps(xr + 8 * j);
#pragma GCC unroll 8
        for (int r = 0; r < RT; r++) {
            const __m256 wr = _mm256_broadcast_ss(wv + r);
#pragma GCC unroll 8
            for (int j = 0; j < MT; j++) acc[r][j] = _mm256_fmadd_ps(wr, xv[j], acc[r][j]);
        }
        wv += R;
    }
    const __m256 lo = _mm256_set1_ps(a->lo), hi = _mm256_set1_ps(a->hi);
#pragma GCC unroll 8
    for (int r = 0; r < RT; r++) {
        if (r >= rows) break;
        float *yr = a->y + (size_t)(n0 + r) * a->ldy + m;
#pragma GCC unroll 8
        for (int j = 0; j < MT; j++) {
            const __m256 v = clamp8(acc[r][j], lo, hi);
            if (masked && j == MT - 1)
                _mm256_maskstore_ps(yr + 8 * j, km, v);
            else
                _mm256_storeu_ps(yr + 8 * j, v);
        }
    }
}

/* Tiles of R rows: full tiles of MT vectors, tails of 1 .. MT vectors with the last
 * one masked.  Each is a function of its own so its accumulators stay in registers. */
#define FULL(R, MT)                                                                           \
    static void tile_##R##x##MT(const irc_spmm_f32_args *a, int32_t b, int32_t m, int32_t n) { \
        tile(a, b, m, R, R, 0, MT, 0, n);                                                          \
    }
#define TAIL(R, MT)                                                                           \
    static void tail_##R##x##MT(const irc_spmm_f32_args *a, int32_t b, int32_t m, int32_t n) { \
        tile(a, b, m, R, R, 0, MT, 1, n);                                                          \
    }
/* R = 8 runs as two tiles of 4 rows × 2 vectors: 8 rows × 1 vector would load one X
 * vector per 8 broadcasts (both load-port work) for 8 FMAs; 4 × 2 loads 2 per 4. */
#define HALVES(MT, masked)                          \
    do {                                            \
        tile(a, b, m, 8, 4, 0, MT, masked, n);      \
        tile(a, b, m, 8, 4, 4, MT, masked, n);      \
    } while (0)
#define FULL8(MT)                                                                               \
    static void tile_8x##MT(const irc_spmm_f32_args *a, int32_t b, int32_t m, int32_t n) {      \
        HALVES(MT, 0);                                                                           \
    }
#define TAIL8(MT)                                                                               \
    static void tail_8x##MT(const irc_spmm_f32_args *a, int32_t b, int32_t m, int32_t n) {      \
        HALVES(MT, 1);                                                                           \
    }
FULL(1, 8) FULL(2, 4) FULL(4, 2) FULL8(2)
TAIL(1, 1) TAIL(1, 2) TAIL(1, 3) TAIL(1, 4) TAIL(1, 5) TAIL(1, 6) TAIL(1, 7) TAIL(1, 8)
TAIL(2, 1) TAIL(2, 2) TAIL(2, 3) TAIL(2, 4)
TAIL(4, 1) TAIL(4, 2)
TAIL8(1) TAIL8(2)
#undef FULL
#undef TAIL
#undef FULL8
#undef TAIL8
#undef HALVES

static const irc_spmm_f32_tile_fn tails1[8] = {tail_1x1, tail_1x2, tail_1x3, tail_1x4,
                                               tail_1x5, tail_1x6, tail_1x7, tail_1x8};
static const irc_spmm_f32_tile_fn tails2[4] = {tail_2x1, tail_2x2, tail_2x3, tail_2x4};
static const irc_spmm_f32_tile_fn tails4[2] = {tail_4x1, tail_4x2};
static const irc_spmm_f32_tile_fn tails8[2] = {tail_8x1, tail_8x2};
static const irc_spmm_f32_tiles tiles[4] = {    /* R = 1, 2, 4, 8 */
    {64, tile_1x8, tails1}, {32, tile_2x4, tails2}, {16, tile_4x2, tails4}, {16, tile_8x2, tails8},
};

static void run_avx2(const irc_spmm_f32_args *a) {
    const int32_t R = a->w->R;
    irc_spmm_f32_drive(a, 8, &tiles[R == 1 ? 0 : R == 2 ? 1 : R == 4 ? 2 : 3]);
}

#pragma GCC pop_options

const irc_spmm_f32_family irc_spmm_f32_avx2 = {"avx2", IRC_ISA_AVX2, run_avx2};
#endif
