"""Data-movement ops with static shapes: reshape, flatten, transpose, concat,
split, slice, squeeze, unsqueeze, pad, gather, expand, cast.

Everything that decides a result *shape* is an attribute (ONNX takes several of
these as tensor inputs; the importer folds them into attributes).  Operands of
any dtype are accepted unless an op says otherwise; results keep the operand's
dtype (``cast`` excepted) and its per-tensor quantization parameters (moving
stored integers does not change their meaning; ``_registry.same_scale``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Iterable, Sequence

import numpy as np

from ..dtypes import DType, wrap_int
from ..types import PerAxis, PerTensor, TensorType
from ._grad import grad_like, grad_or_zeros
from ._registry import (Attr, DTypeAttr, Enum, Float, Int, Ints, OpDef, Operand,
                        broadcast_shapes, normalize_axis, register_op, same_scale,
                        require_same_dtype)

Array = np.ndarray


VjpResult = list["Array | None"]


def _reshape_vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
                 grad_outputs: list[Array]) -> VjpResult:
    """Same elements in the same (row-major) order: x̄ = ȳ reshaped to x's shape."""
    x = inputs[0]
    return [grad_like(np.reshape(grad_outputs[0], x.shape), x)]


def normalize_axes(axes: Iterable[int], rank: int, what: str = "axes") -> list[int]:
    """Normalized axes (negative ones count from the end); duplicates are an error."""
    if rank == 0 and axes:
        raise ValueError(f"{what} {list(axes)}: a scalar has no axes")
    out = [normalize_axis(a, rank, f"{what} entry") for a in axes]
    if len(set(out)) != len(out):
        raise ValueError(f"{what} {list(axes)} name an axis twice")
    return out


# --- reshape family -------------------------------------------------------------------

def reshape_target(in_shape: Sequence[int], shape: Sequence[int]) -> tuple[int, ...]:
    """Resolve an ONNX Reshape ``shape`` (allowzero = 0) against ``in_shape``:
    ``0`` copies the input dim at the same index, one ``-1`` is inferred."""
    out: list[int] = []
    infer_at = None
    for i, d in enumerate(shape):
        if d == 0:
            if i >= len(in_shape):
                raise ValueError(f"shape {list(shape)}: 0 at index {i} copies an input dim, but "
                                 f"the input {list(in_shape)} has rank {len(in_shape)}")
            out.append(in_shape[i])
        elif d == -1:
            if infer_at is not None:
                raise ValueError(f"shape {list(shape)} has more than one -1")
            infer_at = i
            out.append(1)
        else:
            out.append(d)
    total = math.prod(in_shape)
    if infer_at is not None:
        known = math.prod(out)
        if known == 0 or total % known:
            raise ValueError(f"cannot infer the -1 in shape {list(shape)}: {total} elements "
                             f"of {list(in_shape)} are not a multiple of {known}")
        out[infer_at] = total // known
    if math.prod(out) != total:
        raise ValueError(f"cannot reshape {list(in_shape)} ({total} elements) to {list(shape)} "
                         f"({math.prod(out)} elements)")
    return tuple(out)


@register_op
class Reshape(OpDef):
    """The same elements in row-major order with a new shape (ONNX Reshape with
    allowzero = 0): a 0 in ``shape`` copies the input dim at that index, and one
    -1 takes whatever size is left."""

    name = "nn.reshape"
    operands = (Operand("x"),)
    attrs = (Attr("shape", Ints(min=-1), doc="target shape; 0 copies a dim, one -1 is inferred"),)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        return same_scale(types[0], reshape_target(types[0].shape, attrs["shape"]))

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        return inputs[0].reshape(reshape_target(inputs[0].shape, attrs["shape"]))

    vjp = staticmethod(_reshape_vjp)


