"""``qat.fake_quant``: quantize-then-dequantize in float, for quantization-aware
training, with straight-through-estimator (STE) VJPs.

The QAT pass inserts one on each weight and activation that integer lowering
will quantize; the forward sees the rounding error the integer graph will have,
the backward lets gradients through the rounding.

Operands ``x, scale?, zero_point?`` (positional: a zero point needs a scale
before it).  ``scale`` and ``zero_point`` have shape ``[]`` (per tensor,
``axis = none``) or ``[C]``, ``C = x.shape[axis]`` (per channel); below, ``s``,
``z`` and ``α`` are broadcast along ``axis``, and ``Σ_c`` sums over every axis but
``axis`` (over all of them per tensor).  ``zero_point`` holds integers stored as
float and is never differentiated.  Everything is computed in float64 and the
result cast to ``x``'s dtype.

**affine** (``mode = affine``), with a ``scale`` operand::

    ŝ = max(|s|, 2^-24)                       (a learned scale crossing 0 divides by no 0)
    u = x / ŝ,  v = u + z                     (z = 0 without a zero_point)
    q = clamp(round_half_away(u) + z, qmin, qmax)
    y = ŝ · (q − z)

rounding before the zero point is added, as ``q.quantize`` and TFLite's
requantization (``RoundingDivideByPOT``, then ``+ z``) do: ``round(u) + z`` and
``round(u + z)`` differ on ties, which a fixed-point grid makes common.

**affine, dynamic** (no ``scale``; symmetric weights, the pass sets
``qmin = −qmax``): ``s_c = f32(max(max_c |x| / qmax, 2^-24))``, ``z = 0`` — exactly
:func:`irc.quant_params.weight_scales`, so ``y`` is bit for bit
``dequantize(*quantize_weights(x, axis, bits))`` for ``qmax = 2^(bits−1) − 1``.

**sign** (``mode = sign``, 1 bit, XNOR-Net style)::

    y = α · sgn(x),   sgn(x) = +1 if x >= 0 else −1
    α = scale,  or dynamic  α_c = mean_c |x|   (n_c = x.size / C elements per channel)

VJPs (``ȳ = ∂L/∂y``).  Rounding and sign have zero derivative almost
everywhere; the STE replaces them with the identity inside the quantization
range:

* affine: ``x̄ = ȳ · 1[qmin ≤ v ≤ qmax]``.  With ``grad_scale > 0`` the scale is
  learned (LSQ, Esser et al. 2020): ``∂y/∂ŝ`` is ``r = round(u) − u`` inside,
  ``qmin − z`` below, ``qmax − z`` above, so
  ``s̄ = grad_scale · sgn(s) · Σ_c ȳ · r`` (``sgn(s)``: the chain through ``|s|``,
  passed through the 2^-24 guard so a collapsed scale can recover).  With
  ``grad_scale = 0`` the scale is a constant: its VJP is None and
  :func:`irc.autodiff.trainable_params` does not list it.
* affine, dynamic: every ``v`` lies in ``[−qmax, qmax]`` by construction of ``s``
  (up to its float32 rounding), so the STE is the identity: ``x̄ = ȳ``; no
  gradient flows through ``s_c``.
* sign: ``x̄ = ȳ · α · 1[|x| ≤ clip]`` (the derivative of ``α · clamp(x, −1, 1)``
  for ``clip = 1``); a dynamic α adds its exact term
  ``∂α_c/∂x = sgn(x) / n_c``: ``x̄ += sgn(x) · (Σ_c ȳ · sgn(x)) / n_c``; an ``α``
  operand with ``grad_scale > 0`` gets ``ᾱ = grad_scale · Σ_c ȳ · sgn(x)``.

Finite differences of a rounding function are useless; the gradient checks
(``tests/ir/test_fake_quant_op.py``) compare these VJPs with finite differences
of a surrogate that freezes the rounding offsets and masks at the base point
(``check_op_vjp(..., surrogate=...)``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from ..types import TensorType
from ._grad import grad_like
from ._registry import (Attr, Enum, Float, Int, Ints, OpDef, Operand, OptionalInt, float_like,
                        normalize_axis, register_op, require_float)
from .q_core import round_to_int

if TYPE_CHECKING:
    from ..ir import Node

Array = np.ndarray

#: Smallest scale: the guard on a learned scale, and the floor of a dynamic one
#: (``irc.quant_params.MIN_SCALE``; not imported, the module imports ``irc.ops``).
MIN_SCALE = 2.0 ** -24


def _learns_scale(attrs: dict[str, Any]) -> bool:
    """Whether ``scale`` is a trained parameter (LSQ): ``grad_scale > 0``."""
    return float(attrs.get("grad_scale", 0.0)) > 0.0


def _sgn(x: Array) -> Array:
    """+1 where x >= 0 (0 included), −1 elsewhere."""
    return np.where(x >= 0, 1.0, -1.0)


def _axis(x: Array, attrs: dict[str, Any]) -> int | None:
    axis = attrs["axis"]
    return None if axis is None else axis % x.ndim


def _per_channel(p: Array, x: Array, axis: int | None) -> Array:
    """A ``[]`` or ``[C]`` parameter in float64, shaped to broadcast against ``x``."""
    p = np.asarray(p, np.float64)
    if axis is None or p.ndim == 0:
        return p.reshape(())
    shape = [1] * x.ndim
    shape[axis] = -1
    return p.reshape(shape)


def _channel_axes(x: Array, axis: int | None) -> tuple[int, ...]:
    return tuple(i for i in range(x.ndim) if i != axis)


def _sum_c(t: Array, x: Array, axis: int | None, keepdims: bool = False) -> Array:
    """``Σ_c``: the sum over every axis but ``axis`` (all of them per tensor)."""
    return np.sum(t, axis=_channel_axes(x, axis), keepdims=keepdims)


def _dynamic_scale(x64: Array, axis: int | None, qmax: int) -> Array:
    """``f32(max(max_c |x| / qmax, 2^-24))`` in float64, broadcastable against x."""
    m = np.max(np.abs(x64), axis=_channel_axes(x64, axis), keepdims=True, initial=0.0)
    return np.maximum(m / qmax, MIN_SCALE).astype(np.float32).astype(np.float64)


def dynamic_scales(w: Array, axis: int | None, qmax: int) -> Array:
    """The dynamic weight scales of the affine mode, one per channel along ``axis``
    (one per tensor when None), as a 1-D float64 array."""
    return _dynamic_scale(np.asarray(w, np.float64), axis, qmax).reshape(-1)


def _affine_parts(inputs: list[Array], attrs: dict[str, Any]) -> tuple[Array, Array, Array]:
    """``(ŝ, z, u = x / ŝ)`` of the affine mode, broadcastable against x (float64)."""
    x = np.asarray(inputs[0], np.float64)
    axis = _axis(x, attrs)
    if len(inputs) < 2:
        s = _dynamic_scale(x, axis, attrs["qmax"])
        return s, np.zeros(()), x / s
    s = np.maximum(np.abs(_per_channel(inputs[1], x, axis)), MIN_SCALE)
    z = _per_channel(inputs[2], x, axis) if len(inputs) > 2 else np.zeros(())
    return s, z, x / s


def _first_rounding(u: Array, x: Array, attrs: dict[str, Any]) -> Array:
    """``round(u·2^r) / 2^r``: a fixed-point requantization's first rounding
    (``SaturatingRoundingDoublingHighMul`` keeps r fraction bits that
    ``RoundingDivideByPOT`` then rounds away), exact in float64."""
    r = np.asarray(attrs["rshift"], np.float64)
    if r.size > 1:
        shape = [1] * x.ndim
        shape[_axis(x, attrs)] = r.size      # type: ignore[index]
        r = r.reshape(shape)
    k = np.exp2(r)
    return round_to_int(u * k, "half_away") / k


def _alpha(inputs: list[Array], attrs: dict[str, Any]) -> Array:
    """Sign mode's ``α``: the scale operand, or ``mean_c |x|``, broadcastable against x."""
    x = np.asarray(inputs[0], np.float64)
    axis = _axis(x, attrs)
    if len(inputs) > 1:
        return _per_channel(inputs[1], x, axis)
    n_c = x.size // (1 if axis is None else max(x.shape[axis], 1))
    return _sum_c(np.abs(x), x, axis, keepdims=True) / max(n_c, 1)   # mean, 0 when empty


