"""From an IR graph to the runtime's program: which kernel runs each node.

:func:`lower_program` maps every IR node to runtime nodes (docs/artifact.md,
"Ops") and computes what the runtime should not: requantization multipliers per
channel, lookup tables, explicit pads.  These fusions happen here because the
runtime's kernels do them in their epilogue:

* ``q.conv2d`` / ``q.matmul`` followed by its only user ``q.requantize``
  (fixed point, per-tensor result) become one ``qconv2d`` / ``qmatmul`` whose
  int32 accumulator never reaches memory;
* ``q.mul`` followed by such a ``q.requantize`` becomes one ``qmul``;
* a ``q.lut`` (hardswish, sigmoid...) that is the only user of a fused conv's result is
  applied by the ``qconv2d`` itself, block by block while the output is in cache;
* ``sparse.qconv2d`` / ``sparse.qmatmul`` fuse their sole ``q.requantize`` into one
  ``qspmm`` as the dense ops do.

Constants whose type carries a ``csr`` / ``bsr<r x c>`` encoding keep it in the
program (:attr:`RtTensor.encoding`) when every runtime node reads them as sparse
weights (input 1 of ``qspmm`` / ``spmm``); the writer stores them as the blob of
:mod:`irc.sparse_format`.  Any other reader of such a constant gets a dense twin,
and constants of encodings the runtime does not store are written dense (an
encoding never changes what a constant means).

Each IR op's lowering is a hook on the op (``@op_hook(op, "artifact")``), so a
plugin op with a runtime kernel adds its own.  The memory plan
(:mod:`irc.passes.plan_memory`) and the writer both work on the program this
returns, so the plan sees exactly the tensors the runtime will hold.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..dtypes import DType
from ..errors import IrcError
from ..ir import Graph, Node, Value
from ..ops._registry import get_op, normalize_axis, op_hook
from ..ops._window import window
from ..sparse_format import sparse_params, stored_nbytes
from ..types import Encoding, PerAxis, PerTensor, QuantParams
from . import opcodes


class ArtifactError(IrcError):
    """A graph cannot be written as an ``.ircm`` artifact (an op or dtype the
    runtime has no kernel for, a parameter outside what the kernels take)."""


@dataclass
class RtTensor:
    """A tensor of the runtime program: an arena tensor, or a constant (``const``,
    stored with ``encoding``: None for dense, else csr or bsr<r x c>)."""

    name: str
    dtype: DType
    shape: tuple[int, ...]
    quant: QuantParams | None = None
    const: np.ndarray | None = None
    encoding: Encoding | None = None

    @property
    def nbytes(self) -> int:
        """Bytes in the artifact: the arena tensor, the dense constant, or the blob."""
        if self.const is not None and self.encoding is not None:
            return stored_nbytes(self.const, self.encoding)
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.storage.itemsize


@dataclass
class RtNode:
    """One runtime node: ``op`` (a name of :data:`opcodes.OPS`), tensor names
    (None for an absent optional input) and its parameter words."""

    op: str
    name: str
    inputs: list[str | None]
    outputs: list[str]
    params: list[int] = field(default_factory=list)


@dataclass
class Program:
    tensors: dict[str, RtTensor]
    nodes: list[RtNode]
    inputs: list[str]
    outputs: list[str]

    def arena_tensors(self) -> list[str]:
        """Names of the tensors the arena holds, in order of first appearance."""
        seen: dict[str, None] = {n: None for n in self.inputs}
        for node in self.nodes:
            for t in node.outputs:
                seen[t] = None
        return list(seen)


def f32_bits(v: float) -> int:
    """A float parameter word: the bit pattern of ``f32(v)`` as a signed int32."""
    return struct.unpack("<i", struct.pack("<f", float(v)))[0]


# ---------------------------------------------------------------------------------------------
# The lowering context the hooks see
# ---------------------------------------------------------------------------------------------

Hook = Callable[["Lowering", Node], None]


class Lowering:
    """Builds the :class:`Program`; hooks call :meth:`emit` and :meth:`const`."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.tensors: dict[str, RtTensor] = {}
        self.nodes: list[RtNode] = []
        self.fused: set[int] = set()           # id() of IR nodes absorbed into another's kernel
        self.errors: list[str] = []

    # -- tensors -----------------------------------------------------------------------------
    def tensor(self, v: Value) -> str:
        """The program tensor for IR value ``v`` (created on first use)."""
        if v.name not in self.tensors:
            t = v.type
            if t.dtype not in opcodes.DTYPES:
                raise ArtifactError(f"%{v.name}: dtype {t.dtype} has no runtime kernels (the "
                                    f"runtime handles {', '.join(str(d) for d in opcodes.DTYPES)})")
            const = np.ascontiguousarray(v.const_value.astype(t.dtype.storage)) \
                if v.is_const else None
            enc = t.encoding if const is not None and sparse_params(t.encoding) else None
            self.tensors[v.name] = RtTensor(v.name, t.dtype, tuple(t.shape), t.quant, const, enc)
        return v.name

    def _fresh(self, hint: str) -> str:
        name, k = hint, 1
        while name in self.tensors or self.graph.has_name(name):
            name = f"{hint}.{k}"
            k += 1
        return name

    def intermediate(self, hint: str, dtype: DType, shape: Sequence[int]) -> str:
        """A new arena tensor between two runtime nodes of one IR node."""
        name = self._fresh(hint)
        self.tensors[name] = RtTensor(name, dtype, tuple(shape))
        return name

    def const(self, hint: str, array: np.ndarray, dtype: DType) -> str:
        """A new constant tensor holding ``array`` as ``dtype`` (kernel parameters)."""
        name = self._fresh(hint)
        arr = np.ascontiguousarray(np.asarray(array).astype(dtype.storage))
        self.tensors[name] = RtTensor(name, dtype, tuple(arr.shape), None, arr)
        return name

    def emit(self, op: str, node: Node, inputs: Sequence[Value | str | None],
             params: Sequence[int] = (), outputs: Sequence[Value] | None = None) -> None:
        names = [None if v is None else (v if isinstance(v, str) else self.tensor(v))
                 for v in inputs]
        outs = [self.tensor(v) for v in (outputs if outputs is not None else node.outputs)]
        self.nodes.append(RtNode(op, outs[0], names, outs, [int(p) for p in params]))

    def sole_user(self, v: Value, op: str) -> Node | None:
        """The node using ``v`` if it is the only use, is ``op`` and ``v`` is not a graph output."""
        users = v.users
        if len(users) != 1 or users[0].op != op or v in self.graph.outputs:
            return None
        return users[0]

    def fail(self, node: Node, why: str) -> None:
        raise ArtifactError(f"node %{node.outputs[0].name} ({node.op}): {why}")


