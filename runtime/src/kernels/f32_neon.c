/*
 * f32_neon.c — float32 kernels (f32.h) for AArch64 NEON: f32_kernels.inc with the
 * loops vectorized (NEON is architectural, so only the vectorizer options change;
 * the build's -ffp-contract=off keeps fused multiply-adds out, so results equal the
 * scalar twin's bit for bit).
 */
#include "f32.h"

#include "../internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#pragma GCC push_options
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic", "no-math-errno", "no-trapping-math")
/* y = sqrt(x), 4 lanes at a time (F32_SQRT_RUN in f32_kernels.inc) */
static void sqrt_run_neon(const float *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vsqrtq_f32(vld1q_f32(x + i)));
    for (; i < n; i++) y[i] = vgetq_lane_f32(vsqrtq_f32(vdupq_n_f32(x[i])), 0);
}
#define F32_SQRT_RUN sqrt_run_neon
#define F32_SUFFIX neon
#include "f32_kernels.inc"
#pragma GCC pop_options

const irc_f32_family irc_f32_neon = F32_FAMILY("neon", IRC_ISA_NEON);
#endif
