/*
 * threads.c — irc_parallel_for (internal.h).  Serial until the pool lands.
 */
#include "internal.h"

void irc_parallel_for(irc_ctx *ctx, int64_t n, int64_t grain, irc_range_fn fn, void *arg) {
    (void)ctx;
    (void)grain;
    if (n > 0) fn(arg, 0, n);
}
