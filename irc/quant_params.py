"""Choosing quantization parameters: activations from calibrated ranges,
weights from their values, biases in accumulator units.

The scheme is TFLite's int8 spec generalized to ``bits``:

* **activations** (per tensor), from a calibrated range ``[lo, hi]`` widened to
  contain 0 so that real 0 (padding, ReLU) is exact::

      asymmetric:  s = (hi − lo) / (qmax − qmin),  z = clamp(round(qmin − lo / s))
      symmetric:   s = max(|lo|, |hi|) / qmax,     z = 0

  with ``[qmin, qmax] = [−2^(b−1), 2^(b−1) − 1]`` (int8: [−128, 127]);
* **weights** (symmetric, per output channel or per tensor): ``s_c = max|w_c| / qmax``
  with values in ``[−qmax, qmax]`` (int8: [−127, 127], so ``−w`` is representable);
* **bias** (int32): ``b_q[c] = round(b[c] / f32(s_x · s_w[c]))``, in the units of the
  integer accumulator, so it adds to it directly.

Rounding is half away from zero throughout (DESIGN.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .dtypes import DType
from .ops.q_core import round_to_int, saturate
from .types import PerAxis, PerTensor, QuantParams, TensorType

Array = np.ndarray

#: Signed integer storage type for each supported bit width.
INT_DTYPES: dict[int, DType] = {8: DType.I8, 4: DType.I4, 2: DType.I2}

#: Smallest scale handed out: a constant or all-zero tensor still gets a valid one.
MIN_SCALE = 2.0 ** -24


def int_dtype(bits: int) -> DType:
    """The signed storage type for ``bits`` (8, 4 or 2); ``ValueError`` otherwise."""
    try:
        return INT_DTYPES[bits]
    except KeyError:
        raise ValueError(f"bits must be one of {sorted(INT_DTYPES)}, got {bits}") from None


@dataclass(frozen=True)
class ActivationParams:
    """Per-tensor parameters of an activation: ``real = scale · (q − zero_point)``."""

    dtype: DType
    scale: float
    zero_point: int

    @property
    def quant(self) -> PerTensor:
        return PerTensor(self.scale, self.zero_point)

    def quantize_real(self, v: float) -> int:
        """The stored integer nearest ``v`` (saturated): clamp bounds, pad values."""
        q = round_to_int(np.float64(v) / self.scale, "half_away") + self.zero_point
        return int(np.clip(q, self.dtype.min, self.dtype.max))


def activation_params(lo: float, hi: float, bits: int = 8, symmetric: bool = False,
                      unsigned: bool = False) -> ActivationParams:
    """Parameters covering ``[lo, hi]`` (widened to contain 0; see the module
    docstring).  ``lo``/``hi`` must be finite.  ``unsigned`` (8 bits only) gives the
    same grid stored as uint8: ``q_u8 = q_i8 + 128``, zero point + 128 — every
    real value and every integer op's result is the same, only the storage
    differs (x86's u8×s8 instructions take activations that way)."""
    if unsigned:
        if bits != 8:
            raise ValueError(f"unsigned activations are 8-bit only, not {bits}-bit")
        p = activation_params(lo, hi, bits, symmetric)
        return ActivationParams(DType.U8, p.scale, p.zero_point + 128)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"the range [{lo}, {hi}] is not finite")
    dt = int_dtype(bits)
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    qmin, qmax = int(dt.min), int(dt.max)
    if symmetric:
        scale = max(abs(lo), abs(hi), MIN_SCALE * qmax) / qmax
        return ActivationParams(dt, float(np.float32(scale)), 0)
    scale = float(np.float32(max(hi - lo, MIN_SCALE * (qmax - qmin)) / (qmax - qmin)))
    zp = int(np.clip(round_to_int(qmin - lo / scale, "half_away"), qmin, qmax))
    return ActivationParams(dt, scale, zp)


def weight_scales(w: Array, axis: int | None, bits: int = 8) -> Array:
    """Symmetric scales ``max|w| / qmax``: one per index of ``axis``, or one
    (shape ``(1,)``) when ``axis`` is None."""
    qmax = int_dtype(bits).max
    a = np.abs(w.astype(np.float64))
    if axis is None:
        m = np.array([a.max(initial=0.0)])
    else:
        m = a.max(axis=tuple(i for i in range(w.ndim) if i != axis), initial=0.0)
    return np.maximum(m / qmax, MIN_SCALE).astype(np.float32).astype(np.float64)


def quantize_weights(w: Array, axis: int | None, bits: int = 8,
                     scales: Array | None = None) -> tuple[Array, TensorType]:
    """Symmetric quantization of a constant: ``(stored ints, their type)``.
    ``axis`` None = per tensor.  ``scales`` overrides :func:`weight_scales`."""
    dt = int_dtype(bits)
    s = weight_scales(w, axis, bits) if scales is None else np.asarray(scales, np.float64)
    q: QuantParams
    if axis is None:
        q = PerTensor(float(s[0]), 0)
        s_b = s[0]
    else:
        q = PerAxis(axis, tuple(float(v) for v in s), (0,) * len(s))
        shape = [1] * w.ndim
        shape[axis] = len(s)
        s_b = s.reshape(shape)
    v = round_to_int(w.astype(np.float64) / s_b, "half_away")
    qmax = int(dt.max)
    stored = saturate(np.clip(v, -qmax, qmax), dt)
    return stored, TensorType(dt, tuple(w.shape), q)


def dequantize(stored: Array, t: TensorType) -> Array:
    """float64 real values of stored integers of quantized type ``t``."""
    q = t.quant
    if q is None:
        raise ValueError(f"{t} is not quantized")
    if isinstance(q, PerTensor):
        return (stored.astype(np.float64) - q.zero_point) * q.scale
    shape = [1] * stored.ndim
    shape[q.axis] = len(q.scales)
    s = np.asarray(q.scales, np.float64).reshape(shape)
    z = np.asarray(q.zero_points, np.float64).reshape(shape)
    return (stored.astype(np.float64) - z) * s


def accumulator_scales(s_x: float, w_scales: Array) -> Array:
    """``f32(s_x · s_w[c])`` as the integer ops' result types compute them."""
    return (np.float32(s_x) * np.asarray(w_scales, np.float32)).astype(np.float64)


def quantize_bias(b: Array, s_x: float, w_scales: Array) -> Array:
    """int32 bias in accumulator units: ``round(b / f32(s_x · s_w[c]))``."""
    acc = accumulator_scales(s_x, w_scales)
    return saturate(round_to_int(b.astype(np.float64) / acc, "half_away"), DType.I32)
