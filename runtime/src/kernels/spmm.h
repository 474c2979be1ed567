/*
 * spmm.h — sparse weights × dense activations, float32 and int8, one family per ISA.
 *
 *   acc[n][m] = bias[n] + Σ_k W[n][k] · X[k][m]                 (n < N output rows, m < M)
 *   float32:  Y[n][m] = min(max(acc, lo), hi)
 *   int8:     Y[n][m] = clamp(MBQM(acc, mult[n], shift[n]) + out_zp, lo, hi)   8-bit
 *                     = acc                                                  (mult == NULL: int32)
 *
 * The product is vectorized along m (pixels of a 1×1 conv, tokens of a fully
 * connected layer): each stored weight is broadcast and multiplies a contiguous
 * run of X's row k (Elsen et al., "Fast Sparse ConvNets"; XNNPACK's SpMM).
 *
 * W (constant) is packed at load (ops_sparse.c) from the artifact's csr/bsr blob
 * into *row blocks*: rows are grouped R at a time (R = 1, 2, 4 or 8: the largest
 * of those dividing the encoding's block rows, so a row block never cuts a stored
 * block; the last row block is zero-padded past N).  Row block b owns entries
 * e in [ptr[b], ptr[b+1]):
 *
 *   float32  an entry is one column k = kidx[e]; vals[e*R + r] = W[b*R + r][k]
 *   int8     an entry is one *quad* q = kidx[e] of the 4 columns 4q..4q+3;
 *            vals[(e*R + r)*4 + j] = W[b*R + r][4q + j]   (0 where pruned, or past K)
 *            (R little 32-bit words per entry, one per row: ready to broadcast for
 *            vpdpbusd / sdot)
 *
 * kidx is strictly increasing within a row block.  X (activations, per run):
 *
 *   float32  X[k][m] at x[k*ldx + m]                         (NCHW 1×1 conv: the image itself)
 *   int8     quads interleaved: X[4q + j][m] at x[(q*ldx + m)*4 + j], ldx in m units,
 *            in the family's activation domain (act_signed: 0 uint8 on x86, 1 int8 on arm64;
 *            rows past K hold 0).  Callers flip stored activations of the other signedness
 *            (x ^ 0x80) and fold the zero point into the bias:
 *            Σ_k W[n][k]·(x − z_x) + b = Σ_k W[n][k]·x' + (b − z_x'·Σ_k W[n][k]).
 *
 * Y[n][m] is at y + (n*ldy + m) * element size.  The kernel computes rows of row
 * blocks b0 ≤ b < b1 (never writing rows ≥ N) for columns m0 ≤ m < m1, reading X
 * columns m0..m1−1 only; blocks are independent, so threads split b or m.
 * Per-row arrays (bias, mult, shift) hold at least irc_round_up(N, 64) entries.
 * Integer results are exact (int32 wrapping), identical on every family.
 */
#ifndef IRC_SPMM_H
#define IRC_SPMM_H

#include <stddef.h>
#include <stdint.h>

typedef struct irc_spmm_w {
    int32_t N, K;             /* logical rows (outputs) and columns (reduction) */
    int32_t R;                /* rows per row block: 1, 2, 4 or 8 */
    int32_t n_blocks;         /* ⌈N / R⌉ */
    const int32_t *ptr;       /* [n_blocks + 1] */
    const int32_t *kidx;      /* [ptr[n_blocks]]: column (float) or quad (int8) per entry */
    const void *vals;         /* float[nnz*R] or int8[nnz*R*4]; 64-byte aligned */
} irc_spmm_w;

typedef struct irc_spmm_f32_args {
    const irc_spmm_w *w;
    const float *x;           /* X[k][m] at x[k*ldx + m] */
    size_t ldx;               /* elements */
    float *y;                 /* Y[n][m] at y[n*ldy + m] */
    size_t ldy;               /* elements */
    const float *bias;        /* per row, or NULL for 0 */
    float lo, hi;             /* clamp (±inf: none) */
    int32_t b0, b1, m0, m1;   /* row blocks and columns to compute */
} irc_spmm_f32_args;

typedef struct irc_spmm_q8_args {
    const irc_spmm_w *w;
    const uint8_t *x;         /* quad-interleaved, X[4q + j][m] at x[(q*ldx + m)*4 + j] */
    size_t ldx;               /* m units */
    void *y;                  /* Y[n][m] at y + (n*ldy + m) * (mult ? 1 : 4) */
    size_t ldy;               /* elements */
    const int32_t *bias;      /* per row (zero point folded in), or NULL for 0 */
    const int32_t *mult;      /* per row; NULL: store int32 accumulators */
    const int32_t *shift;
    int32_t out_zp, lo, hi;   /* 8-bit output: zero point and clamp (stored units) */
    int out_signed;           /* 8-bit output is int8 (1) or uint8 (0) */
    int x_signed;             /* X holds int8 (1) or uint8 (0): the family's act_signed (the
                                 scalar twin reads either, so any family may fall back to it) */
    int32_t b0, b1, m0, m1;
} irc_spmm_q8_args;

/* Two families per ISA level, float32 and int8 (kernels.h's spmm_f32 and spmm_q8). */
typedef struct irc_spmm_f32_family {
    const char *name;         /* "scalar", "avx2", "avx512", "neon" */
    uint32_t isa;             /* IRC_ISA_* bit */
    void (*run)(const irc_spmm_f32_args *args);
} irc_spmm_f32_family;

typedef struct irc_spmm_q8_family {
    const char *name;         /* "scalar", "avx2", "avx512vnni", "neon", "neondot" */
    uint32_t isa;             /* IRC_ISA_* bit */
    int act_signed;           /* activation domain the caller packs X in: 0 uint8, 1 int8 */
    void (*run)(const irc_spmm_q8_args *args);
} irc_spmm_q8_family;

/* The portable twins (spmm_scalar.c), for families that fall back to them. */
extern const irc_spmm_f32_family irc_spmm_f32_scalar;
extern const irc_spmm_q8_family irc_spmm_q8_scalar;
void irc_spmm_f32_scalar_run(const irc_spmm_f32_args *args);
void irc_spmm_q8_scalar_run(const irc_spmm_q8_args *args);
#if defined(__x86_64__) || defined(_M_X64)
extern const irc_spmm_f32_family irc_spmm_f32_avx2;     /* spmm_f32_avx2.c */
extern const irc_spmm_f32_family irc_spmm_f32_avx512;   /* spmm_f32_avx512.c */
extern const irc_spmm_q8_family irc_spmm_q8_avx2;       /* spmm_q8_avx2.c */
extern const irc_spmm_q8_family irc_spmm_q8_avx512vnni; /* spmm_q8_avx512vnni.c */
#endif
#if defined(__aarch64__)
extern const irc_spmm_f32_family irc_spmm_f32_neon;     /* spmm_f32_neon.c */
extern const irc_spmm_q8_family irc_spmm_q8_neon;       /* spmm_q8_neon.c */
extern const irc_spmm_q8_family irc_spmm_q8_neondot;    /* spmm_q8_neondot.c */
#endif

#endif /* IRC_SPMM_H */
