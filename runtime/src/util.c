/*
 * util.c — errors, memory, operand checks and the op table (internal.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* --- the op table ---------------------------------------------------------------------------- */

#define IRC_OP(code, ID, name, prepare, run) static const irc_op op_##ID = {name, prepare, run};
#include "ops.def"
#undef IRC_OP

const irc_op *irc_op_lookup(uint32_t code) {
    switch (code) {
#define IRC_OP(code, ID, name, prepare, run) case code: return &op_##ID;
#include "ops.def"
#undef IRC_OP
    default: return NULL;
    }
}

/* --- errors ------------------------------------------------------------------------------------ */

irc_status irc_fail(irc_ctx *ctx, irc_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, IRC_ERROR_SIZE, fmt, ap);
    va_end(ap);
    return status;
}

irc_status irc_node_fail(irc_ctx *ctx, const irc_node *node, const char *fmt, ...) {
    int n = snprintf(ctx->error, IRC_ERROR_SIZE, "node %u '%s' (%s): ", node->index,
                     node->name ? node->name : "", node->op ? node->op->name : "?");
    if (n < 0) n = 0;
    if (n < IRC_ERROR_SIZE) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->error + n, IRC_ERROR_SIZE - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return IRC_ERR_FORMAT;
}

/* --- memory ------------------------------------------------------------------------------------ */

void *irc_alloc(irc_ctx *ctx, size_t size) {
    return ctx->alloc.alloc(ctx->alloc.user, size ? size : 1, IRC_ALIGN);
}

void *irc_calloc(irc_ctx *ctx, size_t size) {
    void *p = irc_alloc(ctx, size);
    if (p) memset(p, 0, size);
    return p;
}

void irc_free(irc_ctx *ctx, void *ptr) {
    if (ptr) ctx->alloc.free(ctx->alloc.user, ptr);
}

/* --- dtypes and operand checks ----------------------------------------------------------------- */

size_t irc_dtype_size(irc_dtype dtype) {
    switch (dtype) {
    case IRC_F32: case IRC_I32: return 4;
    case IRC_I8: case IRC_U8: case IRC_BOOL: return 1;
    case IRC_I64: return 8;
    default: return 0;
    }
}

const char *irc_dtype_name(irc_dtype dtype) {
    switch (dtype) {
    case IRC_F32: return "f32";
    case IRC_I32: return "i32";
    case IRC_I8: return "i8";
    case IRC_U8: return "u8";
    case IRC_I64: return "i64";
    case IRC_BOOL: return "bool";
    default: return "?";
    }
}

irc_status irc_check_arity(irc_ctx *ctx, const irc_node *node, int n_in, int n_out, int n_params) {
    if (n_in >= 0 && node->n_in != n_in)
        return irc_node_fail(ctx, node, "expects %d inputs, has %d", n_in, node->n_in);
    if (n_out >= 0 && node->n_out != n_out)
        return irc_node_fail(ctx, node, "expects %d outputs, has %d", n_out, node->n_out);
    if (n_params >= 0 && node->n_params < n_params)
        return irc_node_fail(ctx, node, "expects %d parameter words, has %d", n_params,
                             node->n_params);
    return IRC_OK;
}

irc_status irc_check_present(irc_ctx *ctx, const irc_node *node, int input) {
    if (input >= node->n_in || !node->in[input])
        return irc_node_fail(ctx, node, "input %d is required", input);
    return IRC_OK;
}

irc_status irc_check_dtype(irc_ctx *ctx, const irc_node *node, const irc_tensor *t,
                           const char *what, ...) {
    va_list ap;
    va_start(ap, what);
    char allowed[64] = "";
    size_t used = 0;
    for (;;) {
        int d = va_arg(ap, int);
        if (d == 0) break;
        if ((int)t->dtype == d) {
            va_end(ap);
            return IRC_OK;
        }
        int n = snprintf(allowed + used, sizeof allowed - used, "%s%s", used ? "/" : "",
                         irc_dtype_name((irc_dtype)d));
        if (n > 0 && (size_t)n < sizeof allowed - used) used += (size_t)n;
    }
    va_end(ap);
    return irc_node_fail(ctx, node, "%s '%s' is %s, expected %s", what, t->name,
                         irc_dtype_name(t->dtype), allowed);
}

