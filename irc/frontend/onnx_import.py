"""ONNX ModelProto -> irc :class:`~irc.ir.Graph` (float models).

::

    g = import_onnx("model.onnx", input_shapes={"x": (1, 3, 224, 224)})

The importer walks the ONNX nodes in order and hands each to the converter
registered for its op type (``@converter("Conv")`` in
:mod:`irc.frontend.onnx_ops`); a converter reads attributes and inputs through a
:class:`NodeContext` and appends ``nn.*`` nodes.  Every value gets its type from
the irc op's type rule as it is created, so shapes are static throughout: the
model's own input shapes are used, or the ones the caller gives
(``input_shapes``), and a symbolic dim with no given shape is an error naming
the input.

Constant subgraphs fold on the fly: an op whose operands are all constants is
evaluated with :func:`irc.interpreter.evaluate` and becomes a constant, and
``Shape``/``ConstantOfShape``/``Size`` are constants by construction, so shape
arithmetic (Shape -> Gather -> Concat -> Reshape) ends as a static ``nn.reshape``.
irc ops take as attributes what newer ONNX passes as tensor inputs (Reshape's
shape, Slice's starts...); those inputs must therefore be constant after
folding, and the error says so when they are not.

Before converting anything, every node's op type is checked: all unsupported
op types are reported in one :class:`~irc.errors.ModelImportError` with their
node names and counts.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..dtypes import DType
from ..errors import IrcError, ModelImportError
from ..interpreter import evaluate
from ..ir import Graph, Node, Value
from ..ops import get_op
from ..types import TensorType

Converter = Callable[["NodeContext"], Any]

#: ONNX op type (default domain) -> converter.
CONVERTERS: dict[str, Converter] = {}

#: Op types irc knows it does not cover (shown as unsupported, never converted).
_ONNX_DOMAINS = ("", "ai.onnx")


def converter(*op_types: str) -> Callable[[Converter], Converter]:
    """Register ``fn(cx: NodeContext)`` as the converter of ONNX ``op_types``.
    It returns the node's results: one value, or a sequence with one entry per
    ONNX output (``None`` for an output it does not produce)."""
    def deco(fn: Converter) -> Converter:
        for t in op_types:
            if t in CONVERTERS:
                raise ValueError(f"ONNX op {t} already has a converter")
            CONVERTERS[t] = fn
        return fn
    return deco


def supported_ops() -> list[str]:
    """ONNX op types the importer converts."""
    _ensure_converters()
    return sorted(CONVERTERS)


def _ensure_converters() -> None:
    from . import onnx_ops  # noqa: F401  (registers the converters)


# --- ONNX element types --------------------------------------------------------------

def _onnx_dtype(elem_type: int, where: str) -> DType:
    import onnx
    table: dict[int, DType] = {
        onnx.TensorProto.FLOAT: DType.F32, onnx.TensorProto.DOUBLE: DType.F64,
        onnx.TensorProto.FLOAT16: DType.F16, onnx.TensorProto.INT64: DType.I64,
        onnx.TensorProto.INT32: DType.I32, onnx.TensorProto.INT16: DType.I16,
        onnx.TensorProto.INT8: DType.I8, onnx.TensorProto.UINT8: DType.U8,
        onnx.TensorProto.BOOL: DType.B1,
    }
    if elem_type not in table:
        name = onnx.TensorProto.DataType.Name(elem_type) if elem_type else "undefined"
        raise ModelImportError(f"{where}: element type {name} is not supported "
                               f"(irc imports {', '.join(sorted(str(d) for d in table.values()))})")
    return table[elem_type]


def onnx_dtype(elem_type: int, where: str) -> DType:
    """The irc dtype of an ONNX ``TensorProto`` element type (error names ``where``)."""
    return _onnx_dtype(elem_type, where)


# --- per-node context -----------------------------------------------------------------

class NodeContext:
    """What a converter sees of one ONNX node: attributes, inputs (as irc values
    or constant arrays), the opset, and ``op``/``const`` to build irc nodes."""

    def __init__(self, imp: "_Importer", node: Any, label: str) -> None:
        self._imp = imp
        self.node = node
        self.op_type: str = node.op_type
        self.label = label               # "Conv 'conv1'" for messages
        self.opset: int = imp.opset
        self.graph: Graph = imp.graph
        self._attrs = {a.name: a for a in node.attribute}

    # -- messages -------------------------------------------------------------
    def error(self, msg: str) -> ModelImportError:
        return ModelImportError(f"node {self.label}: {msg}")

    def bad_attr(self, name: str, value: Any, why: str = "") -> ModelImportError:
        return self.error(f"attribute {name}={value!r} is not supported"
                          + (f" ({why})" if why else ""))

    # -- attributes -----------------------------------------------------------
    def has_attr(self, name: str) -> bool:
        return name in self._attrs

    def attr(self, name: str, default: Any = None) -> Any:
        """The attribute's Python value (strings decoded, tensors as arrays)."""
        import onnx
        a = self._attrs.get(name)
        if a is None:
            return default
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            return v.decode("utf-8")
        if isinstance(v, onnx.TensorProto):
            return onnx.numpy_helper.to_array(v)
        if isinstance(v, list):
            return [x.decode("utf-8") if isinstance(x, bytes) else x for x in v]
        return v

    def attrs_left(self, known: Sequence[str]) -> list[str]:
        return [k for k in self._attrs if k not in known]

    # -- inputs ---------------------------------------------------------------
    @property
    def num_inputs(self) -> int:
        n = len(self.node.input)
        while n and not self.node.input[n - 1]:
            n -= 1
        return n

    def has_input(self, i: int) -> bool:
        return i < len(self.node.input) and bool(self.node.input[i])

    def input(self, i: int) -> Value:
        if not self.has_input(i):
            raise self.error(f"input {i} is missing")
        return self._imp.lookup(self.node.input[i], self.label)

    def inputs(self) -> list[Value]:
        return [self.input(i) for i in range(self.num_inputs)]

    def optional_input(self, i: int) -> Value | None:
        return self.input(i) if self.has_input(i) else None

    def const(self, i: int, what: str) -> np.ndarray | None:
        """Input ``i`` as a numpy array (``None`` when absent); an error naming
        ``what`` when it is not a constant after folding."""
        if not self.has_input(i):
            return None
        v = self.input(i)
        if not v.is_const:
            raise self.error(f"input {i} ({what}, '{self.node.input[i]}') must be a constant: "
                             f"irc takes it as an attribute and it did not fold to one "
                             "(give static --input-shape values if it depends on a shape)")
        return v.const_value

    def ints(self, i: int, what: str) -> list[int] | None:
        a = self.const(i, what)
        return None if a is None else [int(x) for x in np.asarray(a).reshape(-1)]

    def scalar(self, i: int, what: str) -> float | None:
        a = self.const(i, what)
        if a is None:
            return None
        if a.size != 1:
            raise self.error(f"input {i} ({what}) must be a scalar, got shape {list(a.shape)}")
        return a.reshape(-1)[0].item()

    # -- building ------------------------------------------------------------
    def out_name(self, k: int = 0) -> str | None:
        outs = self.node.output
        return outs[k] if k < len(outs) and outs[k] else None

    def const_value(self, array: Any, hint: str | None = None,
                    dtype: DType | None = None) -> Value:
        arr = np.asarray(array)
        if dtype is not None:
            arr = arr.astype(dtype.storage)
        return self._imp.add_const(arr, hint or self._imp.helper_hint(self))

    def op(self, op: str, inputs: Sequence[Value], **attrs: Any) -> Any:
        """Append ``op(inputs) {attrs}`` (or, when every operand is a constant,
        its folded result).  Returns the value, or a tuple for several results."""
        return self._imp.make(self, op, list(inputs), attrs)

    def output_used(self, k: int) -> bool:
        name = self.out_name(k)
        return bool(name) and (name in self._imp.consumed or name in self._imp.output_names)


