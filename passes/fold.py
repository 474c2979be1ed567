"""``fold``: constant folding.

Any pure op whose operands are all constants is evaluated by the reference
interpreter's op semantics and replaced by a ``const`` holding the result.  A
result larger than ``max_elements`` elements (and larger than its operands
together) is left alone, so folding never inflates the model (an ``expand`` of
a scalar to a large tensor stays an ``expand``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from irc.interpreter import evaluate
from irc.ir import Graph
from irc.pass_manager import Pass, PassContext, register_pass
from irc.errors import PipelineError
from irc.rewrite import Match, Op, Rewriter, Rule, run_rules


@register_pass
@dataclass(frozen=True)
class Fold(Pass):
    """Evaluate ops whose operands are all constants and replace them by constants."""

    name: ClassVar[str] = "fold"
    max_elements: int = field(default=1 << 20, metadata={
        "doc": "largest folded result (elements) allowed to exceed its operands' total size"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_elements < 0:
            raise PipelineError(f"pass 'fold': option 'max_elements' must be >= 0, got "
                                f"{self.max_elements}")

    def rules(self) -> list[Rule]:
        def check(m: Match) -> str | None:
            node = m.root
            if node.op == "const":
                return "already a constant"
            if not node.opdef.pure:
                return f"{node.op} is not pure"
            if not node.inputs:
                return "has no operands"
            if not all(v.is_const for v in node.inputs):
                return "an operand is not constant"
            out_size = sum(v.type.size for v in node.outputs)
            in_size = sum(v.type.size for v in node.inputs)
            if out_size > self.max_elements and out_size > in_size:
                return (f"result has {out_size} elements (> max_elements={self.max_elements} "
                        "and larger than the operands)")
            return None

        def rewrite(m: Match, rw: Rewriter) -> list:
            node = m.root
            results = evaluate(node, [v.const_value for v in node.inputs])
            return [rw.const(np.asarray(r).astype(v.type.dtype.storage, copy=False),
                             name=v.name, type=v.type)
                    for v, r in zip(node.outputs, results)]

        return [Rule("fold-constant", Op(None, rest=True), rewrite, check)]

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        stats = run_rules(graph, self.rules(), ctx)
        ctx.count("folded", stats.fired.get("fold-constant", 0))
        ctx.count("erased", stats.erased)
        return graph
