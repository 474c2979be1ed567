"""irc's reference interpreter as an ONNX backend (:mod:`onnx.backend.base`).

::

    from irc.frontend.onnx_backend import IrcBackend
    rep = IrcBackend.prepare(model)              # import + verify (static shapes)
    y, = rep.run([x])                            # run in the interpreter

``prepare`` imports the model with :func:`~irc.frontend.onnx_import.import_onnx`
(the model's own input shapes, or ``input_shapes={...}``) and verifies it;
:meth:`IrcBackendRep.run` runs the graph in :class:`irc.interpreter.Interpreter`
and returns the outputs in the model's order (a namedtuple-like that also
takes output names as keys).

irc's graphs are static, so two things wait for ``run``:

* a model whose input dims are symbolic (and not given in ``input_shapes``) is
  imported for the shapes of the inputs it is run with;
* a graph input that irc takes as an *attribute* (a Reshape's shape, a Slice's
  starts, Reduce axes, Resize's scales, Clip's bounds: whatever the importer
  reports "must be a constant") is bound to its value: the model is imported
  with that input as an initializer (``rep.specialized`` lists such inputs).

Each distinct set of shapes and bound values is imported once and cached.

This is the backend ONNX's node tests run against
(``tests/frontend/test_onnx_backend.py``, see docs/onnx.md).
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import numpy as np

import onnx
from onnx.backend.base import Backend, BackendRep, Device, DeviceType, namedtupledict

from ..errors import InputError, ModelImportError
from ..interpreter import Interpreter
from .onnx_import import import_onnx

__all__ = ["IrcBackend", "IrcBackendRep", "prepare", "run_model", "run_node",
           "supports_device"]


#: How :meth:`NodeContext.const <irc.frontend.onnx_import.NodeContext.const>` says an
#: input irc takes as an attribute is not a constant; group 1 is the ONNX tensor.
_NEEDS_CONSTANT = re.compile(r"input \d+ \([^()]*, '([^']*)'\) must be a constant")


def _array(v: Any) -> np.ndarray:
    """An input as a numpy array (``TensorProto`` inputs are converted)."""
    if isinstance(v, onnx.TensorProto):
        return onnx.numpy_helper.to_array(v)
    return np.asarray(v)


def _real_inputs(model: Any) -> list[Any]:
    inits = {t.name for t in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in inits]


def _static_shape(vi: Any) -> tuple[int, ...] | None:
    if not vi.type.HasField("tensor_type") or not vi.type.tensor_type.HasField("shape"):
        return None
    dims = vi.type.tensor_type.shape.dim
    if any(not d.HasField("dim_value") for d in dims):
        return None
    return tuple(int(d.dim_value) for d in dims)


class IrcBackendRep(BackendRep):
    """A prepared model: ``run(inputs)`` with ``inputs`` a sequence in the
    model's input order, one array, or a mapping name -> array.

    ``graph`` is the irc graph the last ``run`` used (the one ``prepare``
    built when the model needs no run-time information)."""

    def __init__(self, model: Any, input_shapes: Mapping[str, Sequence[int]] | None = None,
                 ) -> None:
        self.model = model
        self._inputs = {vi.name: vi for vi in _real_inputs(model)}
        self.input_names = list(self._inputs)
        self.output_names = [o.name for o in model.graph.output]
        self._given = {k: tuple(int(d) for d in v) for k, v in (input_shapes or {}).items()}
        #: inputs irc takes as attributes, bound to each run's values
        self.specialized: list[str] = []
        self._graphs: dict[Any, Any] = {}
        self.graph = None
        shapes = {k: self._given.get(k, _static_shape(vi)) for k, vi in self._inputs.items()}
        if all(s is not None for s in shapes.values()):
            try:
                self.graph = import_onnx(model, self._given)
            except ModelImportError as e:
                if not self._needs_value(e):
                    raise
        self._per_run = self.graph is None     # import per input shapes / bound values

    def _needs_value(self, e: ModelImportError) -> bool:
        """Record the graph input ``e`` says must be constant; False if none."""
        m = _NEEDS_CONSTANT.search(str(e))     # NodeContext.const's message
        name = m.group(1) if m else None
        if name is None or name not in self._inputs or name in self.specialized:
            return False
        self.specialized.append(name)
        return True

    def _graph_for(self, feeds: Mapping[str, np.ndarray]) -> Any:
        """The graph for these inputs' shapes and specialized values (cached)."""
        while True:
            frozen = {k: self._value(k, feeds[k]) for k in self.specialized}
            shapes = {k: self._given.get(k, tuple(np.shape(v))) for k, v in feeds.items()
                      if k not in frozen}
            key = (tuple(sorted(shapes.items())),
                   tuple((k, a.dtype.str, a.shape, a.tobytes()) for k, a in frozen.items()))
            if key in self._graphs:
                return self._graphs[key]
            try:
                g = import_onnx(self._bound(frozen), shapes)
            except ModelImportError as e:
                if self._needs_value(e):
                    continue
                raise
            self._graphs[key] = g
            return g

    def _value(self, name: str, arr: np.ndarray) -> np.ndarray:
        tt = self._inputs[name].type.tensor_type
        if tt.elem_type:
            arr = np.asarray(arr).astype(onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type),
                                         copy=False)
        return arr

    def _bound(self, frozen: Mapping[str, np.ndarray]) -> Any:
        """The model with the ``frozen`` inputs turned into initializers."""
        if not frozen:
            return self.model
        m = onnx.ModelProto()
        m.CopyFrom(self.model)
        keep = [vi for vi in m.graph.input if vi.name not in frozen]
        del m.graph.input[:]
        m.graph.input.extend(keep)
        for k, a in frozen.items():
            m.graph.initializer.append(onnx.numpy_helper.from_array(a, k))
        return m

    def _feeds(self, inputs: Any) -> dict[str, np.ndarray]:
        if isinstance(inputs, Mapping):
            return {k: _array(v) for k, v in inputs.items()}
        if isinstance(inputs, (np.ndarray, onnx.TensorProto)):
            inputs = [inputs]
        inputs = list(inputs)
        if len(inputs) != len(self.input_names):
            raise InputError(f"the model takes {len(self.input_names)} input(s) "
                             f"({', '.join(self.input_names) or 'none'}), got {len(inputs)}")
        return {k: _array(v) for k, v in zip(self.input_names, inputs)}

    def run(self, inputs: Any, **kwargs: Any) -> tuple[Any, ...]:
        feeds = self._feeds(inputs)
        if self._per_run:
            missing = [k for k in self.input_names if k not in feeds]
            if missing:
                raise InputError(f"missing input(s) {', '.join(missing)} (the model takes "
                                 f"{', '.join(self.input_names)})")
            self.graph = self._graph_for(feeds)
            feeds = {k: v for k, v in feeds.items() if k not in self.specialized}
        graph = self.graph
        assert graph is not None        # prepared, or imported for this run just above
        outs = Interpreter(graph).run(feeds)
        values = [outs[v.name] for v in graph.outputs]
        return namedtupledict("Outputs", self.output_names)(*values)  # type: ignore[no-any-return]


