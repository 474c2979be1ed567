/*
 * loader.c — from artifact bytes to a prepared session (docs/artifact.md,
 * "What a reader checks").
 *
 * Order: header → section table → sections' CRCs → strings → tensors →
 * arguments/parameters → graph → nodes → dataflow → arena → each op's
 * prepare.  Nothing is dereferenced before its bounds are checked; sizes taken
 * from the file are checked for overflow and against the bytes that hold them
 * (a count of N records needs N × record_size bytes of its section) before
 * anything is allocated from them, so a hostile header cannot make the loader
 * allocate more than a small multiple of the file's own size (the arena is
 * capped separately by max_arena_bytes).
 */
#include <stdio.h>
#include <string.h>

#include "format.h"
#include "kernels/kernels.h"
#include "session.h"

typedef struct section {
    uint32_t kind;
    uint64_t offset, size;
} section;

typedef struct sections {
    section strs, tens, node, args, prms, grph, data;
} sections;

#define FAIL(...) irc_fail(&s->ctx, IRC_ERR_FORMAT, __VA_ARGS__)

static int kind_name(uint32_t kind, char out[5]) {
    for (int i = 0; i < 4; i++) {
        char c = (char)((kind >> (8 * i)) & 0xFF);
        out[i] = (c >= 32 && c < 127) ? c : '?';
    }
    out[4] = 0;
    return 0;
}

/* --- header and section table ---------------------------------------------------------------- */

static irc_status read_header(irc_session *s, const uint8_t *f, size_t size, uint64_t *arena_size,
                              uint32_t *n_sections, uint64_t *table) {
    if (size < IRC_HEADER_SIZE)
        return FAIL("not an irc artifact: %zu bytes is shorter than the 64-byte header", size);
    if (memcmp(f, IRC_MAGIC, 8) != 0)
        return FAIL("not an irc artifact: bad magic at offset 0 (expected \\x89IRCM\\r\\n\\x1a)");
    uint16_t major = irc_rd16(f + 8), minor = irc_rd16(f + 10);
    if (major != IRC_FORMAT_VERSION_MAJOR)
        return irc_fail(&s->ctx, IRC_ERR_VERSION,
                        "artifact format %u.%u; this runtime reads format %d.x — recompile the "
                        "model with a matching irc, or update the runtime",
                        major, minor, IRC_FORMAT_VERSION_MAJOR);
    if (irc_rd32(f + 12) != IRC_HEADER_SIZE)
        return FAIL("header_size at offset 12 is %u, expected 64", irc_rd32(f + 12));
    uint64_t file_size = irc_rd64(f + 16);
    if (file_size != size)
        return FAIL("the header says the file has %llu bytes but %zu were given (truncated or "
                    "padded file)", (unsigned long long)file_size, size);
    uint32_t crc = irc_crc32(f, 60);
    if (crc != irc_rd32(f + 60))
        return FAIL("header checksum mismatch (offset 60): the file is corrupt");
    s->target = irc_rd32(f + 24);
    if (s->target > IRC_TARGET_ARM64) return FAIL("unknown target %u at offset 24", s->target);
    uint32_t required = irc_rd32(f + 28);
    uint32_t have = irc_cpu_isas();
    if (required & ~have)
        return irc_fail(&s->ctx, IRC_ERR_UNSUPPORTED,
                        "the artifact requires CPU features 0x%x, this CPU/build has 0x%x",
                        required, have);
    *n_sections = irc_rd32(f + 36);
    *table = irc_rd64(f + 40);
    *arena_size = irc_rd64(f + 48);
    return IRC_OK;
}

