/*
 * spmm_scalar.c — the portable twin of the spmm family (spmm.h): the reference
 * every ISA variant must match (bit for bit on int8).
 */
#include "spmm.h"

#include "../fixedpoint.h"
#include "../internal.h"

void irc_spmm_f32_scalar_run(const irc_spmm_f32_args *a) {
    const irc_spmm_w *w = a->w;
    const float *vals = (const float *)w->vals;
    const int32_t R = w->R;
    for (int32_t b = a->b0; b < a->b1; b++) {
        for (int32_t r = 0; r < R; r++) {
            const int32_t n = b * R + r;
            if (n >= w->N) break;
            const float bias = a->bias ? a->bias[n] : 0.0f;
            float *yrow = a->y + (size_t)n * a->ldy;
            for (int32_t m = a->m0; m < a->m1; m++) {
                float acc = bias;
                for (int32_t e = w->ptr[b]; e < w->ptr[b + 1]; e++)
                    acc += vals[(size_t)e * R + r] * a->x[(size_t)w->kidx[e] * a->ldx + m];
                acc = acc < a->lo ? a->lo : acc;
                yrow[m] = acc > a->hi ? a->hi : acc;
            }
        }
    }
}

void irc_spmm_q8_scalar_run(const irc_spmm_q8_args *a) {
    const irc_spmm_w *w = a->w;
    const int8_t *vals = (const int8_t *)w->vals;
    const int32_t R = w->R;
    for (int32_t b = a->b0; b < a->b1; b++) {
        for (int32_t r = 0; r < R; r++) {
            const int32_t n = b * R + r;
            if (n >= w->N) break;
            for (int32_t m = a->m0; m < a->m1; m++) {
                uint32_t acc = a->bias ? (uint32_t)a->bias[n] : 0u;   /* wrapping int32 */
                for (int32_t e = w->ptr[b]; e < w->ptr[b + 1]; e++) {
                    const uint8_t *xq = a->x + ((size_t)w->kidx[e] * a->ldx + (size_t)m) * 4;
                    const int8_t *wq = vals + ((size_t)e * R + (size_t)r) * 4;
                    for (int j = 0; j < 4; j++) {
                        const int32_t xv = a->x_signed ? (int32_t)(int8_t)xq[j] : (int32_t)xq[j];
                        acc += (uint32_t)(xv * (int32_t)wq[j]);
                    }
                }
                const int32_t v = (int32_t)acc;
                if (!a->mult) {
                    ((int32_t *)a->y)[(size_t)n * a->ldy + (size_t)m] = v;
                    continue;
                }
                const int32_t q = irc_requant(v, a->mult[n], a->shift[n], a->out_zp, a->lo, a->hi);
                if (a->out_signed)
                    ((int8_t *)a->y)[(size_t)n * a->ldy + (size_t)m] = (int8_t)q;
                else
                    ((uint8_t *)a->y)[(size_t)n * a->ldy + (size_t)m] = (uint8_t)q;
            }
        }
    }
}

const irc_spmm_f32_family irc_spmm_f32_scalar = {"scalar", IRC_ISA_SCALAR, irc_spmm_f32_scalar_run};
const irc_spmm_q8_family irc_spmm_q8_scalar = {"scalar", IRC_ISA_SCALAR, 0, irc_spmm_q8_scalar_run};
