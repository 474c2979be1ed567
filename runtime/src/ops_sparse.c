/*
 * ops_sparse.c — qspmm and spmm: constant csr/bsr weights W[N][K] times dense activations,
 * on the spmm families (kernels/spmm.h).  docs/artifact.md, ops 29 and 68.
 *
 *   layout 0 (1×1 conv, NCHW):  x [B,K,H,W] → y [B,N,H,W]:  per image, X = x as [K][H·W]
 *   layout 1 (fully connected): x [..,M,K] → y [..,M,N]:    X = xᵀ [K][M], y = Yᵀ
 *
 * Prepare checks the node, then converts the blob (checked by the loader, loader.c
 * sparse_blob) into the kernels' row blocks: R = the largest of 8, 4, 2, 1 dividing the
 * encoding's block rows r, so a row block lies inside one block row of the blob.  A row
 * block's entries are the columns (float) or quads of 4 columns (int8) in which any of its R
 * rows holds a non-zero; pruned elements inside a stored block cost nothing unless their
 * column (quad) is needed by another row of the row block.
 *
 * Zero points (int8), as ops_qgemm.c: the kernel computes Σ_k W[n][k]·x'_k with x' in the
 * family's activation domain (x' = x ^ 0x80 when the stored signedness differs, z' = z ± 128,
 * so x − z = x' − z'), and
 *
 *   acc[n] = b[n] + Σ_k W[n][k]·(x_k − z) = (b[n] − z'·Σ_k W[n][k]) + Σ_k W[n][k]·x'_k,
 *
 * so prepare stores bias'[n] = b[n] − z'·Σ_k W[n][k] (wrapping int32, exact mod 2^32 like the
 * accumulation).  Run packs X (int8: quad-interleaved with the flip, rows past K zero; float
 * layout 1: transposed; float layout 0: the image itself) and splits the columns m (or, when
 * there are few, the row blocks) over the session's threads.
 */
#include <string.h>

#include "format.h"
#include "internal.h"
#include "kernels/kernels.h"
#include "kernels/spmm.h"

typedef struct spmm_state {
    int q8;                          /* qspmm (int8) or spmm (float32) */
    int layout;                      /* 0: 1×1 conv, 1: fully connected */
    int64_t B, M;                    /* B images (layout 0) of M columns; layout 1: B = 1 */
    int32_t N, K, Kq;                /* Kq: quads of 4 columns (int8) */
    irc_spmm_w w;                    /* the packed weights */
    int64_t macs;                    /* multiply-adds per image (threading) */
    size_t xp_bytes, yt_bytes;       /* scratch: packed X, transposed Y (layout 1, M > 1) */
    /* float32 */
    const irc_spmm_f32_family *ff;
    const float *fbias;              /* [round_up(N, 64)], or NULL */
    float flo, fhi;
    /* int8 */
    const irc_spmm_q8_family *qf;
    int32_t *bias, *mult, *shift;    /* [round_up(N, 64)]: bias' (folded), requantization */
    int32_t out_zp, lo, hi;
    int requant, out_signed;
    int32_t z_dom;                   /* the activations' zero point in the family's domain */
    uint8_t mask;                    /* stored activations → the family's domain */
} spmm_state;

/* ============================================================================================
 * prepare
 * ============================================================================================ */

static int nonzero(const uint8_t *p, size_t esize) {
    if (esize == 1) return p[0] != 0;
    float f;
    memcpy(&f, p, sizeof f);
    return f != 0.0f;   /* NaN counts: it must reach the result */
}

/* Walk the (checked) blob of w row block by row block, in increasing column order within a
 * row block, and return the number of entries: columns (float) or quads (int8) in which any
 * of the row block's rows holds a non-zero.  With the fill pointers set, also write ptr,
 * kidx, vals and (int8) the row sums wsum. */
typedef struct walk {
    const irc_sparse_geom *g;
    const uint8_t *blob;
    size_t esize;
    int32_t R, n_blocks;
    int quads;
    /* fill pass (NULL on the counting pass) */
    int32_t *ptr, *kidx;
    uint8_t *vals;
    uint32_t *wsum;
} walk;

