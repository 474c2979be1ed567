"""2-D convolution and transposed convolution (NCHW, ONNX Conv / ConvTranspose).

Operands share one float dtype; accumulation is in float32 at least (float16
operands accumulate in float32 and round once).  Window geometry (output size,
``auto_pad``) is :mod:`irc.ops._window`'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..types import TensorType
from ._registry import (Attr, Int, Ints, OpDef, Operand, float_like, register_op, require_float,
                        require_same_dtype)
from ._window import AUTO_PAD, DILATIONS, PADS, STRIDES, Window, padded, taps, window
from .nn_elementwise import CLAMP, apply_clamp
from .nn_linear import unclamp_grad

Array = np.ndarray
GROUPS = Attr("groups", Int(min=1), 1, "number of channel groups (C for depthwise)")


def _acc_dtype(dt: np.dtype) -> np.dtype:
    return np.result_type(dt, np.float32)


def _check_operands(types: list[TensorType], op: str) -> None:
    for t, what in zip(types, ("x", "w", "b")):
        require_float(t, f"{op} operand {what}")
    require_same_dtype(types)
    x, w = types[0], types[1]
    if x.rank != 4:
        raise ValueError(f"x must be 4-D [N, C, H, W], got rank {x.rank}")
    if w.rank != 4:
        raise ValueError(f"w must be 4-D, got rank {w.rank}")


def im2col(xp: Array, win: Window) -> Array:
    """``cols[n, c·kh·kw, oh·ow]`` with ``cols[n, (c, i, j), (p, q)]`` = the padded
    input tap (i, j) of output (p, q) reads (a view of ``xp`` for 1×1 kernels)."""
    n, c = xp.shape[:2]
    (kh, kw), (oh, ow) = win.kernel, win.out
    if (kh, kw) == (1, 1) and win.strides == (1, 1) and xp.shape[2:] == (oh, ow):
        return xp.reshape(n, c, oh * ow)
    buf = np.empty((n, c, kh, kw, oh, ow), xp.dtype)
    for i, j, view in taps(xp, win):
        buf[:, :, i, j] = view
    return buf.reshape(n, c * kh * kw, oh * ow)


def _padded_shape(x_shape: tuple[int, ...], win: Window) -> tuple[int, int]:
    """The (H, W) of :func:`~irc.ops._window.padded`'s result for ``x_shape``."""
    (oh, ow), (t, lft, _, _) = win.out, win.pads
    need_h = (oh - 1) * win.strides[0] + (win.kernel[0] - 1) * win.dilations[0] + 1
    need_w = (ow - 1) * win.strides[1] + (win.kernel[1] - 1) * win.dilations[1] + 1
    return max(t + x_shape[2], need_h), max(lft + x_shape[3], need_w)


def col2im(dcols: Array, x_shape: tuple[int, ...], win: Window) -> Array:
    """The adjoint of ``im2col(padded(x))``: every column entry is added back to the
    input pixel it was copied from (taps overlap when the stride is smaller than
    the kernel, hence ``+=``), then the padding is cropped::

        x̄[n, c, p·sh + i·dh - top, q·sw + j·dw - left] += cols̄[n, (c, i, j), (p, q)]
    """
    n, c = x_shape[:2]
    d = dcols.reshape((n, c) + win.kernel + win.out)
    dxp = np.zeros((n, c) + _padded_shape(x_shape, win), dcols.dtype)
    for i, j, view in taps(dxp, win):          # writable views into dxp
        view += d[:, :, i, j]
    return _crop(dxp, x_shape, win)


def _crop(xp: Array, x_shape: tuple[int, ...], win: Window) -> Array:
    """The inverse of padding: the part of ``xp`` that is ``x``."""
    t, lft = win.pads[:2]
    return xp[:, :, t: t + x_shape[2], lft: lft + x_shape[3]]


def conv2d_accumulate(x: Array, w: Array, win: Window, groups: int) -> Array:
    """The sums of :class:`Conv2d` (no bias, no clamp) in ``x``'s dtype, which must
    equal ``w``'s: float for nn.conv2d, int64 for the exact integer q.conv2d."""
    acc = x.dtype
    g = groups
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    og = o // g
    (oh, ow) = win.out
    xp = padded(x, win, 0)
    if cg == 1 and g > 1:
        # depthwise (with channel multiplier og): output channel o reads input
        # channel o // og; accumulate one tap at a time
        if og > 1:
            xp = np.repeat(xp, og, axis=1)
        y = np.zeros((n, o, oh, ow), acc)
        for i, j, view in taps(xp, win):
            y += w[:, 0, i, j][None, :, None, None] * view
    else:
        # im2col: cols[n, c, i, j, p, q] = tap (i, j) of output (p, q), then one
        # (grouped) matmul with w reshaped to [g, og, cg*kh*kw]
        cols = im2col(xp, win)
        if g == 1:
            y = np.matmul(w.reshape(o, cg * kh * kw), cols)
        else:
            y = np.matmul(w.reshape(g, og, cg * kh * kw),
                          cols.reshape(n, g, cg * kh * kw, oh * ow))
        y = y.reshape(n, o, oh, ow)
    return y


