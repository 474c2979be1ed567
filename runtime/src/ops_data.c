/*
 * ops_data.c — data movement ops (docs/artifact.md, 'Data movement').
 * (Stubs: each op reports itself unsupported until its kernels land.)
 */
#include "internal.h"

irc_status op_copy_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op copy is not implemented in this build",
                    node->index, node->name);
}

irc_status op_copy_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_transpose_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op transpose is not implemented in this build",
                    node->index, node->name);
}

irc_status op_transpose_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_concat_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op concat is not implemented in this build",
                    node->index, node->name);
}

irc_status op_concat_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_split_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op split is not implemented in this build",
                    node->index, node->name);
}

irc_status op_split_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_slice_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op slice is not implemented in this build",
                    node->index, node->name);
}

irc_status op_slice_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_pad_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op pad is not implemented in this build",
                    node->index, node->name);
}

irc_status op_pad_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_gather_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op gather is not implemented in this build",
                    node->index, node->name);
}

irc_status op_gather_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_expand_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op expand is not implemented in this build",
                    node->index, node->name);
}

irc_status op_expand_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_cast_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op cast is not implemented in this build",
                    node->index, node->name);
}

irc_status op_cast_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}
