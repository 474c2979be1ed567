/*
 * qgemm_avx512vnni.c — int8 GEMM with requantization, AVX-512 VNNI (qgemm.h has the contract,
 * qgemm_scalar.c the reference twin this file matches bit for bit).
 *
 * Product.  vpdpbusd(acc, u, s) adds, in each int32 lane, the 4-term dot product of four
 * unsigned bytes of u with four signed bytes of s — exact (|Σ| ≤ 4·255·128 < 2^31) and the
 * lane sum wraps like the scalar's uint32 accumulator.  B is packed (qgemm_x86_common.h)
 * with kr = 4, nr = 64: for K-group g a panel holds 4 zmm, lane c of vector j the 4 bytes
 * B[4g..4g+3][16j+c].  A row m's 4 bytes A[m][4g..4g+3] broadcast to every lane, so
 *
 *   acc[i][j].lane c  +=  Σ_{r<4} A[m+i][4g+r] · B[4g+r][n+16j+c].
 *
 * The unsigned operand must be the activation: a_is_act = 1 → vpdpbusd(acc, bcast A, B),
 * a_is_act = 0 → vpdpbusd(acc, B, bcast A).
 *
 * Microkernel: MR = 6 rows × 64 columns = 24 zmm accumulators; per K-group 4 loads of B
 * (kept in registers for the 6 rows) and 6 broadcasts of A feed 24 vpdpbusd.  Blocks of
 * fewer rows (M tails) get their own instances (1..5 rows, A rows past m1 never read);
 * columns past n1 are computed from B's zero padding and not stored (masked stores for a
 * partial vector).  Loop order: panels outer, rows inner, so one B panel (K·64 bytes) is
 * reused by every row block while it is hot in L1/L2.
 *
 * On the Zen 5 VM this was tuned on, vpdpbusd zmm and zmm loads each retire once per cycle;
 * this loop reaches ~95% of a register-only vpdpbusd loop on the large shapes of
 * bench/gemm_int8_kernels.c.  M = 1 streams B once from L2 (~30 B per cycle), which no
 * tiling changes.  The epilogue is ~17 zmm operations per 16 outputs (2 per cycle), which
 * is what small K (3136×64×64) pays for.
 *
 * Requantization: mbqm16() below is fixedpoint.h's irc_mbqm on 16 lanes; the zero point and
 * clamp follow qgemm_x86_common.h's irc_qgemm_x86_clamp_bounds.
 *
 * The functions carry target attributes, so the library is built with one set of flags
 * and this code runs only where irc_cpu_isas() reports IRC_ISA_AVX512VNNI.
 */
#include "qgemm.h"

#include "../internal.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "qgemm_x86_common.h"

#define IRC_TARGET_AVX512VNNI \
    __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))
#define IRC_INLINE_AVX512VNNI static inline __attribute__((always_inline)) IRC_TARGET_AVX512VNNI

#define MR 6     /* rows per microkernel */
#define NV 4     /* zmm accumulators per row */
#define NR 64    /* columns per B panel = 16·NV */
#define KR 4     /* K bytes per vpdpbusd lane */

static size_t packed_size(int32_t K, int32_t N) { return irc_qgemm_x86_packed_size(K, N, NR); }

/* One K-group of a whole panel from a row-major source: rows r0..r3 (64 bytes each) to
 * 64 columns × 4 bytes.  unpack*_epi8 / unpack*_epi16 interleave within 128-bit lanes, so
 * q_j's lane l holds the quads of columns 16l + 4j .. 16l + 4j + 3; output vector l is
 * [q0.l q1.l q2.l q3.l], a 4×4 transpose of 128-bit blocks (8 vshufi64x2). */