@register_op
class Conv2d(OpDef):
    """y = clamp(conv(x, w) + b), with x: [N, C, H, W], w: [O, C/g, kh, kw], b: [O]
    and g = groups (output channel o belongs to group g(o) = o // (O/g) and reads
    input channels g(o)*C/g ... (g(o)+1)*C/g - 1; depthwise is g = C)::

        y[n, o, p, q] = b[o] + sum_{c, i, j} w[o, c, i, j]
                               * xpad[n, g(o)*C/g + c, p*sh + i*dh, q*sw + j*dw]

    where xpad is x zero-padded by pads = (top, left, bottom, right), or by the
    pads auto_pad computes (ONNX); clamp = [lo, hi] is a fused activation applied
    last.  Computed by im2col + one (grouped) matmul; depthwise convolutions
    accumulate tap by tap.
    """

    name = "nn.conv2d"
    operands = (Operand("x"), Operand("w"), Operand("b", optional=True))
    attrs = (STRIDES, PADS, DILATIONS, GROUPS, AUTO_PAD, CLAMP)

    def _window(self, x: tuple[int, ...], w: tuple[int, ...], attrs: dict[str, Any]) -> Window:
        return window(x[2:], w[2:], attrs["strides"], attrs["dilations"], attrs["pads"],
                      attrs["auto_pad"])

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        _check_operands(types, self.name)
        x, w = types[0].shape, types[1].shape
        g = attrs["groups"]
        n, c = x[0], x[1]
        o = w[0]
        if c % g:
            raise ValueError(f"input channels {c} are not divisible by groups={g}")
        if o % g:
            raise ValueError(f"output channels {o} (w's dim 0) are not divisible by groups={g}")
        if w[1] != c // g:
            raise ValueError(f"w has {w[1]} input channels per group (dim 1) but x has "
                             f"{c} channels / groups={g} = {c // g}")
        if len(types) == 3 and types[2].shape != (o,):
            raise ValueError(f"bias must have shape [{o}], got {list(types[2].shape)}")
        win = self._window(x, w, attrs)
        return float_like(types[0], (n, o) + win.out)

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x, w = inputs[0], inputs[1]
        acc = _acc_dtype(x.dtype)
        x, w = x.astype(acc, copy=False), w.astype(acc, copy=False)
        y = conv2d_accumulate(x, w, self._window(x.shape, w.shape, attrs), attrs["groups"])
        if len(inputs) == 3:
            y += inputs[2].astype(acc, copy=False)[None, :, None, None]
        return apply_clamp(y.astype(inputs[0].dtype, copy=False), attrs)

    def vjp(self, inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array], needs: list[bool] | None = None) -> list[Array | None]:
        """Gradients of y = conv(x, w) + b, with ȳ first masked by the clamp
        (zero where the result was clamped).  Writing cols = im2col(xpad) and
        per group g: y[n, g] = W[g] · cols[n, g] with W[g] = w[g] as [O/g, C/g·kh·kw]::

            b̄ = Σ_{n,p,q} ȳ[n, :, p, q]
            W̄[g] = Σ_n ȳ[n, g] · cols[n, g]ᵀ
            cols̄[n, g] = W[g]ᵀ · ȳ[n, g],   x̄ = col2im(cols̄)

        Depthwise convolutions (C/g = 1), which the forward computes tap by tap,
        do the same per tap: w̄[o, 0, i, j] = Σ ȳ[n, o] ∘ tap_ij(xpad)[n, o] and
        x̄pad[tap_ij] += w[o, 0, i, j] · ȳ[n, o] (then the channel multiplier's
        copies are summed back to their input channel).  ``needs[0]`` False (a
        first layer, whose input is data) skips x̄ — im2col's adjoint is a good
        part of the cost."""
        x, w = inputs[0], inputs[1]
        acc = _acc_dtype(x.dtype)
        xa, wa = x.astype(acc, copy=False), w.astype(acc, copy=False)
        win = self._window(x.shape, w.shape, attrs)
        gy = unclamp_grad(grad_outputs[0], outputs[0], attrs).astype(acc, copy=False)
        g = attrs["groups"]
        n, c = x.shape[:2]
        o, cg, kh, kw = w.shape
        og = o // g
        (oh, ow) = win.out
        want_x = needs is None or needs[0]
        dx: Array | None = None
        xp = padded(xa, win, 0)
        if cg == 1 and g > 1:
            if og > 1:
                xp = np.repeat(xp, og, axis=1)
            dw = np.empty(w.shape, acc)
            dxp = np.zeros(xp.shape if want_x else (0,) * 4, acc)
            for (i, j, view), (_, _, dview) in zip(taps(xp, win), taps(dxp, win)):
                dw[:, 0, i, j] = np.einsum("nopq,nopq->o", gy, view)
                if want_x:
                    dview += wa[:, 0, i, j][None, :, None, None] * gy
            if want_x:
                if og > 1:
                    dxp = dxp.reshape(n, c, og, *dxp.shape[2:]).sum(axis=2)
                dx = _crop(dxp, x.shape, win)
        else:
            cols = im2col(xp, win)                         # [n, c·kh·kw, oh·ow]
            k = cg * kh * kw
            gy3 = gy.reshape(n, o, oh * ow)
            # (one BLAS product per image, summed: faster than one big product
            # over n·oh·ow, which needs cols transposed in memory first)
            if g == 1:
                dw = np.matmul(gy3, np.swapaxes(cols, 1, 2)).sum(axis=0)   # [o, c·kh·kw]
                if want_x:
                    dcols = np.matmul(wa.reshape(o, k).T, gy3)            # [n, c·kh·kw, oh·ow]
            else:
                cols4 = cols.reshape(n, g, k, oh * ow)
                gy4 = gy3.reshape(n, g, og, oh * ow)
                dw = np.matmul(gy4, np.swapaxes(cols4, 2, 3)).sum(axis=0)  # [g, og, k]
                if want_x:
                    dcols = np.matmul(np.swapaxes(wa.reshape(g, og, k), 1, 2), gy4)
            if want_x:
                dx = col2im(dcols.reshape(n, c * kh * kw, oh * ow), x.shape, win)
        out: list[Array | None] = [
            None if dx is None else np.ascontiguousarray(dx).astype(x.dtype, copy=False),
            dw.reshape(w.shape).astype(w.dtype, copy=False)]
        if len(inputs) == 3:
            out.append(gy.sum(axis=(0, 2, 3)).astype(inputs[2].dtype, copy=False))
        return out


