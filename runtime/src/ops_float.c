/*
 * ops_float.c — the float32 compute ops: conv2d, matmul, binary, unary, where,
 * softmax, layernorm, reduce (docs/artifact.md, "Float ops"; semantics are the
 * interpreter's nn.* ops in irc/ops/).
 *
 * Kernels: GEMM-shaped work runs on the sgemm family (kernels/sgemm.h), the rest
 * on the f32 family (kernels/f32.h); integer and bool variants of the elementwise
 * ops (shape arithmetic, masks) are plain loops here.
 *
 * Broadcasting (binary, where) is planned once in prepare: every operand gets
 * element strides against the output's dims (0 along a broadcast axis), adjacent
 * axes that are contiguous in every operand are merged, and run walks the outer
 * axes with an odometer, handing the innermost run to a kernel whose operand
 * strides are then 0 or 1.
 *
 * Every prepare checks operand counts, dtypes, shapes (the declared output against
 * the one computed from the inputs and parameters) and parameter ranges before it
 * stores anything a run relies on.
 */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "kernels/f32.h"
#include "kernels/kernels.h"
#include "kernels/sgemm.h"


/* Carve 64-aligned pieces out of one allocation (sized by a first pass with base NULL). */
typedef struct carve {
    uint8_t *base;
    size_t used;
} carve;

static void *take(carve *c, size_t bytes) {
    void *p = c->base ? c->base + c->used : NULL;
    c->used += irc_round_up(bytes ? bytes : 1, IRC_ALIGN);
    return p;
}

static irc_status no_memory(irc_ctx *ctx, const irc_node *node) {
    return irc_fail(ctx, IRC_ERR_NO_MEMORY, "node %u '%s': out of memory", node->index,
                    node->name ? node->name : "");
}

/* Allocate node->state: one block of `bytes`, zero-filled. */
static void *alloc_state(irc_ctx *ctx, irc_node *node, size_t bytes) {
    node->state = irc_calloc(ctx, bytes);
    return node->state;
}

/* Clamp bounds of a float result: never NaN (the writer emits ±inf for none). */
static irc_status clamp_params(irc_ctx *ctx, const irc_node *node, int at, float *lo, float *hi) {
    *lo = irc_param_f32(node, at);
    *hi = irc_param_f32(node, at + 1);
    if (*lo != *lo || *hi != *hi)
        return irc_node_fail(ctx, node, "clamp bounds must not be NaN");
    return IRC_OK;
}

/* Integer bounds of a float clamp, as the interpreter's clip_array: ceil(lo), floor(hi),
 * infinities and NaN meaning the dtype's limits, then saturated to the dtype. */
static int64_t int_bound(float b, int upper, int64_t dmin, int64_t dmax) {
    if (b != b) return upper ? dmax : dmin;
    if (isinf(b)) return b > 0 ? dmax : dmin;
    double r = upper ? floor((double)b) : ceil((double)b);
    if (r <= (double)dmin) return dmin;
    if (r >= (double)dmax) return dmax;
    return (int64_t)r;
}

static void dtype_limits(irc_dtype dt, int64_t *dmin, int64_t *dmax) {
    if (dt == IRC_I32) {
        *dmin = INT32_MIN;
        *dmax = INT32_MAX;
    } else {
        *dmin = INT64_MIN;
        *dmax = INT64_MAX;
    }
}

/* ============================================================================================
 * Broadcast plans (binary, where)
 * ============================================================================================ */

#define MAX_OPS 3

typedef struct bplan {
    int rank;                          /* merged rank, >= 1 */
    int n_ops;
    int64_t dims[IRC_MAX_RANK];        /* merged output dims */
    int64_t stride[MAX_OPS][IRC_MAX_RANK];  /* elements; 0 along broadcast axes */
    int64_t outer;                     /* product of dims[0..rank-2] */
} bplan;

/* numpy broadcast of the operands' shapes into out (rank = max rank); 0 if incompatible */
static int broadcast_shape(const irc_tensor *const *ops, int n, int *rank, int64_t *out) {
    int r = 0;
    for (int i = 0; i < n; i++) r = ops[i]->rank > r ? ops[i]->rank : r;
    for (int d = 0; d < r; d++) {
        int64_t v = 1;
        for (int i = 0; i < n; i++) {
            int od = d - (r - ops[i]->rank);
            int64_t x = od >= 0 ? ops[i]->dims[od] : 1;
            if (x == 1) continue;
            if (v != 1 && v != x) return 0;
            v = x;
        }
        out[d] = v;
    }
    *rank = r;
    return 1;
}

/* Plan for operands broadcast to y's (already checked) dims. */
static void plan_broadcast(bplan *p, const irc_tensor *const *ops, int n, const irc_tensor *y) {
    int r = y->rank;
    int64_t dims[IRC_MAX_RANK], st[MAX_OPS][IRC_MAX_RANK];
    for (int d = 0; d < r; d++) dims[d] = y->dims[d];
    for (int i = 0; i < n; i++) {
        int64_t step = 1;
        for (int d = r - 1; d >= 0; d--) {
            int od = d - (r - ops[i]->rank);
            int64_t x = od >= 0 ? ops[i]->dims[od] : 1;
            st[i][d] = (x == 1) ? 0 : step;
            step *= x;
        }
    }
    /* merge axis d into d+1 when every operand continues contiguously across them */
    int m = 0;
    int64_t md[IRC_MAX_RANK], ms[MAX_OPS][IRC_MAX_RANK];
    for (int d = 0; d < r; d++) {
        if (dims[d] == 1) continue;                        /* size-1 axes change nothing */
        int merge = m > 0;
        for (int i = 0; merge && i < n; i++)
            merge = ms[i][m - 1] == st[i][d] * dims[d];
        if (merge) {
            md[m - 1] *= dims[d];
            for (int i = 0; i < n; i++) ms[i][m - 1] = st[i][d];
        } else {
            md[m] = dims[d];
            for (int i = 0; i < n; i++) ms[i][m] = st[i][d];
            m++;
        }
    }
    if (m == 0) {                                          /* a single element */
        md[0] = 1;
        for (int i = 0; i < n; i++) ms[i][0] = 0;
        m = 1;
    }
    memset(p, 0, sizeof *p);
    p->rank = m;
    p->n_ops = n;
    p->outer = 1;
    for (int d = 0; d < m; d++) {
        p->dims[d] = md[d];
        for (int i = 0; i < n; i++) p->stride[i][d] = ms[i][d];
        if (d < m - 1) p->outer *= md[d];
    }
}

/* Element offsets of the operands for outer index `o` (the innermost axis excluded). */
static void plan_offsets(const bplan *p, int64_t o, int64_t *off) {
    for (int i = 0; i < p->n_ops; i++) off[i] = 0;
    for (int d = p->rank - 2; d >= 0; d--) {
        int64_t c = o % p->dims[d];
        o /= p->dims[d];
        for (int i = 0; i < p->n_ops; i++) off[i] += c * p->stride[i][d];
    }
}

/* ============================================================================================
 * binary
 * ============================================================================================ */

typedef struct binary_state {
    bplan plan;
    int op;
    irc_dtype dt;              /* operand dtype */
    float lo, hi;              /* f32 results */
    int64_t ilo, ihi;          /* integer results */
} binary_state;

static int is_compare(int op) { return op >= IRC_F32_EQUAL && op <= IRC_F32_GREATER_EQUAL; }
static int is_logic(int op) { return op >= IRC_F32_AND && op <= IRC_F32_XOR; }

