/*
 * ops_qgemm.c — qconv2d and qmatmul: the int8 ops that run on the qgemm family
 * (kernels/qgemm.h), plus depthwise convs on the q8 family's dwconv.
 *
 * Zero points.  The kernels compute Σ_k x'_k·w_k in the family's activation
 * domain x' (uint8 on x86, int8 on arm64: x' = x ^ 0x80 when the stored
 * signedness differs, with zero point z' = z ± 128 so x − z = x' − z') against
 * int8 weights with zero point 0 (uint8 weights, zero point 128, are flipped to
 * int8 at load).  So
 *
 *   acc = b + Σ_k (x_k − z_x)·w_k = (b − z'·Σ_k w_k) + Σ_k x'_k·w_k,
 *
 * and prepare stores bias' = b − z'·Σw per output channel (wrapping int32
 * arithmetic, exact mod 2^32 like the accumulation itself).  Padding taps of a
 * conv hold z_x, i.e. contribute 0.
 *
 * A non-constant matmul operand b (attention's Q·Kᵀ) plays the weights' role:
 * b' = b ^ 0x80 for uint8 b (zero point z_b − 128), and when z_b' ≠ 0
 *
 *   Σ_k (a'_k − z_a')(b'_k − z_b') = Σ a'b' − z_a'·Σ_k b'_k − z_b'·Σ_k a'_k + K·z_a'·z_b'
 *
 * needs the row sums of a: the kernel adds −z_b'·Σ_k a'_k per row (row_bias) on top
 * of the per-column bias' = b − z_a'·Σ_k b'_k + K·z_a'·z_b'.
 */
#include <string.h>

#include "fixedpoint.h"
#include "internal.h"
#include "kernels/kernels.h"
#include "kernels/q8.h"
#include "kernels/qgemm.h"


/* Carve 64-aligned pieces out of one allocation. */
typedef struct carve {
    uint8_t *base;
    size_t used;
} carve;

static void *take(carve *c, size_t bytes) {
    void *p = c->base ? c->base + c->used : NULL;
    c->used += irc_round_up(bytes ? bytes : 1, IRC_ALIGN);
    return p;
}

/* Domain shift of stored activations: xor mask and the zero point in the domain. */
static void act_domain(const irc_qgemm_family *f, const irc_tensor *x, uint8_t *mask,
                       int32_t *zp) {
    int stored_signed = x->dtype == IRC_I8;
    *mask = stored_signed != f->act_signed ? 0x80 : 0;
    *zp = x->zero_point + (*mask ? (stored_signed ? 128 : -128) : 0);
}

/* Check the optional requantization operands (inputs m, s) for `channels` channels and the
 * output dtype and clamp; *requant says whether they are present. */
static irc_status check_requant(irc_ctx *ctx, const irc_node *node, int m, int s, int64_t channels,
                                const irc_tensor *y, int32_t lo, int32_t hi, int *requant) {
    const irc_tensor *mt = node->in[m], *st = node->in[s];
    if (!mt != !st) return irc_node_fail(ctx, node, "multipliers and shifts go together");
    *requant = mt != NULL;
    if (!mt) {
        IRC_TRY(irc_check_dtype(ctx, node, y, "output", IRC_I32, 0));
        return IRC_OK;
    }
    int64_t dims[1] = {channels};
    IRC_TRY(irc_check_const(ctx, node, mt, "multipliers"));
    IRC_TRY(irc_check_const(ctx, node, st, "shifts"));
    IRC_TRY(irc_check_dtype(ctx, node, mt, "multipliers", IRC_I32, 0));
    IRC_TRY(irc_check_dtype(ctx, node, st, "shifts", IRC_I32, 0));
    IRC_TRY(irc_check_shape(ctx, node, mt, "multipliers", 1, dims));
    IRC_TRY(irc_check_shape(ctx, node, st, "shifts", 1, dims));
    const int32_t *mv = mt->data, *sv = st->data;
    for (int64_t c = 0; c < channels; c++) {
        if (mv[c] < 0 || sv[c] < -31 || sv[c] > 30)
            return irc_node_fail(ctx, node, "channel %lld: multiplier %d / shift %d out of range",
                                 (long long)c, mv[c], sv[c]);
    }
    IRC_TRY(irc_check_dtype(ctx, node, y, "output", IRC_I8, IRC_U8, 0));
    if (y->quant != IRC_QUANT_TENSOR)
        return irc_node_fail(ctx, node, "output '%s' must be quantized per tensor", y->name);
    int32_t dlo = y->dtype == IRC_I8 ? -128 : 0, dhi = y->dtype == IRC_I8 ? 127 : 255;
    if (lo < dlo || hi > dhi || lo > hi)
        return irc_node_fail(ctx, node, "clamp [%d, %d] does not fit %s", lo, hi,
                             irc_dtype_name(y->dtype));
    return IRC_OK;
}