OUTPUT_PADDING = Attr("output_padding", Ints(2, min=0), (0, 0),
                      "extra rows/columns added at the bottom/right of the output")


@register_op
class ConvTranspose2d(OpDef):
    """The adjoint of conv2d with the same geometry (ONNX ConvTranspose), with
    x: [N, C, H, W], w: [C, O/g, kh, kw], b: [O]: every input pixel scatters a
    kernel-sized patch into a full-size canvas, which pads then crop::

        full[n, g*O/g + o, h*sh + i*dh, v*sw + j*dw] += x[n, g*C/g + c, h, v]
                                                         * w[g*C/g + c, o, i, j]
        y = clamp(full[:, :, top : top + OH, left : left + OW] + b)
        OH = sh*(H-1) + output_padding[0] + (kh-1)*dh + 1 - top - bottom  (likewise OW)

    output_padding only lengthens the output (those rows/columns get the bias).
    """

    name = "nn.conv_transpose2d"
    operands = (Operand("x"), Operand("w"), Operand("b", optional=True))
    attrs = (STRIDES, PADS, DILATIONS, GROUPS, OUTPUT_PADDING, CLAMP)

    @staticmethod
    def _out(x: tuple[int, ...], w: tuple[int, ...], attrs: dict[str, Any]) -> tuple[int, int]:
        out = []
        for ax in range(2):
            s, d, k = attrs["strides"][ax], attrs["dilations"][ax], w[2 + ax]
            b, e = attrs["pads"][ax], attrs["pads"][ax + 2]
            op_ = attrs["output_padding"][ax]
            if op_ >= max(s, d):
                raise ValueError(f"output_padding {list(attrs['output_padding'])} must be less "
                                 f"than max(stride, dilation) = {max(s, d)} on "
                                 f"{'height' if ax == 0 else 'width'} (ONNX ConvTranspose)")
            full = s * (x[2 + ax] - 1) + op_ + (k - 1) * d + 1
            if full - b - e < 1:
                raise ValueError(f"{'height' if ax == 0 else 'width'}: pads {b}+{e} crop the "
                                 f"whole {full}-long output")
            out.append(full - b - e)
        return out[0], out[1]

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        _check_operands(types, self.name)
        x, w = types[0].shape, types[1].shape
        g = attrs["groups"]
        if x[1] % g:
            raise ValueError(f"input channels {x[1]} are not divisible by groups={g}")
        if w[0] != x[1]:
            raise ValueError(f"w's dim 0 ({w[0]}) must equal x's channels ({x[1]}): "
                             "conv_transpose2d weights are [C, O/groups, kh, kw]")
        o = w[1] * g
        if len(types) == 3 and types[2].shape != (o,):
            raise ValueError(f"bias must have shape [{o}], got {list(types[2].shape)}")
        return float_like(types[0], (x[0], o) + self._out(x, w, attrs))

    def _canvas(self, x: tuple[int, ...], w: tuple[int, ...],
                attrs: dict[str, Any]) -> tuple[Window, tuple[int, ...], tuple[int, int]]:
        """(window, canvas shape, output size): every input pixel (h, v) scatters
        its patch into the canvas as a convolution with this window would have
        gathered it (``col2im``), so the canvas is at least the patches' extent
        and holds the cropped output [top : top + OH, left : left + OW]."""
        kh, kw = w[2:]
        (sh, sw), (dh, dw) = attrs["strides"], attrs["dilations"]
        top, left = attrs["pads"][:2]
        oh, ow = self._out(x, w, attrs)
        win = Window((x[2], x[3]), (0, 0, 0, 0), (kh, kw), (sh, sw), (dh, dw))
        fh = max(sh * (x[2] - 1) + (kh - 1) * dh + 1, top + oh)
        fw = max(sw * (x[3] - 1) + (kw - 1) * dw + 1, left + ow)
        return win, (x[0], w[1] * attrs["groups"], fh, fw), (oh, ow)

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x, w = inputs[0], inputs[1]
        acc = _acc_dtype(x.dtype)
        x, w = x.astype(acc, copy=False), w.astype(acc, copy=False)
        n, c, h, wd = x.shape
        _, og, kh, kw = w.shape
        g = attrs["groups"]
        cg = c // g
        top, left = attrs["pads"][:2]
        win, canvas, (oh, ow) = self._canvas(x.shape, w.shape, attrs)
        # cols[n, g, og*kh*kw, h*w] = w[g]^T @ x[n, g]: every input pixel's patch
        cols = np.matmul(w.reshape(g, cg, og * kh * kw).transpose(0, 2, 1),
                         x.reshape(n, g, cg, h * wd))
        full = col2im(cols.reshape(n, og * g * kh * kw, h * wd), canvas, win)
        y = full[:, :, top: top + oh, left: left + ow]
        if len(inputs) == 3:
            y = y + inputs[2].astype(acc, copy=False)[None, :, None, None]
        return apply_clamp(np.ascontiguousarray(y).astype(inputs[0].dtype, copy=False), attrs)

    def vjp(self, inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array], needs: list[bool] | None = None) -> list[Array | None]:
        """The forward scatters cols[n, g] = W[g]ᵀ · x[n, g] (W[g] = w[g] as
        [C/g, O/g·kh·kw]) into the canvas with col2im and crops it; its adjoint
        pads ȳ (clamp-masked) back to the canvas and gathers each pixel's patch
        with im2col::

            cols̄ = im2col(full̄)             [n, O·kh·kw, H·W]
            x̄[n, g] = W[g] · cols̄[n, g]      W̄[g] = Σ_n x[n, g] · cols̄[n, g]ᵀ
            b̄ = Σ_{n,p,q} ȳ[n, :, p, q]
        """
        x, w = inputs[0], inputs[1]
        acc = _acc_dtype(x.dtype)
        xa, wa = x.astype(acc, copy=False), w.astype(acc, copy=False)
        gy = unclamp_grad(grad_outputs[0], outputs[0], attrs).astype(acc, copy=False)
        n, c, h, wd = x.shape
        _, og, kh, kw = w.shape
        g = attrs["groups"]
        cg = c // g
        top, left = attrs["pads"][:2]
        win, canvas, (oh, ow) = self._canvas(x.shape, w.shape, attrs)
        full = np.zeros(canvas, acc)
        full[:, :, top: top + oh, left: left + ow] = gy
        k = og * kh * kw
        dcols = im2col(full, win).reshape(n, g, k, h * wd)
        x4 = xa.reshape(n, g, cg, h * wd)
        dx = None
        if needs is None or needs[0]:
            dx = np.matmul(wa.reshape(g, cg, k), dcols).reshape(x.shape).astype(x.dtype,
                                                                                copy=False)
        dwt = np.matmul(x4, np.swapaxes(dcols, 2, 3)).sum(axis=0)          # [g, cg, k]
        out: list[Array | None] = [dx, dwt.reshape(w.shape).astype(w.dtype, copy=False)]
        if len(inputs) == 3:
            out.append(gy.sum(axis=(0, 2, 3)).astype(inputs[2].dtype, copy=False))
        return out
