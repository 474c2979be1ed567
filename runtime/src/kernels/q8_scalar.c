/*
 * q8_scalar.c — the portable q8 family (q8.h), the twin every ISA variant is
 * tested against: q8_kernels.inc with one-lane "vectors", whose requantization
 * is fixedpoint.h's own irc_mbqm.
 */
#include <string.h>

#include "../fixedpoint.h"
#include "../internal.h"
#include "q8.h"

#define Q8_SUFFIX scalar
#define Q8_NAME "scalar"
#define Q8_ISA IRC_ISA_SCALAR
#define Q8_VL 1

typedef int32_t q8_v;
typedef struct q8_rq {
    int32_t m, shift, zy, lo, hi;   /* lo, hi: the clamp bounds minus zy */
} q8_rq;

static void q8_rq_init(q8_rq *r, int32_t m, int32_t shift, int32_t zy, int32_t lo, int32_t hi,
                       int out_signed) {
    (void)out_signed;
    r->m = m;
    r->shift = shift;
    r->zy = zy;
    r->lo = lo - zy;
    r->hi = hi - zy;
}

/* Lane arithmetic wraps mod 2^32 (in uint32: no signed overflow). */
static q8_v q8_dup(int32_t v) { return v; }
static q8_v q8_add(q8_v a, q8_v b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static q8_v q8_sub(q8_v a, q8_v b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
static q8_v q8_mul(q8_v a, q8_v b) { return (int32_t)((uint32_t)a * (uint32_t)b); }
static q8_v q8_shl(q8_v a, int k) { return (int32_t)((uint32_t)a << k); }
static q8_v q8_load_i8(const int8_t *p) { return *p; }
static q8_v q8_load_u8(const uint8_t *p) { return *p; }
static q8_v q8_load_i32(const int32_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static q8_v q8_mbqm(q8_v v, const q8_rq *r) { return irc_mbqm(v, r->m, r->shift); }
static q8_v q8_finish(q8_v v, const q8_rq *r) {
    return (v < r->lo ? r->lo : (v > r->hi ? r->hi : v)) + r->zy;
}
static void q8_store_8(void *p, q8_v v) { *(uint8_t *)p = (uint8_t)(v & 0xFF); }
static void q8_store_i32(void *p, q8_v v) { memcpy(p, &v, sizeof v); }

static void q8_dw_block(const int16_t *base, const int32_t *off, const int16_t *w16, int ntaps,
                        int32_t bias, const q8_rq *rq, uint8_t *out, int lanes);

#include "q8_kernels.inc"

static void q8_dw_block(const int16_t *base, const int32_t *off, const int16_t *w16, int ntaps,
                        int32_t bias, const q8_rq *rq, uint8_t *out, int lanes) {
    uint32_t acc[Q8_NB];
    for (int k = 0; k < lanes; k++) acc[k] = (uint32_t)bias;
    for (int t = 0; t < ntaps; t++) {
        const int16_t *s = base + off[t];
        int32_t wt = w16[t];
        for (int k = 0; k < lanes; k++) acc[k] += (uint32_t)(s[k] * wt);
    }
    for (int k = 0; k < lanes; k++) q8_store_8(out + k, q8_finish(q8_mbqm((int32_t)acc[k], rq), rq));
}
