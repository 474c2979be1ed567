"""Sliding-window geometry shared by convolution and pooling (2-D, NCHW).

For one spatial axis with input length ``n``, kernel ``k``, stride ``s``,
dilation ``d`` and pads ``(b, e)`` (begin, end), the dilated kernel spans
``k' = (k - 1) * d + 1`` and (ONNX Conv / MaxPool / AveragePool)::

    explicit:    out = floor((n + b + e - k') / s) + 1
                 (ceil instead of floor with ceil_mode, but a last window that
                 would start inside the end padding is dropped: PyTorch's rule,
                 which the current ONNX pooling docs state too)
    valid:       pads (0, 0),  out = ceil((n - k' + 1) / s)
    same_upper:  out = ceil(n / s),  total = max(0, (out - 1) * s + k' - n),
                 b = total // 2, e = total - b      (the odd pad at the end)
    same_lower:  the same with b = total - total // 2 (the odd pad at the start)

Output position ``o`` reads input positions ``o * s - b + i * d`` for
``i = 0..k-1``; positions outside ``[0, n)`` read the padding value.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple, Sequence

import numpy as np

from ._registry import Attr, Bool, Enum, Ints

AUTO_PAD = Attr("auto_pad", Enum("explicit", "same_upper", "same_lower", "valid"), "explicit",
                "explicit uses pads; same_upper/same_lower/valid compute them (ONNX)")
STRIDES = Attr("strides", Ints(2, min=1), (1, 1), "window step along H and W")
PADS = Attr("pads", Ints(4, min=0), (0, 0, 0, 0), "padding (top, left, bottom, right)")
DILATIONS = Attr("dilations", Ints(2, min=1), (1, 1), "spacing of kernel taps along H and W")
CEIL_MODE = Attr("ceil_mode", Bool(), False, "round the output size up instead of down")


class Window(NamedTuple):
    """Resolved geometry of one 2-D sliding window."""

    out: tuple[int, int]              # output (H, W)
    pads: tuple[int, int, int, int]   # (top, left, bottom, right) actually applied
    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilations: tuple[int, int]


def _axis(n: int, k: int, s: int, d: int, b: int, e: int, auto_pad: str,
          ceil_mode: bool, what: str) -> tuple[int, int, int]:
    span = (k - 1) * d + 1
    if auto_pad in ("same_upper", "same_lower"):
        out = -(-n // s)
        total = max(0, (out - 1) * s + span - n)
        b = total // 2 if auto_pad == "same_upper" else total - total // 2
        return out, b, total - b
    if auto_pad == "valid":
        b = e = 0
    # ONNX: out = floor((n + b + e - span) / s) + 1, or ceil(...) + 1 in ceil mode,
    # where a ceil-mode window may overhang the end pad but must start inside the
    # input or the begin pad (a window starting in the end pad is dropped).
    room = n + b + e - span
    out = (-(-room // s) if ceil_mode else room // s) + 1
    if ceil_mode and out >= 1 and (out - 1) * s >= n + b:
        out -= 1
    if out < 1:
        raise ValueError(f"{what}: the window spans {span} (kernel {k}, dilation {d}) but the "
                         f"padded input has only {n + b + e} (input {n}, pads {b}+{e})")
    return out, b, e


def window(in_hw: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
           dilations: Sequence[int], pads: Sequence[int], auto_pad: str,
           ceil_mode: bool = False) -> Window:
    """The output size and applied pads of a 2-D window over ``in_hw``;
    ``ValueError`` when the window does not fit or pads conflict with auto_pad."""
    if auto_pad != "explicit" and any(pads):
        raise ValueError(f"pads {list(pads)} given with auto_pad={auto_pad}; use one or the "
                         "other")
    if any(k < 1 for k in kernel):
        raise ValueError(f"kernel {list(kernel)} must be positive")
    oh, t, b = _axis(in_hw[0], kernel[0], strides[0], dilations[0], pads[0], pads[2],
                     auto_pad, ceil_mode, "height")
    ow, lft, r = _axis(in_hw[1], kernel[1], strides[1], dilations[1], pads[1], pads[3],
                       auto_pad, ceil_mode, "width")
    return Window((oh, ow), (t, lft, b, r), (kernel[0], kernel[1]), (strides[0], strides[1]),
                  (dilations[0], dilations[1]))


def padded(x: np.ndarray, win: Window, value: float | int) -> np.ndarray:
    """``x`` (NCHW) padded with ``value`` so that every tap of every window is in
    bounds: by the window's begin pads, and at the end by as much as the last
    window reaches past the input (the end pad, or more for a ceil-mode window
    that overhangs it, or less when trailing input rows are never read)."""
    (oh, ow), (t, lft, _, _) = win.out, win.pads
    need_h = (oh - 1) * win.strides[0] + (win.kernel[0] - 1) * win.dilations[0] + 1
    need_w = (ow - 1) * win.strides[1] + (win.kernel[1] - 1) * win.dilations[1] + 1
    h, w = x.shape[2], x.shape[3]
    bot = max(0, need_h - t - h)
    right = max(0, need_w - lft - w)
    if not (t or lft or bot or right):
        return x
    return np.pad(x, ((0, 0), (0, 0), (t, bot), (lft, right)), constant_values=value)


def taps(xp: np.ndarray, win: Window) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(i, j, view)`` for each kernel tap: ``view[n, c, oh, ow]`` is the
    padded input at the position tap ``(i, j)`` of output ``(oh, ow)`` reads."""
    (oh, ow), (sh, sw), (dh, dw) = win.out, win.strides, win.dilations
    for i in range(win.kernel[0]):
        for j in range(win.kernel[1]):
            yield i, j, xp[:, :, i * dh: i * dh + (oh - 1) * sh + 1: sh,
                           j * dw: j * dw + (ow - 1) * sw + 1: sw]
