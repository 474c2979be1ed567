"""``quant``: lower a calibrated float graph to integer ``q.*`` ops.

Default scheme: TFLite's int8 spec (:mod:`irc.quant_params`) — weights int8
symmetric per output channel, activations int8 asymmetric per tensor, bias
int32 in accumulator units, requantization by fixed-point multiplier and shift
(:mod:`irc.fixedpoint`), fused ReLU/ReLU6/clip as the requantization's clamp.

**Which nodes go integer.**  Each node gets a domain, ``int`` or ``float``:

* *anchor* ops always go integer when they can: conv2d, and gemm/matmul (with
  constant weights, or between two activations as in attention);
* *flexible* ops can run either way — add, mul, unary elementwise functions
  (as a ``q.lut`` table), average pools, and data movement (reshape, transpose,
  slice, pad, concat, max pool ..., which carry their operand's parameters);
* everything else (softmax, layer_norm, ...), every op named by ``exclude``,
  and any node a needed range is missing for stays float.

Flexible nodes start integer, then a local search flips any node whose flip
lowers the number of conversions — one ``q.quantize`` per float value read in
the integer domain, one ``q.dequantize`` per integer value read in float (or
returned as a graph output) — until no flip helps; ties stay integer.  So a
transformer keeps softmax/layer_norm in float with the fewest boundaries.

**Emission.**  A new graph is built in the old one's order.  A node's result
keeps its name in whichever domain it runs; conversions are named
``<value>.q`` / ``<value>.dq``; a graph output keeps its name (returned in
float).  Ranges come from a preceding ``calibrate`` pass, or, when the graph
has none, from running calibration here on ``PassContext.calib_data``.

``weight_only = true`` instead stores the weights of conv2d/gemm/matmul as
``bits``-bit integers (per output channel, or per group of ``group_size``
along the reduction axis) dequantized to float at run time; no calibration.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Literal, Optional

import numpy as np

from irc.errors import PassError
from irc.fixedpoint import quantize_multiplier
from irc.ir import Graph, Node, Value
from irc.ops.q_arith import add_multipliers
from irc.ops.q_core import channel_scales
from irc.pass_manager import Pass, PassContext, register_pass
from irc.quant_params import (ActivationParams, activation_params, int_dtype, quantize_bias,
                              quantize_weights)
from irc.types import PerTensor, TensorType

from .calibrate import PREPARE, Method, calibrate_ranges, prepare, recorded_ranges

#: Data movement: the result carries the operand's parameters (operand 0 moves).
SAME_SCALE = frozenset({
    "nn.reshape", "nn.flatten", "nn.squeeze", "nn.unsqueeze", "nn.transpose", "nn.slice",
    "nn.split", "nn.expand", "nn.max_pool", "nn.global_max_pool", "nn.identity", "nn.pad",
    "nn.gather", "nn.concat",
})
#: Heavy compute: integer whenever possible.
ANCHORS = frozenset({"nn.conv2d", "nn.gemm", "nn.matmul"})


@dataclass(frozen=True)
class Options:
    bits: int
    weight_bits: int
    per_channel: bool
    symmetric: bool


class Lowering:
    """Builds the integer graph from ``src`` (see the module docstring)."""

    def __init__(self, src: Graph, ranges: dict[str, tuple[float, float]], opts: Options,
                 exclude: tuple[str, ...]) -> None:
        self.src, self.ranges, self.opts = src, ranges, opts
        self.exclude = exclude
        self.g = Graph(src.name)
        self.g.attrs = {k: v for k, v in src.attrs.items() if k != "calibration"}
        self.fval: dict[int, Value] = {}     # old value -> its float version in g
        self.qval: dict[int, Value] = {}     # old value -> its integer version in g
        self.const_of: dict[int, Value] = {}
        self.params_cache: dict[int, ActivationParams] = {}
        self.domain: dict[int, str] = {}     # id(node) -> "int" | "float"
        self.stats: dict[str, int] = {"quantized": 0, "float": 0, "quantize": 0,
                                      "dequantize": 0}

    # -- parameters ---------------------------------------------------------------
    def params(self, v: Value) -> ActivationParams | None:
        """Activation parameters of old value ``v`` from its calibrated range."""
        if id(v) in self.params_cache:
            return self.params_cache[id(v)]
        r = self.ranges.get(v.name)
        if r is None:
            return None
        p = activation_params(r[0], r[1], self.opts.bits, self.opts.symmetric)
        self.params_cache[id(v)] = p
        return p

    # -- domains ------------------------------------------------------------------
    def excluded(self, node: Node) -> bool:
        keys = [node.op, node.op.split(".", 1)[-1]] + ([node.name] if node.name else []) \
            + [v.name for v in node.outputs]
        return any(fnmatch.fnmatchcase(k, pat) for pat in self.exclude for k in keys)

    def int_possible(self, node: Node) -> bool:
        rule = rule_of(node)
        if rule is None or self.excluded(node):
            return False
        return rule.possible(self, node)

    def assign_domains(self) -> None:
        flexible = []
        for n in self.src.nodes:
            if n.op == "const":
                continue
            if self.int_possible(n):
                self.domain[id(n)] = "int"
                if n.op not in ANCHORS:
                    flexible.append(n)
            else:
                self.domain[id(n)] = "float"
        outputs = {id(v) for v in self.src.outputs}
        for _ in range(20):
            changed = False
            for n in flexible:
                before = self._local_cost(n, outputs)
                self.domain[id(n)] = "float"
                after = self._local_cost(n, outputs)
                if after < before:
                    changed = True
                else:
                    self.domain[id(n)] = "int"
            if not changed:
                break

    def _value_domain(self, v: Value) -> str | None:
        p = v.producer
        if p is None:
            return "float"
        if p.op == "const":
            return None
        return self.domain[id(p)]

    def _conversions(self, v: Value, outputs: set[int]) -> int:
        d = self._value_domain(v)
        if d is None:
            return 0
        wanted = {self.domain[id(u)] for u in v.users if u.op != "const"}
        if id(v) in outputs:
            wanted.add("float")
        return len(wanted - {d})

    def _local_cost(self, n: Node, outputs: set[int]) -> int:
        vals = {id(v): v for v in list(n.inputs) + list(n.outputs)}
        return sum(self._conversions(v, outputs) for v in vals.values())

    # -- values in the new graph ------------------------------------------------------
    def const(self, array: np.ndarray, t: TensorType | None, name: str) -> Value:
        return self.g.add_const(array, self.g.fresh_name(name), t)

    def float_of(self, v: Value) -> Value:
        if id(v) in self.fval:
            return self.fval[id(v)]
        if v.is_const:
            nv = self.const(v.const_value, v.type, v.name)
        elif id(v) in self.qval:
            q = self.qval[id(v)]
            nv = self.g.add("q.dequantize", [q], {"to": v.type.dtype},
                            output_names=[v.name + ".dq"]).output
            self.stats["dequantize"] += 1
        else:
            raise PassError(f"quant: value %{v.name} has no float version (internal error)")
        self.fval[id(v)] = nv
        return nv

    def int_of(self, v: Value, p: ActivationParams | None = None) -> Value:
        """``v`` as an integer tensor: its integer twin, or ``q.quantize`` of its float
        version (constants are quantized per tensor over their own range)."""
        if id(v) in self.qval:
            return self.qval[id(v)]
        if v.is_const:
            arr = v.const_value.astype(np.float64)
            p = p or activation_params(float(arr.min(initial=0)), float(arr.max(initial=0)),
                                       self.opts.bits, False)
            stored = np.clip(np.sign(arr / p.scale) * np.floor(np.abs(arr / p.scale) + 0.5)
                             + p.zero_point, p.dtype.min, p.dtype.max)
            nv = self.const(stored.astype(p.dtype.storage),
                            TensorType(p.dtype, v.type.shape, p.quant), v.name + ".q")
        else:
            p = p or self.params(v)
            if p is None:
                raise PassError(f"quant: no calibrated range for %{v.name} (internal error)")
            nv = self.g.add("q.quantize", [self.float_of(v)],
                            {"dtype": p.dtype, "scales": [p.scale], "zero_points": [p.zero_point],
                             "rounding": "half_away"}, output_names=[v.name + ".q"]).output
            self.stats["quantize"] += 1
        self.qval[id(v)] = nv
        return nv

    def int_params(self, v: Value) -> ActivationParams:
        """Parameters of ``v``'s integer twin (after :meth:`int_of`)."""
        q = self.int_of(v).type
        assert isinstance(q.quant, PerTensor)
        return ActivationParams(q.dtype, q.quant.scale, q.quant.zero_point)

    def requantize(self, acc: Value, out: Value, clamp: tuple[float, float] | None,
                   reals: list[float], loc: str | None) -> Value:
        """``q.requantize`` of accumulator ``acc`` to ``out``'s parameters with
        multipliers for ``reals`` (``M_c``), a float clamp turned into stored bounds."""
        p = self.params(out)
        assert p is not None
        pairs = [quantize_multiplier(r) for r in reals]
        if len(set(pairs)) == 1:
            pairs = pairs[:1]
        lo, hi = int(p.dtype.min), int(p.dtype.max)
        if clamp is not None:
            if math.isfinite(clamp[0]):
                lo = max(lo, p.quantize_real(clamp[0]))
            if math.isfinite(clamp[1]):
                hi = min(hi, p.quantize_real(clamp[1]))
        attrs = {"dtype": p.dtype, "scale": p.scale, "zero_point": p.zero_point,
                 "method": "fixed_point", "multipliers": [m for m, _ in pairs],
                 "shifts": [s for _, s in pairs],
                 "clamp": [] if (lo, hi) == (p.dtype.min, p.dtype.max) else [lo, hi]}
        return self.g.add("q.requantize", [acc], attrs, output_names=[out.name],
                          name=loc).output

    # -- driver ----------------------------------------------------------------------
    def run(self) -> Graph:
        for v in self.src.inputs:
            self.fval[id(v)] = self.g.add_input(v.name, v.type)
        self.assign_domains()
        for n in self.src.nodes:
            if n.op == "const":
                continue
            if self.domain[id(n)] == "int":
                rule = rule_of(n)
                assert rule is not None
                rule.lower(self, n)
                self.stats["quantized"] += 1
            else:
                self.copy_float(n)
                if n.op in ANCHORS or rule_of(n) is not None:
                    self.stats["float"] += 1
        outs = []
        for v in self.src.outputs:
            nv = self.float_of(v)
            if nv.name != v.name:              # a dequantized output keeps the output's name
                q = self.qval[id(v)]
                self.g.rename(q, self.g.fresh_name(v.name + ".q"))
                self.g.rename(nv, v.name)
            outs.append(nv)
        self.g.set_outputs(outs)
        return self.g

    def copy_float(self, n: Node) -> None:
        ins = [self.float_of(v) for v in n.inputs]
        node = self.g.add(n.op, ins, dict(n.attrs), output_names=[v.name for v in n.outputs],
                          name=n.name)
        for old, new in zip(n.outputs, node.outputs):
            self.fval[id(old)] = new


