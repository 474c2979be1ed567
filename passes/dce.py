"""``dce``: dead-code elimination.

Removes every pure node none of whose results reaches a graph output, in one
backward sweep (O(nodes + uses)).  Graph inputs are the graph's interface and
are kept even when unused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from irc.ir import Graph
from irc.pass_manager import Pass, PassContext, register_pass


@register_pass
@dataclass(frozen=True)
class DeadCodeElimination(Pass):
    """Remove nodes whose results are never used."""

    name: ClassVar[str] = "dce"

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        live: set[int] = {id(v) for v in graph.outputs}
        keep: list[bool] = [False] * len(graph.nodes)
        for i in range(len(graph.nodes) - 1, -1, -1):
            node = graph.nodes[i]
            if not node.opdef.pure or any(id(v) in live for v in node.outputs):
                keep[i] = True
                live.update(id(v) for v in node.inputs)
        removed = [n for n, k in zip(graph.nodes, keep) if not k]
        for n in removed:
            graph.forget(n)
        graph.nodes = [n for n, k in zip(graph.nodes, keep) if k]
        ctx.count("removed", len(removed))
        return graph
