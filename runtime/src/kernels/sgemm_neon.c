/*
 * sgemm_neon.c — float32 GEMM, AArch64 NEON: micro-tiles of 8×8 (sgemm.h has the
 * contract, sgemm_scalar.c the shared blocking driver).
 *
 * Registers: 16 accumulators (8 rows × 2 q-registers of 4 columns), 2 for the B
 * row; each A element is multiplied in by-element (fmla v.4s, v.4s, v.s[0]).
 * Column tails go through a small buffer (NEON has no masked loads or stores).
 */
#include "sgemm.h"

#include "../internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#define MR 8
#define NR 8

/* numpy.clip order min(max(v, lo), hi); a NaN v stays NaN (vmaxq/vminq propagate NaN) */
static inline float32x4_t clamp4(float32x4_t v, float32x4_t lo, float32x4_t hi) {
    return vminq_f32(vmaxq_f32(v, lo), hi);
}

static inline __attribute__((always_inline)) void tile_mrx8(const irc_sgemm_tile *t, const int mr) {
    float32x4_t c0[MR], c1[MR];
    float tmp[MR * NR];
    int full = t->nc == NR;
    float *cbase = full ? t->c : tmp;
    size_t ldc = full ? t->ldc : NR;
    if (!full && !t->first)
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < NR; j++)
                tmp[i * NR + j] = j < t->nc ? t->c[(size_t)i * t->ldc + (size_t)j] : 0.0f;
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++) {
        const float *crow = cbase + (size_t)i * ldc;
        if (!t->first) {
            c0[i] = vld1q_f32(crow);
            c1[i] = vld1q_f32(crow + 4);
        } else if (!t->bias) {
            c0[i] = vdupq_n_f32(0.0f);
            c1[i] = vdupq_n_f32(0.0f);
        } else if (t->bias_per_col) {
            float bb[NR];
            for (int j = 0; j < NR; j++) bb[j] = j < t->nc ? t->bias[j] : 0.0f;
            c0[i] = vld1q_f32(bb);
            c1[i] = vld1q_f32(bb + 4);
        } else {
            c0[i] = vdupq_n_f32(t->bias[i]);
            c1[i] = c0[i];
        }
    }
    const float *a = t->a, *b = t->b;
    size_t rs = t->a_rs, cs = t->a_cs;
    for (int32_t k = 0; k < t->kc; k++) {
        float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4);
        b += NR;
#pragma GCC unroll 8
        for (int i = 0; i < mr; i++) {
            float av = a[(size_t)i * rs];
            c0[i] = vfmaq_n_f32(c0[i], b0, av);
            c1[i] = vfmaq_n_f32(c1[i], b1, av);
        }
        a += cs;
    }
    if (t->last) {
        float32x4_t lo = vdupq_n_f32(t->lo), hi = vdupq_n_f32(t->hi);
#pragma GCC unroll 8
        for (int i = 0; i < mr; i++) {
            c0[i] = clamp4(c0[i], lo, hi);
            c1[i] = clamp4(c1[i], lo, hi);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++) {
        float *crow = cbase + (size_t)i * ldc;
        vst1q_f32(crow, c0[i]);
        vst1q_f32(crow + 4, c1[i]);
    }
    if (!full)
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < t->nc; j++) t->c[(size_t)i * t->ldc + (size_t)j] = tmp[i * NR + j];
}

/* one function per tile height, so each is fully unrolled with its accumulators in registers */
#define TILE(R) \
    static void sgemm_##R##x8_neon(const irc_sgemm_tile *t) { tile_mrx8(t, R); }
TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6) TILE(7) TILE(8)
#undef TILE

static void ukernel_neon(const irc_sgemm_tile *t) {
    switch (t->mr) {
    case 1: sgemm_1x8_neon(t); break;
    case 2: sgemm_2x8_neon(t); break;
    case 3: sgemm_3x8_neon(t); break;
    case 4: sgemm_4x8_neon(t); break;
    case 5: sgemm_5x8_neon(t); break;
    case 6: sgemm_6x8_neon(t); break;
    case 7: sgemm_7x8_neon(t); break;
    default: sgemm_8x8_neon(t); break;
    }
}

static void run_neon(const irc_sgemm_args *p) {
    irc_sgemm_drive(p, MR, NR, 256, 512, ukernel_neon);
}

static size_t packed_size_neon(int32_t K, int32_t N) {
    return irc_sgemm_packed_size_nr(K, N, NR);
}

static void pack_b_neon(int32_t K, int32_t N, const float *src, ptrdiff_t rs, ptrdiff_t cs,
                        int32_t p0, int32_t p1, float *dst) {
    irc_sgemm_pack_b_nr(K, N, src, rs, cs, p0, p1, dst, NR);
}

static size_t packed_a_size_neon(int32_t M, int32_t K) {
    return irc_sgemm_packed_a_size_mr(M, K, MR);
}

static void pack_a_neon(int32_t M, int32_t K, const float *src, size_t lda, float *dst) {
    irc_sgemm_pack_a_mr(M, K, src, lda, dst, MR);
}

const irc_sgemm_family irc_sgemm_neon = {
    "neon", IRC_ISA_NEON, MR, NR, packed_size_neon, pack_b_neon, run_neon,
    packed_a_size_neon, pack_a_neon,
};
#endif
