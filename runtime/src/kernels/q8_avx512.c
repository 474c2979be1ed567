/*
 * q8_avx512.c — the q8 family (q8.h) for AVX-512 (F, BW, VL, DQ, VNNI: the level
 * "avx512vnni" of kernels.h, whose CPUs have all of them): q8_kernels.inc with
 * 16-lane int32 vectors under a target pragma.  The arithmetic is q8_avx2.c's
 * (MBQM through vpmuldq on even and odd lanes; depthwise taps in pairs, here
 * through vpdpwssd = vpmaddwd + add), with mask registers for the blends and
 * vpmovdb for narrowing.
 */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <string.h>

#include "../internal.h"
#include "q8.h"

#pragma GCC push_options
#pragma GCC target("avx2,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")

#define Q8_SUFFIX avx512
#define Q8_NAME "avx512"
#define Q8_ISA IRC_ISA_AVX512VNNI
#define Q8_VL 16

typedef __m512i q8_v;
typedef struct q8_rq {
    __m512i m, nudge, mask, thr, lo, hi, zy, one;   /* lo, hi: the clamp bounds minus zy */
    __m128i left, right;
} q8_rq;

static void q8_rq_init(q8_rq *r, int32_t m, int32_t shift, int32_t zy, int32_t lo, int32_t hi,
                       int out_signed) {
    int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    uint32_t mask = (uint32_t)(((uint64_t)1 << right) - 1);
    (void)out_signed;                     /* narrowing truncates: values are in range */
    r->m = _mm512_set1_epi64(m);
    r->nudge = _mm512_set1_epi64((int64_t)1 << 30);
    r->mask = _mm512_set1_epi32((int32_t)mask);
    r->thr = _mm512_set1_epi32((int32_t)(mask >> 1));
    r->lo = _mm512_set1_epi32(lo - zy);
    r->hi = _mm512_set1_epi32(hi - zy);
    r->zy = _mm512_set1_epi32(zy);
    r->one = _mm512_set1_epi32(1);
    r->left = _mm_cvtsi32_si128(left);
    r->right = _mm_cvtsi32_si128(right);
}

static inline q8_v q8_dup(int32_t v) { return _mm512_set1_epi32(v); }
static inline q8_v q8_add(q8_v a, q8_v b) { return _mm512_add_epi32(a, b); }
static inline q8_v q8_sub(q8_v a, q8_v b) { return _mm512_sub_epi32(a, b); }
static inline q8_v q8_mul(q8_v a, q8_v b) { return _mm512_mullo_epi32(a, b); }
static inline q8_v q8_shl(q8_v a, int k) { return _mm512_sll_epi32(a, _mm_cvtsi32_si128(k)); }
static inline q8_v q8_load_i8(const int8_t *p) {
    return _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
}
static inline q8_v q8_load_u8(const uint8_t *p) {
    return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
}
static inline q8_v q8_load_i32(const int32_t *p) { return _mm512_loadu_si512((const void *)p); }

static inline q8_v q8_mbqm(q8_v x, const q8_rq *r) {
    x = _mm512_sll_epi32(x, r->left);
    __m512i ev = _mm512_mul_epi32(x, r->m);
    __m512i od = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), r->m);
    ev = _mm512_srli_epi64(_mm512_add_epi64(ev, r->nudge), 31);
    od = _mm512_slli_epi64(_mm512_add_epi64(od, r->nudge), 1);
    __m512i h = _mm512_mask_blend_epi32((__mmask16)0xAAAA, ev, od);
    __m512i rem = _mm512_and_si512(h, r->mask);
    __m512i thr = _mm512_add_epi32(r->thr, _mm512_srli_epi32(h, 31));
    __m512i y = _mm512_sra_epi32(h, r->right);
    return _mm512_mask_add_epi32(y, _mm512_cmpgt_epi32_mask(rem, thr), y, r->one);
}

static inline q8_v q8_finish(q8_v v, const q8_rq *r) {
    return _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(v, r->lo), r->hi), r->zy);
}