irc_status op_binary_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 2, 1, 3));
    IRC_TRY(irc_check_present(ctx, node, 0));
    IRC_TRY(irc_check_present(ctx, node, 1));
    const irc_tensor *a = node->in[0], *b = node->in[1], *y = node->out[0];
    int op = node->params[0];
    if (op < 0 || op >= IRC_F32_BINARY_COUNT)
        return irc_node_fail(ctx, node, "unknown binary opcode %d", op);
    if (a->dtype != b->dtype)
        return irc_node_fail(ctx, node, "operands differ in dtype (%s, %s)",
                             irc_dtype_name(a->dtype), irc_dtype_name(b->dtype));
    if (is_logic(op)) {
        IRC_TRY(irc_check_dtype(ctx, node, a, "a", IRC_BOOL, 0));
    } else if (op == IRC_F32_EQUAL) {
        IRC_TRY(irc_check_dtype(ctx, node, a, "a", IRC_F32, IRC_I32, IRC_I64, IRC_BOOL, 0));
    } else if (op == IRC_F32_DIV || op == IRC_F32_POW || op == IRC_F32_PRELU) {
        IRC_TRY(irc_check_dtype(ctx, node, a, "a", IRC_F32, 0));
    } else {
        IRC_TRY(irc_check_dtype(ctx, node, a, "a", IRC_F32, IRC_I32, IRC_I64, 0));
    }
    int boolean = is_compare(op) || is_logic(op);
    if (boolean) IRC_TRY(irc_check_dtype(ctx, node, y, "output", IRC_BOOL, 0));
    else if (y->dtype != a->dtype)
        return irc_node_fail(ctx, node, "output '%s' is %s, expected %s", y->name,
                             irc_dtype_name(y->dtype), irc_dtype_name(a->dtype));
    const irc_tensor *ops[2] = {a, b};
    int rank;
    int64_t dims[IRC_MAX_RANK];
    if (!broadcast_shape(ops, 2, &rank, dims))
        return irc_node_fail(ctx, node, "operands '%s' and '%s' do not broadcast", a->name, b->name);
    IRC_TRY(irc_check_shape(ctx, node, y, "output", rank, dims));
    binary_state s;
    memset(&s, 0, sizeof s);
    s.op = op;
    s.dt = a->dtype;
    IRC_TRY(clamp_params(ctx, node, 1, &s.lo, &s.hi));
    if (a->dtype == IRC_I32 || a->dtype == IRC_I64) {
        int64_t dmin, dmax;
        dtype_limits(a->dtype, &dmin, &dmax);
        s.ilo = int_bound(s.lo, 0, dmin, dmax);
        s.ihi = int_bound(s.hi, 1, dmin, dmax);
    }
    plan_broadcast(&s.plan, ops, 2, y);
    binary_state *st = alloc_state(ctx, node, sizeof s);
    if (!st) return no_memory(ctx, node);
    *st = s;
    return IRC_OK;
}

/* integer arithmetic wraps: done in uint64_t, truncated to the dtype */
static int64_t int_arith(int op, int64_t u, int64_t v) {
    switch (op) {
    case IRC_F32_ADD: return (int64_t)((uint64_t)u + (uint64_t)v);
    case IRC_F32_SUB: return (int64_t)((uint64_t)u - (uint64_t)v);
    case IRC_F32_MUL: return (int64_t)((uint64_t)u * (uint64_t)v);
    case IRC_F32_MAX: return u > v ? u : v;
    default: return u < v ? u : v;                      /* IRC_F32_MIN */
    }
}

static int int_compare(int op, int64_t u, int64_t v) {
    switch (op) {
    case IRC_F32_EQUAL: return u == v;
    case IRC_F32_LESS: return u < v;
    case IRC_F32_LESS_EQUAL: return u <= v;
    case IRC_F32_GREATER: return u > v;
    default: return u >= v;                             /* IRC_F32_GREATER_EQUAL */
    }
}

static int64_t load_int(irc_dtype dt, const void *p, int64_t i) {
    if (dt == IRC_I32) return ((const int32_t *)p)[i];
    if (dt == IRC_I64) return ((const int64_t *)p)[i];
    return ((const uint8_t *)p)[i] != 0;                /* bool */
}

/* One innermost run of an integer or bool binary op. */
static void binary_run_int(const binary_state *s, const void *a, int64_t sa, const void *b,
                           int64_t sb, void *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        int64_t u = load_int(s->dt, a, i * sa), v = load_int(s->dt, b, i * sb);
        if (is_compare(s->op)) {
            ((uint8_t *)y)[i] = (uint8_t)int_compare(s->op, u, v);
        } else if (is_logic(s->op)) {
            int r = s->op == IRC_F32_AND ? (u && v) : s->op == IRC_F32_OR ? (u || v) : (u != v);
            ((uint8_t *)y)[i] = (uint8_t)r;
        } else {
            int64_t r = int_arith(s->op, u, v);
            if (s->dt == IRC_I32) r = (int32_t)(uint32_t)(uint64_t)r;   /* wrap to 32 bits */
            r = r < s->ilo ? s->ilo : r;
            r = r > s->ihi ? s->ihi : r;
            if (s->dt == IRC_I32) ((int32_t *)y)[i] = (int32_t)r;
            else ((int64_t *)y)[i] = r;
        }
    }
}

irc_status op_binary_run(irc_ctx *ctx, const irc_node *node) {
    const binary_state *s = node->state;
    const irc_tensor *a = node->in[0], *b = node->in[1], *y = node->out[0];
    const bplan *p = &s->plan;
    const irc_f32_family *f = ctx->k->f32;
    size_t ea = irc_dtype_size(a->dtype), ey = irc_dtype_size(y->dtype);
    int64_t n = p->dims[p->rank - 1];
    int64_t sa = p->stride[0][p->rank - 1], sb = p->stride[1][p->rank - 1];
    for (int64_t o = 0; o < p->outer; o++) {
        int64_t off[MAX_OPS];
        plan_offsets(p, o, off);
        const uint8_t *pa = (const uint8_t *)a->data + (size_t)off[0] * ea;
        const uint8_t *pb = (const uint8_t *)b->data + (size_t)off[1] * ea;
        uint8_t *py = (uint8_t *)y->data + (size_t)(o * n) * ey;
        if (s->dt != IRC_F32)
            binary_run_int(s, pa, sa, pb, sb, py, n);
        else if (is_compare(s->op))
            f->compare(s->op, (const float *)pa, (size_t)sa, (const float *)pb, (size_t)sb, py,
                       (size_t)n);
        else
            f->binary(s->op, (const float *)pa, (size_t)sa, (const float *)pb, (size_t)sb,
                      (float *)py, (size_t)n, s->lo, s->hi);
    }
    return IRC_OK;
}

/* ============================================================================================
 * unary
 * ============================================================================================ */

typedef struct unary_state {
    int op;
    irc_dtype dt;
    float p0, p1;
    int64_t ilo, ihi;          /* integer clip / relu bounds */
} unary_state;

