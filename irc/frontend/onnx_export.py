"""irc :class:`~irc.ir.Graph` -> ONNX ``ModelProto`` (float graphs, and quantized
graphs in QDQ form).

::

    model = export_onnx(graph, opset=17)        # an onnx.ModelProto, checked
    irc.save(graph, "model.onnx")               # the same, written atomically

Every ``nn.*`` op has one exporter function, registered with
``@exporter("nn.conv2d")``; it reads the irc node through an
:class:`ExportContext` and emits ONNX nodes with :meth:`ExportContext.emit`.
The conventions are the inverse of the importer's
(:mod:`irc.frontend.onnx_import`):

* irc value names become ONNX tensor names, graph inputs and outputs keep
  theirs (with their static shapes), node locations become node names (made
  unique), constants become named initializers;
* what irc keeps as attributes but newer opsets take as tensor inputs
  (Reshape's shape, Slice's starts/ends/axes/steps, Squeeze/Unsqueeze/Reduce
  axes, Pad's pads, Expand's shape, Split's sizes, Resize's scales/sizes, Clip's
  bounds) becomes an int64 (or typed) initializer, or stays an attribute in the
  opsets that take one;
* a fused ``clamp = [lo, hi]`` becomes a following ``Relu`` (``[0, inf]``) or
  ``Clip``;
* conv/pool ``pads`` (top, left, bottom, right) are ONNX's
  ``[h_begin, w_begin, h_end, w_end]`` as they are;
* ops an opset lacks are decomposed: ``nn.gelu`` is ``Gelu`` from opset 20 and
  the Erf (or Tanh) formula before; ``nn.layer_norm`` is ``LayerNormalization``
  from opset 17 and ReduceMean arithmetic before; ``nn.hardswish`` before
  opset 14 is ``x * HardSigmoid(x)``; softmax over a non-last axis before opset
  13 is transposed around.

Quantized graphs (``q.*`` ops, tensors whose types carry ``<scale,
zero_point>``) are written in **QDQ form**, what onnxruntime's
``quantize_static`` emits; the ``q.*`` exporters are in
:mod:`irc.frontend.onnx_export_q`.  The driver's part:

* a quantized integer tensor keeps its stored integers under its irc name (an
  int8/uint8 input, initializer or node result); wherever its real value
  ``s · (q − z)`` is read (:meth:`ExportContext.real`), one
  ``DequantizeLinear`` (named ``<tensor>/dq``, per axis when the type is) is
  made, at its first reader, and shared by all readers;
* an int32 accumulator (``q.conv2d``/``q.matmul``/``q.mul``) exists in ONNX as
  its real value, the float Conv/MatMul/Mul result (:meth:`ExportContext.set_real`);
  a reader that needs the stored int32 (a graph output, a data-movement op) gets
  ``Cast(Round(real / s), int32)``, made once;
* per-axis parameters need opset 13 (DequantizeLinear's ``axis``); sub-byte
  quantized types (i4/u4/i2) are refused (bits=8 is the fix).

Every emitted node's tensor types are checked against the ONNX schema of the
target opset, and the finished model goes through
``onnx.checker.check_model(model, full_check=True)`` (strict shape inference
against the irc types, which are recorded as ``value_info``).

What cannot be exported — ops without an exporter, sub-byte tensor types,
per-axis parameters before opset 13, element types an ONNX op does not take at
the chosen opset — is reported in **one** :class:`~irc.errors.ModelExportError`
naming every op and node, as the importer does for unsupported ONNX ops.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Sequence

import numpy as np

from ..dtypes import DType
from ..errors import ModelExportError
from ..ir import Graph, Node, Value
from ..types import PerAxis, PerTensor, TensorType

Exporter = Callable[["ExportContext"], None]

#: irc op name -> exporter.
EXPORTERS: dict[str, Exporter] = {}

#: The oldest opset the exporter writes (Clip/Pad/Resize take tensor inputs from 11).
MIN_OPSET = 11

#: The first opset whose QuantizeLinear/DequantizeLinear take an ``axis`` (per-axis parameters).
PER_AXIS_OPSET = 13

#: irc dtype -> ONNX TensorProto element type (sub-byte integers have none here).
_ELEM: dict[DType, int] = {}
_ELEM_NAME: dict[DType, str] = {
    DType.F64: "double", DType.F32: "float", DType.F16: "float16", DType.I64: "int64",
    DType.I32: "int32", DType.I16: "int16", DType.I8: "int8", DType.U8: "uint8",
    DType.B1: "bool",
}
_IRC_NAME = {v: str(k) for k, v in _ELEM_NAME.items()}


def exporter(*ops: str) -> Callable[[Exporter], Exporter]:
    """Register ``fn(cx: ExportContext)`` as the exporter of irc ``ops``.  It
    emits ONNX nodes whose outputs include ``cx.output(k)`` for every result
    ``k`` of the irc node, or raises ``cx.fail(reason)``."""
    def deco(fn: Exporter) -> Exporter:
        for op in ops:
            if op in EXPORTERS:
                raise ValueError(f"irc op {op} already has an ONNX exporter")
            EXPORTERS[op] = fn
        return fn
    return deco


def exportable_ops() -> list[str]:
    """irc ops the exporter handles (besides ``const``, which becomes an initializer)."""
    from ..ops import has_op
    _ensure_exporters()
    return sorted(op for op in EXPORTERS if has_op(op))


def _ensure_exporters() -> None:
    from . import onnx_export_ops, onnx_export_q  # noqa: F401  (register the exporters)


def elem_type(dtype: DType) -> int | None:
    """The ONNX element type of an irc dtype (None for sub-byte integers)."""
    if not _ELEM:
        import onnx
        tp = onnx.TensorProto
        _ELEM.update({DType.F64: tp.DOUBLE, DType.F32: tp.FLOAT, DType.F16: tp.FLOAT16,
                      DType.I64: tp.INT64, DType.I32: tp.INT32, DType.I16: tp.INT16,
                      DType.I8: tp.INT8, DType.U8: tp.UINT8, DType.B1: tp.BOOL})
    return _ELEM.get(dtype)


class Unexportable(Exception):
    """Raised by an exporter (via :meth:`ExportContext.fail`): this node cannot
    be expressed in ONNX at this opset; the reason is collected with the others."""


def _type_problem(v: Value, opset: int) -> str | None:
    """Why a tensor of ``v``'s type cannot appear in the exported model at
    ``opset`` (the reason does not name ``v``, so nodes with the same problem
    group together)."""
    t = v.type
    if elem_type(t.dtype) is None:
        if t.quant is not None:
            return (f"quantized sub-byte {t.dtype} tensors are not exported (ONNX has "
                    "INT4/UINT4 only from opset 21, with few onnxruntime kernels): quantize "
                    "with bits=8 (and weight_bits=8)")
        return f"sub-byte {t.dtype} tensors (irc exports element types of 8 bits and wider)"
    if isinstance(t.quant, PerAxis) and opset < PER_AXIS_OPSET:
        return (f"per-axis quantized tensors (QuantizeLinear/DequantizeLinear take an axis "
                f"from opset {PER_AXIS_OPSET}: export with opset >= {PER_AXIS_OPSET}, or "
                "quantize with per_channel=false)")
    return None


# --- per-node context ------------------------------------------------------------------

class ExportContext:
    """What an exporter sees of one irc node: its attributes, the ONNX names of
    its operands and results, the opset, and ``emit``/``const`` to build ONNX."""

    def __init__(self, ex: "_Exporter", node: Node) -> None:
        self._ex = ex
        self.node = node
        self.attrs = node.attrs
        self.opset: int = ex.opset
        self.nodes: list[Any] = []          # ONNX NodeProtos emitted for this node
        self.initializers: list[Any] = []
        self.types: dict[str, DType] = {}   # helper tensors' dtypes
        self.reals: dict[str, str] = {}     # irc value -> ONNX name of its real value (new)
        self._named = False                 # the node's location is given to an ONNX node

    # -- messages ----------------------------------------------------------------------
    def fail(self, reason: str) -> Unexportable:
        return Unexportable(reason)

    # -- operands and results ---------------------------------------------------------
    def input(self, i: int) -> str:
        """The ONNX name of operand ``i`` (for a quantized tensor: its stored integers)."""
        return self.stored(self.node.inputs[i])

    def value(self, i: int) -> Value:
        return self.node.inputs[i]

    def has_input(self, i: int) -> bool:
        return i < len(self.node.inputs)

    def dtype(self, i: int = 0) -> DType:
        return self.node.inputs[i].type.dtype

    def shape(self, i: int = 0) -> tuple[int, ...]:
        return self.node.inputs[i].type.shape

    def output(self, k: int = 0) -> str:
        return self.node.outputs[k].name

    @property
    def out_dtype(self) -> DType:
        return self.node.outputs[0].type.dtype

    def dtype_of(self, name: str) -> DType:
        if name in self.types:
            return self.types[name]
        return self._ex.types[name]

    # -- building ---------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        return self._ex.fresh(hint)

    def emit(self, op_type: str, inputs: Sequence[str], outputs: int | Sequence[str] = 1, *,
             dtype: DType | None = None, **attrs: Any) -> list[str]:
        """Append ONNX node ``op_type(inputs) {attrs}`` (``""`` for a missing
        optional input; attributes whose value is ``None`` are left out).
        ``outputs`` is the list of result names, or how many fresh helper names
        to make; a helper's dtype is ``dtype``, or the first input's."""
        if isinstance(outputs, int):
            base = self.output(0) if self.node.outputs else op_type
            outs = [self.fresh(f"{base}/{op_type}") for _ in range(outputs)]
            dt = dtype if dtype is not None else self.dtype_of(next(i for i in inputs if i))
            for o in outs:
                self.types[o] = dt
        else:
            outs = list(outputs)
        self._append(op_type, inputs, outs, helper=False, **attrs)
        return outs

    def _append(self, op_type: str, inputs: Sequence[str], outputs: Sequence[str], *,
                helper: bool, **attrs: Any) -> None:
        """Append the NodeProto; the node's location names the first non-``helper``
        node (helpers — shared DequantizeLinears, casts — are ``loc/OpType``)."""
        import onnx
        name = self._ex.node_name(self.node.name, op_type, first=not (helper or self._named))
        self._named = self._named or not helper
        kw = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(onnx.helper.make_node(op_type, list(inputs), list(outputs),
                                                name=name, **kw))

    def emit1(self, op_type: str, inputs: Sequence[str], *, dtype: DType | None = None,
              **attrs: Any) -> str:
        return self.emit(op_type, inputs, 1, dtype=dtype, **attrs)[0]

    def const(self, array: Any, hint: str, dtype: DType | None = None, *,
              base: str | None = None) -> str:
        """A new initializer holding ``array`` (cast to ``dtype``), named
        ``base/hint`` (``base``: the node's first result); returns its name."""
        from onnx import numpy_helper
        arr = np.asarray(array)
        if dtype is not None:
            arr = arr.astype(dtype.storage)
        if base is None:
            base = self.output(0) if self.node.outputs else "const"
        name = self.fresh(f"{base}/{hint}")
        self.initializers.append(numpy_helper.from_array(np.asarray(arr, order="C"), name))
        self.types[name] = DType.from_numpy(arr.dtype)
        return name

    def ints(self, values: Sequence[int], hint: str) -> str:
        """A 1-D int64 initializer (shape operands: axes, pads, starts...)."""
        return self.const(np.asarray(list(values), np.int64).reshape(-1), hint)

    def scalar(self, value: float | int, hint: str, dtype: DType) -> str:
        """A 0-d initializer of ``dtype`` (bounds, epsilons, constants of formulas)."""
        return self.const(np.asarray(value).astype(dtype.storage), hint)

    # -- quantized tensors (QDQ) ----------------------------------------------------------
    def qparams(self, t: TensorType, base: str) -> tuple[list[str], int | None]:
        """The ``[scale, zero_point]`` operands of a QuantizeLinear/DequantizeLinear
        for quantized type ``t`` (f32 scales, zero points of ``t.dtype``; 0-d per
        tensor, 1-D per axis) and the ``axis`` attribute (None per tensor).  An
        int32 tensor's all-zero zero point is left out (ONNX's int32 has none)."""
        q = t.quant
        assert q is not None
        axis: int | None = None
        if isinstance(q, PerTensor):
            scales, zps = np.asarray(q.scale, np.float32), np.asarray(q.zero_point)
        else:
            scales = np.asarray(q.scales, np.float32)
            zps, axis = np.asarray(q.zero_points), q.axis
        ops = [self.const(scales, "scale", base=base)]
        if t.dtype is not DType.I32 or zps.any():
            ops.append(self.const(zps, "zero_point", t.dtype, base=base))
        return ops, axis

    def dequantize(self, x: str, t: TensorType, out: str | None = None) -> str:
        """``DequantizeLinear`` of stored integers ``x`` of quantized type ``t``
        into ``out`` (a fresh ``x/dq`` when None): the f32 real values."""
        out = out or self.fresh(f"{x}/dq")
        self.types[out] = DType.F32
        ops, axis = self.qparams(t, x)
        self._append("DequantizeLinear", [x] + ops, [out], helper=True, axis=axis)
        return out

    def quantize(self, x: str, t: TensorType, out: str) -> None:
        """``out = QuantizeLinear(x)`` (f32 ``x``) to the stored integers of
        quantized type ``t`` (ONNX rounds half to even)."""
        ops, axis = self.qparams(t, out)
        self.emit("QuantizeLinear", [x] + ops, [out], axis=axis)

    def real(self, i: int, into: str | None = None) -> str:
        """The ONNX name of operand ``i``'s real value (f32): the one
        DequantizeLinear of its stored integers that all its readers share
        (made here at the first reader), or the float form an accumulator was
        computed in.  With ``into``, the result is (also) named ``into``."""
        v = self.node.inputs[i]
        have = self.reals.get(v.name) or self._ex.reals.get(v.name)
        if have is not None:
            if into is None:
                return have
            self.emit("Identity", [have], [into])
            return into
        if v.type.quant is None:
            raise self.fail(f"operand %{v.name} has no quantization parameters ({v.type})")
        out = self.dequantize(self.stored(v), v.type, into)
        self.reals[v.name] = out
        return out

    def set_real(self, k: int, name: str) -> None:
        """Result ``k`` (an int32 accumulator) exists in ONNX as its real value
        ``name`` (a float Conv/MatMul/Mul result); its stored integers are made
        only if something reads them (:meth:`stored`)."""
        self.reals[self.node.outputs[k].name] = name

    def stored(self, v: Value) -> str:
        """The ONNX name of ``v``'s stored integers — ``v``'s own name; for an
        accumulator known only by its real value, ``Cast(Round(real / s) + z)``
        is made into that name first (exact while the float Conv/MatMul sum
        stays within half a step of the integer one — typical int8 accumulators;
        not guaranteed for huge ones)."""
        ex = self._ex
        real = self.reals.get(v.name) or ex.reals.get(v.name)
        if v.name in ex.produced or real is None or any(v.name in p.output for p in self.nodes):
            return v.name
        from ..ops.q_core import broadcast_params
        t = v.type
        assert t.quant is not None
        self.types[v.name] = t.dtype
        s, z = broadcast_params(t.quant, t.rank)
        y = self._helper("Round", [self._helper("Div", [real, self.const(s, "scale",
                                                                          base=v.name)])])
        if z.any():
            y = self._helper("Add", [y, self.const(z.astype(np.float32), "zero_point",
                                                    base=v.name)])
        self._append("Cast", [y], [v.name], helper=True, to=elem_type(t.dtype))
        return v.name

    def _helper(self, op_type: str, inputs: Sequence[str]) -> str:
        out = self.fresh(f"{inputs[0]}/{op_type}")
        self.types[out] = DType.F32
        self._append(op_type, inputs, [out], helper=True)
        return out


# --- the exporter ------------------------------------------------------------------------

class _Exporter:
    def __init__(self, graph: Graph, opset: int) -> None:
        self.graph = graph
        self.opset = opset
        self.names: set[str] = {v.name for v in graph.values()}
        self.node_names: set[str] = set()
        self.types: dict[str, DType] = {v.name: v.type.dtype for v in graph.values()}
        self.produced: set[str] = {v.name for v in graph.inputs}   # ONNX names made so far
        self.reals: dict[str, str] = {}    # irc value -> ONNX name of its real value (QDQ)
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.problems: "OrderedDict[tuple[str, str], list[str]]" = OrderedDict()
        self.bad_types: set[str] = set()   # values whose type problem is reported
        self._schemas: dict[str, Any] = {}
        self._fresh = 0

    def fresh(self, hint: str) -> str:
        name = hint
        while name in self.names:
            self._fresh += 1
            name = f"{hint}_{self._fresh}"
        self.names.add(name)
        return name

    def node_name(self, loc: str | None, op_type: str, first: bool) -> str:
        if not loc:
            return ""
        name = loc if first else f"{loc}/{op_type}"
        base, k = name, 0
        while name in self.node_names:
            k += 1
            name = f"{base}_{k}"
        self.node_names.add(name)
        return name

    def problem(self, op: str, where: str, reason: str) -> None:
        self.problems.setdefault((op, reason), []).append(where)

    def type_problems(self, values: Sequence[Value], op: str, where: str) -> bool:
        """Report why ``values``' types cannot be exported, once per tensor (where
        it is made, not again at its readers): a quantized sub-byte tensor by
        name, any other as ``op`` at ``where``.  True if any type is a problem."""
        whys = [(v, why) for v in values if (why := _type_problem(v, self.opset))]
        at_node = []
        for v, why in whys:
            if v.name in self.bad_types:
                continue
            self.bad_types.add(v.name)
            if v.type.quant is not None and elem_type(v.type.dtype) is None:
                self.problem("tensor", f"%{v.name}", why)
            else:
                at_node.append(why)
        if at_node:
            self.problem(op, where, at_node[0])
        return bool(whys)

    # -- schema checks -------------------------------------------------------------------
    def schema(self, op_type: str) -> Any:
        if op_type not in self._schemas:
            import onnx
            self._schemas[op_type] = onnx.defs.get_schema(op_type, self.opset, "")
        return self._schemas[op_type]

    def schema_problem(self, cx: ExportContext, proto: Any) -> str | None:
        """Why ONNX ``proto``'s operand/result types do not fit its schema, or None."""
        import onnx
        try:
            schema = self.schema(proto.op_type)
        except onnx.defs.SchemaError:
            return f"ONNX has no {proto.op_type} at opset {self.opset}"
        allowed = {tc.type_param_str: set(tc.allowed_type_strs)
                   for tc in schema.type_constraints}
        for names, formals in ((proto.input, schema.inputs), (proto.output, schema.outputs)):
            for i, name in enumerate(names):
                if not name or not formals:
                    continue
                f = formals[min(i, len(formals) - 1)]
                ok = allowed.get(f.type_str, {f.type_str})
                dt = cx.dtype_of(name)
                if f"tensor({_ELEM_NAME[dt]})" not in ok:
                    kinds = sorted(_IRC_NAME.get(s[7:-1], s[7:-1]) for s in ok
                                   if s.startswith("tensor("))
                    return (f"ONNX {proto.op_type} (opset {schema.since_version}) does not take "
                            f"{dt} for '{f.name}' (it takes {', '.join(kinds)})")
        return None

    # -- the walk ------------------------------------------------------------------------
    def run(self) -> Any:
        from onnx import helper, numpy_helper
        _ensure_exporters()
        g = self.graph
        for v in g.inputs:
            self.type_problems([v], "graph input", f"%{v.name}")
        live = {id(v) for v in g.outputs}
        for node in g.nodes:
            where = f"'{node.name}'" if node.name else \
                (f"%{node.outputs[0].name}" if node.outputs else node.op)
            if node.op == "const":
                v = node.outputs[0]
                if not v.uses and id(v) not in live:
                    continue
                if self.type_problems([v], "const", f"%{v.name}"):
                    continue
                arr = np.asarray(node.attrs["value"], order="C")   # (keeps 0-d arrays 0-d)
                self.initializers.append(numpy_helper.from_array(arr, v.name))
                self.produced.add(v.name)
                continue
            fn = EXPORTERS.get(node.op)
            if fn is None:
                self.problem(node.op, where, "no ONNX exporter for this op")
                continue
            if self.type_problems(list(node.inputs) + node.outputs, node.op, where):
                continue
            cx = ExportContext(self, node)
            try:
                fn(cx)
            except Unexportable as e:
                self.problem(node.op, where, str(e))
                continue
            why = next((w for p in cx.nodes if (w := self.schema_problem(cx, p))), None)
            if why:
                self.problem(node.op, where, why)
                continue
            produced = {o for p in cx.nodes for o in p.output} | set(cx.reals)
            missing = [v.name for v in node.outputs if v.name not in produced]
            if missing:   # an exporter bug, not the user's
                raise ModelExportError(f"exporter of {node.op} did not produce "
                                       f"{', '.join('%' + m for m in missing)}")
            self.commit(cx)
        if self.problems:
            self._raise()
        for v in g.outputs:          # an accumulator returned as such: its int32 integers
            if v.name not in self.produced and v.producer is not None:
                cx = ExportContext(self, v.producer)
                cx.stored(v)
                self.commit(cx)

        def info(v: Value) -> Any:
            et = elem_type(v.type.dtype)
            assert et is not None     # sub-byte types were reported above
            return helper.make_tensor_value_info(v.name, et, list(v.type.shape))
        outputs = {id(v) for v in g.outputs}
        inner = [info(v) for n in g.nodes if n.op != "const" for v in n.outputs
                 if id(v) not in outputs and v.name in self.produced]
        graph = helper.make_graph(self.nodes, g.name or "main",
                                  [info(v) for v in g.inputs], [info(v) for v in g.outputs],
                                  initializer=self.initializers, value_info=inner)
        opsets = [helper.make_opsetid("", self.opset)]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="irc",
                                  producer_version=_irc_version())
        model.ir_version = helper.find_min_ir_version_for(opsets)
        return model

    def commit(self, cx: ExportContext) -> None:
        """Take ``cx``'s ONNX nodes, initializers, helper types and real forms."""
        self.nodes.extend(cx.nodes)
        self.initializers.extend(cx.initializers)
        self.types.update(cx.types)
        self.reals.update(cx.reals)
        self.produced.update(o for p in cx.nodes for o in p.output)

    def _raise(self) -> None:
        lines = []
        ops: set[str] = set()
        nodes = inputs = tensors = 0
        for (op, reason), where in sorted(self.problems.items(),
                                          key=lambda kv: kv[0][0] != "graph input"):
            shown = ", ".join(where[:8]) + (f", ... ({len(where) - 8} more)"
                                           if len(where) > 8 else "")
            lines.append(f"  - {op} x{len(where)}: {shown}: {reason}")
            if op == "graph input":
                inputs += len(where)
            elif op == "tensor":
                tensors += len(where)
            else:
                nodes += len(where)
                ops.add(op)
        what = [f"{nodes} node(s) of {len(ops)} op type(s)"] if nodes else []
        what += [f"{inputs} graph input(s)"] if inputs else []
        what += [f"{tensors} tensor(s)"] if tensors else []
        raise ModelExportError(
            f"graph @{self.graph.name} cannot be exported to ONNX (opset {self.opset}): "
            f"{' and '.join(what)} have no ONNX form:\n" + "\n".join(lines))


