/*
 * ops_qelem.c — integer elementwise ops (docs/artifact.md, "Integer ops"): quantize,
 * dequantize, requantize, qadd, qmul, qlut.
 *
 * Semantics are the interpreter's (irc/ops/q_core.py, q_arith.py), bit for bit
 * for integer results:
 *
 *   quantize    y = sat(round(f32(x) / f32(s_y)) + z_y), NaN → z_y   (round: half away / even,
 *               applied in float64 to the float32 quotient, as round_to_int does)
 *   dequantize  y = f32(x − z) · f32(s)                  (x − z exact in int64, then to f32)
 *   requantize  fixed point: y = clamp(MBQM(x − z_x, m_c, shift_c) + z_y, lo, hi)
 *               float32:     y = clamp(round(f32(x − z_x) · M_c) + z_y, lo, hi)
 *   qadd        TFLite's add (kernels/q8.h, irc_qadd_args), numpy broadcasting
 *   qmul        (a − z_a)(b − z_b), as int32 or requantized, numpy broadcasting
 *   qlut        y = table[x − min(dtype_x)]
 *
 * Everything prepare checks is listed beside each prepare; run relies on it.
 */
#include <string.h>

#include "fixedpoint.h"
#include "internal.h"
#include "kernels/kernels.h"
#include "kernels/q8.h"

#define PAR_GRAIN 16384       /* elements per thread chunk below which threads do not pay */

/* --- shared checks ------------------------------------------------------------------------------ */

static void range8(irc_dtype d, int32_t *lo, int32_t *hi) {
    *lo = d == IRC_I8 ? -128 : 0;
    *hi = d == IRC_I8 ? 127 : 255;
}

static int q8_type(irc_dtype d) {
    return d == IRC_I8 ? IRC_Q8_I8 : d == IRC_U8 ? IRC_Q8_U8 : IRC_Q8_I32;
}

/* An 8-bit operand quantized per tensor. */
static irc_status check_q8_tensor(irc_ctx *ctx, const irc_node *node, const irc_tensor *t,
                                  const char *what) {
    IRC_TRY(irc_check_dtype(ctx, node, t, what, IRC_I8, IRC_U8, 0));
    if (t->quant != IRC_QUANT_TENSOR)
        return irc_node_fail(ctx, node, "%s '%s' must be quantized per tensor", what, t->name);
    return IRC_OK;
}

/* lo <= hi, both inside y's 8-bit range. */
static irc_status check_clamp(irc_ctx *ctx, const irc_node *node, const irc_tensor *y, int32_t lo,
                              int32_t hi) {
    int32_t dlo, dhi;
    range8(y->dtype, &dlo, &dhi);
    if (lo < dlo || hi > dhi || lo > hi)
        return irc_node_fail(ctx, node, "clamp [%d, %d] does not fit %s (%d..%d)", lo, hi,
                             irc_dtype_name(y->dtype), dlo, dhi);
    return IRC_OK;
}

/* An encoded multiplier: 0 <= m < 2^31 (any int32 >= 0), -31 <= shift <= 30. */
static irc_status check_mult(irc_ctx *ctx, const irc_node *node, const char *what, int32_t m,
                             int32_t shift) {
    if (m < 0 || shift < -31 || shift > 30)
        return irc_node_fail(ctx, node, "%s: multiplier %d / shift %d out of range (0 <= m < 2^31, "
                             "-31 <= shift <= 30)", what, m, shift);
    return IRC_OK;
}

static irc_status check_same_shape(irc_ctx *ctx, const irc_node *node, const irc_tensor *y,
                                   const irc_tensor *x) {
    return irc_check_shape(ctx, node, y, "output", x->rank, x->dims);
}

/* A constant vector operand: dtype, exactly [n]. */
static irc_status check_const_vec(irc_ctx *ctx, const irc_node *node, const irc_tensor *t,
                                  const char *what, irc_dtype dtype, int64_t n) {
    int64_t dims[1] = {n};
    IRC_TRY(irc_check_const(ctx, node, t, what));
    IRC_TRY(irc_check_dtype(ctx, node, t, what, (int)dtype, 0));
    return irc_check_shape(ctx, node, t, what, 1, dims);
}

