/*
 * qgemm_x86_common.h — what the avx2 and avx512vnni int8 GEMM families share: the packed-B
 * layout and pack_b.  Private to qgemm_avx2.c and qgemm_avx512vnni.c.
 *
 * Packed layout (both families), for nr columns per panel and kr K-rows per group:
 *
 *   B[k][n]  at  dst[ ((p·(K/kr) + k/kr)·nr + c)·kr + k%kr ],   p = n / nr,  c = n % nr
 *
 * i.e. panels of nr columns, each panel K/kr groups of nr little columns of kr consecutive
 * K-bytes.  A panel is K·nr contiguous bytes.  One group row (nr·kr bytes) is what the
 * microkernel multiplies by one kr-byte piece of each A row:
 *   avx512vnni: kr = 4, nr = 64: a group is 4 zmm of 16 columns × 4 bytes, the vpdpbusd operand;
 *   avx2:       kr = 2 (pairs; K itself is padded to 4), nr = 16: a group is 32 bytes,
 *               zero/sign-extended by vpmov[zs]xbw into 2 ymm of 8 columns × 2 int16.
 * Columns N..round_up(N, nr)−1 and rows K_src..K−1 are zero, so they add nothing.
 *
 * pack_b runs once per model for weights but once per inference for conv activations
 * (im2col), so the common case — rows contiguous in n (cs == 1) — is a byte transpose in
 * SSE2 (baseline x86-64; the avx512vnni family has a zmm one); any other stride, and the
 * ragged edges, go byte by byte.
 */
#ifndef IRC_QGEMM_X86_COMMON_H
#define IRC_QGEMM_X86_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <emmintrin.h>

static inline size_t irc_qgemm_x86_packed_size(int32_t K, int32_t N, int nr) {
    size_t panels = ((size_t)N + (size_t)nr - 1) / (size_t)nr;
    return panels * (size_t)nr * (size_t)K;
}

/* The clamp after requantization, clamp(y + zp, lo, hi) with y + zp in int64 (the normative
 * rule, irc/fixedpoint.py requantize_fixed_point), without 64-bit lanes:
 *
 *   clamp(y + zp, lo, hi) = clamp(y, L, H) + zp,   L = max(lo − zp, INT32_MIN),
 *                                                  H = min(hi − zp, INT32_MAX)   (lo ≤ hi)
 *
 * clamp(y, L, H) + zp lies in [lo, hi] (or at y + zp itself when the bound was cut at
 * INT32_MIN/MAX, where y + zp cannot pass it), so the int32 add never wraps. */
static inline void irc_qgemm_x86_clamp_bounds(int32_t zp, int32_t lo, int32_t hi, int32_t *lo_z,
                                              int32_t *hi_z) {
    int64_t l = (int64_t)lo - zp, h = (int64_t)hi - zp;
    *lo_z = (int32_t)(l < INT32_MIN ? INT32_MIN : (l > INT32_MAX ? INT32_MAX : l));
    *hi_z = (int32_t)(h < INT32_MIN ? INT32_MIN : (h > INT32_MAX ? INT32_MAX : h));
}

/* One group row of the layout above, 16 columns starting at src (cs == 1), kr = 4:
 * rows r0..r3 (16 bytes each) interleaved so that column c's 4 bytes are adjacent.
 *   unpack*_epi8(r0, r1) → (r0[c], r1[c]) pairs; unpack*_epi16 of two pair vectors → quads. */
static inline void irc_qgemm_x86_quads16(const uint8_t *src, ptrdiff_t rs, __m128i x,
                                         uint8_t *dst) {
    __m128i r0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)src), x);
    __m128i r1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(src + rs)), x);
    __m128i r2 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(src + 2 * rs)), x);
    __m128i r3 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(src + 3 * rs)), x);
    __m128i p01l = _mm_unpacklo_epi8(r0, r1), p01h = _mm_unpackhi_epi8(r0, r1);
    __m128i p23l = _mm_unpacklo_epi8(r2, r3), p23h = _mm_unpackhi_epi8(r2, r3);
    _mm_storeu_si128((__m128i *)(void *)dst, _mm_unpacklo_epi16(p01l, p23l));
    _mm_storeu_si128((__m128i *)(void *)(dst + 16), _mm_unpackhi_epi16(p01l, p23l));
    _mm_storeu_si128((__m128i *)(void *)(dst + 32), _mm_unpacklo_epi16(p01h, p23h));
    _mm_storeu_si128((__m128i *)(void *)(dst + 48), _mm_unpackhi_epi16(p01h, p23h));
}

