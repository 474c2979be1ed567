/*
 * qgemm_neon.c — int8 GEMM for arm64 without the dot-product extension
 * (family "neon": s8×s8, 4×16 tiles, kr = 2), plus the pieces the "neondot"
 * family (qgemm_neondot.c) shares with it: B packing, the block driver and the
 * requantizing epilogue.  qgemm.h has the contract; qgemm_scalar.c is the twin.
 *
 * Domains.  act_signed = 1: A and B are both int8 (activations were moved to
 * int8 by the caller, x ^ 0x80 with the zero point folded into the bias), so
 * a_is_act does not change the arithmetic here.
 *
 * Packed B (both arm64 families; kr = 2 here, 4 for neondot).  Columns are
 * grouped in panels of NR = 16, K in groups of kr; inside a group the kr values
 * of one column are adjacent:
 *
 *   packed[p·16·K + g·16·kr + j·kr + i] = B[g·kr + i][16p + j]    (0 past K_src, N)
 *
 * so one k-group of a panel is 16·kr contiguous bytes: with kr = 2, two
 * vectors [c0k0 c0k1 c1k0 c1k1 … c7k1] and [c8k0 … c15k1]; with kr = 4, four
 * vectors [c0k0..c0k3 c1k0..c1k3 c2.. c3..] … [c12.. c15..].  packed_size is
 * round_up(N, 16)·K.
 *
 * Products, exactly.  SMULL multiplies 8 s8 pairs into 8 s16 lanes
 * (|a·b| <= 128·128 = 2^14 fits), SADALP adds adjacent s16 lane pairs into
 * s32 lanes.  With B lanes [cjk0 cjk1] and A's pair (ak0, ak1) broadcast to
 * every lane pair, lane j of the s32 accumulator gains ak0·B[k0][j] +
 * ak1·B[k1][j].  Two products are never summed in s16 (SMLAL would overflow at
 * (−128)(−128)·2 = 2^15); the s32 sums wrap mod 2^32 like the scalar twin.
 *
 * Requantization (fixedpoint.h, bit-exact):
 *   x = acc << max(shift, 0)              SSHL, wrapping like wrap32(x·2^left)
 *   h = SQRDMULH(x, mult)                 is SRDHM, saturation included
 *   y = SRSHL(h +sat fixup, −right)       rounds half up; fixup = −1 when h < 0 and
 *                                         right > 0 (gemmlowp's RoundingDivideByPOT:
 *                                         (h & −right) >> 31), turning it into RDBP's
 *                                         half away from zero
 *   out = clamp(y +sat out_zp, lo, hi)    saturating add = irc/fixedpoint.py's int64
 *                                         sum, since lo, hi are int32 (fixedpoint.h's
 *                                         int32 sum overflows there: UB, not a rule)
 * then XTN twice keeps the low byte, the same bits as the scalar (u)int8 cast.
 */
#include "qgemm.h"

#include "../internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#define NR 16
#define MR 4
/* Loops over the rows and vectors of a tile run a constant number of times: unrolled,
 * their accumulators live in registers. */
#define UNROLL _Pragma("GCC unroll 16")

/* A tile kernel: acc[r][j] = Σ_{k<K} A[r][k]·B[k][j] for r < mr (1..MR), j < NR, where
 * A[r] is at a + r·lda and B is one packed panel.  acc is written whole for r < mr. */
typedef void (*irc_qgemm_neon_tile_fn)(int mr, int32_t K, const int8_t *a, size_t lda,
                                       const int8_t *panel, int32_t acc[MR][NR]);

/* Shared with qgemm_neondot.c (declared there too: qgemm.h is the place for them). */
size_t irc_qgemm_neon_packed_size(int32_t K, int32_t N);
void irc_qgemm_neon_pack_b_kr(int kr, int32_t K_src, int32_t K, int32_t N, const uint8_t *src,
                              ptrdiff_t rs, ptrdiff_t cs, uint8_t xor_mask, void *dst);
void irc_qgemm_neon_run_tiles(const irc_qgemm_args *p, irc_qgemm_neon_tile_fn tile);

/* --- packing ------------------------------------------------------------------------------ */

size_t irc_qgemm_neon_packed_size(int32_t K, int32_t N) {
    return irc_round_up((size_t)N, NR) * (size_t)K;
}