/* outer × C × inner around `axis` (-1: all of it inner, C = 1). */
static void axis_split(const irc_tensor *t, int axis, int64_t *outer, int64_t *C, int64_t *inner) {
    *outer = 1, *C = 1, *inner = 1;
    for (int i = 0; i < t->rank; i++) {
        if (axis < 0 || i > axis) *inner *= t->dims[i];
        else if (i == axis) *C = t->dims[i];
        else *outer *= t->dims[i];
    }
}

/* Run fn over [0, n) in parallel when each thread gets at least `min_chunk` items. */
static void run_range(irc_ctx *ctx, int64_t n, int64_t min_chunk, irc_range_fn fn, void *arg) {
    if (ctx->num_threads <= 1 || n < 2 * min_chunk) {
        if (n > 0) fn(arg, 0, n);
        return;
    }
    irc_parallel_for(ctx, n, min_chunk, fn, arg);
}

/* clamp(round(v) + z, lo, hi) for a float32 v that is not NaN, with q_core.py's round_to_int
 * (half away from zero, or half to even), without libm: a |v| of 2^16 or more saturates
 * whatever z is (8-bit bounds), and below it
 *   half away:  ⌊|v| + 1/2⌋ in double (exact for any float |v|), truncated to an integer;
 *   half even:  (|v| + 2^23) − 2^23 in float32: the sum lies in [2^23, 2^24), where floats
 *               are the integers, so the addition itself rounds |v| to nearest, ties to even. */
static int32_t round_clamp(float v, int half_even, int32_t z, int32_t lo, int32_t hi) {
    if (v >= 65536.0f) return hi;
    if (v <= -65536.0f) return lo;
    float a = v < 0 ? -v : v;
    int32_t r = half_even ? (int32_t)((a + 8388608.0f) - 8388608.0f) : (int32_t)((double)a + 0.5);
    int32_t t = (v < 0 ? -r : r) + z;
    return t < lo ? lo : (t > hi ? hi : t);
}

static void store8(void *y, size_t i, int y_signed, int32_t v) {
    if (y_signed) ((int8_t *)y)[i] = (int8_t)v;
    else ((uint8_t *)y)[i] = (uint8_t)v;
}

static int64_t load_int(const void *x, size_t i, irc_dtype d) {
    switch (d) {
    case IRC_I8: return ((const int8_t *)x)[i];
    case IRC_U8: return ((const uint8_t *)x)[i];
    default: return ((const int32_t *)x)[i];
    }
}

/* ================================================================================================
 * quantize — x f32 → y 8-bit (per tensor).  params: rounding (0 half away, 1 half even).
 * Checks: 1 input, 1 output, y 8-bit per tensor with x's shape, rounding 0/1.
 * ================================================================================================ */

typedef struct quantize_job {
    const irc_q8_family *q8;
    irc_quantize_args args;      /* n, x, y filled per range */
} quantize_job;

static void quantize_range(void *arg, int64_t i0, int64_t i1) {
    const quantize_job *j = arg;
    irc_quantize_args a = j->args;
    a.n = (size_t)(i1 - i0);
    a.x += i0;
    a.y = (uint8_t *)a.y + i0;
    j->q8->quantize(&a);
}

irc_status op_quantize_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 1, 1, 1));
    IRC_TRY(irc_check_present(ctx, node, 0));
    const irc_tensor *x = node->in[0], *y = node->out[0];
    IRC_TRY(irc_check_dtype(ctx, node, x, "input", IRC_F32, 0));
    IRC_TRY(check_q8_tensor(ctx, node, y, "output"));
    IRC_TRY(check_same_shape(ctx, node, y, x));
    if (node->params[0] != 0 && node->params[0] != 1)
        return irc_node_fail(ctx, node, "rounding %d is not 0 (half away) or 1 (half even)",
                             node->params[0]);
    return IRC_OK;
}

