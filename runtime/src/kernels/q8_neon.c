/*
 * q8_neon.c — the q8 family (q8.h) for arm64 NEON: q8_kernels.inc with 4-lane
 * int32 vectors.  NEON is architectural on arm64, so no target pragma is needed.
 *
 * MBQM, exactly (q8_kernels.inc has the identities):
 *   h = SQRDMULH(x << left, m)                        (SRDHM, the gemmlowp primitive)
 *   y = SRSHL(SQADD(h, (h & −right) >> 31), −right)   (RDBP: round half away from zero)
 * Depthwise taps: SMLAL / SMLAL2 of int16 inputs by the tap's int16 weight.
 */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#include "../internal.h"
#include "q8.h"

#define Q8_SUFFIX neon
#define Q8_NAME "neon"
#define Q8_ISA IRC_ISA_NEON
#define Q8_VL 4

typedef int32x4_t q8_v;
typedef struct q8_rq {
    int32x4_t m, left, negright, lo, hi, zy;   /* lo, hi: the clamp bounds minus zy */
    int out_signed;
} q8_rq;

static void q8_rq_init(q8_rq *r, int32_t m, int32_t shift, int32_t zy, int32_t lo, int32_t hi,
                       int out_signed) {
    r->m = vdupq_n_s32(m);
    r->left = vdupq_n_s32(shift > 0 ? shift : 0);
    r->negright = vdupq_n_s32(shift > 0 ? 0 : shift);
    r->lo = vdupq_n_s32(lo - zy);
    r->hi = vdupq_n_s32(hi - zy);
    r->zy = vdupq_n_s32(zy);
    r->out_signed = out_signed;
}

static inline q8_v q8_dup(int32_t v) { return vdupq_n_s32(v); }
static inline q8_v q8_add(q8_v a, q8_v b) { return vaddq_s32(a, b); }
static inline q8_v q8_sub(q8_v a, q8_v b) { return vsubq_s32(a, b); }
static inline q8_v q8_mul(q8_v a, q8_v b) { return vmulq_s32(a, b); }
static inline q8_v q8_shl(q8_v a, int k) { return vshlq_s32(a, vdupq_n_s32(k)); }
static inline int8x8_t q8_load4(const void *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return vreinterpret_s8_s32(vdup_n_s32(v));
}
static inline q8_v q8_load_i8(const int8_t *p) {
    return vmovl_s16(vget_low_s16(vmovl_s8(q8_load4(p))));
}
static inline q8_v q8_load_u8(const uint8_t *p) {
    return vreinterpretq_s32_u32(
        vmovl_u16(vget_low_u16(vmovl_u8(vreinterpret_u8_s8(q8_load4(p))))));
}
static inline q8_v q8_load_i32(const int32_t *p) { return vld1q_s32(p); }

static inline q8_v q8_mbqm(q8_v x, const q8_rq *r) {
    int32x4_t h = vqrdmulhq_s32(vshlq_s32(x, r->left), r->m);
    int32x4_t fixup = vshrq_n_s32(vandq_s32(h, r->negright), 31);
    return vrshlq_s32(vqaddq_s32(h, fixup), r->negright);
}

static inline q8_v q8_finish(q8_v v, const q8_rq *r) {
    return vaddq_s32(vminq_s32(vmaxq_s32(v, r->lo), r->hi), r->zy);
}

static inline void q8_store_8(void *p, q8_v v) {
    int16x4_t h = vmovn_s32(v);
    int8x8_t b = vmovn_s16(vcombine_s16(h, h));
    int32_t w = vget_lane_s32(vreinterpret_s32_s8(b), 0);
    memcpy(p, &w, sizeof w);
}
static inline void q8_store_i32(void *p, q8_v v) { vst1q_s32((int32_t *)p, v); }

/* nsub sub-blocks of 8 lanes (4 or 8; a constant after inlining). */
static inline void q8_dw_block_n(const int16_t *base, const int32_t *off, const int16_t *w16,
                                 int ntaps, int32_t bias, const q8_rq *rq, uint8_t *out,
                                 const int nsub) {
    int32x4_t acc[16];
#pragma GCC unroll 16
    for (int k = 0; k < 2 * nsub; k++) acc[k] = vdupq_n_s32(bias);
    for (int t = 0; t < ntaps; t++) {
        const int16_t *s = base + off[t];
        int16_t w = w16[t];
#pragma GCC unroll 8
        for (int k = 0; k < nsub; k++) {
            int16x8_t v = vld1q_s16(s + 8 * k);
            acc[2 * k] = vmlal_n_s16(acc[2 * k], vget_low_s16(v), w);
            acc[2 * k + 1] = vmlal_high_n_s16(acc[2 * k + 1], v, w);
        }
    }
#pragma GCC unroll 8
    for (int k = 0; k < nsub; k++) {
        int16x8_t v = vcombine_s16(vqmovn_s32(q8_finish(q8_mbqm(acc[2 * k], rq), rq)),
                                   vqmovn_s32(q8_finish(q8_mbqm(acc[2 * k + 1], rq), rq)));
        if (rq->out_signed) vst1_s8((int8_t *)out + 8 * k, vqmovn_s16(v));
        else vst1_u8(out + 8 * k, vqmovun_s16(v));
    }
}

/* Not inlined into the tile loop: a leaf keeps its accumulators in registers. */
__attribute__((noinline)) static void q8_dw_block(const int16_t *base, const int32_t *off,
                                                  const int16_t *w16, int ntaps, int32_t bias,
                                                  const q8_rq *rq, uint8_t *out, int lanes) {
    if (lanes > 32) q8_dw_block_n(base, off, w16, ntaps, bias, rq, out, 8);
    else q8_dw_block_n(base, off, w16, ntaps, bias, rq, out, 4);
}

/* 256-entry lookup: TBL over the first 64 entries, then TBX (out-of-range lanes keep
 * their value) over the next three quarters with the index lowered by 64 each time. */
#define Q8_HAVE_LUT_SIMD 1
static size_t q8_lut_simd(const uint8_t *table, const uint8_t *x, uint8_t *y, size_t n,
                          uint8_t flip) {
    uint8x16x4_t t[4];
    for (int q = 0; q < 4; q++)
        for (int k = 0; k < 4; k++) t[q].val[k] = vld1q_u8(table + 64 * q + 16 * k);
    const uint8x16_t f = vdupq_n_u8(flip), c64 = vdupq_n_u8(64);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        uint8x16_t v = veorq_u8(vld1q_u8(x + i), f);
        uint8x16_t r = vqtbl4q_u8(t[0], v);
        v = vsubq_u8(v, c64);
        r = vqtbx4q_u8(r, t[1], v);
        v = vsubq_u8(v, c64);
        r = vqtbx4q_u8(r, t[2], v);
        v = vsubq_u8(v, c64);
        r = vqtbx4q_u8(r, t[3], v);
        vst1q_u8(y + i, r);
    }
    return i;
}

#include "q8_kernels.inc"

#if Q8_NB != 64
#error "q8_dw_block computes 64 lanes"
#endif

#endif
