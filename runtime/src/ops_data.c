/*
 * ops_data.c — data movement ops (docs/artifact.md, "Data movement"): copy, transpose,
 * concat, split, slice, pad, gather, expand, cast.  Any dtype: the ops move elements of
 * the tensor's element size and never look at their meaning (cast excepted).
 *
 * transpose, slice and expand are one strided copy: the output is written in row-major
 * order while the input advances by a per-axis step (in elements),
 *
 *   y[i_0, ..., i_{r-1}] = x[base + Σ_k i_k · step_k]
 *
 *   transpose  step_k = stride_x[perm[k]]                       base = 0
 *   slice      step_k = steps[k] · stride_x[k]                  base = Σ starts[k] · stride_x[k]
 *   expand     step_k = stride_x[k'] (0 where x broadcasts)     base = 0
 *
 * with axes of extent 1 dropped and neighbours merged where step_k = step_{k+1}·count_{k+1},
 * so the innermost run is a memcpy (step 1), a fill (step 0) or a strided gather.
 */
#include <math.h>
#include <string.h>

#include "internal.h"

/* --- shared --------------------------------------------------------------------------------- */

static irc_status check_same_dtype(irc_ctx *ctx, const irc_node *node, const irc_tensor *y,
                                   const irc_tensor *x) {
    if (y->dtype != x->dtype)
        return irc_node_fail(ctx, node, "output '%s' is %s but input '%s' is %s", y->name,
                             irc_dtype_name(y->dtype), x->name, irc_dtype_name(x->dtype));
    return IRC_OK;
}

/* Row-major element strides of t. */
static void strides_of(const irc_tensor *t, int64_t *stride) {
    int64_t s = 1;
    for (int i = t->rank - 1; i >= 0; i--) {
        stride[i] = s;
        s *= t->dims[i];
    }
}

typedef struct scopy {
    int rank;                         /* >= 1 */
    int64_t count[IRC_MAX_RANK];      /* output extents */
    int64_t step[IRC_MAX_RANK];       /* input elements per output index, any sign */
    int64_t base;                     /* input element of output 0 */
    size_t esize;
} scopy;

/* Drop extent-1 axes and merge neighbours the input walks through contiguously. */
static void scopy_collapse(scopy *p) {
    int r = 0;
    for (int i = 0; i < p->rank; i++) {
        if (p->count[i] == 1) continue;
        if (r > 0 && p->step[r - 1] == p->step[i] * p->count[i]) {
            p->count[r - 1] *= p->count[i];
            p->step[r - 1] = p->step[i];
            continue;
        }
        p->count[r] = p->count[i];
        p->step[r] = p->step[i];
        r++;
    }
    if (r == 0) {
        p->count[0] = 1;
        p->step[0] = 1;
        r = 1;
    }
    p->rank = r;
}

static void scopy_run(const scopy *p, const uint8_t *x, uint8_t *y) {
    int r = p->rank;
    int64_t n = p->count[r - 1], s = p->step[r - 1], outer = 1;
    size_t es = p->esize;
    for (int i = 0; i < r - 1; i++) outer *= p->count[i];
    int64_t idx[IRC_MAX_RANK] = {0}, at = p->base;
    for (int64_t o = 0; o < outer; o++) {
        const uint8_t *src = x + (size_t)at * es;
        uint8_t *dst = y + (size_t)(o * n) * es;
        if (s == 1) {
            memcpy(dst, src, (size_t)n * es);
        } else {
            /* strided or broadcast (s == 0) run, by element size */
            ptrdiff_t sb = (ptrdiff_t)s * (ptrdiff_t)es;
            switch (es) {
            case 1: for (int64_t i = 0; i < n; i++) dst[i] = src[i * sb]; break;
            case 4: for (int64_t i = 0; i < n; i++) memcpy(dst + 4 * i, src + i * sb, 4); break;
            default: for (int64_t i = 0; i < n; i++) memcpy(dst + 8 * i, src + i * sb, 8); break;
            }
        }
        for (int i = r - 2; i >= 0; i--) {             /* odometer over the outer axes */
            at += p->step[i];
            if (++idx[i] < p->count[i]) break;
            at -= idx[i] * p->step[i];
            idx[i] = 0;
        }
    }
}

