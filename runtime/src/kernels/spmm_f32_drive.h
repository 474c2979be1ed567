/*
 * spmm_f32_drive.h — the loop the float32 spmm variants share (spmm_f32_avx2.c,
 * spmm_f32_avx512.c, spmm_f32_neon.c); each supplies its tiles.
 *
 * A tile computes one row block b × columns m .. m + n − 1 (spmm.h): `full` the
 * variant's widest tile (n = cols), `tails[v − 1]` one of v vectors of `vec` columns,
 * the last one partial (n ≤ v·vec).
 *
 * Loop order: for each chunk of columns, every row block of the range, then the tiles
 * of the chunk.  The chunk is sized so that its columns of X — about 32 KiB of the K
 * rows — stay near L1 while the row blocks go over them (X is the operand read many
 * times; each weight is read once per chunk); it is at least one full tile.
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
    int32_t chunk = 32768 / 4 / K / t->cols * t->cols;
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