static irc_status read_sections(irc_session *s, const uint8_t *f, size_t size, uint32_t n,
                                uint64_t table, sections *out) {
    if (n > IRC_MAX_SECTIONS) return FAIL("section_count %u exceeds %d", n, IRC_MAX_SECTIONS);
    if (table < IRC_HEADER_SIZE || table > size || (size - table) / IRC_SECTION_ENTRY_SIZE < n)
        return FAIL("section table at offset %llu (%u entries) lies outside the file",
                    (unsigned long long)table, n);
    section all[IRC_MAX_SECTIONS];
    memset(out, 0, sizeof *out);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = f + table + (uint64_t)i * IRC_SECTION_ENTRY_SIZE;
        section sec = {irc_rd32(e), irc_rd64(e + 8), irc_rd64(e + 16)};
        char name[5];
        kind_name(sec.kind, name);
        uint64_t table_end = table + (uint64_t)n * IRC_SECTION_ENTRY_SIZE;
        if (sec.offset < table_end && sec.offset + sec.size > table) {
            if (sec.size != 0) return FAIL("section %s overlaps the section table", name);
        }
        if (sec.offset < IRC_HEADER_SIZE || sec.offset > size || sec.size > size - sec.offset)
            return FAIL("section %s (entry %u: offset %llu, size %llu) lies outside the "
                        "%zu-byte file", name, i, (unsigned long long)sec.offset,
                        (unsigned long long)sec.size, size);
        if (irc_crc32(f + sec.offset, (size_t)sec.size) != irc_rd32(e + 24))
            return FAIL("section %s at offset %llu: checksum mismatch (the file is corrupt)",
                        name, (unsigned long long)sec.offset);
        for (uint32_t j = 0; j < i; j++) {
            if (sec.size && all[j].size && sec.offset < all[j].offset + all[j].size &&
                all[j].offset < sec.offset + sec.size)
                return FAIL("section %s overlaps section entry %u", name, j);
        }
        all[i] = sec;
        section *slot = NULL;
        switch (sec.kind) {
        case IRC_SEC_STRS: slot = &out->strs; break;
        case IRC_SEC_TENS: slot = &out->tens; break;
        case IRC_SEC_NODE: slot = &out->node; break;
        case IRC_SEC_ARGS: slot = &out->args; break;
        case IRC_SEC_PRMS: slot = &out->prms; break;
        case IRC_SEC_GRPH: slot = &out->grph; break;
        case IRC_SEC_DATA: slot = &out->data; break;
        default: continue;   /* a newer minor version's section: skipped */
        }
        if (slot->kind) return FAIL("section %s appears twice", name);
        *slot = sec;
    }
    const section *need[] = {&out->strs, &out->tens, &out->node, &out->args, &out->prms,
                             &out->grph, &out->data};
    const char *names[] = {"STRS", "TENS", "NODE", "ARGS", "PRMS", "GRPH", "DATA"};
    for (int i = 0; i < 7; i++)
        if (!need[i]->kind) return FAIL("required section %s is missing", names[i]);
    if (out->data.offset % IRC_ALIGN) return FAIL("section DATA is not 64-byte aligned");
    return IRC_OK;
}

/* --- strings ---------------------------------------------------------------------------------- */

static irc_status string_at(irc_session *s, uint32_t ref, const char *what, uint32_t index,
                            const char **out) {
    if (ref >= s->strings_size)
        return FAIL("%s %u: name reference %u is outside STRS (%zu bytes)", what, index, ref,
                    s->strings_size);
    *out = s->strings + ref;   /* STRS ends with NUL, so the string is terminated */
    return IRC_OK;
}

/* --- sparse constants (csr/bsr, format 1.1) -------------------------------------------------------
 *
 * docs/artifact.md, "Sparse encodings": the tensor is the matrix W[R][C] (R = dims[0], C =
 * the other dims' product) in r × c blocks on a BR × BC grid; the blob is row_ptr u32[BR + 1],
 * col_idx (nnzb indices of index_bytes each), zero padding up to V = align64(4·(BR + 1) +
 * index_bytes·nnzb), then nnzb row-major blocks of r·c elements.  sparse_layout checks the
 * parameters and the size (before the bounds check against DATA), sparse_blob the contents;
 * after both, ops_sparse.c may walk the blob without further checks. */

