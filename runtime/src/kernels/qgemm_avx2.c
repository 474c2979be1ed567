/*
 * qgemm_avx2.c — int8 GEMM with requantization, AVX2 without VNNI (qgemm.h has the
 * contract, qgemm_scalar.c the reference twin this file matches bit for bit).
 *
 * Product, exactly.  vpmaddubsw would add two u8·s8 products in int16 and saturate
 * (255·127·2 > 32767), so both operands are widened to int16 first and vpmaddwd adds
 * each pair of 16×16-bit products into an int32 lane (|Σ| ≤ 2·255·128, exact); vpaddd
 * accumulates, wrapping like the scalar's uint32 sum.
 *
 * B is packed (qgemm_x86_common.h) in panels of nr = 16 columns as K-pairs:
 * [panel][K/2][16 columns][2 bytes].  One K-pair of a panel is 32 bytes; vpmov[zs]xbw widens
 * each 16-byte half into a ymm of 8 columns × (B[2p][c], B[2p+1][c]) int16 pairs —
 * sign-extended when B holds weights (a_is_act = 1), zero-extended when activations.
 A row's 2 bytes at k are broadcast to every word and one vpshufb makes the int16 pair
 * (A[k], A[k+1]) in every dword: uint8 activations as [b0, 0, b1, 0] (zero-extended); int8
 * weights as [0, b0, 0, b1] then vpsraw 8 (sign-extended).  Then, for each column c of the
 * 8 in a vector,
 *
 *   acc[i][j].lane c  +=  A[m+i][k]·B[k][n+8j+c] + A[m+i][k+1]·B[k+1][n+8j+c].
 *
 * Microkernel: MR = 4 rows × 16 columns = 8 ymm accumulators, 2 widened B vectors per K-pair.
 * Tails as in the avx512vnni family: own instances for 1..3 rows (A rows past m1 never
 * read), columns past n1 computed from B's zero padding and not stored.  Panels outer.
 *
 * Requantization: mbqm8() is fixedpoint.h's irc_mbqm on 8 lanes, the algebra written at
 * qgemm_avx512vnni.c's mbqm16 (the same steps in AVX2: the saturation fix adds the
 * all-ones compare, INT32_MIN − 1 = INT32_MAX; the round-up subtracts it); the zero point
 * and clamp follow irc_qgemm_x86_clamp_bounds.
 */
#include "qgemm.h"

#include "../internal.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "qgemm_x86_common.h"

#define IRC_TARGET_AVX2 __attribute__((target("avx2")))
#define IRC_INLINE_AVX2 static inline __attribute__((always_inline)) IRC_TARGET_AVX2

#define MR 6     /* rows per microkernel */
#define NV 2     /* ymm accumulators per row (8 columns each) */
#define NR 16    /* columns per B panel */
#define KR 4     /* K padding (the packed groups are pairs; 4 keeps callers' padding uniform) */
#define KP 2     /* K bytes per packed group (pairs) */

static size_t packed_size(int32_t K, int32_t N) { return irc_qgemm_x86_packed_size(K, N, NR); }

static void pack_b(int32_t K_src, int32_t K, int32_t N, const uint8_t *src, ptrdiff_t rs,
                   ptrdiff_t cs, uint8_t xor_mask, void *dst) {
    irc_qgemm_x86_pack_b(K_src, K, N, src, rs, cs, xor_mask, dst, NR, KP);
}

/* The requantization parameters of 8 lanes (as qgemm_avx512vnni.c's rq16). */
typedef struct rq8 {
    __m256i mult, mult_odd, left, right, mask, half;
    int any_left, any_sat;
} rq8;

IRC_INLINE_AVX2 void rq8_make(rq8 *q, __m256i mult, __m256i shift) {
    __m256i zero = _mm256_setzero_si256(), ones = _mm256_set1_epi32(-1);
    q->mult = mult;
    q->mult_odd = _mm256_srli_epi64(mult, 32);
    q->left = _mm256_max_epi32(shift, zero);
    q->right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
    q->mask = _mm256_xor_si256(_mm256_sllv_epi32(ones, q->right), ones);
    q->half = _mm256_srli_epi32(q->mask, 1);
    q->any_left = _mm256_movemask_epi8(_mm256_cmpgt_epi32(shift, zero)) != 0;
    q->any_sat =
        _mm256_movemask_epi8(_mm256_cmpeq_epi32(mult, _mm256_set1_epi32(INT32_MIN))) != 0;
}

