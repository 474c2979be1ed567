/*
 * spmm_q8_avx2.c — int8 sparse × dense with requantization, AVX2 without VNNI (spmm.h has
 * the contract and the packed layout; spmm_scalar.c's irc_spmm_q8_scalar_run is the twin this
 * file matches bit for bit).  act_signed = 0: X holds uint8, W int8.  Also the x86 families'
 * shared output bounds (irc_spmm_q8_x86_bounds).
 *
 * Product, exactly.  vpmaddubsw would add two u8·s8 products in int16 and saturate
 * (2·255·127 > 32767), so both operands are widened to int16 and vpmaddwd adds pairs of
 * 16×16-bit products into int32 (|Σ| ≤ 2·255·128, exact); vpaddd accumulates, wrapping like
 * the scalar's uint32.  A vector covers 4 columns m: vpmovzxbw of the 16 bytes at
 * x + (q·ldx + m)·4 gives, per column, its quad X[4q..4q+3][m] as 4 int16 in one 64-bit
 * lane.  Row r's word W[bR+r][4q..4q+3] is broadcast to every dword (vpbroadcastd) and
 * sign-extended (vpmovsxbw), the 4 weights in every 64-bit lane.  Then
 *
 *   acc[r][j].dword 2l   += X[4q][m+4j+l]·W[·][4q]   + X[4q+1][m+4j+l]·W[·][4q+1]
 *   acc[r][j].dword 2l+1 += X[4q+2][m+4j+l]·W[·][4q+2] + X[4q+3][m+4j+l]·W[·][4q+3]
 *
 * and the epilogue adds each column's two halves: vphaddd of vectors j, j+1 (wrapping)
 * gives per 128-bit lane [m0 m1 m4 m5 | m2 m3 m6 m7], vpermq 0xD8 puts them in order.
 *
 * Tiles: one row block × NV(R) vectors of 4 columns, each X vector reused by the R rows:
 *   R = 1: NV = 6 (24 m); R = 2, 4, 8: NV = 4.  Per entry the NV X vectors and the R weight
 *   words are widened (a shuffle each) for R·NV vpmaddwd, so wide tiles pay: R = 4 and 8
 *   spill accumulators past the 16 ymm registers and still run 1.15x and 1.6x faster than
 *   with NV = 2 and 1 (768×768 × 128, 4×4 blocks at 50 %).
 * Loop order: m tiles outer, row blocks inner.  The last, partial tile has ⌈rem/4⌉ vectors,
 * the last one read with vpmaskmovd (no X column past m1 is touched) and stored through a
 * buffer (nothing past m1 written).
 *
 * Epilogue: as spmm_q8_avx512vnni.c's, on 8 lanes (its header has the algebra): the bias
 * added after the halves are summed, rows ≥ N not stored, int32 sums when mult == NULL, else
 * the row's MBQM with uniform shift counts, clamp, and the low byte of each lane (masked to
 * 8 bits so vpackusdw / vpackuswb cannot saturate: the scalar's cast).
 */
#include "spmm.h"

#include "../internal.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <string.h>

/* clamp(y + zp, lo, hi), the sum in int64 (fixedpoint.h's irc_requant), on int32 lanes as
 * clamp(y, b[0], b[1]) + b[2], lo ≤ hi:
 *   L = lo − zp, H = hi − zp in int64.  L > INT32_MAX: every y + zp < lo, the result is lo
 *   (b = lo, lo, 0); H < INT32_MIN: every y + zp > hi, it is hi.  Otherwise the bounds cut to
 *   int32 ([INT32_MIN, INT32_MAX] holds every y, so a cut bound is never reached) and
 *   clamp(y, L, H) + zp lies in [lo, hi]: the int32 add never wraps.
 * Shared with spmm_q8_avx512vnni.c. */
