/*
 * f32.h — float32 kernels other than GEMM (owned by the float kernels; this is
 * the initial stub the dispatch table links against).
 */
#ifndef IRC_F32_H
#define IRC_F32_H

#include <stddef.h>
#include <stdint.h>

typedef struct irc_f32_family {
    const char *name;
    uint32_t isa;
} irc_f32_family;

extern const irc_f32_family irc_f32_scalar;
#if defined(__x86_64__) || defined(_M_X64)
extern const irc_f32_family irc_f32_avx2;
extern const irc_f32_family irc_f32_avx512;
#endif
#if defined(__aarch64__)
extern const irc_f32_family irc_f32_neon;
#endif
#endif