# --- the importer ----------------------------------------------------------------------

class _Importer:
    def __init__(self, model: Any, input_shapes: Mapping[str, Sequence[int]] | None) -> None:
        self.model = model
        self.input_shapes = {k: tuple(int(d) for d in v) for k, v in (input_shapes or {}).items()}
        self.opset = 1
        for imp in model.opset_import:
            if imp.domain in _ONNX_DOMAINS:
                self.opset = imp.version
        g = model.graph
        self.graph = Graph(g.name or "main")
        self.values: dict[str, Value] = {}
        self.onnx_names: set[str] = set()
        for vi in list(g.input) + list(g.output) + list(g.value_info):
            self.onnx_names.add(vi.name)
        for t in g.initializer:
            self.onnx_names.add(t.name)
        for n in g.node:
            self.onnx_names.update(x for x in n.output if x)
        self.consumed = {x for n in g.node for x in n.input if x}
        self.output_names = {o.name for o in g.output}
        self._helper_count = 0

    # -- names --------------------------------------------------------------------
    def _name(self, hint: str) -> str:
        """A fresh value name from ``hint`` that is not an ONNX tensor name (those
        are kept for the values the ONNX nodes produce)."""
        name = self.graph.fresh_name(hint)
        while name in self.onnx_names:
            name = self.graph.fresh_name(name + "_")
        return name

    def helper_hint(self, cx: NodeContext) -> str:
        base = cx.out_name(0) or cx.op_type
        return f"{base}.aux"

    def lookup(self, name: str, where: str) -> Value:
        try:
            return self.values[name]
        except KeyError:
            raise ModelImportError(f"node {where}: input '{name}' is not produced by any "
                                   "earlier node, initializer or graph input (the ONNX graph "
                                   "is not in topological order or is malformed)") from None

    def add_const(self, arr: np.ndarray, hint: str, type: TensorType | None = None) -> Value:
        """A constant; ``type`` keeps quantization parameters a folded q.* result has."""
        name = hint if not self.graph.has_name(hint) else self._name(hint)
        return self.graph.add_const(arr, name=name, type=type)

    # -- inputs and initializers --------------------------------------------------
    def _inputs(self) -> None:
        import onnx
        g = self.model.graph
        inits = {t.name for t in g.initializer}
        real = [vi for vi in g.input if vi.name not in inits]
        names = [vi.name for vi in real]
        unknown = sorted(set(self.input_shapes) - set(names))
        if unknown:
            raise ModelImportError(f"input shape given for {', '.join(unknown)}, but the model's "
                                   f"inputs are {', '.join(names) or '(none)'}")
        for vi in real:
            where = f"graph input '{vi.name}'"
            tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
            if tt is None:
                raise ModelImportError(f"{where}: only tensor inputs are supported")
            dtype = _onnx_dtype(tt.elem_type, where)
            dims: list[int | str] | None = None
            if tt.HasField("shape"):
                dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                        for d in tt.shape.dim]
            given = self.input_shapes.get(vi.name)
            if given is not None:
                if dims is not None and len(dims) != len(given):
                    raise ModelImportError(
                        f"{where}: the given shape {list(given)} has rank {len(given)}, but the "
                        f"model's is {dims} (rank {len(dims)})")
                if dims is not None:
                    for k, (d, s) in enumerate(zip(dims, given)):
                        if isinstance(d, int) and d != s:
                            raise ModelImportError(
                                f"{where}: the given shape {list(given)} disagrees with the "
                                f"model's static dim {k} = {d} (model shape {dims})")
                shape = given
            else:
                if dims is None or any(not isinstance(d, int) for d in dims):
                    shown = "unknown rank" if dims is None else str(dims).replace("'", "")
                    raise ModelImportError(
                        f"{where} has a symbolic shape ({shown}); give a static one, e.g. "
                        f"input_shapes={{'{vi.name}': (...)}} or "
                        f"--input-shape {vi.name}=D0,D1,...")
                shape = tuple(int(d) for d in dims)
            self.values[vi.name] = self.graph.add_input(vi.name, TensorType(dtype, shape))
        for t in g.initializer:
            if t.name in self.values:
                continue
            where = f"initializer '{t.name}'"
            _onnx_dtype(t.data_type, where)
            try:
                arr = onnx.numpy_helper.to_array(t)
            except Exception as e:  # external data missing, malformed...
                raise ModelImportError(f"{where}: cannot read its data ({e})") from None
            self.values[t.name] = self.add_const(arr, t.name)

    # -- building -----------------------------------------------------------------
    def make(self, cx: NodeContext, op: str, inputs: list[Value], attrs: dict[str, Any]) -> Any:
        opdef = get_op(op)
        try:
            norm = opdef.normalize_attrs(attrs, where=op)
            types = opdef.infer_types([v.type for v in inputs], norm, where=op)
        except IrcError as e:
            raise cx.error(f"cannot express as {op}: {e}") from None
        if inputs and all(v.is_const for v in inputs):
            tmp = Node(op, [], [Value(f"t{k}", t) for k, t in enumerate(types)], norm, cx.label)
            try:
                results = evaluate(tmp, [v.const_value for v in inputs],
                                   [v.type for v in inputs])
            except Exception as e:
                raise cx.error(f"folding constant {op} failed: {e}") from None
            outs = []
            for k, (t, r) in enumerate(zip(types, results)):
                r = np.asarray(r)
                if r.shape != t.shape or r.dtype != t.dtype.storage:
                    r = np.broadcast_to(r, t.shape).astype(t.dtype.storage)
                outs.append(self.add_const(r, self.helper_hint(cx), t))
            return outs[0] if len(outs) == 1 else tuple(outs)
        node = self.graph.make_node(op, inputs, norm, output_types=types,
                                    output_names=[self._name(self.helper_hint(cx))
                                                  for _ in types],
                                    name=cx.node.name or None)
        self.graph.append(node)
        return node.outputs[0] if len(node.outputs) == 1 else tuple(node.outputs)

    def _bind(self, cx: NodeContext, results: Any) -> None:
        node = cx.node
        if isinstance(results, Value):
            results = [results]
        results = list(results)
        for k, name in enumerate(node.output):
            if not name:
                continue
            v = results[k] if k < len(results) else None
            if v is None:
                if cx.output_used(k):
                    raise cx.error(f"output {k} ('{name}') is used, but irc does not "
                                   f"compute it for {cx.op_type}")
                continue
            if name in self.output_names and v.name != name:
                if any(v is i for i in self.graph.inputs) or v.name in self.output_names:
                    # a graph output needs a value of its own
                    v = self.make(cx, "nn.identity", [v], {}) if not v.is_const else \
                        self.add_const(v.const_value, name)
                elif not self.graph.has_name(name):
                    self.graph.rename(v, name)   # outputs keep their ONNX names
            # give the value its ONNX name where it is still a helper name
            if v.name != name and not self.graph.has_name(name) and \
                    v.name not in self.onnx_names:
                self.graph.rename(v, name)
            self.values[name] = v

    def run(self) -> Graph:
        _ensure_converters()
        self._check_supported()
        self._inputs()
        for idx, node in enumerate(self.model.graph.node):
            label = f"{node.op_type} '{node.name}'" if node.name else f"{node.op_type} #{idx}"
            cx = NodeContext(self, node, label)
            try:
                results = CONVERTERS[node.op_type](cx)
            except ModelImportError:
                raise
            except (IrcError, ValueError, IndexError) as e:   # bad axes, shapes... in a model
                raise cx.error(str(e)) from None
            self._bind(cx, results)
        outs = []
        for o in self.model.graph.output:
            v = self.lookup(o.name, f"graph output '{o.name}'")
            if v.name != o.name and not self.graph.has_name(o.name):
                self.graph.rename(v, o.name)
            outs.append(v)
        self.graph.set_outputs(outs)
        _remove_dead(self.graph)
        return self.graph

    def _check_supported(self) -> None:
        bad: "OrderedDict[str, list[str]]" = OrderedDict()
        for idx, node in enumerate(self.model.graph.node):
            key = node.op_type if node.domain in _ONNX_DOMAINS else f"{node.domain}.{node.op_type}"
            if node.domain not in _ONNX_DOMAINS or node.op_type not in CONVERTERS:
                bad.setdefault(key, []).append(node.name or f"#{idx}")
        if not bad:
            return
        lines = []
        for op, nodes in bad.items():
            shown = ", ".join(f"'{n}'" if not n.startswith("#") else n for n in nodes[:8])
            more = f", ... ({len(nodes) - 8} more)" if len(nodes) > 8 else ""
            lines.append(f"  - {op} x{len(nodes)}: {shown}{more}")
        total = sum(len(n) for n in bad.values())
        raise ModelImportError(
            f"the model uses {len(bad)} unsupported ONNX op type(s) in {total} node(s):\n"
            + "\n".join(lines))


