/*
 * spmm_q8_avx512vnni.c — int8 sparse × dense with requantization, AVX-512 VNNI (spmm.h has
 * the contract and the packed layout; spmm_scalar.c's irc_spmm_q8_scalar_run is the twin this
 * file matches bit for bit).  act_signed = 0: X holds uint8, W int8.
 *
 * Product.  An int8 entry e of row block b is one quad q = kidx[e] of four columns, with R
 * 32-bit words vals[e·R + r] = W[bR + r][4q..4q+3].  X is quad-interleaved, so the 64 bytes
 * at x + (q·ldx + m)·4 are the quads X[4q..4q+3][m..m+15], one per 32-bit lane: exactly
 * vpdpbusd's unsigned operand.  With row r's word broadcast as the signed operand,
 *
 *   acc[r][j].lane l  +=  Σ_{i<4} X[4q+i][m+16j+l] · W[bR+r][4q+i]
 *
 * (exact: |Σ| ≤ 4·255·128 < 2^31; the lane sum wraps like the scalar's uint32).
 *
 * Tiles.  A tile is one row block × NV(R) zmm of m: R·NV accumulators, and per entry NV
 * loads of X (each reused by the R rows) and R broadcasts of W feed R·NV vpdpbusd.
 *   R = 1: NV = 4 (64 m), entries alternate between two accumulator sets (8 independent
 *          vpdpbusd chains; the two sets are added at the end, exact mod 2^32);
 *   R = 2: NV = 4; R = 4: NV = 4 (16 accumulators); R = 8: NV = 3 (24 accumulators).
 * Loop order: m tiles outer, row blocks inner, so one tile's slice of X (K/4 quads × NV·64
 * bytes) serves every row block while it is hot.  The last, partial tile of m gets its own
 * instances with ⌈rem/16⌉ vectors, the last one loaded and stored under a lane mask (masked
 * loads never touch X columns past m1, nor stores Y's).
 *
 * Epilogue (fused): the bias starts the accumulators; rows ≥ N of the last row block are
 * computed from its zero padding and not stored; mult == NULL stores the int32 sums, else
 * each row is requantized with its own (broadcast) parameters.  fixedpoint.h's
 * MBQM(x) = RDBP(SRDHM(x·2^left, m), right) is computed in 64-bit lanes with one rounding
 * shift: with p = wrap32(x·2^left)·m (vpmuldq, even lanes and the odd ones moved down),
 *   SRDHM = s = floor((p + 2^30) / 2^31) (the scalar's trunc((p + nudge)/2^31) for either
 *       sign, as qgemm_avx512vnni.c's mbqm16 derives), and for right = r > 0
 *   RDBP(s, r) = floor((s + 2^(r−1) − [s < 0]) / 2^r)   (half away from zero: ties of
 *       negative s go down), where s < 0 ⇔ p < −2^30.  floor((floor(a/b) + j)/c) =
 *       floor((a + j·b)/(b·c)) for integers a, j and b, c > 0, so
 *   MBQM = floor((p + k − [p < −2^30]·2^31) / 2^(31+r)),  k = 2^30 + 2^(30+r)
 *       (r = 0: k = 2^30, no sign term): vpaddq, a compare into a mask, a masked vpsubq of
 *       2^31 where p + k < t = k − 2^30, and vpsraq by 31 + r; |p + k| < 2^63.
 * Every product but INT32_MIN·INT32_MIN = 2^62 has |p| ≤ 2^62 − 2^31; that one gives
 * 2^(31−r): right for r > 0 (RDBP(INT32_MAX, r)), and INT32_MIN for r = 0, mapped to
 * SRDHM's saturation INT32_MAX — only in rows whose mult is INT32_MIN, where no other lane
 * can be INT32_MIN.
 * Then y = clamp(·, L, H) + zp' from irc_spmm_q8_x86_bounds (the int64 rule
 * clamp(MBQM + zp, lo, hi) without 64-bit lanes), and vpmovdb keeps the low byte, the
 * scalar's (int8_t)/(uint8_t) cast.  (Two vpsraq instead of the five 32-bit shifts of
 * SRDHM then RDBP: ~18 % less time where the epilogue dominates, e.g. 256×128 × 196 at
 * 95 % sparsity.)
 *
 * The functions carry target attributes (one library for every level); this code runs only
 * where irc_cpu_isas() reports IRC_ISA_AVX512VNNI.
 */