void irc_qgemm_neon_pack_b_kr(int kr, int32_t K_src, int32_t K, int32_t N, const uint8_t *src,
                              ptrdiff_t rs, ptrdiff_t cs, uint8_t xor_mask, void *dst) {
    uint8_t *out = dst;
    const uint8x16_t mask = vdupq_n_u8(xor_mask);
    for (int32_t n = 0; n < N; n += NR) {
        for (int32_t k = 0; k < K; k += kr, out += NR * kr) {
            if (cs == 1 && n + NR <= N && k + kr <= K_src) {
                /* 16 contiguous columns of kr rows: ST2/ST4 interleave them into
                 * [c0k0 c0k1 (c0k2 c0k3) c1k0 …], the group layout above. */
                const uint8_t *s = src + k * rs + n;
                uint8x16_t r0 = veorq_u8(vld1q_u8(s), mask);
                uint8x16_t r1 = veorq_u8(vld1q_u8(s + rs), mask);
                if (kr == 2) {
                    uint8x16x2_t v = {{r0, r1}};
                    vst2q_u8(out, v);
                } else {
                    uint8x16x4_t v = {{r0, r1, veorq_u8(vld1q_u8(s + 2 * rs), mask),
                                       veorq_u8(vld1q_u8(s + 3 * rs), mask)}};
                    vst4q_u8(out, v);
                }
                continue;
            }
            for (int j = 0; j < NR; j++)
                for (int i = 0; i < kr; i++) {
                    int32_t kk = k + i, nn = n + j;
                    out[j * kr + i] =
                        kk < K_src && nn < N ? (uint8_t)(src[kk * rs + nn * cs] ^ xor_mask) : 0;
                }
        }
    }
}

static void pack_b_kr2(int32_t K_src, int32_t K, int32_t N, const uint8_t *src, ptrdiff_t rs,
                       ptrdiff_t cs, uint8_t xor_mask, void *dst) {
    irc_qgemm_neon_pack_b_kr(2, K_src, K, N, src, rs, cs, xor_mask, dst);
}

/* --- the epilogue and the block driver ---------------------------------------------------- */

/* The channel parameters of a 16-column row: channels n..n+15 (per column, vector loads;
 * the arrays are padded to round_up(C, 64) >= round_up(N, 16)) or channel m broadcast. */
typedef struct channels {
    int32x4_t bias[4], mult[4], left[4], neg_right[4];
} channels;

static void load_channels(const irc_qgemm_args *p, int32_t c, channels *ch) {
    const int32x4_t zero = vdupq_n_s32(0);
    for (int q = 0; q < 4; q++) {
        int32_t at = p->per_col ? c + 4 * q : c;
        ch->bias[q] = !p->bias ? zero : p->per_col ? vld1q_s32(p->bias + at)
                                                   : vdupq_n_s32(p->bias[at]);
        if (!p->mult) continue;
        int32x4_t shift = p->per_col ? vld1q_s32(p->shift + at) : vdupq_n_s32(p->shift[at]);
        ch->mult[q] = p->per_col ? vld1q_s32(p->mult + at) : vdupq_n_s32(p->mult[at]);
        ch->left[q] = vmaxq_s32(shift, zero);          /* max(shift, 0) */
        ch->neg_right[q] = vminq_s32(shift, zero);     /* −max(−shift, 0) */
    }
}

/* bias, requantize, clamp, narrow and store rows m..m+mr−1, columns n..n+nc−1 (the
 * header's algebra); a partial row goes through a 16-lane buffer so nothing past n+nc is
 * written. */
static void store_tile(const irc_qgemm_args *p, int32_t m, int mr, int32_t n, int nc,
                       int32_t acc[MR][NR]) {
    const int32x4_t zp = vdupq_n_s32(p->out_zp), lo = vdupq_n_s32(p->lo), hi = vdupq_n_s32(p->hi);
    channels ch;
    if (p->per_col) load_channels(p, n, &ch);
    for (int r = 0; r < mr; r++) {
        int32_t row = m + r;
        if (!p->per_col) load_channels(p, row, &ch);
        size_t at = (size_t)row * p->ldc + (size_t)n;
        int32x4_t v[4];
        int32x4_t rowb = vdupq_n_s32(p->per_col && p->row_bias ? p->row_bias[row] : 0);
        for (int q = 0; q < 4; q++)
            v[q] = vaddq_s32(vaddq_s32(vld1q_s32(acc[r] + 4 * q), ch.bias[q]), rowb);
        if (!p->mult) {
            int32_t *c = (int32_t *)p->c + at, tmp[NR];
            int32_t *dst = nc == NR ? c : tmp;
            for (int q = 0; q < 4; q++) vst1q_s32(dst + 4 * q, v[q]);
            if (nc < NR) memcpy(c, tmp, (size_t)nc * sizeof(int32_t));
            continue;
        }
        for (int q = 0; q < 4; q++) {
            int32x4_t h = vqrdmulhq_s32(vshlq_s32(v[q], ch.left[q]), ch.mult[q]);
            int32x4_t fixup = vshrq_n_s32(vandq_s32(h, ch.neg_right[q]), 31);
            int32x4_t y = vrshlq_s32(vqaddq_s32(h, fixup), ch.neg_right[q]);
            v[q] = vminq_s32(vmaxq_s32(vqaddq_s32(y, zp), lo), hi);
        }
        int8x16_t bytes = vcombine_s8(vmovn_s16(vcombine_s16(vmovn_s32(v[0]), vmovn_s32(v[1]))),
                                      vmovn_s16(vcombine_s16(vmovn_s32(v[2]), vmovn_s32(v[3]))));
        int8_t *c = (int8_t *)p->c + at, tmp[NR];      /* int8 or uint8: the same low bytes */
        vst1q_s8(nc == NR ? c : tmp, bytes);
        if (nc < NR) memcpy(c, tmp, (size_t)nc);
    }
}