irc_status op_unary_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 1, 1, 3));
    IRC_TRY(irc_check_present(ctx, node, 0));
    const irc_tensor *x = node->in[0], *y = node->out[0];
    int op = node->params[0];
    if (op < 0 || op >= IRC_F32_UNARY_COUNT)
        return irc_node_fail(ctx, node, "unknown unary opcode %d", op);
    irc_dtype out = x->dtype;
    if (op == IRC_F32_NOT) {
        IRC_TRY(irc_check_dtype(ctx, node, x, "input", IRC_BOOL, 0));
    } else if (op == IRC_F32_RELU || op == IRC_F32_CLIP || op == IRC_F32_NEG || op == IRC_F32_ABS) {
        IRC_TRY(irc_check_dtype(ctx, node, x, "input", IRC_F32, IRC_I32, IRC_I64, 0));
    } else {
        IRC_TRY(irc_check_dtype(ctx, node, x, "input", IRC_F32, 0));
        if (op == IRC_F32_IS_NAN || op == IRC_F32_IS_INF) out = IRC_BOOL;
    }
    if (y->dtype != out)
        return irc_node_fail(ctx, node, "output '%s' is %s, expected %s", y->name,
                             irc_dtype_name(y->dtype), irc_dtype_name(out));
    IRC_TRY(irc_check_shape(ctx, node, y, "output", x->rank, x->dims));
    unary_state s;
    memset(&s, 0, sizeof s);
    s.op = op;
    s.dt = x->dtype;
    s.p0 = irc_param_f32(node, 1);
    s.p1 = irc_param_f32(node, 2);
    if (s.dt == IRC_I32 || s.dt == IRC_I64) {
        int64_t dmin, dmax;
        dtype_limits(s.dt, &dmin, &dmax);
        s.ilo = op == IRC_F32_RELU ? 0 : int_bound(s.p0, 0, dmin, dmax);
        s.ihi = op == IRC_F32_RELU ? dmax : int_bound(s.p1, 1, dmin, dmax);
    }
    unary_state *st = alloc_state(ctx, node, sizeof s);
    if (!st) return no_memory(ctx, node);
    *st = s;
    return IRC_OK;
}

irc_status op_unary_run(irc_ctx *ctx, const irc_node *node) {
    const unary_state *s = node->state;
    const irc_tensor *x = node->in[0], *y = node->out[0];
    size_t n = (size_t)x->numel;
    if (s->op == IRC_F32_NOT) {
        const uint8_t *xv = x->data;
        uint8_t *yv = y->data;
        for (size_t i = 0; i < n; i++) yv[i] = (uint8_t)!xv[i];
        return IRC_OK;
    }
    if (s->op == IRC_F32_IS_NAN || s->op == IRC_F32_IS_INF) {
        ctx->k->f32->classify(s->op, x->data, y->data, n, s->p0, s->p1);
        return IRC_OK;
    }
    if (s->dt == IRC_F32) {
        ctx->k->f32->unary(s->op, x->data, y->data, n, s->p0, s->p1);
        return IRC_OK;
    }
    /* integers: relu, clip (bounds precomputed), neg and abs wrapping like numpy */
    for (size_t i = 0; i < n; i++) {
        int64_t v = load_int(s->dt, x->data, (int64_t)i), r;
        if (s->op == IRC_F32_NEG) r = (int64_t)(0u - (uint64_t)v);
        else if (s->op == IRC_F32_ABS) r = v < 0 ? (int64_t)(0u - (uint64_t)v) : v;
        else {
            r = v < s->ilo ? s->ilo : v;
            r = r > s->ihi ? s->ihi : r;
        }
        if (s->dt == IRC_I32) ((int32_t *)y->data)[i] = (int32_t)(uint32_t)(uint64_t)r;
        else ((int64_t *)y->data)[i] = r;
    }
    return IRC_OK;
}

/* ============================================================================================
 * where
 * ============================================================================================ */

typedef struct where_state {
    bplan plan;
    size_t esize;
} where_state;

irc_status op_where_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 3, 1, 0));
    for (int i = 0; i < 3; i++) IRC_TRY(irc_check_present(ctx, node, i));
    const irc_tensor *c = node->in[0], *a = node->in[1], *b = node->in[2], *y = node->out[0];
    IRC_TRY(irc_check_dtype(ctx, node, c, "cond", IRC_BOOL, 0));
    if (a->dtype != b->dtype || y->dtype != a->dtype)
        return irc_node_fail(ctx, node, "a, b and the output must share a dtype (%s, %s, %s)",
                             irc_dtype_name(a->dtype), irc_dtype_name(b->dtype),
                             irc_dtype_name(y->dtype));
    const irc_tensor *ops[3] = {c, a, b};
    int rank;
    int64_t dims[IRC_MAX_RANK];
    if (!broadcast_shape(ops, 3, &rank, dims))
        return irc_node_fail(ctx, node, "cond, a and b do not broadcast");
    IRC_TRY(irc_check_shape(ctx, node, y, "output", rank, dims));
    where_state *st = alloc_state(ctx, node, sizeof *st);
    if (!st) return no_memory(ctx, node);
    plan_broadcast(&st->plan, ops, 3, y);
    st->esize = irc_dtype_size(y->dtype);
    return IRC_OK;
}

irc_status op_where_run(irc_ctx *ctx, const irc_node *node) {
    const where_state *s = node->state;
    const bplan *p = &s->plan;
    const uint8_t *c = node->in[0]->data, *a = node->in[1]->data, *b = node->in[2]->data;
    uint8_t *y = node->out[0]->data;
    int64_t n = p->dims[p->rank - 1];
    int64_t sc = p->stride[0][p->rank - 1], sa = p->stride[1][p->rank - 1],
            sb = p->stride[2][p->rank - 1];
    size_t e = s->esize;
    for (int64_t o = 0; o < p->outer; o++) {
        int64_t off[MAX_OPS];
        plan_offsets(p, o, off);
        const uint8_t *pc = c + off[0];
        const uint8_t *pa = a + (size_t)off[1] * e, *pb = b + (size_t)off[2] * e;
        uint8_t *py = y + (size_t)(o * n) * e;
        if (e == 4) {
            ctx->k->f32->select32(pc, (size_t)sc, (const uint32_t *)pa, (size_t)sa,
                                  (const uint32_t *)pb, (size_t)sb, (uint32_t *)py, (size_t)n);
        } else if (e == 8) {
            const uint64_t *ua = (const uint64_t *)pa, *ub = (const uint64_t *)pb;
            uint64_t *uy = (uint64_t *)py;
            for (int64_t i = 0; i < n; i++) uy[i] = pc[i * sc] ? ua[i * sa] : ub[i * sb];
        } else {
            for (int64_t i = 0; i < n; i++) py[i] = pc[i * sc] ? pa[i * sa] : pb[i * sb];
        }
    }
    return IRC_OK;
}

/* ============================================================================================
 * softmax
 * ============================================================================================ */

/* x viewed as [outer][len][inner] around the axis */
typedef struct axis_view {
    int64_t outer, len, inner;
} axis_view;

static void view_around(const irc_tensor *x, int axis, axis_view *v) {
    v->outer = v->inner = 1;
    for (int d = 0; d < axis; d++) v->outer *= x->dims[d];
    v->len = x->dims[axis];
    for (int d = axis + 1; d < x->rank; d++) v->inner *= x->dims[d];
}

typedef struct softmax_state {
    axis_view v;
    int log;
} softmax_state;

