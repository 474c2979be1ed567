/*
 * sgemm.h — the float32 GEMM family: C = clamp(A·B + bias, lo, hi), one family per ISA.
 *
 *   C[m][n] = min(max(bias[c] + Σ_{k<K} A[m][k] · B[k][n], lo), hi)
 *   c = n when bias_per_col, else m; bias NULL: 0
 *
 * The clamp propagates NaN like numpy.clip (a NaN sum stays NaN); ±inf bounds
 * change nothing.  Accumulation is float32, in an order each family chooses
 * (results agree across families to rounding, not bit for bit).
 *
 * Operands:
 *   A  row-major, unpacked: A[m][k] at a[m*lda + k] (lda in elements).  Kernels
 *      read rows m0..m1−1, columns 0..K−1 only.  Or, for constant A (conv weights),
 *      packed once by pack_a into strips of mr rows:
 *        A[m][k] at ap[(m / mr)·K·mr + k·mr + m % mr]   (zero rows up to a multiple of mr)
 *   B  packed once by the family's pack_b, or written directly in the family's
 *      layout (conv's im2col does): panels of `nr` columns,
 *        B[k][n] at b[(n / nr)·K·nr + k·nr + n % nr]
 *      with zero columns from N up to a multiple of nr.  packed_size(K, N) bytes.
 *   C  row-major: C[m][n] at c[m*ldc + n].  Written only inside the block.
 *
 * Use by the ops:
 *   matmul / gemm:  A = activations [M][K], B = weights packed at load, bias per column;
 *   conv2d (NCHW):  A = weights [OC][C/g·KH·KW], B = im2col(x) packed per run
 *                   (1×1 stride-1 convs pack x[C][H·W] itself), bias per row.
 *
 * Threading: run computes the block m0 ≤ m < m1, n0 ≤ n < n1 (n0 a multiple of
 * nr) and touches nothing else, so threads split M or N; blocks need no scratch.
 */
#ifndef IRC_SGEMM_H
#define IRC_SGEMM_H

#include <stddef.h>
#include <stdint.h>

typedef struct irc_sgemm_args {
    int32_t M, N, K;
    const float *a;           /* A[m][k] at a[m*lda + k] */
    size_t lda;               /* elements */
    const float *ap;          /* or A packed by pack_a (constant weights; m0 then a multiple
                                 of mr); NULL: use a, lda */
    const float *b;           /* packed (see above) */
    const float *bias;        /* per channel, or NULL for 0 */
    int bias_per_col;         /* channel = n (1) or m (0) */
    float lo, hi;             /* clamp bounds (±inf: none); never NaN (callers check) */
    float *c;                 /* C[m][n] at c[m*ldc + n] */
    size_t ldc;               /* elements */
    int32_t m0, m1, n0, n1;   /* the block to compute */
} irc_sgemm_args;

typedef struct irc_sgemm_family {
    const char *name;         /* "scalar", "avx2", "avx512", "neon" */
    uint32_t isa;             /* IRC_ISA_* bit */
    int mr;                   /* rows per micro-tile (for splitting M between threads) */
    int nr;                   /* B is packed in panels of nr columns */
    /* Bytes of a packed K×N B. */
    size_t (*packed_size)(int32_t K, int32_t N);
    /* Pack B[k][n] = src[k*rs + n*cs] (rs, cs in elements) for k < K, n < N, zero
     * columns up to a multiple of nr.  Writes exactly packed_size(K, N) bytes.
     * Panels p0 ≤ p < p1 only (p1 ≤ ceil(N / nr)), so threads may split the work. */
    void (*pack_b)(int32_t K, int32_t N, const float *src, ptrdiff_t rs, ptrdiff_t cs,
                   int32_t p0, int32_t p1, float *dst);
    void (*run)(const irc_sgemm_args *args);
    /* Bytes of a packed M×K A, and packing it: A[m][k] = src[m*lda + k]. */
    size_t (*packed_a_size)(int32_t M, int32_t K);
    void (*pack_a)(int32_t M, int32_t K, const float *src, size_t lda, float *dst);
} irc_sgemm_family;

/* The micro-kernel the shared blocking driver calls: a tile of mr ≤ MR rows and
 * nc ≤ nr columns over kc steps of K, with the B panel at `b` (kc rows of nr).
 *   first: start from the bias (or 0), else from C;  last: clamp.
 * `bias` points at the tile's first channel (row or column). */
typedef struct irc_sgemm_tile {
    int mr, nc;
    int32_t kc;
    const float *a;           /* A[i][k] at a[i*a_rs + k*a_cs], i < mr, k < kc */
    size_t a_rs, a_cs;        /* (lda, 1) in place, or (1, MR) packed by the driver */
    const float *b;           /* B[k][j] at b[k*nr + j] */
    float *c;                 /* C[i][j] at c[i*ldc + j], i < mr, j < nc */
    size_t ldc;
    const float *bias;        /* NULL, or bias[i] (per row) / bias[j] (per column) */
    int bias_per_col;
    int first, last;
    float lo, hi;
} irc_sgemm_tile;
typedef void (*irc_sgemm_ukernel)(const irc_sgemm_tile *t);

/* The blocking driver every family shares (sgemm_scalar.c): loops over column
 * blocks of nc_max, K blocks of at most kc_max and mr-row strips (packed into a
 * stack buffer when the strip meets several panels), calling `uk` on each
 * nr-wide panel of the strip.  mr ≤ IRC_SGEMM_MR_MAX,
 * kc_max ≤ IRC_SGEMM_KC_MAX. */
#define IRC_SGEMM_MR_MAX 16
#define IRC_SGEMM_KC_MAX 512
void irc_sgemm_drive(const irc_sgemm_args *p, int mr, int nr, int32_t kc_max, int32_t nc_max,
                     irc_sgemm_ukernel uk);
/* Packing for any mr / nr (the families' pack_a / pack_b call these with their own). */
size_t irc_sgemm_packed_a_size_mr(int32_t M, int32_t K, int mr);
void irc_sgemm_pack_a_mr(int32_t M, int32_t K, const float *src, size_t lda, float *dst, int mr);
size_t irc_sgemm_packed_size_nr(int32_t K, int32_t N, int nr);
void irc_sgemm_pack_b_nr(int32_t K, int32_t N, const float *src, ptrdiff_t rs, ptrdiff_t cs,
                         int32_t p0, int32_t p1, float *dst, int nr);

extern const irc_sgemm_family irc_sgemm_scalar;
#if defined(__x86_64__) || defined(_M_X64)
extern const irc_sgemm_family irc_sgemm_avx2;
extern const irc_sgemm_family irc_sgemm_avx512;
#endif
#if defined(__aarch64__)
extern const irc_sgemm_family irc_sgemm_neon;
#endif

#endif /* IRC_SGEMM_H */
