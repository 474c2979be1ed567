"""The IR: values, nodes and graphs.

A :class:`Graph` has named inputs, named outputs and a list of :class:`Node`
kept in topological order.  It is in SSA form: every :class:`Value` has exactly
one producer (a node, or the graph when it is a graph input) and a name unique
in the graph.  Constants are values produced by ``const`` nodes, whose
``value`` attribute holds a read-only numpy array.

Use-def chains are maintained incrementally (``value.uses`` lists the
``(node, operand index)`` pairs that read it), so rewrites are cheap; other
analyses are derived on demand (:mod:`irc.analysis`).
"""

from __future__ import annotations

import itertools
import struct
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

import numpy as np

from .errors import IRError
from .types import TensorType, tensor_type

if TYPE_CHECKING:
    from .ops import OpDef

class Value:
    """An SSA value: a name, a type, its producer and its uses."""

    __slots__ = ("name", "type", "producer", "index", "uses", "__weakref__")

    def __init__(self, name: str, type: TensorType, producer: "Node | None" = None,
                 index: int = 0) -> None:
        self.name = name
        self.type = type
        self.producer = producer   # None for graph inputs
        self.index = index         # which output of the producer
        self.uses: list[tuple[Node, int]] = []

    @property
    def is_const(self) -> bool:
        return self.producer is not None and self.producer.op == "const"

    @property
    def const_value(self) -> np.ndarray:
        """The array of a constant value (raises if the value is not constant)."""
        if not self.is_const:
            raise IRError(f"%{self.name} is not a constant")
        assert self.producer is not None
        return self.producer.attrs["value"]

    @property
    def users(self) -> list["Node"]:
        """Distinct nodes that read this value, in use order."""
        seen: dict[int, Node] = {}
        for node, _ in self.uses:
            seen.setdefault(id(node), node)
        return list(seen.values())

    def __repr__(self) -> str:
        return f"%{format_name(self.name)}: {self.type}"


class Node:
    """One op application: ``outputs = op(inputs) {attrs}``.

    ``op`` is the registered op name (``"nn.conv2d"``); ``attrs`` maps attribute
    names to normalized Python values (int, float, bool, str, DType, tuples, or
    a numpy array for ``const``); ``name`` is an optional source location such
    as the ONNX node name.
    """

    __slots__ = ("op", "_inputs", "outputs", "attrs", "name", "__weakref__")

    def __init__(self, op: str, inputs: Sequence[Value], outputs: Sequence[Value],
                 attrs: dict[str, Any] | None = None, name: str | None = None) -> None:
        self.op = op
        self._inputs: list[Value] = []
        self.outputs: list[Value] = list(outputs)
        self.attrs: dict[str, Any] = dict(attrs or {})
        self.name = name
        for i, v in enumerate(inputs):
            self._inputs.append(v)
            v.uses.append((self, i))
        for i, v in enumerate(self.outputs):
            v.producer, v.index = self, i

    # -- operands ---------------------------------------------------------------
    @property
    def inputs(self) -> tuple[Value, ...]:
        return tuple(self._inputs)

    def set_input(self, i: int, value: Value) -> None:
        """Make operand ``i`` read ``value``, keeping use lists exact."""
        old = self._inputs[i]
        old.uses.remove((self, i))
        self._inputs[i] = value
        value.uses.append((self, i))

    def add_input(self, value: Value) -> None:
        """Append an operand (e.g. an optional bias), keeping use lists exact."""
        self._inputs.append(value)
        value.uses.append((self, len(self._inputs) - 1))

    def drop_inputs(self) -> None:
        """Forget all operands (used when the node is erased)."""
        for i, v in enumerate(self._inputs):
            try:
                v.uses.remove((self, i))
            except ValueError:
                pass
        self._inputs = []

    @property
    def output(self) -> Value:
        """The single output (raises for multi-output nodes)."""
        if len(self.outputs) != 1:
            raise IRError(f"{self.short()} has {len(self.outputs)} outputs, not one")
        return self.outputs[0]

    @property
    def opdef(self) -> "OpDef":
        from .ops import get_op
        return get_op(self.op)

    def short(self) -> str:
        """A one-line rendering for messages: ``%y = nn.relu(%x)``."""
        outs = ", ".join("%" + format_name(v.name) for v in self.outputs)
        ins = ", ".join("%" + format_name(v.name) for v in self._inputs)
        loc = f' loc("{self.name}")' if self.name else ""
        if self.op == "const":
            return f"{outs} = const : {self.outputs[0].type}{loc}"
        return f"{outs} = {self.op}({ins}){loc}"

    def __repr__(self) -> str:
        return f"<Node {self.short()}>"