irc_status op_softmax_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 1, 1, 2));
    IRC_TRY(irc_check_present(ctx, node, 0));
    const irc_tensor *x = node->in[0], *y = node->out[0];
    IRC_TRY(irc_check_dtype(ctx, node, x, "input", IRC_F32, 0));
    IRC_TRY(irc_check_dtype(ctx, node, y, "output", IRC_F32, 0));
    IRC_TRY(irc_check_shape(ctx, node, y, "output", x->rank, x->dims));
    int axis = node->params[0], log = node->params[1];
    if (x->rank < 1 || axis < -x->rank || axis >= x->rank)
        return irc_node_fail(ctx, node, "axis %d out of range for rank %d", axis, x->rank);
    if (log != 0 && log != 1) return irc_node_fail(ctx, node, "log must be 0 or 1, got %d", log);
    softmax_state *st = alloc_state(ctx, node, sizeof *st);
    if (!st) return no_memory(ctx, node);
    view_around(x, axis < 0 ? axis + x->rank : axis, &st->v);
    st->log = log;
    /* a non-innermost axis goes through a transposed copy: [len][inner] → [inner][len] */
    if (st->v.inner > 1) {
        size_t bytes;
        if (!irc_mul_ok((size_t)st->v.len * sizeof(float), (size_t)st->v.inner, &bytes) ||
            !irc_mul_ok(bytes, 2, &bytes))
            return no_memory(ctx, node);
        node->scratch = bytes;
    }
    return IRC_OK;
}

typedef struct rows_job {
    const irc_f32_family *f;
    const float *x;
    float *y;
    int64_t len;
    int log;
    const float *scale, *bias;
    float eps;
} rows_job;

static void softmax_rows(void *arg, int64_t begin, int64_t end) {
    const rows_job *j = arg;
    for (int64_t r = begin; r < end; r++)
        j->f->softmax(j->x + r * j->len, j->y + r * j->len, (size_t)j->len, j->log);
}

irc_status op_softmax_run(irc_ctx *ctx, const irc_node *node) {
    const softmax_state *s = node->state;
    const float *x = node->in[0]->data;
    float *y = node->out[0]->data;
    const irc_f32_family *f = ctx->k->f32;
    const axis_view *v = &s->v;
    if (v->inner == 1) {
        rows_job job = {f, x, y, v->len, s->log, NULL, NULL, 0.0f};
        irc_parallel_for(ctx, v->outer, 1, softmax_rows, &job);
        return IRC_OK;
    }
    float *t = ctx->scratch, *u = t + v->len * v->inner;
    for (int64_t o = 0; o < v->outer; o++) {
        const float *xo = x + o * v->len * v->inner;
        float *yo = y + o * v->len * v->inner;
        for (int64_t l = 0; l < v->len; l++)
            for (int64_t i = 0; i < v->inner; i++) t[i * v->len + l] = xo[l * v->inner + i];
        for (int64_t i = 0; i < v->inner; i++)
            f->softmax(t + i * v->len, u + i * v->len, (size_t)v->len, s->log);
        for (int64_t l = 0; l < v->len; l++)
            for (int64_t i = 0; i < v->inner; i++) yo[l * v->inner + i] = u[i * v->len + l];
    }
    return IRC_OK;
}

/* ============================================================================================
 * layernorm
 * ============================================================================================ */

typedef struct layernorm_state {
    int64_t rows, len;
    float eps;
    float *scale, *bias;       /* expanded to [len], or NULL */
} layernorm_state;

/* Expand a constant that broadcasts (unidirectionally) to dims[axis..rank) into out[len]. */
static int expand_to(const irc_tensor *t, const irc_tensor *x, int axis, int64_t len, float *out) {
    int nr = x->rank - axis;
    if (t->rank > nr) return 0;
    int64_t st[IRC_MAX_RANK];
    int64_t step = 1;
    for (int d = nr - 1; d >= 0; d--) {
        int td = d - (nr - t->rank);
        int64_t td_dim = td >= 0 ? t->dims[td] : 1;
        if (td_dim != 1 && td_dim != x->dims[axis + d]) return 0;
        st[d] = td_dim == 1 ? 0 : step;
        step *= td_dim;
    }
    const float *src = t->data;
    for (int64_t i = 0; i < len; i++) {
        int64_t rem = i, off = 0;
        for (int d = nr - 1; d >= 0; d--) {
            int64_t dim = x->dims[axis + d];
            off += (rem % dim) * st[d];
            rem /= dim;
        }
        out[i] = src[off];
    }
    return 1;
}

irc_status op_layernorm_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 3, 1, 2));
    IRC_TRY(irc_check_present(ctx, node, 0));
    const irc_tensor *x = node->in[0], *sc = node->in[1], *bi = node->in[2], *y = node->out[0];
    IRC_TRY(irc_check_dtype(ctx, node, x, "input", IRC_F32, 0));
    IRC_TRY(irc_check_dtype(ctx, node, y, "output", IRC_F32, 0));
    IRC_TRY(irc_check_shape(ctx, node, y, "output", x->rank, x->dims));
    int axis = node->params[0];
    float eps = irc_param_f32(node, 1);
    if (x->rank < 1 || axis < -x->rank || axis >= x->rank)
        return irc_node_fail(ctx, node, "axis %d out of range for rank %d", axis, x->rank);
    if (axis < 0) axis += x->rank;
    if (!(eps >= 0.0f) || isinf(eps))
        return irc_node_fail(ctx, node, "epsilon must be finite and >= 0");
    const irc_tensor *cs[2] = {sc, bi};
    static const char *const what[2] = {"scale", "bias"};
    for (int i = 0; i < 2; i++) {
        if (!cs[i]) continue;
        IRC_TRY(irc_check_const(ctx, node, cs[i], what[i]));
        IRC_TRY(irc_check_dtype(ctx, node, cs[i], what[i], IRC_F32, 0));
    }
    axis_view v;
    view_around(x, axis, &v);
    int64_t len = v.len * v.inner;
    carve c = {NULL, 0};
    take(&c, sizeof(layernorm_state));
    for (int i = 0; i < 2; i++)
        if (cs[i]) take(&c, (size_t)len * sizeof(float));
    c.base = alloc_state(ctx, node, c.used);
    if (!c.base) return no_memory(ctx, node);
    c.used = 0;
    layernorm_state *st = take(&c, sizeof *st);
    st->rows = v.outer;
    st->len = len;
    st->eps = eps;
    float **dst[2] = {&st->scale, &st->bias};
    for (int i = 0; i < 2; i++) {
        if (!cs[i]) continue;
        *dst[i] = take(&c, (size_t)len * sizeof(float));
        if (!expand_to(cs[i], x, axis, len, *dst[i]))
            return irc_node_fail(ctx, node, "%s '%s' does not broadcast to the normalized shape",
                                 what[i], cs[i]->name);
    }
    return IRC_OK;
}

static void layernorm_rows(void *arg, int64_t begin, int64_t end) {
    const rows_job *j = arg;
    for (int64_t r = begin; r < end; r++)
        j->f->layernorm(j->x + r * j->len, j->y + r * j->len, (size_t)j->len, j->scale, j->bias,
                        j->eps);
}

irc_status op_layernorm_run(irc_ctx *ctx, const irc_node *node) {
    const layernorm_state *s = node->state;
    rows_job job = {ctx->k->f32, node->in[0]->data, node->out[0]->data, s->len, 0,
                    s->scale, s->bias, s->eps};
    irc_parallel_for(ctx, s->rows, 1, layernorm_rows, &job);
    return IRC_OK;
}

/* ============================================================================================
 * reduce
 * ============================================================================================ */

enum { REDUCE_SUM = 0, REDUCE_MEAN = 1, REDUCE_MAX = 2 };

typedef struct reduce_state {
    int op;
    irc_dtype dt;
    int rank;                          /* merged */
    int64_t dims[IRC_MAX_RANK];        /* merged input dims */
    int reduced[IRC_MAX_RANK];         /* merged axis reduced? */
    int64_t ostride[IRC_MAX_RANK];     /* output element stride per merged axis (0: reduced) */
    int64_t count;                     /* elements per output (mean) */
} reduce_state;

