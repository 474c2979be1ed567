"""A builder for writing graphs by hand.

::

    b = Builder("mlp")
    x = b.input("x", "f32[1,784]")
    h = b.nn.relu(b.nn.gemm(x, b.const(w1), b.const(b1)))
    y = b.nn.softmax(b.nn.gemm(h, b.const(w2), b.const(b2)), name="probs")
    g = b.finish(y)          # sets outputs and verifies

``b.<namespace>.<op>(*operands, name=..., loc=..., **attributes)`` appends one
node and returns its result (a tuple for multi-result ops).  Operands may be
values, numpy arrays or Python scalars; arrays become constants and scalars
become constants of the first value operand's dtype.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .dtypes import as_dtype
from .errors import IRError
from .ir import Graph, Value
from .ops import get_op, has_op
from .types import TensorType


class _Namespace:
    def __init__(self, builder: "Builder", prefix: str) -> None:
        self._builder, self._prefix = builder, prefix

    def __getattr__(self, op: str) -> Any:
        full = f"{self._prefix}.{op}"
        get_op(full)  # fail early, with a suggestion, for a misspelt op

        def make(*operands: Any, name: str | Sequence[str] | None = None,
                 loc: str | None = None, **attrs: Any) -> Any:
            return self._builder.op(full, *operands, name=name, loc=loc, **attrs)
        make.__name__ = op
        make.__doc__ = get_op(full).doc
        return make


class Builder:
    """Appends nodes to a :class:`Graph`; see the module docstring."""

    def __init__(self, name: str = "main", graph: Graph | None = None) -> None:
        self.graph = graph if graph is not None else Graph(name)

    def __getattr__(self, namespace: str) -> _Namespace:
        if namespace.startswith("_"):
            raise AttributeError(namespace)
        return _Namespace(self, namespace)

    def input(self, name: str, type: TensorType | str) -> Value:
        """Add a graph input."""
        return self.graph.add_input(name, type)

    def const(self, array: Any, name: str | None = None, dtype: Any = None,
              type: TensorType | str | None = None) -> Value:
        """Add a constant; ``dtype`` casts the array, ``type`` gives a full type
        (quantization parameters, encoding)."""
        arr = np.asarray(array)
        if dtype is not None:
            arr = arr.astype(as_dtype(dtype).storage)
        return self.graph.add_const(arr, name=name, type=type)

    def op(self, op: str, *operands: Any, name: str | Sequence[str] | None = None,
           loc: str | None = None, **attrs: Any) -> Any:
        """Append ``op(*operands) {attrs}``; returns the result value(s)."""
        values = self._operands(op, operands)
        names = [name] if isinstance(name, str) or name is None else list(name)
        opdef = get_op(op)
        norm = opdef.normalize_attrs(attrs, where=op)
        types = opdef.infer_types([v.type for v in values], norm, where=op)
        if len(names) == 1 and len(types) > 1:
            names = [f"{names[0]}_{i}" if names[0] else None for i in range(len(types))]
        node = self.graph.add(op, values, norm, output_types=types, output_names=names,
                              name=loc)
        return node.outputs[0] if len(node.outputs) == 1 else tuple(node.outputs)

    def _operands(self, op: str, operands: Sequence[Any]) -> list[Value]:
        first = next((v for v in operands if isinstance(v, Value)), None)
        out = []
        for v in operands:
            if isinstance(v, Value):
                out.append(v)
            elif isinstance(v, np.ndarray):
                out.append(self.const(v))
            elif isinstance(v, (int, float, np.number)) and not isinstance(v, bool):
                if first is None:
                    raise IRError(f"{op}: cannot infer the dtype of scalar operand {v!r}; "
                                  "pass a numpy array instead")
                out.append(self.const(np.asarray(v, dtype=first.type.dtype.storage)))
            else:
                raise IRError(f"{op}: operand {v!r} is not a value, array or number")
        return out

    def output(self, *values: Value, names: Sequence[str] | None = None) -> None:
        """Append graph outputs, optionally renaming them."""
        for i, v in enumerate(values):
            if names is not None:
                self.graph.rename(v, names[i])
            self.graph.outputs.append(v)

    def finish(self, *outputs: Value, verify: bool = True) -> Graph:
        """Add ``outputs`` (if given), verify, and return the graph."""
        if outputs:
            self.output(*outputs)
        if verify:
            from .verifier import verify as run_verifier
            run_verifier(self.graph)
        return self.graph


__all__ = ["Builder", "has_op"]
