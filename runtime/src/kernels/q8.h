/*
 * q8.h — int8 kernels other than GEMM: depthwise convolution and the
 * elementwise integer kernels (requantization, TFLite add, product, table lookup,
 * float quantization).
 *
 * Requantization everywhere is fixedpoint.h's MBQM (bit-exact with
 * irc/fixedpoint.py); SIMD variants emulate it exactly (q8_kernels.inc says
 * how) and tests/runtime/c/test_q8_kernels.c checks every ISA against the
 * scalar twin and the scalar twin against a direct reference.
 *
 * Parameter domains the callers (the ops' prepare) guarantee, and kernels rely
 * on: multipliers 0 <= m < 2^31, shifts -31..30, lo <= hi within the output
 * dtype, zero points within their tensor's dtype.
 *
 * Files: q8_kernels.inc holds every kernel once; q8_scalar.c compiles it
 * portably, q8_avx2.c / q8_avx512.c / q8_neon.c under per-function ISA targets
 * (one set of build flags for the whole library).
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
 * y int8 (out_signed) or uint8.  Computes channels c0 <= c < c1 of one image.
 * acc wraps to int32 (mod 2^32, like the interpreter's q.conv2d result) before MBQM.
 * Geometry: every dim, stride and dilation >= 1, pads >= 0, OH/OW as the window
 * rule computes them (callers check).  Needs no scratch: tiles live on the stack
 * (about 25 KB). */
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

/* Element types of the elementwise kernels' operands. */
enum { IRC_Q8_I8 = 0, IRC_Q8_U8 = 1, IRC_Q8_I32 = 2 };

/* Requantize n contiguous elements with one multiplier:
 *   y[i] = clamp(MBQM(x[i] − zx, m, shift) + zy, lo, hi)
 * x is i8/u8/i32 (x_type).  x[i] − zx is taken mod 2^32: the interpreter subtracts in
 * int64, but MBQM first wraps its operand to 32 bits, so only the difference mod 2^32
 * matters.  y is int8 (y_signed) or uint8.  y may be x (8-bit in place).
 */
typedef struct irc_requant_args {
    size_t n;
    const void *x; int x_type; int32_t zx;
    int32_t m, shift;
    int32_t zy, lo, hi;
    void *y; int y_signed;
} irc_requant_args;

/* TFLite's quantized add over n elements (q.add; docs/artifact.md op qadd):
 *   a' = (a − za)·2^L,  b' = (b − zb)·2^L
 *   t  = wrap32(MBQM(a', ma, sa) + MBQM(b', mb, sb))
 *   y  = clamp(MBQM(t, my, sy) + zy, lo, hi)
 * a[i·a_step], b[i·b_step] with steps 0 (a broadcast scalar) or 1; a, b, y are
 * 8-bit (int8 when *_signed).  0 <= L <= 24, so |a'| < 2^32 fits after wrapping
 * (the interpreter shifts in int64; |a − za| <= 255 so |a'| <= 255·2^24 < 2^31:
 * no wrap at all).  y may alias a or b when that operand's step is 1. */
typedef struct irc_qadd_args {
    size_t n;
    const void *a; int a_signed; int a_step; int32_t za;
    const void *b; int b_signed; int b_step; int32_t zb;
    int32_t left_shift, ma, sa, mb, sb, my, sy;
    int32_t zy, lo, hi;
    void *y; int y_signed;
} irc_qadd_args;

/* Product of two 8-bit operands (q.mul, optionally fused with its requantize):
 *   acc = (a − za)·(b − zb)                               (|acc| <= 2^16: exact)
 *   y   = acc                                 (has_requant == 0: y is int32)
 *       = clamp(MBQM(acc, m, shift) + zy, lo, hi)  (8-bit y, int8 when y_signed)
 * Steps as qadd.  y may alias a or b when that operand's step is 1 and y is 8-bit. */
typedef struct irc_qmul_args {
    size_t n;
    const void *a; int a_signed; int a_step; int32_t za;
    const void *b; int b_signed; int b_step; int32_t zb;
    int has_requant; int32_t m, shift;
    int32_t zy, lo, hi;
    void *y; int y_signed;
} irc_qmul_args;

/* float32 → 8-bit (q.quantize), for i < n:
 *   q = x[i] / s (float32);  y[i] = z if q is NaN, else clamp(round(q) + z, lo, hi)
 * with round half away from zero (half_even == 0) or half to even, as q_core.py's
 * round_to_int; lo, hi the 8-bit dtype's range. */
typedef struct irc_quantize_args {
    size_t n;
    const float *x;
    float s;
    int32_t z, lo, hi;
    int half_even;
    void *y;
} irc_quantize_args;

/* 256-entry byte table lookup (qlut): y[i] = table[x[i] ^ flip] for i < n (flip 0x80 maps
 * int8 x to x − min(int8)).  y may be x. */
typedef void (*irc_q8_lut_fn)(const uint8_t *table, const uint8_t *x, uint8_t *y, size_t n,
                              uint8_t flip);

typedef struct irc_q8_family {
    const char *name;
    uint32_t isa;
    void (*dwconv)(const irc_dwconv_args *args);
    /* further kernels: see q8 helpers' additions below this line */
    void (*requant)(const irc_requant_args *args);
    void (*qadd)(const irc_qadd_args *args);
    void (*qmul)(const irc_qmul_args *args);
    irc_q8_lut_fn lut;
    void (*quantize)(const irc_quantize_args *args);
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