static irc_status scopy_state(irc_ctx *ctx, irc_node *node, scopy *p) {
    scopy_collapse(p);
    scopy *st = irc_alloc(ctx, sizeof *st);
    if (!st) return irc_fail(ctx, IRC_ERR_NO_MEMORY, "out of memory");
    *st = *p;
    node->state = st;
    return IRC_OK;
}

static irc_status scopy_node_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    scopy_run(node->state, node->in[0]->data, node->out[0]->data);
    return IRC_OK;
}

/* ================================================================================================
 * copy — x → y, same number of bytes (reshape, squeeze, q.reinterpret, ...).  In place: nothing
 * to do when y shares x's bytes; memmove otherwise.
 * ================================================================================================ */

irc_status op_copy_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 1, 1, 0));
    IRC_TRY(irc_check_present(ctx, node, 0));
    const irc_tensor *x = node->in[0], *y = node->out[0];
    if (x->nbytes != y->nbytes)
        return irc_node_fail(ctx, node, "input '%s' has %zu bytes, output '%s' %zu", x->name,
                             x->nbytes, y->name, y->nbytes);
    return IRC_OK;
}

irc_status op_copy_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    const irc_tensor *x = node->in[0], *y = node->out[0];
    if (x->data != y->data) memmove(y->data, x->data, y->nbytes);
    return IRC_OK;
}

/* ================================================================================================
 * transpose — params perm[rank]: a permutation; y.dims[i] = x.dims[perm[i]], x's dtype.
 * ================================================================================================ */

irc_status op_transpose_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 1, 1, -1));
    IRC_TRY(irc_check_present(ctx, node, 0));
    const irc_tensor *x = node->in[0], *y = node->out[0];
    const int32_t *perm = node->params;
    if (node->n_params != x->rank)
        return irc_node_fail(ctx, node, "perm has %d entries for rank %d", node->n_params, x->rank);
    int seen[IRC_MAX_RANK] = {0};
    int64_t dims[IRC_MAX_RANK], xs[IRC_MAX_RANK];
    for (int i = 0; i < x->rank; i++) {
        if (perm[i] < 0 || perm[i] >= x->rank || seen[perm[i]]++)
            return irc_node_fail(ctx, node, "perm is not a permutation of 0..%d", x->rank - 1);
        dims[i] = x->dims[perm[i]];
    }
    IRC_TRY(check_same_dtype(ctx, node, y, x));
    IRC_TRY(irc_check_shape(ctx, node, y, "output", x->rank, dims));
    strides_of(x, xs);
    scopy p;
    memset(&p, 0, sizeof p);
    p.rank = x->rank;
    p.esize = irc_dtype_size(x->dtype);
    for (int i = 0; i < x->rank; i++) {
        p.count[i] = dims[i];
        p.step[i] = xs[perm[i]];
    }
    return scopy_state(ctx, node, &p);
}

irc_status op_transpose_run(irc_ctx *ctx, const irc_node *node) { return scopy_node_run(ctx, node); }

/* ================================================================================================
 * concat / split — params: axis (0 <= axis < rank).  All parts share the whole tensor's
 * dtype, rank and dims except along axis, where their lengths add up to the whole's.
 * ================================================================================================ */

typedef struct parts_state {
    int64_t outer;                    /* product of the dims before axis */
    size_t whole_row;                 /* bytes of one outer index of the whole tensor */
    size_t part_row[];                /* bytes of one outer index of each part */
} parts_state;

