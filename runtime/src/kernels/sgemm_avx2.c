/*
 * sgemm_avx2.c — float32 GEMM, AVX2 + FMA: micro-tiles of 6×16 (sgemm.h has the
 * contract, sgemm_scalar.c the shared blocking driver).
 *
 * Registers: 12 accumulators (6 rows × 2 ymm of 8 columns), 2 for the B row, 1
 * for the broadcast A element.  Per k step: 2 B loads, 6 broadcasts, 12 FMAs.
 * A 1-row tile (M = 1, a GEMV) splits k four ways instead, so it has 8 chains.
 * Column tails use masked loads and stores (B panels are zero-padded, so the
 * arithmetic itself needs no mask).
 */
#include "sgemm.h"

#include "../internal.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx2,fma")

#define MR 6
#define NR 16

/* numpy.clip order min(max(v, lo), hi); maxps/minps return their second operand when
 * either is NaN, so v goes second and a NaN v stays NaN. */
static inline __m256 clamp8(__m256 v, __m256 lo, __m256 hi) {
    return _mm256_min_ps(hi, _mm256_max_ps(lo, v));
}

/* lanes j < n (n may be <= 0 or >= 8) */
static inline __m256i lanes8(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline __attribute__((always_inline)) void tile_mrx16(const irc_sgemm_tile *t, const int mr) {
    __m256 c0[MR], c1[MR];
    int nc = t->nc;
    __m256i k0 = lanes8(nc), k1 = lanes8(nc - 8);
    size_t ldc = t->ldc;
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) {
        float *crow = t->c + (size_t)i * ldc;
        if (!t->first) {
            c0[i] = _mm256_maskload_ps(crow, k0);
            c1[i] = _mm256_maskload_ps(crow + 8, k1);
        } else if (!t->bias) {
            c0[i] = _mm256_setzero_ps();
            c1[i] = _mm256_setzero_ps();
        } else if (t->bias_per_col) {
            c0[i] = _mm256_maskload_ps(t->bias, k0);
            c1[i] = _mm256_maskload_ps(t->bias + 8, k1);
        } else {
            c0[i] = _mm256_set1_ps(t->bias[i]);
            c1[i] = c0[i];
        }
    }
    const float *a = t->a, *b = t->b;
    size_t rs = t->a_rs, cs = t->a_cs;
    int32_t kc = t->kc;
    if (mr == 1) {
        /* 1 row: four partial sums per 8 columns, k = 4q + r into sum r */
        __m256 s0[4], s1[4];
        s0[0] = c0[0];
        s1[0] = c1[0];
        for (int r = 1; r < 4; r++) s0[r] = s1[r] = _mm256_setzero_ps();
        int32_t k = 0;
        for (; k + 4 <= kc; k += 4) {
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                __m256 av = _mm256_set1_ps(a[(size_t)(k + r) * cs]);
                s0[r] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + (size_t)(k + r) * NR), s0[r]);
                s1[r] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + (size_t)(k + r) * NR + 8), s1[r]);
            }
        }
        for (; k < kc; k++) {
            __m256 av = _mm256_set1_ps(a[(size_t)k * cs]);
            s0[0] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + (size_t)k * NR), s0[0]);
            s1[0] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + (size_t)k * NR + 8), s1[0]);
        }
        c0[0] = _mm256_add_ps(_mm256_add_ps(s0[0], s0[1]), _mm256_add_ps(s0[2], s0[3]));
        c1[0] = _mm256_add_ps(_mm256_add_ps(s1[0], s1[1]), _mm256_add_ps(s1[2], s1[3]));
    } else {
        for (int32_t k = 0; k < kc; k++) {
            __m256 b0 = _mm256_loadu_ps(b);
            __m256 b1 = _mm256_loadu_ps(b + 8);
            b += NR;
#pragma GCC unroll 6
            for (int i = 0; i < mr; i++) {
                __m256 av = _mm256_set1_ps(a[(size_t)i * rs]);
                c0[i] = _mm256_fmadd_ps(av, b0, c0[i]);
                c1[i] = _mm256_fmadd_ps(av, b1, c1[i]);
            }
            a += cs;
        }
    }
    if (t->last) {
        __m256 lo = _mm256_set1_ps(t->lo), hi = _mm256_set1_ps(t->hi);
#pragma GCC unroll 6
        for (int i = 0; i < mr; i++) {
            c0[i] = clamp8(c0[i], lo, hi);
            c1[i] = clamp8(c1[i], lo, hi);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) {
        float *crow = t->c + (size_t)i * ldc;
        _mm256_maskstore_ps(crow, k0, c0[i]);
        _mm256_maskstore_ps(crow + 8, k1, c1[i]);
    }
}

/* one function per tile height, so each is fully unrolled with its accumulators in registers */
#define TILE(R) \
    static void sgemm_##R##x16_avx2(const irc_sgemm_tile *t) { tile_mrx16(t, R); }
TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6)
#undef TILE

static void ukernel_avx2(const irc_sgemm_tile *t) {
    switch (t->mr) {
    case 1: sgemm_1x16_avx2(t); break;
    case 2: sgemm_2x16_avx2(t); break;
    case 3: sgemm_3x16_avx2(t); break;
    case 4: sgemm_4x16_avx2(t); break;
    case 5: sgemm_5x16_avx2(t); break;
    default: sgemm_6x16_avx2(t); break;
    }
}

static void run_avx2(const irc_sgemm_args *p) {
    irc_sgemm_drive(p, MR, NR, 256, 512, ukernel_avx2);
}

#pragma GCC pop_options

static size_t packed_size_avx2(int32_t K, int32_t N) {
    return irc_sgemm_packed_size_nr(K, N, NR);
}

static void pack_b_avx2(int32_t K, int32_t N, const float *src, ptrdiff_t rs, ptrdiff_t cs,
                          int32_t p0, int32_t p1, float *dst) {
    irc_sgemm_pack_b_nr(K, N, src, rs, cs, p0, p1, dst, NR);
}

static size_t packed_a_size_avx2(int32_t M, int32_t K) {
    return irc_sgemm_packed_a_size_mr(M, K, MR);
}

static void pack_a_avx2(int32_t M, int32_t K, const float *src, size_t lda, float *dst) {
    irc_sgemm_pack_a_mr(M, K, src, lda, dst, MR);
}

const irc_sgemm_family irc_sgemm_avx2 = {
    "avx2", IRC_ISA_AVX2, MR, NR, packed_size_avx2, pack_b_avx2, run_avx2,
    packed_a_size_avx2, pack_a_avx2,
};
#endif
