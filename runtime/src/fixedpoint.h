/*
 * fixedpoint.h — the requantization rule every integer kernel applies, in C.
 *
 * The normative definition is irc/fixedpoint.py (gemmlowp/TFLite double
 * rounding); these functions are its scalar twins, bit for bit:
 *
 *   SRDHM(a, b) = INT32_MAX                    if a == b == INT32_MIN
 *               = trunc((a·b + nudge) / 2^31)  nudge = 2^30 if a·b >= 0 else 1 − 2^30
 *   RDBP(x, k)  = (x >> k) + (rem > thr)       rem = x & (2^k − 1),
 *                                              thr = ((2^k − 1) >> 1) + (x < 0)
 *   MBQM(x, m, shift) = RDBP(SRDHM(wrap32(x · 2^max(shift,0)), m), max(−shift, 0))
 *
 * SIMD kernels emulate these exactly (ARM: SQRDMULH + a rounding shift with a
 * sign fix-up; x86: 32×32→64 multiplies) and are tested against them.
 * `>>` of a negative int32 is an arithmetic shift on every compiler irc
 * supports (gcc, clang); C99 leaves it implementation-defined.
 */
#ifndef IRC_FIXEDPOINT_H
#define IRC_FIXEDPOINT_H

#include <stdint.h>

static inline int32_t irc_srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));   /* C division truncates */
}

static inline int32_t irc_rdbp(int32_t x, int exponent) {
    int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0);
    return (x >> exponent) + (remainder > threshold);
}

/* x · M for M ≈ m · 2^(shift − 31), shift in [−31, 30], m in [0, 2^31). */
static inline int32_t irc_mbqm(int32_t x, int32_t m, int32_t shift) {
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    return irc_rdbp(irc_srdhm((int32_t)((uint32_t)x << left), m), right);
}

/* clamp(MBQM(acc, m, shift) + zp, lo, hi): a whole requantization step.  The zero point is
 * added in 64 bits (as irc/fixedpoint.py does), so a scaled value near ±2^31 clamps instead
 * of wrapping. */
static inline int32_t irc_requant(int32_t acc, int32_t m, int32_t shift, int32_t zp,
                                  int32_t lo, int32_t hi) {
    int64_t y = (int64_t)irc_mbqm(acc, m, shift) + zp;
    return y < lo ? lo : (y > hi ? hi : (int32_t)y);
}

#endif /* IRC_FIXEDPOINT_H */
