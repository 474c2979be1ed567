/*
 * f32.h — float32 kernels other than GEMM: elementwise math, binary arithmetic
 * and comparisons, softmax, layer norm and the reductions' building blocks.
 *
 * Files: f32_kernels.inc holds every kernel once, in plain C99 loops; f32_scalar.c
 * compiles it portably, f32_avx2.c / f32_avx512.c / f32_neon.c under per-function
 * ISA targets where the compiler vectorizes the same loops.  No FMA contraction
 * (the library is built with -ffp-contract=off) and partial sums in a fixed
 * 16-lane order make every family's results bit-identical to the scalar twin's,
 * which tests/runtime/c/test_f32_kernels.c checks.
 *
 * The depthwise convolution lives here too: a direct loop over taps whose inner loop
 * (one output row, stride 1) vectorizes.
 *
 * Semantics are the interpreter's (irc/ops/nn_*.py); the transcendental functions
 * are this file's own (f32_kernels.inc says how, with their accuracy): exp, log,
 * tanh ~1-2 ulp, erf ~2 ulp, and GELU computed from erfc on the negative side so
 * its tail keeps relative accuracy.
 *
 * Strides of the binary kernels are 0 (a broadcast scalar) or 1 (contiguous);
 * y may alias an operand with stride 1 (in place).
 */
#ifndef IRC_F32_H
#define IRC_F32_H

#include <stddef.h>
#include <stdint.h>

/* Unary opcodes (the `unary` op's parameter word; docs/artifact.md).  The float → float
 * ones are the kernels' business; not / is_nan / is_inf are the op's. */
enum {
    IRC_F32_RELU = 0, IRC_F32_CLIP = 1, IRC_F32_SIGMOID = 2, IRC_F32_TANH = 3,
    IRC_F32_HARDSWISH = 4, IRC_F32_HARDSIGMOID = 5, IRC_F32_LEAKY_RELU = 6, IRC_F32_ERF = 7,
    IRC_F32_GELU = 8, IRC_F32_GELU_TANH = 9, IRC_F32_SQRT = 10, IRC_F32_EXP = 11,
    IRC_F32_LOG = 12, IRC_F32_NEG = 13, IRC_F32_ABS = 14, IRC_F32_NOT = 15,
    IRC_F32_IS_NAN = 16, IRC_F32_IS_INF = 17, IRC_F32_RECIPROCAL = 18,
    IRC_F32_UNARY_COUNT = 19
};

/* Binary opcodes (the `binary` op's parameter word). */
enum {
    IRC_F32_ADD = 0, IRC_F32_SUB = 1, IRC_F32_MUL = 2, IRC_F32_DIV = 3, IRC_F32_POW = 4,
    IRC_F32_MAX = 5, IRC_F32_MIN = 6, IRC_F32_EQUAL = 7, IRC_F32_LESS = 8,
    IRC_F32_LESS_EQUAL = 9, IRC_F32_GREATER = 10, IRC_F32_GREATER_EQUAL = 11,
    IRC_F32_AND = 12, IRC_F32_OR = 13, IRC_F32_XOR = 14, IRC_F32_PRELU = 15,
    IRC_F32_BINARY_COUNT = 16
};

/* Depthwise conv (NCHW, Cg = 1): output channel o of one image reads input plane o / mult:
 *   y[o][oh][ow] = clamp(Σ_{i<KH, j<KW} w[o][i][j] · x[o/mult][oh·sh + i·dh − pt][ow·sw + j·dw − pl]
 *                        + bias[o], lo, hi)
 * taps outside the input contribute 0; taps summed in (i, j) order, bias added last (the
 * interpreter's order).  Channels c0 ≤ o < c1.  Geometry as conv2d's prepare checks it. */
typedef struct irc_f32_dwconv_args {
    int32_t H, W, OH, OW, KH, KW, sh, sw, pt, pl, dh, dw, mult;
    const float *x;           /* x[c][h][w], plane stride H·W */
    const float *w;           /* [OC][KH][KW] */
    const float *bias;        /* [OC] or NULL */
    float lo, hi;             /* never NaN */
    float *y;                 /* y[o][oh][ow], plane stride OH·OW */
    int32_t c0, c1;
} irc_f32_dwconv_args;

typedef struct irc_f32_family {
    const char *name;         /* "scalar", "avx2", "avx512", "neon" */
    uint32_t isa;             /* IRC_ISA_* bit */
    /* y[i] = f(x[i]) for a float → float unary opcode (0–14, 18), i < n:
     *   relu max(x, 0)   clip min(max(x, p0), p1) (NaN propagates, as numpy.clip)
     *   sigmoid 1/(1+e^−x)   tanh   hardswish x·min(max(x+3, 0), 6)/6
     *   hardsigmoid min(max(p0·x + p1, 0), 1)   leaky_relu x ≥ 0 ? x : p0·x
     *   erf   gelu 0.5·x·(1 + erf(x/√2))   gelu_tanh 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))
     *   sqrt exp log neg abs   reciprocal 1/x.   y may be x. */
    void (*unary)(int op, const float *x, float *y, size_t n, float p0, float p1);
    /* y[i] = clamp(a[i·sa] op b[i·sb], lo, hi) for an arithmetic opcode (0–6, 15);
     * sa, sb ∈ {0, 1}; lo, hi never NaN (±inf: no clamp). */
    void (*binary)(int op, const float *a, size_t sa, const float *b, size_t sb, float *y,
                   size_t n, float lo, float hi);
    /* y[i] = (a[i·sa] op b[i·sb]) ? 1 : 0 for a comparison opcode (7–11), IEEE (NaN compares false). */
    void (*compare)(int op, const float *a, size_t sa, const float *b, size_t sb, uint8_t *y,
                    size_t n);
    /* One row: y = softmax(x) (log = 0) or log_softmax(x) (log = 1) over n ≥ 1 contiguous
     * elements, with the row maximum subtracted first.  y may be x. */
    void (*softmax)(const float *x, float *y, size_t n, int log);
    /* One row: y = (x − mean) / sqrt(var + eps) · scale + bias over n ≥ 1 elements
     * (var the biased variance; scale, bias [n] or NULL for 1 and 0).  y may be x. */
    void (*layernorm)(const float *x, float *y, size_t n, const float *scale, const float *bias,
                      float eps);
    /* Σ x[i] and max x[i] (NaN propagates) over n ≥ 1 contiguous elements. */
    float (*sum)(const float *x, size_t n);
    float (*max)(const float *x, size_t n);
    void (*dwconv)(const irc_f32_dwconv_args *args);
    /* y[i] = is_nan(x[i]) (op 16) or is_inf(x[i]) (op 17: +inf if p0 ≠ 0, −inf if p1 ≠ 0), 0/1. */
    void (*classify)(int op, const float *x, uint8_t *y, size_t n, float p0, float p1);
    /* where on 4-byte elements: y[i] = c[i·sc] ? a[i·sa] : b[i·sb], strides 0 or 1 (c bytes). */
    void (*select32)(const uint8_t *c, size_t sc, const uint32_t *a, size_t sa, const uint32_t *b,
                     size_t sb, uint32_t *y, size_t n);
} irc_f32_family;

extern const irc_f32_family irc_f32_scalar;
#if defined(__x86_64__) || defined(_M_X64)
extern const irc_f32_family irc_f32_avx2;
extern const irc_f32_family irc_f32_avx512;
#endif
#if defined(__aarch64__)
extern const irc_f32_family irc_f32_neon;
#endif

#endif /* IRC_F32_H */
