/*
 * sgemm.h — the float32 GEMM family (owned by the float kernels; this is the
 * initial stub the dispatch table links against).
 */
#ifndef IRC_SGEMM_H
#define IRC_SGEMM_H

#include <stddef.h>
#include <stdint.h>

typedef struct irc_sgemm_family {
    const char *name;
    uint32_t isa;
} irc_sgemm_family;

extern const irc_sgemm_family irc_sgemm_scalar;
#if defined(__x86_64__) || defined(_M_X64)
extern const irc_sgemm_family irc_sgemm_avx2;
extern const irc_sgemm_family irc_sgemm_avx512;
#endif
#if defined(__aarch64__)
extern const irc_sgemm_family irc_sgemm_neon;
#endif
#endif
