/*
 * kernels.h — the kernel table: one entry per ISA level, chosen at load time.
 *
 * Each kernel family has a portable scalar twin (`irc_<family>_scalar`) and ISA
 * variants beside it, never edited into it.  The symbols each family must
 * define are fixed here; dispatch.c builds the tables from them:
 *
 *   level        qgemm                  sgemm               q8              f32
 *   scalar       irc_qgemm_scalar       irc_sgemm_scalar    irc_q8_scalar   irc_f32_scalar
 *   avx2         irc_qgemm_avx2         irc_sgemm_avx2      irc_q8_avx2     irc_f32_avx2
 *   avx512vnni   irc_qgemm_avx512vnni   irc_sgemm_avx512    irc_q8_avx512   irc_f32_avx512
 *   neon         irc_qgemm_neon         irc_sgemm_neon      irc_q8_neon     irc_f32_neon
 *   neondot      irc_qgemm_neondot      irc_sgemm_neon      irc_q8_neon     irc_f32_neon
 *
 *   level        spmm_f32                spmm_q8
 *   scalar       irc_spmm_f32_scalar     irc_spmm_q8_scalar
 *   avx2         irc_spmm_f32_avx2       irc_spmm_q8_avx2
 *   avx512vnni   irc_spmm_f32_avx512     irc_spmm_q8_avx512vnni
 *   neon         irc_spmm_f32_neon       irc_spmm_q8_neon
 *   neondot      irc_spmm_f32_neon       irc_spmm_q8_neondot
 *
 * A family without a specialised variant for a level defines the symbol as a
 * copy of its scalar table (a struct with the same function pointers).
 */
#ifndef IRC_KERNELS_H
#define IRC_KERNELS_H

#include <stdint.h>

struct irc_qgemm_family;   /* qgemm.h: int8 GEMM with requantization */
struct irc_sgemm_family;   /* sgemm.h: float32 GEMM with bias and clamp */
struct irc_q8_family;      /* q8.h:    int8 depthwise conv, elementwise, pooling, LUT */
struct irc_f32_family;     /* f32.h:   float32 elementwise, softmax, layer norm, ... */
struct irc_spmm_f32_family; /* spmm.h: sparse weights × dense activations, float32 */
struct irc_spmm_q8_family;  /* spmm.h: the same in int8 with requantization */

typedef struct irc_kernels {
    const char *name;      /* "scalar", "avx2", "avx512vnni", "neon", "neondot" */
    uint32_t isa;          /* the IRC_ISA_* bit of this level */
    uint32_t needs;        /* every IRC_ISA_* bit the level's kernels use */
    const struct irc_qgemm_family *qgemm;
    const struct irc_sgemm_family *sgemm;
    const struct irc_q8_family *q8;
    const struct irc_f32_family *f32;
    const struct irc_spmm_f32_family *spmm_f32;
    const struct irc_spmm_q8_family *spmm_q8;
} irc_kernels;

/* IRC_ISA_* bits this build has and this CPU supports (cpu.c). */
uint32_t irc_cpu_isas(void);
/* The best level whose needs are within `allowed` (scalar always qualifies). */
const irc_kernels *irc_kernels_select(uint32_t allowed);
/* Every level compiled into this build, best last; *count set. */
const irc_kernels *const *irc_kernels_all(int *count);

#endif /* IRC_KERNELS_H */
