/*
 * sgemm_avx512.c — float32 GEMM, AVX-512F: micro-tiles of 12×32 (sgemm.h has the
 * contract, sgemm_scalar.c the shared blocking driver).
 *
 * Registers: 24 accumulators (12 rows × 2 zmm of 16 columns), 2 for the B row,
 * the A element broadcast from memory into each FMA pair.  Per k step: 2 B loads,
 * 12 broadcasts, 24 FMAs — enough independent chains for two FMA pipes with a
 * 4-cycle latency.  A 1-row tile (M = 1, a GEMV) splits k four ways instead, so
 * it has 8 chains.  Column tails use masked loads and stores (B panels are
 * zero-padded, so the arithmetic itself needs no mask).
 */
#include "sgemm.h"

#include "../internal.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f")

#define MR 12
#define NR 32

/* numpy.clip order min(max(v, lo), hi); maxps/minps return their second operand when
 * either is NaN, so v goes second and a NaN v stays NaN. */
static inline __m512 clamp16(__m512 v, __m512 lo, __m512 hi) {
    return _mm512_min_ps(hi, _mm512_max_ps(lo, v));
}

static inline __attribute__((always_inline)) void tile_mrx32(const irc_sgemm_tile *t, const int mr) {
    __m512 c0[MR], c1[MR];
    int nc = t->nc;
    __mmask16 k0 = nc >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nc) - 1u);
    __mmask16 k1 = nc >= 32 ? (__mmask16)0xFFFF : nc > 16 ? (__mmask16)((1u << (nc - 16)) - 1u)
                                                          : (__mmask16)0;
    size_t ldc = t->ldc;
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        float *crow = t->c + (size_t)i * ldc;
        if (!t->first) {
            c0[i] = _mm512_maskz_loadu_ps(k0, crow);
            c1[i] = _mm512_maskz_loadu_ps(k1, crow + 16);
        } else if (!t->bias) {
            c0[i] = _mm512_setzero_ps();
            c1[i] = _mm512_setzero_ps();
        } else if (t->bias_per_col) {
            c0[i] = _mm512_maskz_loadu_ps(k0, t->bias);
            c1[i] = _mm512_maskz_loadu_ps(k1, t->bias + 16);
        } else {
            c0[i] = _mm512_set1_ps(t->bias[i]);
            c1[i] = c0[i];
        }
    }
    const float *a = t->a, *b = t->b;
    size_t rs = t->a_rs, cs = t->a_cs;
    int32_t kc = t->kc;
    if (mr == 1) {
        /* 1 row: four partial sums per 16 columns, k = 4q + r into sum r */
        __m512 s0[4], s1[4];
        s0[0] = c0[0];
        s1[0] = c1[0];
        for (int r = 1; r < 4; r++) s0[r] = s1[r] = _mm512_setzero_ps();
        int32_t k = 0;
        for (; k + 4 <= kc; k += 4) {
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                __m512 av = _mm512_set1_ps(a[(size_t)(k + r) * cs]);
                s0[r] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b + (size_t)(k + r) * NR), s0[r]);
                s1[r] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b + (size_t)(k + r) * NR + 16), s1[r]);
            }
        }
        for (; k < kc; k++) {
            __m512 av = _mm512_set1_ps(a[(size_t)k * cs]);
            s0[0] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b + (size_t)k * NR), s0[0]);
            s1[0] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b + (size_t)k * NR + 16), s1[0]);
        }
        c0[0] = _mm512_add_ps(_mm512_add_ps(s0[0], s0[1]), _mm512_add_ps(s0[2], s0[3]));
        c1[0] = _mm512_add_ps(_mm512_add_ps(s1[0], s1[1]), _mm512_add_ps(s1[2], s1[3]));
    } else {
        for (int32_t k = 0; k < kc; k++) {
            __m512 b0 = _mm512_loadu_ps(b);
            __m512 b1 = _mm512_loadu_ps(b + 16);
            b += NR;
#pragma GCC unroll 12
            for (int i = 0; i < mr; i++) {
                __m512 av = _mm512_set1_ps(a[(size_t)i * rs]);
                c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
                c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
            }
            a += cs;
        }
    }
    if (t->last) {
        __m512 lo = _mm512_set1_ps(t->lo), hi = _mm512_set1_ps(t->hi);
#pragma GCC unroll 12
        for (int i = 0; i < mr; i++) {
            c0[i] = clamp16(c0[i], lo, hi);
            c1[i] = clamp16(c1[i], lo, hi);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        float *crow = t->c + (size_t)i * ldc;
        _mm512_mask_storeu_ps(crow, k0, c0[i]);
        _mm512_mask_storeu_ps(crow + 16, k1, c1[i]);
    }
}

/* one function per tile height, so each is fully unrolled with its accumulators in registers */
#define TILE(R) \
    static void sgemm_##R##x32_avx512(const irc_sgemm_tile *t) { tile_mrx32(t, R); }
TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6) TILE(7) TILE(8) TILE(9) TILE(10) TILE(11) TILE(12)
#undef TILE

static void ukernel_avx512(const irc_sgemm_tile *t) {
    switch (t->mr) {
    case 1: sgemm_1x32_avx512(t); break;
    case 2: sgemm_2x32_avx512(t); break;
    case 3: sgemm_3x32_avx512(t); break;
    case 4: sgemm_4x32_avx512(t); break;
    case 5: sgemm_5x32_avx512(t); break;
    case 6: sgemm_6x32_avx512(t); break;
    case 7: sgemm_7x32_avx512(t); break;
    case 8: sgemm_8x32_avx512(t); break;
    case 9: sgemm_9x32_avx512(t); break;
    case 10: sgemm_10x32_avx512(t); break;
    case 11: sgemm_11x32_avx512(t); break;
    default: sgemm_12x32_avx512(t); break;
    }
}

static void run_avx512(const irc_sgemm_args *p) {
    irc_sgemm_drive(p, MR, NR, 256, 512, ukernel_avx512);
}

#pragma GCC pop_options

static size_t packed_size_avx512(int32_t K, int32_t N) {
    return irc_sgemm_packed_size_nr(K, N, NR);
}

static void pack_b_avx512(int32_t K, int32_t N, const float *src, ptrdiff_t rs, ptrdiff_t cs,
                          int32_t p0, int32_t p1, float *dst) {
    irc_sgemm_pack_b_nr(K, N, src, rs, cs, p0, p1, dst, NR);
}

static size_t packed_a_size_avx512(int32_t M, int32_t K) {
    return irc_sgemm_packed_a_size_mr(M, K, MR);
}

static void pack_a_avx512(int32_t M, int32_t K, const float *src, size_t lda, float *dst) {
    irc_sgemm_pack_a_mr(M, K, src, lda, dst, MR);
}

const irc_sgemm_family irc_sgemm_avx512 = {
    "avx512", IRC_ISA_AVX512VNNI, MR, NR, packed_size_avx512, pack_b_avx512, run_avx512,
    packed_a_size_avx512, pack_a_avx512,
};
#endif