/* Check `parts` (n tensors) against `whole` along axis params[0]; build the state. */
static irc_status parts_prepare(irc_ctx *ctx, irc_node *node, const irc_tensor *whole,
                                irc_tensor *const *parts, int n, const char *what) {
    int axis = node->params[0];
    if (whole->rank < 1 || axis < 0 || axis >= whole->rank)
        return irc_node_fail(ctx, node, "axis %d out of range for rank %d", axis, whole->rank);
    if (n < 1) return irc_node_fail(ctx, node, "needs at least one %s", what);
    int64_t total = 0, inner = 1, outer = 1;
    for (int i = 0; i < whole->rank; i++) {
        if (i < axis) outer *= whole->dims[i];
        if (i > axis) inner *= whole->dims[i];
    }
    size_t es = irc_dtype_size(whole->dtype);
    parts_state *s = irc_alloc(ctx, sizeof *s + sizeof(size_t) * (size_t)n);
    if (!s) return irc_fail(ctx, IRC_ERR_NO_MEMORY, "out of memory");
    node->state = s;
    for (int k = 0; k < n; k++) {
        const irc_tensor *t = parts[k];
        if (!t) return irc_node_fail(ctx, node, "%s %d is absent", what, k);
        IRC_TRY(check_same_dtype(ctx, node, t, whole));
        int64_t dims[IRC_MAX_RANK];
        memcpy(dims, whole->dims, sizeof dims);
        dims[axis] = t->rank == whole->rank ? t->dims[axis] : 1;
        IRC_TRY(irc_check_shape(ctx, node, t, what, whole->rank, dims));
        total += t->dims[axis];
        s->part_row[k] = (size_t)(t->dims[axis] * inner) * es;
    }
    if (total != whole->dims[axis])
        return irc_node_fail(ctx, node, "the %ss' lengths along axis %d add up to %lld, not %lld",
                             what, axis, (long long)total, (long long)whole->dims[axis]);
    s->outer = outer;
    s->whole_row = (size_t)(whole->dims[axis] * inner) * es;
    return IRC_OK;
}

irc_status op_concat_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, -1, 1, 1));
    return parts_prepare(ctx, node, node->out[0], node->in, node->n_in, "input");
}

irc_status op_concat_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    const parts_state *s = node->state;
    uint8_t *y = node->out[0]->data;
    for (int64_t o = 0; o < s->outer; o++) {
        uint8_t *dst = y + (size_t)o * s->whole_row;
        for (int k = 0; k < node->n_in; k++) {
            memmove(dst, (const uint8_t *)node->in[k]->data + (size_t)o * s->part_row[k],
                    s->part_row[k]);
            dst += s->part_row[k];
        }
    }
    return IRC_OK;
}

irc_status op_split_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 1, -1, 1));
    IRC_TRY(irc_check_present(ctx, node, 0));
    return parts_prepare(ctx, node, node->in[0], node->out, node->n_out, "output");
}

irc_status op_split_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    const parts_state *s = node->state;
    const uint8_t *x = node->in[0]->data;
    for (int64_t o = 0; o < s->outer; o++) {
        const uint8_t *src = x + (size_t)o * s->whole_row;
        for (int k = 0; k < node->n_out; k++) {
            memmove((uint8_t *)node->out[k]->data + (size_t)o * s->part_row[k], src,
                    s->part_row[k]);
            src += s->part_row[k];
        }
    }
    return IRC_OK;
}

/* ================================================================================================
 * slice — params starts[rank], steps[rank]: y[i...] = x[starts + i·steps] per axis, y's dims
 * giving the counts.  Checks: steps != 0, every index read (first and last per axis) inside x.
 * ================================================================================================ */

irc_status op_slice_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 1, 1, -1));
    IRC_TRY(irc_check_present(ctx, node, 0));
    const irc_tensor *x = node->in[0], *y = node->out[0];
    int r = x->rank;
    if (node->n_params != 2 * r)
        return irc_node_fail(ctx, node, "needs 2·rank = %d parameter words, has %d", 2 * r,
                             node->n_params);
    IRC_TRY(check_same_dtype(ctx, node, y, x));
    if (y->rank != r) return irc_node_fail(ctx, node, "output '%s' must have rank %d", y->name, r);
    int64_t xs[IRC_MAX_RANK];
    strides_of(x, xs);
    scopy p;
    memset(&p, 0, sizeof p);
    p.rank = r;
    p.esize = irc_dtype_size(x->dtype);
    for (int i = 0; i < r; i++) {
        int64_t start = node->params[i], step = node->params[r + i], n = x->dims[i];
        int64_t last = start + (y->dims[i] - 1) * step;
        if (step == 0 || start < 0 || start >= n || last < 0 || last >= n)
            return irc_node_fail(ctx, node, "axis %d: start %lld, step %lld and %lld elements "
                                 "read outside the input's %lld", i, (long long)start,
                                 (long long)step, (long long)y->dims[i], (long long)n);
        p.count[i] = y->dims[i];
        p.step[i] = step * xs[i];
        p.base += start * xs[i];
    }
    return scopy_state(ctx, node, &p);
}