class IrcBackend(Backend):
    """irc's interpreter behind the :class:`onnx.backend.base.Backend` API (CPU)."""

    @classmethod
    def is_compatible(cls, model: Any, device: str = "CPU", **kwargs: Any) -> bool:
        return cls.supports_device(device)

    @classmethod
    def prepare(cls, model: Any, device: str = "CPU", **kwargs: Any) -> IrcBackendRep:
        """Import (and verify) ``model``, a ModelProto or a path.  ``input_shapes``
        maps input names to static shapes for models with symbolic dims."""
        if not cls.supports_device(device):
            raise ValueError(f"irc's backend runs on CPU, not {device!r}")
        if not isinstance(model, onnx.ModelProto):
            model = onnx.load(model)
        return IrcBackendRep(model, kwargs.get("input_shapes"))

    @classmethod
    def run_model(cls, model: Any, inputs: Any, device: str = "CPU",
                  **kwargs: Any) -> tuple[Any, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: Any, inputs: Any, device: str = "CPU",
                 outputs_info: Sequence[tuple[Any, tuple[int, ...]]] | None = None,
                 **kwargs: Any) -> tuple[Any, ...]:
        """Run one ``NodeProto`` on ``inputs`` (a sequence in the node's input
        order, or a mapping).  ``opset_version`` defaults to the newest the
        installed onnx knows."""
        names = [n for n in node.input if n]
        if isinstance(inputs, Mapping):
            arrays = [np.asarray(inputs[n]) for n in names]
        else:
            arrays = [np.asarray(a) for a in inputs]
        if len(arrays) != len(names):
            raise InputError(f"node {node.op_type} takes {len(names)} input(s), "
                             f"got {len(arrays)}")
        vis = [onnx.helper.make_tensor_value_info(
            n, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for n, a in zip(names, arrays)]
        outs = [onnx.helper.make_empty_tensor_value_info(n) for n in node.output if n]
        opset = kwargs.get("opset_version", onnx.defs.onnx_opset_version())
        graph = onnx.helper.make_graph([node], f"{node.op_type}_node", vis, outs)
        model = onnx.helper.make_model(
            graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
        return cls.run_model(model, dict(zip(names, arrays)), device)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        try:
            return Device(device).type == DeviceType.CPU
        except (AttributeError, ValueError):      # not a device onnx knows
            return False


prepare = IrcBackend.prepare
run_model = IrcBackend.run_model
run_node = IrcBackend.run_node
supports_device = IrcBackend.supports_device