irc_status op_quantize_run(irc_ctx *ctx, const irc_node *node) {
    const irc_tensor *x = node->in[0], *y = node->out[0];
    quantize_job j;
    j.q8 = ctx->k->q8;
    j.args.x = x->data;
    j.args.y = y->data;
    j.args.s = y->scale;
    j.args.z = y->zero_point;
    range8(y->dtype, &j.args.lo, &j.args.hi);
    j.args.half_even = node->params[0] == 1;
    run_range(ctx, x->numel, PAR_GRAIN, quantize_range, &j);
    return IRC_OK;
}

/* ================================================================================================
 * dequantize — x (8-bit or i32), [scales f32[C]], [zero_points i32[C]] → y f32.  params: axis.
 * Checks: axis -1: x per tensor, no parameter operands; else 0 <= axis < rank, x per axis along
 * axis, both operands constant, [x.dims[axis]]; y f32 with x's shape.
 * ================================================================================================ */

typedef struct dequant_state {
    int64_t outer, C, inner;
    const float *scales;        /* NULL: per tensor */
    const int32_t *zps;
} dequant_state;

typedef struct dequant_job {
    const dequant_state *s;
    const void *x;
    irc_dtype xt;
    float *y;
    float scale;
    int32_t zp;
} dequant_job;

/* Over rows r = (outer, c) of `inner` elements. */
static void dequant_range(void *arg, int64_t r0, int64_t r1) {
    const dequant_job *j = arg;
    const dequant_state *s = j->s;
    for (int64_t r = r0; r < r1; r++) {
        int64_t c = r % s->C;
        float sc = s->scales ? s->scales[c] : j->scale;
        int64_t z = s->scales ? s->zps[c] : j->zp;
        size_t base = (size_t)(r * s->inner);
        float *y = j->y + base;
        int64_t n = s->inner;
        /* one loop per dtype, so each vectorizes: y = f32(x − z) · s */
        if (j->xt == IRC_U8) {
            const uint8_t *x = (const uint8_t *)j->x + base;
            int32_t zz = (int32_t)z;
            for (int64_t i = 0; i < n; i++) y[i] = (float)((int32_t)x[i] - zz) * sc;
        } else if (j->xt == IRC_I8) {
            const int8_t *x = (const int8_t *)j->x + base;
            int32_t zz = (int32_t)z;
            for (int64_t i = 0; i < n; i++) y[i] = (float)((int32_t)x[i] - zz) * sc;
        } else {
            for (int64_t i = 0; i < n; i++)
                y[i] = (float)(load_int(j->x, base + (size_t)i, j->xt) - z) * sc;
        }
    }
}

irc_status op_dequantize_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 3, 1, 1));
    IRC_TRY(irc_check_present(ctx, node, 0));
    const irc_tensor *x = node->in[0], *y = node->out[0];
    int axis = node->params[0];
    IRC_TRY(irc_check_dtype(ctx, node, x, "input", IRC_I8, IRC_U8, IRC_I32, 0));
    IRC_TRY(irc_check_dtype(ctx, node, y, "output", IRC_F32, 0));
    IRC_TRY(check_same_shape(ctx, node, y, x));
    dequant_state s;
    memset(&s, 0, sizeof s);
    if (axis == -1) {
        if (x->quant != IRC_QUANT_TENSOR)
            return irc_node_fail(ctx, node, "input '%s' must be quantized per tensor (axis -1)",
                                 x->name);
        if (node->in[1] || node->in[2])
            return irc_node_fail(ctx, node, "per-tensor dequantize takes no scale operands");
    } else {
        if (axis < 0 || axis >= x->rank)
            return irc_node_fail(ctx, node, "axis %d out of range for rank %d", axis, x->rank);
        if (x->quant != IRC_QUANT_AXIS || x->quant_axis != axis)
            return irc_node_fail(ctx, node, "input '%s' must be quantized per axis %d", x->name,
                                 axis);
        IRC_TRY(irc_check_present(ctx, node, 1));
        IRC_TRY(irc_check_present(ctx, node, 2));
        IRC_TRY(check_const_vec(ctx, node, node->in[1], "scales", IRC_F32, x->dims[axis]));
        IRC_TRY(check_const_vec(ctx, node, node->in[2], "zero points", IRC_I32, x->dims[axis]));
        s.scales = node->in[1]->data;
        s.zps = node->in[2]->data;
    }
    axis_split(x, axis, &s.outer, &s.C, &s.inner);
    dequant_state *st = irc_alloc(ctx, sizeof *st);
    if (!st) return irc_fail(ctx, IRC_ERR_NO_MEMORY, "out of memory");
    *st = s;
    node->state = st;
    return IRC_OK;
}