void irc_spmm_q8_x86_bounds(int32_t zp, int32_t lo, int32_t hi, int32_t b[3]);
void irc_spmm_q8_x86_bounds(int32_t zp, int32_t lo, int32_t hi, int32_t b[3]) {
    int64_t l = (int64_t)lo - zp, h = (int64_t)hi - zp;
    int all = l > INT32_MAX ? 1 : (h < INT32_MIN ? 2 : 0);   /* constant lo, constant hi */
    b[0] = all == 1 ? lo : all == 2 ? hi : (int32_t)(l < INT32_MIN ? INT32_MIN : l);
    b[1] = all == 1 ? lo : all == 2 ? hi : (int32_t)(h > INT32_MAX ? INT32_MAX : h);
    b[2] = all ? 0 : zp;
}

#define IRC_TARGET_AVX2 __attribute__((target("avx2")))
#define IRC_INLINE_AVX2 static inline __attribute__((always_inline)) IRC_TARGET_AVX2

#define NV_MAX 6

/* What a tile needs besides its row block and columns. */
typedef struct ctx {
    const uint8_t *x;          /* X at column 0 of quad 0 */
    size_t xq;                 /* bytes per quad row of X (ldx·4) */
    const int32_t *ptr, *kidx;
    const uint8_t *vals;
    const int32_t *bias, *mult, *shift;
    int32_t N;
    __m256i zp, lo_z, hi_z;    /* irc_spmm_q8_x86_bounds */
    uint8_t *y;                /* Y[0][0] */
    size_t ldy_bytes, esize;
} ctx;

/* One row's requantization parameters (uniform over the lanes). */
typedef struct rq_row {
    __m256i mult, mask, half;
    __m128i left, right;
    int any_left, sat;
} rq_row;

IRC_INLINE_AVX2 void rq_row_make(rq_row *q, int32_t mult, int32_t shift) {
    int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    uint32_t mask = (uint32_t)(((uint64_t)1 << right) - 1u);
    q->mult = _mm256_set1_epi32(mult);
    q->mask = _mm256_set1_epi32((int32_t)mask);
    q->half = _mm256_set1_epi32((int32_t)(mask >> 1));
    q->left = _mm_cvtsi32_si128(left);
    q->right = _mm_cvtsi32_si128(right);
    q->any_left = left != 0;
    q->sat = mult == INT32_MIN;
}

/* clamp(MBQM(x, mult, shift) + zp, lo, hi) on 8 lanes: SRDHM from vpmuldq of the even lanes
 * and of the odd lanes shifted down (+2^30, even >> 31, odd << 1, blend), INT32_MIN (the one
 * saturating product) → INT32_MAX by adding the all-ones compare, RDBP's round-up by
 * subtracting one. */
IRC_INLINE_AVX2 __m256i requant8(__m256i x, const rq_row *q, const ctx *c) {
    const __m256i nudge = _mm256_set1_epi64x((int64_t)1 << 30);
    if (q->any_left) x = _mm256_sll_epi32(x, q->left);
    __m256i even = _mm256_add_epi64(_mm256_mul_epi32(x, q->mult), nudge);
    __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), q->mult), nudge);
    __m256i s = _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
    if (q->sat) s = _mm256_add_epi32(s, _mm256_cmpeq_epi32(s, _mm256_set1_epi32(INT32_MIN)));
    __m256i r = _mm256_sra_epi32(s, q->right);
    __m256i thr = _mm256_sub_epi32(q->half, _mm256_srai_epi32(s, 31));
    r = _mm256_sub_epi32(r, _mm256_cmpgt_epi32(_mm256_and_si256(s, q->mask), thr));
    return _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(r, c->lo_z), c->hi_z), c->zp);
}

/* The low bytes of 8 lanes, in order, in the low 8 bytes. */
IRC_INLINE_AVX2 __m128i low_bytes8(__m256i v) {
    v = _mm256_and_si256(v, _mm256_set1_epi32(0xFF));
    v = _mm256_packus_epi16(_mm256_packus_epi32(v, v), v);   /* per lane: bytes 0..3 */
    return _mm_unpacklo_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
}

/* Row n's columns 4j .. 4j + 7 (4j + 3 when j is the last, odd vector), bias added. */
IRC_INLINE_AVX2 __m256i sum_halves(const __m256i *acc, int j, const int nv, __m256i bias) {
    __m256i v = _mm256_hadd_epi32(acc[j], j + 1 < nv ? acc[j + 1] : acc[j]);
    return _mm256_add_epi32(_mm256_permute4x64_epi64(v, 0xD8), bias);
}