def format_name(name: str) -> str:
    """A value or graph name as printed after ``%``/``@`` (quoted when not simple):
    :func:`irc.printer.format_name`, the text form's one definition of the rule."""
    from .printer import format_name as printed
    return printed(name)


class Graph:
    """A dataflow graph in SSA form with nodes in topological order."""

    def __init__(self, name: str = "main") -> None:
        self.name = name
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.nodes: list[Node] = []
        self.attrs: dict[str, Any] = {}   # graph-level metadata (target, ranges...)
        self._names: set[str] = set()
        self._counter = itertools.count()

    # -- names ------------------------------------------------------------------
    def fresh_name(self, hint: str | None = None) -> str:
        """A value name not used in this graph: ``hint``, ``hint_1``... or ``0``, ``1``..."""
        if hint and hint not in self._names:
            return hint
        if hint:
            for k in itertools.count(1):
                cand = f"{hint}_{k}"
                if cand not in self._names:
                    return cand
        while True:
            cand = str(next(self._counter))
            if cand not in self._names:
                return cand

    def _claim(self, name: str) -> None:
        if not name:
            raise IRError(f"graph @{self.name}: value names must not be empty")
        if name in self._names:
            raise IRError(f"graph @{self.name}: value name %{format_name(name)} is already "
                          "defined (SSA names must be unique)")
        self._names.add(name)

    def has_name(self, name: str) -> bool:
        """Whether a value of this graph is called ``name``."""
        return name in self._names

    def rename(self, value: Value, name: str) -> None:
        """Give ``value`` a new unique name."""
        if name == value.name:
            return
        self._claim(name)
        self._names.discard(value.name)
        value.name = name

    # -- construction -------------------------------------------------------------
    def add_input(self, name: str, type: TensorType | str) -> Value:
        self._claim(name)
        v = Value(name, tensor_type(type))
        self.inputs.append(v)
        return v

    def make_node(self, op: str, inputs: Sequence[Value], attrs: dict[str, Any] | None = None,
                  *, output_types: Sequence[TensorType] | None = None,
                  output_names: Sequence[str | None] | None = None,
                  name: str | None = None) -> Node:
        """Create a node (not yet placed in ``nodes``): attributes are checked and
        normalized by the op's definition and, unless ``output_types`` is given,
        result types come from the op's type rule."""
        from .ops import get_op
        opdef = get_op(op)
        attrs = opdef.normalize_attrs(attrs or {}, where=op)
        if output_types is None:
            output_types = opdef.infer_types([v.type for v in inputs], attrs, where=op)
        names = list(output_names or [None] * len(output_types))
        if len(names) != len(output_types):
            raise IRError(f"{op}: {len(names)} output names given for "
                          f"{len(output_types)} results")
        outs = []
        for n, t in zip(names, output_types):
            n = self.fresh_name(n)
            self._claim(n)
            outs.append(Value(n, t))
        return Node(op, inputs, outs, attrs, name)

    def append(self, node: Node) -> Node:
        self.nodes.append(node)
        return node

    def add(self, op: str, inputs: Sequence[Value], attrs: dict[str, Any] | None = None,
            **kw: Any) -> Node:
        """``make_node`` then append at the end."""
        return self.append(self.make_node(op, inputs, attrs, **kw))

    def add_const(self, array: np.ndarray | Any, name: str | None = None,
                  type: TensorType | str | None = None) -> Value:
        """Append a ``const`` node holding ``array`` and return its value."""
        node = self.make_const(array, name, type)
        self.nodes.append(node)
        return node.output

    def make_const(self, array: np.ndarray | Any, name: str | None = None,
                   type: TensorType | str | None = None) -> Node:
        arr = np.array(array, copy=True)
        ty = tensor_type(type) if type is not None else TensorType.of(arr)
        if arr.dtype != ty.dtype.storage:
            arr = arr.astype(ty.dtype.storage)
        arr.setflags(write=False)
        return self.make_node("const", [], {"value": arr}, output_types=[ty],
                              output_names=[name])

    def set_outputs(self, values: Iterable[Value]) -> None:
        self.outputs = list(values)

    # -- editing ----------------------------------------------------------------
    def index_of(self, node: Node) -> int:
        for i, n in enumerate(self.nodes):
            if n is node:
                return i
        raise IRError(f"{node.short()} is not in graph @{self.name}")

    def insert_before(self, anchor: Node, nodes: Sequence[Node]) -> None:
        i = self.index_of(anchor)
        self.nodes[i:i] = list(nodes)

    def erase(self, node: Node) -> None:
        """Remove a node whose outputs are unused."""
        for v in node.outputs:
            if v.uses or any(v is o for o in self.outputs):
                raise IRError(f"cannot erase {node.short()}: %{v.name} is still used")
        node.drop_inputs()
        self.nodes.remove(node)
        for v in node.outputs:
            self._names.discard(v.name)

    def forget(self, node: Node) -> None:
        """Detach a dead node (drop its operands, release its names) without
        touching ``nodes``; the caller removes it from the list.  Rewrite drivers
        use this to erase many nodes in one O(n) sweep."""
        node.drop_inputs()
        for v in node.outputs:
            self._names.discard(v.name)

    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Make every reader of ``old`` (including graph outputs) read ``new``.

        Graph outputs keep their names: if ``old`` is an output and ``new`` is a
        plain intermediate, ``new`` takes over ``old``'s name (and ``old`` gets a
        fresh one), so callers see the same output names after any rewrite.
        """
        if old is new:
            return
        for node, i in list(old.uses):
            node.set_input(i, new)
        if any(o is old for o in self.outputs):
            is_io = any(v is new for v in self.inputs) or any(v is new for v in self.outputs)
            if not is_io:
                keep = old.name
                self._names.discard(keep)
                old.name = self.fresh_name(keep + ".dead")
                self._names.add(old.name)
                self._names.discard(new.name)
                new.name = keep
                self._names.add(keep)
            self.outputs = [new if o is old else o for o in self.outputs]

    # -- queries ------------------------------------------------------------------
    def values(self) -> Iterator[Value]:
        """Every value: inputs, then node outputs in order."""
        yield from self.inputs
        for n in self.nodes:
            yield from n.outputs

    def value(self, name: str) -> Value:
        for v in self.values():
            if v.name == name:
                return v
        raise IRError(f"graph @{self.name} has no value %{format_name(name)}")

    def consts(self) -> Iterator[Node]:
        return (n for n in self.nodes if n.op == "const")

    def __len__(self) -> int:
        return len(self.nodes)

    def __str__(self) -> str:
        from .printer import print_graph
        return print_graph(self)

    def __repr__(self) -> str:
        return (f"<Graph @{self.name}: {len(self.inputs)} inputs, {len(self.nodes)} nodes, "
                f"{len(self.outputs)} outputs>")

    # -- whole-graph operations ----------------------------------------------------
    def copy(self) -> "Graph":
        """A structurally equal, independent graph (constant arrays are shared;
        they are read-only)."""
        g = Graph(self.name)
        g.attrs = dict(self.attrs)
        vmap: dict[int, Value] = {}
        for v in self.inputs:
            vmap[id(v)] = g.add_input(v.name, v.type)
        for n in self.nodes:
            outs = []
            for v in n.outputs:
                g._claim(v.name)
                nv = Value(v.name, v.type)
                vmap[id(v)] = nv
                outs.append(nv)
            g.nodes.append(Node(n.op, [vmap[id(v)] for v in n.inputs], outs, dict(n.attrs),
                                n.name))
        g.outputs = [vmap[id(v)] for v in self.outputs]
        return g

    def toposort(self) -> None:
        """Reorder ``nodes`` topologically, keeping the current order where it
        is already valid (stable Kahn).  Raises on a cycle."""
        index = {id(n): i for i, n in enumerate(self.nodes)}
        indeg = {id(n): 0 for n in self.nodes}
        for n in self.nodes:
            preds = {id(v.producer) for v in n.inputs
                     if v.producer is not None and id(v.producer) in index}
            indeg[id(n)] = len(preds)
        import heapq
        ready = [(index[id(n)], n) for n in self.nodes if indeg[id(n)] == 0]
        heapq.heapify(ready)
        order: list[Node] = []
        while ready:
            _, n = heapq.heappop(ready)
            order.append(n)
            for user in {id(u): u for v in n.outputs for u in v.users}.values():
                if id(user) in indeg:
                    indeg[id(user)] -= 1
                    if indeg[id(user)] == 0:
                        heapq.heappush(ready, (index[id(user)], user))
        if len(order) != len(self.nodes):
            stuck = [n for n in self.nodes if indeg[id(n)] > 0]
            raise IRError(f"graph @{self.name} has a cycle through {stuck[0].short()}")
        self.nodes = order


def structurally_equal(a: Graph, b: Graph) -> bool:
    """True when two graphs print identically: same names, types, ops, attributes,
    constants (bitwise) and order."""
    return diff_graphs(a, b) is None


def diff_graphs(a: Graph, b: Graph) -> str | None:
    """The first structural difference between two graphs, or None."""
    if a.name != b.name:
        return f"graph names differ: @{a.name} vs @{b.name}"
    if _attrs_key(a.attrs) != _attrs_key(b.attrs):
        return f"graph attributes differ: {a.attrs} vs {b.attrs}"
    sig = lambda vs: [(v.name, v.type) for v in vs]  # noqa: E731
    if sig(a.inputs) != sig(b.inputs):
        return f"inputs differ: {sig(a.inputs)} vs {sig(b.inputs)}"
    if len(a.nodes) != len(b.nodes):
        return f"node counts differ: {len(a.nodes)} vs {len(b.nodes)}"
    for i, (x, y) in enumerate(zip(a.nodes, b.nodes)):
        if (x.op, x.name) != (y.op, y.name):
            return f"node {i} differs: {x.short()} vs {y.short()}"
        if [v.name for v in x.inputs] != [v.name for v in y.inputs]:
            return f"node {i} operands differ: {x.short()} vs {y.short()}"
        if sig(x.outputs) != sig(y.outputs):
            return f"node {i} results differ: {sig(x.outputs)} vs {sig(y.outputs)}"
        if _attrs_key(x.attrs) != _attrs_key(y.attrs):
            return f"node {i} ({x.short()}) attributes differ: {x.attrs} vs {y.attrs}"
    if [v.name for v in a.outputs] != [v.name for v in b.outputs]:
        return "outputs differ"
    return None


def _attrs_key(attrs: dict[str, Any]) -> Any:
    """A comparison key for attribute dicts: equal keys print identically.

    Floats are keyed by their float64 bits, so ``-0.0`` and ``0.0`` differ (they
    print differently and ``nn.pad{value=-0.0}`` pads with a different value);
    every NaN is one key (the text form prints attribute NaNs as ``nan``)."""
    def key(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return ("array", v.dtype.str, v.shape, v.tobytes())
        if isinstance(v, (float, np.floating)):
            f = float(v)
            return (type(v).__name__, "nan" if f != f else struct.pack("<d", f))
        if isinstance(v, (tuple, list)):
            return tuple(key(x) for x in v)
        if isinstance(v, dict):
            return tuple(sorted((k, key(x)) for k, x in v.items()))
        return (type(v).__name__, v)
    return tuple(sorted((k, key(v)) for k, v in attrs.items()))