def _hook(op: str) -> Hook | None:
    return get_op(op).hook("artifact")


def lower_program(graph: Graph) -> Program:
    """The runtime program of ``graph`` (already cleaned: constants folded, dead code
    removed).  Raises :class:`ArtifactError` naming every node whose op the runtime
    cannot run, or the first node whose parameters it cannot take."""
    missing = [n for n in graph.nodes if n.op != "const" and _hook(n.op) is None]
    if missing:
        by_op: dict[str, list[str]] = {}
        for n in missing:
            by_op.setdefault(n.op, []).append("%" + n.outputs[0].name)
        lines = [f"{op} ({len(ns)}: {', '.join(ns[:3])}{', ...' if len(ns) > 3 else ''})"
                 for op, ns in sorted(by_op.items())]
        raise ArtifactError("the runtime has no kernel for: " + "; ".join(lines)
                            + " (docs/artifact.md lists the runtime's ops)")
    low = Lowering(graph)
    for v in graph.inputs:
        low.tensor(v)
    for node in graph.nodes:
        if node.op == "const" or id(node) in low.fused:
            continue
        _hook(node.op)(low, node)  # type: ignore[misc]
    outputs = []
    for v in graph.outputs:
        name = low.tensor(v)
        produced = any(name in n.outputs for n in low.nodes)
        if not produced:   # a constant or an input as output: the runtime needs a node to write it
            src = low.tensors[name]
            copy = low.intermediate(f"{name}.out", src.dtype, src.shape)
            low.tensors[copy].quant = src.quant
            low.nodes.append(RtNode("copy", copy, [name], [copy]))
            name = copy
        outputs.append(name)
    _dense_twins(low)
    inputs = [v.name for v in graph.inputs]
    used = set(inputs) | set(outputs)
    for n in low.nodes:
        used.update(t for t in n.inputs if t is not None)
        used.update(n.outputs)
    tensors = {k: t for k, t in low.tensors.items() if k in used}
    return Program(tensors, low.nodes, inputs, outputs)


