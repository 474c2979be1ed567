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
 * SSE2 (baseline x86-64); any other stride, and the ragged edges, go byte by byte.
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
 *   unpack*_epi8(r0, r1)  → (r0[c], r1[c]) pairs;  unpack*_epi16 of two pair vectors → quads. */
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

/* pack_b for the layout above (qgemm.h states the arguments); nr a multiple of 16,
 * kr 2 or 4. */
static inline void irc_qgemm_x86_pack_b(int32_t K_src, int32_t K, int32_t N, const uint8_t *src,
                                        ptrdiff_t rs, ptrdiff_t cs, uint8_t xor_mask, void *dst,
                                        int nr, int kr) {
    uint8_t *out = dst;
    int32_t panels = (int32_t)((N + nr - 1) / nr);
    int32_t groups = K / kr;
    __m128i x = _mm_set1_epi8((char)xor_mask);
    for (int32_t p = 0; p < panels; p++) {
        for (int32_t g = 0; g < groups; g++) {
            uint8_t *row = out + ((size_t)p * (size_t)groups + (size_t)g) * (size_t)nr * (size_t)kr;
            int32_t k0 = g * kr;
            for (int c0 = 0; c0 < nr; c0 += 16) {
                int32_t n0 = p * nr + c0;
                uint8_t *d = row + (size_t)c0 * (size_t)kr;
                if (cs == 1 && k0 + kr <= K_src && n0 + 16 <= N) {
                    const uint8_t *s = src + k0 * rs + n0;
                    if (kr == 4) irc_qgemm_x86_quads16(s, rs, x, d);
                    else irc_qgemm_x86_pairs16(s, rs, x, d);
                    continue;
                }
                for (int c = 0; c < 16; c++) {
                    int32_t n = n0 + c;
                    for (int r = 0; r < kr; r++) {
                        int32_t k = k0 + r;
                        d[c * kr + r] = (k < K_src && n < N)
                                            ? (uint8_t)(src[k * rs + n * cs] ^ xor_mask)
                                            : 0;
                    }
                }
            }
        }
    }
}

#endif /* IRC_QGEMM_X86_COMMON_H */