static irc_status sparse_layout(irc_session *s, uint32_t i, irc_tensor *t, size_t esize,
                                uint64_t stored) {
    const char *kind = t->encoding == IRC_ENC_CSR ? "csr" : "bsr";
    uint32_t r = t->enc_params[0], c = t->enc_params[1], nnzb = t->enc_params[2],
             ib = t->enc_params[3];
    if (t->storage != IRC_STORE_CONST)
        return FAIL("tensor %u '%s': only constants may be encoded (%s)", i, t->name, kind);
    if (t->rank < 1)
        return FAIL("tensor %u '%s': a %s tensor needs rank >= 1", i, t->name, kind);
    if (r < 1 || r > 64 || c < 1 || c > 64)
        return FAIL("tensor %u '%s': %s block %ux%u (sides must be 1..64)", i, t->name, kind, r,
                    c);
    if (t->encoding == IRC_ENC_CSR && (r != 1 || c != 1))
        return FAIL("tensor %u '%s': csr has 1x1 blocks, the record says %ux%u", i, t->name, r,
                    c);
    size_t R = (size_t)t->dims[0], C = (size_t)t->numel / R;
    size_t BR = (R + r - 1) / r, BC = (C + c - 1) / c, grid;
    if (ib != 1 && ib != 2 && ib != 4)
        return FAIL("tensor %u '%s': %s index_bytes %u (must be 1, 2 or 4)", i, t->name, kind,
                    ib);
    if (ib < 4 && (uint64_t)BC > ((uint64_t)1 << (8 * ib)))
        return FAIL("tensor %u '%s': %u-byte column indices cannot hold block column %zu", i,
                    t->name, ib, BC - 1);
    if ((uint64_t)BC - 1 > UINT32_MAX)
        return FAIL("tensor %u '%s': %zu block columns exceed 32-bit indices", i, t->name, BC);
    if (!irc_mul_ok(BR, BC, &grid) || nnzb > grid)
        return FAIL("tensor %u '%s': nnzb %u exceeds the %zu x %zu block grid", i, t->name,
                    nnzb, BR, BC);
    /* nbytes = align64(4·(BR + 1) + ib·nnzb) + nnzb·r·c·esize, every step checked */
    size_t head, idx, v, vals, total;
    if (!irc_add_ok(BR, 1, &head) || !irc_mul_ok(head, 4, &head) ||
        !irc_mul_ok(ib, nnzb, &idx) || !irc_add_ok(head, idx, &v) ||
        !irc_add_ok(v, IRC_ALIGN - 1, &v) || !irc_mul_ok((size_t)nnzb, (size_t)r * c, &vals) ||
        !irc_mul_ok(vals, esize, &vals) || !irc_add_ok(v / IRC_ALIGN * IRC_ALIGN, vals, &total))
        return FAIL("tensor %u '%s': %s blob size overflows", i, t->name, kind);
    if (stored != total)
        return FAIL("tensor %u '%s': nbytes %llu, but a %s blob of %u %ux%u blocks with %u-byte "
                    "indices on a %zu x %zu matrix takes %zu", i, t->name,
                    (unsigned long long)stored, kind, nnzb, r, c, ib, R, C, total);
    t->nbytes = total;
    return IRC_OK;
}

static int all_zero(const uint8_t *p, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (p[k]) return 0;
    return 1;
}

static irc_status sparse_blob(irc_session *s, uint32_t i, const irc_tensor *t, size_t esize) {
    const char *kind = t->encoding == IRC_ENC_CSR ? "csr" : "bsr";
    irc_sparse_geom g;
    irc_sparse_geometry(t->dims[0], t->numel, t->enc_params, &g);
    const uint8_t *b = t->data, *vals = b + g.V;
    if (irc_rd32(b) != 0)
        return FAIL("tensor %u '%s': %s row_ptr[0] is %u, must be 0", i, t->name, kind,
                    irc_rd32(b));
    size_t prev = 0;
    for (size_t br = 0; br < g.BR; br++) {
        size_t end = irc_rd32(b + 4 * (br + 1));
        if (end < prev || end > g.nnzb)
            return FAIL("tensor %u '%s': %s row_ptr[%zu] = %zu (must be %zu..nnzb = %zu, "
                        "non-decreasing)", i, t->name, kind, br + 1, end, prev, g.nnzb);
        size_t last = 0;
        for (size_t e = prev; e < end; e++) {
            size_t bc = irc_sparse_col(b, &g, e);
            if (bc >= g.BC)
                return FAIL("tensor %u '%s': %s col_idx[%zu] = %zu is not below %zu block "
                            "columns", i, t->name, kind, e, bc, g.BC);
            if (e > prev && bc <= last)
                return FAIL("tensor %u '%s': %s col_idx not strictly increasing in block row "
                            "%zu (entry %zu: %zu after %zu)", i, t->name, kind, br, e, bc, last);
            last = bc;
            /* an edge block's elements outside R × C are 0 */
            size_t rows = g.R - br * g.r < g.r ? g.R - br * g.r : g.r;
            size_t cols = g.C - bc * g.c < g.c ? g.C - bc * g.c : g.c;
            if (rows < g.r || cols < g.c) {
                const uint8_t *blk = vals + e * g.r * g.c * esize;
                for (size_t ii = 0; ii < g.r; ii++) {
                    size_t from = ii < rows ? cols : 0;
                    if (!all_zero(blk + (ii * g.c + from) * esize, (g.c - from) * esize))
                        return FAIL("tensor %u '%s': %s block %zu (block row %zu, column %zu) "
                                    "holds a non-zero element outside the %zu x %zu matrix", i,
                                    t->name, kind, e, br, bc, g.R, g.C);
                }
            }
        }
        prev = end;
    }
    if (prev != g.nnzb)
        return FAIL("tensor %u '%s': %s row_ptr[%zu] = %zu, must equal nnzb = %zu", i, t->name,
                    kind, g.BR, prev, g.nnzb);
    size_t pad_at = 4 * (g.BR + 1) + g.ib * g.nnzb;
    if (!all_zero(b + pad_at, g.V - pad_at))
        return FAIL("tensor %u '%s': %s padding bytes before the values are not zero", i,
                    t->name, kind);
    return IRC_OK;
}

