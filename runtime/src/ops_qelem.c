/*
 * ops_qelem.c — integer elementwise ops: quantize, dequantize, requantize, qadd, qmul, qlut.
 * (Stubs: each op reports itself unsupported until its kernels land.)
 */
#include "internal.h"

irc_status op_quantize_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op quantize is not implemented in this build",
                    node->index, node->name);
}

irc_status op_quantize_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_dequantize_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op dequantize is not implemented in this build",
                    node->index, node->name);
}

irc_status op_dequantize_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_requantize_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op requantize is not implemented in this build",
                    node->index, node->name);
}

irc_status op_requantize_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_qadd_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op qadd is not implemented in this build",
                    node->index, node->name);
}

irc_status op_qadd_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_qmul_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op qmul is not implemented in this build",
                    node->index, node->name);
}

irc_status op_qmul_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}

irc_status op_qlut_prepare(irc_ctx *ctx, irc_node *node) {
    return irc_fail(ctx, IRC_ERR_UNSUPPORTED, "node %u '%s': op qlut is not implemented in this build",
                    node->index, node->name);
}

irc_status op_qlut_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    (void)node;
    return IRC_ERR_UNSUPPORTED;
}