static irc_status check_weights(irc_ctx *ctx, const irc_node *node, const irc_tensor *w) {
    IRC_TRY(irc_check_dtype(ctx, node, w, "weights", IRC_I8, IRC_U8, 0));
    if (w->quant == IRC_QUANT_NONE)
        return irc_node_fail(ctx, node, "weights '%s' are not quantized", w->name);
    if (w->quant == IRC_QUANT_TENSOR && w->zero_point != (w->dtype == IRC_I8 ? 0 : 128))
        return irc_node_fail(ctx, node, "weights '%s' have zero point %d; the int8 kernels take "
                             "symmetric weights (i8 with 0 or u8 with 128)", w->name,
                             w->zero_point);
    return IRC_OK;
}

/* Per-channel epilogue arrays, padded to a multiple of 64 entries (qgemm.h). */
typedef struct channel_params {
    int32_t *bias, *mult, *shift;
} channel_params;

static void fill_channels(channel_params *cp, int64_t channels, const irc_tensor *bias,
                          const irc_tensor *mult, const irc_tensor *shift, const uint32_t *wsum,
                          int32_t zp) {
    for (int64_t c = 0; c < channels; c++) {
        uint32_t b = bias ? (uint32_t)((const int32_t *)bias->data)[c] : 0u;
        cp->bias[c] = (int32_t)(b - (uint32_t)zp * wsum[c]);
        cp->mult[c] = mult ? ((const int32_t *)mult->data)[c] : 0;
        cp->shift[c] = shift ? ((const int32_t *)shift->data)[c] : 0;
    }
}

/* ============================================================================================
 * qconv2d
 * ============================================================================================ */

typedef struct conv_state {
    int depthwise;
    int64_t N, C, H, W, OC, OH, OW, KH, KW, groups, Cg, OCg, Kg, Kp;
    int32_t sh, sw, pt, pl, dh, dw, lo, hi, zx, zx_dom, out_zp;
    uint8_t mask;
    int requant, pointwise, x_signed, out_signed;
    const uint8_t *table;    /* a fused q.lut applied to the requantized output, or NULL */
    uint8_t lut_flip;        /* 0x80 when the requantized values are int8 (table index) */
    int fc;                  /* 1×1 conv on a 1×1 image (SE blocks, heads): run as a
                                fully connected layer, weights as B packed at load */
    uint8_t *wpacked;        /* fc: B[k][o] = w[o][k], packed */
    const irc_qgemm_family *f;
    int8_t *w;               /* gemm: [OC][Kp] int8, zero-padded; depthwise: [C][KH][KW] */
    channel_params cp;       /* gemm: bias' (folded); depthwise: raw bias */
    size_t col_bytes, packed_bytes;
} conv_state;

