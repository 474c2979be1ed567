/*
 * f32_avx2.c — float32 kernels (f32.h) for AVX2: f32_kernels.inc compiled for
 * AVX2 with the loops vectorized (the build's -ffp-contract=off keeps FMA out,
 * so results equal the scalar twin's bit for bit).
 */
#include "f32.h"

#include "../internal.h"

#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC push_options
#pragma GCC target("avx2")
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic", "no-math-errno")
#define F32_SUFFIX avx2
#include "f32_kernels.inc"
#pragma GCC pop_options

const irc_f32_family irc_f32_avx2 = F32_FAMILY("avx2", IRC_ISA_AVX2);
#endif