static size_t walk_blocks(const walk *wk) {
    const irc_sparse_geom *g = wk->g;
    const uint8_t *vals = wk->blob + g->V;
    size_t n_entries = 0;
    for (int32_t b = 0; b < wk->n_blocks; b++) {
        size_t row0 = (size_t)b * (size_t)wk->R, br = row0 / g->r, i0 = row0 % g->r;
        size_t rows = g->R - row0 < (size_t)wk->R ? g->R - row0 : (size_t)wk->R;
        size_t e0 = irc_rd32(wk->blob + 4 * br), e1 = irc_rd32(wk->blob + 4 * (br + 1));
        if (wk->ptr) wk->ptr[b] = (int32_t)n_entries;
        size_t last = SIZE_MAX;   /* key of the current entry */
        for (size_t e = e0; e < e1; e++) {
            size_t bc = irc_sparse_col(wk->blob, g, e);
            const uint8_t *blk = vals + e * g->r * g->c * wk->esize;
            for (size_t j = 0; j < g->c; j++) {
                size_t k = bc * g->c + j;
                if (k >= g->C) break;
                int any = 0;
                for (size_t rr = 0; rr < rows && !any; rr++)
                    any = nonzero(blk + ((i0 + rr) * g->c + j) * wk->esize, wk->esize);
                if (!any) continue;
                size_t key = wk->quads ? k / 4 : k;
                if (key != last) {
                    if (wk->kidx) wk->kidx[n_entries] = (int32_t)key;
                    n_entries++;
                    last = key;
                }
                if (!wk->vals) continue;
                size_t ent = n_entries - 1;
                for (size_t rr = 0; rr < rows; rr++) {
                    const uint8_t *src = blk + ((i0 + rr) * g->c + j) * wk->esize;
                    if (wk->quads) {
                        int8_t v = (int8_t)src[0];
                        wk->vals[(ent * (size_t)wk->R + rr) * 4 + k % 4] = (uint8_t)v;
                        wk->wsum[row0 + rr] += (uint32_t)(int32_t)v;
                    } else {
                        memcpy(wk->vals + (ent * (size_t)wk->R + rr) * 4, src, 4);
                    }
                }
            }
        }
    }
    if (wk->ptr) wk->ptr[wk->n_blocks] = (int32_t)n_entries;
    return n_entries;
}

static irc_status no_memory(irc_ctx *ctx, const irc_node *node) {
    return irc_fail(ctx, IRC_ERR_NO_MEMORY, "node %u '%s' (%s): out of memory (sparse weights)",
                    node->index, node->name, node->op->name);
}

/* Check the weights operand and the shapes of x and y against it and the layout word; fill
 * N, K, B, M, layout. */