@register_op
class Flatten(OpDef):
    """Reshape to 2-D [prod(shape[:axis]), prod(shape[axis:])] (ONNX Flatten);
    axis is in [-rank, rank]."""

    name = "nn.flatten"
    operands = (Operand("x"),)
    attrs = (Attr("axis", Int(), 1, "dims before it form the rows, the rest the columns"),)

    @staticmethod
    def _shape(shape: tuple[int, ...], axis: int) -> tuple[int, int]:
        r = len(shape)
        if not -r <= axis <= r:
            raise ValueError(f"axis {axis} is out of range [{-r}, {r}] for rank {r}")
        axis = axis + r if axis < 0 else axis
        return math.prod(shape[:axis]), math.prod(shape[axis:])

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        return same_scale(types[0], self._shape(types[0].shape, attrs["axis"]))

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        return inputs[0].reshape(self._shape(inputs[0].shape, attrs["axis"]))

    vjp = staticmethod(_reshape_vjp)


@register_op
class Squeeze(OpDef):
    """Drop size-1 axes: the listed ones (each must have size 1), or all size-1
    axes when ``axes`` is empty (ONNX Squeeze)."""

    name = "nn.squeeze"
    operands = (Operand("x"),)
    attrs = (Attr("axes", Ints(), (), "axes to drop; empty drops every size-1 axis"),)

    @staticmethod
    def _shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
        if not axes:
            return tuple(d for d in shape if d != 1)
        drop = normalize_axes(axes, len(shape))
        for a in drop:
            if shape[a] != 1:
                raise ValueError(f"cannot squeeze axis {a} of shape {list(shape)}: its size "
                                 f"is {shape[a]}, not 1")
        return tuple(d for i, d in enumerate(shape) if i not in drop)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        return same_scale(types[0], self._shape(types[0].shape, attrs["axes"]))

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        return inputs[0].reshape(self._shape(inputs[0].shape, attrs["axes"]))

    vjp = staticmethod(_reshape_vjp)


@register_op
class Unsqueeze(OpDef):
    """Insert size-1 axes at the listed positions of the *result* (ONNX
    Unsqueeze): the result has rank r + len(axes); negative axes count from its
    end."""

    name = "nn.unsqueeze"
    operands = (Operand("x"),)
    attrs = (Attr("axes", Ints(), doc="positions of the new axes in the result"),)

    @staticmethod
    def _shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
        if not axes:
            raise ValueError("axes must not be empty")
        rank = len(shape) + len(axes)
        new = set(normalize_axes(axes, rank))
        it = iter(shape)
        return tuple(1 if i in new else next(it) for i in range(rank))

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        return same_scale(types[0], self._shape(types[0].shape, attrs["axes"]))

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        return inputs[0].reshape(self._shape(inputs[0].shape, attrs["axes"]))

    vjp = staticmethod(_reshape_vjp)


@register_op
class Transpose(OpDef):
    """Permute axes: y.shape[i] = x.shape[perm[i]], y[..., i_k, ...] = x[..., with
    axis perm[k] at index i_k ...] (numpy.transpose).  An empty perm reverses the
    axes (ONNX's default)."""

    name = "nn.transpose"
    operands = (Operand("x"),)
    attrs = (Attr("perm", Ints(), (), "result axis i is input axis perm[i]; empty = reversed"),)

    @staticmethod
    def _perm(rank: int, perm: tuple[int, ...]) -> tuple[int, ...]:
        if not perm:
            return tuple(reversed(range(rank)))
        if sorted(perm) != list(range(rank)):
            raise ValueError(f"perm {list(perm)} is not a permutation of the {rank} axes "
                             f"0..{rank - 1}")
        return perm

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x = types[0]
        perm = self._perm(x.rank, attrs["perm"])
        out = same_scale(x, tuple(x.shape[p] for p in perm))
        if isinstance(x.quant, PerAxis):     # the quantized axis moves to where perm puts it
            out = TensorType(x.dtype, out.shape, replace(x.quant, axis=perm.index(x.quant.axis)))
        return out

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x = inputs[0]
        return np.asarray(x.transpose(self._perm(x.ndim, attrs["perm"])), order="C")

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> VjpResult:
        """y = transpose(x, perm), so x̄ = transpose(ȳ, perm⁻¹) (perm⁻¹ = argsort(perm))."""
        x = inputs[0]
        inverse = np.argsort(Transpose._perm(x.ndim, attrs["perm"]))
        return [grad_like(np.transpose(grad_outputs[0], inverse), x)]