#include "spmm.h"

/* GCC's -O3 (the cffi build's level) turns the R = 8 tile's 24 accumulators into a loop
 * that spills them: 8x1 blocks ran 4x slower than at -O2 (bench/sparse_kernels.py,
 * spmm_q8_check --bench).  This file is tuned for -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O2")
#endif

#include "../internal.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <string.h>

/* clamp(y + zp, lo, hi) as clamp(y, b[0], b[1]) + b[2] on int32 lanes (spmm_q8_avx2.c). */
void irc_spmm_q8_x86_bounds(int32_t zp, int32_t lo, int32_t hi, int32_t b[3]);

#define IRC_TARGET_AVX512VNNI \
    __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))
#define IRC_INLINE_AVX512VNNI static inline __attribute__((always_inline)) IRC_TARGET_AVX512VNNI

#define NV_MAX 4

/* What a tile needs besides its row block and columns. */
typedef struct ctx {
    const uint8_t *x;          /* X at column 0 of quad 0 */
    size_t xq;                 /* bytes per quad row of X (ldx·4) */
    const int32_t *ptr, *kidx;
    const uint8_t *vals;
    const int32_t *bias, *mult, *shift;
    int32_t N;
    __m512i zp, lo_z, hi_z;    /* out_zp; the clamp bounds less out_zp */
    uint8_t *y;                /* Y[0][0] */
    size_t ldy_bytes, esize;
} ctx;

/* One row's requantization parameters (uniform over the lanes): the header's k, t, and
 * the shift counts. */
typedef struct rq_row {
    __m512i mult, k, thr, two31;
    __m128i left, sh;
    int any_left, sat;
} rq_row;

IRC_INLINE_AVX512VNNI void rq_row_make(rq_row *q, int32_t mult, int32_t shift) {
    int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    int64_t k = ((int64_t)1 << 30) + (right ? ((int64_t)1 << (30 + right)) : 0);
    q->mult = _mm512_set1_epi32(mult);
    q->k = _mm512_set1_epi64(k);
    q->thr = _mm512_set1_epi64(right ? k - ((int64_t)1 << 30) : INT64_MIN);
    q->two31 = _mm512_set1_epi64((int64_t)1 << 31);
    q->left = _mm_cvtsi32_si128(left);
    q->sh = _mm_cvtsi32_si128(31 + right);
    q->any_left = left != 0;
    q->sat = mult == INT32_MIN;
}

/* clamp(MBQM(x, mult, shift) + zp, lo, hi) on 16 lanes (the header's algebra). */
IRC_INLINE_AVX512VNNI __m512i requant16(__m512i x, const rq_row *q, const ctx *c) {
    if (q->any_left) x = _mm512_sll_epi32(x, q->left);
    __m512i e = _mm512_add_epi64(_mm512_mul_epi32(x, q->mult), q->k);
    __m512i x_odd = _mm512_shuffle_epi32(x, (_MM_PERM_ENUM)0xF5);   /* dwords 1, 3 → 0, 2 */
    __m512i o = _mm512_add_epi64(_mm512_mul_epi32(x_odd, q->mult), q->k);
    e = _mm512_mask_sub_epi64(e, _mm512_cmplt_epi64_mask(e, q->thr), e, q->two31);
    o = _mm512_mask_sub_epi64(o, _mm512_cmplt_epi64_mask(o, q->thr), o, q->two31);
    e = _mm512_sra_epi64(e, q->sh);
    o = _mm512_sra_epi64(o, q->sh);
    __m512i r = _mm512_mask_shuffle_epi32(e, (__mmask16)0xAAAA, o, (_MM_PERM_ENUM)0xA0);
    if (q->sat) {
        __mmask16 sat = _mm512_cmpeq_epi32_mask(r, _mm512_set1_epi32(INT32_MIN));
        r = _mm512_mask_mov_epi32(r, sat, _mm512_set1_epi32(INT32_MAX));
    }
    return _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(r, c->lo_z), c->hi_z), c->zp);
}

