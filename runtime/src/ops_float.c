/*
 * ops_float.c — float32 compute ops.
 * (Stubs: each op reports itself unsupported until its kernels land.)
 */
#include "internal.h"

irc_status op_conv2d_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op conv2d is not implemented in this build",
                    node->index, node->name);
}

irc_status op_conv2d_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_matmul_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op matmul is not implemented in this build",
                    node->index, node->name);
}

irc_status op_matmul_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_binary_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op binary is not implemented in this build",
                    node->index, node->name);
}

irc_status op_binary_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_unary_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op unary is not implemented in this build",
                    node->index, node->name);
}

irc_status op_unary_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_where_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op where is not implemented in this build",
                    node->index, node->name);
}

irc_status op_where_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_softmax_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op softmax is not implemented in this build",
                    node->index, node->name);
}

irc_status op_softmax_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_layernorm_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op layernorm is not implemented in this build",
                    node->index, node->name);
}

irc_status op_layernorm_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_reduce_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op reduce is not implemented in this build",
                    node->index, node->name);
}

irc_status op_reduce_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}
