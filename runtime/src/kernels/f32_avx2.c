/*
 * f32_avx2.c — float32 kernels (f32.h) for AVX2: f32_kernels.inc compiled for
 * AVX2 with the loops vectorized (the build's -ffp-contract=off keeps FMA out,
 * so results equal the scalar twin's bit for bit).
 */
#include "f32.h"

#include "../internal.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx2")
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic", "no-math-errno", "no-trapping-math")
/* y = sqrt(x), 8 lanes at a time (F32_SQRT_RUN in f32_kernels.inc) */
static void sqrt_run_avx2(const float *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_sqrt_ps(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) _mm_store_ss(y + i, _mm_sqrt_ss(_mm_load_ss(x + i)));
}
#define F32_SQRT_RUN sqrt_run_avx2
#define F32_SUFFIX avx2
#include "f32_kernels.inc"
#pragma GCC pop_options

const irc_f32_family irc_f32_avx2 = F32_FAMILY("avx2", IRC_ISA_AVX2);
#endif