irc_status op_qconv2d_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, -1, 1, 11));
    if (node->n_in != 5 && node->n_in != 6)
        return irc_node_fail(ctx, node, "expects 5 inputs (or 6 with a table), has %d", node->n_in);
    IRC_TRY(irc_check_present(ctx, node, 0));
    IRC_TRY(irc_check_present(ctx, node, 1));
    const irc_tensor *x = node->in[0], *w = node->in[1], *b = node->in[2], *y = node->out[0];
    IRC_TRY(irc_check_dtype(ctx, node, x, "input", IRC_I8, IRC_U8, 0));
    if (x->quant != IRC_QUANT_TENSOR || x->rank != 4)
        return irc_node_fail(ctx, node, "input '%s' must be 4-D and quantized per tensor", x->name);
    IRC_TRY(irc_check_const(ctx, node, w, "weights"));
    IRC_TRY(check_weights(ctx, node, w));
    conv_state s;
    memset(&s, 0, sizeof s);
    irc_conv_geom g;
    IRC_TRY(irc_conv_geometry(ctx, node, x, w, y, &g));
    s.N = g.N, s.C = g.C, s.H = g.H, s.W = g.W, s.OC = g.OC, s.KH = g.KH, s.KW = g.KW;
    s.OH = g.OH, s.OW = g.OW, s.groups = g.groups;
    s.sh = g.sh, s.sw = g.sw, s.pt = g.pt, s.pl = g.pl, s.dh = g.dh, s.dw = g.dw;
    s.lo = node->params[9], s.hi = node->params[10];
    if (b) {
        int64_t bd[1] = {s.OC};
        IRC_TRY(irc_check_const(ctx, node, b, "bias"));
        IRC_TRY(irc_check_dtype(ctx, node, b, "bias", IRC_I32, 0));
        IRC_TRY(irc_check_shape(ctx, node, b, "bias", 1, bd));
    }
    /* a fused table (6th input): the requantized values (dtype and zero point in words 11,
     * 12) index it, and y holds the table's results */
    const irc_tensor *table = node->n_in == 6 ? node->in[5] : NULL;
    irc_tensor rq = *y;
    if (table) {
        if (node->n_params < 13 || node->params[11] < 0 || node->params[11] > 1)
            return irc_node_fail(ctx, node, "a table needs words 11 (int8 or uint8 index) and "
                                 "12 (its zero point)");
        rq.dtype = node->params[11] ? IRC_I8 : IRC_U8;
        rq.quant = IRC_QUANT_TENSOR;
        rq.zero_point = node->params[12];
        if (rq.zero_point < (rq.dtype == IRC_I8 ? -128 : 0) ||
            rq.zero_point > (rq.dtype == IRC_I8 ? 127 : 255))
            return irc_node_fail(ctx, node, "zero point %d outside %s", rq.zero_point,
                                 irc_dtype_name(rq.dtype));
        int64_t td[1] = {256};
        IRC_TRY(irc_check_const(ctx, node, table, "table"));
        IRC_TRY(irc_check_dtype(ctx, node, y, "output", IRC_I8, IRC_U8, 0));
        IRC_TRY(irc_check_dtype(ctx, node, table, "table", y->dtype, 0));
        IRC_TRY(irc_check_shape(ctx, node, table, "table", 1, td));
        if (!node->in[3] || !ctx->k->q8->lut)
            return irc_node_fail(ctx, node, "a table needs the requantization operands");
    }
    IRC_TRY(check_requant(ctx, node, 3, 4, s.OC, &rq, s.lo, s.hi, &s.requant));
    s.table = table ? table->data : NULL;
    s.lut_flip = table && rq.dtype == IRC_I8 ? 0x80 : 0;
    s.Cg = g.Cg, s.OCg = g.OCg, s.Kg = g.Kg;
    s.zx = x->zero_point;
    s.x_signed = x->dtype == IRC_I8;
    s.out_signed = rq.dtype == IRC_I8;
    s.out_zp = s.requant ? rq.zero_point : 0;
    s.f = ctx->k->qgemm;
    s.depthwise = s.requant && s.groups == s.C && s.OC == s.C && ctx->k->q8->dwconv != NULL;
    s.pointwise = g.pointwise;
    act_domain(s.f, x, &s.mask, &s.zx_dom);
    s.Kp = (int64_t)irc_round_up((size_t)s.Kg, (size_t)s.f->kr);
    size_t ohw = (size_t)(s.OH * s.OW);
    if (s.Kp > INT32_MAX || ohw > INT32_MAX || s.OC > INT32_MAX)
        return irc_node_fail(ctx, node, "the convolution is too large for int32 GEMM indices");

    s.fc = !s.depthwise && s.pointwise && ohw == 1 && s.groups == 1;
    size_t fc_bytes = s.fc ? s.f->packed_size((int32_t)s.Kp, (int32_t)s.OC) : 0;

    /* state: [conv_state][weights][bias][mult][shift][fc: packed weights] */
    size_t wbytes = s.depthwise ? (size_t)(s.C * s.KH * s.KW) : (size_t)(s.OC * s.Kp);
    size_t nch = irc_round_up((size_t)s.OC, 64);
    carve c = {NULL, 0};
    take(&c, sizeof s);
    take(&c, wbytes);
    for (int i = 0; i < 3; i++) take(&c, nch * 4);
    if (s.fc) take(&c, fc_bytes);
    c.base = irc_calloc(ctx, c.used);
    if (!c.base) return irc_fail(ctx, IRC_ERR_NO_MEMORY, "out of memory (conv weights)");
    c.used = 0;
    conv_state *st = take(&c, sizeof s);
    *st = s;
    st->w = take(&c, wbytes);
    st->cp.bias = take(&c, nch * 4);
    st->cp.mult = take(&c, nch * 4);
    st->cp.shift = take(&c, nch * 4);
    st->wpacked = s.fc ? take(&c, fc_bytes) : NULL;
    node->state = c.base;

    /* weights to int8 (u8 with zero point 128 → xor 0x80), and their row sums */
    const uint8_t *wsrc = w->data;
    uint8_t wflip = w->dtype == IRC_U8 ? 0x80 : 0;
    uint32_t *wsum = irc_calloc(ctx, nch * 4);
    if (!wsum) return irc_fail(ctx, IRC_ERR_NO_MEMORY, "out of memory");
    int64_t per_oc = s.Cg * s.KH * s.KW;
    for (int64_t o = 0; o < s.OC; o++) {
        int8_t *dst = st->w + (s.depthwise ? o * per_oc : o * s.Kp);
        for (int64_t k = 0; k < per_oc; k++) {
            int8_t v = (int8_t)(wsrc[o * per_oc + k] ^ wflip);
            dst[k] = v;
            wsum[o] += (uint32_t)(int32_t)v;
        }
    }
    const irc_tensor *mt = node->in[3], *sht = node->in[4];
    /* depthwise takes the raw bias (it centres x itself); the GEMM the folded one */
    fill_channels(&st->cp, s.OC, b, mt, sht, wsum, s.depthwise ? 0 : s.zx_dom);
    if (s.depthwise) memset(wsum, 0, nch * 4);
    irc_free(ctx, wsum);

    if (st->fc) {
        /* out[o] = Σ_k x[k]·w[o][k]: A = the image's C bytes (one row), B = wᵀ packed once */
        s.f->pack_b((int32_t)s.Kg, (int32_t)s.Kp, (int32_t)s.OC, (const uint8_t *)st->w, 1,
                    (ptrdiff_t)s.Kp, 0, st->wpacked);
        node->scratch = (size_t)s.Kp;     /* the image row in the kernel's domain, padded */
    } else if (!s.depthwise) {
        st->col_bytes = s.pointwise ? 0 : (size_t)s.Kg * ohw;
        st->packed_bytes = s.f->packed_size((int32_t)s.Kp, (int32_t)ohw);
        node->scratch = irc_round_up(st->col_bytes, IRC_ALIGN) + st->packed_bytes;
    }
    return IRC_OK;
}