/* --- tensors ---------------------------------------------------------------------------------- */

static irc_status read_tensor(irc_session *s, const uint8_t *r, uint32_t i, uint64_t arena_size,
                              irc_tensor *t) {
    IRC_TRY(string_at(s, irc_rd32(r), "tensor", i, &t->name));
    t->dtype = (irc_dtype)r[4];
    t->rank = r[5];
    t->storage = r[6];
    t->quant = r[7];
    size_t esize = irc_dtype_size(t->dtype);
    if (!esize) return FAIL("tensor %u '%s': unknown dtype code %u", i, t->name, r[4]);
    if (t->rank > IRC_MAX_RANK)
        return FAIL("tensor %u '%s': rank %d exceeds %d", i, t->name, t->rank, IRC_MAX_RANK);
    size_t numel = 1;
    for (int d = 0; d < IRC_MAX_RANK; d++) {
        uint32_t dim = irc_rd32(r + 8 + 4 * d);
        if (d >= t->rank) {
            if (dim != 0) return FAIL("tensor %u '%s': dims past its rank must be 0", i, t->name);
            continue;
        }
        if (dim == 0 || dim > INT32_MAX)
            return FAIL("tensor %u '%s': dimension %d is %u (must be 1..2^31-1)", i, t->name, d,
                        dim);
        t->dims[d] = dim;
        if (!irc_mul_ok(numel, dim, &numel))
            return FAIL("tensor %u '%s': element count overflows", i, t->name);
    }
    size_t nbytes;
    if (!irc_mul_ok(numel, esize, &nbytes) || numel > (size_t)INT64_MAX)
        return FAIL("tensor %u '%s': byte size overflows", i, t->name);
    t->numel = (int64_t)numel;
    t->nbytes = nbytes;
    t->offset = irc_rd64(r + 32);
    uint64_t stored = irc_rd64(r + 40);
    t->encoding = irc_rd32(r + 60);
    if (t->encoding == IRC_ENC_CSR || t->encoding == IRC_ENC_BSR) {
        for (int k = 0; k < 4; k++) t->enc_params[k] = irc_rd32(r + 64 + 4 * k);
        IRC_TRY(sparse_layout(s, i, t, esize, stored));
        nbytes = t->nbytes;
    } else if (t->encoding != IRC_ENC_DENSE) {
        return irc_fail(&s->ctx, IRC_ERR_UNSUPPORTED,
                        "tensor %u '%s': constant encoding %u is not supported by this runtime "
                        "(format 1.1 reads dense, csr and bsr)", i, t->name, t->encoding);
    } else if (stored != nbytes) {
        return FAIL("tensor %u '%s': nbytes %llu does not match its %s shape (%zu bytes)", i,
                    t->name, (unsigned long long)stored, irc_dtype_name(t->dtype), nbytes);
    }
    if (t->storage == IRC_STORE_ARENA) {
        if (t->offset % esize)
            return FAIL("tensor %u '%s': arena offset %llu is not a multiple of its %zu-byte "
                        "elements", i, t->name, (unsigned long long)t->offset, esize);
        if (t->offset > arena_size || nbytes > arena_size - t->offset)
            return FAIL("tensor %u '%s': arena bytes [%llu, +%zu) exceed the %llu-byte arena", i,
                        t->name, (unsigned long long)t->offset, nbytes,
                        (unsigned long long)arena_size);
    } else if (t->storage == IRC_STORE_CONST) {
        if (t->offset % IRC_ALIGN)
            return FAIL("tensor %u '%s': constant offset %llu is not 64-byte aligned", i, t->name,
                        (unsigned long long)t->offset);
        if (t->offset > s->data_size || nbytes > s->data_size - t->offset)
            return FAIL("tensor %u '%s': constant bytes [%llu, +%zu) exceed DATA (%zu bytes)", i,
                        t->name, (unsigned long long)t->offset, nbytes, s->data_size);
        t->data = (void *)(s->data + t->offset);
        if (t->encoding != IRC_ENC_DENSE) IRC_TRY(sparse_blob(s, i, t, esize));
    } else {
        return FAIL("tensor %u '%s': unknown storage %d", i, t->name, t->storage);
    }
    memcpy(&t->scale, r + 48, 4);
    t->zero_point = (int32_t)irc_rd32(r + 52);
    t->quant_axis = (int32_t)irc_rd32(r + 56);
    if (t->quant == IRC_QUANT_TENSOR) {
        if (!(t->scale > 0.0f && t->scale < 3.4e38f))
            return FAIL("tensor %u '%s': scale must be finite and > 0", i, t->name);
        int32_t lo = t->dtype == IRC_I8 ? -128 : 0, hi = t->dtype == IRC_I8 ? 127 : 255;
        if (t->dtype == IRC_I32) lo = INT32_MIN, hi = INT32_MAX;
        if (t->dtype != IRC_I8 && t->dtype != IRC_U8 && t->dtype != IRC_I32)
            return FAIL("tensor %u '%s': a %s tensor cannot be quantized", i, t->name,
                        irc_dtype_name(t->dtype));
        if (t->zero_point < lo || t->zero_point > hi)
            return FAIL("tensor %u '%s': zero point %d outside %s", i, t->name, t->zero_point,
                        irc_dtype_name(t->dtype));
    } else if (t->quant == IRC_QUANT_AXIS) {
        if (t->quant_axis < 0 || t->quant_axis >= t->rank)
            return FAIL("tensor %u '%s': quantization axis %d outside rank %d", i, t->name,
                        t->quant_axis, t->rank);
    } else if (t->quant != IRC_QUANT_NONE) {
        return FAIL("tensor %u '%s': unknown quantization kind %d", i, t->name, t->quant);
    }
    return IRC_OK;
}