irc_status op_reduce_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 1, 1, 3));
    IRC_TRY(irc_check_present(ctx, node, 0));
    const irc_tensor *x = node->in[0], *y = node->out[0];
    int op = node->params[0], keep = node->params[1], n_axes = node->params[2];
    if (op < 0 || op > 2) return irc_node_fail(ctx, node, "unknown reduce opcode %d", op);
    if (keep != 0 && keep != 1) return irc_node_fail(ctx, node, "keepdims must be 0 or 1");
    if (n_axes < 0 || n_axes > x->rank || node->n_params < 3 + n_axes)
        return irc_node_fail(ctx, node, "%d axes for rank %d with %d parameter words", n_axes,
                             x->rank, node->n_params);
    if (op == REDUCE_MEAN) IRC_TRY(irc_check_dtype(ctx, node, x, "input", IRC_F32, 0));
    else IRC_TRY(irc_check_dtype(ctx, node, x, "input", IRC_F32, IRC_I32, IRC_I64, 0));
    if (y->dtype != x->dtype)
        return irc_node_fail(ctx, node, "output '%s' is %s, expected %s", y->name,
                             irc_dtype_name(y->dtype), irc_dtype_name(x->dtype));
    int red[IRC_MAX_RANK] = {0};
    for (int i = 0; i < n_axes; i++) {
        int a = node->params[3 + i];
        if (a < -x->rank || a >= x->rank)
            return irc_node_fail(ctx, node, "axis %d out of range for rank %d", a, x->rank);
        if (a < 0) a += x->rank;
        if (red[a]) return irc_node_fail(ctx, node, "axis %d repeated", a);
        red[a] = 1;
    }
    if (n_axes == 0)                                 /* empty axes: every axis (ONNX) */
        for (int d = 0; d < x->rank; d++) red[d] = 1;
    int64_t ydims[IRC_MAX_RANK];
    int yr = 0;
    reduce_state s;
    memset(&s, 0, sizeof s);
    s.op = op;
    s.dt = x->dtype;
    s.count = 1;
    for (int d = 0; d < x->rank; d++) {
        if (red[d]) s.count *= x->dims[d];
        if (!red[d]) ydims[yr++] = x->dims[d];
        else if (keep) ydims[yr++] = 1;
    }
    IRC_TRY(irc_check_shape(ctx, node, y, "output", yr, ydims));
    /* merge neighbouring axes of one kind; size-1 axes disappear */
    int m = 0;
    for (int d = 0; d < x->rank; d++) {
        if (x->dims[d] == 1) continue;
        if (m > 0 && s.reduced[m - 1] == red[d]) {
            s.dims[m - 1] *= x->dims[d];
        } else {
            s.dims[m] = x->dims[d];
            s.reduced[m] = red[d];
            m++;
        }
    }
    if (m == 0) {
        s.dims[0] = 1;
        s.reduced[0] = 1;
        m = 1;
    }
    s.rank = m;
    int64_t step = 1;
    for (int d = m - 1; d >= 0; d--) {
        s.ostride[d] = s.reduced[d] ? 0 : step;
        if (!s.reduced[d]) step *= s.dims[d];
    }
    reduce_state *st = alloc_state(ctx, node, sizeof s);
    if (!st) return no_memory(ctx, node);
    *st = s;
    return IRC_OK;
}

irc_status op_reduce_run(irc_ctx *ctx, const irc_node *node) {
    const reduce_state *s = node->state;
    const irc_tensor *x = node->in[0], *y = node->out[0];
    const irc_f32_family *f = ctx->k->f32;
    size_t ny = (size_t)y->numel;
    int is_max = s->op == REDUCE_MAX;
    /* start values: 0 for sums, the lowest value for maxima */
    for (size_t i = 0; i < ny; i++) {
        if (s->dt == IRC_F32) ((float *)y->data)[i] = is_max ? -INFINITY : 0.0f;
        else if (s->dt == IRC_I32) ((int32_t *)y->data)[i] = is_max ? INT32_MIN : 0;
        else ((int64_t *)y->data)[i] = is_max ? INT64_MIN : 0;
    }
    int r = s->rank;
    int64_t n = s->dims[r - 1];
    int inner_reduced = s->reduced[r - 1];
    int64_t outer = 1;
    for (int d = 0; d < r - 1; d++) outer *= s->dims[d];
    for (int64_t o = 0; o < outer; o++) {
        int64_t rem = o, yo = 0;
        for (int d = r - 2; d >= 0; d--) {
            yo += (rem % s->dims[d]) * s->ostride[d];
            rem /= s->dims[d];
        }
        int64_t xo = o * n;
        if (s->dt == IRC_F32) {
            const float *xv = (const float *)x->data + xo;
            float *yv = (float *)y->data + yo;
            if (inner_reduced) {
                float v = is_max ? f->max(xv, (size_t)n) : f->sum(xv, (size_t)n);
                f->binary(is_max ? IRC_F32_MAX : IRC_F32_ADD, yv, 1, &v, 0, yv, 1, -INFINITY,
                          INFINITY);
            } else {
                f->binary(is_max ? IRC_F32_MAX : IRC_F32_ADD, yv, 1, xv, 1, yv, (size_t)n,
                          -INFINITY, INFINITY);
            }
            continue;
        }
        for (int64_t i = 0; i < n; i++) {
            int64_t v = load_int(s->dt, x->data, xo + i);
            int64_t at = yo + (inner_reduced ? 0 : i);
            int64_t cur = load_int(s->dt, y->data, at);
            int64_t res = is_max ? (v > cur ? v : cur) : (int64_t)((uint64_t)cur + (uint64_t)v);
            if (s->dt == IRC_I32) ((int32_t *)y->data)[at] = (int32_t)(uint32_t)(uint64_t)res;
            else ((int64_t *)y->data)[at] = res;
        }
    }
    if (s->op == REDUCE_MEAN) {
        float cnt = (float)s->count;
        float *yv = y->data;
        for (size_t i = 0; i < ny; i++) yv[i] = yv[i] / cnt;
    }
    return IRC_OK;
}

/* ============================================================================================
 * GEMM over the threads (matmul, conv2d)
 * ============================================================================================ */

typedef struct sgemm_job {
    irc_sgemm_args args;
    const irc_sgemm_family *f;
    int split_n;
} sgemm_job;

static void sgemm_range(void *arg, int64_t begin, int64_t end) {
    const sgemm_job *job = arg;
    irc_sgemm_args a = job->args;
    if (job->split_n) {
        a.n0 = (int32_t)begin;
        a.n1 = (int32_t)end;
    } else {
        a.m0 = (int32_t)begin;
        a.m1 = (int32_t)end;
    }
    job->f->run(&a);
}

/* Split the larger of M and N between the threads (N in whole panels, M in whole tiles). */
static void run_sgemm(irc_ctx *ctx, const irc_sgemm_family *f, const irc_sgemm_args *args) {
    if (ctx->num_threads <= 1) {
        f->run(args);
        return;
    }
    sgemm_job job = {*args, f, 0};
    int64_t m = args->m1 - args->m0, n = args->n1 - args->n0;
    job.split_n = n >= m || m < (int64_t)f->mr * ctx->num_threads;
    if (job.split_n) irc_parallel_for(ctx, args->n1, f->nr, sgemm_range, &job);
    else irc_parallel_for(ctx, args->m1, f->mr, sgemm_range, &job);
}

