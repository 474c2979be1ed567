/*
 * ops_pool.c — pooling ops (docs/artifact.md): qavgpool, maxpool, avgpool, globalpool.
 *
 * Window geometry is irc/ops/_window.py's, per spatial axis with input n, kernel k,
 * stride s, dilation d (1 for average pooling), pads b (begin) and e (end):
 *
 *   span = (k − 1)·d + 1,  room = n + b + e − span
 *   out  = ⌊room / s⌋ + 1            (ceil_mode: ⌈room / s⌉ + 1, minus 1 when that last
 *                                     window would start at or past n + b, PyTorch's rule)
 *
 * Output o reads input positions p + i·d, p = o·s − b, i < k; those outside [0, n) are
 * padding.  A window that reads only padding is refused at prepare (the interpreter's
 * type rule refuses it too), so every window has at least one input element.
 *
 *   maxpool      max over the window's input elements (padding never wins); f32 NaN
 *                propagates (numpy.maximum)
 *   avgpool      f32: Σ in tap order (i, then j) from 0.0f, divided by count — the
 *                interpreter's order, so results are identical: its padding taps add
 *                +0.0, which changes no sum that starts at +0.0
 *   qavgpool     z + round_half_away(Σ (x − z) / count) in integers:
 *                sign(t)·⌊(2|t| + count) / (2·count)⌋
 *   count        cip = 0: the input elements of the window, min(p + k, n) − max(p, 0);
 *                cip = 1: also padding, min(p + k, n + e) − p (not the ceil-mode overhang)
 *   globalpool   kind 0: mean over the spatial dims (f32, summed in double); kind 1: max.
 */
#include <math.h>
#include <string.h>

#include "internal.h"

#define MAX_WINDOW (1 << 24)      /* kernel, stride, dilation, pads: sane upper bounds */

/* Per output position along one axis: its valid taps [lo, hi) and (average pools) count. */
typedef struct pool_taps {
    int32_t lo, hi;
    int64_t count;
} pool_taps;

typedef struct pool_state {
    int64_t planes, H, W, OH, OW;
    int32_t dh, dw, sh, sw, pt, pl;
    int32_t zp;                   /* qavgpool */
    int32_t kh, kw;               /* window taps (maxpool's fast path) */
    int full;                     /* every window lies inside the input (no padding taps) */
    pool_taps *rows, *cols;       /* [OH], [OW], after the struct in the same block */
} pool_state;

static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

/* Output length of one axis; 0 when the window does not fit. */
static int64_t axis_out(int64_t n, int64_t k, int64_t s, int64_t d, int64_t b, int64_t e,
                        int ceil_mode) {
    int64_t span = (k - 1) * d + 1, room = n + b + e - span;
    int64_t out = (ceil_mode ? ceil_div(room, s) : floor_div(room, s)) + 1;
    if (ceil_mode && out >= 1 && (out - 1) * s >= n + b) out--;
    return out < 1 ? 0 : out;
}

/* Fill taps[o] for o < out; 0 if some window reads only padding (then *bad is it). */
static int axis_taps(pool_taps *taps, int64_t out, int64_t n, int64_t k, int64_t s, int64_t d,
                     int64_t b, int64_t e, int cip, int64_t *bad) {
    for (int64_t o = 0; o < out; o++) {
        int64_t p = o * s - b;
        int64_t lo = p >= 0 ? 0 : ceil_div(-p, d), hi = ceil_div(n - p, d);
        if (hi > k) hi = k;
        if (lo >= hi) {
            *bad = o;
            return 0;
        }
        taps[o].lo = (int32_t)lo;
        taps[o].hi = (int32_t)hi;
        if (cip) {
            int64_t end = p + k < n + e ? p + k : n + e;
            taps[o].count = end - p;
        } else {
            taps[o].count = hi - lo;      /* d = 1 for average pools */
        }
    }
    return 1;
}

/* Check an NCHW pool node (x, y, the window words at params[0..], dilation words or
 * none) and build its state.  Params: kh, kw, sh, sw, pt, pl, pb, pr, then (maxpool)
 * dh, dw, then ceil_mode; or (average pools) count_include_pad, ceil_mode. */