/* Panels outer (one K×16 slice of B stays in cache), row tiles inner. */
void irc_qgemm_neon_run_tiles(const irc_qgemm_args *p, irc_qgemm_neon_tile_fn tile) {
    const int8_t *a = p->a, *b = p->b;
    for (int32_t n = p->n0; n < p->n1; n += NR) {
        const int8_t *panel = b + (size_t)(n / NR) * NR * (size_t)p->K;
        int nc = p->n1 - n < NR ? (int)(p->n1 - n) : NR;
        for (int32_t m = p->m0; m < p->m1; m += MR) {
            int mr = p->m1 - m < MR ? (int)(p->m1 - m) : MR;
            int32_t acc[MR][NR];
            tile(mr, p->K, a + (size_t)m * p->lda, p->lda, panel, acc);
            store_tile(p, m, mr, n, nc, acc);
        }
    }
}

/* --- the SMULL + SADALP tile ------------------------------------------------------------- */

/* One k pair of the panel (32 bytes at bp) times row r's pair broadcast in `ad`. */
#define MULL_PAIR(r, ad, b0, b1)                                                        \
    do {                                                                                \
        acc[r][0] = vpadalq_s16(acc[r][0], vmull_s8(vget_low_s8(b0), vget_low_s8(ad))); \
        acc[r][1] = vpadalq_s16(acc[r][1], vmull_high_s8(b0, ad));                      \
        acc[r][2] = vpadalq_s16(acc[r][2], vmull_s8(vget_low_s8(b1), vget_low_s8(ad))); \
        acc[r][3] = vpadalq_s16(acc[r][3], vmull_high_s8(b1, ad));                      \
    } while (0)

/* Pair j (0..3) of the 8 A bytes already loaded per row. */
#define STEP8(j)                                                                           \
    do {                                                                                   \
        int8x16_t b0 = vld1q_s8(bp), b1 = vld1q_s8(bp + 16);                               \
        bp += 32;                                                                          \
        UNROLL for (int r = 0; r < mr; r++) {                                              \
            int8x16_t ad = vreinterpretq_s8_s16(vdupq_lane_s16(vreinterpret_s16_s8(av[r]), j)); \
            MULL_PAIR(r, ad, b0, b1);                                                      \
        }                                                                                  \
    } while (0)

static inline __attribute__((always_inline)) void tile_mull(const int mr, int32_t K,
                                                            const int8_t *a, size_t lda,
                                                            const int8_t *bp,
                                                            int32_t out[MR][NR]) {
    int32x4_t acc[MR][4];
    UNROLL for (int r = 0; r < mr; r++)
        UNROLL for (int q = 0; q < 4; q++) acc[r][q] = vdupq_n_s32(0);
    int32_t k = 0;
    for (; k + 8 <= K; k += 8) {
        int8x8_t av[MR];
        UNROLL for (int r = 0; r < mr; r++) av[r] = vld1_s8(a + r * lda + k);
        STEP8(0); STEP8(1); STEP8(2); STEP8(3);
    }
    for (; k < K; k += 2) {                 /* K is even: 0..3 pairs left */
        int8x16_t b0 = vld1q_s8(bp), b1 = vld1q_s8(bp + 16);
        bp += 32;
        UNROLL for (int r = 0; r < mr; r++) {
            int16_t pair;
            memcpy(&pair, a + r * lda + k, 2);
            int8x16_t ad = vreinterpretq_s8_s16(vdupq_n_s16(pair));
            MULL_PAIR(r, ad, b0, b1);
        }
    }
    UNROLL for (int r = 0; r < mr; r++)
        UNROLL for (int q = 0; q < 4; q++) vst1q_s32(out[r] + 4 * q, acc[r][q]);
}

static void tile_mull_4x16(int mr, int32_t K, const int8_t *a, size_t lda, const int8_t *panel,
                           int32_t acc[MR][NR]) {
    switch (mr) {
    case 4: tile_mull(4, K, a, lda, panel, acc); break;
    case 3: tile_mull(3, K, a, lda, panel, acc); break;
    case 2: tile_mull(2, K, a, lda, panel, acc); break;
    default: tile_mull(1, K, a, lda, panel, acc); break;
    }
}

static void run_mull(const irc_qgemm_args *p) {
    irc_qgemm_neon_run_tiles(p, tile_mull_4x16);
}

const irc_qgemm_family irc_qgemm_neon = {
    "neon", IRC_ISA_NEON, 1, NR, 2, irc_qgemm_neon_packed_size, pack_b_kr2, run_mull,
};

#endif /* __aarch64__ */