irc_status op_slice_run(irc_ctx *ctx, const irc_node *node) { return scopy_node_run(ctx, node); }

/* ================================================================================================
 * expand — numpy broadcast of x to y's dims: y.rank >= x.rank and every x dim (aligned right)
 * is 1 or y's.
 * ================================================================================================ */

irc_status op_expand_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 1, 1, 0));
    IRC_TRY(irc_check_present(ctx, node, 0));
    const irc_tensor *x = node->in[0], *y = node->out[0];
    IRC_TRY(check_same_dtype(ctx, node, y, x));
    if (y->rank < x->rank)
        return irc_node_fail(ctx, node, "output '%s' has a lower rank than input '%s'", y->name,
                             x->name);
    int64_t xs[IRC_MAX_RANK];
    strides_of(x, xs);
    scopy p;
    memset(&p, 0, sizeof p);
    p.rank = y->rank;
    p.esize = irc_dtype_size(x->dtype);
    for (int i = 0; i < y->rank; i++) {
        int k = i - (y->rank - x->rank);
        int64_t d = k >= 0 ? x->dims[k] : 1;
        if (d != 1 && d != y->dims[i])
            return irc_node_fail(ctx, node, "input '%s' does not broadcast to output '%s' (axis %d: "
                                 "%lld vs %lld)", x->name, y->name, i, (long long)d,
                                 (long long)y->dims[i]);
        p.count[i] = y->dims[i];
        p.step[i] = d == 1 ? 0 : xs[k];
    }
    return scopy_state(ctx, node, &p);
}

irc_status op_expand_run(irc_ctx *ctx, const irc_node *node) { return scopy_node_run(ctx, node); }

/* ================================================================================================
 * pad — params pads[2·rank] (begins, then ends; >= 0), value: y = x surrounded by value.
 * `value` is the element's bits: f32 bits, or an integer within the dtype (bool: 0 or 1;
 * i64: the word sign-extended).
 * ================================================================================================ */

typedef struct pad_state {
    uint8_t value[8];                 /* one element's bytes */
    int64_t begin[IRC_MAX_RANK];
} pad_state;

irc_status op_pad_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 1, 1, -1));
    IRC_TRY(irc_check_present(ctx, node, 0));
    const irc_tensor *x = node->in[0], *y = node->out[0];
    int r = x->rank;
    if (node->n_params != 2 * r + 1)
        return irc_node_fail(ctx, node, "needs 2·rank + 1 = %d parameter words, has %d", 2 * r + 1,
                             node->n_params);
    IRC_TRY(check_same_dtype(ctx, node, y, x));
    pad_state s;
    memset(&s, 0, sizeof s);
    int64_t dims[IRC_MAX_RANK];
    for (int i = 0; i < r; i++) {
        int32_t b = node->params[i], e = node->params[r + i];
        if (b < 0 || e < 0)
            return irc_node_fail(ctx, node, "axis %d: pads %d, %d must be >= 0", i, b, e);
        s.begin[i] = b;
        dims[i] = x->dims[i] + b + e;
    }
    IRC_TRY(irc_check_shape(ctx, node, y, "output", r, dims));
    int32_t word = node->params[2 * r];
    int64_t v = word;
    int ok = 1;
    switch (x->dtype) {
    case IRC_I8: ok = v >= -128 && v <= 127; break;
    case IRC_U8: ok = v >= 0 && v <= 255; break;
    case IRC_BOOL: ok = v == 0 || v == 1; break;
    default: break;
    }
    if (!ok)
        return irc_node_fail(ctx, node, "pad value %d does not fit %s", word,
                             irc_dtype_name(x->dtype));
    if (x->dtype == IRC_F32 || x->dtype == IRC_I32) {
        memcpy(s.value, &word, 4);
    } else if (x->dtype == IRC_I64) {
        memcpy(s.value, &v, 8);
    } else {
        s.value[0] = (uint8_t)(word & 0xFF);
    }
    pad_state *st = irc_alloc(ctx, sizeof *st);
    if (!st) return irc_fail(ctx, IRC_ERR_NO_MEMORY, "out of memory");
    *st = s;
    node->state = st;
    return IRC_OK;
}