static irc_status pool_prepare(irc_ctx *ctx, irc_node *node, int dilated, int *cip_out) {
    const irc_tensor *x = node->in[0], *y = node->out[0];
    const int32_t *p = node->params;
    int32_t kh = p[0], kw = p[1], sh = p[2], sw = p[3], pt = p[4], pl = p[5], pb = p[6], pr = p[7];
    int32_t dh = dilated ? p[8] : 1, dw = dilated ? p[9] : 1;
    int cip = dilated ? 0 : p[8], ceil_mode = dilated ? p[10] : p[9];
    if (x->rank != 4) return irc_node_fail(ctx, node, "input '%s' must be 4-D NCHW", x->name);
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || dh < 1 || dw < 1 || kh > MAX_WINDOW ||
        kw > MAX_WINDOW || sh > MAX_WINDOW || sw > MAX_WINDOW || dh > MAX_WINDOW || dw > MAX_WINDOW)
        return irc_node_fail(ctx, node, "kernel %dx%d, strides %d,%d, dilations %d,%d must be "
                             "1..2^24", kh, kw, sh, sw, dh, dw);
    if (pt < 0 || pl < 0 || pb < 0 || pr < 0 || pt > MAX_WINDOW || pl > MAX_WINDOW ||
        pb > MAX_WINDOW || pr > MAX_WINDOW)
        return irc_node_fail(ctx, node, "pads %d,%d,%d,%d must be 0..2^24", pt, pl, pb, pr);
    if ((cip != 0 && cip != 1) || (ceil_mode != 0 && ceil_mode != 1))
        return irc_node_fail(ctx, node, "count_include_pad %d / ceil_mode %d must be 0 or 1", cip,
                             ceil_mode);
    int64_t H = x->dims[2], W = x->dims[3];
    int64_t OH = axis_out(H, kh, sh, dh, pt, pb, ceil_mode);
    int64_t OW = axis_out(W, kw, sw, dw, pl, pr, ceil_mode);
    if (!OH || !OW)
        return irc_node_fail(ctx, node, "the %dx%d window (dilations %d,%d) does not fit the "
                             "padded %lldx%lld input", kh, kw, dh, dw, (long long)H, (long long)W);
    int64_t ydims[4] = {x->dims[0], x->dims[1], OH, OW};
    IRC_TRY(irc_check_shape(ctx, node, y, "output", 4, ydims));
    if (y->dtype != x->dtype)
        return irc_node_fail(ctx, node, "output '%s' is %s, input '%s' %s", y->name,
                             irc_dtype_name(y->dtype), x->name, irc_dtype_name(x->dtype));
    size_t bytes = sizeof(pool_state) + sizeof(pool_taps) * (size_t)(OH + OW);
    pool_state *s = irc_alloc(ctx, bytes);
    if (!s) return irc_fail(ctx, IRC_ERR_NO_MEMORY, "out of memory (pool tables)");
    node->state = s;
    s->rows = (pool_taps *)(void *)(s + 1);
    s->cols = s->rows + OH;
    int64_t bad = 0;
    const char *axis = NULL;
    if (!axis_taps(s->rows, OH, H, kh, sh, dh, pt, pb, cip, &bad)) axis = "height";
    else if (!axis_taps(s->cols, OW, W, kw, sw, dw, pl, pr, cip, &bad)) axis = "width";
    if (axis)
        return irc_node_fail(ctx, node, "%s: output position %lld reads only padding (pads "
                             "%d,%d,%d,%d, kernel %dx%d, dilations %d,%d)", axis, (long long)bad,
                             pt, pl, pb, pr, kh, kw, dh, dw);
    s->planes = x->dims[0] * x->dims[1];
    s->H = H, s->W = W, s->OH = OH, s->OW = OW;
    s->dh = dh, s->dw = dw, s->sh = sh, s->sw = sw, s->pt = pt, s->pl = pl;
    s->zp = 0;
    s->kh = kh, s->kw = kw;
    s->full = 1;
    for (int64_t i = 0; i < OH; i++) s->full &= s->rows[i].lo == 0 && s->rows[i].hi == kh;
    for (int64_t i = 0; i < OW; i++) s->full &= s->cols[i].lo == 0 && s->cols[i].hi == kw;
    if (cip_out) *cip_out = cip;
    return IRC_OK;
}

typedef struct pool_job {
    const pool_state *s;
    const void *x;
    void *y;
    int kind;                     /* POOL_* below */
} pool_job;

enum { POOL_MAX_F32, POOL_MAX_I8, POOL_MAX_U8, POOL_AVG_F32, POOL_AVG_I8, POOL_AVG_U8 };

/* The input index of tap i of output o along one axis. */
#define TAP(o, i, stride, dil, pad) ((int64_t)(o) * (stride) + (int64_t)(i) * (dil) - (pad))