/* im2col of one group of one image: col[k = (c, i, j)][p = (oh, ow)] = x[c][ih][iw] or z_x.
 * For each tap (i, j) the columns whose input lies inside the row form one run
 * ow ∈ [lo, hi) (copied, contiguous when the stride is 1); the rest is padding. */
static void im2col(const conv_state *s, const uint8_t *x, uint8_t *col) {
    int64_t ohw = s->OH * s->OW;
    uint8_t pad = (uint8_t)s->zx;
    for (int64_t j = 0; j < s->KW; j++) {
        /* ow*sw + j*dw − pl ∈ [0, W)  ⇔  lo <= ow < hi */
        int64_t off = j * s->dw - s->pl;
        int64_t lo = off >= 0 ? 0 : (-off + s->sw - 1) / s->sw;
        int64_t hi = s->W - 1 - off < 0 ? 0 : (s->W - 1 - off) / s->sw + 1;
        if (lo > s->OW) lo = s->OW;
        if (hi > s->OW) hi = s->OW;
        if (hi < lo) hi = lo;
        for (int64_t c = 0; c < s->Cg; c++) {
            const uint8_t *plane = x + c * s->H * s->W;
            for (int64_t i = 0; i < s->KH; i++) {
                uint8_t *row = col + ((c * s->KH + i) * s->KW + j) * ohw;
                if (s->sw == 1 && s->OW == s->W) {
                    /* rows as long as the input's: the valid rows of this tap are one shifted
                     * copy of the plane, col[oh·W + ow] = x[(oh + i·dh − pt)·W + ow + off];
                     * then the columns outside [lo, hi) and the rows outside the input get z_x */
                    int64_t oh_lo = 0, oh_hi = s->OH, shift = i * s->dh - s->pt;
                    while (oh_lo < s->OH && (oh_lo * s->sh + shift < 0)) oh_lo++;
                    while (oh_hi > oh_lo && ((oh_hi - 1) * s->sh + shift >= s->H)) oh_hi--;
                    memset(row, pad, (size_t)(oh_lo * s->OW));
                    memset(row + oh_hi * s->OW, pad, (size_t)((s->OH - oh_hi) * s->OW));
                    if (oh_hi > oh_lo && hi > lo) {
                        if (s->sh == 1) {
                            int64_t first = oh_lo * s->OW + lo, last = (oh_hi - 1) * s->OW + hi;
                            memcpy(row + first, plane + first + shift * s->W + off,
                                   (size_t)(last - first));
                        } else {
                            for (int64_t oh = oh_lo; oh < oh_hi; oh++)
                                memcpy(row + oh * s->OW + lo,
                                       plane + (oh * s->sh + shift) * s->W + off + lo,
                                       (size_t)(hi - lo));
                        }
                    }
                    for (int64_t oh = oh_lo; oh < oh_hi; oh++) {
                        uint8_t *out = row + oh * s->OW;
                        for (int64_t ow = 0; ow < lo; ow++) out[ow] = pad;
                        for (int64_t ow = hi; ow < s->OW; ow++) out[ow] = pad;
                    }
                    continue;
                }
                for (int64_t oh = 0; oh < s->OH; oh++) {
                    int64_t ih = oh * s->sh + i * s->dh - s->pt;
                    uint8_t *out = row + oh * s->OW;
                    if (ih < 0 || ih >= s->H) {
                        memset(out, pad, (size_t)s->OW);
                        continue;
                    }
                    const uint8_t *in = plane + ih * s->W + off;
                    memset(out, pad, (size_t)lo);
                    if (s->sw == 1) {
                        memcpy(out + lo, in + lo, (size_t)(hi - lo));
                    } else {
                        for (int64_t ow = lo; ow < hi; ow++) out[ow] = in[ow * s->sw];
                    }
                    memset(out + hi, pad, (size_t)(s->OW - hi));
                }
            }
        }
    }
}

typedef struct gemm_job {
    irc_qgemm_args args;
    const irc_qgemm_family *f;
    int split_n;
    const uint8_t *table;        /* a fused LUT for the block just computed, or NULL */
    uint8_t flip;
    irc_q8_lut_fn lut;
} gemm_job;

static void gemm_range(void *arg, int64_t begin, int64_t end) {
    const gemm_job *job = arg;
    irc_qgemm_args a = job->args;
    if (job->split_n) {
        a.n0 = (int32_t)begin;
        a.n1 = (int32_t)end;
    } else {
        a.m0 = (int32_t)begin;
        a.m1 = (int32_t)end;
    }
    job->f->run(&a);
    if (job->table)   /* 8-bit output: each row segment of the block, in place */
        for (int32_t m = a.m0; m < a.m1; m++) {
            uint8_t *row = (uint8_t *)a.c + (size_t)m * a.ldc + (size_t)a.n0;
            job->lut(job->table, row, row, (size_t)(a.n1 - a.n0), job->flip);
        }
}

