/* family_stubs.c — placeholder sgemm / f32 / q8 tables until those kernels land.
 * Each family's owner replaces its part with real kernel files and deletes it here. */
#include "../internal.h"
#include "f32.h"
#include "q8.h"
#include "sgemm.h"

/* Weak, so a family's real table wins while both exist during development. */
#define IRC_STUB __attribute__((weak))

IRC_STUB const irc_q8_family irc_q8_scalar = {"scalar", IRC_ISA_SCALAR, 0};
#if defined(__x86_64__) || defined(_M_X64)
IRC_STUB const irc_q8_family irc_q8_avx2 = {"avx2", IRC_ISA_AVX2, 0};
IRC_STUB const irc_q8_family irc_q8_avx512 = {"avx512", IRC_ISA_AVX512VNNI, 0};
#endif
#if defined(__aarch64__)
IRC_STUB const irc_q8_family irc_q8_neon = {"neon", IRC_ISA_NEON, 0};
#endif