static inline void q8_store_8(void *p, q8_v v) {
    _mm_storeu_si128((__m128i *)p, _mm512_cvtepi32_epi8(v));
}
static inline void q8_store_i32(void *p, q8_v v) { _mm512_storeu_si512(p, v); }

/* 32 outputs from vpmaddwd accumulators: l holds positions {0-3, 8-11, 16-19, 24-27},
 * h {4-7, 12-15, 20-23, 28-31}; after vpmovdb, vpunpck{l,h}dq restores the order. */
static inline void q8_dw_store32(uint8_t *out, __m512i l, __m512i h, const q8_rq *r) {
    __m128i bl = _mm512_cvtepi32_epi8(q8_finish(q8_mbqm(l, r), r));
    __m128i bh = _mm512_cvtepi32_epi8(q8_finish(q8_mbqm(h, r), r));
    _mm_storeu_si128((__m128i *)out, _mm_unpacklo_epi32(bl, bh));
    _mm_storeu_si128((__m128i *)(out + 16), _mm_unpackhi_epi32(bl, bh));
}

/* nsub sub-blocks of 32 lanes (1 or 2).  vpdpwssd is vpmaddwd and the add in one. */
static inline void q8_dw_block_n(const int16_t *base, const int32_t *off, const int16_t *w16,
                                 int ntaps, int32_t bias, const q8_rq *rq, uint8_t *out,
                                 const int nsub) {
    __m512i l[2], h[2];
#pragma GCC unroll 2
    for (int s = 0; s < nsub; s++) l[s] = h[s] = _mm512_set1_epi32(bias);
    for (int t = 0; t < ntaps; t += 2) {
        const int16_t *A = base + off[t], *B = base + off[t + 1];
        __m512i wp = _mm512_set1_epi32(
            (int32_t)(((uint32_t)(uint16_t)w16[t + 1] << 16) | (uint16_t)w16[t]));
#pragma GCC unroll 2
        for (int s = 0; s < nsub; s++) {
            __m512i xa = _mm512_loadu_si512((const void *)(A + 32 * s));
            __m512i xb = _mm512_loadu_si512((const void *)(B + 32 * s));
            l[s] = _mm512_dpwssd_epi32(l[s], _mm512_unpacklo_epi16(xa, xb), wp);
            h[s] = _mm512_dpwssd_epi32(h[s], _mm512_unpackhi_epi16(xa, xb), wp);
        }
    }
#pragma GCC unroll 2
    for (int s = 0; s < nsub; s++) q8_dw_store32(out + 32 * s, l[s], h[s], rq);
}

/* Not inlined into the tile loop: a leaf keeps its accumulators in registers. */
__attribute__((noinline)) static void q8_dw_block(const int16_t *base, const int32_t *off,
                                                  const int16_t *w16, int ntaps, int32_t bias,
                                                  const q8_rq *rq, uint8_t *out, int lanes) {
    if (lanes > 32) q8_dw_block_n(base, off, w16, ntaps, bias, rq, out, 2);
    else q8_dw_block_n(base, off, w16, ntaps, bias, rq, out, 1);
}

/* 256-entry lookup with AVX-512 VBMI (Ice Lake, Zen 4 and later): the table is four zmm
 * registers; vpermi2b looks up the low 7 index bits in a 128-byte half (bit 6 picks the
 * register), twice, and bit 7 (vpmovb2m) picks the half.  Four instructions per 64 bytes. */
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static size_t q8_lut_vbmi(
    const uint8_t *table, const uint8_t *x, uint8_t *y, size_t n, uint8_t flip) {
    const __m512i t0 = _mm512_loadu_si512((const void *)table),
                  t1 = _mm512_loadu_si512((const void *)(table + 64)),
                  t2 = _mm512_loadu_si512((const void *)(table + 128)),
                  t3 = _mm512_loadu_si512((const void *)(table + 192));
    const __m512i f = _mm512_set1_epi8((char)flip);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i v = _mm512_xor_si512(_mm512_loadu_si512((const void *)(x + i)), f);
        __m512i lo = _mm512_permutex2var_epi8(t0, v, t1);
        __m512i hi = _mm512_permutex2var_epi8(t2, v, t3);
        _mm512_storeu_si512((void *)(y + i), _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), lo, hi));
    }
    return i;
}