static IRC_TARGET_AVX512VNNI void pack_group64(const uint8_t *src, ptrdiff_t rs, __m512i x,
                                               uint8_t *dst) {
    __m512i r0 = _mm512_xor_si512(_mm512_loadu_si512(src), x);
    __m512i r1 = _mm512_xor_si512(_mm512_loadu_si512(src + rs), x);
    __m512i r2 = _mm512_xor_si512(_mm512_loadu_si512(src + 2 * rs), x);
    __m512i r3 = _mm512_xor_si512(_mm512_loadu_si512(src + 3 * rs), x);
    __m512i p01l = _mm512_unpacklo_epi8(r0, r1), p01h = _mm512_unpackhi_epi8(r0, r1);
    __m512i p23l = _mm512_unpacklo_epi8(r2, r3), p23h = _mm512_unpackhi_epi8(r2, r3);
    __m512i q0 = _mm512_unpacklo_epi16(p01l, p23l), q1 = _mm512_unpackhi_epi16(p01l, p23l);
    __m512i q2 = _mm512_unpacklo_epi16(p01h, p23h), q3 = _mm512_unpackhi_epi16(p01h, p23h);
    __m512i t0 = _mm512_shuffle_i64x2(q0, q1, 0x44), t1 = _mm512_shuffle_i64x2(q0, q1, 0xEE);
    __m512i t2 = _mm512_shuffle_i64x2(q2, q3, 0x44), t3 = _mm512_shuffle_i64x2(q2, q3, 0xEE);
    _mm512_storeu_si512(dst, _mm512_shuffle_i64x2(t0, t2, 0x88));
    _mm512_storeu_si512(dst + 64, _mm512_shuffle_i64x2(t0, t2, 0xDD));
    _mm512_storeu_si512(dst + 128, _mm512_shuffle_i64x2(t1, t3, 0x88));
    _mm512_storeu_si512(dst + 192, _mm512_shuffle_i64x2(t1, t3, 0xDD));
}

/* Whole panels × whole K-groups of a row-major source in zmm; the ragged edges, and other
 * strides, by the shared byte-by-byte packer. */
static IRC_TARGET_AVX512VNNI void pack_b(int32_t K_src, int32_t K, int32_t N, const uint8_t *src,
                                         ptrdiff_t rs, ptrdiff_t cs, uint8_t xor_mask, void *dst) {
    uint8_t *out = dst;
    int32_t panels = (N + NR - 1) / NR, groups = K / KR;
    int32_t full_p = cs == 1 ? N / NR : 0, full_g = K_src / KR;
    __m512i x = _mm512_set1_epi8((char)xor_mask);
    for (int32_t p = 0; p < full_p; p++) {
        uint8_t *d = out + (size_t)p * (size_t)groups * NR * KR;
        const uint8_t *s = src + (ptrdiff_t)p * NR;
        for (int32_t g = 0; g < full_g; g++, s += KR * rs, d += NR * KR) pack_group64(s, rs, x, d);
    }
    irc_qgemm_x86_pack_range(K_src, K, N, src, rs, cs, xor_mask, out, NR, KR, 0, full_p, full_g,
                             groups);
    irc_qgemm_x86_pack_range(K_src, K, N, src, rs, cs, xor_mask, out, NR, KR, full_p, panels, 0,
                             groups);
}

/* The requantization parameters of 16 lanes, with shift split and its masks precomputed:
 *   left = max(shift, 0), right = max(−shift, 0), mask = 2^right − 1, half = mask >> 1,
 * and whether any lane needs the left shift or can hit SRDHM's saturation (mult INT32_MIN):
 * usually none does, and skipping them saves 3 of the ~20 vector ops per 16 outputs. */
typedef struct rq16 {
    __m512i mult, mult_odd, left, right, mask, half;
    int any_left, any_sat;
} rq16;

IRC_INLINE_AVX512VNNI void rq16_make(rq16 *q, __m512i mult, __m512i shift) {
    __m512i zero = _mm512_setzero_si512(), ones = _mm512_set1_epi32(-1);
    q->mult = mult;
    q->mult_odd = _mm512_srli_epi64(mult, 32);
    q->left = _mm512_max_epi32(shift, zero);
    q->right = _mm512_max_epi32(_mm512_sub_epi32(zero, shift), zero);
    q->mask = _mm512_xor_si512(_mm512_sllv_epi32(ones, q->right), ones);
    q->half = _mm512_srli_epi32(q->mask, 1);
    q->any_left = _mm512_cmpgt_epi32_mask(shift, zero) != 0;
    q->any_sat = _mm512_cmpeq_epi32_mask(mult, _mm512_set1_epi32(INT32_MIN)) != 0;
}