#define MAX_PLANE(T)                                                                          \
    for (int64_t oh = 0; oh < s->OH; oh++) {                                                  \
        const pool_taps *r = &s->rows[oh];                                                    \
        for (int64_t ow = 0; ow < s->OW; ow++) {                                              \
            const pool_taps *c = &s->cols[ow];                                                \
            T m = x[TAP(oh, r->lo, s->sh, s->dh, s->pt) * s->W + TAP(ow, c->lo, s->sw, s->dw, s->pl)]; \
            for (int32_t i = r->lo; i < r->hi; i++) {                                         \
                const T *row = x + TAP(oh, i, s->sh, s->dh, s->pt) * s->W;                    \
                for (int32_t j = c->lo; j < c->hi; j++) {                                     \
                    T v = row[TAP(ow, j, s->sw, s->dw, s->pl)];                               \
                    if (v > m || v != v) m = v;   /* NaN wins and stays (numpy.maximum) */    \
                }                                                                             \
            }                                                                                 \
            y[oh * s->OW + ow] = m;                                                           \
        }                                                                                     \
    }

/* 8-bit max when every window is inside the input: the max over the window's rows first,
 * for the whole row at once (contiguous, vectorizes), then over its columns. */
#define MAX_ROW_FIRST 4096
#define MAX_PLANE_FULL(T)                                                                     \
    T tmp[MAX_ROW_FIRST];                                                                     \
    for (int64_t oh = 0; oh < s->OH; oh++) {                                                  \
        const T *r0 = x + TAP(oh, 0, s->sh, s->dh, s->pt) * s->W;                             \
        for (int64_t w = 0; w < s->W; w++) tmp[w] = r0[w];                                    \
        for (int32_t i = 1; i < s->kh; i++) {                                                 \
            const T *r = x + TAP(oh, i, s->sh, s->dh, s->pt) * s->W;                          \
            for (int64_t w = 0; w < s->W; w++) tmp[w] = r[w] > tmp[w] ? r[w] : tmp[w];        \
        }                                                                                     \
        T *yr = y + oh * s->OW;                                                               \
        if (s->kw == 2 && s->sw == 2 && s->dw == 1) {   /* the common 2×2/2: pairs */         \
            const T *t0 = tmp - s->pl;                                                        \
            for (int64_t ow = 0; ow < s->OW; ow++) {                                          \
                T a = t0[2 * ow], b = t0[2 * ow + 1];                                         \
                yr[ow] = a > b ? a : b;                                                       \
            }                                                                                 \
            continue;                                                                         \
        }                                                                                     \
        for (int64_t ow = 0; ow < s->OW; ow++) {                                              \
            const T *t = tmp + TAP(ow, 0, s->sw, s->dw, s->pl);                               \
            T m = t[0];                                                                       \
            for (int32_t j = 1; j < s->kw; j++) m = t[j * s->dw] > m ? t[j * s->dw] : m;      \
            yr[ow] = m;                                                                       \
        }                                                                                     \
    }

static void max_plane_f32(const pool_state *s, const float *x, float *y) { MAX_PLANE(float) }
static void max_plane_i8(const pool_state *s, const int8_t *x, int8_t *y) {
    if (s->full && s->W <= MAX_ROW_FIRST) {
        MAX_PLANE_FULL(int8_t)
        return;
    }
    MAX_PLANE(int8_t)
}
static void max_plane_u8(const pool_state *s, const uint8_t *x, uint8_t *y) {
    if (s->full && s->W <= MAX_ROW_FIRST) {
        MAX_PLANE_FULL(uint8_t)
        return;
    }
    MAX_PLANE(uint8_t)
}

static void avg_plane_f32(const pool_state *s, const float *x, float *y) {
    for (int64_t oh = 0; oh < s->OH; oh++) {
        const pool_taps *r = &s->rows[oh];
        for (int64_t ow = 0; ow < s->OW; ow++) {
            const pool_taps *c = &s->cols[ow];
            float t = 0.0f;
            for (int32_t i = r->lo; i < r->hi; i++) {
                const float *row = x + TAP(oh, i, s->sh, 1, s->pt) * s->W;
                for (int32_t j = c->lo; j < c->hi; j++) t += row[TAP(ow, j, s->sw, 1, s->pl)];
            }
            y[oh * s->OW + ow] = t / (float)(r->count * c->count);
        }
    }
}

