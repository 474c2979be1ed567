"""Fixed-point requantization: gemmlowp/TFLite double rounding, the normative rule.

Every integer kernel of irc — the interpreter here and every C kernel of the
runtime on every ISA — scales an int32 accumulator by a real multiplier ``M > 0``
*exactly* this way, so their results agree to the bit.

**Encoding M** (:func:`quantize_multiplier`, TFLite's ``QuantizeMultiplier``)::

    M = q · 2^e  with  q ∈ [0.5, 1)                (frexp)
    m = round_half_away(q · 2^31)                  (int32 significand, Q0.31)
    if m == 2^31:  m = 2^30, e += 1                (q rounded up to 1.0)
    if e < -31:    m = 0,    e = 0                 (M < 2^-32: every result rounds to 0)
    if e > 30:     m = 2^31 - 1, e = 30            (saturate absurdly large M)
    shift = e                                      (> 0: left shift; <= 0: right shift)

so ``M ≈ m · 2^(shift - 31)``.  ``M == 0`` encodes as ``(0, 0)``.

**Applying it** (:func:`multiply_by_quantized_multiplier`, TFLite's
``MultiplyByQuantizedMultiplier`` with double rounding)::

    left  = max(shift, 0),   right = max(-shift, 0)
    x'    = wrap32(x · 2^left)                           (what a 32-bit shift does)
    h     = SRDHM(x', m)                                 (rounding doubling high mul)
    y     = RDBP(h, right)                               (rounding divide by 2^right)

    SRDHM(a, b) = INT32_MAX                        if a == b == INT32_MIN
                = trunc((a·b + nudge) / 2^31)      nudge = 2^30 if a·b >= 0 else 1 - 2^30
    RDBP(x, k)  = (x >> k) + (rem > thr)           rem = x & (2^k - 1),
                                                   thr = (2^k - 1) >> 1, plus 1 if x < 0

``SRDHM`` is what ARM's ``SQRDMULH`` computes (round half up of ``a·b / 2^31``,
saturating the single overflow case); ``RDBP`` rounds half away from zero.  The
two roundings compose ("double rounding"): results can differ from
``round(x · M)`` by one in rare ties, which is why this — not a float
multiply — is the contract.  A requantized value is then
``clamp(y + z_out, lo, hi)``.

All functions are vectorized over numpy arrays and compute in int64, where every
intermediate (``|a·b| <= 2^62``) is exact.
"""

from __future__ import annotations

import math

import numpy as np

Array = np.ndarray

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """``(m, shift)`` with ``real ≈ m · 2^(shift - 31)``, TFLite's encoding
    (see the module docstring for the edge cases).  ``real`` must be finite and
    >= 0."""
    if not (math.isfinite(real) and real >= 0):
        raise ValueError(f"a requantization multiplier must be finite and >= 0, got {real}")
    if real == 0.0:
        return 0, 0
    q, e = math.frexp(real)
    m = _round_half_away(q * (1 << 31))
    if m == 1 << 31:
        m //= 2
        e += 1
    if e < -31:
        return 0, 0
    if e > 30:
        return INT32_MAX, 30
    return m, e


def multiplier_value(m: int, shift: int) -> float:
    """The real multiplier ``m · 2^(shift - 31)`` an encoded pair stands for."""
    return math.ldexp(m, shift - 31)


def _round_half_away(v: float) -> int:
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def _wrap32(v: Array) -> Array:
    """int64 values reduced modulo 2^32 into int32's range (as int64)."""
    return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def saturating_rounding_doubling_high_mul(a: Array, b: Array) -> Array:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` on int32 values (int64 arrays):
    ``a·b·2 / 2^32`` rounded half up, with the ``INT32_MIN · INT32_MIN`` overflow
    saturated to ``INT32_MAX``."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    num = ab + nudge
    # C's '/' truncates toward zero; numpy's // floors, so divide magnitudes
    high = np.sign(num) * (np.abs(num) >> 31)
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, high)


def rounding_divide_by_pot(x: Array, exponent: Array) -> Array:
    """gemmlowp ``RoundingDivideByPOT``: ``x / 2^exponent`` rounded half away from
    zero, for ``0 <= exponent <= 31``."""
    x, k = np.asarray(x, np.int64), np.asarray(exponent, np.int64)
    mask = (np.int64(1) << k) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> k) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: Array, m: Array, shift: Array) -> Array:
    """TFLite ``MultiplyByQuantizedMultiplier`` (double rounding) of int32 values
    ``x`` by encoded multipliers ``(m, shift)`` (broadcast against ``x``); int64
    result in int32's range."""
    x = np.asarray(x, np.int64)
    shift = np.asarray(shift, np.int64)
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    high = saturating_rounding_doubling_high_mul(_wrap32(x << left), m)
    return rounding_divide_by_pot(high, right)


def requantize_fixed_point(acc: Array, m: Array, shift: Array, zero_point: int,
                           lo: int, hi: int) -> Array:
    """``clamp(MBQM(acc, m, shift) + zero_point, lo, hi)`` as int64: the whole
    requantization step of an integer kernel."""
    y = multiply_by_quantized_multiplier(acc, m, shift) + zero_point
    return np.clip(y, lo, hi)
