"""``fuse-gelu``: recognise the erf form of GELU and make it one ``nn.gelu``.

Exporters spell BERT's activation out in five ops (torch's ``F.gelu`` to ONNX
before opset 20)::

    gelu(x) = x · ½ · (1 + erf(x / √2))

as ``div(x, √2)`` (or ``mul(x, 1/√2)``) → ``erf`` → ``add 1`` → ``mul x`` →
``mul ½`` (or ``mul(x, ½)`` first).  One ``nn.gelu`` computes the same function
in one pass over the tensor — on the runtime, one kernel instead of five passes
over MiniLM's [128, 1536] FFN activations, and on GELU's negative side from
``erfc`` without the cancellation in ``1 + erf`` — so the pass is part of the
``quant`` preparation and useful before any float export to the runtime.
Multiplication and addition are matched in either operand order.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import ClassVar


from irc.ir import Graph, Value
from irc.pass_manager import Pass, PassContext, register_pass
from irc.rewrite import Const, Match, Op, Pattern, Rewriter, Rule, Var, run_rules

SQRT2 = math.sqrt(2.0)


def _scalar(m: Match, key: str, want: float) -> bool:
    v = m.const(key)
    return v.size == 1 and abs(float(v.reshape(())) - want) <= 1e-6 * abs(want)


def _commuted(op: str, a: Pattern, b: Pattern, bind: str | None = None) -> list[Op]:
    return [Op(op, a, b, bind=bind), Op(op, b, a, bind=bind)]


def _patterns() -> list[tuple[str, Op]]:
    scaled = [("div", Op("nn.div", Var("x"), Const("c")))] + \
        [("mul", p) for p in _commuted("nn.mul", Var("x"), Const("c"))]
    out = []
    for (kind, arg), one_first in itertools.product(scaled, (False, True)):
        erf = Op("nn.erf", arg)
        plus = Op("nn.add", *((Const("one"), erf) if one_first else (erf, Const("one"))))
        # x·(1 + erf)·½ and (x·½)·(1 + erf), each product in either order
        for inner in _commuted("nn.mul", Var("x"), plus):
            out += [(kind, root) for root in _commuted("nn.mul", inner, Const("half"))]
        for half_x in _commuted("nn.mul", Var("x"), Const("half")):
            out += [(kind, root) for root in _commuted("nn.mul", half_x, plus)]
    return out


def _check(kind: str):  # type: ignore[no-untyped-def]
    def check(m: Match) -> str | None:
        if not _scalar(m, "c", SQRT2 if kind == "div" else 1.0 / SQRT2):
            return "the erf argument is not x/√2"
        if not _scalar(m, "one", 1.0) or not _scalar(m, "half", 0.5):
            return "the constants are not 1 and ½"
        if not m["x"].type.dtype.is_float:
            return "x is not a float tensor"
        return None
    return check


def _rewrite(m: Match, rw: Rewriter) -> Value:
    return rw.op("nn.gelu", m["x"], loc=m.root.name, approximate="none")


@register_pass
@dataclass(frozen=True)
class FuseGelu(Pass):
    """Replace x·½·(1 + erf(x/√2)) spelled in five ops by one nn.gelu."""

    name: ClassVar[str] = "fuse-gelu"

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        rules = [Rule(f"gelu-{kind}-{i}", pat, _rewrite, _check(kind))
                 for i, (kind, pat) in enumerate(_patterns())]
        run_rules(graph, rules, ctx, total="fused")
        return graph