/* Store row n of a tile: nv vectors of column halves (the header's layout) at column m,
 * `cols` columns when masked (all 4·nv otherwise). */
IRC_INLINE_AVX2 void store_row(const ctx *c, int32_t n, int32_t m, const __m256i *acc,
                               const int nv, const int masked, int cols) {
    uint8_t *yrow = c->y + (size_t)n * c->ldy_bytes + (size_t)m * c->esize;
    __m256i bias = _mm256_set1_epi32(c->bias ? c->bias[n] : 0);
    union {
        int32_t i32[4 * NV_MAX];
        uint8_t u8[4 * NV_MAX];
    } tmp;
    uint8_t *dst = masked ? (uint8_t *)&tmp : yrow;
    if (!c->mult) {
#pragma GCC unroll 3
        for (int j = 0; j < nv; j += 2) {
            __m256i v = sum_halves(acc, j, nv, bias);
            if (j + 1 < nv) _mm256_storeu_si256((__m256i *)(void *)(dst + 16 * j), v);
            else _mm_storeu_si128((__m128i *)(void *)(dst + 16 * j), _mm256_castsi256_si128(v));
        }
    } else {
        rq_row q;
        rq_row_make(&q, c->mult[n], c->shift[n]);
#pragma GCC unroll 3
        for (int j = 0; j < nv; j += 2) {
            __m128i bytes = low_bytes8(requant8(sum_halves(acc, j, nv, bias), &q, c));
            if (j + 1 < nv) {
                _mm_storel_epi64((__m128i *)(void *)(dst + 4 * j), bytes);
            } else {
                int32_t b4 = _mm_cvtsi128_si32(bytes);
                memcpy(dst + 4 * j, &b4, 4);
            }
        }
    }
    if (masked) memcpy(yrow, &tmp, (size_t)cols * c->esize);
}

/* X vector j of a tile: 4 columns' quads widened to int16; the last one of a masked tile
 * reads only the columns set in `lanes`. */
IRC_INLINE_AVX2 __m256i load_x(const uint8_t *p, __m128i lanes, const int masked) {
    __m128i v = masked ? _mm_maskload_epi32((const int *)(const void *)p, lanes)
                       : _mm_loadu_si128((const __m128i *)(const void *)p);
    return _mm256_cvtepu8_epi16(v);
}

/* Row block b, columns m .. m + 4·nv − 1, or m .. m + cols − 1 when masked.  R, nv and
 * masked are constants in each instance. */
IRC_INLINE_AVX2 void tile(const ctx *c, int32_t b, int32_t m, int cols, const int R, const int nv,
                          const int masked) {
    __m256i acc[8][NV_MAX];   /* fixed sizes (R is not a constant expression): a VLA would
                                 live in memory, not registers */
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 6
        for (int j = 0; j < nv; j++) acc[r][j] = _mm256_setzero_si256();
    const __m128i lanes =   /* the last vector's columns below cols */
        _mm_cmpgt_epi32(_mm_set1_epi32(cols - 4 * (nv - 1)), _mm_setr_epi32(0, 1, 2, 3));
    const uint8_t *xm = c->x + (size_t)m * 4;
    const int32_t e1 = c->ptr[b + 1];
    const uint8_t *wp = c->vals + (size_t)c->ptr[b] * (size_t)R * 4;
    for (int32_t e = c->ptr[b]; e < e1; e++, wp += 4 * R) {
        const uint8_t *xp = xm + (size_t)c->kidx[e] * c->xq;
        __m256i xv[NV_MAX];
#pragma GCC unroll 6
        for (int j = 0; j < nv; j++) xv[j] = load_x(xp + 16 * j, lanes, masked && j == nv - 1);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            int32_t word;
            memcpy(&word, wp + 4 * r, 4);
            __m256i wv = _mm256_cvtepi8_epi16(_mm_set1_epi32(word));
#pragma GCC unroll 6
            for (int j = 0; j < nv; j++)
                acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_madd_epi16(xv[j], wv));
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        if (b * R + r >= c->N) break;
        store_row(c, b * R + r, m, acc[r], nv, masked, cols);
    }
}

