/*
 * dispatch.c — the kernel tables (kernels.h) and choosing one at load time.
 */
#include "kernels.h"

#include "../internal.h"
#include "f32.h"
#include "q8.h"
#include "qgemm.h"
#include "sgemm.h"
#include "spmm.h"

static const irc_kernels k_scalar = {
    "scalar", IRC_ISA_SCALAR, IRC_ISA_SCALAR,
    &irc_qgemm_scalar, &irc_sgemm_scalar, &irc_q8_scalar, &irc_f32_scalar,
    &irc_spmm_f32_scalar, &irc_spmm_q8_scalar,
};

#if defined(__x86_64__) || defined(_M_X64)
static const irc_kernels k_avx2 = {
    "avx2", IRC_ISA_AVX2, IRC_ISA_AVX2,
    &irc_qgemm_avx2, &irc_sgemm_avx2, &irc_q8_avx2, &irc_f32_avx2,
    &irc_spmm_f32_avx2,
    &irc_spmm_q8_avx2,
};
static const irc_kernels k_avx512vnni = {
    "avx512vnni", IRC_ISA_AVX512VNNI, IRC_ISA_AVX2 | IRC_ISA_AVX512VNNI,
    &irc_qgemm_avx512vnni, &irc_sgemm_avx512, &irc_q8_avx512, &irc_f32_avx512,
    &irc_spmm_f32_avx512,
    &irc_spmm_q8_avx512vnni,
};
static const irc_kernels *const all_levels[] = {&k_scalar, &k_avx2, &k_avx512vnni};
#elif defined(__aarch64__)
static const irc_kernels k_neon = {
    "neon", IRC_ISA_NEON, IRC_ISA_NEON,
    &irc_qgemm_neon, &irc_sgemm_neon, &irc_q8_neon, &irc_f32_neon,
    &irc_spmm_f32_neon,
    &irc_spmm_q8_neon,
};
static const irc_kernels k_neondot = {
    "neondot", IRC_ISA_NEON_DOT, IRC_ISA_NEON | IRC_ISA_NEON_DOT,
    &irc_qgemm_neondot, &irc_sgemm_neon, &irc_q8_neon, &irc_f32_neon,
    &irc_spmm_f32_neon,
    &irc_spmm_q8_neondot,
};
static const irc_kernels *const all_levels[] = {&k_scalar, &k_neon, &k_neondot};
#else
static const irc_kernels *const all_levels[] = {&k_scalar};
#endif

#define N_LEVELS ((int)(sizeof all_levels / sizeof all_levels[0]))

const irc_kernels *const *irc_kernels_all(int *count) {
    *count = N_LEVELS;
    return all_levels;
}

const irc_kernels *irc_kernels_select(uint32_t allowed) {
    allowed |= IRC_ISA_SCALAR;
    for (int i = N_LEVELS - 1; i > 0; i--)
        if ((all_levels[i]->needs & ~allowed) == 0) return all_levels[i];
    return &k_scalar;
}