def _remove_dead(graph: Graph) -> None:
    """Drop nodes none of whose results is used (folded-away constants...)."""
    live_out = {id(v) for v in graph.outputs}
    keep: list[Node] = []
    for node in reversed(graph.nodes):
        if any(v.uses or id(v) in live_out for v in node.outputs):
            keep.append(node)
        else:
            graph.forget(node)
    graph.nodes = keep[::-1]


def import_onnx(model: Any, input_shapes: Mapping[str, Sequence[int]] | None = None,
                *, verify: bool = True) -> Graph:
    """Import an ONNX model (a ``ModelProto`` or a path) as an irc graph.

    ``input_shapes`` maps input names to static shapes; inputs not listed keep
    the model's shape, which must then be static.  Raises
    :class:`~irc.errors.ModelImportError` for unsupported ops (all of them at
    once), unsupported attribute values, and shapes irc cannot make static."""
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - onnx is a core dependency
        raise ModelImportError(f"importing ONNX needs the onnx package ({e})") from None
    if isinstance(model, (str, os.PathLike)):
        try:
            model = onnx.load(os.fspath(model))
        except Exception as e:
            raise ModelImportError(f"{os.fspath(model)}: not a readable ONNX model ({e})") from None
    if not isinstance(model, onnx.ModelProto):
        raise ModelImportError(f"import_onnx needs an onnx.ModelProto or a path, "
                               f"got {type(model).__name__}")
    graph = _Importer(model, input_shapes).run()
    if verify:
        from ..verifier import verify as run_verifier
        run_verifier(graph)
    return graph


def load_onnx(path: Any, input_shapes: Mapping[str, Sequence[int]] | None = None) -> Graph:
    """The ``.onnx`` loader of :func:`irc.load`."""
    return import_onnx(path, input_shapes)