static irc_status check_shapes(irc_ctx *ctx, const irc_node *node, spmm_state *s,
                               irc_sparse_geom *g) {
    const irc_tensor *x = node->in[0], *w = node->in[1], *y = node->out[0];
    IRC_TRY(irc_check_const(ctx, node, w, "weights"));
    if (w->encoding != IRC_ENC_CSR && w->encoding != IRC_ENC_BSR)
        return irc_node_fail(ctx, node, "weights '%s' must be stored csr or bsr (encoding %u)",
                             w->name, w->encoding);
    irc_sparse_geometry(w->dims[0], w->numel, w->enc_params, g);
    if (g->C > INT32_MAX - 4)
        return irc_node_fail(ctx, node, "weights '%s' have %zu columns, too many for int32 "
                             "kernel indices", w->name, g->C);
    s->N = (int32_t)g->R, s->K = (int32_t)g->C;
    s->layout = node->params[0];
    int64_t ydims[IRC_MAX_RANK];
    if (s->layout == 0) {
        if (x->rank != 4 || x->dims[1] != s->K)
            return irc_node_fail(ctx, node, "layout 0 takes x [B,K,H,W] with K = %d (the "
                                 "weights' columns), got '%s' of rank %d", s->K, x->name,
                                 x->rank);
        s->B = x->dims[0], s->M = x->dims[2] * x->dims[3];
        ydims[0] = x->dims[0], ydims[1] = s->N, ydims[2] = x->dims[2], ydims[3] = x->dims[3];
    } else if (s->layout == 1) {
        if (x->rank < 2 || x->dims[x->rank - 1] != s->K)
            return irc_node_fail(ctx, node, "layout 1 takes x [..,M,K] with K = %d (the "
                                 "weights' columns), got '%s' of rank %d", s->K, x->name,
                                 x->rank);
        s->B = 1, s->M = x->numel / s->K;
        memcpy(ydims, x->dims, sizeof ydims);
        ydims[x->rank - 1] = s->N;
    } else {
        return irc_node_fail(ctx, node, "layout %d (must be 0: 1x1 conv, or 1: fully "
                             "connected)", s->layout);
    }
    IRC_TRY(irc_check_shape(ctx, node, y, "output", x->rank, ydims));
    if (s->M > INT32_MAX)
        return irc_node_fail(ctx, node, "%lld columns are too many for int32 kernel indices",
                             (long long)s->M);
    s->Kq = (s->K + 3) / 4;
    return IRC_OK;
}

/* Scratch of one run: packed X, and the transposed result of layout 1 (M > 1). */
static irc_status size_scratch(irc_ctx *ctx, irc_node *node, spmm_state *s, size_t y_esize) {
    size_t xp = 0, yt = 0, m = (size_t)s->M;
    int ok = 1;
    if (s->q8)
        ok = irc_mul_ok((size_t)s->Kq * 4, m, &xp);
    else if (s->layout == 1 && m > 1)
        ok = irc_mul_ok((size_t)s->K * 4, m, &xp);
    if (ok && s->layout == 1 && m > 1)
        ok = irc_mul_ok((size_t)s->N * y_esize, m, &yt);
    if (!ok || xp > SIZE_MAX / 2 || yt > SIZE_MAX / 2)
        return no_memory(ctx, node);
    s->xp_bytes = irc_round_up(xp, IRC_ALIGN);
    s->yt_bytes = yt;
    node->scratch = s->xp_bytes + yt;
    return IRC_OK;
}

