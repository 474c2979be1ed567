/*
 * ops_pool.c — pooling ops: qavgpool, maxpool, avgpool, globalpool.
 * (Stubs: each op reports itself unsupported until its kernels land.)
 */
#include "internal.h"

irc_status op_qavgpool_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op qavgpool is not implemented in this build",
                    node->index, node->name);
}

irc_status op_qavgpool_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_maxpool_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op maxpool is not implemented in this build",
                    node->index, node->name);
}

irc_status op_maxpool_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_avgpool_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op avgpool is not implemented in this build",
                    node->index, node->name);
}

irc_status op_avgpool_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_globalpool_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op globalpool is not implemented in this build",
                    node->index, node->name);
}

irc_status op_globalpool_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}
