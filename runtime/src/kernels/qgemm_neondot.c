/*
 * qgemm_neondot.c — int8 GEMM for arm64 with the dot-product extension
 * (family "neondot": s8×s8 SDOT, 4×16 tiles, kr = 4).  qgemm.h has the
 * contract; packing, the block driver and the requantizing epilogue are the
 * neon family's (qgemm_neon.c has the packed layout and the requantization
 * algebra).
 *
 * Products.  SDOT (vdotq_laneq_s32(acc, b, a, l)) adds to s32 lane j the dot
 * product of the 4 bytes b[4j..4j+3] with the 4 bytes a[4l..4l+3], widening
 * each s8·s8 product, so it is exact and wraps mod 2^32 like the scalar twin.
 * A k-group of a packed panel is four vectors: vector q holds columns
 * 4q..4q+3, each as its 4 consecutive k values; 16 bytes of an A row are four
 * k-groups, selected by lane l:
 *
 *   acc[r][q] lane j += Σ_{i<4} A[r][4g+i] · B[4g+i][4q+j]
 *
 * This file is built with plain flags: only the tile functions carry the
 * dot-product target, and the family is used only when HWCAP_ASIMDDP says the
 * CPU has SDOT (cpu.c, dispatch.c); on a CPU without it, SDOT traps (SIGILL).
 * GCC 12 wants "arch=armv8.2-a+dotprod": arm_neon.h declares the SDOT
 * intrinsics under that target, and a bare "+dotprod" (armv8-a) function may
 * not inline them.
 */
#include "qgemm.h"

#include "../internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#define NR 16
#define MR 4
#define UNROLL _Pragma("GCC unroll 16")

/* Defined in qgemm_neon.c (see there); qgemm.h would be their natural home. */
typedef void (*irc_qgemm_neon_tile_fn)(int mr, int32_t K, const int8_t *a, size_t lda,
                                       const int8_t *panel, int32_t acc[MR][NR]);
size_t irc_qgemm_neon_packed_size(int32_t K, int32_t N);
void irc_qgemm_neon_pack_b_kr(int kr, int32_t K_src, int32_t K, int32_t N, const uint8_t *src,
                              ptrdiff_t rs, ptrdiff_t cs, uint8_t xor_mask, void *dst);
void irc_qgemm_neon_run_tiles(const irc_qgemm_args *p, irc_qgemm_neon_tile_fn tile);

#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

/* k-group l (0..3) of the 16 A bytes already loaded per row. */
#define STEP16(l)                                                                 \
    do {                                                                          \
        int8x16_t b0 = vld1q_s8(bp), b1 = vld1q_s8(bp + 16), b2 = vld1q_s8(bp + 32), \
                  b3 = vld1q_s8(bp + 48);                                         \
        bp += 64;                                                                 \
        UNROLL for (int r = 0; r < mr; r++) {                                     \
            acc[r][0] = vdotq_laneq_s32(acc[r][0], b0, av[r], l);                 \
            acc[r][1] = vdotq_laneq_s32(acc[r][1], b1, av[r], l);                 \
            acc[r][2] = vdotq_laneq_s32(acc[r][2], b2, av[r], l);                 \
            acc[r][3] = vdotq_laneq_s32(acc[r][3], b3, av[r], l);                 \
        }                                                                         \
    } while (0)

static inline __attribute__((always_inline)) DOTPROD void tile_sdot(const int mr, int32_t K,
                                                                    const int8_t *a, size_t lda,
                                                                    const int8_t *bp,
                                                                    int32_t out[MR][NR]) {
    int32x4_t acc[MR][4];
    UNROLL for (int r = 0; r < mr; r++)
        UNROLL for (int q = 0; q < 4; q++) acc[r][q] = vdupq_n_s32(0);
    int32_t k = 0;
    for (; k + 16 <= K; k += 16) {
        int8x16_t av[MR];
        UNROLL for (int r = 0; r < mr; r++) av[r] = vld1q_s8(a + r * lda + k);
        STEP16(0); STEP16(1); STEP16(2); STEP16(3);
    }
    for (; k < K; k += 4) {                 /* K is a multiple of 4: 0..3 groups left */
        int8x16_t b0 = vld1q_s8(bp), b1 = vld1q_s8(bp + 16), b2 = vld1q_s8(bp + 32),
                  b3 = vld1q_s8(bp + 48);
        bp += 64;
        UNROLL for (int r = 0; r < mr; r++) {
            int32_t group;
            memcpy(&group, a + r * lda + k, 4);
            int8x16_t ad = vreinterpretq_s8_s32(vdupq_n_s32(group));
            acc[r][0] = vdotq_s32(acc[r][0], b0, ad);
            acc[r][1] = vdotq_s32(acc[r][1], b1, ad);
            acc[r][2] = vdotq_s32(acc[r][2], b2, ad);
            acc[r][3] = vdotq_s32(acc[r][3], b3, ad);
        }
    }
    UNROLL for (int r = 0; r < mr; r++)
        UNROLL for (int q = 0; q < 4; q++) vst1q_s32(out[r] + 4 * q, acc[r][q]);
}

static DOTPROD void tile_sdot_4x16(int mr, int32_t K, const int8_t *a, size_t lda,
                                   const int8_t *panel, int32_t acc[MR][NR]) {
    switch (mr) {
    case 4: tile_sdot(4, K, a, lda, panel, acc); break;
    case 3: tile_sdot(3, K, a, lda, panel, acc); break;
    case 2: tile_sdot(2, K, a, lda, panel, acc); break;
    default: tile_sdot(1, K, a, lda, panel, acc); break;
    }
}

static void pack_b_kr4(int32_t K_src, int32_t K, int32_t N, const uint8_t *src, ptrdiff_t rs,
                       ptrdiff_t cs, uint8_t xor_mask, void *dst) {
    irc_qgemm_neon_pack_b_kr(4, K_src, K, N, src, rs, cs, xor_mask, dst);
}

static void run_sdot(const irc_qgemm_args *p) {
    irc_qgemm_neon_run_tiles(p, tile_sdot_4x16);
}

const irc_qgemm_family irc_qgemm_neondot = {
    "neondot", IRC_ISA_NEON_DOT, 1, NR, 4, irc_qgemm_neon_packed_size, pack_b_kr4, run_sdot,
};

#endif /* __aarch64__ */