def _dense_twins(low: Lowering) -> None:
    """Only the weights of ``qspmm`` / ``spmm`` (input 1) may be encoded in the artifact:
    any other reader of an encoded constant gets a dense copy of it."""
    twins: dict[str, str] = {}
    for node in low.nodes:
        for i, t in enumerate(node.inputs):
            if t is None or low.tensors[t].encoding is None:
                continue
            if node.op in ("qspmm", "spmm") and i == 1:
                continue
            if t not in twins:
                src = low.tensors[t]
                twins[t] = low._fresh(f"{t}.dense")
                low.tensors[twins[t]] = RtTensor(twins[t], src.dtype, src.shape, src.quant,
                                                 src.const)
            node.inputs[i] = twins[t]


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------

def _registers(*ops: str) -> Callable[[Hook], Hook]:
    def deco(fn: Hook) -> Hook:
        for op in ops:
            op_hook(op, "artifact")(fn)
        return fn
    return deco


def _axis(node: Node, rank: int, attr: str = "axis") -> int:
    return normalize_axis(node.attrs[attr], rank)


def _clamp_ints(node: Node, dtype: DType) -> tuple[int, int]:
    c = node.attrs.get("clamp", ())
    return (int(c[0]), int(c[1])) if c else (int(dtype.min), int(dtype.max))


def _clamp_floats(node: Node) -> tuple[int, int]:
    c = node.attrs.get("clamp", ())
    lo, hi = (float(c[0]), float(c[1])) if c else (-math.inf, math.inf)
    return f32_bits(lo), f32_bits(hi)


def _per_channel(values: Sequence[int], n: int) -> np.ndarray:
    a = np.asarray(list(values), np.int64)
    return np.full(n, a[0]) if a.size == 1 else a


def _require_per_tensor(low: Lowering, node: Node, v: Value, what: str) -> PerTensor:
    q = v.type.quant
    if not isinstance(q, PerTensor):
        low.fail(node, f"{what} %{v.name} must be quantized per tensor for the runtime, got "
                       f"{v.type}")
    return q  # type: ignore[return-value]


def _check_weights(low: Lowering, node: Node, w: Value) -> None:
    """Constant weights must be symmetric: int8 with zero point 0, or uint8 with 128."""
    q = w.type.quant
    zps = [q.zero_point] if isinstance(q, PerTensor) else list(q.zero_points)  # type: ignore
    want = 0 if w.type.dtype is DType.I8 else 128
    if w.type.dtype not in (DType.I8, DType.U8) or any(z != want for z in zps):
        low.fail(node, f"weights %{w.name} ({w.type}) must be i8 with zero point 0 or u8 with "
                       "zero point 128: the runtime's int8 kernels take symmetric weights "
                       "(quantize with quant{symmetric=true}, irc's default)")


def _fusable_requantize(low: Lowering, node: Node) -> Node | None:
    """The fixed-point ``q.requantize`` that can be folded into ``node``'s kernel."""
    rq = low.sole_user(node.outputs[0], "q.requantize")
    if rq is None or rq.attrs["method"] != "fixed_point":
        return None
    if rq.outputs[0].type.dtype not in (DType.I8, DType.U8):
        return None
    return rq


# ---------------------------------------------------------------------------------------------
# Data movement
# ---------------------------------------------------------------------------------------------

@_registers("nn.reshape", "nn.flatten", "nn.squeeze", "nn.unsqueeze", "nn.identity",
            "q.reinterpret", "calib.observe")
def _copy(low: Lowering, node: Node) -> None:
    low.emit("copy", node, [node.inputs[0]])


@_registers("nn.transpose")
def _transpose(low: Lowering, node: Node) -> None:
    rank = node.inputs[0].type.rank
    perm = list(node.attrs["perm"]) or list(range(rank))[::-1]
    low.emit("transpose", node, [node.inputs[0]], perm)