/* MBQM(x, mult, shift) on 16 lanes, exactly fixedpoint.h's irc_mbqm:
 *
 *   x    ← wrap32(x · 2^left)                                   vpsllvd wraps
 *   SRDHM: the scalar's trunc((x·m + nudge) / 2^31), nudge = 2^30 or 1 − 2^30 by sign, is
 *          floor((x·m + 2^30) / 2^31) for every product (for x·m < 0, trunc(v/2^31) =
 *          floor((v + 2^31 − 1)/2^31) and v + 2^31 − 1 = x·m + 2^30).  Its low 32 bits are
 *          bits 31..62 of the 64-bit x·m + 2^30: vpmuldq on the even lanes and on the odd
 *          lanes shifted down, add 2^30, even: >> 31 (low dword), odd: << 1 (high dword),
 *          blend.  The one product whose quotient does not fit, INT32_MIN·INT32_MIN = 2^62,
 *          comes out as INT32_MIN, which no other product gives (|x·m| < 2^62 otherwise):
 *          it is mapped to INT32_MAX, the scalar's saturation.
 *   RDBP(s, right) = (s >> right) + (rem > thr),  rem = s & mask,  thr = half + (s < 0)
 *          (half − (s >> 31)); right = 0 gives mask 0 and never rounds up. */
IRC_INLINE_AVX512VNNI __m512i mbqm16(__m512i x, const rq16 *q) {
    const __m512i nudge = _mm512_set1_epi64((int64_t)1 << 30);
    if (q->any_left) x = _mm512_sllv_epi32(x, q->left);
    __m512i even = _mm512_add_epi64(_mm512_mul_epi32(x, q->mult), nudge);
    __m512i odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), q->mult_odd), nudge);
    __m512i s = _mm512_mask_blend_epi32((__mmask16)0xAAAA, _mm512_srli_epi64(even, 31),
                                        _mm512_slli_epi64(odd, 1));
    if (q->any_sat) {
        __mmask16 sat = _mm512_cmpeq_epi32_mask(s, _mm512_set1_epi32(INT32_MIN));
        s = _mm512_mask_mov_epi32(s, sat, _mm512_set1_epi32(INT32_MAX));
    }
    __m512i r = _mm512_srav_epi32(s, q->right);
    __m512i rem = _mm512_and_si512(s, q->mask);
    __m512i thr = _mm512_sub_epi32(q->half, _mm512_srai_epi32(s, 31));
    __mmask16 up = _mm512_cmpgt_epi32_mask(rem, thr);
    return _mm512_mask_sub_epi32(r, up, r, _mm512_set1_epi32(-1));
}

/* Everything the epilogue needs besides the accumulators. */
typedef struct epi {
    const int32_t *bias, *mult, *shift, *row_bias;   /* row_bias: per_col only */
    int per_col;
    __m512i zp, lo_z, hi_z;         /* out_zp; the clamp bounds less out_zp (clamp_bounds) */
    uint8_t *c;                     /* C[m][n] of the tile's first row and column */
    size_t ldc_bytes;               /* row stride in bytes */
    int32_t m;                      /* the tile's first row */
    __m512i colbias[NV];            /* per_col: the panel's bias (0 without one) */
    rq16 colq[NV];                  /* per_col with mult: the panel's parameters */
} epi;

/* Write row i of a tile (bias already in the accumulators): requantize or not, store the
 * lanes allowed by `cols` (plain stores for whole vectors: masked ones are slower).  Per-row
 * channels: the row's scalars are broadcast once. */
