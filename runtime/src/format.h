/*
 * format.h — the .ircm layout (docs/artifact.md is the normative description):
 * sizes, offsets and codes the loader reads.  Fields are read with the
 * little-endian accessors below, never by casting file bytes to structs, so
 * the loader works on any host byte order and alignment.
 */
#ifndef IRC_FORMAT_H
#define IRC_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define IRC_MAGIC "\x89IRCM\r\n\x1a"
#define IRC_HEADER_SIZE 64
#define IRC_SECTION_ENTRY_SIZE 32
#define IRC_MAX_SECTIONS 64
#define IRC_TENSOR_RECORD_MIN 80
#define IRC_NODE_RECORD_MIN 32

/* Section kinds: four ASCII bytes read as a little-endian u32. */
#define IRC_FOURCC(a, b, c, d) \
    ((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))
#define IRC_SEC_STRS IRC_FOURCC('S', 'T', 'R', 'S')
#define IRC_SEC_TENS IRC_FOURCC('T', 'E', 'N', 'S')
#define IRC_SEC_NODE IRC_FOURCC('N', 'O', 'D', 'E')
#define IRC_SEC_ARGS IRC_FOURCC('A', 'R', 'G', 'S')
#define IRC_SEC_PRMS IRC_FOURCC('P', 'R', 'M', 'S')
#define IRC_SEC_GRPH IRC_FOURCC('G', 'R', 'P', 'H')
#define IRC_SEC_DATA IRC_FOURCC('D', 'A', 'T', 'A')

/* Constant encodings (tensor record field `encoding`). */
enum { IRC_ENC_DENSE = 0, IRC_ENC_CSR = 1, IRC_ENC_BSR = 2, IRC_ENC_BITPACK = 3,
       IRC_ENC_CODEBOOK = 4, IRC_ENC_HUFFMAN = 5 };

/* Targets (header field `target`). */
enum { IRC_TARGET_GENERIC = 0, IRC_TARGET_X86_64 = 1, IRC_TARGET_ARM64 = 2 };

static inline uint16_t irc_rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t irc_rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t irc_rd64(const uint8_t *p) {
    return (uint64_t)irc_rd32(p) | ((uint64_t)irc_rd32(p + 4) << 32);
}

/* The geometry of a csr/bsr tensor (docs/artifact.md, "Sparse encodings"): the matrix
 * W[R][C] (R = dims[0], C = numel / R) in r × c blocks on a BR × BC grid, nnzb stored, column
 * indices of ib bytes; the blob is row_ptr u32[BR + 1] at 0, col_idx at 4·(BR + 1), the
 * values at V.  Only for parameters the loader has checked (no overflow is possible then). */
typedef struct irc_sparse_geom {
    size_t R, C, r, c, BR, BC, nnzb, ib, V;
} irc_sparse_geom;

static inline void irc_sparse_geometry(int64_t rows, int64_t numel, const uint32_t params[4],
                                       irc_sparse_geom *g) {
    g->R = (size_t)rows;
    g->C = (size_t)numel / g->R;
    g->r = params[0], g->c = params[1], g->nnzb = params[2], g->ib = params[3];
    g->BR = (g->R + g->r - 1) / g->r;
    g->BC = (g->C + g->c - 1) / g->c;
    g->V = (4 * (g->BR + 1) + g->ib * g->nnzb + 63) / 64 * 64;
}

/* Block column of stored block e (a checked blob). */
static inline size_t irc_sparse_col(const uint8_t *blob, const irc_sparse_geom *g, size_t e) {
    const uint8_t *p = blob + 4 * (g->BR + 1) + e * g->ib;
    return g->ib == 1 ? p[0] : g->ib == 2 ? irc_rd16(p) : irc_rd32(p);
}

uint32_t irc_crc32(const uint8_t *data, size_t size);

#endif /* IRC_FORMAT_H */