/* 256-entry lookup: VBMI's when the CPU has it, else q8_avx2.c's vpshufb scheme on 64 bytes
 * at a time (the 16 sub-tables stay in registers). */
#define Q8_HAVE_LUT_SIMD 1
static size_t q8_lut_simd(const uint8_t *table, const uint8_t *x, uint8_t *y, size_t n,
                          uint8_t flip) {
    if (__builtin_cpu_supports("avx512vbmi")) return q8_lut_vbmi(table, x, y, n, flip);
    __m512i t[16];
    for (int g = 0; g < 16; g++)
        t[g] = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)(table + 16 * g)));
    const __m512i f = _mm512_set1_epi8((char)flip), c16 = _mm512_set1_epi8(16),
                  c70 = _mm512_set1_epi8(0x70);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i v = _mm512_xor_si512(_mm512_loadu_si512((const void *)(x + i)), f);
        __m512i r = _mm512_setzero_si512();
#pragma GCC unroll 16
        for (int g = 0; g < 16; g++) {
            r = _mm512_or_si512(r, _mm512_shuffle_epi8(t[g], _mm512_adds_epu8(v, c70)));
            v = _mm512_sub_epi8(v, c16);
        }
        _mm512_storeu_si512((void *)(y + i), r);
    }
    return i;
}

/* q.quantize on 16 floats per step with the same arithmetic as the portable loop:
 *   q = x / s (IEEE division, the contract), clamped to ±2^16 (beyond, the result
 *   saturates whatever z is), rounded — half even by roundscale's nearest mode, half away
 *   as t + sign·(|q − t| >= ½) with t = trunc(q) (q − t is exact) —, + z, clamp, NaN → z. */
#define Q8_HAVE_QUANTIZE_SIMD 1
static size_t q8_quantize_simd(const irc_quantize_args *p) {
    const __m512 s = _mm512_set1_ps(p->s), big = _mm512_set1_ps(65536.0f),
                 nbig = _mm512_set1_ps(-65536.0f), half = _mm512_set1_ps(0.5f);
    const __m512i z = _mm512_set1_epi32(p->z), lo = _mm512_set1_epi32(p->lo),
                  hi = _mm512_set1_epi32(p->hi), one = _mm512_set1_epi32(1);
    const float *x = p->x;
    uint8_t *y = p->y;
    size_t i = 0;
    for (; i + 16 <= p->n; i += 16) {
        __m512 q = _mm512_div_ps(_mm512_loadu_ps(x + i), s);
        __mmask16 nan = _mm512_cmp_ps_mask(q, q, _CMP_UNORD_Q);
        q = _mm512_min_ps(_mm512_max_ps(q, nbig), big);
        __m512i r;
        if (p->half_even) {
            r = _mm512_cvtps_epi32(_mm512_roundscale_ps(q, _MM_FROUND_TO_NEAREST_INT |
                                                           _MM_FROUND_NO_EXC));
        } else {
            __m512 t = _mm512_roundscale_ps(q, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            __m512 d = _mm512_sub_ps(q, t);
            __mmask16 up = _mm512_cmp_ps_mask(d, half, _CMP_GE_OQ);
            __mmask16 down = _mm512_cmp_ps_mask(d, _mm512_sub_ps(_mm512_setzero_ps(), half),
                                                _CMP_LE_OQ);
            r = _mm512_cvttps_epi32(t);
            r = _mm512_mask_add_epi32(r, up, r, one);
            r = _mm512_mask_sub_epi32(r, down, r, one);
        }
        r = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(r, z), lo), hi);
        r = _mm512_mask_mov_epi32(r, nan, z);
        _mm_storeu_si128((__m128i *)(void *)(y + i), _mm512_cvtepi32_epi8(r));
    }
    return i;
}

#include "q8_kernels.inc"

#if Q8_NB != 64
#error "q8_dw_block computes 64 lanes"
#endif

#pragma GCC pop_options
#endif
