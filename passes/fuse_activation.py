"""``fuse-activation``: absorb relu / relu6 / clip into the op before them.

Ops that can apply bounds to their own result carry a ``clamp = [lo, hi]``
attribute (conv2d, conv_transpose2d, gemm, matmul, add).  An activation that is
a clamp — ``relu`` = [0, ∞), ``relu6`` = [0, 6], ``clip{min, max}`` — folds into
it when the producer has no other reader.  Clamps compose by intersection::

    clip(clip(y, a₁, b₁), a₂, b₂) = clip(y, max(a₁, a₂), min(b₁, b₂))   (if non-empty)

This is exactly the form integer lowering wants: a fused clamp becomes the
quantized kernel's saturation bounds.

Which ops are clamps is a per-op hook (``as_clamp``, registered next to the op:
see ``irc/ops/nn_elementwise.py``), so a user's own activation op becomes
fusable by registering the hook next to its definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from irc.ir import Graph, Node, Value
from irc.pass_manager import Pass, PassContext, register_pass
from irc.rewrite import Match, Op, Rewriter, Rule, run_rules


def _clamp_of(node: Node) -> tuple[float, float] | None:
    hook = node.opdef.hook("as_clamp")
    return None if hook is None else tuple(hook(node))  # type: ignore[return-value]


def _has_clamp_attr(node: Node) -> bool:
    return "clamp" in node.opdef.attr_map


def _check(m: Match) -> str | None:
    act, inner = m.root, m["inner"]
    if _clamp_of(act) is None:
        return f"{act.op} is not a clamp"
    if not _has_clamp_attr(inner):
        return f"{inner.op} has no clamp attribute"
    lo1, hi1 = inner.attrs["clamp"]
    lo2, hi2 = _clamp_of(act)  # type: ignore[misc]
    if max(lo1, lo2) > min(hi1, hi2):
        return "the two clamps do not overlap"
    return None


def _rewrite(m: Match, rw: Rewriter) -> Value:
    act, inner = m.root, m["inner"]
    lo1, hi1 = inner.attrs["clamp"]
    lo2, hi2 = _clamp_of(act)  # type: ignore[misc]
    attrs: dict[str, Any] = dict(inner.attrs, clamp=(max(lo1, lo2), min(hi1, hi2)))
    return rw.op(inner.op, *inner.inputs, loc=inner.name or act.name, **attrs)


@register_pass
@dataclass(frozen=True)
class FuseActivation(Pass):
    """Fuse relu/relu6/clip into the preceding op's clamp bounds."""

    name: ClassVar[str] = "fuse-activation"

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        rule = Rule("fuse-clamp",
                    Op(None, Op(None, rest=True, bind="inner"),
                       where=lambda n: n.opdef.hook("as_clamp") is not None),
                    _rewrite, _check)
        run_rules(graph, [rule], ctx, total="fused")
        return graph
