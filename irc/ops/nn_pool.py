"""Pooling over the spatial axes of NCHW tensors (ONNX MaxPool / AveragePool /
GlobalAveragePool / GlobalMaxPool).

Window geometry — output size, ``auto_pad``, ``ceil_mode`` — is
:mod:`irc.ops._window`'s.  A pooling window must see at least one input
element; pads so large that some window lies wholly in the padding are
rejected by the type rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..types import TensorType
from ._registry import (Attr, Bool, Ints, OpDef, Operand, float_like, register_op, require_float,
                        same_scale)
from ._window import (AUTO_PAD, CEIL_MODE, DILATIONS, PADS, STRIDES, Window, padded, taps,
                      window)

Array = np.ndarray
KERNEL = Attr("kernel", Ints(2, min=1), doc="window size (kh, kw)")


def _check_x(t: TensorType, op: str, allow_int: bool = False) -> None:
    if not (t.dtype.is_float or (allow_int and t.dtype.is_int)):
        raise ValueError(f"{op} operand must be a float tensor"
                         f"{' or an integer one' if allow_int else ''}, got {t.dtype}")
    if t.rank != 4:
        raise ValueError(f"x must be 4-D [N, C, H, W], got rank {t.rank}")


def _empty_windows(win: Window, in_hw: tuple[int, ...]) -> str | None:
    """Why some window reads no input element (only padding), or None.

    Per axis, window ``o`` first taps ``p = o*s - b`` and then every ``d``-th
    position.  It misses the input [0, n) iff (1) all its taps lie before 0,
    which happens first for window 0, iff b >= (k-1)*d + 1; or (2) it starts at
    or after n, which happens last for the last window; or (3) p < 0 and its first
    non-negative tap, p mod d, is >= n (a dilation that jumps over a short input).
    """
    for ax, what in enumerate(("height", "width")):
        n, k, s, d, b = (in_hw[ax], win.kernel[ax], win.strides[ax], win.dilations[ax],
                         win.pads[ax])
        out = win.out[ax]
        bad = None
        if out and b >= (k - 1) * d + 1:
            bad = 0
        elif out and (out - 1) * s - b >= n:
            bad = out - 1
        elif out and d > n:
            left = min(out, -(-b // s))          # windows with p < 0
            # (more than a few thousand of them is never realistic; not checked)
            bad = next((o for o in range(min(left, 4096)) if (o * s - b) % d >= n), None)
        if bad is not None:
            return (f"{what}: output position {bad} reads only padding (pads "
                    f"{win.pads[ax]}+{win.pads[ax + 2]}, kernel {k}, dilation {d}, input {n}); "
                    "use smaller pads")
    return None


class _Pool(OpDef):
    operands = (Operand("x"),)
    allow_int = False

    def _window(self, shape: tuple[int, ...], attrs: dict[str, Any]) -> Window:
        return window(shape[2:], attrs["kernel"], attrs["strides"],
                      attrs.get("dilations", (1, 1)), attrs["pads"], attrs["auto_pad"],
                      attrs["ceil_mode"])

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x = types[0]
        _check_x(x, self.name, self.allow_int)
        win = self._window(x.shape, attrs)
        why = _empty_windows(win, x.shape[2:])
        if why:
            raise ValueError(why)
        return same_scale(x, x.shape[:2] + win.out)


@register_op
class MaxPool(_Pool):
    """y[n, c, p, q] = max_{i, j} xpad[n, c, p*sh + i*dh, q*sw + j*dw],
    i < kh, j < kw, where padding never wins (it is -inf, or the integer type's
    minimum).  Integer tensors are accepted too (max commutes with any monotonic
    quantization)."""

    name = "nn.max_pool"
    attrs = (KERNEL, STRIDES, PADS, DILATIONS, CEIL_MODE, AUTO_PAD)
    allow_int = True

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x = inputs[0]
        win = self._window(x.shape, attrs)
        low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        y = None
        for _, _, view in taps(padded(x, win, low), win):
            y = view.copy() if y is None else np.maximum(y, view, out=y)
        assert y is not None
        return y


def _counts(n: int, out: int, k: int, s: int, b: int, e: int, include_pad: bool) -> Array:
    """Per output position along one axis, how many elements its window averages:
    the window [o*s - b, o*s - b + k) clipped to the input [0, n), or with
    count_include_pad to the padded input [-b, n + e)."""
    start = np.arange(out) * s - b
    end = start + k
    if include_pad:
        return np.minimum(end, n + e) - start
    return np.minimum(end, n) - np.maximum(start, 0)


@register_op
class AvgPool(_Pool):
    """y[n, c, p, q] = sum_{i, j} xpad[n, c, p*sh + i, q*sw + j] / count(p, q)
    with zero padding.  count is the number of input elements the window covers;
    with count_include_pad it also counts pad elements (but never the overhang
    past the end pad that ceil_mode can add, as in PyTorch and onnxruntime)."""

    name = "nn.avg_pool"
    attrs = (KERNEL, STRIDES, PADS, CEIL_MODE,
             Attr("count_include_pad", Bool(), False, "count padding in the divisor"),
             AUTO_PAD)

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x = inputs[0]
        acc = np.result_type(x.dtype, np.float32)
        win = self._window(x.shape, attrs)
        total = np.zeros(x.shape[:2] + win.out, acc)
        for _, _, view in taps(padded(x.astype(acc, copy=False), win, 0), win):
            total += view
        ch, cw = (_counts(x.shape[2 + ax], win.out[ax], win.kernel[ax], win.strides[ax],
                          win.pads[ax], win.pads[ax + 2], attrs["count_include_pad"])
                  for ax in range(2))
        return (total / np.outer(ch, cw).astype(acc)).astype(x.dtype, copy=False)


class _GlobalPool(OpDef):
    operands = (Operand("x"),)
    allow_int = False

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x = types[0]
        if not (x.dtype.is_float or (self.allow_int and x.dtype.is_int)):
            require_float(x, f"{self.name} operand")
        if x.rank < 3:
            raise ValueError(f"x must be [N, C, spatial...] with rank >= 3, got rank {x.rank}")
        if any(d == 0 for d in x.shape[2:]):
            raise ValueError(f"spatial dims {list(x.shape[2:])} must not be empty")
        return same_scale(x, x.shape[:2] + (1,) * (x.rank - 2))


@register_op
class GlobalAvgPool(_GlobalPool):
    """y[n, c, 1, 1] = mean over all spatial positions of x[n, c] (dims kept)."""

    name = "nn.global_avg_pool"

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x = inputs[0]
        acc = np.result_type(x.dtype, np.float32)
        axes = tuple(range(2, x.ndim))
        return x.mean(axis=axes, dtype=acc, keepdims=True).astype(x.dtype, copy=False)


@register_op
class GlobalMaxPool(_GlobalPool):
    """y[n, c, 1, 1] = max over all spatial positions of x[n, c] (dims kept).
    Integer tensors are accepted too, as for nn.max_pool."""

    name = "nn.global_max_pool"
    allow_int = True

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x = inputs[0]
        return x.max(axis=tuple(range(2, x.ndim)), keepdims=True)
