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

uint32_t irc_crc32(const uint8_t *data, size_t size);

#endif /* IRC_FORMAT_H */
