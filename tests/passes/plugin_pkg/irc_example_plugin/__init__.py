"""An example irc pass plugin.

Installing this distribution (``pip install tests/passes/plugin_pkg``) makes the
pass ``example-count-ops`` available to ``irc compile --passes`` and
``irc passes`` through the ``irc.passes`` entry-point group declared in its
``pyproject.toml``::

    [project.entry-points."irc.passes"]
    example = "irc_example_plugin"

irc imports the module named by the entry point; the ``@register_pass``
decorator does the rest.  The tests use the committed
``irc_example_plugin-0.1.0.dist-info`` beside this package instead of pip.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import ClassVar

from irc.ir import Graph
from irc.pass_manager import Pass, PassContext, register_pass


@register_pass
@dataclass(frozen=True)
class CountOps(Pass):
    """Count the nodes of each op into the statistics; the graph is unchanged."""

    name: ClassVar[str] = "example-count-ops"
    prefix: str = field(default="", metadata={"doc": "only count ops whose name starts "
                                                     "with this (e.g. nn.)"})

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        counts = Counter(n.op for n in graph.nodes if n.op.startswith(self.prefix))
        for op, n in sorted(counts.items()):
            ctx.count(op, n, modified=False)   # observing only: not a modification
        return graph