#define QAVG_PLANE(T)                                                                         \
    for (int64_t oh = 0; oh < s->OH; oh++) {                                                  \
        const pool_taps *r = &s->rows[oh];                                                    \
        for (int64_t ow = 0; ow < s->OW; ow++) {                                              \
            const pool_taps *c = &s->cols[ow];                                                \
            int64_t t = 0;                                                                    \
            for (int32_t i = r->lo; i < r->hi; i++) {                                         \
                const T *row = x + TAP(oh, i, s->sh, 1, s->pt) * s->W;                        \
                for (int32_t j = c->lo; j < c->hi; j++) t += row[TAP(ow, j, s->sw, 1, s->pl)] - s->zp; \
            }                                                                                 \
            int64_t n = r->count * c->count, a = t < 0 ? -t : t;                              \
            int64_t q = (2 * a + n) / (2 * n);          /* round half away from zero */       \
            y[oh * s->OW + ow] = (T)((t < 0 ? -q : q) + s->zp);                               \
        }                                                                                     \
    }

static void qavg_plane_i8(const pool_state *s, const int8_t *x, int8_t *y) { QAVG_PLANE(int8_t) }
static void qavg_plane_u8(const pool_state *s, const uint8_t *x, uint8_t *y) { QAVG_PLANE(uint8_t) }

static void pool_range(void *arg, int64_t p0, int64_t p1) {
    const pool_job *j = arg;
    const pool_state *s = j->s;
    size_t in = (size_t)(s->H * s->W), out = (size_t)(s->OH * s->OW);
    for (int64_t p = p0; p < p1; p++) {
        size_t xo = (size_t)p * in, yo = (size_t)p * out;
        switch (j->kind) {
        case POOL_MAX_F32: max_plane_f32(s, (const float *)j->x + xo, (float *)j->y + yo); break;
        case POOL_MAX_I8: max_plane_i8(s, (const int8_t *)j->x + xo, (int8_t *)j->y + yo); break;
        case POOL_MAX_U8: max_plane_u8(s, (const uint8_t *)j->x + xo, (uint8_t *)j->y + yo); break;
        case POOL_AVG_F32: avg_plane_f32(s, (const float *)j->x + xo, (float *)j->y + yo); break;
        case POOL_AVG_I8: qavg_plane_i8(s, (const int8_t *)j->x + xo, (int8_t *)j->y + yo); break;
        default: qavg_plane_u8(s, (const uint8_t *)j->x + xo, (uint8_t *)j->y + yo); break;
        }
    }
}

static irc_status pool_run(irc_ctx *ctx, const irc_node *node, int kind) {
    const pool_state *s = node->state;
    pool_job j = {s, node->in[0]->data, node->out[0]->data, kind};
    int64_t work = s->OH * s->OW * 4 + 1;       /* rough cost of a plane */
    int64_t grain = 1 + 65536 / work;
    if (ctx->num_threads > 1 && s->planes >= 2 * grain) irc_parallel_for(ctx, s->planes, grain, pool_range, &j);
    else pool_range(&j, 0, s->planes);
    return IRC_OK;
}

/* ================================================================================================
 * qavgpool — x 8-bit per tensor [N,C,H,W] → y (x's dtype and zero point).  10 params.
 * ================================================================================================ */

irc_status op_qavgpool_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 1, 1, 10));
    IRC_TRY(irc_check_present(ctx, node, 0));
    const irc_tensor *x = node->in[0], *y = node->out[0];
    IRC_TRY(irc_check_dtype(ctx, node, x, "input", IRC_I8, IRC_U8, 0));
    if (x->quant != IRC_QUANT_TENSOR)
        return irc_node_fail(ctx, node, "input '%s' must be quantized per tensor", x->name);
    if (y->quant != IRC_QUANT_TENSOR || y->zero_point != x->zero_point)
        return irc_node_fail(ctx, node, "output '%s' must keep the input's zero point %d", y->name,
                             x->zero_point);
    IRC_TRY(pool_prepare(ctx, node, 0, NULL));
    ((pool_state *)node->state)->zp = x->zero_point;
    return IRC_OK;
}

irc_status op_qavgpool_run(irc_ctx *ctx, const irc_node *node) {
    return pool_run(ctx, node, node->in[0]->dtype == IRC_I8 ? POOL_AVG_I8 : POOL_AVG_U8);
}

/* ================================================================================================
 * maxpool — x f32 or 8-bit [N,C,H,W] → y.  11 params (with dilations).
 * ================================================================================================ */