/* MBQM(x, mult, shift) on 8 lanes: SRDHM = bits 31..62 of x·m + 2^30 (even lanes: vpmuldq,
 * >> 31; odd lanes: vpmuldq of the lanes shifted down, << 1; blend), INT32_MIN from the one
 * saturating product mapped to INT32_MAX, then RDBP = (s >> right) + (rem > half + (s < 0)). */
IRC_INLINE_AVX2 __m256i mbqm8(__m256i x, const rq8 *q) {
    const __m256i nudge = _mm256_set1_epi64x((int64_t)1 << 30);
    if (q->any_left) x = _mm256_sllv_epi32(x, q->left);
    __m256i even = _mm256_add_epi64(_mm256_mul_epi32(x, q->mult), nudge);
    __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), q->mult_odd), nudge);
    __m256i s = _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
    if (q->any_sat) s = _mm256_add_epi32(s, _mm256_cmpeq_epi32(s, _mm256_set1_epi32(INT32_MIN)));
    __m256i r = _mm256_srav_epi32(s, q->right);
    __m256i rem = _mm256_and_si256(s, q->mask);
    __m256i thr = _mm256_sub_epi32(q->half, _mm256_srai_epi32(s, 31));
    return _mm256_sub_epi32(r, _mm256_cmpgt_epi32(rem, thr));
}

/* Everything the epilogue needs besides the accumulators. */
typedef struct epi {
    const int32_t *bias, *mult, *shift, *row_bias;   /* row_bias: per_col only */
    int per_col;
    __m256i zp, lo_z, hi_z;         /* out_zp; the clamp bounds less out_zp (clamp_bounds) */
    uint8_t *c;                     /* C[m][n] of the tile's first row and column */
    size_t ldc_bytes;               /* row stride in bytes */
    int32_t m;                      /* the tile's first row */
    __m256i colbias[NV];            /* per_col: the panel's bias (0 without one) */
    rq8 colq[NV];                   /* per_col with mult: the panel's parameters */
} epi;

/* Write row i of a tile (bias already in the accumulators), the first `cols` columns. */
IRC_INLINE_AVX2 void store_row(const epi *e, int i, __m256i *acc, int cols) {
    uint8_t *crow = e->c + (size_t)i * e->ldc_bytes;
    if (!e->mult) {
        if (cols >= NR) {
            _mm256_storeu_si256((__m256i *)(void *)crow, acc[0]);
            _mm256_storeu_si256((__m256i *)(void *)(crow + 32), acc[1]);
        } else {
            int32_t tmp[NR];
            _mm256_storeu_si256((__m256i *)(void *)tmp, acc[0]);
            _mm256_storeu_si256((__m256i *)(void *)(tmp + 8), acc[1]);
            memcpy(crow, tmp, (size_t)cols * 4);
        }
        return;
    }
    rq8 rowq;
    if (!e->per_col)
        rq8_make(&rowq, _mm256_set1_epi32(e->mult[e->m + i]),
                 _mm256_set1_epi32(e->shift[e->m + i]));
    __m256i y[NV];
#pragma GCC unroll 2
    for (int j = 0; j < NV; j++) {
        const rq8 *q = e->per_col ? &e->colq[j] : &rowq;
        __m256i v = _mm256_min_epi32(_mm256_max_epi32(mbqm8(acc[j], q), e->lo_z), e->hi_z);
        /* the low byte of each lane, as the scalar's (int8_t)/(uint8_t) cast: mask, then the
         * unsigned packs cannot saturate */
        y[j] = _mm256_and_si256(_mm256_add_epi32(v, e->zp), _mm256_set1_epi32(0xFF));
    }
    /* packus_epi32 → per 128-bit lane [y0 4 | y1 4] as u16; packus_epi16 → bytes, so the
     * dwords are y0[0..3] y1[0..3] · · y0[4..7] y1[4..7] · ·; vpermd puts them in order */
    __m256i w = _mm256_packus_epi32(y[0], y[1]);
    w = _mm256_packus_epi16(w, w);
    w = _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 3, 6, 7));
    __m128i bytes = _mm256_castsi256_si128(w);
    if (cols >= NR) {
        _mm_storeu_si128((__m128i *)(void *)crow, bytes);
    } else {
        uint8_t tmp[NR];
        _mm_storeu_si128((__m128i *)(void *)tmp, bytes);
        memcpy(crow, tmp, (size_t)cols);
    }
}