irc_status irc_check_shape(irc_ctx *ctx, const irc_node *node, const irc_tensor *t,
                           const char *what, int rank, const int64_t *dims) {
    int ok = t->rank == rank;
    for (int i = 0; ok && i < rank; i++) ok = t->dims[i] == dims[i];
    if (ok) return IRC_OK;
    char want[128] = "", got[128] = "";
    size_t a = 0, b = 0;
    for (int i = 0; i < rank && a < sizeof want; i++) {
        int n = snprintf(want + a, sizeof want - a, "%s%lld", i ? "," : "", (long long)dims[i]);
        if (n > 0) a += (size_t)n;
    }
    for (int i = 0; i < t->rank && b < sizeof got; i++) {
        int n = snprintf(got + b, sizeof got - b, "%s%lld", i ? "," : "", (long long)t->dims[i]);
        if (n > 0) b += (size_t)n;
    }
    return irc_node_fail(ctx, node, "%s '%s' has shape [%s], expected [%s]", what, t->name, got,
                         want);
}

irc_status irc_check_const(irc_ctx *ctx, const irc_node *node, const irc_tensor *t,
                           const char *what) {
    if (t->storage != IRC_STORE_CONST)
        return irc_node_fail(ctx, node, "%s '%s' must be a constant", what, t->name);
    return IRC_OK;
}

/* --- convolution geometry ---------------------------------------------------------------------- */

#define MAX_SPATIAL (1 << 20)

irc_status irc_conv_geometry(irc_ctx *ctx, const irc_node *node, const irc_tensor *x,
                             const irc_tensor *w, const irc_tensor *y, irc_conv_geom *g) {
    const int32_t *p = node->params;
    if (x->rank != 4 || w->rank != 4)
        return irc_node_fail(ctx, node, "input and weights must be 4-D (NCHW, [OC, C/g, KH, KW])");
    memset(g, 0, sizeof *g);
    g->N = x->dims[0], g->C = x->dims[1], g->H = x->dims[2], g->W = x->dims[3];
    g->OC = w->dims[0], g->KH = w->dims[2], g->KW = w->dims[3];
    g->sh = p[0], g->sw = p[1], g->pt = p[2], g->pl = p[3], g->pb = p[4], g->pr = p[5];
    g->dh = p[6], g->dw = p[7], g->groups = p[8];
    if (g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1 || g->sh > MAX_SPATIAL ||
        g->sw > MAX_SPATIAL || g->dh > MAX_SPATIAL || g->dw > MAX_SPATIAL)
        return irc_node_fail(ctx, node, "strides and dilations must be 1..2^20");
    if (g->pt < 0 || g->pl < 0 || g->pb < 0 || g->pr < 0 || g->pt > MAX_SPATIAL ||
        g->pl > MAX_SPATIAL || g->pb > MAX_SPATIAL || g->pr > MAX_SPATIAL)
        return irc_node_fail(ctx, node, "pads must be 0..2^20");
    if (g->groups < 1 || g->C % g->groups || g->OC % g->groups || w->dims[1] != g->C / g->groups)
        return irc_node_fail(ctx, node, "groups %lld do not fit %lld input and %lld output "
                             "channels with weights [%lld,%lld,..]", (long long)g->groups,
                             (long long)g->C, (long long)g->OC, (long long)w->dims[0],
                             (long long)w->dims[1]);
    int64_t span_h = (g->KH - 1) * g->dh + 1, span_w = (g->KW - 1) * g->dw + 1;
    int64_t room_h = g->H + g->pt + g->pb - span_h, room_w = g->W + g->pl + g->pr - span_w;
    if (room_h < 0 || room_w < 0)
        return irc_node_fail(ctx, node, "the kernel does not fit the padded input");
    g->OH = room_h / g->sh + 1, g->OW = room_w / g->sw + 1;
    int64_t ydims[4] = {g->N, g->OC, g->OH, g->OW};
    IRC_TRY(irc_check_shape(ctx, node, y, "output", 4, ydims));
    g->Cg = g->C / g->groups, g->OCg = g->OC / g->groups;
    g->Kg = g->Cg * g->KH * g->KW;
    g->pointwise = g->KH == 1 && g->KW == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 &&
                   g->pl == 0 && g->pb == 0 && g->pr == 0;
    return IRC_OK;
}