/* Pack the weights into one allocation: [state][ptr][kidx][vals][bias][mult][shift]. */
static irc_status pack(irc_ctx *ctx, irc_node *node, const spmm_state *proto,
                       const irc_sparse_geom *g) {
    const irc_tensor *w = node->in[1];
    int32_t R = 8;
    while (g->r % (size_t)R) R /= 2;
    int32_t n_blocks = (int32_t)((g->R + (size_t)R - 1) / (size_t)R);
    walk wk = {g, w->data, irc_dtype_size(w->dtype), R, n_blocks, proto->q8, NULL, NULL, NULL,
               NULL};
    size_t entries = walk_blocks(&wk);
    /* entries ≤ the blob's stored elements, so these sizes are a small multiple of the
     * file's; the bound keeps the arithmetic below exact on 32-bit hosts too */
    if (entries > INT32_MAX || entries > SIZE_MAX / 64 / (size_t)R ||
        (size_t)n_blocks > SIZE_MAX / 64 || (size_t)proto->N > SIZE_MAX / 64)
        return no_memory(ctx, node);
    size_t nch = irc_round_up((size_t)proto->N, 64);
    size_t off_ptr = irc_round_up(sizeof(spmm_state), IRC_ALIGN);
    size_t off_kidx = off_ptr + irc_round_up(((size_t)n_blocks + 1) * 4, IRC_ALIGN);
    size_t off_vals = off_kidx + irc_round_up(entries * 4 + 4, IRC_ALIGN);
    size_t vbytes = entries * (size_t)R * 4;   /* R floats, or R words of 4 int8, per entry */
    size_t off_chan = off_vals + irc_round_up(vbytes + 4, IRC_ALIGN);
    size_t total = off_chan + 3 * nch * 4;
    uint8_t *mem = irc_calloc(ctx, total);
    uint32_t *wsum = proto->q8 ? irc_calloc(ctx, nch * 4) : NULL;
    if (!mem || (proto->q8 && !wsum)) {
        irc_free(ctx, mem);
        return no_memory(ctx, node);
    }
    spmm_state *s = (spmm_state *)mem;
    *s = *proto;
    wk.ptr = (int32_t *)(mem + off_ptr);
    wk.kidx = (int32_t *)(mem + off_kidx);
    wk.vals = mem + off_vals;
    wk.wsum = wsum;
    walk_blocks(&wk);
    irc_spmm_w pw = {s->N, s->K, R, n_blocks, wk.ptr, wk.kidx, wk.vals};
    s->w = pw;
    int64_t per_col = (int64_t)entries * R * (s->q8 ? 4 : 1);
    s->macs = per_col > INT64_MAX / s->M ? INT64_MAX : per_col * s->M;
    int32_t *chan = (int32_t *)(mem + off_chan);
    const irc_tensor *b = node->in[2];
    if (s->q8) {
        /* bias'[n] = b[n] − z'·Σ_k W[n][k], wrapping */
        s->bias = chan, s->mult = chan + nch, s->shift = chan + 2 * nch;
        for (int32_t n = 0; n < s->N; n++) {
            uint32_t bn = b ? (uint32_t)((const int32_t *)b->data)[n] : 0u;
            s->bias[n] = (int32_t)(bn - (uint32_t)s->z_dom * wsum[n]);
            s->mult[n] = node->in[3] ? ((const int32_t *)node->in[3]->data)[n] : 0;
            s->shift[n] = node->in[4] ? ((const int32_t *)node->in[4]->data)[n] : 0;
        }
    } else if (b) {
        float *fb = (float *)chan;
        memcpy(fb, b->data, (size_t)s->N * 4);
        s->fbias = fb;
    }
    irc_free(ctx, wsum);
    node->state = mem;
    return IRC_OK;
}

