/*
 * qgemm_scalar.c — the portable int8 GEMM, the reference twin of every ISA
 * family (qgemm.h has the contract).  B is packed column by column,
 * B[k][n] at packed[n*K + k], so each output is one contiguous dot product.
 * Accumulation is in uint32 so wrapping is defined; the int32 result is the
 * same bits.
 */
#include "qgemm.h"

#include <string.h>

#include "../fixedpoint.h"
#include "../internal.h"

size_t irc_qgemm_scalar_packed_size(int32_t K, int32_t N) {
    return (size_t)K * (size_t)N;
}

void irc_qgemm_scalar_pack_b(int32_t K_src, int32_t K, int32_t N, const uint8_t *src, ptrdiff_t rs,
                          ptrdiff_t cs, uint8_t xor_mask, void *dst) {
    uint8_t *out = dst;
    for (int32_t n = 0; n < N; n++) {
        for (int32_t k = 0; k < K_src; k++) out[(size_t)n * K + k] = src[k * rs + n * cs] ^ xor_mask;
        memset(out + (size_t)n * K + K_src, 0, (size_t)(K - K_src));
    }
}

void irc_qgemm_scalar_run(const irc_qgemm_args *p) {
    const uint8_t *bp = p->b;
    for (int32_t m = p->m0; m < p->m1; m++) {
        const uint8_t *arow = (const uint8_t *)p->a + (size_t)m * p->lda;
        for (int32_t n = p->n0; n < p->n1; n++) {
            const uint8_t *bcol = bp + (size_t)n * p->K;
            int32_t c = p->per_col ? n : m;
            uint32_t acc = p->bias ? (uint32_t)p->bias[c] : 0u;
            if (p->row_bias && p->per_col) acc += (uint32_t)p->row_bias[m];
            if (p->a_is_act) {          /* A uint8 activations, B int8 weights */
                for (int32_t k = 0; k < p->K; k++)
                    acc += (uint32_t)((int32_t)arow[k] * (int32_t)(int8_t)bcol[k]);
            } else {                    /* A int8 weights, B uint8 activations */
                for (int32_t k = 0; k < p->K; k++)
                    acc += (uint32_t)((int32_t)(int8_t)arow[k] * (int32_t)bcol[k]);
            }
            size_t at = (size_t)m * p->ldc + (size_t)n;
            if (!p->mult) {
                ((int32_t *)p->c)[at] = (int32_t)acc;
                continue;
            }
            int32_t y = irc_requant((int32_t)acc, p->mult[c], p->shift[c], p->out_zp, p->lo, p->hi);
            if (p->out_signed) ((int8_t *)p->c)[at] = (int8_t)y;
            else ((uint8_t *)p->c)[at] = (uint8_t)y;
        }
    }
}

const irc_qgemm_family irc_qgemm_scalar = {
    "scalar", IRC_ISA_SCALAR, 0, 1, 1, irc_qgemm_scalar_packed_size, irc_qgemm_scalar_pack_b,
    irc_qgemm_scalar_run,
};
