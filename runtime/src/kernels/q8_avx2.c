/*
 * q8_avx2.c — the q8 family (q8.h) for AVX2: q8_kernels.inc with 8-lane int32
 * vectors, compiled for AVX2 by a target pragma (the library has one set of
 * build flags; dispatch only picks this table on CPUs that have AVX2).
 *
 * MBQM, exactly (q8_kernels.inc has the identities):
 *   x' = x << left                                   (vpslld: wraps like uint32)
 *   h  = (x'·m + 2^30) >> 31                         (vpmuldq on even and odd lanes)
 *   y  = (h >> right) + ((h & mask) > (mask >> 1) + (h < 0))       mask = 2^right − 1
 * Depthwise taps go in pairs through vpmaddwd: (x_a, x_b) int16 pairs from
 * vpunpck{l,h}wd times (w_a, w_b) give x_a·w_a + x_b·w_b exactly in int32.
 */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <string.h>

#include "../internal.h"
#include "q8.h"

#pragma GCC push_options
#pragma GCC target("avx2")

#define Q8_SUFFIX avx2
#define Q8_NAME "avx2"
#define Q8_ISA IRC_ISA_AVX2
#define Q8_VL 8

typedef __m256i q8_v;
typedef struct q8_rq {
    __m256i m, nudge, mask, thr, lo, hi, zy;   /* lo, hi: the clamp bounds minus zy */
    __m128i left, right;
    int out_signed;
} q8_rq;

static void q8_rq_init(q8_rq *r, int32_t m, int32_t shift, int32_t zy, int32_t lo, int32_t hi,
                       int out_signed) {
    int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    uint32_t mask = (uint32_t)(((uint64_t)1 << right) - 1);
    r->m = _mm256_set1_epi64x(m);
    r->nudge = _mm256_set1_epi64x((int64_t)1 << 30);
    r->mask = _mm256_set1_epi32((int32_t)mask);
    r->thr = _mm256_set1_epi32((int32_t)(mask >> 1));
    r->lo = _mm256_set1_epi32(lo - zy);
    r->hi = _mm256_set1_epi32(hi - zy);
    r->zy = _mm256_set1_epi32(zy);
    r->left = _mm_cvtsi32_si128(left);
    r->right = _mm_cvtsi32_si128(right);
    r->out_signed = out_signed;
}

static inline q8_v q8_dup(int32_t v) { return _mm256_set1_epi32(v); }
static inline q8_v q8_add(q8_v a, q8_v b) { return _mm256_add_epi32(a, b); }
static inline q8_v q8_sub(q8_v a, q8_v b) { return _mm256_sub_epi32(a, b); }
static inline q8_v q8_mul(q8_v a, q8_v b) { return _mm256_mullo_epi32(a, b); }
static inline q8_v q8_shl(q8_v a, int k) { return _mm256_sll_epi32(a, _mm_cvtsi32_si128(k)); }
static inline q8_v q8_load_i8(const int8_t *p) {
    return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));
}
static inline q8_v q8_load_u8(const uint8_t *p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));
}
static inline q8_v q8_load_i32(const int32_t *p) {
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

static inline q8_v q8_mbqm(q8_v x, const q8_rq *r) {
    x = _mm256_sll_epi32(x, r->left);
    __m256i ev = _mm256_mul_epi32(x, r->m);                          /* lanes 0, 2, 4, 6 */
    __m256i od = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), r->m);   /* lanes 1, 3, 5, 7 */
    ev = _mm256_srli_epi64(_mm256_add_epi64(ev, r->nudge), 31);       /* bits 31..62 → low dword */
    od = _mm256_slli_epi64(_mm256_add_epi64(od, r->nudge), 1);        /* bits 31..62 → high dword */
    __m256i h = _mm256_blend_epi32(ev, od, 0xAA);
    __m256i rem = _mm256_and_si256(h, r->mask);
    __m256i thr = _mm256_add_epi32(r->thr, _mm256_srli_epi32(h, 31));
    return _mm256_sub_epi32(_mm256_sra_epi32(h, r->right), _mm256_cmpgt_epi32(rem, thr));
}

static inline q8_v q8_finish(q8_v v, const q8_rq *r) {
    return _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(v, r->lo), r->hi), r->zy);
}

/* The low byte of each lane (values are in the 8-bit range). */
static inline void q8_store_8(void *p, q8_v v) {
    const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, 0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, -1);
    __m256i b = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v, pick),
                                            _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1));
    _mm_storel_epi64((__m128i *)p, _mm256_castsi256_si128(b));
}
static inline void q8_store_i32(void *p, q8_v v) { _mm256_storeu_si256((__m256i *)p, v); }