/* A u32 count at the start of a section followed by `count` items of `item` bytes (after
 * `skip` further header bytes): checked to fit the section. */
static irc_status counted(irc_session *s, const uint8_t *f, const section *sec, const char *name,
                          size_t head, size_t item, uint32_t *count) {
    if (sec->size < head) return FAIL("section %s is too short (%llu bytes)", name,
                                      (unsigned long long)sec->size);
    *count = irc_rd32(f + sec->offset);
    if (item && *count > (sec->size - head) / item)
        return FAIL("section %s: %u entries of %zu bytes do not fit its %llu bytes", name, *count,
                    item, (unsigned long long)sec->size);
    return IRC_OK;
}

static irc_status read_tensors(irc_session *s, const uint8_t *f, const section *sec,
                               uint64_t arena_size) {
    uint32_t count = 0;
    IRC_TRY(counted(s, f, sec, "TENS", 8, 0, &count));
    uint32_t rsize = irc_rd32(f + sec->offset + 4);
    if (rsize < IRC_TENSOR_RECORD_MIN || rsize > 4096)
        return FAIL("TENS record size %u (expected >= %d)", rsize, IRC_TENSOR_RECORD_MIN);
    if (count > (sec->size - 8) / rsize)
        return FAIL("section TENS: %u records of %u bytes do not fit its %llu bytes", count,
                    rsize, (unsigned long long)sec->size);
    s->n_tensors = count;
    s->tensors = irc_calloc(&s->ctx, (size_t)count * sizeof(irc_tensor));
    if (!s->tensors) return irc_fail(&s->ctx, IRC_ERR_NO_MEMORY, "out of memory (tensor table)");
    for (uint32_t i = 0; i < count; i++)
        IRC_TRY(read_tensor(s, f + sec->offset + 8 + (uint64_t)i * rsize, i, arena_size,
                            &s->tensors[i]));
    return IRC_OK;
}

/* --- nodes, arguments, graph -------------------------------------------------------------------- */

static irc_status tensor_ref(irc_session *s, uint32_t index, const char *what, irc_tensor **out) {
    if (index >= s->n_tensors)
        return FAIL("%s refers to tensor %u, but there are %u", what, index, s->n_tensors);
    *out = &s->tensors[index];
    return IRC_OK;
}