irc_status op_dequantize_run(irc_ctx *ctx, const irc_node *node) {
    const irc_tensor *x = node->in[0];
    const dequant_state *s = node->state;
    dequant_job j = {s, x->data, x->dtype, node->out[0]->data, x->scale, x->zero_point};
    int64_t rows = s->outer * s->C;
    run_range(ctx, rows, 1 + PAR_GRAIN / s->inner, dequant_range, &j);
    return IRC_OK;
}

/* ================================================================================================
 * requantize — x (8-bit or i32), p1, p2 → y 8-bit.  params: method, rounding, axis, lo, hi.
 * Checks: x quantized (per tensor: z_x its zero point; per axis along `axis`: z_x = 0);
 * C = 1 (axis -1) or C in {1, x.dims[axis]}; y 8-bit per tensor with x's shape; clamp;
 * method 0: p1, p2 constant i32[C] in the multiplier ranges; method 1: p1 constant f32[C],
 * finite and >= 0, p2 absent; rounding 0/1.  In place for 8-bit x (y may be x).
 * ================================================================================================ */

typedef struct requant_state {
    int method, half_even;
    int64_t outer, C, inner;    /* C == 1: one multiplier for everything (outer·inner run) */
    int32_t zx, zy, lo, hi;
    const int32_t *m, *shift;   /* method 0 */
    const float *mf;            /* method 1 */
} requant_state;

typedef struct requant_job {
    const requant_state *s;
    const irc_q8_family *q8;
    const uint8_t *x;
    uint8_t *y;
    irc_dtype xt;
    int y_signed;
} requant_job;

/* Elements [i0, i0 + n) with channel c's multiplier. */
static void requant_span(const requant_job *j, int64_t c, int64_t i0, int64_t n) {
    const requant_state *s = j->s;
    if (s->method == 0) {
        size_t es = irc_dtype_size(j->xt);
        irc_requant_args a = {(size_t)n, j->x + (size_t)i0 * es, q8_type(j->xt), s->zx, s->m[c],
                              s->shift[c], s->zy, s->lo, s->hi, j->y + i0, j->y_signed};
        j->q8->requant(&a);
        return;
    }
    float mc = s->mf[c];
    for (int64_t i = i0; i < i0 + n; i++) {
        /* f32(x − z_x) · M_c in float32, rounded in double, then clamp(. + z_y, lo, hi) */
        float v = (float)(load_int(j->x, (size_t)i, j->xt) - s->zx) * mc;
        store8(j->y, (size_t)i, j->y_signed,
               round_clamp(v, s->half_even, s->zy, s->lo, s->hi));
    }
}

/* Rows r = (outer, c) of `inner` elements. */
static void requant_rows(void *arg, int64_t r0, int64_t r1) {
    const requant_job *j = arg;
    for (int64_t r = r0; r < r1; r++) requant_span(j, r % j->s->C, r * j->s->inner, j->s->inner);
}

/* One multiplier for everything: elements [i0, i1). */
static void requant_flat(void *arg, int64_t i0, int64_t i1) {
    requant_span(arg, 0, i0, i1 - i0);
}