/* 32 outputs from the vpmaddwd accumulators of 2 × 16 positions: l holds positions
 * {0-3, 8-11}, h {4-7, 12-15} of its 16 (vpunpck order); vpackssdw restores the order. */
static inline void q8_dw_store32(uint8_t *out, __m256i l0, __m256i h0, __m256i l1, __m256i h1,
                                 const q8_rq *r) {
    __m256i p0 = _mm256_packs_epi32(q8_finish(q8_mbqm(l0, r), r), q8_finish(q8_mbqm(h0, r), r));
    __m256i p1 = _mm256_packs_epi32(q8_finish(q8_mbqm(l1, r), r), q8_finish(q8_mbqm(h1, r), r));
    __m256i b = r->out_signed ? _mm256_packs_epi16(p0, p1) : _mm256_packus_epi16(p0, p1);
    _mm256_storeu_si256((__m256i *)out, _mm256_permute4x64_epi64(b, 0xD8));
}

/* nsub sub-blocks of 16 lanes (2 or 4; a constant after inlining, so the accumulators
 * live in registers). */
static inline void q8_dw_block_n(const int16_t *base, const int32_t *off, const int16_t *w16,
                                 int ntaps, int32_t bias, const q8_rq *rq, uint8_t *out,
                                 const int nsub) {
    __m256i l[4], h[4];
#pragma GCC unroll 4
    for (int s = 0; s < nsub; s++) l[s] = h[s] = _mm256_set1_epi32(bias);
    for (int t = 0; t < ntaps; t += 2) {
        const int16_t *A = base + off[t], *B = base + off[t + 1];
        __m256i wp = _mm256_set1_epi32(
            (int32_t)(((uint32_t)(uint16_t)w16[t + 1] << 16) | (uint16_t)w16[t]));
#pragma GCC unroll 4
        for (int s = 0; s < nsub; s++) {
            __m256i xa = _mm256_loadu_si256((const __m256i *)(const void *)(A + 16 * s));
            __m256i xb = _mm256_loadu_si256((const __m256i *)(const void *)(B + 16 * s));
            l[s] = _mm256_add_epi32(l[s], _mm256_madd_epi16(_mm256_unpacklo_epi16(xa, xb), wp));
            h[s] = _mm256_add_epi32(h[s], _mm256_madd_epi16(_mm256_unpackhi_epi16(xa, xb), wp));
        }
    }
#pragma GCC unroll 2
    for (int s = 0; s < nsub; s += 2) q8_dw_store32(out + 16 * s, l[s], h[s], l[s + 1], h[s + 1], rq);
}

/* Not inlined into the tile loop: a leaf keeps its accumulators in registers. */
__attribute__((noinline)) static void q8_dw_block(const int16_t *base, const int32_t *off,
                                                  const int16_t *w16, int ntaps, int32_t bias,
                                                  const q8_rq *rq, uint8_t *out, int lanes) {
    if (lanes > 32) q8_dw_block_n(base, off, w16, ntaps, bias, rq, out, 4);
    else q8_dw_block_n(base, off, w16, ntaps, bias, rq, out, 2);
}

/* 256-entry lookup with vpshufb: 16 sub-tables of 16 bytes; for sub-table g the index
 * v − 16g (mod 256) is in 0..15 only for its own entries, and adding 0x70 with unsigned
 * saturation keeps those below 0x80 while every other lands at or above it, where
 * vpshufb gives 0 — so OR-ing the 16 lookups leaves exactly the one entry. */
#define Q8_HAVE_LUT_SIMD 1
static size_t q8_lut_simd(const uint8_t *table, const uint8_t *x, uint8_t *y, size_t n,
                          uint8_t flip) {
    __m256i t[16];
    for (int g = 0; g < 16; g++)
        t[g] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(table + 16 * g)));
    const __m256i f = _mm256_set1_epi8((char)flip), c16 = _mm256_set1_epi8(16),
                  c70 = _mm256_set1_epi8(0x70);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)(x + i)), f);
        __m256i r = _mm256_setzero_si256();
        for (int g = 0; g < 16; g++) {
            r = _mm256_or_si256(r, _mm256_shuffle_epi8(t[g], _mm256_adds_epu8(v, c70)));
            v = _mm256_sub_epi8(v, c16);
        }
        _mm256_storeu_si256((__m256i *)(void *)(y + i), r);
    }
    return i;
}

#include "q8_kernels.inc"

#if Q8_NB != 64
#error "q8_dw_block computes 64 lanes"
#endif

#pragma GCC pop_options
#endif
