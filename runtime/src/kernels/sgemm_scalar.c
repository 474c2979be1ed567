/*
 * sgemm_scalar.c — the portable float32 GEMM (the reference twin of every ISA
 * family), and what all families share: B packing and the blocking driver
 * (sgemm.h has the contract).
 *
 * Blocking (Goto/BLIS order):
 *   for each column block of nc        (its kc×nc slice of packed B stays in L2)
 *     for each K block of kc           (C accumulates across K blocks: bias at the
 *                                       first, clamp at the last)
 *       for each strip of mr rows      (packed k-major into a stack buffer: it stays
 *                                       in L1, and the kernel's broadcasts read it
 *                                       sequentially; read in place when the strip
 *                                       meets fewer than 3 panels, where packing
 *                                       would cost as much as it saves)
 *         for each nr-wide panel       → the family's micro-kernel
 */
#include "sgemm.h"

#include <math.h>
#include <string.h>

#include "../internal.h"

size_t irc_sgemm_packed_size_nr(int32_t K, int32_t N, int nr) {
    size_t panels = ((size_t)N + (size_t)nr - 1) / (size_t)nr;
    return panels * (size_t)K * (size_t)nr * sizeof(float);
}

void irc_sgemm_pack_b_nr(int32_t K, int32_t N, const float *src, ptrdiff_t rs, ptrdiff_t cs,
                         int32_t p0, int32_t p1, float *dst, int nr) {
    for (int32_t p = p0; p < p1; p++) {
        float *panel = dst + (size_t)p * (size_t)K * (size_t)nr;
        int32_t n0 = p * nr;
        int nc = N - n0 < nr ? (int)(N - n0) : nr;
        for (int32_t k = 0; k < K; k++) {
            float *row = panel + (size_t)k * (size_t)nr;
            const float *s = src + (ptrdiff_t)k * rs + (ptrdiff_t)n0 * cs;
            if (cs == 1) {
                memcpy(row, s, (size_t)nc * sizeof(float));
            } else {
                for (int j = 0; j < nc; j++) row[j] = s[(ptrdiff_t)j * cs];
            }
            for (int j = nc; j < nr; j++) row[j] = 0.0f;
        }
    }
}

size_t irc_sgemm_packed_a_size_mr(int32_t M, int32_t K, int mr) {
    size_t strips = ((size_t)M + (size_t)mr - 1) / (size_t)mr;
    return strips * (size_t)K * (size_t)mr * sizeof(float);
}

void irc_sgemm_pack_a_mr(int32_t M, int32_t K, const float *src, size_t lda, float *dst, int mr) {
    for (int32_t m0 = 0; m0 < M; m0 += mr) {
        float *strip = dst + (size_t)(m0 / mr) * (size_t)K * (size_t)mr;
        for (int32_t k = 0; k < K; k++)
            for (int i = 0; i < mr; i++)
                strip[(size_t)k * (size_t)mr + (size_t)i] =
                    m0 + i < M ? src[(size_t)(m0 + i) * lda + (size_t)k] : 0.0f;
    }
}