irc_status op_requantize_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 3, 1, 5));
    IRC_TRY(irc_check_present(ctx, node, 0));
    IRC_TRY(irc_check_present(ctx, node, 1));
    const irc_tensor *x = node->in[0], *y = node->out[0], *p1 = node->in[1], *p2 = node->in[2];
    const int32_t *p = node->params;
    requant_state s;
    memset(&s, 0, sizeof s);
    s.method = p[0];
    int axis = p[2];
    s.lo = p[3], s.hi = p[4];
    IRC_TRY(irc_check_dtype(ctx, node, x, "input", IRC_I8, IRC_U8, IRC_I32, 0));
    IRC_TRY(check_q8_tensor(ctx, node, y, "output"));
    IRC_TRY(check_same_shape(ctx, node, y, x));
    IRC_TRY(check_clamp(ctx, node, y, s.lo, s.hi));
    if (p[1] != 0 && p[1] != 1)
        return irc_node_fail(ctx, node, "rounding %d is not 0 (half away) or 1 (half even)", p[1]);
    s.half_even = p[1] == 1;
    if (x->quant == IRC_QUANT_TENSOR) s.zx = x->zero_point;
    else if (x->quant == IRC_QUANT_AXIS) s.zx = 0;
    else return irc_node_fail(ctx, node, "input '%s' is not quantized", x->name);
    s.zy = y->zero_point;
    if (axis < -1 || axis >= x->rank)
        return irc_node_fail(ctx, node, "axis %d out of range for rank %d", axis, x->rank);
    if (x->quant == IRC_QUANT_AXIS && axis != x->quant_axis)
        return irc_node_fail(ctx, node, "axis %d is not the quantized axis %d of '%s'", axis,
                             x->quant_axis, x->name);
    int64_t C = p1->rank == 1 ? p1->dims[0] : 0;
    if (C != 1 && !(axis >= 0 && C == x->dims[axis]))
        return irc_node_fail(ctx, node, "multipliers '%s' must be [1]%s", p1->name,
                             axis >= 0 ? " or one per index of the axis" : "");
    if (s.method == 0) {
        IRC_TRY(irc_check_present(ctx, node, 2));
        IRC_TRY(check_const_vec(ctx, node, p1, "multipliers", IRC_I32, C));
        IRC_TRY(check_const_vec(ctx, node, p2, "shifts", IRC_I32, C));
        s.m = p1->data;
        s.shift = p2->data;
        for (int64_t c = 0; c < C; c++) IRC_TRY(check_mult(ctx, node, "requantize", s.m[c], s.shift[c]));
    } else if (s.method == 1) {
        if (p2) return irc_node_fail(ctx, node, "float32 requantize takes no shifts operand");
        IRC_TRY(check_const_vec(ctx, node, p1, "multipliers", IRC_F32, C));
        s.mf = p1->data;
        for (int64_t c = 0; c < C; c++)
            if (!(s.mf[c] >= 0.0f && s.mf[c] <= 3.4028235e38f))
                return irc_node_fail(ctx, node, "multiplier %lld is %g: must be finite and >= 0",
                                     (long long)c, (double)s.mf[c]);
    } else {
        return irc_node_fail(ctx, node, "method %d is not 0 (fixed point) or 1 (float32)", s.method);
    }
    axis_split(x, C == 1 ? -1 : axis, &s.outer, &s.C, &s.inner);
    requant_state *st = irc_alloc(ctx, sizeof *st);
    if (!st) return irc_fail(ctx, IRC_ERR_NO_MEMORY, "out of memory");
    *st = s;
    node->state = st;
    return IRC_OK;
}

irc_status op_requantize_run(irc_ctx *ctx, const irc_node *node) {
    const requant_state *s = node->state;
    const irc_tensor *x = node->in[0], *y = node->out[0];
    requant_job j = {s, ctx->k->q8, x->data, y->data, x->dtype, y->dtype == IRC_I8};
    if (s->C == 1) run_range(ctx, x->numel, PAR_GRAIN, requant_flat, &j);
    else run_range(ctx, s->outer * s->C, 1 + PAR_GRAIN / s->inner, requant_rows, &j);
    return IRC_OK;
}

/* ================================================================================================
 * Broadcasting of qadd and qmul: numpy rules, collapsed to runs.
 * ================================================================================================ */

typedef struct bplan {
    int rank;                                       /* >= 1 after collapsing */
    int64_t dims[IRC_MAX_RANK];
    int64_t sa[IRC_MAX_RANK], sb[IRC_MAX_RANK];     /* element strides, 0 along broadcast axes */
    int64_t outer, inner;                           /* runs, elements per run (dims[rank − 1]) */
} bplan;