@register_op
class Expand(OpDef):
    """Broadcast x to broadcast(x.shape, shape) — ONNX Expand's bidirectional
    broadcasting: a 1 in ``shape`` keeps x's dim, so the result may be larger
    than ``shape``."""

    name = "nn.expand"
    operands = (Operand("x"),)
    attrs = (Attr("shape", Ints(min=0), doc="shape to broadcast with"),)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        return same_scale(types[0], broadcast_shapes(types[0].shape, attrs["shape"]))

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x = inputs[0]
        return np.broadcast_to(x, broadcast_shapes(x.shape, attrs["shape"])).copy()

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> VjpResult:
        """x̄ = ȳ summed over the axes the broadcast added or stretched."""
        return [grad_like(grad_outputs[0], inputs[0])]


# --- concat / split ---------------------------------------------------------------------

@register_op
class Concat(OpDef):
    """Join tensors along ``axis``; all other dims must agree (ONNX Concat)."""

    name = "nn.concat"
    operands = (Operand("xs", variadic=True, min_count=1),)
    attrs = (Attr("axis", Int(), doc="the axis to join along (negative counts from the end)"),)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        dt = require_same_dtype(types)
        first = types[0].shape
        if not first:
            raise ValueError("cannot concatenate scalars")
        axis = normalize_axis(attrs["axis"], len(first))
        for k, t in enumerate(types[1:], 1):
            s = t.shape
            if len(s) != len(first) or any(a != b for i, (a, b) in enumerate(zip(s, first))
                                           if i != axis):
                raise ValueError(f"operand {k} has shape {list(s)}, which does not match "
                                 f"{list(first)} outside axis {axis}")
        total = sum(t.shape[axis] for t in types)
        same = all(t.quant == types[0].quant for t in types)   # else the integers mean different things
        return TensorType(dt, first[:axis] + (total,) + first[axis + 1:],
                          types[0].quant if same and isinstance(types[0].quant, PerTensor) else None)

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        return np.concatenate(inputs, axis=normalize_axis(attrs["axis"], inputs[0].ndim))

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> VjpResult:
        """Operand k is the k-th block of y along axis: x̄_k = that block of ȳ."""
        axis = normalize_axis(attrs["axis"], inputs[0].ndim)
        cuts = np.cumsum([x.shape[axis] for x in inputs])[:-1]
        return [grad_like(p, x) for p, x in
                zip(np.split(np.asarray(grad_outputs[0]), cuts, axis=axis), inputs)]


@register_op
class Split(OpDef):
    """Cut x along ``axis`` into len(sizes) pieces of the given sizes (which must
    sum to the axis length); one result per piece (ONNX Split)."""

    name = "nn.split"
    operands = (Operand("x"),)
    attrs = (Attr("axis", Int(), 0, "the axis to cut"),
             Attr("sizes", Ints(min=0), doc="length of each piece along axis"))

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> list[TensorType]:
        x = types[0]
        if x.rank == 0:
            raise ValueError("cannot split a scalar")
        axis = normalize_axis(attrs["axis"], x.rank)
        sizes = attrs["sizes"]
        if not sizes:
            raise ValueError("sizes must not be empty")
        if sum(sizes) != x.shape[axis]:
            raise ValueError(f"sizes {list(sizes)} sum to {sum(sizes)}, but axis {axis} of "
                             f"{list(x.shape)} has length {x.shape[axis]}")
        return [same_scale(x, x.shape[:axis] + (s,) + x.shape[axis + 1:]) for s in sizes]

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> list[Array]:
        x = inputs[0]
        axis = normalize_axis(attrs["axis"], x.ndim)
        cuts = np.cumsum(attrs["sizes"])[:-1]
        return [np.asarray(p, order="C") for p in np.split(x, cuts, axis=axis)]

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array | None]) -> VjpResult:
        """The pieces are consecutive blocks of x: x̄ = concat(ȳ_0, ȳ_1, ...) along
        axis (a piece whose gradient is None contributes zeros)."""
        x = inputs[0]
        axis = normalize_axis(attrs["axis"], x.ndim)
        parts = [grad_or_zeros(g, y) for g, y in zip(grad_outputs, outputs)]
        return [grad_like(np.concatenate(parts, axis=axis), x)]