irc_status op_maxpool_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 1, 1, 11));
    IRC_TRY(irc_check_present(ctx, node, 0));
    IRC_TRY(irc_check_dtype(ctx, node, node->in[0], "input", IRC_F32, IRC_I8, IRC_U8, 0));
    return pool_prepare(ctx, node, 1, NULL);
}

irc_status op_maxpool_run(irc_ctx *ctx, const irc_node *node) {
    irc_dtype d = node->in[0]->dtype;
    return pool_run(ctx, node, d == IRC_F32 ? POOL_MAX_F32 : d == IRC_I8 ? POOL_MAX_I8 : POOL_MAX_U8);
}

/* ================================================================================================
 * avgpool — x f32 [N,C,H,W] → y.  10 params.
 * ================================================================================================ */

irc_status op_avgpool_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 1, 1, 10));
    IRC_TRY(irc_check_present(ctx, node, 0));
    IRC_TRY(irc_check_dtype(ctx, node, node->in[0], "input", IRC_F32, 0));
    return pool_prepare(ctx, node, 0, NULL);
}

irc_status op_avgpool_run(irc_ctx *ctx, const irc_node *node) {
    return pool_run(ctx, node, POOL_AVG_F32);
}

/* ================================================================================================
 * globalpool — x [N,C,spatial...] → y [N,C,1...].  params: kind (0 average, f32; 1 max, f32
 * or 8-bit).  Checks: rank >= 3, y of x's dtype with dims [N, C, 1, ...] (same rank).
 * ================================================================================================ */

typedef struct gpool_job {
    const void *x;
    void *y;
    int64_t inner;                /* spatial elements per plane */
    int kind;
    irc_dtype dtype;
} gpool_job;

static void gpool_range(void *arg, int64_t p0, int64_t p1) {
    const gpool_job *j = arg;
    int64_t n = j->inner;
    for (int64_t p = p0; p < p1; p++) {
        size_t at = (size_t)(p * n);
        if (j->kind == 0) {
            const float *x = (const float *)j->x + at;
            double t = 0.0;
            for (int64_t i = 0; i < n; i++) t += x[i];
            ((float *)j->y)[p] = (float)t / (float)n;
        } else if (j->dtype == IRC_F32) {
            const float *x = (const float *)j->x + at;
            float m = x[0];
            for (int64_t i = 1; i < n; i++)
                if (x[i] > m || x[i] != x[i]) m = x[i];
            ((float *)j->y)[p] = m;
        } else if (j->dtype == IRC_I8) {
            const int8_t *x = (const int8_t *)j->x + at;
            int8_t m = x[0];
            for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
            ((int8_t *)j->y)[p] = m;
        } else {
            const uint8_t *x = (const uint8_t *)j->x + at;
            uint8_t m = x[0];
            for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
            ((uint8_t *)j->y)[p] = m;
        }
    }
}

irc_status op_globalpool_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 1, 1, 1));
    IRC_TRY(irc_check_present(ctx, node, 0));
    const irc_tensor *x = node->in[0], *y = node->out[0];
    int kind = node->params[0];
    if (kind == 0) IRC_TRY(irc_check_dtype(ctx, node, x, "input", IRC_F32, 0));
    else if (kind == 1) IRC_TRY(irc_check_dtype(ctx, node, x, "input", IRC_F32, IRC_I8, IRC_U8, 0));
    else return irc_node_fail(ctx, node, "kind %d is not 0 (average) or 1 (max)", kind);
    if (x->rank < 3)
        return irc_node_fail(ctx, node, "input '%s' must be [N, C, spatial...] (rank >= 3)",
                             x->name);
    int64_t dims[IRC_MAX_RANK];
    for (int i = 0; i < x->rank; i++) dims[i] = i < 2 ? x->dims[i] : 1;
    IRC_TRY(irc_check_shape(ctx, node, y, "output", x->rank, dims));
    if (y->dtype != x->dtype)
        return irc_node_fail(ctx, node, "output '%s' must be %s", y->name, irc_dtype_name(x->dtype));
    return IRC_OK;
}

irc_status op_globalpool_run(irc_ctx *ctx, const irc_node *node) {
    const irc_tensor *x = node->in[0];
    int64_t planes = x->dims[0] * x->dims[1];
    gpool_job j = {x->data, node->out[0]->data, x->numel / planes, node->params[0], x->dtype};
    int64_t grain = 1 + 65536 / j.inner;
    if (ctx->num_threads > 1 && planes >= 2 * grain) irc_parallel_for(ctx, planes, grain, gpool_range, &j);
    else gpool_range(&j, 0, planes);
    return IRC_OK;
}