/* The per-column parameters of the panel at column n (only when per_col). */
IRC_INLINE_AVX2 void load_panel(epi *e, int32_t n) {
#pragma GCC unroll 2
    for (int j = 0; j < NV; j++) {
        int32_t ch = n + 8 * j;
        e->colbias[j] = e->bias ? _mm256_loadu_si256((const __m256i *)(const void *)(e->bias + ch))
                                : _mm256_setzero_si256();
        if (e->mult)
            rq8_make(&e->colq[j], _mm256_loadu_si256((const __m256i *)(const void *)(e->mult + ch)),
                     _mm256_loadu_si256((const __m256i *)(const void *)(e->shift + ch)));
    }
}

/* The two widened B vectors (8 columns × a K-pair each) at bp: weights sign-, activations
 * zero-extended. */
IRC_INLINE_AVX2 void load_b(const uint8_t *bp, __m256i *b0, __m256i *b1, const int act) {
    __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)bp);
    __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)(bp + 16));
    *b0 = act ? _mm256_cvtepi8_epi16(lo) : _mm256_cvtepu8_epi16(lo);
    *b1 = act ? _mm256_cvtepi8_epi16(hi) : _mm256_cvtepu8_epi16(hi);
}

/* Widen n bytes of an A row (n a multiple of 4) to int16 at dst: weights (act == 0) sign-,
 * activations zero-extended.  Reads exactly the n bytes. */
IRC_INLINE_AVX2 void widen_a(const uint8_t *src, int32_t n, int16_t *dst, const int act) {
    int32_t k = 0;
    for (; k + 16 <= n; k += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(src + k));
        __m256i w = act ? _mm256_cvtepu8_epi16(v) : _mm256_cvtepi8_epi16(v);
        _mm256_storeu_si256((__m256i *)(void *)(dst + k), w);
    }
    for (; k < n; k += 4) {
        int32_t quad;
        memcpy(&quad, src + k, 4);
        __m128i v = _mm_cvtsi32_si128(quad);
        __m128i w = act ? _mm_cvtepu8_epi16(v) : _mm_cvtepi8_epi16(v);
        _mm_storel_epi64((__m128i *)(void *)(dst + k), w);
    }
}

/* One tile: `rows` (1..MR) rows of A times the K×16 panel `bp`, then the epilogue; `rows`
 * and `act` are constants in each instance.  K goes in chunks of KC: the tile's A rows are
 * widened to int16 once per chunk (abuf), so a K-pair of a row is one vpbroadcastd load —
 * the inner loop is 2 widening B loads, then per row a broadcast and 2 vpmaddwd + 2 vpaddd
 * (8 accumulators, 2 B vectors, 1 A pair: 11 ymm registers). */
