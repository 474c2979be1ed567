"""``noop-elim``: remove ops that do nothing, collapse chains that do one thing.

Rules (each is a pattern with a check; the check's reason shows in traces):

* ``identity(x)``, ``cast(x) {to = dtype(x)}``, ``reshape``/``flatten``/
  ``squeeze``/``unsqueeze``/``expand`` to ``x``'s own shape, ``transpose``
  with the identity permutation, ``pad`` by zeros, a ``slice`` that keeps
  everything, one-operand ``concat``, one-piece ``split``  →  ``x``
* ``x + 0``, ``0 + x``, ``x - 0``, ``x * 1``, ``1 * x``, ``x / 1`` (a constant
  of zeros/ones that does not broadcast ``x`` to a bigger shape)  →  ``x``
* a chain of shape-only ops (reshape, flatten, squeeze, unsqueeze) → one
  ``reshape``;  ``transpose(transpose(x, p), q)`` → ``transpose(x, p∘q)``
  (row-major data order is unchanged by reshapes, so only the final shape matters;
  composing permutations: ``out[i] = in[p[q[i]]]``).

A no-op whose result is a graph output and whose operand is a graph input is
kept, so the graph's output names do not change.  Like other inference compilers,
irc treats signed zeros as equal here: ``x + 0.0`` turns ``-0.0`` into ``+0.0``
while ``x`` does not, and the rule removes the add anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from irc.ir import Graph, Value
from irc.types import DENSE
from irc.pass_manager import Pass, PassContext, register_pass
from irc.ops.nn_elementwise import NO_CLAMP
from irc.rewrite import Const, Match, Op, Rewriter, Rule, Var, run_rules

_RESHAPE_LIKE = ("nn.reshape", "nn.flatten", "nn.squeeze", "nn.unsqueeze")


def _same_shape(m: Match) -> str | None:
    if len(m.root.outputs) != 1:
        return f"has {len(m.root.outputs)} results"
    x, y = m["x"], m.root.outputs[0]
    if x.type.with_(encoding=DENSE) != y.type:
        return f"changes {x.type} into {y.type}"
    return None


def _forward(m: Match, rw: Rewriter) -> Value:
    return m["x"]


def _identity_perm(m: Match) -> str | None:
    perm = _transpose_perm(m.root)
    if perm != tuple(range(len(perm))):
        return f"permutation {list(perm)} is not the identity"
    return _same_shape(m)


def _full_slice(m: Match) -> str | None:
    if any(s < 0 for s in m.root.attrs["steps"]):
        return "a negative step reverses the data"
    return _same_shape(m)


def _zero_pads(m: Match) -> str | None:
    return None if not any(m.root.attrs["pads"]) else "pads are not all zero"


def _neutral(value: float):  # type: ignore[no-untyped-def]
    def check(m: Match) -> str | None:
        c = m.const("c")
        if m.root.attrs.get("clamp", NO_CLAMP) != NO_CLAMP:
            return "has a fused activation"
        if not np.all(c == value):
            return f"constant is not all {value:g}"
        return _same_shape(m)
    return check


def _collapse_reshape(m: Match, rw: Rewriter) -> Value:
    out = m.root.outputs[0]
    return rw.op("nn.reshape", m["x"], shape=out.type.shape, loc=m.root.name)


def _transpose_perm(node) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    perm = node.attrs["perm"]
    rank = node.inputs[0].type.rank
    return tuple(perm) if perm else tuple(reversed(range(rank)))


def _compose_transpose(m: Match, rw: Rewriter) -> Value:
    p, q = _transpose_perm(m["inner"]), _transpose_perm(m.root)
    composed = tuple(p[i] for i in q)
    if composed == tuple(range(len(composed))):
        return m["x"]
    return rw.op("nn.transpose", m["x"], perm=composed, loc=m.root.name)


def noop_rules() -> list[Rule]:
    x = Var("x")
    same_shape_ops = ("nn.identity", "nn.reshape", "nn.flatten", "nn.squeeze", "nn.unsqueeze",
                      "nn.expand", "nn.cast", "nn.concat", "nn.split")
    rules = [
        Rule("noop-same-shape", Op(same_shape_ops, x), _forward, _same_shape),
        Rule("noop-slice", Op("nn.slice", x), _forward, _full_slice),
        Rule("noop-transpose", Op("nn.transpose", x), _forward, _identity_perm),
        Rule("noop-pad", Op("nn.pad", x), _forward,
             lambda m: _zero_pads(m) or _same_shape(m)),
    ]
    for op, value, commutes in (("nn.add", 0.0, True), ("nn.sub", 0.0, False),
                                ("nn.mul", 1.0, True), ("nn.div", 1.0, False)):
        short = op.split(".")[1]
        rules.append(Rule(f"noop-{short}-right", Op(op, x, Const("c")), _forward, _neutral(value)))
        if commutes:
            rules.append(Rule(f"noop-{short}-left", Op(op, Const("c"), x), _forward,
                              _neutral(value)))
    rules += [
        Rule("collapse-reshapes", Op(_RESHAPE_LIKE, Op(_RESHAPE_LIKE, x, one_use=False)),
             _collapse_reshape),
        Rule("compose-transposes",
             Op("nn.transpose", Op("nn.transpose", x, bind="inner", one_use=False)),
             _compose_transpose),
    ]
    return rules


@register_pass
@dataclass(frozen=True)
class NoopElimination(Pass):
    """Remove identity-like ops and collapse reshape/transpose chains."""

    name: ClassVar[str] = "noop-elim"

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        stats = run_rules(graph, noop_rules(), ctx)
        ctx.count("removed", stats.erased)
        return graph