def _irc_version() -> str:
    from .. import __version__
    return __version__


def export_onnx(graph: Graph, opset: int = 17, *, check: bool = True) -> Any:
    """Export ``graph`` as an ONNX ``ModelProto`` at ``opset`` (11 through the
    newest the installed ``onnx`` knows).

    The graph is verified first; every op, node and type that cannot be
    exported is reported in one :class:`~irc.errors.ModelExportError`.  With
    ``check`` the model is checked with ``onnx.checker.check_model(...,
    full_check=True)``; a failure there is an exporter bug and is reported as
    a ``ModelExportError`` too."""
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - onnx is a core dependency
        raise ModelExportError(f"exporting ONNX needs the onnx package ({e})") from None
    newest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ModelExportError(f"opset {opset!r} is not supported: irc exports opsets "
                               f"{MIN_OPSET} through {newest} (the installed onnx's newest)")
    from ..verifier import verify
    verify(graph)
    model = _Exporter(graph, opset).run()
    if check:
        check_exported(model)
    return model


def check_exported(model: Any) -> None:
    """``onnx.checker.check_model(model, full_check=True)``, as a ModelExportError."""
    import onnx
    if model.ByteSize() >= 2 ** 31:   # protobuf cannot serialize it for the checker
        return
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:
        raise ModelExportError(f"the exported model fails the ONNX checker (an irc "
                               f"exporter bug; please report it): {e}") from None


def save_onnx(graph: Graph, path: Any, opset: int = 17) -> None:
    """The ``.onnx`` saver of :func:`irc.save`: export, serialize, write atomically."""
    from ..io import atomic_write_bytes
    model = export_onnx(graph, opset)
    if model.ByteSize() >= 2 ** 31:
        raise ModelExportError(f"{path}: the model is larger than 2 GB, which a single ONNX "
                               "file cannot hold (external data is not written yet)")
    atomic_write_bytes(path, model.SerializeToString())


__all__ = ["EXPORTERS", "ExportContext", "Unexportable", "elem_type", "export_onnx",
           "exportable_ops", "exporter", "save_onnx"]
