"""Analyses derived on demand: the graph as networkx, reachability, liveness,
dominance.

The IR itself stays plain Python objects with incremental use lists; anything
more is computed here when a pass asks for it, and is valid until the graph
changes.  networkx does the graph algorithms.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from .ir import Graph, Node, Value

#: networkx node id of the graph's virtual entry (producer of every graph input)
ENTRY = "<entry>"


def to_networkx(graph: Graph) -> nx.DiGraph:
    """A DiGraph over node indices (``0..n-1``) plus ``ENTRY``; an edge ``a → b``
    carries ``values`` (names of the values ``a`` produces that ``b`` reads)."""
    g = nx.DiGraph()
    g.add_node(ENTRY)
    index = {id(n): i for i, n in enumerate(graph.nodes)}
    for i, n in enumerate(graph.nodes):
        g.add_node(i, op=n.op, node=n)
        for v in n.inputs:
            src = ENTRY if v.producer is None else index[id(v.producer)]
            if g.has_edge(src, i):
                g.edges[src, i]["values"].append(v.name)
            else:
                g.add_edge(src, i, values=[v.name])
        if not n.inputs:
            g.add_edge(ENTRY, i, values=[])
    return g


def reachable_from(graph: Graph, values: list[Value]) -> list[Node]:
    """Nodes that (transitively) read any of ``values``, in graph order."""
    seen: set[int] = set()
    stack = [u for v in values for u in v.users]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        stack.extend(u for out in n.outputs for u in out.users)
    return [n for n in graph.nodes if id(n) in seen]


def ancestors(graph: Graph, value: Value) -> list[Node]:
    """Nodes ``value`` (transitively) depends on, its producer included, in graph order."""
    seen: set[int] = set()
    stack = [value.producer] if value.producer is not None else []
    while stack:
        n = stack.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        stack.extend(v.producer for v in n.inputs if v.producer is not None)
    return [n for n in graph.nodes if id(n) in seen]


@dataclass(frozen=True)
class LiveRange:
    """A value is live from the step that defines it (-1 for graph inputs) to the
    last step that reads it (``len(nodes)`` for graph outputs)."""

    value: Value
    start: int
    end: int


def live_ranges(graph: Graph) -> list[LiveRange]:
    """Live range of every non-constant value under the current node order."""
    start: dict[int, int] = {id(v): -1 for v in graph.inputs}
    end: dict[int, int] = {id(v): -1 for v in graph.inputs}
    vals: dict[int, Value] = {id(v): v for v in graph.inputs}
    for i, n in enumerate(graph.nodes):
        for v in n.inputs:
            end[id(v)] = max(end.get(id(v), i), i)
        if n.op == "const":
            continue
        for v in n.outputs:
            start[id(v)], end[id(v)], vals[id(v)] = i, i, v
    for v in graph.outputs:
        end[id(v)] = len(graph.nodes)
    return [LiveRange(vals[k], start[k], end[k]) for k in vals]


def peak_live_bytes(graph: Graph) -> int:
    """Largest total size of simultaneously live non-constant values: the lower
    bound any memory plan for this schedule must meet."""
    events: list[tuple[int, int]] = []
    for r in live_ranges(graph):
        events.append((r.start, r.value.type.nbytes))
        events.append((r.end + 1, -r.value.type.nbytes))
    events.sort(key=lambda e: (e[0], e[1]))
    peak = cur = 0
    for _, delta in events:
        cur += delta
        peak = max(peak, cur)
    return peak


def dominators(graph: Graph) -> dict[int, int | str]:
    """Immediate dominator of each node (by index; ``ENTRY`` for roots): node
    ``d`` dominates ``n`` when every path from the graph inputs to ``n`` passes
    through ``d``."""
    idom = nx.immediate_dominators(to_networkx(graph), ENTRY)
    return {k: v for k, v in idom.items() if k != ENTRY}