# --- per-op rules ----------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """How one op lowers: ``possible(L, node)`` (all it needs is there) and
    ``lower(L, node)`` (emit into ``L.g``, set ``L.qval`` for the results)."""

    possible: Callable[[Lowering, Node], bool]
    lower: Callable[[Lowering, Node], None]


RULES: dict[str, Rule] = {}


def rule_of(node: Node) -> Rule | None:
    rule = RULES.get(node.op)
    if rule is None and getattr(node.opdef, "elementwise_unary", False) and \
            node.output.type.dtype.is_float:
        return LUT_RULE
    return rule


def _activations(node: Node) -> list[Value]:
    return [v for v in node.inputs if not v.is_const]


def _has_ranges(L: Lowering, vals: list[Value]) -> bool:
    return all(v.type.dtype.is_float and L.params(v) is not None for v in vals)


def _clamp(node: Node) -> tuple[float, float] | None:
    c = node.attrs.get("clamp")
    return None if c is None else (float(c[0]), float(c[1]))


# conv2d --------------------------------------------------------------------------------

def _conv_possible(L: Lowering, n: Node) -> bool:
    x, w = n.inputs[:2]
    b_ok = len(n.inputs) < 3 or n.inputs[2].is_const
    return w.is_const and b_ok and _has_ranges(L, [x, n.output])


def _lower_weights(L: Lowering, w: np.ndarray, axis: int, name: str
                   ) -> tuple[Value, np.ndarray]:
    stored, t = quantize_weights(w, axis if L.opts.per_channel else None, L.opts.weight_bits)
    return L.const(stored, t, name), np.asarray(channel_scales(t.quant), np.float64)  # type: ignore[arg-type]


def _lower_bias(L: Lowering, b: np.ndarray, s_x: float, s_w: np.ndarray, n: int,
                name: str) -> Value:
    b = np.broadcast_to(b.astype(np.float64).reshape(-1) if b.size > 1 else b.reshape(()),
                        (n,))
    s_w = np.broadcast_to(s_w, (n,))
    return L.const(quantize_bias(b, s_x, s_w), None, name)


def _lower_conv(L: Lowering, n: Node) -> None:
    x, w = n.inputs[:2]
    xq = L.int_of(x)
    px = L.int_params(x)
    wv, s_w = _lower_weights(L, w.const_value, 0, w.name)
    ins = [xq, wv]
    if len(n.inputs) == 3:
        b = n.inputs[2]
        ins.append(_lower_bias(L, b.const_value, px.scale, s_w, w.type.shape[0], b.name))
    geo = {k: n.attrs[k] for k in ("strides", "pads", "dilations", "groups", "auto_pad")}
    acc = L.g.add("q.conv2d", ins, geo, output_names=[n.output.name + ".acc"], name=n.name).output
    py = L.params(n.output)
    assert py is not None
    reals = [px.scale * float(s) / py.scale for s in np.broadcast_to(s_w, (w.type.shape[0],))]
    L.qval[id(n.output)] = L.requantize(acc, n.output, _clamp(n), reals, n.name)


RULES["nn.conv2d"] = Rule(_conv_possible, _lower_conv)


# gemm / matmul ---------------------------------------------------------------------------

def _gemm_possible(L: Lowering, n: Node) -> bool:
    a, b = n.inputs[:2]
    c_ok = len(n.inputs) < 3 or n.inputs[2].is_const
    return (b.is_const and c_ok and not n.attrs["trans_a"] and a.type.rank == 2
            and _has_ranges(L, [a, n.output]))


def _lower_gemm(L: Lowering, n: Node) -> None:
    a, b = n.inputs[:2]
    w = b.const_value.astype(np.float64)
    w = (w.T if n.attrs["trans_b"] else w) * n.attrs["alpha"]            # [K, N]
    _matmul_with_weights(L, n, a, w.astype(np.float32), b.name,
                         n.inputs[2].const_value * n.attrs["beta"] if len(n.inputs) == 3
                         else None)


def _matmul_with_weights(L: Lowering, n: Node, a: Value, w: np.ndarray, wname: str,
                         bias: np.ndarray | None) -> None:
    aq = L.int_of(a)
    pa = L.int_params(a)
    axis = w.ndim - 1 if w.ndim == 2 else None
    if axis is None:
        stored, t = quantize_weights(w, None, L.opts.weight_bits)
        wv, s_w = L.const(stored, t, wname), np.asarray(channel_scales(t.quant))  # type: ignore[arg-type]
    else:
        wv, s_w = _lower_weights(L, w, axis, wname)
    cols = w.shape[-1]
    ins = [aq, wv]
    if bias is not None:
        ins.append(_lower_bias(L, np.asarray(bias), pa.scale, s_w, cols,
                               n.inputs[2].name if len(n.inputs) == 3 else wname + ".bias"))
    acc = L.g.add("q.matmul", ins, {}, output_names=[n.output.name + ".acc"], name=n.name).output
    py = L.params(n.output)
    assert py is not None
    reals = [pa.scale * float(s) / py.scale for s in np.broadcast_to(s_w, (cols,))]
    L.qval[id(n.output)] = L.requantize(acc, n.output, _clamp(n), reals, n.name)


def _matmul_possible(L: Lowering, n: Node) -> bool:
    a, b = n.inputs
    if a.type.rank < 2 or b.type.rank < 2:
        return False
    return _has_ranges(L, _activations(n) + [n.output])


def _lower_matmul(L: Lowering, n: Node) -> None:
    a, b = n.inputs
    if b.is_const:
        _matmul_with_weights(L, n, a, b.const_value, b.name, None)
        return
    aq, bq = L.int_of(a), L.int_of(b)
    pa, pb = L.int_params(a), L.int_params(b)
    acc = L.g.add("q.matmul", [aq, bq], {}, output_names=[n.output.name + ".acc"],
                  name=n.name).output
    py = L.params(n.output)
    assert py is not None
    L.qval[id(n.output)] = L.requantize(acc, n.output, _clamp(n),
                                        [pa.scale * pb.scale / py.scale], n.name)


RULES["nn.gemm"] = Rule(_gemm_possible, _lower_gemm)
RULES["nn.matmul"] = Rule(_matmul_possible, _lower_matmul)


# add / mul ---------------------------------------------------------------------------------

def _binary_possible(L: Lowering, n: Node) -> bool:
    return _has_ranges(L, _activations(n) + [n.output]) and bool(_activations(n))


def _lower_add(L: Lowering, n: Node) -> None:
    a, b = n.inputs
    qa, qb = L.int_of(a), L.int_of(b)
    pa, pb = L.int_params(a), L.int_params(b)
    py = L.params(n.output)
    assert py is not None
    pairs = [quantize_multiplier(r) for r in add_multipliers(pa.scale, pb.scale, py.scale, 20)]
    lo, hi = int(py.dtype.min), int(py.dtype.max)
    c = _clamp(n)
    if c is not None:
        lo = max(lo, py.quantize_real(c[0])) if math.isfinite(c[0]) else lo
        hi = min(hi, py.quantize_real(c[1])) if math.isfinite(c[1]) else hi
    attrs = {"dtype": py.dtype, "scale": py.scale, "zero_point": py.zero_point,
             "multipliers": [m for m, _ in pairs], "shifts": [s for _, s in pairs],
             "clamp": [] if (lo, hi) == (py.dtype.min, py.dtype.max) else [lo, hi]}
    L.qval[id(n.output)] = L.g.add("q.add", [qa, qb], attrs, output_names=[n.output.name],
                                   name=n.name).output


def _lower_mul(L: Lowering, n: Node) -> None:
    a, b = n.inputs
    qa, qb = L.int_of(a), L.int_of(b)
    pa, pb = L.int_params(a), L.int_params(b)
    acc = L.g.add("q.mul", [qa, qb], {}, output_names=[n.output.name + ".acc"],
                  name=n.name).output
    py = L.params(n.output)
    assert py is not None
    L.qval[id(n.output)] = L.requantize(acc, n.output, None, [pa.scale * pb.scale / py.scale],
                                        n.name)


RULES["nn.add"] = Rule(_binary_possible, _lower_add)
RULES["nn.mul"] = Rule(_binary_possible, _lower_mul)


# unary functions as tables -----------------------------------------------------------------

def _lut_possible(L: Lowering, n: Node) -> bool:
    return n.op != "nn.identity" and len(n.inputs) == 1 and _has_ranges(L, [n.inputs[0],
                                                                             n.output])


def _lower_lut(L: Lowering, n: Node) -> None:
    x = n.inputs[0]
    xq = L.int_of(x)
    px = L.int_params(x)
    py = L.params(n.output)
    assert py is not None
    grid = np.arange(int(px.dtype.min), int(px.dtype.max) + 1, dtype=np.int64)
    real = ((grid - px.zero_point).astype(np.float32) * np.float32(px.scale))
    with np.errstate(all="ignore"):
        y = n.opdef.run([real.astype(n.output.type.dtype.storage)], dict(n.attrs))[0]
        v = np.asarray(y, np.float64) / py.scale
    v = np.where(np.isnan(v), 0.0, np.sign(v) * np.floor(np.abs(v) + 0.5)) + py.zero_point
    table = np.clip(v, py.dtype.min, py.dtype.max).astype(np.int64)
    attrs = {"dtype": py.dtype, "scale": py.scale, "zero_point": py.zero_point,
             "table": table.tolist()}
    L.qval[id(n.output)] = L.g.add("q.lut", [xq], attrs, output_names=[n.output.name],
                                   name=n.name).output


LUT_RULE = Rule(_lut_possible, _lower_lut)


# pools ----------------------------------------------------------------------------------------

def _x_possible(L: Lowering, n: Node) -> bool:
    return _has_ranges(L, [n.inputs[0]])


def _lower_avg_pool(L: Lowering, n: Node) -> None:
    xq = L.int_of(n.inputs[0])
    if n.op == "nn.global_avg_pool":
        attrs: dict[str, Any] = {"kernel": list(n.inputs[0].type.shape[2:])}
    else:
        attrs = {k: n.attrs[k] for k in ("kernel", "strides", "pads", "ceil_mode",
                                         "count_include_pad", "auto_pad")}
    L.qval[id(n.output)] = L.g.add("q.avg_pool", [xq], attrs, output_names=[n.output.name],
                                   name=n.name).output


for _op in ("nn.avg_pool", "nn.global_avg_pool"):
    RULES[_op] = Rule(lambda L, n: _x_possible(L, n) and n.inputs[0].type.rank == 4,
                      _lower_avg_pool)


# data movement -------------------------------------------------------------------------------

def _same_scale_possible(L: Lowering, n: Node) -> bool:
    moved = n.inputs if n.op == "nn.concat" else n.inputs[:1]
    if any(v.is_const for v in moved):
        return False
    if n.op == "nn.concat" and L.params(n.output) is None:
        return False
    return _has_ranges(L, list(moved))


def _lower_same_scale(L: Lowering, n: Node) -> None:
    attrs = dict(n.attrs)
    if n.op == "nn.concat":
        py = L.params(n.output)
        assert py is not None
        ins = [_rescaled(L, v, py) for v in n.inputs]
    else:
        ins = [L.int_of(n.inputs[0])] + [L.float_of(v) for v in n.inputs[1:]]
        if n.op == "nn.pad":
            attrs["value"] = float(L.int_params(n.inputs[0]).quantize_real(attrs["value"]))
    node = L.g.add(n.op, ins, attrs, output_names=[v.name for v in n.outputs], name=n.name)
    for old, new in zip(n.outputs, node.outputs):
        L.qval[id(old)] = new


def _rescaled(L: Lowering, v: Value, p: ActivationParams) -> Value:
    """``v`` as an integer tensor with parameters ``p`` (requantized if needed)."""
    q = L.int_of(v, p if id(v) not in L.qval and not v.is_const else None)
    pv = L.int_params(v)
    if (pv.scale, pv.zero_point, pv.dtype) == (p.scale, p.zero_point, p.dtype):
        return q
    m, s = quantize_multiplier(pv.scale / p.scale)
    return L.g.add("q.requantize", [q], {"dtype": p.dtype, "scale": p.scale,
                                         "zero_point": p.zero_point, "method": "fixed_point",
                                         "multipliers": [m], "shifts": [s]},
                   output_names=[v.name + ".rq"]).output


for _op in SAME_SCALE:
    RULES[_op] = Rule(_same_scale_possible, _lower_same_scale)


# --- weight-only -----------------------------------------------------------------------------

def weight_only(graph: Graph, bits: int, group_size: int, exclude: Callable[[Node], bool],
                ctx: PassContext) -> Graph:
    """Store the weights of conv2d/gemm/matmul as ``bits``-bit integers dequantized
    at run time: per output channel, or per group of ``group_size`` consecutive
    weights along the reduction axis (the weight is then kept as a
    ``[channels · groups, group_size]`` integer tensor, dequantized per row and
    reshaped back)."""
    for n in list(graph.nodes):
        if n.op not in ANCHORS or exclude(n) or len(n.inputs) < 2 or not n.inputs[1].is_const:
            continue
        w = n.inputs[1]
        arr = w.const_value
        if arr.ndim < 2 or not w.type.dtype.is_float:
            continue
        # the output-channel axis: conv O of [O, C, kh, kw]; gemm N of [N, K] (trans_b) or
        # [K, N]; matmul the last axis of [.., K, N]
        out_axis = 0 if n.op == "nn.conv2d" or (n.op == "nn.gemm" and n.attrs["trans_b"]) \
            else arr.ndim - 1
        moved = np.moveaxis(arr, out_axis, 0)
        rows = moved.reshape(moved.shape[0], -1)                       # [channels, reduction]
        if group_size:
            if rows.shape[1] % group_size:
                raise PassError(f"quant: weight %{w.name} of {n.short()}: reduction size "
                                f"{rows.shape[1]} is not a multiple of group_size={group_size}")
            rows = rows.reshape(-1, group_size)
        stored, t = quantize_weights(rows, 0, bits)
        anchor = n
        qc = graph.make_const(stored, graph.fresh_name(w.name + ".q"), t)
        dq = graph.make_node("q.dequantize", [qc.output], {"to": w.type.dtype},
                             output_names=[w.name + ".dq"])
        new_nodes = [qc, dq]
        val = dq.output
        if rows.shape != arr.shape or out_axis != 0:
            r = graph.make_node("nn.reshape", [val], {"shape": list(moved.shape)},
                                output_names=[w.name + ".rows"])
            new_nodes.append(r)
            val = r.output
            if out_axis != 0:
                perm = list(range(1, arr.ndim))
                perm.insert(out_axis, 0)
                tr = graph.make_node("nn.transpose", [val], {"perm": perm},
                                     output_names=[w.name + ".w"])
                new_nodes.append(tr)
                val = tr.output
        graph.insert_before(anchor, new_nodes)
        n.set_input(1, val)
        ctx.count("weights")
        ctx.count("bytes saved", arr.nbytes - stored.size * bits // 8, modified=False)
    return graph


# --- the pass -----------------------------------------------------------------------------------

@register_pass
@dataclass(frozen=True)
class Quantize(Pass):
    """Lower float ops to integer q.* ops (TFLite int8 scheme by default)."""

    name: ClassVar[str] = "quant"

    bits: int = field(default=8, metadata={"doc": "activation (and default weight) bit width: "
                                                  "8, 4 or 2"})
    weight_bits: Optional[int] = field(default=None, metadata={
        "doc": "weight bit width (none = bits)"})
    per_channel: bool = field(default=True, metadata={
        "doc": "weights: one scale per output channel (false: per tensor)"})
    symmetric: bool = field(default=False, metadata={
        "doc": "activations: symmetric (zero point 0) instead of asymmetric"})
    exclude: tuple[str, ...] = field(default=(), metadata={
        "doc": "keep in float: node names, value names or op types (nn.softmax, softmax); "
               "glob patterns allowed"})
    weight_only: bool = field(default=False, metadata={
        "doc": "only store weights in `bits` bits, dequantized to float at run time"})
    group_size: int = field(default=0, metadata={
        "doc": "weight_only: one scale per group of this many weights along the reduction "
               "axis (0: per output channel)"})
    method: Method = field(default="minmax", metadata={
        "doc": "calibration method when the graph has no recorded ranges"})
    prepare: bool = field(default=True, metadata={
        "doc": "first fold constants and fuse batch norms/activations (" + PREPARE + ")"})

    def __post_init__(self) -> None:
        super().__post_init__()
        int_dtype(self.bits)
        if self.weight_bits is not None:
            int_dtype(self.weight_bits)
        if self.group_size < 0:
            raise ValueError(f"group_size must be >= 0, got {self.group_size}")

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        opts = Options(self.bits, self.weight_bits or self.bits, self.per_channel,
                       self.symmetric)
        if self.prepare:
            graph = prepare(graph, ctx)
        if self.weight_only:
            lw = Lowering(graph, {}, opts, self.exclude)
            return weight_only(graph, opts.weight_bits, self.group_size, lw.excluded, ctx)
        ranges = recorded_ranges(graph)
        if not ranges:
            if ctx.calib_data is None:
                raise PassError("quant needs activation ranges: run `calibrate` first, or give "
                                "calibration data (--calib-data FILE / calib_data=), or use "
                                "quant{weight_only=true}")
            ranges, n = calibrate_ranges(graph, ctx.calib_data, self.method, bits=self.bits,
                                         symmetric=self.symmetric)
            ctx.log(f"calibrated {len(ranges)} tensors on {n} samples ({self.method})")
        lowering = Lowering(graph, ranges, opts, self.exclude)
        out = lowering.run()
        for k, v in lowering.stats.items():
            ctx.count(k, v)
        return out