@_registers("nn.concat")
def _concat(low: Lowering, node: Node) -> None:
    low.emit("concat", node, list(node.inputs), [_axis(node, node.outputs[0].type.rank)])


@_registers("nn.split")
def _split(low: Lowering, node: Node) -> None:
    low.emit("split", node, [node.inputs[0]], [_axis(node, node.inputs[0].type.rank)])


@_registers("nn.slice")
def _slice(low: Lowering, node: Node) -> None:
    from ..ops.nn_shape import slice_plan
    shape = node.inputs[0].type.shape
    slices, _ = slice_plan(shape, node.attrs)
    starts, steps = [], []
    for dim, slc in zip(shape, slices):
        r = range(dim)[slc]
        starts.append(r.start if len(r) else 0)
        steps.append(r.step)
    low.emit("slice", node, [node.inputs[0]], starts + steps)


@_registers("nn.pad")
def _pad(low: Lowering, node: Node) -> None:
    x = node.inputs[0]
    pads = list(node.attrs["pads"])
    if node.attrs["mode"] != "constant" or any(p < 0 for p in pads):
        low.fail(node, "the runtime pads with a constant only (no reflect/edge modes, no "
                       "negative pads)")
    value = node.attrs["value"]
    word = f32_bits(value) if x.type.dtype is DType.F32 else \
        int(np.asarray(value).astype(x.type.dtype.storage))
    low.emit("pad", node, [x], pads + [word])


@_registers("nn.gather")
def _gather(low: Lowering, node: Node) -> None:
    low.emit("gather", node, list(node.inputs), [_axis(node, node.inputs[0].type.rank)])


@_registers("nn.expand")
def _expand(low: Lowering, node: Node) -> None:
    low.emit("expand", node, [node.inputs[0]])


@_registers("nn.cast")
def _cast(low: Lowering, node: Node) -> None:
    low.emit("cast", node, [node.inputs[0]])


# ---------------------------------------------------------------------------------------------
# Integer ops
# ---------------------------------------------------------------------------------------------

_ROUNDING = {"half_away": 0, "half_even": 1}


@_registers("q.quantize")
def _quantize(low: Lowering, node: Node) -> None:
    _require_per_tensor(low, node, node.outputs[0], "the result")
    low.emit("quantize", node, [node.inputs[0]], [_ROUNDING[node.attrs["rounding"]]])


@_registers("q.dequantize")
def _dequantize(low: Lowering, node: Node) -> None:
    x = node.inputs[0]
    if node.outputs[0].type.dtype is not DType.F32:
        low.fail(node, "the runtime dequantizes to f32 only")
    q = x.type.quant
    if isinstance(q, PerAxis):
        scales = low.const(f"{node.outputs[0].name}.scales", np.asarray(q.scales), DType.F32)
        zps = low.const(f"{node.outputs[0].name}.zero_points", np.asarray(q.zero_points),
                        DType.I32)
        low.emit("dequantize", node, [x, scales, zps], [q.axis])
    else:
        low.emit("dequantize", node, [x, None, None], [-1])


def _requant_operands(low: Lowering, rq: Node, channels: int, base: str) -> tuple[str, str]:
    """Per-channel multiplier and shift constants (length ``channels``) of a fixed-point
    ``q.requantize``."""
    m = _per_channel(rq.attrs["multipliers"], channels)
    s = _per_channel(rq.attrs["shifts"], channels)
    return (low.const(f"{base}.multipliers", m, DType.I32),
            low.const(f"{base}.shifts", s, DType.I32))