irc_status op_qspmm_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 5, 1, 3));
    IRC_TRY(irc_check_present(ctx, node, 0));
    IRC_TRY(irc_check_present(ctx, node, 1));
    const irc_tensor *x = node->in[0], *w = node->in[1], *b = node->in[2], *y = node->out[0];
    const irc_tensor *mt = node->in[3], *st = node->in[4];
    IRC_TRY(irc_check_dtype(ctx, node, x, "input", IRC_I8, IRC_U8, 0));
    if (x->quant != IRC_QUANT_TENSOR)
        return irc_node_fail(ctx, node, "input '%s' must be quantized per tensor", x->name);
    IRC_TRY(irc_check_dtype(ctx, node, w, "weights", IRC_I8, 0));
    if (!(w->quant == IRC_QUANT_TENSOR && w->zero_point == 0) &&
        !(w->quant == IRC_QUANT_AXIS && w->quant_axis == 0))
        return irc_node_fail(ctx, node, "weights '%s' must be quantized with zero point 0, per "
                             "tensor or per output channel (axis 0)", w->name);
    spmm_state s;
    memset(&s, 0, sizeof s);
    s.q8 = 1;
    irc_sparse_geom g;
    IRC_TRY(check_shapes(ctx, node, &s, &g));
    int64_t nd[1] = {s.N};
    if (b) {
        IRC_TRY(irc_check_const(ctx, node, b, "bias"));
        IRC_TRY(irc_check_dtype(ctx, node, b, "bias", IRC_I32, 0));
        IRC_TRY(irc_check_shape(ctx, node, b, "bias", 1, nd));
    }
    if (!mt != !st) return irc_node_fail(ctx, node, "multipliers and shifts go together");
    s.requant = mt != NULL;
    s.lo = node->params[1], s.hi = node->params[2];
    if (s.requant) {
        const irc_tensor *ps[2] = {mt, st};
        const char *names[2] = {"multipliers", "shifts"};
        for (int i = 0; i < 2; i++) {
            IRC_TRY(irc_check_const(ctx, node, ps[i], names[i]));
            IRC_TRY(irc_check_dtype(ctx, node, ps[i], names[i], IRC_I32, 0));
            IRC_TRY(irc_check_shape(ctx, node, ps[i], names[i], 1, nd));
        }
        for (int32_t n = 0; n < s.N; n++) {
            int32_t m = ((const int32_t *)mt->data)[n], sh = ((const int32_t *)st->data)[n];
            if (m < 0 || sh < -31 || sh > 30)
                return irc_node_fail(ctx, node, "channel %d: multiplier %d / shift %d out of "
                                     "range", n, m, sh);
        }
        IRC_TRY(irc_check_dtype(ctx, node, y, "output", IRC_I8, IRC_U8, 0));
        if (y->quant != IRC_QUANT_TENSOR)
            return irc_node_fail(ctx, node, "output '%s' must be quantized per tensor", y->name);
        int32_t dlo = y->dtype == IRC_I8 ? -128 : 0, dhi = y->dtype == IRC_I8 ? 127 : 255;
        if (s.lo < dlo || s.hi > dhi || s.lo > s.hi)
            return irc_node_fail(ctx, node, "clamp [%d, %d] does not fit %s", s.lo, s.hi,
                                 irc_dtype_name(y->dtype));
        s.out_zp = y->zero_point;
        s.out_signed = y->dtype == IRC_I8;
    } else {
        IRC_TRY(irc_check_dtype(ctx, node, y, "output", IRC_I32, 0));
    }
    s.qf = ctx->k->spmm_q8;
    int x_signed = x->dtype == IRC_I8;
    s.mask = x_signed != s.qf->act_signed ? 0x80 : 0;
    s.z_dom = x->zero_point + (s.mask ? (x_signed ? 128 : -128) : 0);
    IRC_TRY(size_scratch(ctx, node, &s, s.requant ? 1 : 4));
    return pack(ctx, node, &s, &g);
}

irc_status op_spmm_prepare(irc_ctx *ctx, irc_node *node) {
    IRC_TRY(irc_check_arity(ctx, node, 3, 1, 3));
    IRC_TRY(irc_check_present(ctx, node, 0));
    IRC_TRY(irc_check_present(ctx, node, 1));
    const irc_tensor *x = node->in[0], *w = node->in[1], *b = node->in[2], *y = node->out[0];
    IRC_TRY(irc_check_dtype(ctx, node, x, "input", IRC_F32, 0));
    IRC_TRY(irc_check_dtype(ctx, node, w, "weights", IRC_F32, 0));
    IRC_TRY(irc_check_dtype(ctx, node, y, "output", IRC_F32, 0));
    spmm_state s;
    memset(&s, 0, sizeof s);
    irc_sparse_geom g;
    IRC_TRY(check_shapes(ctx, node, &s, &g));
    if (b) {
        int64_t nd[1] = {s.N};
        IRC_TRY(irc_check_const(ctx, node, b, "bias"));
        IRC_TRY(irc_check_dtype(ctx, node, b, "bias", IRC_F32, 0));
        IRC_TRY(irc_check_shape(ctx, node, b, "bias", 1, nd));
    }
    s.flo = irc_param_f32(node, 1);
    s.fhi = irc_param_f32(node, 2);
    if (s.flo != s.flo || s.fhi != s.fhi)
        return irc_node_fail(ctx, node, "clamp bounds must not be NaN");
    s.ff = ctx->k->spmm_f32;
    IRC_TRY(size_scratch(ctx, node, &s, 4));
    return pack(ctx, node, &s, &g);
}

/* ============================================================================================
 * run
 * ============================================================================================ */