typedef void (*tile_fn)(const ctx *, int32_t, int32_t, int);

#define IRC_TILE(R, nv, masked)                                                                \
    static IRC_TARGET_AVX2 void tile_##R##_##nv##_##masked(const ctx *c, int32_t b, int32_t m, \
                                                           int cols) {                         \
        tile(c, b, m, cols, R, nv, masked);                                                    \
    }
IRC_TILE(1, 6, 0) IRC_TILE(1, 1, 1) IRC_TILE(1, 2, 1) IRC_TILE(1, 3, 1) IRC_TILE(1, 4, 1)
IRC_TILE(1, 5, 1) IRC_TILE(1, 6, 1)
IRC_TILE(2, 4, 0) IRC_TILE(2, 1, 1) IRC_TILE(2, 2, 1) IRC_TILE(2, 3, 1) IRC_TILE(2, 4, 1)
IRC_TILE(4, 4, 0) IRC_TILE(4, 1, 1) IRC_TILE(4, 2, 1) IRC_TILE(4, 3, 1) IRC_TILE(4, 4, 1)
IRC_TILE(8, 4, 0) IRC_TILE(8, 1, 1) IRC_TILE(8, 2, 1) IRC_TILE(8, 3, 1) IRC_TILE(8, 4, 1)
#undef IRC_TILE

/* Per R: the full tile's width in vectors, its instance, and the masked ones by width. */
typedef struct tiles {
    int nv;
    tile_fn full;
    tile_fn masked[NV_MAX + 1];
} tiles;

static const tiles by_r[4] = {
    {6, tile_1_6_0, {NULL, tile_1_1_1, tile_1_2_1, tile_1_3_1, tile_1_4_1, tile_1_5_1, tile_1_6_1}},
    {4, tile_2_4_0, {NULL, tile_2_1_1, tile_2_2_1, tile_2_3_1, tile_2_4_1, NULL, NULL}},
    {4, tile_4_4_0, {NULL, tile_4_1_1, tile_4_2_1, tile_4_3_1, tile_4_4_1, NULL, NULL}},
    {4, tile_8_4_0, {NULL, tile_8_1_1, tile_8_2_1, tile_8_3_1, tile_8_4_1, NULL, NULL}},
};

static IRC_TARGET_AVX2 void run(const irc_spmm_q8_args *a) {
    const irc_spmm_w *w = a->w;
    if (a->b0 >= a->b1 || a->m0 >= a->m1) return;
    ctx c;
    c.x = a->x;
    c.xq = a->ldx * 4;
    c.ptr = w->ptr;
    c.kidx = w->kidx;
    c.vals = (const uint8_t *)w->vals;
    c.bias = a->bias;
    c.mult = a->mult;
    c.shift = a->shift;
    c.N = w->N;
    int32_t bounds[3];
    irc_spmm_q8_x86_bounds(a->out_zp, a->lo, a->hi, bounds);
    c.lo_z = _mm256_set1_epi32(bounds[0]);
    c.hi_z = _mm256_set1_epi32(bounds[1]);
    c.zp = _mm256_set1_epi32(bounds[2]);
    c.y = (uint8_t *)a->y;
    c.esize = a->mult ? 1 : 4;
    c.ldy_bytes = a->ldy * c.esize;
    const tiles *t = &by_r[w->R == 1 ? 0 : w->R == 2 ? 1 : w->R == 4 ? 2 : 3];
    const int32_t width = 4 * t->nv;
    int32_t m = a->m0;
    for (; m + width <= a->m1; m += width)
        for (int32_t b = a->b0; b < a->b1; b++) t->full(&c, b, m, (int)width);
    if (m < a->m1) {
        int cols = (int)(a->m1 - m);
        for (int32_t b = a->b0; b < a->b1; b++) t->masked[(cols + 3) / 4](&c, b, m, cols);
    }
}

const irc_spmm_q8_family irc_spmm_q8_avx2 = {"avx2", IRC_ISA_AVX2, 0, run};

#endif