typedef struct pack_job {
    const irc_sgemm_family *f;
    int32_t K, N;
    const float *src;
    ptrdiff_t rs, cs;
    float *dst;
} pack_job;

static void pack_range(void *arg, int64_t begin, int64_t end) {
    const pack_job *j = arg;
    j->f->pack_b(j->K, j->N, j->src, j->rs, j->cs, (int32_t)begin, (int32_t)end, j->dst);
}

/* pack_b over the threads, split by panels */
static void pack_b_parallel(irc_ctx *ctx, const irc_sgemm_family *f, int32_t K, int32_t N,
                            const float *src, ptrdiff_t rs, ptrdiff_t cs, float *dst) {
    pack_job job = {f, K, N, src, rs, cs, dst};
    irc_parallel_for(ctx, (N + f->nr - 1) / f->nr, 1, pack_range, &job);
}

/* ============================================================================================
 * matmul
 * ============================================================================================ */

#define MAX_BATCH_RANK (IRC_MAX_RANK - 2)

typedef struct matmul_state {
    int64_t M, K, N, batch;
    int nb;                                    /* batch rank of the (2-D-extended) output */
    int64_t ybatch[MAX_BATCH_RANK];
    int64_t astride[MAX_BATCH_RANK], bstride[MAX_BATCH_RANK];   /* in matrices; 0 broadcasts */
    int fold;                                  /* b has one matrix and a all of y's: one GEMM */
    int const_b;
    float lo, hi;
    const irc_sgemm_family *f;
    float *bpacked;                            /* const b: every matrix packed */
    size_t packed_bytes;                       /* one packed matrix */
    const float *bias;
} matmul_state;

/* Batch strides (in matrices) of an operand whose batch dims are dims[0..tb) against y's. */
static int batch_strides(const int64_t *dims, int tb, const matmul_state *s, int64_t *stride) {
    int64_t step = 1;
    for (int i = s->nb - 1; i >= 0; i--) {
        int ti = i - (s->nb - tb);
        int64_t d = ti >= 0 ? dims[ti] : 1;
        if (d != 1 && d != s->ybatch[i]) return 0;
        stride[i] = d == 1 ? 0 : step;
        step *= d;
    }
    return 1;
}

irc_status op_matmul_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 3, 1, 2));
    IRC_TRY(irc_check_present(ctx, node, 0));
    IRC_TRY(irc_check_present(ctx, node, 1));
    const irc_tensor *a = node->in[0], *b = node->in[1], *bias = node->in[2], *y = node->out[0];
    IRC_TRY(irc_check_dtype(ctx, node, a, "a", IRC_F32, 0));
    IRC_TRY(irc_check_dtype(ctx, node, b, "b", IRC_F32, 0));
    IRC_TRY(irc_check_dtype(ctx, node, y, "output", IRC_F32, 0));
    if (a->rank < 1 || b->rank < 1)
        return irc_node_fail(ctx, node, "matmul operands must have rank >= 1");
    matmul_state s;
    memset(&s, 0, sizeof s);
    /* numpy.matmul: a 1-D a is [1, K], a 1-D b is [K, 1], their unit axes dropped after */
    int64_t ad[IRC_MAX_RANK], bd[IRC_MAX_RANK];
    int ar = a->rank, br = b->rank;
    if (ar == 1) {
        ad[0] = 1, ad[1] = a->dims[0], ar = 2;
    } else {
        memcpy(ad, a->dims, sizeof(int64_t) * (size_t)ar);
    }
    if (br == 1) {
        bd[0] = b->dims[0], bd[1] = 1, br = 2;
    } else {
        memcpy(bd, b->dims, sizeof(int64_t) * (size_t)br);
    }
    s.M = ad[ar - 2], s.K = ad[ar - 1], s.N = bd[br - 1];
    if (bd[br - 2] != s.K)
        return irc_node_fail(ctx, node, "contraction dims differ (a has K=%lld, b has K=%lld)",
                             (long long)s.K, (long long)bd[br - 2]);
    s.nb = (ar > br ? ar : br) - 2;
    int64_t ydims[IRC_MAX_RANK];
    s.batch = 1;
    for (int i = 0; i < s.nb; i++) {
        int ai = i - (s.nb - (ar - 2)), bi = i - (s.nb - (br - 2));
        int64_t da = ai >= 0 ? ad[ai] : 1, db = bi >= 0 ? bd[bi] : 1;
        if (da != db && da != 1 && db != 1)
            return irc_node_fail(ctx, node, "batch dimension %d does not broadcast (%lld vs %lld)",
                                 i, (long long)da, (long long)db);
        ydims[i] = s.ybatch[i] = da > db ? da : db;
        s.batch *= ydims[i];
    }
    int yr = s.nb;
    if (a->rank != 1) ydims[yr++] = s.M;
    if (b->rank != 1) ydims[yr++] = s.N;
    IRC_TRY(irc_check_shape(ctx, node, y, "output", yr, ydims));
    batch_strides(ad, ar - 2, &s, s.astride);
    batch_strides(bd, br - 2, &s, s.bstride);
    if (bias) {
        int64_t bdims[1] = {s.N};
        IRC_TRY(irc_check_const(ctx, node, bias, "bias"));
        IRC_TRY(irc_check_dtype(ctx, node, bias, "bias", IRC_F32, 0));
        IRC_TRY(irc_check_shape(ctx, node, bias, "bias", 1, bdims));
        s.bias = bias->data;
    }
    IRC_TRY(clamp_params(ctx, node, 0, &s.lo, &s.hi));
    s.f = ctx->k->sgemm;
    int64_t b_mats = b->numel / (s.K * s.N);
    int64_t a_mats = a->numel / (s.M * s.K);
    s.fold = b_mats == 1 && a_mats == s.batch;
    if (s.K > INT32_MAX || s.N > INT32_MAX || s.M * (s.fold ? s.batch : 1) > INT32_MAX)
        return irc_node_fail(ctx, node, "the matmul is too large for int32 GEMM indices");
    size_t kn;
    if (!irc_mul_ok((size_t)s.K, irc_round_up((size_t)s.N, (size_t)s.f->nr), &kn) ||
        !irc_mul_ok(kn, sizeof(float), &kn))
        return no_memory(ctx, node);
    s.packed_bytes = s.f->packed_size((int32_t)s.K, (int32_t)s.N);
    s.const_b = b->storage == IRC_STORE_CONST;
    size_t bbytes = 0;
    if (s.const_b && !irc_mul_ok(s.packed_bytes, (size_t)b_mats, &bbytes))
        return no_memory(ctx, node);
    carve c = {NULL, 0};
    take(&c, sizeof s);
    if (s.const_b) take(&c, bbytes);
    c.base = alloc_state(ctx, node, c.used);
    if (!c.base) return no_memory(ctx, node);
    c.used = 0;
    matmul_state *st = take(&c, sizeof s);
    *st = s;
    if (s.const_b) {
        st->bpacked = take(&c, bbytes);
        int32_t panels = (int32_t)((s.N + s.f->nr - 1) / s.f->nr);
        for (int64_t m = 0; m < b_mats; m++)
            s.f->pack_b((int32_t)s.K, (int32_t)s.N, (const float *)b->data + m * s.K * s.N,
                        (ptrdiff_t)s.N, 1, 0, panels,
                        (float *)((uint8_t *)st->bpacked + (size_t)m * s.packed_bytes));
    } else {
        node->scratch = s.packed_bytes;
    }
    return IRC_OK;
}

