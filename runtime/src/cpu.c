/*
 * cpu.c — which kernel families this CPU can run.
 *
 * x86-64: CPUID for the instruction sets and XGETBV for whether the OS saves
 * the wide registers (AVX2 needs YMM state; AVX-512 needs ZMM and opmask
 * state).  arm64: NEON is architectural; the dot-product extension (SDOT) is
 * the ASIMDDP bit of AT_HWCAP.
 */
#include "internal.h"
#include "kernels/kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

uint32_t irc_cpu_isas(void) {
    uint32_t isas = IRC_ISA_SCALAR;
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return isas;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return isas;
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return isas;                      /* XMM and YMM state */
    if (__get_cpuid_max(0, 0) < 7) return isas;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1;
    int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1,
        avx512vl = (b >> 31) & 1, vnni = (c >> 11) & 1;
    if (avx2 && fma) isas |= IRC_ISA_AVX2;
    if ((isas & IRC_ISA_AVX2) && (xcr0 & 0xE0) == 0xE0 && avx512f && avx512dq && avx512bw &&
        avx512vl && vnni)
        isas |= IRC_ISA_AVX512VNNI;
    return isas;
}

#elif defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif

uint32_t irc_cpu_isas(void) {
    uint32_t isas = IRC_ISA_SCALAR | IRC_ISA_NEON;
    if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) isas |= IRC_ISA_NEON_DOT;
    return isas;
}

#else
uint32_t irc_cpu_isas(void) { return IRC_ISA_SCALAR; }
#endif
