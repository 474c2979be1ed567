/*
 * internal.h — what the loader, the session and the ops share.
 *
 * The life of a model:
 *   load     (loader.c)   parse and check the file: header, section table,
 *                          CRCs, tensor and node tables — every offset, length,
 *                          count and index is bounds-checked before use;
 *   prepare  (ops_*.c)    each node's op checks its operands against its own
 *                          rules (dtypes, shapes, parameters), then does the
 *                          work that can be done once: pack weights, fold zero
 *                          points into biases, size its scratch;
 *   run      (session.c)  nodes run in file order; an op's run does integer or
 *                          float work only and cannot fail except on run-time
 *                          data (an out-of-range gather index).
 * After a successful prepare an op's run may rely on everything its prepare
 * checked: that is how a hostile file is kept from driving a kernel out of
 * bounds.  What the loader guarantees every op: tensors lie inside the arena or
 * DATA, have nbytes = numel × element size, and their data is aligned to the
 * element size (constants to 64 bytes).  The exception are encoded constants
 * (csr/bsr, format 1.1): nbytes is their blob's size, the loader has checked the
 * blob against every rule of docs/artifact.md, and they reach no op but as the
 * weights (input 1) of qspmm and spmm (ops_sparse.c).
 */
#ifndef IRC_INTERNAL_H
#define IRC_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "irc_runtime.h"

#define IRC_ERROR_SIZE 512
#define IRC_ALIGN 64              /* arena, scratch and packed buffers */
#define IRC_NONE 0xFFFFFFFFu      /* an absent optional operand in the argument table */

/* Where a tensor's bytes live. */
enum { IRC_STORE_ARENA = 0, IRC_STORE_CONST = 1 };
/* Quantization kind of a tensor. */
enum { IRC_QUANT_NONE = 0, IRC_QUANT_TENSOR = 1, IRC_QUANT_AXIS = 2 };

typedef struct irc_tensor {
    const char *name;
    irc_dtype dtype;
    int rank;
    int storage;                  /* IRC_STORE_* */
    int quant;                    /* IRC_QUANT_* */
    int64_t dims[IRC_MAX_RANK];
    int64_t numel;                /* product of dims (1 for rank 0) */
    size_t nbytes;                /* numel * element size */
    uint64_t offset;              /* arena offset, or offset into the DATA section */
    uint32_t encoding;            /* constants: IRC_ENC_* (dense; csr, bsr since format 1.1) */
    uint32_t enc_params[4];       /* csr/bsr: r, c, nnzb, index_bytes (checked by the loader) */
    float scale;                  /* IRC_QUANT_TENSOR */
    int32_t zero_point;
    int32_t quant_axis;           /* IRC_QUANT_AXIS: the axis; params are node operands */
    void *data;                   /* resolved: arena base + offset, or the constant */
} irc_tensor;

struct irc_op;

typedef struct irc_node {
    const struct irc_op *op;
    uint32_t code;                /* the op code from the file */
    uint32_t index;               /* position in the node table */
    const char *name;             /* the IR value it produces, for messages */
    int n_in, n_out;
    irc_tensor **in;              /* in[i] == NULL: optional operand absent */
    irc_tensor **out;
    int n_params;
    const int32_t *params;        /* op-specific parameter words (host order) */
    void *state;                  /* op-owned, allocated by prepare with irc_alloc */
    size_t scratch;               /* bytes of scratch run needs (set by prepare) */
} irc_node;

struct irc_qgemm_family;
struct irc_sgemm_family;
struct irc_kernels;

/* What prepare and run see.  One per session. */
typedef struct irc_ctx {
    irc_allocator alloc;
    char *error;                  /* IRC_ERROR_SIZE bytes, the session's message */
    uint32_t isa;                 /* IRC_ISA_* bits the session may use */
    const struct irc_kernels *k;  /* the kernel table chosen for `isa` */
    int num_threads;
    struct irc_pool *pool;        /* NULL when single-threaded */
    void *scratch;                /* IRC_ALIGN-aligned, max over nodes of node->scratch */
    size_t scratch_size;
    const irc_node *node;         /* the node being prepared or run (for messages) */
} irc_ctx;

typedef struct irc_op {
    const char *name;
    /* Check the node (dtypes, shapes, parameter words, operand counts) and do
     * the one-time work.  Return IRC_OK, or irc_node_fail(...). */
    irc_status (*prepare)(irc_ctx *ctx, irc_node *node);
    /* Compute the outputs.  Scratch is ctx->scratch (node->scratch bytes). */
    irc_status (*run)(irc_ctx *ctx, const irc_node *node);
} irc_op;