irc_status op_matmul_run(irc_ctx *ctx, const irc_node *node) {
    const matmul_state *s = node->state;
    const float *a = node->in[0]->data, *b = node->in[1]->data;
    float *y = node->out[0]->data;
    irc_sgemm_args g;
    memset(&g, 0, sizeof g);
    g.M = (int32_t)(s->fold ? s->M * s->batch : s->M);
    g.N = (int32_t)s->N;
    g.K = (int32_t)s->K;
    g.lda = (size_t)s->K;
    g.bias = s->bias;
    g.bias_per_col = 1;
    g.lo = s->lo;
    g.hi = s->hi;
    g.ldc = (size_t)s->N;
    g.m0 = 0, g.m1 = g.M, g.n0 = 0, g.n1 = g.N;
    int64_t nbatch = s->fold ? 1 : s->batch;
    for (int64_t t = 0; t < nbatch; t++) {
        int64_t rem = t, ai = 0, bi = 0;
        for (int i = s->nb - 1; i >= 0; i--) {
            int64_t c = rem % s->ybatch[i];
            rem /= s->ybatch[i];
            ai += c * s->astride[i];
            bi += c * s->bstride[i];
        }
        if (s->const_b) {
            g.b = (const float *)((const uint8_t *)s->bpacked + (size_t)bi * s->packed_bytes);
        } else {
            float *packed = ctx->scratch;
            pack_b_parallel(ctx, s->f, g.K, g.N, b + bi * s->K * s->N, (ptrdiff_t)s->N, 1, packed);
            g.b = packed;
        }
        g.a = a + ai * s->M * s->K;
        g.c = y + t * s->M * s->N;
        run_sgemm(ctx, s->f, &g);
    }
    return IRC_OK;
}

/* ============================================================================================
 * conv2d
 * ============================================================================================ */

typedef struct conv_state {
    int64_t N, C, H, W, OC, OH, OW, KH, KW, groups, Cg, OCg, Kg;
    int32_t sh, sw, pt, pl, dh, dw;
    float lo, hi;
    int depthwise, pointwise;
    int gemv;                  /* a 1×1 conv of one pixel (a classifier head): y = x·Wᵀ */
    int64_t nb;                /* output columns per im2col block (a multiple of nr) */
    const irc_sgemm_family *f;
    const float *w, *bias;     /* w: [OC][Cg·KH·KW] as stored (depthwise) */
    float *wpacked;            /* GEMM: each group's [OCg][Kg] packed by pack_a; gemv: Wᵀ
                                  [Kg][OC] packed by pack_b */
    size_t wgroup;             /* floats per packed group */
} conv_state;

irc_status op_conv2d_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 3, 1, 11));
    IRC_TRY(irc_check_present(ctx, node, 0));
    IRC_TRY(irc_check_present(ctx, node, 1));
    const irc_tensor *x = node->in[0], *w = node->in[1], *b = node->in[2], *y = node->out[0];
    IRC_TRY(irc_check_dtype(ctx, node, x, "input", IRC_F32, 0));
    IRC_TRY(irc_check_dtype(ctx, node, w, "weights", IRC_F32, 0));
    IRC_TRY(irc_check_dtype(ctx, node, y, "output", IRC_F32, 0));
    IRC_TRY(irc_check_const(ctx, node, w, "weights"));
    conv_state s;
    memset(&s, 0, sizeof s);
    irc_conv_geom g;
    IRC_TRY(irc_conv_geometry(ctx, node, x, w, y, &g));
    s.N = g.N, s.C = g.C, s.H = g.H, s.W = g.W, s.OC = g.OC, s.KH = g.KH, s.KW = g.KW;
    s.OH = g.OH, s.OW = g.OW, s.groups = g.groups;
    s.sh = g.sh, s.sw = g.sw, s.pt = g.pt, s.pl = g.pl, s.dh = g.dh, s.dw = g.dw;
    IRC_TRY(clamp_params(ctx, node, 9, &s.lo, &s.hi));
    if (b) {
        int64_t bd[1] = {s.OC};
        IRC_TRY(irc_check_const(ctx, node, b, "bias"));
        IRC_TRY(irc_check_dtype(ctx, node, b, "bias", IRC_F32, 0));
        IRC_TRY(irc_check_shape(ctx, node, b, "bias", 1, bd));
        s.bias = b->data;
    }
    s.Cg = g.Cg, s.OCg = g.OCg, s.Kg = g.Kg;
    s.w = w->data;
    s.f = ctx->k->sgemm;
    s.depthwise = s.Cg == 1 && s.groups > 1;
    s.pointwise = g.pointwise;
    int64_t ohw = s.OH * s.OW;
    if (s.Kg > INT32_MAX || ohw > INT32_MAX || s.OC > INT32_MAX || s.H * s.W > INT32_MAX)
        return irc_node_fail(ctx, node, "the convolution is too large for int32 GEMM indices");
    /* One output pixel: the usual orientation W·X would pad X's single column to a panel
     * of nr, so compute the row y = x·Wᵀ instead (Wᵀ packed once as B, bias per column). */
    s.gemv = s.pointwise && ohw == 1 && s.groups == 1;
    /* im2col goes in blocks of nb output columns whose packed Kg × nb slice stays in L2
     * (about 512 KB, at least 8 panels); a pointwise conv packs x itself, in one go */
    size_t nr = (size_t)s.f->nr;
    size_t nb = (size_t)131072 / (size_t)s.Kg / nr * nr;
    if (nb < 8 * nr) nb = 8 * nr;
    if (s.pointwise || nb > irc_round_up((size_t)ohw, nr)) nb = irc_round_up((size_t)ohw, nr);
    s.nb = (int64_t)nb;
    size_t cols;   /* packed im2col block: Kg × nb */
    if (!irc_mul_ok((size_t)s.Kg, nb, &cols) || !irc_mul_ok(cols, sizeof(float), &cols))
        return no_memory(ctx, node);
    if (!s.depthwise && !s.gemv) node->scratch = cols;
    /* the weights packed once into the family's A strips, group by group */
    size_t wbytes = 0;
    if (s.gemv) {
        wbytes = s.f->packed_size((int32_t)s.Kg, (int32_t)s.OC);
    } else if (!s.depthwise) {
        s.wgroup = s.f->packed_a_size((int32_t)s.OCg, (int32_t)s.Kg) / sizeof(float);
        if (!irc_mul_ok(s.wgroup * sizeof(float), (size_t)s.groups, &wbytes))
            return no_memory(ctx, node);
    }
    carve c = {NULL, 0};
    take(&c, sizeof s);
    take(&c, wbytes);
    c.base = alloc_state(ctx, node, c.used);
    if (!c.base) return no_memory(ctx, node);
    c.used = 0;
    conv_state *st = take(&c, sizeof s);
    *st = s;
    if (s.gemv) {
        st->wpacked = take(&c, wbytes);
        s.f->pack_b((int32_t)s.Kg, (int32_t)s.OC, s.w, 1, (ptrdiff_t)s.Kg, 0,
                    (int32_t)((s.OC + s.f->nr - 1) / s.f->nr), st->wpacked);
    } else if (!s.depthwise) {
        st->wpacked = take(&c, wbytes);
        for (int64_t g = 0; g < s.groups; g++)
            s.f->pack_a((int32_t)s.OCg, (int32_t)s.Kg, s.w + g * s.OCg * s.Kg, (size_t)s.Kg,
                        st->wpacked + (size_t)g * s.wgroup);
    }
    return IRC_OK;
}

