/*
 * spmm_q8_neondot.c — int8 sparse × dense with requantization for arm64 with the dot-product
 * extension (family "neondot": SDOT).  spmm.h has the contract and the packed layout;
 * spmm_scalar.c's irc_spmm_q8_scalar_run is the twin this file matches bit for bit.  The
 * driver, the partial-vector load and the requantizing row epilogue are the neon family's
 * (spmm_q8_neon.c has their algebra).  act_signed = 1: X and W both int8.
 *
 * Product.  SDOT by element (vdotq_laneq_s32(acc, x, w, l)) adds to s32 lane i the dot
 * product of x's bytes 4i..4i+3 with w's bytes 4l..4l+3, widening each s8·s8 product: exact,
 * wrapping mod 2^32 like the scalar twin.  A vector x is 4 columns, its lane i the quad
 * X[4q..4q+3][m+i]; an entry's R words vals[e·R + r] are loaded together (16 bytes per 4
 * rows; R = 1, 2: 4 or 8 bytes, the rest zero) and row r is selected by the lane:
 *
 *   acc[r][j].lane i  +=  Σ_{k<4} X[4q+k][m+4j+i] · W[bR+r][4q+k]
 *
 * Tiles: one row block × NV(R) vectors, each X vector reused by the R rows: R = 1: NV = 8
 * (32 columns); R = 2: 6; R = 4: 4; R = 8: 3 (24 accumulators, 3 X vectors, 2 weight
 * vectors).  Partial tiles and the loop order as in spmm_q8_neon.c.
 *
 * This file is built with plain flags: only the tile functions carry the dot-product target,
 * and the family is used only where HWCAP_ASIMDDP says the CPU has SDOT (cpu.c, dispatch.c).
 * GCC 12 wants "arch=armv8.2-a+dotprod" for the SDOT intrinsics to inline (qgemm_neondot.c).
 */
#include "spmm.h"

#include "../internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#define UNROLL _Pragma("GCC unroll 16")
#define NV_MAX 8
#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

/* Defined in spmm_q8_neon.c (see there). */
typedef void (*irc_spmm_q8_neon_tile_fn)(const irc_spmm_q8_args *a, int32_t b, int32_t m,
                                         int cols);
void irc_spmm_q8_neon_store_row(const irc_spmm_q8_args *a, int32_t n, int32_t m,
                                const int32_t *acc, int cols);
void irc_spmm_q8_neon_drive(const irc_spmm_q8_args *a, const int nv[4],
                            irc_spmm_q8_neon_tile_fn const fns[4][9]);
int8x16_t irc_spmm_q8_neon_load_part(const int8_t *p, int lanes);

/* SDOT with w's word `lane` (0..3; the immediate the instruction needs, also without
 * constant folding). */
static inline __attribute__((always_inline)) DOTPROD int32x4_t dot_lane(int32x4_t acc,
                                                                        int8x16_t x, int8x16_t w,
                                                                        int lane) {
    switch (lane) {
    case 0: return vdotq_laneq_s32(acc, x, w, 0);
    case 1: return vdotq_laneq_s32(acc, x, w, 1);
    case 2: return vdotq_laneq_s32(acc, x, w, 2);
    default: return vdotq_laneq_s32(acc, x, w, 3);
    }
}

/* Row block b, columns m .. m + 4·nv − 1 (only cols of them when masked: the last vector
 * partial).  R, nv and masked are constants in each instance. */