@_registers("q.requantize")
def _requantize(low: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    q_in = x.type.quant
    axis, channels = -1, 1
    if isinstance(q_in, PerAxis):
        if any(q_in.zero_points):
            low.fail(node, "a per-axis operand of q.requantize must have zero points 0")
        axis, channels = q_in.axis, len(q_in.scales)
    lo, hi = _clamp_ints(node, y.type.dtype)
    rounding = _ROUNDING[node.attrs["rounding"]]
    if node.attrs["method"] == "fixed_point":
        m, s = _requant_operands(low, node, channels, y.name)
        low.emit("requantize", node, [x, m, s], [0, rounding, axis, lo, hi])
    else:
        scales = [q_in.scale] if isinstance(q_in, PerTensor) else list(q_in.scales)  # type: ignore
        mf = (np.asarray(scales, np.float32) / np.float32(node.attrs["scale"])).astype(np.float32)
        mf = np.full(channels, mf[0], np.float32) if mf.size == 1 else mf
        mult = low.const(f"{y.name}.multipliers", mf, DType.F32)
        low.emit("requantize", node, [x, mult, None], [1, rounding, axis, lo, hi])


@_registers("q.conv2d")
def _qconv2d(low: Lowering, node: Node) -> None:
    x, w = node.inputs[0], node.inputs[1]
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    _require_per_tensor(low, node, x, "input")
    if not w.is_const:
        low.fail(node, "the runtime needs constant conv weights")
    _check_weights(low, node, w)
    a = node.attrs
    win = window(x.type.shape[2:], w.type.shape[2:], a["strides"], a["dilations"], a["pads"],
                 a["auto_pad"])
    geometry = [a["strides"][0], a["strides"][1], win.pads[0], win.pads[1], win.pads[2],
                win.pads[3], a["dilations"][0], a["dilations"][1], a["groups"]]
    rq = _fusable_requantize(low, node)
    oc = w.type.shape[0]
    if rq is None:
        low.emit("qconv2d", node, [x, w, bias, None, None], geometry + [0, 0])
        return
    low.fused.add(id(rq))
    y = rq.outputs[0]
    m, s = _requant_operands(low, rq, oc, y.name)
    lo, hi = _clamp_ints(rq, y.type.dtype)
    lut = low.sole_user(y, "q.lut")
    if lut is None:
        low.emit("qconv2d", node, [x, w, bias, m, s], geometry + [lo, hi], outputs=[y])
        return
    # the activation table applied to each output block while it is still in cache
    low.fused.add(id(lut))
    out = lut.outputs[0]
    table = low.const(f"{out.name}.table", np.asarray(lut.attrs["table"]), out.type.dtype)
    low.emit("qconv2d", node, [x, w, bias, m, s, table],
             geometry + [lo, hi, int(y.type.dtype is DType.I8), y.type.quant.zero_point],
             outputs=[out])


@_registers("q.matmul")
def _qmatmul(low: Lowering, node: Node) -> None:
    a, b = node.inputs[0], node.inputs[1]
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    _require_per_tensor(low, node, a, "a")
    if b.is_const:
        _check_weights(low, node, b)
    else:
        _require_per_tensor(low, node, b, "b")
    rq = _fusable_requantize(low, node)
    n = node.outputs[0].type.shape[-1]
    if rq is None:
        low.emit("qmatmul", node, [a, b, bias, None, None], [0, 0])
        return
    low.fused.add(id(rq))
    y = rq.outputs[0]
    m, s = _requant_operands(low, rq, n, y.name)
    lo, hi = _clamp_ints(rq, y.type.dtype)
    low.emit("qmatmul", node, [a, b, bias, m, s], [lo, hi], outputs=[y])


@_registers("q.add")
def _qadd(low: Lowering, node: Node) -> None:
    (ma, mb, my), (sa, sb, sy) = node.attrs["multipliers"], node.attrs["shifts"]
    lo, hi = _clamp_ints(node, node.outputs[0].type.dtype)
    low.emit("qadd", node, list(node.inputs),
             [node.attrs["left_shift"], ma, sa, mb, sb, my, sy, lo, hi])


@_registers("q.mul")
def _qmul(low: Lowering, node: Node) -> None:
    rq = _fusable_requantize(low, node)
    if rq is None or len(rq.attrs["multipliers"]) != 1:
        low.emit("qmul", node, list(node.inputs), [0, 0, 0, 0, 0])
        return
    low.fused.add(id(rq))
    y = rq.outputs[0]
    lo, hi = _clamp_ints(rq, y.type.dtype)
    low.emit("qmul", node, list(node.inputs),
             [1, rq.attrs["multipliers"][0], rq.attrs["shifts"][0], lo, hi], outputs=[y])


@_registers("q.lut")
def _qlut(low: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    if x.type.dtype not in (DType.I8, DType.U8):
        low.fail(node, f"the runtime's lookup tables index 8-bit tensors, not {x.type.dtype}")
    table = low.const(f"{y.name}.table", np.asarray(node.attrs["table"]), y.type.dtype)
    low.emit("qlut", node, [x, table])


def _pool_params(node: Node, count_include_pad: bool) -> list[int]:
    a = node.attrs
    x = node.inputs[0]
    win = window(x.type.shape[2:], a["kernel"], a["strides"], (1, 1), a["pads"], a["auto_pad"],
                 a["ceil_mode"])
    return [a["kernel"][0], a["kernel"][1], a["strides"][0], a["strides"][1], *win.pads,
            int(count_include_pad), int(a["ceil_mode"])]


@_registers("q.avg_pool")
def _qavgpool(low: Lowering, node: Node) -> None:
    low.emit("qavgpool", node, [node.inputs[0]],
             _pool_params(node, node.attrs["count_include_pad"]))


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------

@_registers("nn.max_pool")
def _maxpool(low: Lowering, node: Node) -> None:
    a = node.attrs
    x = node.inputs[0]
    if x.type.rank != 4:
        low.fail(node, "the runtime pools 4-D NCHW tensors")
    win = window(x.type.shape[2:], a["kernel"], a["strides"], a["dilations"], a["pads"],
                 a["auto_pad"], a["ceil_mode"])
    low.emit("maxpool", node, [x], [a["kernel"][0], a["kernel"][1], a["strides"][0],
                                    a["strides"][1], *win.pads, a["dilations"][0],
                                    a["dilations"][1], int(a["ceil_mode"])])


@_registers("nn.avg_pool")
def _avgpool(low: Lowering, node: Node) -> None:
    if node.inputs[0].type.rank != 4:
        low.fail(node, "the runtime pools 4-D NCHW tensors")
    low.emit("avgpool", node, [node.inputs[0]],
             _pool_params(node, node.attrs["count_include_pad"]))


@_registers("nn.global_avg_pool", "nn.global_max_pool")
def _globalpool(low: Lowering, node: Node) -> None:
    low.emit("globalpool", node, [node.inputs[0]], [0 if node.op == "nn.global_avg_pool" else 1])


# ---------------------------------------------------------------------------------------------
# Float ops
# ---------------------------------------------------------------------------------------------

@_registers("nn.conv2d")
def _conv2d(low: Lowering, node: Node) -> None:
    x, w = node.inputs[0], node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    if not w.is_const or (b is not None and not b.is_const):
        low.fail(node, "the runtime needs constant conv weights and bias")
    a = node.attrs
    win = window(x.type.shape[2:], w.type.shape[2:], a["strides"], a["dilations"], a["pads"],
                 a["auto_pad"])
    lo, hi = _clamp_floats(node)
    low.emit("conv2d", node, [x, w, b],
             [a["strides"][0], a["strides"][1], *win.pads, a["dilations"][0], a["dilations"][1],
              a["groups"], lo, hi])


@_registers("nn.matmul")
def _matmul(low: Lowering, node: Node) -> None:
    lo, hi = _clamp_floats(node)
    low.emit("matmul", node, [node.inputs[0], node.inputs[1], None], [lo, hi])


@_registers("nn.gemm")
def _gemm(low: Lowering, node: Node) -> None:
    """``alpha·A'·B' + beta·C`` as a matmul: transposes and alpha folded into constant
    operands, ``beta·C`` as a per-column bias (or a following ``binary`` add)."""
    a, b = node.inputs[0], node.inputs[1]
    c = node.inputs[2] if len(node.inputs) > 2 else None
    at = node.attrs
    y = node.outputs[0]
    if at["trans_a"]:
        low.fail(node, "the runtime's gemm takes A untransposed (trans_a = 0)")
    if not b.is_const and (at["trans_b"] or at["alpha"] != 1.0):
        low.fail(node, "a non-constant B must be untransposed with alpha = 1")
    b_name: Value | str = b
    if b.is_const and (at["trans_b"] or at["alpha"] != 1.0):
        bv = b.const_value.astype(np.float32)
        bv = (bv.T if at["trans_b"] else bv) * np.float32(at["alpha"])
        b_name = low.const(f"{y.name}.b", bv, DType.F32)
    n = y.type.shape[-1]
    bias: str | None = None
    rest: Value | None = None
    if c is not None and at["beta"] != 0.0:
        if c.is_const and int(np.prod(c.type.shape)) in (1, n) and c.type.shape[-1:] in ((n,), (1,)):
            cv = np.broadcast_to(c.const_value.astype(np.float32).reshape(-1), (n,))
            bias = low.const(f"{y.name}.bias", cv * np.float32(at["beta"]), DType.F32)
        elif at["beta"] == 1.0:
            rest = c
        else:
            low.fail(node, "beta·C with a non-constant C needs beta = 1")
    lo, hi = _clamp_floats(node)
    if rest is None:
        low.emit("matmul", node, [a, b_name, bias], [lo, hi])
        return
    mid = low.intermediate(f"{y.name}.mm", DType.F32, y.type.shape)
    inf = f32_bits(math.inf)
    low.nodes.append(RtNode("matmul", mid, [low.tensor(a), b_name if isinstance(b_name, str)
                                            else low.tensor(b_name), None], [mid],
                            [f32_bits(-math.inf), inf]))
    low.emit("binary", node, [mid, rest], [opcodes.BINARY["nn.add"], lo, hi])


@_registers(*[op for op in opcodes.BINARY])
def _binary(low: Lowering, node: Node) -> None:
    lo, hi = _clamp_floats(node) if node.op == "nn.add" else (f32_bits(-math.inf),
                                                              f32_bits(math.inf))
    low.emit("binary", node, list(node.inputs), [opcodes.BINARY[node.op], lo, hi])


@_registers(*[op for op in opcodes.UNARY if op.startswith("nn.")], "nn.relu6", "nn.gelu")
def _unary(low: Lowering, node: Node) -> None:
    a = node.attrs
    p0 = p1 = 0.0
    op = node.op
    if op == "nn.relu6":
        op, p0, p1 = "nn.clip", 0.0, 6.0
    elif op == "nn.clip":
        p0 = -math.inf if a.get("min") is None else a["min"]
        p1 = math.inf if a.get("max") is None else a["max"]
    elif op == "nn.gelu":
        op = "gelu_tanh" if a["approximate"] == "tanh" else "gelu_exact"
    elif op == "nn.hardsigmoid":
        p0, p1 = a["alpha"], a["beta"]
    elif op == "nn.leaky_relu":
        p0 = a["alpha"]
    elif op == "nn.is_inf":
        p0, p1 = float(a["detect_positive"]), float(a["detect_negative"])
    low.emit("unary", node, [node.inputs[0]], [opcodes.UNARY[op], f32_bits(p0), f32_bits(p1)])


@_registers("nn.where")
def _where(low: Lowering, node: Node) -> None:
    low.emit("where", node, list(node.inputs))


@_registers("nn.softmax", "nn.log_softmax")
def _softmax(low: Lowering, node: Node) -> None:
    low.emit("softmax", node, [node.inputs[0]],
             [_axis(node, node.inputs[0].type.rank), int(node.op == "nn.log_softmax")])


@_registers("nn.layer_norm")
def _layernorm(low: Lowering, node: Node) -> None:
    ins = list(node.inputs) + [None] * (3 - len(node.inputs))
    for v in ins[1:]:
        if v is not None and not v.is_const:
            low.fail(node, "the runtime needs constant layer-norm scale and bias")
    low.emit("layernorm", node, ins, [_axis(node, node.inputs[0].type.rank),
                                      f32_bits(node.attrs["epsilon"])])


@_registers(*opcodes.REDUCE)
def _reduce(low: Lowering, node: Node) -> None:
    rank = node.inputs[0].type.rank
    axes = sorted(normalize_axis(a, rank) for a in node.attrs["axes"]) or list(range(rank))
    low.emit("reduce", node, [node.inputs[0]],
             [opcodes.REDUCE[node.op], int(node.attrs["keepdims"]), len(axes), *axes])


@_registers("nn.batch_norm")
def _batch_norm(low: Lowering, node: Node) -> None:
    """Inference batch norm as ``x·a + c`` over axis 1 with ``a = scale / sqrt(var + eps)``,
    ``c = bias − mean·a`` (constant operands; the fuse-bn pass removes most of them)."""
    x, scale, bias, mean, var = node.inputs
    if node.attrs["training"]:
        low.fail(node, "a training-mode batch norm (training = true) does not lower; "
                       "set training = false to normalize with the running statistics")
    if not all(v.is_const for v in (scale, bias, mean, var)):
        low.fail(node, "the runtime needs constant batch-norm parameters")
    eps = np.float32(node.attrs["epsilon"])
    mul = scale.const_value.astype(np.float32) / np.sqrt(var.const_value.astype(np.float32) + eps)
    add = bias.const_value.astype(np.float32) - mean.const_value.astype(np.float32) * mul
    shape = (-1,) + (1,) * (x.type.rank - 2)
    y = node.outputs[0]
    a_name = low.const(f"{y.name}.a", mul.reshape(shape), DType.F32)
    c_name = low.const(f"{y.name}.c", add.reshape(shape), DType.F32)
    mid = low.intermediate(f"{y.name}.scaled", DType.F32, x.type.shape)
    inf = f32_bits(math.inf)
    low.nodes.append(RtNode("binary", mid, [low.tensor(x), a_name], [mid],
                            [opcodes.BINARY["nn.mul"], f32_bits(-math.inf), inf]))
    low.emit("binary", node, [mid, c_name], [opcodes.BINARY["nn.add"], f32_bits(-math.inf), inf])


# ---------------------------------------------------------------------------------------------
# Sparse weights (csr / bsr constants): spmm (float) and qspmm (int8), layout 0 = 1x1 conv,
# layout 1 = fully connected
# ---------------------------------------------------------------------------------------------

def _sparse_weights(low: Lowering, node: Node, w: Value) -> None:
    if not w.is_const or sparse_params(w.type.encoding) is None:
        low.fail(node, f"weights %{w.name} ({w.type}) must be a constant stored csr or "
                       "bsr<r x c> (the sparse-encode pass sets the encoding)")


def _sparse_layout(node: Node) -> int:
    return 0 if node.op in ("sparse.conv2d", "sparse.qconv2d") else 1


@_registers("sparse.conv2d", "sparse.matmul")
def _spmm(low: Lowering, node: Node) -> None:
    x, w = node.inputs[0], node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    _sparse_weights(low, node, w)
    if b is not None and not b.is_const:
        low.fail(node, "the runtime needs a constant bias")
    lo, hi = _clamp_floats(node)
    low.emit("spmm", node, [x, w, b], [_sparse_layout(node), lo, hi])


@_registers("sparse.qconv2d", "sparse.qmatmul")
def _qspmm(low: Lowering, node: Node) -> None:
    x, w = node.inputs[0], node.inputs[1]
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    _require_per_tensor(low, node, x, "input")
    _sparse_weights(low, node, w)
    q = w.type.quant
    zps = [q.zero_point] if isinstance(q, PerTensor) else \
        list(q.zero_points) if isinstance(q, PerAxis) and q.axis == 0 else [None]
    if w.type.dtype is not DType.I8 or any(z != 0 for z in zps):
        low.fail(node, f"weights %{w.name} ({w.type}) must be i8 with zero point 0, per tensor "
                       "or per output channel (axis 0): a weight the blob does not store is 0")
    if bias is not None and not bias.is_const:
        low.fail(node, "the runtime needs a constant bias")
    layout = _sparse_layout(node)
    rq = _fusable_requantize(low, node)
    if rq is None:
        low.emit("qspmm", node, [x, w, bias, None, None], [layout, 0, 0])
        return
    low.fused.add(id(rq))
    y = rq.outputs[0]
    m, s = _requant_operands(low, rq, w.type.shape[0], y.name)
    lo, hi = _clamp_ints(rq, y.type.dtype)
    low.emit("qspmm", node, [x, w, bias, m, s], [layout, lo, hi], outputs=[y])


def unused_hooks() -> list[str]:
    """IR ops with no artifact hook (for docs and tests)."""
    from ..ops._registry import all_ops
    return sorted(n for n, d in all_ops().items() if n != "const" and d.hook("artifact") is None)