/* y must be broadcast(a, b); strides for every axis of y, then axes of size 1 dropped and
 * neighbours merged where both operands step through them contiguously (or not at all). */
static irc_status plan_broadcast(irc_ctx *ctx, const irc_node *node, const irc_tensor *a,
                                 const irc_tensor *b, const irc_tensor *y, bplan *p) {
    int r = a->rank > b->rank ? a->rank : b->rank;
    int64_t dims[IRC_MAX_RANK], sa[IRC_MAX_RANK], sb[IRC_MAX_RANK];
    int64_t ca = 1, cb = 1;
    for (int i = r - 1; i >= 0; i--) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return irc_node_fail(ctx, node, "operands '%s' and '%s' do not broadcast (axis %d: %lld "
                                 "vs %lld)", a->name, b->name, i, (long long)da, (long long)db);
        dims[i] = da > db ? da : db;
        sa[i] = da == 1 ? 0 : ca;
        sb[i] = db == 1 ? 0 : cb;
        ca *= da;
        cb *= db;
    }
    IRC_TRY(irc_check_shape(ctx, node, y, "output", r, dims));
    p->rank = 0;
    for (int i = 0; i < r; i++) {
        if (dims[i] == 1) continue;
        int k = p->rank - 1;
        if (k >= 0 && p->sa[k] == sa[i] * dims[i] && p->sb[k] == sb[i] * dims[i]) {
            p->dims[k] *= dims[i];
            p->sa[k] = sa[i];
            p->sb[k] = sb[i];
            continue;
        }
        p->dims[p->rank] = dims[i];
        p->sa[p->rank] = sa[i];
        p->sb[p->rank] = sb[i];
        p->rank++;
    }
    if (p->rank == 0) {
        p->rank = 1;
        p->dims[0] = 1;
        p->sa[0] = p->sb[0] = 0;
    }
    p->inner = p->dims[p->rank - 1];
    p->outer = 1;
    for (int i = 0; i < p->rank - 1; i++) p->outer *= p->dims[i];
    return IRC_OK;
}

/* Call fn(arg, a_off, b_off, y_off) for runs o0 <= o < o1 (element offsets). */
typedef void (*run_fn)(const void *arg, int64_t a_off, int64_t b_off, int64_t y_off);

static void bplan_walk(const bplan *p, int64_t o0, int64_t o1, run_fn fn, const void *arg) {
    int64_t idx[IRC_MAX_RANK] = {0}, ao = 0, bo = 0, rest = o0;
    for (int i = p->rank - 2; i >= 0; i--) {
        idx[i] = rest % p->dims[i];
        rest /= p->dims[i];
        ao += idx[i] * p->sa[i];
        bo += idx[i] * p->sb[i];
    }
    for (int64_t o = o0; o < o1; o++) {
        fn(arg, ao, bo, o * p->inner);
        for (int i = p->rank - 2; i >= 0; i--) {      /* odometer */
            ao += p->sa[i];
            bo += p->sb[i];
            if (++idx[i] < p->dims[i]) break;
            ao -= idx[i] * p->sa[i];
            bo -= idx[i] * p->sb[i];
            idx[i] = 0;
        }
    }
}

/* ================================================================================================
 * qadd — a, b 8-bit → y 8-bit.  params: left_shift, m_a, shift_a, m_b, shift_b, m_y, shift_y,
 * lo, hi.  Checks: a, b, y 8-bit per tensor; y = broadcast(a, b); 0 <= L <= 24; multipliers;
 * clamp.  In place: y may be a (or b) when it has y's shape.
 * ================================================================================================ */

typedef struct qbin_state {
    bplan plan;
    irc_qadd_args add;           /* template: pointers and n filled per run */
    irc_qmul_args mul;
} qbin_state;

typedef struct qbin_job {
    const qbin_state *s;
    const irc_q8_family *q8;
    const uint8_t *a, *b;
    uint8_t *y;
} qbin_job;

static void qadd_run1(const void *arg, int64_t a_off, int64_t b_off, int64_t y_off) {
    const qbin_job *j = arg;
    irc_qadd_args k = j->s->add;
    k.n = (size_t)j->s->plan.inner;
    k.a = j->a + a_off;
    k.b = j->b + b_off;
    k.y = j->y + y_off;
    j->q8->qadd(&k);
}