static inline __attribute__((always_inline)) DOTPROD void tile(const irc_spmm_q8_args *a,
                                                               int32_t b, int32_t m, int cols,
                                                               const int R, const int nv,
                                                               const int masked) {
    const irc_spmm_w *w = a->w;
    int32x4_t acc[8][NV_MAX];   /* fixed sizes: a VLA would not live in registers */
    UNROLL for (int r = 0; r < R; r++)
        UNROLL for (int j = 0; j < nv; j++) acc[r][j] = vdupq_n_s32(0);
    const int last = cols - 4 * (nv - 1);
    const size_t xq = a->ldx * 4;
    const int8_t *xm = (const int8_t *)a->x + (size_t)m * 4;
    const int32_t e1 = w->ptr[b + 1];
    const int8_t *wp = (const int8_t *)w->vals + (size_t)w->ptr[b] * (size_t)R * 4;
    for (int32_t e = w->ptr[b]; e < e1; e++, wp += 4 * R) {
        const int8_t *xp = xm + (size_t)w->kidx[e] * xq;
        int8x16_t xv[NV_MAX], wv[2];
        UNROLL for (int j = 0; j < nv; j++)
            xv[j] = masked && j == nv - 1 && last < 4
                        ? irc_spmm_q8_neon_load_part(xp + 16 * j, last)
                        : vld1q_s8(xp + 16 * j);
        if (R >= 4) {
            wv[0] = vld1q_s8(wp);
            if (R == 8) wv[1] = vld1q_s8(wp + 16);
        } else if (R == 2) {
            wv[0] = vcombine_s8(vld1_s8(wp), vdup_n_s8(0));
        } else {
            int32_t word;
            memcpy(&word, wp, 4);
            wv[0] = vreinterpretq_s8_s32(vdupq_n_s32(word));
        }
        UNROLL for (int r = 0; r < R; r++)
            UNROLL for (int j = 0; j < nv; j++)
                acc[r][j] = dot_lane(acc[r][j], xv[j], wv[r / 4], r % 4);
    }
    UNROLL for (int r = 0; r < R; r++) {
        if (b * R + r >= w->N) break;
        int32_t sums[4 * NV_MAX];
        UNROLL for (int j = 0; j < nv; j++) vst1q_s32(sums + 4 * j, acc[r][j]);
        irc_spmm_q8_neon_store_row(a, b * R + r, m, sums, cols);
    }
}

#define IRC_TILE(R, nv, masked)                                                                \
    static DOTPROD void tile_##R##_##nv##_##masked(const irc_spmm_q8_args *a, int32_t b,       \
                                                   int32_t m, int cols) {                      \
        tile(a, b, m, cols, R, nv, masked);                                                    \
    }
IRC_TILE(1, 8, 0) IRC_TILE(1, 1, 1) IRC_TILE(1, 2, 1) IRC_TILE(1, 3, 1) IRC_TILE(1, 4, 1)
IRC_TILE(1, 5, 1) IRC_TILE(1, 6, 1) IRC_TILE(1, 7, 1) IRC_TILE(1, 8, 1)
IRC_TILE(2, 6, 0) IRC_TILE(2, 1, 1) IRC_TILE(2, 2, 1) IRC_TILE(2, 3, 1) IRC_TILE(2, 4, 1)
IRC_TILE(2, 5, 1) IRC_TILE(2, 6, 1)
IRC_TILE(4, 4, 0) IRC_TILE(4, 1, 1) IRC_TILE(4, 2, 1) IRC_TILE(4, 3, 1) IRC_TILE(4, 4, 1)
IRC_TILE(8, 3, 0) IRC_TILE(8, 1, 1) IRC_TILE(8, 2, 1) IRC_TILE(8, 3, 1)
#undef IRC_TILE

static const int nv_by_r[4] = {8, 6, 4, 3};
static irc_spmm_q8_neon_tile_fn const tiles[4][9] = {
    {tile_1_8_0, tile_1_1_1, tile_1_2_1, tile_1_3_1, tile_1_4_1, tile_1_5_1, tile_1_6_1,
     tile_1_7_1, tile_1_8_1},
    {tile_2_6_0, tile_2_1_1, tile_2_2_1, tile_2_3_1, tile_2_4_1, tile_2_5_1, tile_2_6_1},
    {tile_4_4_0, tile_4_1_1, tile_4_2_1, tile_4_3_1, tile_4_4_1},
    {tile_8_3_0, tile_8_1_1, tile_8_2_1, tile_8_3_1},
};

static void run(const irc_spmm_q8_args *a) { irc_spmm_q8_neon_drive(a, nv_by_r, tiles); }

const irc_spmm_q8_family irc_spmm_q8_neondot = {"neondot", IRC_ISA_NEON_DOT, 1, run};

#endif /* __aarch64__ */