/* Same for kr = 2: rows r0, r1 → 16 (r0[c], r1[c]) pairs. */
static inline void irc_qgemm_x86_pairs16(const uint8_t *src, ptrdiff_t rs, __m128i x,
                                         uint8_t *dst) {
    __m128i r0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)src), x);
    __m128i r1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(src + rs)), x);
    _mm_storeu_si128((__m128i *)(void *)dst, _mm_unpacklo_epi8(r0, r1));
    _mm_storeu_si128((__m128i *)(void *)(dst + 16), _mm_unpackhi_epi8(r0, r1));
}

/* Panels p0..p1−1, K-groups g0..g1−1 of the layout above, byte by byte: any strides, and
 * the ragged edges (rows past K_src, columns past N: zero). */
static inline void irc_qgemm_x86_pack_range(int32_t K_src, int32_t K, int32_t N,
                                            const uint8_t *src, ptrdiff_t rs, ptrdiff_t cs,
                                            uint8_t xor_mask, uint8_t *dst, int nr, int kr,
                                            int32_t p0, int32_t p1, int32_t g0, int32_t g1) {
    int32_t groups = K / kr;
    for (int32_t p = p0; p < p1; p++)
        for (int32_t g = g0; g < g1; g++) {
            uint8_t *d = dst + ((size_t)p * (size_t)groups + (size_t)g) * (size_t)nr * (size_t)kr;
            for (int c = 0; c < nr; c++) {
                int32_t n = p * nr + c;
                for (int r = 0; r < kr; r++) {
                    int32_t k = g * kr + r;
                    d[c * kr + r] = (k < K_src && n < N)
                                        ? (uint8_t)(src[k * rs + n * cs] ^ xor_mask)
                                        : 0;
                }
            }
        }
}

/* pack_b for the layout above (qgemm.h states the arguments); nr a multiple of 16, kr 2 or
 * 4.  Whole panels × whole K-groups of a row-major source (cs == 1) go 16 columns at a time
 * through the SSE2 transposes; the rest (the last, partial panel and the groups reaching
 * past K_src) byte by byte. */
static inline void irc_qgemm_x86_pack_b(int32_t K_src, int32_t K, int32_t N, const uint8_t *src,
                                        ptrdiff_t rs, ptrdiff_t cs, uint8_t xor_mask, void *dst,
                                        int nr, int kr) {
    uint8_t *out = dst;
    int32_t panels = (int32_t)((N + nr - 1) / nr), groups = K / kr;
    int32_t full_p = cs == 1 ? N / nr : 0, full_g = K_src / kr;
    __m128i x = _mm_set1_epi8((char)xor_mask);
    /* panels side by side in 64-column strips, so each source cache line is read once */
    int32_t strip = nr >= 64 ? 1 : 64 / nr;
    size_t panel_bytes = (size_t)groups * (size_t)nr * (size_t)kr;
    for (int32_t p0 = 0; p0 < full_p; p0 += strip) {
        int32_t p1 = p0 + strip < full_p ? p0 + strip : full_p;
        const uint8_t *s = src + (ptrdiff_t)p0 * nr;
        for (int32_t g = 0; g < full_g; g++, s += kr * rs)
            for (int32_t p = p0; p < p1; p++) {
                uint8_t *d = out + (size_t)p * panel_bytes + (size_t)g * (size_t)nr * (size_t)kr;
                for (int c0 = 0; c0 < nr; c0 += 16, d += 16 * kr) {
                    const uint8_t *sc = s + (ptrdiff_t)(p - p0) * nr + c0;
                    if (kr == 4) irc_qgemm_x86_quads16(sc, rs, x, d);
                    else irc_qgemm_x86_pairs16(sc, rs, x, d);
                }
            }
    }
    irc_qgemm_x86_pack_range(K_src, K, N, src, rs, cs, xor_mask, out, nr, kr, 0, full_p, full_g,
                             groups);
    irc_qgemm_x86_pack_range(K_src, K, N, src, rs, cs, xor_mask, out, nr, kr, full_p, panels, 0,
                             groups);
}

#endif /* IRC_QGEMM_X86_COMMON_H */
