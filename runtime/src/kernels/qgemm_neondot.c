/* qgemm_neondot.c — placeholder: the scalar kernel under the neondot name until the NEON kernel lands. */
#include "qgemm.h"
#include "../internal.h"
#if defined(__aarch64__)
const irc_qgemm_family irc_qgemm_neondot = {
    "neondot", 0, 0, 1, 1, irc_qgemm_scalar_packed_size, irc_qgemm_scalar_pack_b, irc_qgemm_scalar_run,
};
#endif