irc_status op_pad_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    const pad_state *s = node->state;
    const irc_tensor *x = node->in[0], *y = node->out[0];
    size_t es = irc_dtype_size(x->dtype);
    uint8_t *yd = y->data;
    if (es == 1) {
        memset(yd, s->value[0], y->nbytes);
    } else {
        for (size_t i = 0; i < y->nbytes; i += es) memcpy(yd + i, s->value, es);
    }
    int r = x->rank;
    if (r == 0) {
        memcpy(yd, x->data, es);
        return IRC_OK;
    }
    int64_t ys[IRC_MAX_RANK], idx[IRC_MAX_RANK] = {0}, rows = 1, n = x->dims[r - 1];
    strides_of(y, ys);
    for (int i = 0; i < r - 1; i++) rows *= x->dims[i];
    int64_t at = 0;                               /* y element of x's row idx */
    for (int i = 0; i < r; i++) at += s->begin[i] * ys[i];
    const uint8_t *xd = x->data;
    for (int64_t o = 0; o < rows; o++) {
        memcpy(yd + (size_t)at * es, xd + (size_t)(o * n) * es, (size_t)n * es);
        for (int i = r - 2; i >= 0; i--) {
            at += ys[i];
            if (++idx[i] < x->dims[i]) break;
            at -= idx[i] * ys[i];
            idx[i] = 0;
        }
    }
    return IRC_OK;
}

/* ================================================================================================
 * gather — x, indices (i32/i64) → y, params axis: y = take(x, indices, axis), ONNX Gather;
 * y.dims = x.dims[:axis] + indices.dims + x.dims[axis+1:].  Indices in [−n, n) (negative count
 * from the end); any other fails the run with IRC_ERR_RUNTIME.
 * ================================================================================================ */

irc_status op_gather_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 2, 1, 1));
    IRC_TRY(irc_check_present(ctx, node, 0));
    IRC_TRY(irc_check_present(ctx, node, 1));
    const irc_tensor *x = node->in[0], *ix = node->in[1], *y = node->out[0];
    int axis = node->params[0];
    IRC_TRY(irc_check_dtype(ctx, node, ix, "indices", IRC_I32, IRC_I64, 0));
    IRC_TRY(check_same_dtype(ctx, node, y, x));
    if (x->rank < 1 || axis < 0 || axis >= x->rank)
        return irc_node_fail(ctx, node, "axis %d out of range for rank %d", axis, x->rank);
    int r = x->rank - 1 + ix->rank;
    if (r > IRC_MAX_RANK)
        return irc_node_fail(ctx, node, "the result would have rank %d (> %d)", r, IRC_MAX_RANK);
    int64_t dims[IRC_MAX_RANK];
    int k = 0;
    for (int i = 0; i < axis; i++) dims[k++] = x->dims[i];
    for (int i = 0; i < ix->rank; i++) dims[k++] = ix->dims[i];
    for (int i = axis + 1; i < x->rank; i++) dims[k++] = x->dims[i];
    return irc_check_shape(ctx, node, y, "output", r, dims);
}

irc_status op_gather_run(irc_ctx *ctx, const irc_node *node) {
    const irc_tensor *x = node->in[0], *ix = node->in[1], *y = node->out[0];
    int axis = node->params[0];
    int64_t outer = 1, inner = 1, n = x->dims[axis], m = ix->numel;
    for (int i = 0; i < axis; i++) outer *= x->dims[i];
    for (int i = axis + 1; i < x->rank; i++) inner *= x->dims[i];
    size_t row = (size_t)inner * irc_dtype_size(x->dtype);
    for (int64_t k = 0; k < m; k++) {
        int64_t j = ix->dtype == IRC_I32 ? ((const int32_t *)ix->data)[k]
                                         : ((const int64_t *)ix->data)[k];
        if (j < -n || j >= n)
            return irc_fail(ctx, IRC_ERR_RUNTIME, "node %u '%s' (gather): index %lld (position "
                            "%lld of '%s') is out of range [%lld, %lld] for axis %d of '%s'",
                            node->index, node->name, (long long)j, (long long)k, ix->name,
                            (long long)-n, (long long)(n - 1), axis, x->name);
    }
    const uint8_t *xd = x->data;
    uint8_t *yd = y->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < m; k++) {
            int64_t j = ix->dtype == IRC_I32 ? ((const int32_t *)ix->data)[k]
                                             : ((const int64_t *)ix->data)[k];
            if (j < 0) j += n;
            memmove(yd + (size_t)(o * m + k) * row, xd + (size_t)(o * n + j) * row, row);
        }
    return IRC_OK;
}