static void qadd_range(void *arg, int64_t o0, int64_t o1) {
    const qbin_job *j = arg;
    bplan_walk(&j->s->plan, o0, o1, qadd_run1, j);
}

static irc_status qbin_alloc(irc_ctx *ctx, irc_node *node, const qbin_state *s) {
    qbin_state *st = irc_alloc(ctx, sizeof *st);
    if (!st) return irc_fail(ctx, IRC_ERR_NO_MEMORY, "out of memory");
    *st = *s;
    node->state = st;
    return IRC_OK;
}

irc_status op_qadd_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 2, 1, 9));
    IRC_TRY(irc_check_present(ctx, node, 0));
    IRC_TRY(irc_check_present(ctx, node, 1));
    const irc_tensor *a = node->in[0], *b = node->in[1], *y = node->out[0];
    const int32_t *p = node->params;
    IRC_TRY(check_q8_tensor(ctx, node, a, "input a"));
    IRC_TRY(check_q8_tensor(ctx, node, b, "input b"));
    IRC_TRY(check_q8_tensor(ctx, node, y, "output"));
    qbin_state s;
    memset(&s, 0, sizeof s);
    IRC_TRY(plan_broadcast(ctx, node, a, b, y, &s.plan));
    if (p[0] < 0 || p[0] > 24)
        return irc_node_fail(ctx, node, "left_shift %d out of range 0..24", p[0]);
    IRC_TRY(check_mult(ctx, node, "M_a", p[1], p[2]));
    IRC_TRY(check_mult(ctx, node, "M_b", p[3], p[4]));
    IRC_TRY(check_mult(ctx, node, "M_y", p[5], p[6]));
    IRC_TRY(check_clamp(ctx, node, y, p[7], p[8]));
    irc_qadd_args *k = &s.add;
    k->a_signed = a->dtype == IRC_I8, k->a_step = s.plan.sa[s.plan.rank - 1] != 0, k->za = a->zero_point;
    k->b_signed = b->dtype == IRC_I8, k->b_step = s.plan.sb[s.plan.rank - 1] != 0, k->zb = b->zero_point;
    k->left_shift = p[0], k->ma = p[1], k->sa = p[2], k->mb = p[3], k->sb = p[4];
    k->my = p[5], k->sy = p[6], k->lo = p[7], k->hi = p[8];
    k->zy = y->zero_point, k->y_signed = y->dtype == IRC_I8;
    return qbin_alloc(ctx, node, &s);
}

irc_status op_qadd_run(irc_ctx *ctx, const irc_node *node) {
    const qbin_state *s = node->state;
    qbin_job j = {s, ctx->k->q8, node->in[0]->data, node->in[1]->data, node->out[0]->data};
    run_range(ctx, s->plan.outer, 1 + PAR_GRAIN / s->plan.inner, qadd_range, &j);
    return IRC_OK;
}

/* ================================================================================================
 * qmul — a, b 8-bit → y.  params: has_requant, m, shift, lo, hi.  Checks: a, b 8-bit per
 * tensor; y = broadcast(a, b); has_requant 0: y i32; 1: y 8-bit per tensor, multiplier, clamp.
 * ================================================================================================ */

static void qmul_run1(const void *arg, int64_t a_off, int64_t b_off, int64_t y_off) {
    const qbin_job *j = arg;
    irc_qmul_args k = j->s->mul;
    k.n = (size_t)j->s->plan.inner;
    k.a = j->a + a_off;
    k.b = j->b + b_off;
    k.y = j->y + y_off * (k.has_requant ? 1 : 4);
    j->q8->qmul(&k);
}

static void qmul_range(void *arg, int64_t o0, int64_t o1) {
    const qbin_job *j = arg;
    bplan_walk(&j->s->plan, o0, o1, qmul_run1, j);
}