def _param_shape(what: str, t: TensorType, x: TensorType, axis: int | None) -> None:
    if axis is None:
        if t.shape != ():
            raise ValueError(f"{what} has shape {list(t.shape)}; per tensor (axis = none) it "
                             "must have shape [] (set axis for per-channel parameters)")
    elif t.shape not in ((), (x.shape[axis],)):
        raise ValueError(f"{what} has shape {list(t.shape)}; along axis {axis} of x "
                         f"{list(x.shape)} it must have shape [{x.shape[axis]}] (per channel) "
                         "or [] (one for all channels, with a per-channel rshift)")


@register_op
class FakeQuant(OpDef):
    """y = dequantize(quantize(x)) in float (affine: s·(clamp(round(x/s) + z, qmin, qmax) − z);
    sign: α·sgn(x)), with straight-through gradients; see irc/ops/qat.py for the algebra."""

    name = "qat.fake_quant"
    operands = (
        Operand("x"),
        Operand("scale", optional=True, differentiable=_learns_scale,
                doc="[] or [C] float constant; absent: dynamic (from x)"),
        Operand("zero_point", optional=True, differentiable=False,
                doc="[] or [C] integer values stored as float (affine only)"),
    )
    attrs = (
        Attr("mode", Enum("affine", "sign"), "affine",
             "affine: scale/zero-point grid; sign: 1-bit alpha * sgn(x)"),
        Attr("qmin", Int(), -128, "smallest integer of the grid (affine)"),
        Attr("qmax", Int(), 127, "largest integer of the grid (affine; dynamic scale divisor)"),
        Attr("axis", OptionalInt(), None, "axis of per-channel parameters; none: per tensor"),
        Attr("grad_scale", Float(min=0.0), 0.0,
             "> 0: learn the scale (LSQ), its gradient times this; 0: scale not learned"),
        Attr("clip", Float(min=0.0), 1.0, "sign mode: x gets gradient where |x| <= clip"),
        Attr("rshift", Ints(min=0, max=31), (),
             "affine: first round x/s on the 2^-r finer grid (a fixed-point requantization's "
             "double rounding); one r, or one per channel along axis; empty: none"),
    )

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x = types[0]
        require_float(x, "x")
        if attrs["qmin"] >= attrs["qmax"]:
            raise ValueError(f"qmin ({attrs['qmin']}) must be less than qmax ({attrs['qmax']})")
        if not attrs["clip"] > 0 or not math.isfinite(attrs["clip"]):
            raise ValueError(f"clip must be a finite number > 0, got {attrs['clip']}")
        if not math.isfinite(attrs["grad_scale"]):
            raise ValueError(f"grad_scale must be finite, got {attrs['grad_scale']}")
        axis = attrs["axis"]
        if axis is not None:
            axis = normalize_axis(axis, len(x.shape))
        if attrs["mode"] == "affine" and attrs["qmax"] <= 0 and len(types) == 1:
            raise ValueError(f"a dynamic scale (no scale operand) needs qmax > 0, "
                             f"got {attrs['qmax']}")
        if len(types) == 1 and attrs["grad_scale"] > 0:
            raise ValueError("grad_scale > 0 learns the scale operand, but there is none "
                             "(a dynamic scale is computed from x, not learned)")
        if attrs["mode"] == "sign" and len(types) > 2:
            raise ValueError("sign mode takes no zero_point (y = alpha * sgn(x))")
        for what, t in zip(("scale", "zero_point"), types[1:]):
            require_float(t, what)
            _param_shape(what, t, x, axis)
        r = len(attrs["rshift"])
        if r > 1 and (axis is None or r != x.shape[axis]):
            raise ValueError(f"rshift has {r} entries; it takes one, or one per channel along "
                             f"axis ({'none' if axis is None else x.shape[axis]})")
        return float_like(x)

    def verify(self, node: "Node") -> Iterable[str]:
        if len(node.inputs) < 3:
            return
        zp = node.inputs[2]
        if zp.is_const:
            arr = np.asarray(zp.const_value, np.float64)
            bad = arr != np.round(arr)
            if bad.any():
                at = np.argwhere(np.atleast_1d(bad))[0].tolist()
                yield (f"zero_point must hold integers (stored as float), got "
                       f"{float(np.atleast_1d(arr)[tuple(at)]):g} at index {at}")

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x = inputs[0]
        if attrs["mode"] == "sign":
            y = _alpha(inputs, attrs) * _sgn(x)
        else:
            s, z, u = _affine_parts(inputs, attrs)
            if attrs["rshift"]:
                u = _first_rounding(u, x, attrs)
            # + 0.0: round(−0.3) is −0.0; the integer grid has no negative zero
            q = np.clip(round_to_int(u, "half_away") + z, attrs["qmin"], attrs["qmax"]) + 0.0
            y = s * (q - z)
        return np.asarray(y).astype(x.dtype, copy=False)

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> list[Array | None]:
        x = inputs[0]
        x64 = np.asarray(x, np.float64)
        g = np.asarray(grad_outputs[0], np.float64)
        axis = _axis(x64, attrs)
        has_scale = len(inputs) > 1
        learn = has_scale and _learns_scale(attrs)
        gscale: Array | None = None
        if attrs["mode"] == "sign":
            sg = _sgn(x64)
            alpha = _alpha(inputs, attrs)
            gx = g * alpha * (np.abs(x64) <= attrs["clip"])
            if not has_scale:            # α_c = mean_c |x|: ∂α_c/∂x = sgn(x) / n_c
                n_c = x64.size // max(alpha.size, 1)
                gx = gx + sg * _sum_c(g * sg, x64, axis, keepdims=True) / max(n_c, 1)
            elif learn:
                gscale = attrs["grad_scale"] * _sum_c(g * sg, x64, axis)
        elif not has_scale:
            gx = g                       # dynamic: every v is in range, the STE is identity
        else:
            qmin, qmax = attrs["qmin"], attrs["qmax"]
            _, z, u = _affine_parts(inputs, attrs)
            v = u + z
            inside = (v >= qmin) & (v <= qmax)
            gx = g * inside
            if learn:
                r = np.where(inside, round_to_int(u, "half_away") - u,
                             np.where(v < qmin, qmin - z, qmax - z))
                sgn_s = _sgn(_per_channel(inputs[1], x64, axis)).reshape(-1)
                if np.ndim(inputs[1]) == 0:
                    gscale = attrs["grad_scale"] * float((g * r).sum()) * sgn_s[0]
                else:
                    gscale = (attrs["grad_scale"] * _sum_c(g * r, x64, axis)
                              * (sgn_s if axis is not None else sgn_s[0]))
        out: list[Array | None] = [grad_like(np.asarray(gx), x)]
        if has_scale:
            s_in = inputs[1]
            out.append(None if gscale is None else
                       np.asarray(gscale, dtype=s_in.dtype).reshape(s_in.shape))
        if len(inputs) > 2:
            out.append(None)
        return out