/* The op table (ops.def), indexed by code; NULL where a code is unused. */
const irc_op *irc_op_lookup(uint32_t code);
#define IRC_OP(code, ID, name, prepare, run) \
    irc_status prepare(irc_ctx *ctx, irc_node *node); \
    irc_status run(irc_ctx *ctx, const irc_node *node);
#include "ops.def"
#undef IRC_OP

/* --- errors ------------------------------------------------------------------------------ */

/* Set the session's message (printf-style) and return `status`. */
irc_status irc_fail(irc_ctx *ctx, irc_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Same, prefixed with the node: "node 12 'conv1' (qconv2d): ..."; IRC_ERR_FORMAT. */
irc_status irc_node_fail(irc_ctx *ctx, const irc_node *node, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* --- memory -------------------------------------------------------------------------------- */

void *irc_alloc(irc_ctx *ctx, size_t size);        /* IRC_ALIGN-aligned; NULL on failure */
void *irc_calloc(irc_ctx *ctx, size_t size);       /* zero-filled */
void irc_free(irc_ctx *ctx, void *ptr);            /* NULL is fine */

/* Overflow-checked size arithmetic: 1 on success, 0 if the result does not fit. */
static inline int irc_mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}
static inline int irc_add_ok(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}
static inline size_t irc_round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

/* --- parameter words and operand checks (for prepare) -------------------------------------- */

static inline float irc_param_f32(const irc_node *node, int i) {
    float f;
    uint32_t u = (uint32_t)node->params[i];
    memcpy(&f, &u, sizeof f);
    return f;
}
size_t irc_dtype_size(irc_dtype dtype);            /* 0 for an unknown code */
const char *irc_dtype_name(irc_dtype dtype);
/* Fail unless the node has n_in inputs (counting absent optional ones) and n_out outputs, and
 * at least n_params parameter words.  Pass -1 to skip a count. */
irc_status irc_check_arity(irc_ctx *ctx, const irc_node *node, int n_in, int n_out, int n_params);
/* Fail unless input/output i is present (not IRC_NONE). */
irc_status irc_check_present(irc_ctx *ctx, const irc_node *node, int input);
/* Fail unless t's dtype is one of the given codes (a 0-terminated list). */
irc_status irc_check_dtype(irc_ctx *ctx, const irc_node *node, const irc_tensor *t,
                           const char *what, ...);
/* Fail unless t has exactly these dims. */
irc_status irc_check_shape(irc_ctx *ctx, const irc_node *node, const irc_tensor *t,
                           const char *what, int rank, const int64_t *dims);
/* Fail unless t is a constant. */
irc_status irc_check_const(irc_ctx *ctx, const irc_node *node, const irc_tensor *t,
                           const char *what);

/* The geometry of a 2-D convolution node (qconv2d, conv2d): parameter words 0..8 are
 * stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, dil_h, dil_w, groups. */
typedef struct irc_conv_geom {
    int64_t N, C, H, W, OC, KH, KW, OH, OW, groups, Cg, OCg, Kg;
    int32_t sh, sw, pt, pl, pb, pr, dh, dw;
    int pointwise;                /* 1×1 kernel, stride 1, no padding */
} irc_conv_geom;
/* Check the words against x [N,C,H,W] and w [OC,C/groups,KH,KW] (both 4-D) — strides and
 * dilations 1..2^20, pads 0..2^20, groups dividing both channel counts, the kernel inside the
 * padded input — and y against [N, OC, OH, OW] with
 *   OH = (H + pt + pb − dh·(KH − 1) − 1) / sh + 1,   OW likewise. */
irc_status irc_conv_geometry(irc_ctx *ctx, const irc_node *node, const irc_tensor *x,
                             const irc_tensor *w, const irc_tensor *y, irc_conv_geom *g);

#define IRC_TRY(expr) do { irc_status s_ = (expr); if (s_ != IRC_OK) return s_; } while (0)

/* --- threads ------------------------------------------------------------------------------- */

/* Run fn(arg, begin, end) over [0, n) split into at most ctx->num_threads contiguous chunks
 * whose boundaries are multiples of `grain` (except the last end).  Returns when all are done. */
typedef void (*irc_range_fn)(void *arg, int64_t begin, int64_t end);
void irc_parallel_for(irc_ctx *ctx, int64_t n, int64_t grain, irc_range_fn fn, void *arg);

#endif /* IRC_INTERNAL_H */