/* ================================================================================================
 * cast — x → y of y's dtype, the interpreter's nn.cast (irc/ops/nn_shape.py cast_array):
 *   to f32:    nearest (int64 → float directly, one rounding)
 *   to bool:   x != 0 (NaN is true)
 *   f32 → int: truncate toward zero, saturate to the target's range, NaN → 0
 *   int → int: the low bits, two's complement (bool reads as 0/1)
 * ================================================================================================ */

irc_status op_cast_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 1, 1, 0));
    IRC_TRY(irc_check_present(ctx, node, 0));
    const irc_tensor *x = node->in[0], *y = node->out[0];
    return irc_check_shape(ctx, node, y, "output", x->rank, x->dims);
}

static int64_t load_int(const void *x, size_t i, irc_dtype d) {
    switch (d) {
    case IRC_I32: return ((const int32_t *)x)[i];
    case IRC_I8: return ((const int8_t *)x)[i];
    case IRC_U8: return ((const uint8_t *)x)[i];
    case IRC_I64: return ((const int64_t *)x)[i];
    default: return ((const uint8_t *)x)[i] != 0;   /* bool */
    }
}

/* trunc(v) saturated to [lo, hi]; NaN → 0.  (double)hi may round up (i64: 2^63); any
 * t >= it is hi, as in cast_array. */
static int64_t f32_to_int(float v, int64_t lo, int64_t hi) {
    double t = trunc((double)v);
    if (t != t) return 0;
    if (t >= (double)hi) return hi;
    if (t <= (double)lo) return lo;
    return (int64_t)t;
}

irc_status op_cast_run(irc_ctx *ctx, const irc_node *node) {
    (void)ctx;
    const irc_tensor *x = node->in[0], *y = node->out[0];
    irc_dtype from = x->dtype, to = y->dtype;
    size_t n = (size_t)x->numel;
    const void *xd = x->data;
    void *yd = y->data;
    if (from == to && from != IRC_BOOL) {
        if (xd != yd) memmove(yd, xd, y->nbytes);
        return IRC_OK;
    }
    if (from == IRC_F32) {
        const float *xf = xd;
        for (size_t i = 0; i < n; i++) {
            float v = xf[i];
            switch (to) {
            case IRC_BOOL: ((uint8_t *)yd)[i] = v != 0.0f; break;
            case IRC_I32: ((int32_t *)yd)[i] = (int32_t)f32_to_int(v, INT32_MIN, INT32_MAX); break;
            case IRC_I8: ((int8_t *)yd)[i] = (int8_t)f32_to_int(v, -128, 127); break;
            case IRC_U8: ((uint8_t *)yd)[i] = (uint8_t)f32_to_int(v, 0, 255); break;
            default: ((int64_t *)yd)[i] = f32_to_int(v, INT64_MIN, INT64_MAX); break;
            }
        }
        return IRC_OK;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t v = load_int(xd, i, from);
        uint64_t u = (uint64_t)v;
        switch (to) {
        case IRC_F32: ((float *)yd)[i] = (float)v; break;
        case IRC_BOOL: ((uint8_t *)yd)[i] = v != 0; break;
        case IRC_I32: ((int32_t *)yd)[i] = (int32_t)(uint32_t)u; break;
        case IRC_I8: ((int8_t *)yd)[i] = (int8_t)(uint8_t)u; break;
        case IRC_U8: ((uint8_t *)yd)[i] = (uint8_t)u; break;
        default: ((int64_t *)yd)[i] = v; break;
        }
    }
    return IRC_OK;
}
