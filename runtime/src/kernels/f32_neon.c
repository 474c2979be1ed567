/*
 * f32_neon.c — float32 kernels (f32.h) for AArch64 NEON: f32_kernels.inc with the
 * loops vectorized (NEON is architectural, so only the vectorizer options change;
 * the build's -ffp-contract=off keeps fused multiply-adds out, so results equal the
 * scalar twin's bit for bit).
 */
#include "f32.h"

#include "../internal.h"

#if defined(__aarch64__)
#pragma GCC push_options
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic", "no-math-errno")
#define F32_SUFFIX neon
#include "f32_kernels.inc"
#pragma GCC pop_options

const irc_f32_family irc_f32_neon = F32_FAMILY("neon", IRC_ISA_NEON);
#endif
