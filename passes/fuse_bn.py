"""``fuse-bn``: fold inference batch normalization into the preceding linear op.

Batch norm over channels is an affine map per channel ``c``::

    bn(z)_c = γ_c (z_c − μ_c) / √(σ²_c + ε) + β_c  =  s_c · z_c + t_c
    with  s = γ / √(σ² + ε),   t = β − μ · s

and every op below is linear in its weights per output channel, so the scale
moves into the weights and the shift into the bias:

* ``conv2d``  (W: [O, C/g, kh, kw]):  W'_o = s_o · W_o,  b' = s · b + t
* ``conv_transpose2d`` (W: [C, O/g, kh, kw]; output channel ``o = gi·O/g + j``):
  W'[gi·C/g + c, j] = s_o · W[gi·C/g + c, j],  b' = s · b + t
* ``gemm`` (z = α·op(A)·op(B) + β_C·C, channels = columns n):
  op(B)'_{:,n} = s_n · op(B)_{:,n},  C' = s · β_C · C + t  (β_C' = 1)
* ``matmul`` with a rank-2 result (channels = columns): rewritten as the
  equivalent ``gemm(x, W·s, t)``.

A linear op with a fused activation (``clamp``) is not folded: the clamp sits
between the op and the batch norm.  All folding arithmetic runs in float64 and
is cast back to the weights' dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from irc.ir import Graph, Value
from irc.pass_manager import Pass, PassContext, register_pass
from irc.ops.nn_elementwise import NO_CLAMP
from irc.rewrite import Const, Match, Op, Rewriter, Rule, Var, run_rules

def _bn_affine(m: Match) -> tuple[np.ndarray, np.ndarray]:
    """(s, t) of the matched batch norm, in float64."""
    gamma, beta = m.const("scale").astype(np.float64), m.const("bias").astype(np.float64)
    mean, var = m.const("mean").astype(np.float64), m.const("var").astype(np.float64)
    s = gamma / np.sqrt(var + m["bn"].attrs["epsilon"])
    return s, beta - mean * s


def _bn(inner: Op) -> Op:
    return Op("nn.batch_norm", inner, Const("scale"), Const("bias"), Const("mean"),
              Const("var"), bind="bn")


def _check_linear(m: Match) -> str | None:
    lin = m["lin"]
    if m["bn"].attrs["training"]:
        return "a training-mode batch norm normalizes with batch statistics, not constants"
    if tuple(lin.attrs.get("clamp", NO_CLAMP)) != NO_CLAMP:
        return f"{lin.op} has a fused activation between it and the batch norm"
    if not lin.output.type.dtype.is_float:
        return "not a float op"
    return None


def _bias(m: Match, n: int) -> np.ndarray:
    b = m.get("b")
    return np.zeros(n) if b is None else b.const_value.astype(np.float64)


def _rewrite_conv(m: Match, rw: Rewriter) -> Value:
    lin, w = m["lin"], m.const("w")
    s, t = _bn_affine(m)
    w2 = (w.astype(np.float64) * s[:, None, None, None]).astype(w.dtype)
    b2 = (_bias(m, w.shape[0]) * s + t).astype(w.dtype)
    return rw.op("nn.conv2d", m["x"], rw.const(w2, m["w"].name), rw.const(b2, m["bn"].output.name + ".bias"),
                 loc=lin.name, **lin.attrs)


def _rewrite_conv_transpose(m: Match, rw: Rewriter) -> Value:
    lin, w = m["lin"], m.const("w")
    g = lin.attrs["groups"]
    s, t = _bn_affine(m)
    cin, og, kh, kw = w.shape
    w64 = w.astype(np.float64).reshape(g, cin // g, og, kh, kw) * s.reshape(g, 1, og, 1, 1)
    w2 = w64.reshape(w.shape).astype(w.dtype)
    b2 = (_bias(m, g * og) * s + t).astype(w.dtype)
    return rw.op("nn.conv_transpose2d", m["x"], rw.const(w2, m["w"].name),
                 rw.const(b2, m["bn"].output.name + ".bias"), loc=lin.name, **lin.attrs)


def _rewrite_gemm(m: Match, rw: Rewriter) -> Value:
    lin, w = m["lin"], m.const("w")
    s, t = _bn_affine(m)
    w64 = w.astype(np.float64)
    w2 = w64 * (s[:, None] if lin.attrs["trans_b"] else s[None, :])
    c = m.get("b")
    c64 = np.zeros(1) if c is None else c.const_value.astype(np.float64) * lin.attrs["beta"]
    c2 = c64 * s + t
    attrs = dict(lin.attrs, beta=1.0)
    return rw.op("nn.gemm", m["x"], rw.const(w2.astype(w.dtype), m["w"].name),
                 rw.const(c2.astype(w.dtype), m["bn"].output.name + ".bias"), loc=lin.name, **attrs)


def _check_matmul(m: Match) -> str | None:
    why = _check_linear(m)
    if why:
        return why
    if m["x"].type.rank != 2 or m["w"].type.rank != 2:
        return "only a rank-2 matmul has its channels on axis 1"
    return None


def _rewrite_matmul(m: Match, rw: Rewriter) -> Value:
    lin, w = m["lin"], m.const("w")
    s, t = _bn_affine(m)
    w2 = (w.astype(np.float64) * s[None, :]).astype(w.dtype)
    return rw.op("nn.gemm", m["x"], rw.const(w2, m["w"].name),
                 rw.const(t.astype(w.dtype), m["bn"].output.name + ".bias"), loc=lin.name,
                 clamp=lin.attrs["clamp"])


def fuse_bn_rules() -> list[Rule]:
    x, w, b = Var("x"), Const("w"), Const("b", optional=True)
    return [
        Rule("fuse-bn-conv2d", _bn(Op("nn.conv2d", x, w, b, bind="lin")), _rewrite_conv,
             _check_linear),
        Rule("fuse-bn-conv-transpose2d", _bn(Op("nn.conv_transpose2d", x, w, b, bind="lin")),
             _rewrite_conv_transpose, _check_linear),
        Rule("fuse-bn-gemm", _bn(Op("nn.gemm", x, w, b, bind="lin")), _rewrite_gemm,
             _check_linear),
        Rule("fuse-bn-matmul", _bn(Op("nn.matmul", x, w, bind="lin")), _rewrite_matmul,
             _check_matmul),
    ]


@register_pass
@dataclass(frozen=True)
class FuseBatchNorm(Pass):
    """Fold nn.batch_norm into a preceding conv2d, conv_transpose2d, gemm or matmul."""

    name: ClassVar[str] = "fuse-bn"

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        run_rules(graph, fuse_bn_rules(), ctx, total="fused")
        return graph