irc_status op_qmul_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 2, 1, 5));
    IRC_TRY(irc_check_present(ctx, node, 0));
    IRC_TRY(irc_check_present(ctx, node, 1));
    const irc_tensor *a = node->in[0], *b = node->in[1], *y = node->out[0];
    const int32_t *p = node->params;
    IRC_TRY(check_q8_tensor(ctx, node, a, "input a"));
    IRC_TRY(check_q8_tensor(ctx, node, b, "input b"));
    qbin_state s;
    memset(&s, 0, sizeof s);
    irc_qmul_args *k = &s.mul;
    if (p[0] == 1) {
        IRC_TRY(check_q8_tensor(ctx, node, y, "output"));
        IRC_TRY(check_mult(ctx, node, "multiplier", p[1], p[2]));
        IRC_TRY(check_clamp(ctx, node, y, p[3], p[4]));
        k->m = p[1], k->shift = p[2], k->lo = p[3], k->hi = p[4];
        k->zy = y->zero_point, k->y_signed = y->dtype == IRC_I8;
    } else if (p[0] == 0) {
        IRC_TRY(irc_check_dtype(ctx, node, y, "output", IRC_I32, 0));
    } else {
        return irc_node_fail(ctx, node, "has_requant %d is not 0 or 1", p[0]);
    }
    IRC_TRY(plan_broadcast(ctx, node, a, b, y, &s.plan));
    k->has_requant = p[0];
    k->a_signed = a->dtype == IRC_I8, k->a_step = s.plan.sa[s.plan.rank - 1] != 0, k->za = a->zero_point;
    k->b_signed = b->dtype == IRC_I8, k->b_step = s.plan.sb[s.plan.rank - 1] != 0, k->zb = b->zero_point;
    return qbin_alloc(ctx, node, &s);
}

irc_status op_qmul_run(irc_ctx *ctx, const irc_node *node) {
    const qbin_state *s = node->state;
    qbin_job j = {s, ctx->k->q8, node->in[0]->data, node->in[1]->data, node->out[0]->data};
    run_range(ctx, s->plan.outer, 1 + PAR_GRAIN / s->plan.inner, qmul_range, &j);
    return IRC_OK;
}

/* ================================================================================================
 * qlut — x 8-bit, table → y 8-bit.  Checks: table constant [256] of y's dtype; y 8-bit with
 * x's shape.  The table is copied into the node's state, so y may be x (in place).
 * ================================================================================================ */

typedef struct lut_job {
    irc_q8_lut_fn fn;
    const uint8_t *table, *x;
    uint8_t *y;
    uint8_t flip;                /* x − min(dtype_x) = x ^ 0x80 for int8, x for uint8 (as bytes) */
} lut_job;

static void lut_range(void *arg, int64_t i0, int64_t i1) {
    const lut_job *j = arg;
    j->fn(j->table, j->x + i0, j->y + i0, (size_t)(i1 - i0), j->flip);
}

irc_status op_qlut_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 2, 1, 0));
    IRC_TRY(irc_check_present(ctx, node, 0));
    IRC_TRY(irc_check_present(ctx, node, 1));
    const irc_tensor *x = node->in[0], *t = node->in[1], *y = node->out[0];
    IRC_TRY(irc_check_dtype(ctx, node, x, "input", IRC_I8, IRC_U8, 0));
    IRC_TRY(irc_check_dtype(ctx, node, y, "output", IRC_I8, IRC_U8, 0));
    IRC_TRY(check_same_shape(ctx, node, y, x));
    IRC_TRY(check_const_vec(ctx, node, t, "table", y->dtype, 256));
    uint8_t *table = irc_alloc(ctx, 256);
    if (!table) return irc_fail(ctx, IRC_ERR_NO_MEMORY, "out of memory");
    memcpy(table, t->data, 256);
    node->state = table;
    return IRC_OK;
}

irc_status op_qlut_run(irc_ctx *ctx, const irc_node *node) {
    const irc_tensor *x = node->in[0];
    lut_job j = {ctx->k->q8->lut, node->state, x->data, node->out[0]->data,
                 x->dtype == IRC_I8 ? 0x80 : 0};
    run_range(ctx, x->numel, PAR_GRAIN * 4, lut_range, &j);
    return IRC_OK;
}