void irc_sgemm_drive(const irc_sgemm_args *p, int mr, int nr, int32_t kc_max, int32_t nc_max,
                     irc_sgemm_ukernel uk) {
    float apack[IRC_SGEMM_MR_MAX * IRC_SGEMM_KC_MAX];
    int32_t K = p->K;
    /* equal K blocks (no short last one): kc = ceil(K / ceil(K / kc_max)) */
    int32_t nblocks = (K + kc_max - 1) / kc_max;
    int32_t kc_even = (K + nblocks - 1) / nblocks;
    int clamp = !(p->lo == -INFINITY && p->hi == INFINITY);
    irc_sgemm_tile t;
    t.ldc = p->ldc;
    t.bias_per_col = p->bias_per_col;
    t.lo = p->lo;
    t.hi = p->hi;
    for (int32_t jc = p->n0; jc < p->n1; jc += nc_max) {
        int32_t jc_end = p->n1 - jc < nc_max ? p->n1 : jc + nc_max;
        for (int32_t pc = 0; pc < K; pc += kc_even) {
            t.kc = K - pc < kc_even ? K - pc : kc_even;
            t.first = pc == 0;
            t.last = clamp && pc + t.kc >= K;
            int pack = jc_end - jc > 4 * nr;
            for (int32_t ir = p->m0; ir < p->m1; ir += mr) {
                t.mr = p->m1 - ir < mr ? (int)(p->m1 - ir) : mr;
                if (p->ap) {
                    /* packed at load: strip ir / mr, K block pc */
                    t.a = p->ap + (size_t)(ir / mr) * (size_t)K * (size_t)mr + (size_t)pc * (size_t)mr;
                    t.a_rs = 1;
                    t.a_cs = (size_t)mr;
                } else if (pack) {
                    const float *a = p->a + (size_t)ir * p->lda + (size_t)pc;
                    /* apack[k*mr + i] = A[ir + i][pc + k] */
                    for (int i = 0; i < t.mr; i++) {
                        const float *arow = a + (size_t)i * p->lda;
                        for (int32_t k = 0; k < t.kc; k++)
                            apack[(size_t)k * (size_t)mr + (size_t)i] = arow[k];
                    }
                    t.a = apack;
                    t.a_rs = 1;
                    t.a_cs = (size_t)mr;
                } else {
                    t.a = p->a + (size_t)ir * p->lda + (size_t)pc;
                    t.a_rs = p->lda;
                    t.a_cs = 1;
                }
                for (int32_t jr = jc; jr < jc_end; jr += nr) {
                    t.nc = jc_end - jr < nr ? (int)(jc_end - jr) : nr;
                    t.b = p->b + (size_t)(jr / nr) * (size_t)K * (size_t)nr + (size_t)pc * (size_t)nr;
                    t.c = p->c + (size_t)ir * p->ldc + (size_t)jr;
                    t.bias = !p->bias ? NULL : p->bias_per_col ? p->bias + jr : p->bias + ir;
                    uk(&t);
                }
            }
        }
    }
}

/* --- the scalar micro-kernel: MR×NR = 4×8 ------------------------------------------------- */

#define SCALAR_MR 4
#define SCALAR_NR 8

/* numpy.clip's order: min(max(v, lo), hi), NaN v stays NaN */
static float clamp1(float v, float lo, float hi) {
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    return v;
}

static void sgemm_4x8_scalar(const irc_sgemm_tile *t) {
    float acc[SCALAR_MR][SCALAR_NR];
    for (int i = 0; i < t->mr; i++) {
        for (int j = 0; j < t->nc; j++) {
            float init = 0.0f;
            if (!t->first) init = t->c[(size_t)i * t->ldc + (size_t)j];
            else if (t->bias) init = t->bias[t->bias_per_col ? j : i];
            acc[i][j] = init;
        }
        for (int j = t->nc; j < SCALAR_NR; j++) acc[i][j] = 0.0f;
    }
    for (int32_t k = 0; k < t->kc; k++) {
        const float *brow = t->b + (size_t)k * SCALAR_NR;
        for (int i = 0; i < t->mr; i++) {
            float a = t->a[(size_t)i * t->a_rs + (size_t)k * t->a_cs];
            for (int j = 0; j < SCALAR_NR; j++) acc[i][j] += a * brow[j];
        }
    }
    for (int i = 0; i < t->mr; i++)
        for (int j = 0; j < t->nc; j++)
            t->c[(size_t)i * t->ldc + (size_t)j] =
                t->last ? clamp1(acc[i][j], t->lo, t->hi) : acc[i][j];
}

static size_t packed_size_scalar(int32_t K, int32_t N) {
    return irc_sgemm_packed_size_nr(K, N, SCALAR_NR);
}

static void pack_b_scalar(int32_t K, int32_t N, const float *src, ptrdiff_t rs, ptrdiff_t cs,
                          int32_t p0, int32_t p1, float *dst) {
    irc_sgemm_pack_b_nr(K, N, src, rs, cs, p0, p1, dst, SCALAR_NR);
}

static size_t packed_a_size_scalar(int32_t M, int32_t K) {
    return irc_sgemm_packed_a_size_mr(M, K, SCALAR_MR);
}

static void pack_a_scalar(int32_t M, int32_t K, const float *src, size_t lda, float *dst) {
    irc_sgemm_pack_a_mr(M, K, src, lda, dst, SCALAR_MR);
}

static void run_scalar(const irc_sgemm_args *p) {
    irc_sgemm_drive(p, SCALAR_MR, SCALAR_NR, 256, 512, sgemm_4x8_scalar);
}

const irc_sgemm_family irc_sgemm_scalar = {
    "scalar", IRC_ISA_SCALAR, SCALAR_MR, SCALAR_NR, packed_size_scalar, pack_b_scalar, run_scalar,
    packed_a_size_scalar, pack_a_scalar,
};
