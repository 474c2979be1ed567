/*
 * q8.h — int8 kernels other than GEMM: depthwise convolution and friends.
 * (Family table; the remaining fields are defined by the kernels that fill it.)
 *
 * Requantization everywhere is fixedpoint.h's irc_requant (bit-exact with
 * irc/fixedpoint.py).
 */
#ifndef IRC_Q8_H
#define IRC_Q8_H

#include <stddef.h>
#include <stdint.h>

/* Depthwise conv, NCHW, one output channel per input channel (groups == C):
 *   acc = bias[c] + Σ_{i<KH, j<KW} (x[c][oh*sh + i*dh − pt][ow*sw + j*dw − pl] − zx) · w[c][i][j]
 * where taps outside the input contribute 0 (padding holds zx), then
 *   y[c][oh][ow] = clamp(MBQM(acc, mult[c], shift[c]) + out_zp, lo, hi).
 * x is int8 (x_signed) or uint8 as stored; w int8 [C][KH][KW] with zero point 0;
 * y int8 (out_signed) or uint8.  Computes channels c0 <= c < c1 of one image. */
typedef struct irc_dwconv_args {
    int32_t H, W, OH, OW, KH, KW;
    int32_t sh, sw, pt, pl, dh, dw;
    const void *x; int x_signed; int32_t zx;     /* x[c][h][w], channel stride H*W */
    const int8_t *w;                               /* [C][KH][KW] */
    const int32_t *bias;                           /* [C] or NULL */
    const int32_t *mult, *shift;                   /* [C] */
    int32_t out_zp, lo, hi; int out_signed;
    void *y;                                       /* y[c][oh][ow], channel stride OH*OW */
    int32_t c0, c1;
} irc_dwconv_args;

typedef struct irc_q8_family {
    const char *name;
    uint32_t isa;
    void (*dwconv)(const irc_dwconv_args *args);
    /* further kernels: see q8 helpers' additions below this line */
} irc_q8_family;

extern const irc_q8_family irc_q8_scalar;
#if defined(__x86_64__) || defined(_M_X64)
extern const irc_q8_family irc_q8_avx2;
extern const irc_q8_family irc_q8_avx512;
#endif
#if defined(__aarch64__)
extern const irc_q8_family irc_q8_neon;
#endif

#endif /* IRC_Q8_H */