/* Run a GEMM over the threads: split the larger of M and N (N in multiples of nr); with
 * `table`, apply it to each block's 8-bit output as soon as the block is done. */
static void run_gemm_lut(irc_ctx *ctx, const irc_qgemm_family *f, const irc_qgemm_args *args,
                         const uint8_t *table, uint8_t flip) {
    gemm_job job = {*args, f, 1, table, flip, ctx->k->q8->lut};
    int64_t m = args->m1 - args->m0, n = args->n1 - args->n0;
    /* below ~0.25 M multiply-adds a second thread costs more to wake than it saves */
    if (ctx->num_threads <= 1 || m * n * (int64_t)args->K < ((int64_t)1 << 18)) {
        gemm_range(&job, args->n0, args->n1);
        return;
    }
    job.split_n = n >= m || m < 2 * ctx->num_threads;
    if (job.split_n)
        irc_parallel_for(ctx, args->n1, f->nr, gemm_range, &job);
    else
        irc_parallel_for(ctx, args->m1, 1, gemm_range, &job);
}

static void run_gemm(irc_ctx *ctx, const irc_qgemm_family *f, const irc_qgemm_args *args) {
    run_gemm_lut(ctx, f, args, NULL, 0);
}

typedef struct dw_job {
    irc_dwconv_args args;
    void (*fn)(const irc_dwconv_args *);
    const uint8_t *table;        /* a fused LUT, or NULL */
    uint8_t flip;
    irc_q8_lut_fn lut;
} dw_job;

static void dw_range(void *arg, int64_t begin, int64_t end) {
    const dw_job *job = arg;
    irc_dwconv_args a = job->args;
    a.c0 = (int32_t)begin;
    a.c1 = (int32_t)end;
    job->fn(&a);
    if (job->table) {   /* channels c0..c1 are contiguous planes of OH·OW bytes */
        size_t plane = (size_t)a.OH * (size_t)a.OW;
        uint8_t *y = (uint8_t *)a.y + (size_t)a.c0 * plane;
        job->lut(job->table, y, y, (size_t)(a.c1 - a.c0) * plane, job->flip);
    }
}

irc_status op_qconv2d_run(irc_ctx *ctx, const irc_node *node) {
    const conv_state *s = node->state;
    const irc_tensor *x = node->in[0], *y = node->out[0];
    size_t esize = s->requant ? 1 : 4;
    int64_t ohw = s->OH * s->OW, hw = s->H * s->W;
    for (int64_t n = 0; n < s->N; n++) {
        const uint8_t *xn = (const uint8_t *)x->data + n * s->C * hw;
        uint8_t *yn = (uint8_t *)y->data + (size_t)(n * s->OC * ohw) * esize;
        if (s->depthwise) {
            dw_job job = {{(int32_t)s->H, (int32_t)s->W, (int32_t)s->OH, (int32_t)s->OW,
                           (int32_t)s->KH, (int32_t)s->KW, s->sh, s->sw, s->pt, s->pl, s->dh, s->dw,
                           xn, s->x_signed, s->zx, s->w, s->cp.bias, s->cp.mult, s->cp.shift,
                           s->out_zp, s->lo, s->hi, s->out_signed, yn, 0, (int32_t)s->C},
                          ctx->k->q8->dwconv, s->table, s->lut_flip, ctx->k->q8->lut};
            int64_t work = s->C * s->OH * s->OW * s->KH * s->KW;
            if (work < ((int64_t)1 << 18)) dw_range(&job, 0, s->C);   /* too small to split */
            else irc_parallel_for(ctx, s->C, 1, dw_range, &job);
            continue;
        }
        if (s->fc) {
            uint8_t *row = ctx->scratch;
            for (int64_t k = 0; k < s->C; k++) row[k] = xn[k] ^ s->mask;
            memset(row + s->C, 0, (size_t)(s->Kp - s->C));
            irc_qgemm_args a;
            memset(&a, 0, sizeof a);
            a.M = 1, a.N = (int32_t)s->OC, a.K = (int32_t)s->Kp;
            a.a = row, a.lda = (size_t)s->Kp;
            a.b = s->wpacked;
            a.a_is_act = 1;
            a.bias = s->cp.bias;
            a.mult = s->requant ? s->cp.mult : NULL;
            a.shift = s->cp.shift;
            a.per_col = 1;
            a.out_zp = s->out_zp, a.lo = s->lo, a.hi = s->hi, a.out_signed = s->out_signed;
            a.c = yn, a.ldc = (size_t)s->OC;
            a.m0 = 0, a.m1 = 1, a.n0 = 0, a.n1 = a.N;
            run_gemm_lut(ctx, s->f, &a, s->table, s->lut_flip);
            continue;
        }
        uint8_t *col = ctx->scratch;
        uint8_t *packed = (uint8_t *)ctx->scratch + irc_round_up(s->col_bytes, IRC_ALIGN);
        for (int64_t g = 0; g < s->groups; g++) {
            const uint8_t *xg = xn + g * s->Cg * hw;
            if (s->pointwise) {
                s->f->pack_b((int32_t)s->Kg, (int32_t)s->Kp, (int32_t)ohw, xg, (ptrdiff_t)hw, 1,
                             s->mask, packed);
            } else {
                im2col(s, xg, col);
                s->f->pack_b((int32_t)s->Kg, (int32_t)s->Kp, (int32_t)ohw, col, (ptrdiff_t)ohw, 1,
                             s->mask, packed);
            }
            int64_t o0 = g * s->OCg;
            irc_qgemm_args a;
            memset(&a, 0, sizeof a);
            a.M = (int32_t)s->OCg, a.N = (int32_t)ohw, a.K = (int32_t)s->Kp;
            a.a = s->w + o0 * s->Kp, a.lda = (size_t)s->Kp;
            a.b = packed;
            a.a_is_act = 0;
            a.bias = s->cp.bias + o0;
            a.mult = s->requant ? s->cp.mult + o0 : NULL;
            a.shift = s->cp.shift + o0;
            a.per_col = 0;
            a.out_zp = s->out_zp, a.lo = s->lo, a.hi = s->hi, a.out_signed = s->out_signed;
            a.c = yn + (size_t)(o0 * ohw) * esize, a.ldc = (size_t)ohw;
            a.m0 = 0, a.m1 = a.M, a.n0 = 0, a.n1 = a.N;
            run_gemm_lut(ctx, s->f, &a, s->table, s->lut_flip);
        }
    }
    return IRC_OK;
}