/* im2col of output columns n0 ≤ n < n1 of one group of one image, straight into the sgemm
 * family's packed layout (panels relative to n0):
 *   B[k = (c, i, j)][n = (oh, ow)] = x[c][oh·sh + i·dh − pt][ow·sw + j·dw − pl]  (0 outside)
 * at packed[((n − n0) / nr)·K·nr + k·nr + (n − n0) % nr], rows k0 ≤ k < k1 (threads split k).
 * Each output row is written as runs — zeros, the in-bounds input segment, zeros — cut at
 * panel edges. */
typedef struct im2col_job {
    const conv_state *s;
    const float *x;
    float *packed;
    int64_t n0, n1;
} im2col_job;

/* B[k][n .. n+len) = src[0], src[sw], ... (src NULL: zeros), n relative to the block */
static void put_run(float *row_k, size_t panel, size_t nr, size_t n, size_t len,
                    const float *src, int64_t sw) {
    while (len > 0) {
        size_t jj = n % nr, cnt = nr - jj < len ? nr - jj : len;
        float *dst = row_k + (n / nr) * panel + jj;
        if (!src) {
            for (size_t t = 0; t < cnt; t++) dst[t] = 0.0f;
        } else if (sw == 1) {
            memcpy(dst, src, cnt * sizeof(float));
            src += cnt;
        } else {
            for (size_t t = 0; t < cnt; t++) dst[t] = src[(int64_t)t * sw];
            src += (int64_t)cnt * sw;
        }
        n += cnt;
        len -= cnt;
    }
}

static void im2col_rows(void *arg, int64_t k0, int64_t k1) {
    const im2col_job *job = arg;
    const conv_state *s = job->s;
    size_t nr = (size_t)s->f->nr, panel = (size_t)s->Kg * nr;
    int64_t OW = s->OW, n0 = job->n0, n1 = job->n1;
    for (int64_t k = k0; k < k1; k++) {
        int64_t c = k / (s->KH * s->KW), i = (k / s->KW) % s->KH, j = k % s->KW;
        const float *plane = job->x + c * s->H * s->W;
        float *row_k = job->packed + (size_t)k * nr;
        /* output columns whose tap is inside the row: 0 <= ow·sw + off < W */
        int64_t off = j * s->dw - s->pl;
        int64_t lo = off >= 0 ? 0 : (-off + s->sw - 1) / s->sw;
        int64_t hi = s->W - 1 - off < 0 ? 0 : (s->W - 1 - off) / s->sw + 1;
        if (hi > OW) hi = OW;
        if (lo > hi) lo = hi;
        for (int64_t oh = n0 / OW; oh * OW < n1; oh++) {
            int64_t ih = oh * s->sh + i * s->dh - s->pt;
            int row_ok = ih >= 0 && ih < s->H;
            const float *in = plane + (row_ok ? ih : 0) * s->W;
            /* this row's columns inside the block: ow in [a, b) */
            int64_t a = n0 - oh * OW > 0 ? n0 - oh * OW : 0;
            int64_t b = n1 - oh * OW < OW ? n1 - oh * OW : OW;
            size_t at = (size_t)(oh * OW + a - n0);
            int64_t zl = row_ok ? lo : OW, dh_ = row_ok ? hi : OW;  /* zeros [0,zl), data [zl,dh_) */
            int64_t e = zl < a ? a : zl > b ? b : zl;                 /* end of leading zeros */
            put_run(row_k, panel, nr, at, (size_t)(e - a), NULL, 0);
            int64_t d = dh_ < e ? e : dh_ > b ? b : dh_;              /* end of the data */
            if (d > e)
                put_run(row_k, panel, nr, at + (size_t)(e - a), (size_t)(d - e),
                        in + e * s->sw + off, s->sw);
            put_run(row_k, panel, nr, at + (size_t)(d - a), (size_t)(b - d), NULL, 0);
        }
        size_t len = (size_t)(n1 - n0);
        put_run(row_k, panel, nr, len, irc_round_up(len, nr) - len, NULL, 0);  /* panel pad */
    }
}

typedef struct dw_job {
    irc_f32_dwconv_args args;
    void (*fn)(const irc_f32_dwconv_args *);
} dw_job;

static void dw_range(void *arg, int64_t begin, int64_t end) {
    const dw_job *job = arg;
    irc_f32_dwconv_args a = job->args;
    a.c0 = (int32_t)begin;
    a.c1 = (int32_t)end;
    job->fn(&a);
}

irc_status op_conv2d_run(irc_ctx *ctx, const irc_node *node) {
    const conv_state *s = node->state;
    const float *x = node->in[0]->data;
    float *y = node->out[0]->data;
    int64_t hw = s->H * s->W, ohw = s->OH * s->OW;
    for (int64_t n = 0; n < s->N; n++) {
        const float *xn = x + n * s->C * hw;
        float *yn = y + n * s->OC * ohw;
        if (s->gemv) {
            irc_sgemm_args a;
            memset(&a, 0, sizeof a);
            a.M = 1, a.N = (int32_t)s->OC, a.K = (int32_t)s->Kg;
            a.a = xn, a.lda = (size_t)s->Kg;
            a.b = s->wpacked;
            a.bias = s->bias, a.bias_per_col = 1;
            a.lo = s->lo, a.hi = s->hi;
            a.c = yn, a.ldc = (size_t)s->OC;
            a.m0 = 0, a.m1 = 1, a.n0 = 0, a.n1 = a.N;
            run_sgemm(ctx, s->f, &a);
            continue;
        }
        if (s->depthwise) {
            dw_job job = {{(int32_t)s->H, (int32_t)s->W, (int32_t)s->OH, (int32_t)s->OW,
                           (int32_t)s->KH, (int32_t)s->KW, s->sh, s->sw, s->pt, s->pl, s->dh,
                           s->dw, (int32_t)s->OCg, xn, s->w, s->bias, s->lo, s->hi, yn, 0,
                           (int32_t)s->OC},
                          ctx->k->f32->dwconv};
            irc_parallel_for(ctx, s->OC, 1, dw_range, &job);
            continue;
        }
        float *packed = ctx->scratch;
        for (int64_t g = 0; g < s->groups; g++) {
            const float *xg = xn + g * s->Cg * hw;
            int64_t o0 = g * s->OCg;
            for (int64_t n0 = 0; n0 < ohw; n0 += s->nb) {
                int64_t n1 = ohw - n0 < s->nb ? ohw : n0 + s->nb;
                if (s->pointwise) {
                    pack_b_parallel(ctx, s->f, (int32_t)s->Kg, (int32_t)ohw, xg, (ptrdiff_t)hw, 1,
                                    packed);
                } else {
                    im2col_job job = {s, xg, packed, n0, n1};
                    irc_parallel_for(ctx, s->Kg, 1, im2col_rows, &job);
                }
                irc_sgemm_args a;
                memset(&a, 0, sizeof a);
                a.M = (int32_t)s->OCg, a.N = (int32_t)(n1 - n0), a.K = (int32_t)s->Kg;
                a.ap = s->wpacked + (size_t)g * s->wgroup;
                a.b = packed;
                a.bias = s->bias ? s->bias + o0 : NULL;
                a.bias_per_col = 0;
                a.lo = s->lo, a.hi = s->hi;
                a.c = yn + o0 * ohw + n0, a.ldc = (size_t)ohw;
                a.m0 = 0, a.m1 = a.M, a.n0 = 0, a.n1 = a.N;
                run_sgemm(ctx, s->f, &a);
            }
        }
    }
    return IRC_OK;
}