typedef struct spmm_job {
    const spmm_state *s;
    const uint8_t *x;     /* this image (layout 0) or the whole input (layout 1) */
    uint8_t *y;           /* where the kernel writes Y[n][m] (ldy = M): y itself, or yt */
    uint8_t *xp;          /* packed X (NULL: the kernel reads x itself) */
    uint8_t *yout;        /* layout 1 with M > 1: y [M][N], filled from yt */
    int split_m;
} spmm_job;

/* dst[c·ld_dst + r] = src[r·ld_src + c] for r < rows, c < cols, in 16 × 16 tiles (both
 * sides then touch whole cache lines); `esize` 1 or 4. */
#define TILE 16
static void transpose(const uint8_t *src, size_t ld_src, uint8_t *dst, size_t ld_dst,
                      size_t rows, size_t cols, size_t esize) {
    for (size_t r0 = 0; r0 < rows; r0 += TILE) {
        size_t r1 = r0 + TILE < rows ? r0 + TILE : rows;
        for (size_t c0 = 0; c0 < cols; c0 += TILE) {
            size_t c1 = c0 + TILE < cols ? c0 + TILE : cols;
            if (esize == 4) {
                for (size_t r = r0; r < r1; r++)
                    for (size_t c = c0; c < c1; c++)
                        memcpy(dst + (c * ld_dst + r) * 4, src + (r * ld_src + c) * 4, 4);
            } else {
                for (size_t r = r0; r < r1; r++)
                    for (size_t c = c0; c < c1; c++) dst[c * ld_dst + r] = src[r * ld_src + c];
            }
        }
    }
}