/* ============================================================================================
 * qmatmul
 * ============================================================================================ */

#define MAX_BATCH_RANK (IRC_MAX_RANK - 2)

typedef struct matmul_state {
    int64_t M, K, N, Kp, batch;
    int nb;                                  /* batch rank of y */
    int64_t ybatch[MAX_BATCH_RANK];          /* y's batch dims */
    int64_t astride[MAX_BATCH_RANK], bstride[MAX_BATCH_RANK];   /* in matrices; 0 broadcasts */
    int const_b, requant, out_signed, copy_a;
    int32_t za, zb, out_zp, lo, hi;          /* za, zb in the kernel's domains */
    uint8_t amask, bmask;
    const irc_qgemm_family *f;
    uint8_t *bpacked;                        /* const b: each batch matrix packed */
    size_t packed_bytes;
    channel_params cp;                       /* const b: bias' folded; else raw bias */
} matmul_state;

/* Batch strides (in matrices) of an operand of rank r against y's batch dims. */
static int batch_strides(const irc_tensor *t, const matmul_state *s, int64_t *stride) {
    int tb = t->rank - 2;
    int64_t step = 1;
    for (int i = s->nb - 1; i >= 0; i--) {
        int ti = i - (s->nb - tb);
        int64_t d = ti >= 0 ? t->dims[ti] : 1;
        if (d != 1 && d != s->ybatch[i]) return 0;
        stride[i] = d == 1 ? 0 : step;
        step *= d;
    }
    return 1;
}