#define KC 512
IRC_INLINE_AVX2 void tile(const uint8_t *a, size_t lda, const uint8_t *bp, int32_t K,
                          const epi *e, int cols, const int rows, const int act) {
    int16_t abuf[MR][KC] __attribute__((aligned(32)));
    __m256i acc[MR][NV];
#pragma GCC unroll 6
    for (int i = 0; i < rows; i++) {
        __m256i rb = _mm256_setzero_si256();
        if (!e->per_col && e->bias) rb = _mm256_set1_epi32(e->bias[e->m + i]);
        __m256i rowb = e->row_bias ? _mm256_set1_epi32(e->row_bias[e->m + i]) : _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int j = 0; j < NV; j++) acc[i][j] = e->per_col ? _mm256_add_epi32(e->colbias[j], rowb) : rb;
    }
    for (int32_t k0 = 0; k0 < K; k0 += KC) {
        int32_t kc = K - k0 < KC ? K - k0 : KC;
#pragma GCC unroll 6
        for (int i = 0; i < rows; i++) widen_a(a + (size_t)i * lda + (size_t)k0, kc, abuf[i], act);
        for (int32_t k = 0; k < kc; k += KP) {
            __m256i b0, b1;
            load_b(bp, &b0, &b1, act);
#pragma GCC unroll 6
            for (int i = 0; i < rows; i++) {
                int32_t pair;
                memcpy(&pair, &abuf[i][k], 4);
                __m256i p = _mm256_set1_epi32(pair);
                acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(p, b0));
                acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(p, b1));
            }
            bp += NR * KP;
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < rows; i++) store_row(e, i, acc[i], cols);
}
#undef KC

#define IRC_TILE(rows, act)                                                                    \
    static IRC_TARGET_AVX2 void tile_##rows##_##act(const uint8_t *a, size_t lda,              \
                                                    const uint8_t *bp, int32_t K, const epi *e, \
                                                    int cols) {                                \
        tile(a, lda, bp, K, e, cols, rows, act);                                               \
    }
IRC_TILE(1, 0) IRC_TILE(2, 0) IRC_TILE(3, 0) IRC_TILE(4, 0) IRC_TILE(5, 0) IRC_TILE(6, 0)
IRC_TILE(1, 1) IRC_TILE(2, 1) IRC_TILE(3, 1) IRC_TILE(4, 1) IRC_TILE(5, 1) IRC_TILE(6, 1)
#undef IRC_TILE

typedef void (*tile_fn)(const uint8_t *, size_t, const uint8_t *, int32_t, const epi *, int);
static const tile_fn tiles[2][MR + 1] = {
    {NULL, tile_1_0, tile_2_0, tile_3_0, tile_4_0, tile_5_0, tile_6_0},
    {NULL, tile_1_1, tile_2_1, tile_3_1, tile_4_1, tile_5_1, tile_6_1},
};

static IRC_TARGET_AVX2 void run(const irc_qgemm_args *p) {
    if (p->m0 >= p->m1 || p->n0 >= p->n1) return;
    const uint8_t *a = p->a;
    const uint8_t *b = p->b;
    size_t esize = p->mult ? 1 : 4;
    epi e;
    e.bias = p->bias;
    e.row_bias = p->per_col ? p->row_bias : NULL;
    e.mult = p->mult;
    e.shift = p->shift;
    e.per_col = p->per_col;
    int32_t lo_z, hi_z;
    irc_qgemm_x86_clamp_bounds(p->out_zp, p->lo, p->hi, &lo_z, &hi_z);
    e.zp = _mm256_set1_epi32(p->out_zp);
    e.lo_z = _mm256_set1_epi32(lo_z);
    e.hi_z = _mm256_set1_epi32(hi_z);
    e.ldc_bytes = p->ldc * esize;
    const tile_fn *fns = tiles[p->a_is_act ? 1 : 0];
    for (int32_t n = p->n0; n < p->n1; n += NR) {
        const uint8_t *bp = b + (size_t)(n / NR) * (size_t)p->K * NR;
        int cols = p->n1 - n < NR ? (int)(p->n1 - n) : NR;
        if (p->per_col) load_panel(&e, n);
        for (int32_t m = p->m0; m < p->m1; m += MR) {
            int rows = p->m1 - m < MR ? (int)(p->m1 - m) : MR;
            e.m = m;
            e.c = (uint8_t *)p->c + ((size_t)m * p->ldc + (size_t)n) * esize;
            fns[rows](a + (size_t)m * p->lda, p->lda, bp, p->K, &e, cols);
        }
    }
}

const irc_qgemm_family irc_qgemm_avx2 = {
    "avx2", IRC_ISA_AVX2, 0, NR, KR, packed_size, pack_b, run,
};

#endif