static uint32_t load4(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* X columns [m0, m1) into the kernel's layout. */
static void pack_x(const spmm_job *job, int64_t m0, int64_t m1) {
    const spmm_state *s = job->s;
    size_t M = (size_t)s->M, K = (size_t)s->K, a = (size_t)m0, n = (size_t)(m1 - m0);
    if (!s->q8) {   /* layout 1: X[k][m] = x[m][k] */
        transpose(job->x + a * K * 4, K, job->xp + a * 4, M, n, K, 4);
        return;
    }
    const uint8_t *x = job->x;
    uint8_t *xp = job->xp;
    uint32_t mask = s->mask * 0x01010101u;
    size_t full = K / 4;   /* quads inside K; the last one (K % 4 ≠ 0) is zero-padded */
    if (s->layout == 0) {  /* X[k][m] = x[k·M + m]: four rows interleaved into words */
        for (size_t q = 0; q < (size_t)s->Kq; q++) {
            uint8_t *dst = xp + (q * M + a) * 4;
            const uint8_t *r0 = x + 4 * q * M + a;
            if (q < full) {
                const uint8_t *r1 = r0 + M, *r2 = r1 + M, *r3 = r2 + M;
                for (size_t m = 0; m < n; m++) {
                    uint32_t w = ((uint32_t)r0[m] | (uint32_t)r1[m] << 8 |
                                  (uint32_t)r2[m] << 16 | (uint32_t)r3[m] << 24) ^ mask;
                    memcpy(dst + 4 * m, &w, 4);
                }
                continue;
            }
            for (size_t m = 0; m < n; m++) {   /* rows past K hold 0 */
                uint32_t w = 0;
                for (size_t j = 0; 4 * q + j < K; j++)
                    w |= (uint32_t)(r0[j * M + m] ^ s->mask) << (8 * j);
                memcpy(dst + 4 * m, &w, 4);
            }
        }
        return;
    }
    /* layout 1: X[4q + j][m] = x[m·K + 4q + j]: each quad is a word of row m, so this is a
     * transpose of 4-byte words, tiled over m */
    for (size_t t0 = 0; t0 < n; t0 += TILE) {
        size_t t1 = t0 + TILE < n ? t0 + TILE : n;
        for (size_t q = 0; q < (size_t)s->Kq; q++) {
            uint8_t *dst = xp + (q * M + a) * 4;
            for (size_t m = t0; m < t1; m++) {
                const uint8_t *row = x + (a + m) * K;
                uint32_t w;
                if (q < full) {
                    w = load4(row + 4 * q) ^ mask;
                } else {
                    uint8_t tail[4] = {0, 0, 0, 0};
                    for (size_t j = 0; 4 * q + j < K; j++) tail[j] = row[4 * q + j] ^ s->mask;
                    w = load4(tail);
                }
                memcpy(dst + 4 * m, &w, 4);
            }
        }
    }
}

/* Layout 1: y[m][n] = Y[n][m] for columns [m0, m1). */
static void unpack_y(const spmm_job *job, int64_t m0, int64_t m1) {
    const spmm_state *s = job->s;
    size_t es = s->q8 && s->requant ? 1 : 4, a = (size_t)m0;
    transpose(job->y + a * es, (size_t)s->M, job->yout + a * (size_t)s->N * es, (size_t)s->N,
              (size_t)s->N, (size_t)(m1 - m0), es);
}

static void compute(const spmm_job *job, int32_t b0, int32_t b1, int32_t m0, int32_t m1) {
    const spmm_state *s = job->s;
    if (s->q8) {
        irc_spmm_q8_args a = {&s->w, job->xp, (size_t)s->M, job->y, (size_t)s->M, s->bias,
                              s->requant ? s->mult : NULL, s->shift, s->out_zp, s->lo, s->hi,
                              s->out_signed, s->qf->act_signed, b0, b1, m0, m1};
        s->qf->run(&a);
    } else {
        const float *x = job->xp ? (const float *)job->xp : (const float *)job->x;
        irc_spmm_f32_args a = {&s->w, x, (size_t)s->M, (float *)job->y, (size_t)s->M, s->fbias,
                               s->flo, s->fhi, b0, b1, m0, m1};
        s->ff->run(&a);
    }
}

static void job_range(void *arg, int64_t begin, int64_t end) {
    const spmm_job *job = arg;
    if (!job->split_m) {
        compute(job, (int32_t)begin, (int32_t)end, 0, (int32_t)job->s->M);
        return;
    }
    if (job->xp) pack_x(job, begin, end);
    compute(job, 0, job->s->w.n_blocks, (int32_t)begin, (int32_t)end);
    if (job->yout) unpack_y(job, begin, end);
}

static irc_status spmm_run(irc_ctx *ctx, const irc_node *node) {
    const spmm_state *s = node->state;
    const irc_tensor *x = node->in[0], *y = node->out[0];
    size_t xe = s->q8 ? 1 : 4, ye = s->q8 && s->requant ? 1 : 4;
    uint8_t *scratch = ctx->scratch;
    spmm_job job = {s, NULL, NULL, s->xp_bytes ? scratch : NULL, NULL, 1};
    /* below ~0.25 M multiply-adds a second thread costs more to wake than it saves; with
     * few columns the row blocks are split instead */
    int threads = ctx->num_threads > 1 && s->macs >= ((int64_t)1 << 18);
    job.split_m = !threads || s->M >= 32 * (int64_t)ctx->num_threads || s->w.n_blocks < 2;
    for (int64_t b = 0; b < s->B; b++) {
        job.x = (const uint8_t *)x->data + (size_t)(b * s->K * s->M) * xe;
        uint8_t *yb = (uint8_t *)y->data + (size_t)(b * s->N * s->M) * ye;
        job.y = s->yt_bytes ? scratch + s->xp_bytes : yb;
        job.yout = s->yt_bytes ? yb : NULL;
        if (!threads) {
            job_range(&job, 0, s->M);
        } else if (job.split_m) {
            irc_parallel_for(ctx, s->M, 16, job_range, &job);
        } else {
            if (job.xp) pack_x(&job, 0, s->M);
            irc_parallel_for(ctx, s->w.n_blocks, 1, job_range, &job);
            if (job.yout) unpack_y(&job, 0, s->M);
        }
    }
    return IRC_OK;
}

irc_status op_qspmm_run(irc_ctx *ctx, const irc_node *node) { return spmm_run(ctx, node); }

irc_status op_spmm_run(irc_ctx *ctx, const irc_node *node) { return spmm_run(ctx, node); }
