/* qgemm_avx512vnni.c — placeholder: the scalar kernel under the avx512vnni name until the SIMD kernel lands. */
#include "qgemm.h"
#include "../internal.h"
#if defined(__x86_64__) || defined(_M_X64)
const irc_qgemm_family irc_qgemm_avx512vnni = {
    "avx512vnni", 0, 0, 1, 1, irc_qgemm_scalar_packed_size, irc_qgemm_scalar_pack_b, irc_qgemm_scalar_run,
};
#endif
