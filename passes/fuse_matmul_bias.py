"""``fuse-matmul-bias``: a matmul by constant weights plus a constant bias becomes a gemm.

Exporters write a linear layer on a sequence as ``add(bias, matmul(x, W))`` with
``x`` of shape ``[..., K]`` (BERT's ``[batch, seq, hidden]``)::

    y = x @ W + b        W: [K, N],  b: [N]
      = reshape(gemm(reshape(x, [M, K]), W, b), [..., N])      M = Π x.shape[:-1]

``nn.gemm`` carries the bias, so integer lowering puts it into the int32
accumulator of one ``q.matmul`` (at scale ``s_x·s_w``) instead of adding it in
float between a dequantize and a quantize; the reshapes are free (they alias in
the runtime).  The add's ``clamp`` moves to the gemm.  The add may take its
operands in either order; the bias must be a vector of N (any leading 1s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from irc.ir import Graph, Value
from irc.pass_manager import Pass, PassContext, register_pass
from irc.rewrite import Const, Match, Op, Rewriter, Rule, Var, run_rules


def _patterns() -> list[Op]:
    mm = Op("nn.matmul", Var("x"), Const("w"), bind="mm")
    return [Op("nn.add", mm, Const("b")), Op("nn.add", Const("b"), mm)]


def _check(m: Match) -> str | None:
    x, w, b, mm = m["x"], m.const("w"), m.const("b"), m["mm"]
    if w.ndim != 2:
        return "the weights are not a [K, N] matrix"
    n = w.shape[1]
    if b.size != n or (b.ndim and b.shape[-1] != n):
        return f"the added constant is not a bias vector of {n}"
    if x.type.rank < 2 or not x.type.dtype.is_float:
        return "x is not a float tensor of rank >= 2"
    lo, hi = mm.attrs["clamp"]
    if lo > -np.inf or hi < np.inf:
        return "the matmul clamps its result"
    return None


def _rewrite(m: Match, rw: Rewriter) -> Value:
    x, w, root = m["x"], m["w"], m.root
    k, n = w.type.shape
    bias = rw.const(m.const("b").reshape(n).astype(np.float32), name=None)
    attrs = {"clamp": root.attrs["clamp"]}
    if x.type.rank == 2:
        return rw.op("nn.gemm", x, w, bias, loc=root.name, **attrs)
    rows = int(np.prod(x.type.shape[:-1]))
    x2 = rw.op("nn.reshape", x, shape=[rows, k], loc=root.name)
    y2 = rw.op("nn.gemm", x2, w, bias, loc=root.name, **attrs)
    return rw.op("nn.reshape", y2, shape=list(root.outputs[0].type.shape), loc=root.name)


@register_pass
@dataclass(frozen=True)
class FuseMatmulBias(Pass):
    """Turn matmul(x, W) + b (constant W and bias vector) into a gemm carrying the bias."""

    name: ClassVar[str] = "fuse-matmul-bias"

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        rules = [Rule(f"matmul-bias-{i}", p, _rewrite, _check)
                 for i, p in enumerate(_patterns())]
        run_rules(graph, rules, ctx, total="fused")
        return graph