IRC_INLINE_AVX512VNNI void store_row(const epi *e, int i, __m512i *acc, int cols) {
    uint8_t *crow = e->c + (size_t)i * e->ldc_bytes;
    rq16 rowq;
    if (e->mult && !e->per_col)
        rq16_make(&rowq, _mm512_set1_epi32(e->mult[e->m + i]),
                  _mm512_set1_epi32(e->shift[e->m + i]));
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) {
        int left = cols - 16 * j;
        if (left <= 0) break;
        __mmask16 k = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        if (!e->mult) {
            if (left >= 16) _mm512_storeu_si512(crow + (size_t)j * 64, acc[j]);
            else _mm512_mask_storeu_epi32(crow + (size_t)j * 64, k, acc[j]);
            continue;
        }
        const rq16 *q = e->per_col ? &e->colq[j] : &rowq;
        __m512i y = _mm512_min_epi32(_mm512_max_epi32(mbqm16(acc[j], q), e->lo_z), e->hi_z);
        y = _mm512_add_epi32(y, e->zp);
        /* vpmovdb truncates like the scalar's (int8_t)/(uint8_t) cast */
        __m128i bytes = _mm512_cvtepi32_epi8(y);
        if (left >= 16) _mm_storeu_si128((__m128i *)(void *)(crow + (size_t)j * 16), bytes);
        else _mm_mask_storeu_epi8(crow + (size_t)j * 16, k, bytes);
    }
}

/* The per-column parameters of the panel at column n (only when per_col); whole vectors,
 * as the arrays are padded to round_up(N, 64). */
IRC_INLINE_AVX512VNNI void load_panel(epi *e, int32_t n) {
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) {
        int32_t ch = n + 16 * j;
        e->colbias[j] = e->bias ? _mm512_loadu_si512(e->bias + ch) : _mm512_setzero_si512();
        if (e->mult)
            rq16_make(&e->colq[j], _mm512_loadu_si512(e->mult + ch),
                      _mm512_loadu_si512(e->shift + ch));
    }
}

/* One tile: `rows` (1..MR) rows of A from `a` times the K×64 panel `bp`, then the epilogue.
 * The accumulators start at the bias.  `rows` and `act` are constants in each instance
 * (always_inline into tile_<rows>_<act>). */
IRC_INLINE_AVX512VNNI void tile(const uint8_t *a, size_t lda, const uint8_t *bp, int32_t K,
                                const epi *e, int cols, const int rows, const int act) {
    __m512i acc[MR][NV];
#pragma GCC unroll 6
    for (int i = 0; i < rows; i++) {
        __m512i rb = _mm512_setzero_si512();
        if (!e->per_col && e->bias) rb = _mm512_set1_epi32(e->bias[e->m + i]);
        __m512i rowb = e->row_bias ? _mm512_set1_epi32(e->row_bias[e->m + i]) : _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) acc[i][j] = e->per_col ? _mm512_add_epi32(e->colbias[j], rowb) : rb;
    }
#pragma GCC unroll 2
    for (int32_t k = 0; k < K; k += KR) {
        __m512i b[NV];
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) b[j] = _mm512_loadu_si512(bp + 64 * j);
#pragma GCC unroll 6
        for (int i = 0; i < rows; i++) {
            int32_t quad;
            memcpy(&quad, a + (size_t)i * lda + (size_t)k, 4);
            __m512i av = _mm512_set1_epi32(quad);
#pragma GCC unroll 4
            for (int j = 0; j < NV; j++)
                acc[i][j] = act ? _mm512_dpbusd_epi32(acc[i][j], av, b[j])
                                : _mm512_dpbusd_epi32(acc[i][j], b[j], av);
        }
        bp += NR * KR;
    }
#pragma GCC unroll 6
    for (int i = 0; i < rows; i++) store_row(e, i, acc[i], cols);
}

#define IRC_TILE(rows, act)                                                                    \
    static IRC_TARGET_AVX512VNNI void tile_##rows##_##act(const uint8_t *a, size_t lda,        \
                                                          const uint8_t *bp, int32_t K,        \
                                                          const epi *e, int cols) {            \
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

static IRC_TARGET_AVX512VNNI void run(const irc_qgemm_args *p) {
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
    e.zp = _mm512_set1_epi32(p->out_zp);
    e.lo_z = _mm512_set1_epi32(lo_z);
    e.hi_z = _mm512_set1_epi32(hi_z);
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

const irc_qgemm_family irc_qgemm_avx512vnni = {
    "avx512vnni", IRC_ISA_AVX512VNNI, 0, NR, KR, packed_size, pack_b, run,
};

#endif
