/*
 * f32_avx512.c — float32 kernels (f32.h) for AVX-512F: f32_kernels.inc compiled
 * for AVX-512 with the loops vectorized (the build's -ffp-contract=off keeps FMA
 * out, so results equal the scalar twin's bit for bit).
 */
#include "f32.h"

#include "../internal.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx2,avx512f,avx512dq,avx512bw,avx512vl")
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic", "no-math-errno", "no-trapping-math")
/* y = sqrt(x), 16 lanes at a time (F32_SQRT_RUN in f32_kernels.inc) */
static void sqrt_run_avx512(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(y + i, m, _mm512_sqrt_ps(_mm512_maskz_loadu_ps(m, x + i)));
    }
}
#define F32_SQRT_RUN sqrt_run_avx512
#define F32_SUFFIX avx512
#include "f32_kernels.inc"
#pragma GCC pop_options

const irc_f32_family irc_f32_avx512 = F32_FAMILY("avx512", IRC_ISA_AVX512VNNI);
#endif
