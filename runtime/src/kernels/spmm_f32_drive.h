/*
 * spmm_f32_drive.h — the loop the float32 spmm variants share (spmm_f32_avx2.c,
 * spmm_f32_avx512.c, spmm_f32_neon.c); each supplies its tiles.
 *
 * A tile computes one row block b × columns m .. m + n − 1 (spmm.h): `full` the
 * variant's widest tile (n = cols), `tails[v − 1]` one of v vectors of `vec` columns,
 * the last one partial (n ≤ v·vec).
 *
 * Loop order: for each chunk of columns, every row block of the range, then the tiles
 * of the chunk.  What limits a tile is X: each X vector loaded serves R FMAs, so at
 * R = 1 every FMA needs a cache line of X.  For R ≤ 2 the chunk is sized so that its
 * columns of X — about 32 KiB of the K rows — stay near L1 while the row blocks go
 * over them (each weight is then read once per chunk); at least one full tile.  For
 * R ≥ 4 one chunk spans the range: a row block's tiles run one after the other, and
 * while a tile works each of its entries prefetches the same row's columns of the next
 * tile into L2 (the tiles do that for R ≥ 2).  Without that prefetch, X rows read in
 * short pieces at a large stride (ldx = 3136 for 56×56 pixels) wait on L3 —
 * R = 8 at 70 % sparsity ran at 0.7× our dense sgemm at N=64 K=576 M=3136, 3.7× with it
 * (spmm_f32_check.c's bench).
 */
#ifndef IRC_SPMM_F32_DRIVE_H
#define IRC_SPMM_F32_DRIVE_H

#include "spmm.h"

typedef void (*irc_spmm_f32_tile_fn)(const irc_spmm_f32_args *a, int32_t b, int32_t m, int32_t n);

typedef struct irc_spmm_f32_tiles {
    int32_t cols;                        /* columns of the full tile */
    irc_spmm_f32_tile_fn full;
    const irc_spmm_f32_tile_fn *tails;   /* [cols / vec] */
} irc_spmm_f32_tiles;

static inline void irc_spmm_f32_drive(const irc_spmm_f32_args *a, int32_t vec,
                                      const irc_spmm_f32_tiles *t) {
    const int32_t K = a->w->K > 0 ? a->w->K : 1;
    int32_t chunk = a->w->R >= 4 ? a->m1 - a->m0 : 32768 / 4 / K / t->cols * t->cols;
    if (chunk < t->cols) chunk = t->cols;
    for (int32_t c0 = a->m0; c0 < a->m1; c0 += chunk) {
        const int32_t c1 = a->m1 - c0 > chunk ? c0 + chunk : a->m1;
        for (int32_t b = a->b0; b < a->b1; b++) {
            int32_t m = c0;
            for (; m + t->cols <= c1; m += t->cols) t->full(a, b, m, t->cols);
            if (m < c1) t->tails[(c1 - m + vec - 1) / vec - 1](a, b, m, c1 - m);
        }
    }
}

#endif /* IRC_SPMM_F32_DRIVE_H */
