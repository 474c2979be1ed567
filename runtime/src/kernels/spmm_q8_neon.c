/*
 * spmm_q8_neon.c — int8 sparse × dense with requantization for arm64 without the dot-product
 * extension (family "neon": SMULL + SADALP), plus what the "neondot" family
 * (spmm_q8_neondot.c) shares with it: the row epilogue and the tile driver.  spmm.h has the
 * contract and the packed layout; spmm_scalar.c's irc_spmm_q8_scalar_run is the twin both
 * match bit for bit.
 *
 * Domains.  act_signed = 1: X holds int8 (the caller flips uint8 activations, x ^ 0x80, and
 * folds the zero point into the bias), W int8.
 *
 * Product, exactly.  A vector is 4 columns: the 16 bytes at x + (q·ldx + m)·4 are the quads
 * X[4q..4q+3][m..m+3].  Row r's word W[bR+r][4q..4q+3] is duplicated into every 32-bit lane;
 * SMULL multiplies 8 s8 pairs into s16 (|a·b| ≤ 2^14: exact) and SADALP adds adjacent s16
 * pairs into s32 lanes, so for columns m, m+1 (low half) and m+2, m+3 (SMULL2, high half)
 *
 *   acc[r][2j].lanes 2l, 2l+1  +=  X[4q][·]·W[·][4q] + X[4q+1][·]·W[·][4q+1],
 *                                  X[4q+2][·]·W[·][4q+2] + X[4q+3][·]·W[·][4q+3]
 *
 * and ADDP of the two accumulators gives the 4 columns' sums (wrapping, as the scalar's
 * uint32).  Two products are never summed in s16 (SMLAL would overflow at 2·(−128)² = 2^15).
 *
 * Tiles: one row block × NV(R) vectors of 4 columns, each X vector reused by the R rows
 * (R = 1: NV = 6; R = 2: 4; R = 4: 2; R = 8: 1 — 2·R·NV accumulators, NV X vectors and a
 * weight vector within the 32 registers).  Loop order: m tiles outer, row blocks inner
 * (irc_spmm_q8_neon_drive).  The last, partial tile has its own instances with ⌈rem/4⌉
 * vectors; the last vector's columns are loaded one 32-bit lane at a time, so no X column
 * past m1 is read (there are no masked loads).
 *
 * Epilogue (irc_spmm_q8_neon_store_row, fixedpoint.h bit for bit; the algebra is
 * qgemm_neon.c's):
 *   x = acc + bias;  h = SQRDMULH(x << max(shift, 0), mult)    SSHL wraps; SQRDMULH is SRDHM
 *   y = SRSHL(h +sat fixup, −right), fixup = (h & −right) >> 31  RDBP
 *   out = clamp(y +sat out_zp, lo, hi)                           the int64 sum + clamp
 * then XTN keeps the low byte (the scalar's cast).  Rows ≥ N are not stored; mult == NULL
 * stores the int32 sums.
 */
#include "spmm.h"

#include "../internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#define UNROLL _Pragma("GCC unroll 16")
#define NV_MAX 6

/* Shared with spmm_q8_neondot.c (declared there too). */
typedef void (*irc_spmm_q8_neon_tile_fn)(const irc_spmm_q8_args *a, int32_t b, int32_t m,
                                         int cols);
void irc_spmm_q8_neon_store_row(const irc_spmm_q8_args *a, int32_t n, int32_t m,
                                const int32_t *acc, int cols);
void irc_spmm_q8_neon_drive(const irc_spmm_q8_args *a, const int nv[4],
                            irc_spmm_q8_neon_tile_fn const fns[4][9]);
int8x16_t irc_spmm_q8_neon_load_part(const int8_t *p, int lanes);

/* --- the epilogue and the driver ----------------------------------------------------------- */

/* Row n, columns m .. m + cols − 1 (cols ≤ 32) from their int32 sums acc[0 .. cols − 1]
 * (bias not yet added). */