irc_status op_qmatmul_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 5, 1, 2));
    IRC_TRY(irc_check_present(ctx, node, 0));
    IRC_TRY(irc_check_present(ctx, node, 1));
    const irc_tensor *a = node->in[0], *b = node->in[1], *bias = node->in[2], *y = node->out[0];
    IRC_TRY(irc_check_dtype(ctx, node, a, "a", IRC_I8, IRC_U8, 0));
    IRC_TRY(irc_check_dtype(ctx, node, b, "b", IRC_I8, IRC_U8, 0));
    if (a->quant != IRC_QUANT_TENSOR || a->rank < 2 || b->rank < 2)
        return irc_node_fail(ctx, node, "operands must have rank >= 2 and a per-tensor a");
    matmul_state s;
    memset(&s, 0, sizeof s);
    s.const_b = b->storage == IRC_STORE_CONST;
    if (s.const_b)
        IRC_TRY(check_weights(ctx, node, b));
    else if (b->quant != IRC_QUANT_TENSOR)
        return irc_node_fail(ctx, node, "a non-constant b must be quantized per tensor");
    s.M = a->dims[a->rank - 2], s.K = a->dims[a->rank - 1], s.N = b->dims[b->rank - 1];
    if (b->dims[b->rank - 2] != s.K)
        return irc_node_fail(ctx, node, "inner dimensions differ (%lld vs %lld)", (long long)s.K,
                             (long long)b->dims[b->rank - 2]);
    s.nb = y->rank - 2;
    if (y->rank < 2 || s.nb < a->rank - 2 || s.nb < b->rank - 2)
        return irc_node_fail(ctx, node, "output rank %d is below the operands'", y->rank);
    int64_t ydims[IRC_MAX_RANK];
    s.batch = 1;
    for (int i = 0; i < s.nb; i++) {
        int ai = i - (s.nb - (a->rank - 2)), bi = i - (s.nb - (b->rank - 2));
        int64_t da = ai >= 0 ? a->dims[ai] : 1, db = bi >= 0 ? b->dims[bi] : 1;
        if (da != db && da != 1 && db != 1)
            return irc_node_fail(ctx, node, "batch dimension %d does not broadcast (%lld vs %lld)",
                                 i, (long long)da, (long long)db);
        ydims[i] = s.ybatch[i] = da > db ? da : db;
        s.batch *= ydims[i];
    }
    ydims[s.nb] = s.M, ydims[s.nb + 1] = s.N;
    IRC_TRY(irc_check_shape(ctx, node, y, "output", y->rank, ydims));
    batch_strides(a, &s, s.astride);
    batch_strides(b, &s, s.bstride);
    if (bias) {
        int64_t bd[1] = {s.N};
        IRC_TRY(irc_check_const(ctx, node, bias, "bias"));
        IRC_TRY(irc_check_dtype(ctx, node, bias, "bias", IRC_I32, 0));
        IRC_TRY(irc_check_shape(ctx, node, bias, "bias", 1, bd));
    }
    s.lo = node->params[0], s.hi = node->params[1];
    IRC_TRY(check_requant(ctx, node, 3, 4, s.N, y, s.lo, s.hi, &s.requant));
    s.f = ctx->k->qgemm;
    s.Kp = (int64_t)irc_round_up((size_t)s.K, (size_t)s.f->kr);
    if (s.Kp > INT32_MAX || s.M > INT32_MAX || s.N > INT32_MAX)
        return irc_node_fail(ctx, node, "the matmul is too large for int32 GEMM indices");
    act_domain(s.f, a, &s.amask, &s.za);
    s.copy_a = s.amask || s.Kp != s.K;
    s.out_signed = y->dtype == IRC_I8;
    s.out_zp = s.requant ? y->zero_point : 0;
    s.bmask = b->dtype == IRC_U8 ? 0x80 : 0;      /* b to int8 */
    s.zb = s.const_b ? 0 : b->zero_point - (b->dtype == IRC_U8 ? 128 : 0);
    s.packed_bytes = s.f->packed_size((int32_t)s.Kp, (int32_t)s.N);
    int64_t b_mats = b->numel / (s.K * s.N);

    size_t nch = irc_round_up((size_t)s.N, 64);
    carve c = {NULL, 0};
    take(&c, sizeof s);
    if (s.const_b) take(&c, s.packed_bytes * (size_t)b_mats);
    for (int i = 0; i < 3; i++) take(&c, nch * 4);
    c.base = irc_calloc(ctx, c.used);
    if (!c.base) return irc_fail(ctx, IRC_ERR_NO_MEMORY, "out of memory (matmul weights)");
    c.used = 0;
    matmul_state *st = take(&c, sizeof s);
    *st = s;
    st->bpacked = s.const_b ? take(&c, s.packed_bytes * (size_t)b_mats) : NULL;
    st->cp.bias = take(&c, nch * 4);
    st->cp.mult = take(&c, nch * 4);
    st->cp.shift = take(&c, nch * 4);
    node->state = c.base;

    uint32_t *wsum = irc_calloc(ctx, nch * 4);
    if (!wsum) return irc_fail(ctx, IRC_ERR_NO_MEMORY, "out of memory");
    if (s.const_b) {
        /* pack every batch matrix of b; fold Σ_k w over the first (a const b is usually 2-D;
         * with batches the fold is per matrix, done at run time below) */
        for (int64_t m = 0; m < b_mats; m++)
            s.f->pack_b((int32_t)s.K, (int32_t)s.Kp, (int32_t)s.N,
                        (const uint8_t *)b->data + m * s.K * s.N, (ptrdiff_t)s.N, 1, s.bmask,
                        st->bpacked + (size_t)m * s.packed_bytes);
        if (b_mats == 1) {
            const uint8_t *bv = b->data;
            for (int64_t k = 0; k < s.K; k++)
                for (int64_t n = 0; n < s.N; n++)
                    wsum[n] += (uint32_t)(int32_t)(int8_t)(bv[k * s.N + n] ^ s.bmask);
        }
    }
    fill_channels(&st->cp, s.N, bias, node->in[3], node->in[4], wsum,
                  s.const_b && b_mats == 1 ? s.za : 0);
    irc_free(ctx, wsum);
    st->const_b = s.const_b && b_mats == 1 ? 1 : (s.const_b ? 2 : 0);   /* 2: batched const b */

    size_t scratch = 0;
    if (s.copy_a) scratch += irc_round_up((size_t)(s.M * s.Kp), IRC_ALIGN);
    if (st->const_b != 1) {
        scratch += irc_round_up(s.packed_bytes, IRC_ALIGN);            /* packed b */
        scratch += irc_round_up(nch * 4, IRC_ALIGN) * 2;               /* colsum, bias' */
        scratch += irc_round_up((size_t)s.M * 4, IRC_ALIGN);           /* row bias */
    }
    node->scratch = scratch;
    return IRC_OK;
}