/* Store row n's nv vectors at column m (the last under `tail` when masked). */
IRC_INLINE_AVX512VNNI void store_row(const ctx *c, int32_t n, int32_t m, const __m512i *acc,
                                     const int nv, const int masked, __mmask16 tail) {
    uint8_t *yrow = c->y + (size_t)n * c->ldy_bytes + (size_t)m * c->esize;
    if (!c->mult) {
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++) {
            if (masked && j == nv - 1) _mm512_mask_storeu_epi32(yrow + 64 * j, tail, acc[j]);
            else _mm512_storeu_si512(yrow + 64 * j, acc[j]);
        }
        return;
    }
    rq_row q;
    rq_row_make(&q, c->mult[n], c->shift[n]);
#pragma GCC unroll 4
    for (int j = 0; j < nv; j++) {
        __m128i bytes = _mm512_cvtepi32_epi8(requant16(acc[j], &q, c));
        if (masked && j == nv - 1) _mm_mask_storeu_epi8(yrow + 16 * j, tail, bytes);
        else _mm_storeu_si128((__m128i *)(void *)(yrow + 16 * j), bytes);
    }
}

IRC_INLINE_AVX512VNNI __m512i bcast_word(const uint8_t *p) {
    int32_t w;
    memcpy(&w, p, 4);
    return _mm512_set1_epi32(w);
}

/* Row block b, columns m .. m + 16·nv − 1 (the last vector limited to `tail` when masked).
 * R, nv and masked are constants in each instance. */
IRC_INLINE_AVX512VNNI void tile(const ctx *c, int32_t b, int32_t m, __mmask16 tail, const int R,
                                const int nv, const int masked) {
    const int S = R == 1 ? 2 : 1;   /* accumulator sets that entries alternate between */
    __m512i acc[2][8][NV_MAX];   /* fixed sizes (S, R are not constant expressions): a VLA
                                    would live in memory, not registers */
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        __m512i b0 = c->bias ? _mm512_set1_epi32(c->bias[b * R + r]) : _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++) {
            acc[0][r][j] = b0;
            if (S == 2) acc[S - 1][r][j] = _mm512_setzero_si512();
        }
    }
    const uint8_t *xm = c->x + (size_t)m * 4;
    int32_t e = c->ptr[b];
    const int32_t e1 = c->ptr[b + 1];
    const uint8_t *wp = c->vals + (size_t)e * (size_t)R * 4;
    for (; e + S <= e1; e += S) {
#pragma GCC unroll 2
        for (int s = 0; s < S; s++, wp += 4 * R) {
            const uint8_t *xp = xm + (size_t)c->kidx[e + s] * c->xq;
            __m512i xv[NV_MAX];
#pragma GCC unroll 4
            for (int j = 0; j < nv; j++)
                xv[j] = masked && j == nv - 1 ? _mm512_maskz_loadu_epi32(tail, xp + 64 * j)
                                              : _mm512_loadu_si512(xp + 64 * j);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                __m512i wv = bcast_word(wp + 4 * r);
#pragma GCC unroll 4
                for (int j = 0; j < nv; j++)
                    acc[s][r][j] = _mm512_dpbusd_epi32(acc[s][r][j], xv[j], wv);
            }
        }
    }
    if (S == 2) {
        if (e < e1) {                /* the odd entry out */
            const uint8_t *xp = xm + (size_t)c->kidx[e] * c->xq;
            __m512i wv = bcast_word(wp);
#pragma GCC unroll 4
            for (int j = 0; j < nv; j++) {
                __m512i xv = masked && j == nv - 1 ? _mm512_maskz_loadu_epi32(tail, xp + 64 * j)
                                                   : _mm512_loadu_si512(xp + 64 * j);
                acc[0][0][j] = _mm512_dpbusd_epi32(acc[0][0][j], xv, wv);
            }
        }
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++)
            acc[0][0][j] = _mm512_add_epi32(acc[0][0][j], acc[S - 1][0][j]);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        if (b * R + r >= c->N) break;
        store_row(c, b * R + r, m, acc[0][r], nv, masked, tail);
    }
}