void irc_spmm_q8_neon_store_row(const irc_spmm_q8_args *a, int32_t n, int32_t m,
                                const int32_t *acc, int cols) {
    const int32_t bias_n = a->bias ? a->bias[n] : 0;
    const int32x4_t bias = vdupq_n_s32(bias_n);
    if (!a->mult) {
        int32_t *y = (int32_t *)a->y + (size_t)n * a->ldy + (size_t)m;
        int c = 0;
        for (; c + 4 <= cols; c += 4) vst1q_s32(y + c, vaddq_s32(vld1q_s32(acc + c), bias));
        for (; c < cols; c++) y[c] = (int32_t)((uint32_t)acc[c] + (uint32_t)bias_n);
        return;
    }
    const int32_t shift = a->shift[n];
    const int32x4_t mult = vdupq_n_s32(a->mult[n]), left = vdupq_n_s32(shift > 0 ? shift : 0),
                    neg_right = vdupq_n_s32(shift > 0 ? 0 : shift), zp = vdupq_n_s32(a->out_zp),
                    lo = vdupq_n_s32(a->lo), hi = vdupq_n_s32(a->hi);
    int8_t *y = (int8_t *)a->y + (size_t)n * a->ldy + (size_t)m;   /* int8 or uint8: low bytes */
    for (int c = 0; c < cols; c += 16) {
        int32_t tmp[16];
        const int32_t *src = acc + c;
        if (cols - c < 16) {                /* whole vectors below: the sums, then zeros */
            memset(tmp, 0, sizeof tmp);
            memcpy(tmp, src, (size_t)(cols - c) * 4);
            src = tmp;
        }
        int32x4_t v[4];
        UNROLL for (int q = 0; q < 4; q++) {
            int32x4_t x = vaddq_s32(vld1q_s32(src + 4 * q), bias);
            int32x4_t h = vqrdmulhq_s32(vshlq_s32(x, left), mult);
            int32x4_t fixup = vshrq_n_s32(vandq_s32(h, neg_right), 31);
            int32x4_t r = vrshlq_s32(vqaddq_s32(h, fixup), neg_right);
            v[q] = vminq_s32(vmaxq_s32(vqaddq_s32(r, zp), lo), hi);
        }
        int8x16_t bytes = vcombine_s8(vmovn_s16(vcombine_s16(vmovn_s32(v[0]), vmovn_s32(v[1]))),
                                      vmovn_s16(vcombine_s16(vmovn_s32(v[2]), vmovn_s32(v[3]))));
        if (cols - c >= 16) {
            vst1q_s8(y + c, bytes);
        } else {
            int8_t out[16];
            vst1q_s8(out, bytes);
            memcpy(y + c, out, (size_t)(cols - c));
        }
    }
}

/* m tiles outer, row blocks inner: fns[ri][0] is R's full tile (4·nv[ri] columns), fns[ri][k]
 * its partial tile of k vectors (ri: R = 1, 2, 4, 8). */
void irc_spmm_q8_neon_drive(const irc_spmm_q8_args *a, const int nv[4],
                            irc_spmm_q8_neon_tile_fn const fns[4][9]) {
    if (a->b0 >= a->b1 || a->m0 >= a->m1) return;
    const int32_t R = a->w->R;
    const int ri = R == 1 ? 0 : R == 2 ? 1 : R == 4 ? 2 : 3;
    const int32_t width = 4 * nv[ri];
    int32_t m = a->m0;
    for (; m + width <= a->m1; m += width)
        for (int32_t b = a->b0; b < a->b1; b++) fns[ri][0](a, b, m, (int)width);
    if (m < a->m1) {
        int cols = (int)(a->m1 - m);
        for (int32_t b = a->b0; b < a->b1; b++) fns[ri][(cols + 3) / 4](a, b, m, cols);
    }
}

/* The quads of the first `lanes` (1..4) columns at p, zeros after: no byte past them read. */
int8x16_t irc_spmm_q8_neon_load_part(const int8_t *p, int lanes) {
    int32_t q[4] = {0, 0, 0, 0};
    memcpy(q, p, (size_t)lanes * 4);
    return vreinterpretq_s8_s32(vld1q_s32(q));
}

/* --- the SMULL + SADALP tile ------------------------------------------------------------- */

/* Row block b, columns m .. m + 4·nv − 1 (only cols of them when masked: the last vector
 * partial).  R, nv and masked are constants in each instance. */