static irc_status read_nodes(irc_session *s, const uint8_t *f, const sections *sec) {
    uint32_t n_args = 0, n_params = 0, count = 0;
    IRC_TRY(counted(s, f, &sec->args, "ARGS", 4, 4, &n_args));
    IRC_TRY(counted(s, f, &sec->prms, "PRMS", 4, 4, &n_params));
    IRC_TRY(counted(s, f, &sec->node, "NODE", 8, 0, &count));
    uint32_t rsize = irc_rd32(f + sec->node.offset + 4);
    if (rsize < IRC_NODE_RECORD_MIN || rsize > 4096)
        return FAIL("NODE record size %u (expected >= %d)", rsize, IRC_NODE_RECORD_MIN);
    if (count > (sec->node.size - 8) / rsize)
        return FAIL("section NODE: %u records of %u bytes do not fit its %llu bytes", count, rsize,
                    (unsigned long long)sec->node.size);
    const uint8_t *args = f + sec->args.offset + 4, *prms = f + sec->prms.offset + 4;

    s->params = irc_alloc(&s->ctx, (size_t)n_params * 4);
    s->n_nodes = count;
    s->nodes = irc_calloc(&s->ctx, (size_t)count * sizeof(irc_node));
    /* each argument slot is used by at most one node, so n_args pointers suffice */
    s->operands = irc_calloc(&s->ctx, (size_t)n_args * sizeof(irc_tensor *));
    if (!s->params || !s->nodes || !s->operands)
        return irc_fail(&s->ctx, IRC_ERR_NO_MEMORY, "out of memory (node table)");
    for (uint32_t i = 0; i < n_params; i++) s->params[i] = (int32_t)irc_rd32(prms + 4 * i);

    uint32_t used = 0;   /* argument slots handed out, to keep nodes from sharing them */
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *r = f + sec->node.offset + 8 + (uint64_t)i * rsize;
        irc_node *node = &s->nodes[i];
        node->index = i;
        node->code = irc_rd32(r);
        IRC_TRY(string_at(s, irc_rd32(r + 4), "node", i, &node->name));
        node->op = irc_op_lookup(node->code);
        if (!node->op)
            return irc_fail(&s->ctx, IRC_ERR_UNSUPPORTED,
                            "node %u '%s': unknown op code %u (an artifact from a newer irc?)", i,
                            node->name, node->code);
        uint32_t first = irc_rd32(r + 8), n_in = irc_rd16(r + 12), n_out = irc_rd16(r + 14);
        uint32_t first_param = irc_rd32(r + 16), np = irc_rd32(r + 20);
        if (n_out == 0) return FAIL("node %u '%s': no outputs", i, node->name);
        if (first > n_args || n_in + n_out > n_args - first)
            return FAIL("node %u '%s': arguments [%u, +%u) outside ARGS (%u entries)", i,
                        node->name, first, n_in + n_out, n_args);
        if (first < used)
            return FAIL("node %u '%s': its arguments overlap an earlier node's", i, node->name);
        used = first + n_in + n_out;
        if (first_param > n_params || np > n_params - first_param)
            return FAIL("node %u '%s': parameters [%u, +%u) outside PRMS (%u words)", i,
                        node->name, first_param, np, n_params);
        node->n_in = (int)n_in;
        node->n_out = (int)n_out;
        node->in = s->operands + first;
        node->out = node->in + n_in;
        node->n_params = (int)np;
        node->params = s->params + first_param;
        for (uint32_t a = 0; a < n_in + n_out; a++) {
            uint32_t ref = irc_rd32(args + 4 * (uint64_t)(first + a));
            if (ref == IRC_NONE && a < n_in) {
                node->in[a] = NULL;
                continue;
            }
            char what[48];
            snprintf(what, sizeof what, "node %u %s %u", i, a < n_in ? "input" : "output",
                     a < n_in ? a : a - n_in);
            IRC_TRY(tensor_ref(s, ref, what, &node->in[a]));
        }
    }
    return IRC_OK;
}

static irc_status read_graph(irc_session *s, const uint8_t *f, const section *sec) {
    if (sec->size < 8) return FAIL("section GRPH is too short");
    uint32_t n_in = irc_rd32(f + sec->offset), n_out = irc_rd32(f + sec->offset + 4);
    if (n_in > (sec->size - 8) / 4 || n_out > (sec->size - 8) / 4 - n_in)
        return FAIL("section GRPH: %u inputs and %u outputs do not fit its %llu bytes", n_in,
                    n_out, (unsigned long long)sec->size);
    if (n_out == 0) return FAIL("the graph has no outputs");
    s->n_inputs = (int)n_in;
    s->n_outputs = (int)n_out;
    s->inputs = irc_calloc(&s->ctx, (size_t)(n_in + n_out) * sizeof(irc_tensor *));
    if (!s->inputs) return irc_fail(&s->ctx, IRC_ERR_NO_MEMORY, "out of memory (graph)");
    s->outputs = s->inputs + n_in;
    for (uint32_t i = 0; i < n_in + n_out; i++) {
        char what[32];
        snprintf(what, sizeof what, "graph %s %u", i < n_in ? "input" : "output",
                 i < n_in ? i : i - n_in);
        IRC_TRY(tensor_ref(s, irc_rd32(f + sec->offset + 8 + 4 * (uint64_t)i), what,
                           &s->inputs[i]));
        if (s->inputs[i]->storage != IRC_STORE_ARENA)
            return FAIL("%s '%s' must be an arena tensor", what, s->inputs[i]->name);
    }
    return IRC_OK;
}