irc_status op_qmatmul_run(irc_ctx *ctx, const irc_node *node) {
    const matmul_state *s = node->state;
    const irc_tensor *a = node->in[0], *b = node->in[1], *y = node->out[0];
    size_t esize = s->requant ? 1 : 4;
    size_t nch = irc_round_up((size_t)s->N, 64);
    uint8_t *scratch = ctx->scratch;
    uint8_t *acopy = NULL, *bpack = NULL;
    int32_t *colsum = NULL, *biasp = NULL, *rowbias = NULL;
    if (s->copy_a) {
        acopy = scratch;
        scratch += irc_round_up((size_t)(s->M * s->Kp), IRC_ALIGN);
    }
    if (s->const_b != 1) {
        bpack = scratch;
        scratch += irc_round_up(s->packed_bytes, IRC_ALIGN);
        colsum = (int32_t *)scratch;
        scratch += irc_round_up(nch * 4, IRC_ALIGN);
        biasp = (int32_t *)scratch;
        scratch += irc_round_up(nch * 4, IRC_ALIGN);
        rowbias = (int32_t *)scratch;
    }
    for (int64_t bi = 0; bi < s->batch; bi++) {
        int64_t ai = 0, bj = 0, rem = bi;
        for (int i = s->nb - 1; i >= 0; i--) {
            int64_t idx = rem % s->ybatch[i];
            rem /= s->ybatch[i];
            ai += idx * s->astride[i];
            bj += idx * s->bstride[i];
        }
        const uint8_t *am = (const uint8_t *)a->data + ai * s->M * s->K;
        const uint8_t *bm = (const uint8_t *)b->data + bj * s->K * s->N;
        uint8_t *ym = (uint8_t *)y->data + (size_t)(bi * s->M * s->N) * esize;
        const uint8_t *aop = am;
        if (acopy) {
            for (int64_t m = 0; m < s->M; m++) {
                uint8_t *dst = acopy + m * s->Kp;
                for (int64_t k = 0; k < s->K; k++) dst[k] = am[m * s->K + k] ^ s->amask;
                memset(dst + s->K, 0, (size_t)(s->Kp - s->K));
            }
            aop = acopy;
        }
        irc_qgemm_args g;
        memset(&g, 0, sizeof g);
        g.M = (int32_t)s->M, g.N = (int32_t)s->N, g.K = (int32_t)s->Kp;
        g.a = aop, g.lda = (size_t)(acopy ? s->Kp : s->K);
        g.a_is_act = 1;
        g.per_col = 1;
        g.out_zp = s->out_zp, g.lo = s->lo, g.hi = s->hi, g.out_signed = s->out_signed;
        g.m0 = 0, g.m1 = g.M, g.n0 = 0, g.n1 = g.N;
        g.mult = s->requant ? s->cp.mult : NULL;
        g.shift = s->cp.shift;
        g.c = ym, g.ldc = (size_t)s->N;
        if (s->const_b == 1) {
            g.b = s->bpacked;
            g.bias = s->cp.bias;
            run_gemm(ctx, s->f, &g);
            continue;
        }
        /* b varies per batch: pack it (or take the packed batch of a constant) and fold
         * its zero-point terms: bias'[n] = b[n] − z_a'·Σ_k b'[k][n] + K·z_a'·z_b',
         * row_bias[m] = −z_b'·Σ_k a'[m][k] (all wrapping) */
        if (s->const_b == 2) {
            g.b = s->bpacked + (size_t)bj * s->packed_bytes;
        } else {
            s->f->pack_b((int32_t)s->K, (int32_t)s->Kp, (int32_t)s->N, bm, (ptrdiff_t)s->N, 1,
                         s->bmask, bpack);
            g.b = bpack;
        }
        memset(colsum, 0, nch * 4);
        for (int64_t k = 0; k < s->K; k++) {
            const uint8_t *row = bm + k * s->N;
            for (int64_t n = 0; n < s->N; n++)
                colsum[n] = (int32_t)((uint32_t)colsum[n] + (uint32_t)(int32_t)(int8_t)(row[n] ^ s->bmask));
        }
        const int32_t *bias = node->in[2] ? (const int32_t *)node->in[2]->data : NULL;
        uint32_t kzz = (uint32_t)s->K * (uint32_t)s->za * (uint32_t)s->zb;
        for (int64_t n = 0; n < s->N; n++)
            biasp[n] = (int32_t)((bias ? (uint32_t)bias[n] : 0u) - (uint32_t)s->za * (uint32_t)colsum[n] + kzz);
        g.bias = biasp;
        if (s->zb != 0) {
            for (int64_t m = 0; m < s->M; m++) {
                const uint8_t *row = aop + m * (int64_t)g.lda;   /* already in the domain */
                int32_t r = 0;
                if (s->f->act_signed)
                    for (int64_t k = 0; k < s->K; k++) r += (int8_t)row[k];
                else
                    for (int64_t k = 0; k < s->K; k++) r += row[k];
                rowbias[m] = (int32_t)(0u - (uint32_t)s->zb * (uint32_t)r);
            }
            g.row_bias = rowbias;
        }
        run_gemm(ctx, s->f, &g);
    }
    return IRC_OK;
}
