/*
 * qgemm.h — the int8 GEMM family: C = requant(A·B + bias), one family per ISA.
 *
 *   acc[m][n] = bias[c] (+ row_bias[m]) + Σ_{k<K} A[m][k] · B[k][n]   int32, wrapping
 *   C[m][n]   = clamp(MBQM(acc, mult[c], shift[c]) + out_zp, lo, hi)   (8-bit output)
 *             = acc                                                     (mult == NULL: int32)
 *   c = n when per_col, else m                          (fixedpoint.h has MBQM)
 *
 * Operand domains.  Weights are int8 with zero point 0 (symmetric; the artifact
 * writer guarantees it, uint8 weights with zero point 128 are flipped to int8 at
 * load).  Activations are uint8 when the family's act_signed == 0 (x86: the
 * u8×s8 of vpdpbusd / vpmaddwd; scalar) and int8 when act_signed == 1 (arm64:
 * s8×s8 sdot / smull).  Callers move stored activations into the family's domain
 * (x ^ 0x80, zero point ± 128) and fold the activation zero point into the bias:
 *
 *   Σ_k (x_k − z_x)·w_k + b = Σ_k x_k·w_k + (b − z_x·Σ_k w_k)      →  bias[c] = b[c] − z_x·Σw[c]
 *
 * Which operand holds activations is `a_is_act`:
 *   fully connected / matmul: A = activations [M][K] (row-major, stride lda),
 *                             B = weights [K][N] packed once at load, per_col = 1;
 *   conv (NCHW):              A = weights [OC][K] (row-major, prepared at load),
 *                             B = activations as im2col [K][OH·OW] packed per run, per_col = 0.
 *
 * Contract between callers and kernels:
 *   - K is a multiple of the family's kr (callers zero-pad A rows and pack_b pads B);
 *   - A rows hold at least K readable bytes; kernels read rows m0..m1−1 only;
 *   - per-channel arrays (bias, mult, shift) hold at least irc_round_up(C, 64) entries
 *     (callers pad), so a kernel may load whole vectors past the last channel;
 *   - the kernel computes the block m0 ≤ m < m1, n0 ≤ n < n1 (n0 a multiple of nr) and
 *     writes C only inside it; blocks are independent, so threads split M or N.
 */
#ifndef IRC_QGEMM_H
#define IRC_QGEMM_H

#include <stddef.h>
#include <stdint.h>

typedef struct irc_qgemm_args {
    int32_t M, N, K;
    const void *a;            /* A[m][k] at a + m*lda + k */
    size_t lda;               /* bytes */
    const void *b;            /* packed by the same family's pack_b(K, N, ...) */
    int a_is_act;             /* 1: A activations (act domain), B weights (s8); 0: the reverse */
    const int32_t *bias;      /* per channel, or NULL for 0 */
    const int32_t *mult;      /* per channel; NULL: store int32 accumulators */
    const int32_t *shift;
    int per_col;              /* channel c = n (1) or m (0) */
    int32_t out_zp, lo, hi;   /* 8-bit output: zero point and clamp bounds (in stored units) */
    int out_signed;           /* 8-bit output is int8 (1) or uint8 (0) */
    void *c;                  /* C[m][n] at c + (m*ldc + n) * element size */
    size_t ldc;               /* elements */
    int32_t m0, m1, n0, n1;   /* the block to compute */
    const int32_t *row_bias;  /* per_col only: acc += row_bias[m] as well (NULL: none); the
                                 zero-point term −z_b·Σ_k a[m][k] of an activation × activation
                                 product whose b has a zero point */
} irc_qgemm_args;

typedef struct irc_qgemm_family {
    const char *name;         /* "scalar", "avx2", "avx512vnni", "neon", "neondot" */
    uint32_t isa;             /* IRC_ISA_* bit */
    int act_signed;           /* activation domain: 0 uint8, 1 int8 */
    int nr;                   /* B is packed in panels of nr columns */
    int kr;                   /* K must be a multiple of kr */
    /* Bytes pack_b writes for a K×N B (K a multiple of kr). */
    size_t (*packed_size)(int32_t K, int32_t N);
    /* Pack B[k][n] = src[k*rs + n*cs] ^ xor_mask (bytes; rs, cs in bytes) for k < K_src,
     * zero rows for K_src <= k < K (K = K_src rounded up to kr), zero columns up to a
     * multiple of nr.  Writes exactly packed_size(K, N) bytes. */
    void (*pack_b)(int32_t K_src, int32_t K, int32_t N, const uint8_t *src, ptrdiff_t rs,
                   ptrdiff_t cs, uint8_t xor_mask, void *dst);
    void (*run)(const irc_qgemm_args *args);
} irc_qgemm_family;

extern const irc_qgemm_family irc_qgemm_scalar;
/* The scalar family's functions, for families that reuse some of them. */
size_t irc_qgemm_scalar_packed_size(int32_t K, int32_t N);
void irc_qgemm_scalar_pack_b(int32_t K_src, int32_t K, int32_t N, const uint8_t *src, ptrdiff_t rs,
                             ptrdiff_t cs, uint8_t xor_mask, void *dst);
void irc_qgemm_scalar_run(const irc_qgemm_args *args);
#if defined(__x86_64__) || defined(_M_X64)
extern const irc_qgemm_family irc_qgemm_avx2;
extern const irc_qgemm_family irc_qgemm_avx512vnni;
#endif
#if defined(__aarch64__)
extern const irc_qgemm_family irc_qgemm_neon;
extern const irc_qgemm_family irc_qgemm_neondot;
#endif

#endif /* IRC_QGEMM_H */