static inline __attribute__((always_inline)) void tile(const irc_spmm_q8_args *a, int32_t b,
                                                       int32_t m, int cols, const int R,
                                                       const int nv, const int masked) {
    const irc_spmm_w *w = a->w;
    int32x4_t acc[8][2 * NV_MAX];   /* fixed sizes: a VLA would not live in registers */
    UNROLL for (int r = 0; r < R; r++)
        UNROLL for (int j = 0; j < 2 * nv; j++) acc[r][j] = vdupq_n_s32(0);
    const int last = cols - 4 * (nv - 1);
    const size_t xq = a->ldx * 4;
    const int8_t *xm = (const int8_t *)a->x + (size_t)m * 4;
    const int32_t e1 = w->ptr[b + 1];
    const int8_t *wp = (const int8_t *)w->vals + (size_t)w->ptr[b] * (size_t)R * 4;
    for (int32_t e = w->ptr[b]; e < e1; e++, wp += 4 * R) {
        const int8_t *xp = xm + (size_t)w->kidx[e] * xq;
        int8x16_t xv[NV_MAX];
        UNROLL for (int j = 0; j < nv; j++)
            xv[j] = masked && j == nv - 1 && last < 4
                        ? irc_spmm_q8_neon_load_part(xp + 16 * j, last)
                        : vld1q_s8(xp + 16 * j);
        UNROLL for (int r = 0; r < R; r++) {
            int32_t word;
            memcpy(&word, wp + 4 * r, 4);
            int8x16_t wv = vreinterpretq_s8_s32(vdupq_n_s32(word));
            UNROLL for (int j = 0; j < nv; j++) {
                acc[r][2 * j] = vpadalq_s16(acc[r][2 * j],
                                            vmull_s8(vget_low_s8(xv[j]), vget_low_s8(wv)));
                acc[r][2 * j + 1] = vpadalq_s16(acc[r][2 * j + 1], vmull_high_s8(xv[j], wv));
            }
        }
    }
    UNROLL for (int r = 0; r < R; r++) {
        if (b * R + r >= w->N) break;
        int32_t sums[4 * NV_MAX];
        UNROLL for (int j = 0; j < nv; j++)
            vst1q_s32(sums + 4 * j, vpaddq_s32(acc[r][2 * j], acc[r][2 * j + 1]));
        irc_spmm_q8_neon_store_row(a, b * R + r, m, sums, cols);
    }
}

#define IRC_TILE(R, nv, masked)                                                                \
    static void tile_##R##_##nv##_##masked(const irc_spmm_q8_args *a, int32_t b, int32_t m,    \
                                           int cols) {                                         \
        tile(a, b, m, cols, R, nv, masked);                                                    \
    }
IRC_TILE(1, 6, 0) IRC_TILE(1, 1, 1) IRC_TILE(1, 2, 1) IRC_TILE(1, 3, 1) IRC_TILE(1, 4, 1)
IRC_TILE(1, 5, 1) IRC_TILE(1, 6, 1)
IRC_TILE(2, 4, 0) IRC_TILE(2, 1, 1) IRC_TILE(2, 2, 1) IRC_TILE(2, 3, 1) IRC_TILE(2, 4, 1)
IRC_TILE(4, 2, 0) IRC_TILE(4, 1, 1) IRC_TILE(4, 2, 1)
IRC_TILE(8, 1, 0) IRC_TILE(8, 1, 1)
#undef IRC_TILE

static const int nv_by_r[4] = {6, 4, 2, 1};
static irc_spmm_q8_neon_tile_fn const tiles[4][9] = {
    {tile_1_6_0, tile_1_1_1, tile_1_2_1, tile_1_3_1, tile_1_4_1, tile_1_5_1, tile_1_6_1},
    {tile_2_4_0, tile_2_1_1, tile_2_2_1, tile_2_3_1, tile_2_4_1},
    {tile_4_2_0, tile_4_1_1, tile_4_2_1},
    {tile_8_1_0, tile_8_1_1},
};

static void run(const irc_spmm_q8_args *a) { irc_spmm_q8_neon_drive(a, nv_by_r, tiles); }

const irc_spmm_q8_family irc_spmm_q8_neon = {"neon", IRC_ISA_NEON, 1, run};

#endif /* __aarch64__ */
