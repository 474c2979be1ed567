"""``nn.resize``: nearest / (multi)linear resampling (ONNX Resize, without roi,
cubic, antialias or tf_crop_and_resize)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..types import TensorType
from ._registry import Attr, Enum, Floats, Ints, OpDef, Operand, float_like, register_op

Array = np.ndarray


def resize_plan(shape: Sequence[int], attrs: dict[str, Any]
                ) -> tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...]]:
    """(output shape, per-axis scale, per-axis resized length as the coordinate
    transforms see it: ``sizes[i]``, or the unrounded ``n * scales[i]``)."""
    scales, sizes = attrs["scales"], attrs["sizes"]
    r = len(shape)
    if bool(scales) == bool(sizes):
        raise ValueError("give exactly one of scales and sizes")
    if sizes:
        if len(sizes) != r:
            raise ValueError(f"sizes has {len(sizes)} entries for rank {r}")
        if any(s < 1 for s in sizes):
            raise ValueError(f"sizes {list(sizes)} must be positive")
        if any(n == 0 for n in shape):
            raise ValueError(f"cannot resize the empty tensor {list(shape)}")
        return (tuple(sizes), tuple(m / n for m, n in zip(sizes, shape)),
                tuple(float(m) for m in sizes))
    if len(scales) != r:
        raise ValueError(f"scales has {len(scales)} entries for rank {r}")
    if any(not (s > 0 and math.isfinite(s)) for s in scales):
        raise ValueError(f"scales {list(scales)} must be finite and positive")
    if any(n * s >= 2 ** 31 for n, s in zip(shape, scales)):
        raise ValueError(f"scales {list(scales)} make {list(shape)} absurdly large")
    # floor(n * scale) in float32, as onnxruntime computes it (ONNX scales are float32)
    out = tuple(int(np.floor(np.float32(n) * np.float32(s))) if n else 0
                for n, s in zip(shape, scales))
    if any(m < 1 for m, n in zip(out, shape) if n):
        raise ValueError(f"scales {list(scales)} shrink {list(shape)} to {list(out)}")
    return out, tuple(scales), tuple(n * s for n, s in zip(shape, scales))


def source_coords(n: int, m: int, scale: float, length: float, mode: str) -> Array:
    """Where output index x (0..m-1) samples the input axis of length n
    (float64; may lie outside [0, n-1], callers clamp).  ``length`` is the
    resized length the formulas use (see :class:`Resize`)."""
    x = np.arange(m, dtype=np.float64)
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if length != 1 else np.zeros(m)
    if mode == "align_corners":
        return x * ((n - 1) / (length - 1)) if length != 1 else np.zeros(m)
    return x / scale  # asymmetric


def _round(c: Array, nearest_mode: str) -> Array:
    if nearest_mode == "round_prefer_floor":
        return np.ceil(c - 0.5)
    if nearest_mode == "round_prefer_ceil":
        return np.floor(c + 0.5)
    return np.floor(c) if nearest_mode == "floor" else np.ceil(c)


@register_op
class Resize(OpDef):
    """Resample x to a new shape, one axis at a time (ONNX Resize).

    Output length per axis: ``sizes[i]``, or ``floor(n * scales[i])`` (the
    product taken in float32, as onnxruntime does).  Output index x maps to the
    input coordinate (scale = scales[i], or m/n when sizes are given)::

        half_pixel          (x + 0.5) / scale - 0.5
        pytorch_half_pixel  the same, but 0 when L is 1
        align_corners       x * (n - 1) / (L - 1), or 0 when L is 1
        asymmetric          x / scale

    where the resized length L is sizes[i], or — as ONNX defines it and its
    reference tests check — the unrounded n * scales[i] when scales are given
    (so align_corners with a scale that does not give a whole length does not
    map the last output to the last input).

    nearest: the coordinate rounds by ``nearest_mode`` (round_prefer_floor:
    halves go down, round_prefer_ceil: halves go up, floor, ceil), then clamps
    to [0, n-1].  linear: the coordinate c clamps to [0, n-1] and
    y = (1 - f) * x[floor(c)] + f * x[min(floor(c) + 1, n-1)], f = c - floor(c);
    over several axes this is bilinear/trilinear interpolation (it is separable).
    """

    name = "nn.resize"
    operands = (Operand("x"),)
    attrs = (Attr("mode", Enum("nearest", "linear"), "nearest", "interpolation"),
             Attr("scales", Floats(), (), "output/input length per axis (or give sizes)"),
             Attr("sizes", Ints(), (), "output length per axis (or give scales)"),
             Attr("coordinate_transformation_mode",
                  Enum("half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"),
                  "half_pixel", "how output indices map to input coordinates"),
             Attr("nearest_mode",
                  Enum("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"),
                  "round_prefer_floor", "rounding of coordinates in nearest mode"))

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x = types[0]
        if not x.dtype.is_float and attrs["mode"] == "linear":
            raise ValueError(f"linear resize needs a float tensor, got {x.dtype}")
        return float_like(x, resize_plan(x.shape, attrs)[0])

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x = inputs[0]
        dtype = x.dtype
        out, scales, lengths = resize_plan(x.shape, attrs)
        ctm = attrs["coordinate_transformation_mode"]
        if attrs["mode"] == "linear":
            x = x.astype(np.result_type(dtype, np.float32), copy=False)
        for axis, (n, m, scale, length) in enumerate(zip(x.shape, out, scales, lengths)):
            c = source_coords(n, m, scale, length, ctm)
            if m == n and np.array_equal(c, np.arange(n)):
                continue
            if attrs["mode"] == "nearest":
                idx = np.clip(_round(c, attrs["nearest_mode"]), 0, n - 1).astype(np.intp)
                x = np.take(x, idx, axis=axis)
                continue
            c = np.clip(c, 0, n - 1)
            lo = np.floor(c).astype(np.intp)
            hi = np.minimum(lo + 1, n - 1)
            f = (c - lo).astype(x.dtype)
            bshape = [1] * x.ndim
            bshape[axis] = m
            f = f.reshape(bshape)
            x = np.take(x, lo, axis=axis) * (1 - f) + np.take(x, hi, axis=axis) * f
        return np.asarray(x, dtype=dtype, order="C")
