"""``fake-quant``: quantization-aware training's graph, and its way back to ``quant``.

The pass puts ``qat.fake_quant`` nodes exactly where ``quant`` would put
integers, so a trained graph computes what its integer lowering will:

1. it prepares the graph as ``quant`` does (:data:`passes.calibrate.PREPARE`:
   constants folded, batch norms folded into the convolutions before them —
   QAT's "fold BN first" — activations fused);
2. it takes activation ranges from a preceding ``calibrate`` run, or calibrates
   on ``--calib-data`` here;
3. it asks ``quant``'s own domain assignment (:class:`passes.quant_lowering.Lowering`)
   which nodes will run in integers, with the same options (``bits``,
   ``weight_bits``, ``per_channel``, ``symmetric``, ``exclude``, ``only``);
4. every *integer value* gets a fake quantizer: the results of integer nodes
   (data movement, which carries its operand's grid, excepted) and the float
   values integer nodes read (where ``quant`` puts a ``q.quantize``) — read
   through it by the integer readers only, so float readers of a float value
   see it unquantized, as after lowering.  Activations get ``quant``'s
   parameters from their range, ``s, z = activation_params(lo, hi)``, as
   constants; weights of conv/gemm/matmul are quantized per output channel
   (or per tensor) symmetrically on ``[−qmax, qmax]`` with the dynamic scale
   ``max|w_c| / qmax`` of :func:`irc.quant_params.weight_scales`.

Training then runs through the nodes' straight-through estimators.  With
``lsq=true`` the scales are parameters too (LSQ, Esser et al. 2020), each
gradient scaled by ``g = 1/√(N·qmax)`` with N the values one scale covers
(per sample for activations).  ``bits=1`` (or ``weight_bits=1``) binarizes
instead: ``α·sign(x)`` with per-output-channel ``α = mean|w_c|`` for weights
(XNOR-Net) and a learned or fixed α for activations — trainable now, lowered
by the binary kernels to come.

**Back to integers.**  ``quant`` on a graph holding fake quantizers calls
:func:`absorb` first: each activation quantizer becomes the range
``[s·(qmin − z), s·(qmax − z)]`` of its operand, from which
``activation_params`` gives back exactly ``s`` and ``z``, and each weight
quantizer becomes a constant of its fake-quantized values with its scales
pinned, so ``quant`` stores exactly the integers training saw.  The scheme is
recorded in ``graph.attrs["qat"]``; lowering with other options is an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

import numpy as np

from irc.errors import PassError
from irc.ir import Graph, Node, Value
from irc.pass_manager import Pass, PassContext, register_pass
from irc.ops.qat import dynamic_scales
from irc.quant_params import activation_params

from .calibrate import Method, calibrate_ranges, prepare, recorded_ranges
from .quant_lowering import ANCHORS, SAME_SCALE, Lowering, Options

OP = "qat.fake_quant"
#: the grid of int32 accumulators: bias and first-rounding quantizers (quant rounds those itself)
ACC_MAX = 2 ** 31 - 1
#: graph attribute recording the scheme a fake-quant graph was built for
QAT_ATTR = "qat"


def _weight_axis(node: Node) -> int | None:
    """The output-channel axis of ``node``'s weight *as stored* (conv [O, ...]: 0;
    gemm B [K, N]: 1, or 0 with trans_b; matmul [K, N]: 1; else per tensor)."""
    if node.op == "nn.conv2d":
        return 0
    w = node.inputs[1]
    if w.type.rank != 2:
        return None
    if node.op == "nn.gemm" and node.attrs["trans_b"]:
        return 0
    return 1


@register_pass
@dataclass(frozen=True)
class FakeQuant(Pass):
    """Insert fake quantizers where `quant` will put integers (quantization-aware training)."""

    name: ClassVar[str] = "fake-quant"

    bits: int = field(default=8, metadata={"doc": "activation (and default weight) bit width: "
                                                  "8, 4, 2 (lowerable) or any of 1..8 "
                                                  "(1 = binary, sign)"})
    weight_bits: Optional[int] = field(default=None, metadata={
        "doc": "weight bit width (none = bits)"})
    per_channel: bool = field(default=True, metadata={
        "doc": "weights: one scale per output channel (false: per tensor)"})
    symmetric: bool = field(default=False, metadata={
        "doc": "activations: symmetric (zero point 0) instead of asymmetric"})
    exclude: tuple[str, ...] = field(default=(), metadata={
        "doc": "keep in float, as quant's option of that name"})
    only: tuple[str, ...] = field(default=(), metadata={
        "doc": "quantize only these computing ops, as quant's option of that name"})
    lsq: bool = field(default=False, metadata={
        "doc": "learn the scales by gradient (LSQ) instead of keeping the calibrated "
               "activation scales and max-based weight scales"})
    method: Method = field(default="minmax", metadata={
        "doc": "calibration method when the graph has no recorded ranges"})
    prepare: bool = field(default=True, metadata={
        "doc": "first fold constants and batch norms and fuse activations, as quant does"})

    def __post_init__(self) -> None:
        super().__post_init__()
        for b in (self.bits, self.weight_bits):
            if b is not None and not 1 <= b <= 8:
                raise ValueError(f"bits must be in 1..8, got {b}")

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        if any(n.op == OP for n in graph.nodes):
            raise PassError("fake-quant: the graph already holds fake quantizers "
                            "(run fake-quant once; `quant` lowers them)")
        if self.prepare:
            graph = prepare(graph, ctx)
        ranges = recorded_ranges(graph)
        if not ranges:
            if ctx.calib_data is None:
                raise PassError("fake-quant needs activation ranges to start from: run "
                                "`calibrate` first, or give calibration data "
                                "(--calib-data FILE / calib_data=)")
            cal = calibrate_ranges(graph, ctx.calib_data, self.method,
                                   bits=max(self.bits, 2), symmetric=self.symmetric)
            cal.record(graph, self.method)
            ranges = cal.ranges
        wbits = self.weight_bits or self.bits
        # domains as quant will assign them (8-bit options stand in for the 1-bit grid)
        opts = Options(max(self.bits, 2), max(wbits, 2), self.per_channel, self.symmetric)
        lw = Lowering(graph, ranges, opts, self.exclude, self.only)
        lw.assign_domains()
        inserter = _Inserter(graph, ranges, self, wbits)
        for node in list(graph.nodes):
            if node.op != "const" and lw.domain[id(node)] == "int":
                inserter.node(node, lw.domain)
        graph.attrs[QAT_ATTR] = {"bits": self.bits, "weight_bits": wbits,
                                 "per_channel": self.per_channel,
                                 "symmetric": self.symmetric, "lsq": self.lsq}
        ctx.count("weights", inserter.weights)
        ctx.count("activations", inserter.activations)
        return graph


class _Inserter:
    """Puts the quantizers into ``g`` (see the module docstring, step 4)."""

    def __init__(self, g: Graph, ranges: dict[str, tuple[float, float]], p: FakeQuant,
                 wbits: int) -> None:
        self.g, self.ranges, self.p, self.wbits = g, ranges, p, wbits
        self.done: set[int] = set()          # values already quantized
        self.weights = self.activations = 0

    def node(self, n: Node, domain: dict[int, str]) -> None:
        wq = self.weight(n) if n.op in ANCHORS and n.inputs[1].is_const else None
        moved = n.inputs if n.op == "nn.concat" else n.inputs[:1]
        reads = n.inputs if n.op not in SAME_SCALE else moved
        for v in reads:            # an integer result already has its grid (or its operand's)
            prod = v.producer
            if not v.is_const and (prod is None or domain.get(id(prod)) != "int"):
                self.activation(v, domain)
        if n.op not in SAME_SCALE or n.op == "nn.concat":
            for v in n.outputs:
                self.activation(v, domain)
        if wq is not None and self.wbits > 1 and self.p.bits > 1:
            self.accumulator(n, wq)

    # -- weights --------------------------------------------------------------------
    def weight(self, n: Node) -> Node:
        w = n.inputs[1]
        axis = _weight_axis(n) if self.p.per_channel else None
        arr = w.const_value.astype(np.float64)
        attrs: dict[str, Any] = {"axis": axis}
        operands: list[Any] = []
        per = arr.size // (arr.shape[axis] if axis is not None else 1)
        if self.wbits == 1:
            attrs["mode"] = "sign"
            if self.p.lsq:
                red = tuple(i for i in range(arr.ndim) if i != axis)
                alpha = np.abs(arr).mean(axis=red) if axis is not None else np.abs(arr).mean()
                operands.append(np.asarray(alpha, np.float32))
                attrs["grad_scale"] = 1.0 / math.sqrt(per)
        else:
            qmax = 2 ** (self.wbits - 1) - 1          # narrow: [−qmax, qmax]
            attrs.update(mode="affine", qmin=-qmax, qmax=qmax)
            if self.p.lsq:
                s = dynamic_scales(arr, axis, qmax)
                operands.append(s.astype(np.float32) if axis is not None
                                else np.float32(s[0]))
                attrs["grad_scale"] = 1.0 / math.sqrt(per * qmax)
        self.weights += 1
        return self._insert(w, attrs, operands, readers=[(n, 1)], name=f"{w.name}.fq")

    # -- the integer accumulator -------------------------------------------------------
    def accumulator(self, n: Node, wq: Node) -> None:
        """What ``quant``'s integer conv/matmul does beyond quantizing its operands:
        the bias becomes int32 in accumulator units, ``b_q = round(b / (s_x·s_w))``
        — a fake quantizer whose scale ``s_x·s_w`` the graph computes from the
        operands' own quantizers, so it follows them through training — and the
        result is requantized by TFLite's fixed-point multiply, which rounds twice::

            v1 = round(acc · M_c · 2^r_c),  q = round(v1 / 2^r_c) + z    (r_c: the right shift
                                                                       of M_c = s_x·s_w_c/s_y)

        — a fake quantizer on the 2^r_c-times finer grid before the output's.
        (r_c is fixed from the scales at insertion; LSQ moving M_c past a power
        of two leaves that channel's first rounding one bit off.)"""
        x, y = n.inputs[0], n.outputs[0]
        gx, gy = _grid_of(x), _grid_of_output(y)
        if gx is None or gy is None:
            return
        axis = _weight_axis(n) if self.p.per_channel else None
        w = wq.inputs[0]
        channels = w.type.shape[axis] if axis is not None else 1
        if len(wq.inputs) > 1:
            s_w: Value = wq.inputs[1]
            s_w_now = np.abs(np.asarray(s_w.const_value, np.float64)).reshape(-1)
        else:
            qmax = wq.attrs["qmax"]
            red = [i for i in range(w.type.rank) if i != axis]
            m = self._add("nn.reduce_max", [self._add("nn.abs", [w], {}, n)],
                          {"axes": red, "keepdims": False}, n)
            s_w = self._add("nn.div", [m, self._const(np.float32(qmax), n)], {}, n)
            s_w_now = dynamic_scales(w.const_value, axis, qmax)
        if len(n.inputs) == 3 and n.inputs[2].is_const and \
                n.inputs[2].type.shape == (channels,) and (axis is not None or channels == 1):
            sx_abs = self._add("nn.abs", [gx.inputs[1]], {}, n)
            if gx.inputs[1].type.rank:          # a per-tensor grid spelled per channel
                sx_abs = self._add("nn.reduce_max", [sx_abs], {"axes": [0], "keepdims": False}, n)
            s_b = self._add("nn.mul", [sx_abs, s_w], {}, n)
            self._insert(n.inputs[2], {"axis": 0 if axis is not None else None,
                                       "mode": "affine", "qmin": -ACC_MAX - 1, "qmax": ACC_MAX},
                         [], readers=[(n, 2)], name=f"{n.inputs[2].name}.fq", scale=s_b)
        shifts = _right_shifts(gx, gy, s_w_now, channels)
        if not shifts.any():
            return
        if len(set(shifts.tolist())) == 1:
            gy.attrs["rshift"] = (int(shifts[0]),)
        else:                            # one grid (scale []), a first rounding per channel
            gy.attrs.update(axis=1 if n.op == "nn.conv2d" else y.type.rank - 1,
                            rshift=tuple(int(r) for r in shifts))

    def _const(self, value: Any, before: Node) -> Value:
        c = self.g.make_const(value, self.g.fresh_name(f"{before.outputs[0].name}.k"))
        self.g.insert_before(before, [c])
        return c.output

    def _add(self, op: str, ins: list[Value], attrs: dict[str, Any], before: Node) -> Value:
        node = self.g.make_node(op, ins, attrs,
                                output_names=[f"{before.outputs[0].name}.{op.split('.')[-1]}"])
        self.g.insert_before(before, [node])
        return node.output

    # -- activations ----------------------------------------------------------------------
    def activation(self, v: Value, domain: dict[int, str]) -> None:
        if id(v) in self.done or not v.type.dtype.is_float:
            return
        r = self.ranges.get(v.name)
        if r is None:
            return                              # quant keeps it float (no range)
        self.done.add(id(v))
        per = max(1, int(np.prod(v.type.shape[1:])))
        attrs: dict[str, Any] = {"axis": None}
        if self.p.bits == 1:
            alpha = max(abs(r[0]), abs(r[1]), 2.0 ** -24)
            attrs.update(mode="sign", grad_scale=1.0 / math.sqrt(per) if self.p.lsq else 0.0)
            operands = [np.float32(alpha)]
        else:
            qmin, qmax = _activation_grid(self.p.bits)
            if self.p.bits in (2, 4, 8):
                ap = activation_params(r[0], r[1], self.p.bits, self.p.symmetric)
                s, z = ap.scale, ap.zero_point
            else:
                s, z = _grid_params(r, qmin, qmax, self.p.symmetric)
            attrs.update(mode="affine", qmin=qmin, qmax=qmax,
                         grad_scale=1.0 / math.sqrt(per * qmax) if self.p.lsq else 0.0)
            operands = [np.float32(s), np.float32(z)]
        prod = v.producer
        if prod is None or prod.op == "const" or domain.get(id(prod)) != "int":
            readers = [(u, i) for u, i in v.uses if domain.get(id(u)) == "int"]
        else:
            readers = None                      # an integer result: every reader
        self._insert(v, attrs, operands, readers, name=f"{v.name}.fq")
        self.activations += 1

    # -- the rewrite ---------------------------------------------------------------------
    def _insert(self, v: Value, attrs: dict[str, Any], operands: list[Any],
                readers: list[tuple[Node, int]] | None, name: str,
                scale: Value | None = None) -> Node:
        """A fake quantizer of ``v`` read by ``readers`` (None: every reader and the
        graph outputs), with constant ``operands`` (scale, zero point) or a computed
        ``scale``, placed just before the first reader."""
        g = self.g
        users = [u for u, _ in v.uses]
        anchor = min((g.index_of(u) for u in users), default=len(g.nodes))
        consts = [g.make_const(a, g.fresh_name(f"{name}.{k}"))
                  for k, a in zip(("scale", "zero_point"), operands)]
        params = [scale] if scale is not None else [c.output for c in consts]
        fq = g.make_node(OP, [v, *params], attrs, output_names=[name])
        g.nodes[anchor:anchor] = [*consts, fq]
        if readers is None:
            was_output = any(o is v for o in g.outputs)
            g.replace_all_uses(v, fq.output)
            fq.set_input(0, v)
            if was_output:                        # the output keeps its name; v its own
                g.rename(v, g.fresh_name(fq.output.name.rsplit(".dead", 1)[0] + ".float"))
        else:
            for u, i in readers:
                u.set_input(i, fq.output)
        return fq


def _right_shifts(gx: Node, gy: Node, s_w: np.ndarray, channels: int) -> np.ndarray:
    """r_c = the right shift of TFLite's encoding of M_c = s_x·s_w_c/s_y."""
    from irc.fixedpoint import quantize_multiplier
    s_x, s_y = (abs(float(np.asarray(q.inputs[1].const_value).reshape(-1)[0]))
                for q in (gx, gy))
    return np.array([max(-quantize_multiplier(s_x * float(sw) / s_y)[1], 0)
                     for sw in np.broadcast_to(s_w, (channels,))])


def refresh(graph: Graph) -> int:
    """Recompute every output quantizer's ``rshift`` from the scales the graph
    holds now (training moves them; :func:`irc.train.fit` calls this after each
    epoch).  Returns how many changed."""
    changed = 0
    for gy in [n for n in graph.nodes if n.op == OP and n.attrs["rshift"]]:
        anchor = gy.inputs[0].producer
        if anchor is None or anchor.op not in ANCHORS:
            continue
        wq, gx = anchor.inputs[1].producer, _grid_of(anchor.inputs[0])
        if wq is None or wq.op != OP or gx is None or not wq.inputs[0].is_const:
            continue
        axis = wq.attrs["axis"]
        w = wq.inputs[0].const_value.astype(np.float64)
        channels = w.shape[axis] if axis is not None else 1
        s_w = (np.abs(np.asarray(wq.inputs[1].const_value, np.float64)).reshape(-1)
               if len(wq.inputs) > 1 else dynamic_scales(w, axis, wq.attrs["qmax"]))
        shifts = tuple(int(r) for r in _right_shifts(gx, gy, s_w, channels))
        new = shifts[:1] if len(set(shifts)) == 1 else shifts
        if new != tuple(gy.attrs["rshift"]):
            gy.attrs["rshift"] = new
            if len(new) > 1:
                gy.attrs["axis"] = 1 if anchor.op == "nn.conv2d" else gy.inputs[0].type.rank - 1
            changed += 1
    return changed


def _grid_of(v: Value) -> Node | None:
    """The affine fake quantizer whose grid ``v`` is on: its producer, or the one
    before a chain of data movement (which keeps its operand's grid)."""
    while v.producer is not None:
        p = v.producer
        if p.op == OP:
            return p if p.attrs["mode"] == "affine" and len(p.inputs) > 1 else None
        if p.op not in SAME_SCALE or p.op == "nn.concat":
            return None
        v = p.inputs[0]
    return None


def _grid_of_output(y: Value) -> Node | None:
    """The fake quantizer every reader of ``y`` reads it through."""
    users = [u for u, _ in y.uses]
    if len(users) == 1 and users[0].op == OP and users[0].attrs["mode"] == "affine" and \
            len(users[0].inputs) > 1 and users[0].inputs[0] is y:
        return users[0]
    return None


def _activation_grid(bits: int) -> tuple[int, int]:
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _grid_params(r: tuple[float, float], qmin: int, qmax: int, symmetric: bool
                 ) -> tuple[float, int]:
    """activation_params' arithmetic on any grid (bit widths quant cannot lower)."""
    lo, hi = min(r[0], 0.0), max(r[1], 0.0)
    if symmetric:
        return max(abs(lo), abs(hi), 2.0 ** -24) / qmax, 0
    s = float(np.float32(max(hi - lo, 2.0 ** -24) / (qmax - qmin)))
    return s, int(np.clip(round(qmin - lo / s), qmin, qmax))


# ---------------------------------------------------------------------------------------------
# Back to quant
# ---------------------------------------------------------------------------------------------

@dataclass
class Absorbed:
    """What :func:`absorb` hands ``quant``: activation ranges that reproduce the
    trained grids, and pinned weight scales by constant name."""

    ranges: dict[str, tuple[float, float]]
    weight_scales: dict[str, np.ndarray]
    scheme: dict[str, Any]


def absorb(graph: Graph) -> Absorbed:
    """Remove ``graph``'s fake quantizers in place (see the module docstring)."""
    from irc.ops import get_op
    fq_op = get_op(OP)
    scheme = dict(graph.attrs.pop(QAT_ATTR, None) or {})
    out = Absorbed({}, {}, scheme)
    for n in [n for n in graph.nodes if n.op == OP]:
        x = n.inputs[0]
        if n.attrs["mode"] == "sign":
            raise PassError(f"quant: {n.short()} is a 1-bit (sign) quantizer; binary "
                            "networks have no integer lowering yet — train with bits >= 2 "
                            "to lower with quant")
        if n.attrs["qmax"] == ACC_MAX:
            graph.replace_all_uses(n.output, x)      # accumulator grids: quant's own rounding
        elif x.is_const:
            arr = x.const_value
            params = [v.const_value for v in n.inputs[1:]]
            if params:          # a learned scale, as the op guards it
                s = np.maximum(np.abs(np.asarray(params[0], np.float64)).reshape(-1),
                               2.0 ** -24)
            else:
                s = dynamic_scales(arr, n.attrs["axis"], n.attrs["qmax"])
            values = np.asarray(fq_op.compute([arr, *params], dict(n.attrs)), arr.dtype)
            c = graph.make_const(values, graph.fresh_name(x.name + ".qat"))
            graph.insert_before(n, [c])
            graph.replace_all_uses(n.output, c.output)
            out.weight_scales[c.output.name] = s
        else:
            s_act = abs(float(np.asarray(n.inputs[1].const_value).reshape(-1)[0]))
            z = float(np.asarray(n.inputs[2].const_value).reshape(-1)[0]) \
                if len(n.inputs) > 2 else 0.0
            graph.replace_all_uses(n.output, x)          # x takes back an output's name
            out.ranges[x.name] = (s_act * (n.attrs["qmin"] - z), s_act * (n.attrs["qmax"] - z))
        graph.erase(n)
    return out