# --- slice / pad / gather -------------------------------------------------------------

def slice_plan(shape: Sequence[int], attrs: dict[str, Any]) -> tuple[list[slice], tuple[int, ...]]:
    """Python slices and the result shape of an ONNX Slice.

    Per sliced axis with length n (ONNX clamping): negative start/end get n
    added; then for step > 0 start and end clamp to [0, n], for step < 0 start
    clamps to [0, n-1] and end to [-1, n-1] (-1 meaning "past the front").  The
    axis keeps max(0, ceil((end - start) / step)) elements."""
    starts, ends = attrs["starts"], attrs["ends"]
    k = len(starts)
    if len(ends) != k:
        raise ValueError(f"starts has {k} entries but ends has {len(ends)}")
    axes = attrs["axes"] or tuple(range(k))
    steps = attrs["steps"] or (1,) * k
    if len(axes) != k or len(steps) != k:
        raise ValueError(f"starts, ends, axes and steps need equal lengths, got {k}, "
                         f"{len(ends)}, {len(axes)}, {len(steps)}")
    slices = [slice(None)] * len(shape)
    out = list(shape)
    for start, end, axis, step in zip(starts, ends, normalize_axes(axes, len(shape)), steps):
        if step == 0:
            raise ValueError("steps must not be 0")
        n = shape[axis]
        start = start + n if start < 0 else start
        end = end + n if end < 0 else end
        if step > 0:
            start, end = min(max(start, 0), n), min(max(end, 0), n)
        else:
            start, end = min(max(start, 0), n - 1), min(max(end, -1), n - 1)
        out[axis] = max(0, -(-(end - start) // step))
        slices[axis] = slice(start, None if end < 0 else end, step)
    return slices, tuple(out)


@register_op
class Slice(OpDef):
    """y = x[start_0:end_0:step_0, ...] along the listed axes (ONNX Slice with
    constant starts/ends/axes/steps; out-of-range values clamp, so INT64_MAX as
    an end means "to the end" and INT64_MIN with a negative step "to the
    front").  Empty axes means 0..len(starts)-1; empty steps means all 1."""

    name = "nn.slice"
    operands = (Operand("x"),)
    attrs = (Attr("starts", Ints(), doc="first index per sliced axis"),
             Attr("ends", Ints(), doc="end index (exclusive) per sliced axis"),
             Attr("axes", Ints(), (), "sliced axes; empty = the first len(starts) axes"),
             Attr("steps", Ints(), (), "step per sliced axis (non-zero); empty = all 1"))

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        return same_scale(types[0], slice_plan(types[0].shape, attrs)[1])

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        slices, _ = slice_plan(inputs[0].shape, attrs)
        return np.asarray(inputs[0][tuple(slices)], order="C")

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> VjpResult:
        """y = x[slices] picks distinct elements, so x̄ = 0 except x̄[slices] = ȳ."""
        x = inputs[0]
        if x.dtype.kind != "f":
            return [None]
        slices, _ = slice_plan(x.shape, attrs)
        gx = np.zeros(x.shape, x.dtype)
        gx[tuple(slices)] = grad_outputs[0]
        return [gx]


@register_op
class Pad(OpDef):
    """Pad (or, with negative pads, crop) every axis (ONNX Pad).  ``pads`` holds
    all begins then all ends: [b_0, ..., b_{r-1}, e_0, ..., e_{r-1}], so axis i
    grows by b_i + e_i.  Modes: constant fills ``value``; reflect mirrors without
    repeating the edge (needs pads < the axis length, as onnxruntime requires;
    the ONNX spec's example 2 also allows longer, repeated reflections, which irc
    refuses); edge repeats the edge element.  Negative pads remove elements first.
    On a quantized integer operand ``value`` is a stored integer (pad with the
    zero point for a real 0)."""

    name = "nn.pad"
    operands = (Operand("x"),)
    attrs = (Attr("pads", Ints(), doc="begins of every axis, then ends of every axis"),
             Attr("mode", Enum("constant", "reflect", "edge"), "constant", "fill rule"),
             Attr("value", Float(), 0.0, "fill value of constant mode"))

    @staticmethod
    def _split(shape: tuple[int, ...], attrs: dict[str, Any]) -> list[tuple[int, int]]:
        r, pads = len(shape), attrs["pads"]
        if len(pads) != 2 * r:
            raise ValueError(f"pads needs 2 * rank = {2 * r} entries (all begins, then all "
                             f"ends), got {len(pads)}")
        pairs = list(zip(pads[:r], pads[r:]))
        for i, (b, e) in enumerate(pairs):
            n = shape[i]
            kept = n + min(b, 0) + min(e, 0)
            if kept < 0:
                raise ValueError(f"axis {i}: negative pads {b}, {e} remove more than its "
                                 f"{n} elements")
            grow = max(b, 0) + max(e, 0)
            if grow and attrs["mode"] == "reflect" and max(b, e) > kept - 1:
                raise ValueError(f"axis {i}: reflect pads {b}, {e} must be smaller than the "
                                 f"axis length {kept}")
            if grow and attrs["mode"] == "edge" and kept == 0:
                raise ValueError(f"axis {i}: edge padding of an empty axis")
        return pairs

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x = types[0]
        pairs = self._split(x.shape, attrs)
        return same_scale(x, tuple(n + b + e for n, (b, e) in zip(x.shape, pairs)))

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x = inputs[0]
        pairs = self._split(x.shape, attrs)
        crop = tuple(slice(-b if b < 0 else 0, n + e if e < 0 else n)
                     for n, (b, e) in zip(x.shape, pairs))
        x = x[crop]
        width = [(max(b, 0), max(e, 0)) for b, e in pairs]
        if not any(b or e for b, e in width):
            return np.array(x)
        if attrs["mode"] == "constant":
            return np.pad(x, width, mode="constant",
                          constant_values=np.asarray(attrs["value"]).astype(x.dtype))
        return np.pad(x, width, mode=attrs["mode"])

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> VjpResult:
        """Padding acts on each axis separately: along axis i, output position o
        copies input position src_i(o) (or the constant: no source).  src_i is the
        op applied to the index vector itself — crop, then np.pad of
        ``arange`` with the mode (−1 for constant fill) — and with the 0/1 matrix
        M_i[o, k] = [src_i(o) = k], x̄ = ȳ contracted with M_i along every axis i
        (a reflected or repeated edge element sums all its copies' gradients)."""
        x = inputs[0]
        if x.dtype.kind != "f":
            return [None]
        g = np.asarray(grad_outputs[0], np.float64)
        for i, (n, (b, e)) in enumerate(zip(x.shape, Pad._split(x.shape, attrs))):
            src = np.arange(-b if b < 0 else 0, n + e if e < 0 else n)
            width = (max(b, 0), max(e, 0))
            if attrs["mode"] == "constant":
                src = np.pad(src, width, constant_values=-1)
            elif any(width):
                src = np.pad(src, width, mode=attrs["mode"])
            m = (src[:, None] == np.arange(n)[None, :]).astype(np.float64)
            g = np.moveaxis(np.tensordot(g, m, axes=([i], [0])), -1, i)
        return [g.astype(x.dtype)]


@register_op
class Gather(OpDef):
    """y = take(x, indices, axis) (ONNX Gather): the result shape is
    x.shape[:axis] + indices.shape + x.shape[axis+1:], and
    y[i..., j..., k...] = x[i..., indices[j...], k...].  Indices (i32/i64) may be
    negative (counting from the end); out-of-range indices are an error."""

    name = "nn.gather"
    operands = (Operand("x"), Operand("indices"))
    attrs = (Attr("axis", Int(), 0, "the axis indexed"),)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x, idx = types
        if idx.dtype not in (DType.I32, DType.I64):
            raise ValueError(f"indices must be i32 or i64, got {idx.dtype}")
        if x.rank == 0:
            raise ValueError("cannot gather from a scalar")
        axis = normalize_axis(attrs["axis"], x.rank)
        return same_scale(x, x.shape[:axis] + idx.shape + x.shape[axis + 1:])

    def verify(self, node: Any) -> Iterable[str]:
        x, idx = node.inputs
        if idx.is_const and x.type.rank:
            why = index_range_problem(idx.const_value, x.type.shape, node.attrs["axis"])
            if why:
                yield f"constant {why}"

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x, idx = inputs
        axis = normalize_axis(attrs["axis"], x.ndim)
        why = index_range_problem(idx, x.shape, axis)
        if why:
            raise ValueError(why)
        return np.asarray(np.take(x, idx, axis=axis))

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> VjpResult:
        """y[i, j, k] = x[i, idx[j], k], so x̄[i, m, k] = Σ_{j : idx[j] = m} ȳ[i, j, k]
        (scatter-add: a repeated index sums its gradients); indices get None."""
        x, idx = inputs
        if x.dtype.kind != "f":
            return [None, None]
        axis = normalize_axis(attrs["axis"], x.ndim)
        gx = np.zeros(x.shape, x.dtype)
        np.add.at(gx, (slice(None),) * axis + (np.asarray(idx) % x.shape[axis],),
                  grad_outputs[0])
        return [gx, None]


def index_range_problem(idx: Array, shape: Sequence[int], axis: int) -> str | None:
    """Why ``idx`` cannot index axis ``axis`` of ``shape`` (ONNX allows ``-n..n-1``),
    or None.  Shared by nn.gather and nn.gather_elements."""
    n = shape[normalize_axis(axis, len(shape))]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        return (f"indices [{int(idx.min())}, {int(idx.max())}] are out of range "
                f"[{-n}, {n - 1}] for axis {axis} of length {n}")
    return None


# --- cast -------------------------------------------------------------------------------

def cast_array(x: Array, to: DType) -> Array:
    """``x`` converted to ``to`` (stored as ``to.storage``), ONNX Cast semantics
    with the cases ONNX leaves undefined decided:

    * to float: nearest (numpy ``astype``); values too large become +-inf;
    * to b1: x != 0 (NaN is true);
    * float to integer: truncate toward zero, then *saturate* to the target
      range (ONNX leaves out-of-range undefined; saturation is cheap in C and
      deterministic); NaN becomes 0;
    * integer or bool to integer: keep the low ``bits`` bits, two's complement
      (ONNX's rule), also for the sub-byte types i4/u4/i2/u2.
    """
    if to.is_float:
        with np.errstate(over="ignore"):
            return x.astype(to.storage)
    if to.is_bool:
        return np.asarray(x != 0)
    if x.dtype.kind == "f":
        t = np.asarray(np.trunc(x.astype(np.float64)))
        t[np.isnan(t)] = 0
        lo, hi = int(to.min), int(to.max)
        with np.errstate(invalid="ignore", over="ignore"):
            out = np.asarray(np.clip(t, lo, hi)).astype(to.storage)
        out[t >= hi] = hi
        out[t <= lo] = lo
        return out
    if to.bits >= 8:
        return x.astype(to.storage)
    return wrap_int(x, to)


@register_op
class Cast(OpDef):
    """Convert elements to dtype ``to`` (ONNX Cast; the exact rules, including
    the ones ONNX leaves undefined, are :func:`cast_array`'s: float -> int
    truncates toward zero and saturates, NaN -> 0; int -> int wraps)."""

    name = "nn.cast"
    operands = (Operand("x"),)
    attrs = (Attr("to", DTypeAttr(), doc="the result's element type"),)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        return TensorType(attrs["to"], types[0].shape)

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        return cast_array(inputs[0], attrs["to"])

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> VjpResult:
        """Float to float: x̄ = ȳ in x's dtype (rounding is the identity to first
        order).  Casts to or from integers and b1 are piecewise constant: None."""
        x = inputs[0]
        if x.dtype.kind != "f" or not attrs["to"].is_float:
            return [None]
        return [grad_like(grad_outputs[0], x)]