typedef void (*tile_fn)(const ctx *, int32_t, int32_t, __mmask16);

#define IRC_TILE(R, nv, masked)                                                                \
    static IRC_TARGET_AVX512VNNI void tile_##R##_##nv##_##masked(const ctx *c, int32_t b,      \
                                                                 int32_t m, __mmask16 tail) {  \
        tile(c, b, m, tail, R, nv, masked);                                                    \
    }
IRC_TILE(1, 4, 0) IRC_TILE(1, 1, 1) IRC_TILE(1, 2, 1) IRC_TILE(1, 3, 1) IRC_TILE(1, 4, 1)
IRC_TILE(2, 4, 0) IRC_TILE(2, 1, 1) IRC_TILE(2, 2, 1) IRC_TILE(2, 3, 1) IRC_TILE(2, 4, 1)
IRC_TILE(4, 4, 0) IRC_TILE(4, 1, 1) IRC_TILE(4, 2, 1) IRC_TILE(4, 3, 1) IRC_TILE(4, 4, 1)
IRC_TILE(8, 3, 0) IRC_TILE(8, 1, 1) IRC_TILE(8, 2, 1) IRC_TILE(8, 3, 1)
#undef IRC_TILE

/* Per R: the full tile's width in vectors, its instance, and the masked ones by width
 * (1 .. the full width). */
typedef struct tiles {
    int nv;
    tile_fn full;
    tile_fn masked[NV_MAX + 1];
} tiles;

static const tiles by_r[4] = {
    {4, tile_1_4_0, {NULL, tile_1_1_1, tile_1_2_1, tile_1_3_1, tile_1_4_1}},
    {4, tile_2_4_0, {NULL, tile_2_1_1, tile_2_2_1, tile_2_3_1, tile_2_4_1}},
    {4, tile_4_4_0, {NULL, tile_4_1_1, tile_4_2_1, tile_4_3_1, tile_4_4_1}},
    {3, tile_8_3_0, {NULL, tile_8_1_1, tile_8_2_1, tile_8_3_1, NULL}},
};

static IRC_TARGET_AVX512VNNI void run(const irc_spmm_q8_args *a) {
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
    c.lo_z = _mm512_set1_epi32(bounds[0]);
    c.hi_z = _mm512_set1_epi32(bounds[1]);
    c.zp = _mm512_set1_epi32(bounds[2]);
    c.y = (uint8_t *)a->y;
    c.esize = a->mult ? 1 : 4;
    c.ldy_bytes = a->ldy * c.esize;
    const tiles *t = &by_r[w->R == 1 ? 0 : w->R == 2 ? 1 : w->R == 4 ? 2 : 3];
    const int32_t width = 16 * t->nv;
    int32_t m = a->m0;
    for (; m + width <= a->m1; m += width)
        for (int32_t b = a->b0; b < a->b1; b++) t->full(&c, b, m, (__mmask16)0xFFFF);
    if (m < a->m1) {
        int32_t rem = a->m1 - m;
        int nv = (int)((rem + 15) / 16);
        int last = (int)(rem - 16 * (nv - 1));
        __mmask16 tail = (__mmask16)(last == 16 ? 0xFFFFu : (1u << last) - 1u);
        for (int32_t b = a->b0; b < a->b1; b++) t->masked[nv](&c, b, m, tail);
    }
}

const irc_spmm_q8_family irc_spmm_q8_avx512vnni = {
    "avx512vnni", IRC_ISA_AVX512VNNI, 0, run,
};

#endif