/* Encoded constants (csr/bsr) are read by the sparse ops' weight operand only: every other op
 * takes its constants dense (nbytes = numel × element size). */
static irc_status check_encoded_uses(irc_session *s) {
    for (uint32_t n = 0; n < s->n_nodes; n++) {
        const irc_node *node = &s->nodes[n];
        int sparse_op = node->code == 29 || node->code == 68;   /* qspmm, spmm */
        for (int a = 0; a < node->n_in; a++) {
            const irc_tensor *t = node->in[a];
            if (t && t->encoding != IRC_ENC_DENSE && !(sparse_op && a == 1))
                return FAIL("node %u '%s' (%s) reads the %s constant '%s' as input %d; only "
                            "the weights (input 1) of qspmm and spmm may be encoded", n,
                            node->name, node->op->name,
                            t->encoding == IRC_ENC_CSR ? "csr" : "bsr", t->name, a);
        }
    }
    return IRC_OK;
}

/* Every arena tensor a node reads was written before (by a graph input or an earlier node);
 * every node output is written once and is not a graph input; every graph output is written. */
static irc_status check_dataflow(irc_session *s) {
    uint8_t *written = irc_calloc(&s->ctx, s->n_tensors);
    if (!written) return irc_fail(&s->ctx, IRC_ERR_NO_MEMORY, "out of memory (dataflow check)");
    irc_status st = IRC_OK;
    for (int i = 0; i < s->n_inputs; i++) {
        size_t t = (size_t)(s->inputs[i] - s->tensors);
        if (written[t]) {
            st = FAIL("graph input '%s' is listed twice", s->inputs[i]->name);
            goto done;
        }
        written[t] = 1;
    }
    for (uint32_t n = 0; n < s->n_nodes; n++) {
        irc_node *node = &s->nodes[n];
        for (int a = 0; a < node->n_in; a++) {
            irc_tensor *t = node->in[a];
            if (t && t->storage == IRC_STORE_ARENA && !written[t - s->tensors]) {
                st = FAIL("node %u '%s' reads tensor '%s' before anything writes it", n,
                          node->name, t->name);
                goto done;
            }
        }
        for (int a = 0; a < node->n_out; a++) {
            irc_tensor *t = node->out[a];
            if (t->storage != IRC_STORE_ARENA || written[t - s->tensors]) {
                st = FAIL("node %u '%s' writes tensor '%s', which is a constant, a graph input "
                          "or written by another node", n, node->name, t->name);
                goto done;
            }
            written[t - s->tensors] = 1;
        }
    }
    for (int i = 0; i < s->n_outputs; i++) {
        if (!written[s->outputs[i] - s->tensors]) {
            st = FAIL("graph output '%s' is never computed", s->outputs[i]->name);
            goto done;
        }
    }
done:
    irc_free(&s->ctx, written);
    return st;
}

/* --- arena and prepare ---------------------------------------------------------------------------- */

static irc_status setup_arena(irc_session *s, uint64_t arena_size) {
    if (arena_size > s->opt.max_arena_bytes)
        return irc_fail(&s->ctx, IRC_ERR_NO_MEMORY,
                        "the model needs a %llu-byte arena, above this session's limit of %zu "
                        "(irc_options.max_arena_bytes)", (unsigned long long)arena_size,
                        s->opt.max_arena_bytes);
    s->arena_size = (size_t)arena_size;
    if (s->opt.arena) {
        if (s->opt.arena_size < s->arena_size)
            return irc_fail(&s->ctx, IRC_ERR_ARGUMENT,
                            "the caller's arena has %zu bytes; the model needs %zu",
                            s->opt.arena_size, s->arena_size);
        if ((uintptr_t)s->opt.arena % IRC_ALIGN)
            return irc_fail(&s->ctx, IRC_ERR_ARGUMENT, "the caller's arena must be 64-byte aligned");
        s->arena = s->opt.arena;
        s->arena_owned = 0;
    } else {
        s->arena = irc_calloc(&s->ctx, s->arena_size);
        if (!s->arena)
            return irc_fail(&s->ctx, IRC_ERR_NO_MEMORY, "out of memory (a %zu-byte arena)",
                            s->arena_size);
        s->arena_owned = 1;
    }
    for (uint32_t i = 0; i < s->n_tensors; i++)
        if (s->tensors[i].storage == IRC_STORE_ARENA)
            s->tensors[i].data = s->arena + s->tensors[i].offset;
    return IRC_OK;
}

