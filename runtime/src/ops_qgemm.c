/*
 * ops_qgemm.c — qconv2d and qmatmul: the int8 GEMM-based ops.
 * (Stubs: each op reports itself unsupported until its kernels land.)
 */
#include "internal.h"

irc_status op_qconv2d_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op qconv2d is not implemented in this build",
                    node->index, node->name);
}

irc_status op_qconv2d_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_qmatmul_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op qmatmul is not implemented in this build",
                    node->index, node->name);
}

irc_status op_qmatmul_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}
