"""The engine of ``quant``: assign each node a domain, then emit the integer graph.

**Which nodes go integer.**  Each node gets a domain, ``int`` or ``float``:

* *anchor* ops always go integer when they can: conv2d, and gemm/matmul (with
  constant weights, or between two activations as in attention);
* *flexible* ops can run either way — add, mul, unary elementwise functions
  (as a ``q.lut`` table), average pools, and data movement (reshape, transpose,
  slice, pad, concat, max pool ..., which carry their operand's parameters);
* everything else (softmax, layer_norm, ...), every op named by ``exclude``
  (or, with ``only``, every computing op it does not name), and any node a
  needed range is missing for — e.g. a tensor that held ±inf during
  calibration — stays float.

Flexible nodes start integer, then a local search flips any node whose flip
lowers the number of conversions — one ``q.quantize`` per float value read in
the integer domain, one ``q.dequantize`` per integer value read in float (or
returned as a graph output) — until no flip helps; ties stay integer.  So a
transformer keeps softmax/layer_norm in float with the fewest boundaries.

**Emission.**  A new graph is built in the old one's order.  A node's result
keeps its name in whichever domain it runs; conversions are named
``<value>.q`` / ``<value>.dq``; a graph output keeps its name (returned in
float).  How each op lowers is a :class:`Rule` in :data:`RULES`
(:mod:`passes.quant_rules` holds the built-in ones; a user's op registers its
own the same way).
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from irc.errors import PassError
from irc.fixedpoint import quantize_multiplier
from irc.ir import Graph, Node, Value
from irc.ops.q_core import round_to_int
from irc.quant_params import ActivationParams, activation_params
from irc.types import PerTensor, TensorType

#: Heavy compute: integer whenever possible.
ANCHORS = frozenset({"nn.conv2d", "nn.gemm", "nn.matmul"})
#: Data movement: the result carries the operand's parameters (operand 0 moves).
SAME_SCALE = frozenset({
    "nn.reshape", "nn.flatten", "nn.squeeze", "nn.unsqueeze", "nn.transpose", "nn.slice",
    "nn.split", "nn.expand", "nn.max_pool", "nn.global_max_pool", "nn.identity", "nn.pad",
    "nn.gather", "nn.concat",
})


@dataclass(frozen=True)
class Options:
    """The scheme options of one ``quant`` run."""

    bits: int
    weight_bits: int
    per_channel: bool
    symmetric: bool
    unsigned: bool = False      # activations stored as uint8 (same grid as int8 + 128)


class Lowering:
    """Builds the integer graph from ``src`` (see the module docstring)."""

    def __init__(self, src: Graph, ranges: dict[str, tuple[float, float]], opts: Options,
                 exclude: tuple[str, ...], only: tuple[str, ...] = (),
                 weight_scales: dict[str, np.ndarray] | None = None) -> None:
        self.src, self.ranges, self.opts = src, ranges, opts
        #: weight constant name -> scales training pinned (passes/fake_quant.py)
        self.weight_scales = weight_scales or {}
        self.exclude, self.only = exclude, only
        self.g = Graph(src.name)
        self.g.attrs = {k: v for k, v in src.attrs.items() if k != "calibration"}
        self.fval: dict[int, Value] = {}     # old value -> its float version in g
        self.qval: dict[int, Value] = {}     # old value -> its integer version in g
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
        p = activation_params(r[0], r[1], self.opts.bits, self.opts.symmetric,
                              self.opts.unsigned)
        self.params_cache[id(v)] = p
        return p

    # -- domains ------------------------------------------------------------------
    def excluded(self, node: Node) -> bool:
        """Named by ``exclude``, or — when ``only`` is given — a computing op it does
        not name (data movement is never held back by ``only``)."""
        keys = [node.op, node.op.split(".", 1)[-1]] + ([node.name] if node.name else []) \
            + [v.name for v in node.outputs]

        def named(patterns: tuple[str, ...]) -> bool:
            return any(fnmatch.fnmatchcase(k, pat) for pat in patterns for k in keys)
        if named(self.exclude):
            return True
        return bool(self.only) and node.op not in SAME_SCALE and not named(self.only)

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
        for _ in range(20):           # each sweep can only lower the total; stop when stable
            changed = False
            for n in flexible:
                was = self.domain[id(n)]
                self.domain[id(n)] = "int"
                cost_int = self._local_cost(n, outputs)
                self.domain[id(n)] = "float"
                cost_float = self._local_cost(n, outputs)
                self.domain[id(n)] = "float" if cost_float < cost_int else "int"
                changed |= self.domain[id(n)] != was
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
                                       self.opts.bits, False, self.opts.unsigned)
            stored = np.clip(round_to_int(arr / p.scale, "half_away") + p.zero_point,
                             p.dtype.min, p.dtype.max)
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

    @staticmethod
    def scaling_attrs(p: ActivationParams, reals: list[float],
                      clamp: tuple[float, float] | None = None, *,
                      per_channel: bool = True) -> dict[str, object]:
        """Result attributes of a fixed-point rescaling op: ``p``'s dtype and
        parameters, the multiplier encodings of ``reals`` (one pair when all agree)
        and a float clamp turned into stored bounds (none when it is the dtype's range)."""
        pairs = [quantize_multiplier(r) for r in reals]
        if per_channel and len(set(pairs)) == 1:
            pairs = pairs[:1]
        lo, hi = int(p.dtype.min), int(p.dtype.max)
        if clamp is not None:
            if math.isfinite(clamp[0]):
                lo = max(lo, p.quantize_real(clamp[0]))
            if math.isfinite(clamp[1]):
                hi = min(hi, p.quantize_real(clamp[1]))
        return {"dtype": p.dtype, "scale": p.scale, "zero_point": p.zero_point,
                "multipliers": [m for m, _ in pairs], "shifts": [s for _, s in pairs],
                "clamp": [] if (lo, hi) == (p.dtype.min, p.dtype.max) else [lo, hi]}

    def requantize(self, acc: Value, out: Value, clamp: tuple[float, float] | None,
                   reals: list[float], loc: str | None) -> Value:
        """``q.requantize`` of accumulator ``acc`` to ``out``'s parameters with
        multipliers for ``reals`` (``M_c``), a float clamp turned into stored bounds."""
        p = self.params(out)
        assert p is not None
        attrs = dict(self.scaling_attrs(p, reals, clamp), method="fixed_point")
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


# --- rules -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """How one op lowers: ``possible(L, node)`` (all it needs is there) and
    ``lower(L, node)`` (emit into ``L.g``, set ``L.qval`` for the results)."""

    possible: Callable[[Lowering, Node], bool]
    lower: Callable[[Lowering, Node], None]


#: op name -> how it lowers; the key :data:`UNARY` holds the rule of every op
#: marked ``elementwise_unary`` (a q.lut table) that has no rule of its own.
RULES: dict[str, Rule] = {}
UNARY = "<elementwise unary>"


def rule_of(node: Node) -> Rule | None:
    rule = RULES.get(node.op)
    if rule is None and getattr(node.opdef, "elementwise_unary", False) and \
            node.output.type.dtype.is_float:
        return RULES.get(UNARY)
    return rule