static irc_status prepare_nodes(irc_session *s) {
    size_t scratch = 0;
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        irc_node *node = &s->nodes[i];
        s->ctx.node = node;
        irc_status st = node->op->prepare(&s->ctx, node);
        if (st != IRC_OK) return st;
        if (node->scratch > scratch) scratch = node->scratch;
    }
    s->ctx.node = NULL;
    if (scratch > s->opt.max_arena_bytes)
        return irc_fail(&s->ctx, IRC_ERR_NO_MEMORY, "kernels need %zu bytes of scratch, above "
                        "max_arena_bytes", scratch);
    s->ctx.scratch = irc_alloc(&s->ctx, scratch);
    if (!s->ctx.scratch)
        return irc_fail(&s->ctx, IRC_ERR_NO_MEMORY, "out of memory (%zu bytes of scratch)", scratch);
    s->ctx.scratch_size = scratch;
    return IRC_OK;
}

/* --- the whole load --------------------------------------------------------------------------------- */

void irc_unload(irc_session *s) {
    for (uint32_t i = 0; s->nodes && i < s->n_nodes; i++) irc_free(&s->ctx, s->nodes[i].state);
    irc_free(&s->ctx, s->ctx.scratch);
    if (s->arena_owned) irc_free(&s->ctx, s->arena);
    irc_free(&s->ctx, s->inputs);
    irc_free(&s->ctx, s->operands);
    irc_free(&s->ctx, s->nodes);
    irc_free(&s->ctx, s->params);
    irc_free(&s->ctx, s->tensors);
    irc_free(&s->ctx, s->file);
    s->ctx.scratch = NULL;
    s->ctx.scratch_size = 0;
    s->arena = NULL;
    s->arena_owned = 0;
    s->inputs = s->outputs = NULL;
    s->operands = NULL;
    s->nodes = NULL;
    s->params = NULL;
    s->tensors = NULL;
    s->file = NULL;
    s->n_nodes = s->n_tensors = 0;
    s->n_inputs = s->n_outputs = 0;
    s->loaded = 0;
}

static irc_status load(irc_session *s, const uint8_t *bytes, size_t size) {
    uint64_t arena_size = 0, table = 0;
    uint32_t n_sections = 0;
    IRC_TRY(read_header(s, bytes, size, &arena_size, &n_sections, &table));
    s->file = irc_alloc(&s->ctx, size);
    if (!s->file)
        return irc_fail(&s->ctx, IRC_ERR_NO_MEMORY, "out of memory (a %zu-byte artifact)", size);
    memcpy(s->file, bytes, size);
    s->file_size = size;
    const uint8_t *f = s->file;
    sections sec;
    IRC_TRY(read_sections(s, f, size, n_sections, table, &sec));
    if (sec.strs.size == 0 || f[sec.strs.offset + sec.strs.size - 1] != 0)
        return FAIL("section STRS must end with a NUL byte");
    s->strings = (const char *)f + sec.strs.offset;
    s->strings_size = (size_t)sec.strs.size;
    s->data = f + sec.data.offset;
    s->data_size = (size_t)sec.data.size;
    IRC_TRY(read_tensors(s, f, &sec.tens, arena_size));
    IRC_TRY(read_nodes(s, f, &sec));
    IRC_TRY(read_graph(s, f, &sec.grph));
    IRC_TRY(check_encoded_uses(s));
    IRC_TRY(check_dataflow(s));
    IRC_TRY(setup_arena(s, arena_size));
    IRC_TRY(prepare_nodes(s));
    return IRC_OK;
}

irc_status irc_load(irc_session *s, const void *bytes, size_t size) {
    irc_status st = load(s, bytes, size);
    if (st != IRC_OK) {
        irc_unload(s);
        return st;
    }
    s->loaded = 1;
    return IRC_OK;
}
