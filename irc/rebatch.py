"""Changing a graph's batch size.

irc graphs have static shapes, fixed when a model is imported
(``irc.load(m.onnx, input_shapes=...)``).  Training wants one batch size
(64 images per step), evaluation another, deployment a third (1); the
parameters are the same.  :func:`with_batch` rebuilds a graph with dimension 0
of every input set to ``n`` and every result type inferred again.

A reshape whose target shape names the old batch explicitly (``[64, 2352]``, as
exporters write after folding a ``Shape`` op) while its operand carries the
batch in dimension 0 gets ``n`` in its place; every other op must infer the
new types from its operands, or the rebuild fails naming the node.
"""

from __future__ import annotations

from .errors import IrcError
from .ir import Graph, Value
from .types import TensorType

__all__ = ["batch_size", "with_batch", "RebatchError"]


class RebatchError(IrcError):
    """The graph cannot take another batch size (an op fixes it)."""


def batch_size(graph: Graph) -> int:
    """Dimension 0 of the graph's inputs (they must agree)."""
    sizes = {v.type.shape[0] for v in graph.inputs if v.type.rank >= 1}
    if len(sizes) != 1:
        raise RebatchError(f"graph @{graph.name}: its inputs do not share a batch dimension "
                           f"(dimension 0 sizes: {sorted(sizes) or 'none'})")
    return sizes.pop()


def with_batch(graph: Graph, n: int) -> Graph:
    """A copy of ``graph`` whose inputs have batch ``n`` (dimension 0); the
    graph itself when it already has.  Constants are shared (read-only)."""
    if n < 1:
        raise ValueError(f"batch size must be >= 1, got {n}")
    old = batch_size(graph)
    if old == n:
        return graph
    g = Graph(graph.name)
    g.attrs = dict(graph.attrs)
    vmap: dict[int, Value] = {}
    for v in graph.inputs:
        t = v.type
        vmap[id(v)] = g.add_input(v.name, TensorType(t.dtype, (n, *t.shape[1:]), t.quant))
    for node in graph.nodes:
        if node.op == "const":
            nv = g.add_const(node.output.const_value, node.output.name, node.output.type)
            vmap[id(node.output)] = nv
            continue
        ins = [vmap[id(v)] for v in node.inputs]
        attrs = dict(node.attrs)
        if node.op == "nn.reshape" and node.inputs[0].type.rank >= 1 and \
                node.inputs[0].type.shape[0] == old and attrs["shape"] and \
                attrs["shape"][0] == old:
            attrs["shape"] = [n, *attrs["shape"][1:]]
        try:
            new = g.add(node.op, ins, attrs, output_names=[v.name for v in node.outputs],
                        name=node.name)
        except Exception as e:
            raise RebatchError(
                f"graph @{graph.name}: {node.short()} does not take batch {n} "
                f"(the model was imported with batch {old}): {e}. Re-import the model "
                f"with that batch (--input-shape NAME={n},...)") from e
        for a, b in zip(node.outputs, new.outputs):
            vmap[id(a)] = b
    g.set_outputs([vmap[id(v)] for v in graph.outputs])
    return g
