"""Pooling over the spatial axes of NCHW tensors (ONNX MaxPool / AveragePool /
GlobalAveragePool / GlobalMaxPool).

Window geometry — output size, ``auto_pad``, ``ceil_mode`` — is
:mod:`irc.ops._window`'s.  A pooling window must see at least one input
element; pads so large that some window lies wholly in the padding are
rejected by the type rule.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..types import TensorType
from ._grad import grad_like
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


def _scatter_taps(x: Array, win: Window, parts: Iterable[tuple[int, int, Array]]) -> Array:
    """The adjoint of reading ``taps(padded(x))``: ``parts`` yields ``(i, j, ḡ_ij)``
    with ḡ_ij the gradient reaching tap (i, j) of every window; each is added back
    at the padded-input positions that tap read, and the padding is cut off."""
    (oh, ow), (sh, sw), (dh, dw) = win.out, win.strides, win.dilations
    t, lft = win.pads[0], win.pads[1]
    need_h = (oh - 1) * sh + (win.kernel[0] - 1) * dh + 1
    need_w = (ow - 1) * sw + (win.kernel[1] - 1) * dw + 1
    h, w = x.shape[2], x.shape[3]
    gp = np.zeros(x.shape[:2] + (max(t + h, need_h), max(lft + w, need_w)), np.float64)
    for i, j, part in parts:
        # one tap's positions are distinct, so += on the strided view adds each once
        gp[:, :, i * dh: i * dh + (oh - 1) * sh + 1: sh,
           j * dw: j * dw + (ow - 1) * sw + 1: sw] += part
    return gp[:, :, t: t + h, lft: lft + w]


class _Pool(OpDef):
    operands = (Operand("x"),)
    allow_int = False

    @staticmethod
    def _window(shape: tuple[int, ...], attrs: dict[str, Any]) -> Window:
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

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> list[Array | None]:
        """x̄[argmax of each window] += ȳ: the whole gradient of a window goes to the
        element that is its maximum, on a tie the first tap in (i, j) row-major
        order — the first view the forward's running maximum takes its value from
        (later equal values leave it unchanged).  Padding never wins, so never
        receives gradient."""
        x = inputs[0]
        if x.dtype.kind != "f":
            return [None]
        win = MaxPool._window(x.shape, attrs)
        y, g = outputs[0], np.asarray(grad_outputs[0])
        views = list(taps(padded(x, win, -np.inf), win))
        taken = np.zeros(y.shape, bool)       # windows whose maximum a tap already claimed
        parts = []
        for i, j, view in views:
            hit = (view == y) & ~taken
            taken |= hit
            parts.append((i, j, np.where(hit, g, 0)))
        return [grad_like(_scatter_taps(x, win, parts), x)]


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

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> list[Array | None]:
        """y = Σ_taps xpad / count, so every tap's input gets ȳ / count
        (count per window as in compute; padding's share is dropped)."""
        x = inputs[0]
        win = AvgPool._window(x.shape, attrs)
        ch, cw = (_counts(x.shape[2 + ax], win.out[ax], win.kernel[ax], win.strides[ax],
                          win.pads[ax], win.pads[ax + 2], attrs["count_include_pad"])
                  for ax in range(2))
        share = np.asarray(grad_outputs[0], np.float64) / np.outer(ch, cw)
        parts = ((i, j, share) for i in range(win.kernel[0]) for j in range(win.kernel[1]))
        return [grad_like(_scatter_taps(x, win, parts), x)]


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

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> list[Array | None]:
        """x̄ = ȳ / (number of spatial positions), broadcast over them."""
        x = inputs[0]
        count = np.prod(x.shape[2:])
        return [grad_like(np.broadcast_to(np.asarray(grad_outputs[0]) / count, x.shape), x)]


@register_op
class GlobalMaxPool(_GlobalPool):
    """y[n, c, 1, 1] = max over all spatial positions of x[n, c] (dims kept).
    Integer tensors are accepted too, as for nn.max_pool."""

    name = "nn.global_max_pool"
    allow_int = True

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x = inputs[0]
        return x.max(axis=tuple(range(2, x.ndim)), keepdims=True)

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> list[Array | None]:
        """x̄[n, c, argmax] = ȳ[n, c]: the first maximal position in row-major
        order takes the gradient (as nn.max_pool's first tap does)."""
        x = inputs[0]
        if x.dtype.kind != "f":
            return [None]
        flat = x.reshape(x.shape[:2] + (-1,))
        gx = np.zeros(flat.shape, np.float64)
        np.put_along_axis(gx, flat.argmax(axis=2)[..., None],
                          np.asarray(grad_outputs[0]).reshape(x.shape[:2] + (1,)), axis=2)
        return [grad_like(gx.reshape(x.shape), x)]
