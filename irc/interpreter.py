"""The reference interpreter: runs any verified graph with numpy.

It is the oracle every other part is tested against (for integer ops, the
normative definition).  Values are freed after their last use; an error while
executing names the node.  Subclass :class:`Interpreter` and override
``run_node`` to observe or replace individual ops (calibration observers do).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .dtypes import DType, wrap_int
from .errors import InputError, InterpreterError, IrcError
from .ir import Graph, Node, Value, format_name
from .types import TensorType


class Interpreter:
    """Executes a graph node by node.  ``run_node`` is the per-op hook."""

    def __init__(self, graph: Graph, *, check_types: bool = True) -> None:
        self.graph = graph
        self.check_types = check_types
        # last_use[i] = values whose last reader is node i (freed after it runs)
        last: dict[int, int] = {}
        for i, node in enumerate(graph.nodes):
            for v in node.inputs:
                last[id(v)] = i
        keep = {id(v) for v in graph.outputs}
        self._free_after: list[list[Value]] = [[] for _ in graph.nodes]
        for i, node in enumerate(graph.nodes):
            for v in node.inputs:
                if last.get(id(v)) == i and id(v) not in keep:
                    if all(v is not u for u in self._free_after[i]):
                        self._free_after[i].append(v)
            for v in node.outputs:          # results nobody reads die at once
                if id(v) not in last and id(v) not in keep:
                    self._free_after[i].append(v)

    # -- hook ---------------------------------------------------------------------
    def run_node(self, node: Node, args: list[np.ndarray]) -> list[np.ndarray]:
        """Compute one node's results from its operand arrays (override to observe)."""
        return evaluate(node, args)

    # -- driver -------------------------------------------------------------------
    def run(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        env: dict[int, np.ndarray] = {}
        for v, arr in zip(self.graph.inputs, self._check_inputs(inputs)):
            env[id(v)] = arr
        for i, node in enumerate(self.graph.nodes):
            try:
                args = [env[id(v)] for v in node.inputs]
            except KeyError:
                raise InterpreterError(
                    f"while executing {node.short()} [node {i}]: an operand has no value "
                    "(is the graph verified and topologically sorted?)") from None
            try:
                results = self.run_node(node, args)
            except IrcError as e:
                raise InterpreterError(f"while executing {node.short()} [node {i}]: {e}") from e
            except Exception as e:
                raise InterpreterError(f"while executing {node.short()} [node {i}]: "
                                       f"{type(e).__name__}: {e}") from e
            if len(results) != len(node.outputs):
                raise InterpreterError(f"while executing {node.short()} [node {i}]: "
                                       f"{node.op} returned {len(results)} results, expected "
                                       f"{len(node.outputs)}")
            for v, r in zip(node.outputs, results):
                env[id(v)] = self._conform(node, i, v, r)
            for v in self._free_after[i]:
                env.pop(id(v), None)
        return {v.name: env[id(v)] for v in self.graph.outputs}

    def _conform(self, node: Node, i: int, v: Value, r: Any) -> np.ndarray:
        arr = np.asarray(r)
        storage = v.type.dtype.storage
        if arr.dtype != storage:
            if self.check_types:
                raise InterpreterError(
                    f"while executing {node.short()} [node {i}]: result %{format_name(v.name)} "
                    f"is a {arr.dtype} array but its type says {v.type} (the op's compute and "
                    "type rule disagree)")
            arr = arr.astype(storage)
        if self.check_types and arr.shape != v.type.shape:
            raise InterpreterError(
                f"while executing {node.short()} [node {i}]: result %{format_name(v.name)} "
                f"has shape {list(arr.shape)} but its type says {v.type} (the op's compute and "
                "type rule disagree)")
        return arr

    def _check_inputs(self, inputs: Mapping[str, Any]) -> list[np.ndarray]:
        expected = [v.name for v in self.graph.inputs]
        missing = [n for n in expected if n not in inputs]
        extra = [n for n in inputs if n not in expected]
        if missing or extra:
            parts = []
            if missing:
                parts.append("missing " + ", ".join(missing))
            if extra:
                parts.append("unknown " + ", ".join(extra))
            raise InputError(f"graph @{self.graph.name} inputs: {'; '.join(parts)} "
                             f"(expected: {', '.join(expected) or 'none'})")
        out = []
        for v in self.graph.inputs:
            arr = np.asarray(inputs[v.name])
            storage = v.type.dtype.storage
            dt = v.type.dtype
            if arr.dtype != storage:
                if not np.can_cast(arr.dtype, storage, casting="same_kind"):
                    raise InputError(f"input '{v.name}' has dtype {arr.dtype}, expected "
                                     f"{dt} ({storage})")
                if dt.is_int and arr.dtype.kind in "iu":
                    _check_int_range(v.name, arr, dt)
                arr = arr.astype(storage)
            elif dt.is_int and dt.bits < 8:
                _check_int_range(v.name, arr, dt)
            if arr.shape != v.type.shape:
                raise InputError(f"input '{v.name}' has shape {list(arr.shape)}, expected "
                                 f"{list(v.type.shape)}")
            out.append(arr)
        return out


def _check_int_range(name: str, arr: np.ndarray, dt: "DType") -> None:
    if arr.size and (int(arr.min()) < dt.min or int(arr.max()) > dt.max):
        raise InputError(f"input '{name}' has values in [{int(arr.min())}, {int(arr.max())}], "
                         f"outside the range [{dt.min}, {dt.max}] of {dt}")


def evaluate(node: Node, args: list[np.ndarray],
             types: "list[TensorType] | None" = None) -> list[np.ndarray]:
    """One node's results by its op's reference semantics, with sub-byte integer
    results wrapped into their type's range (the op computes in the storage
    byte; see :func:`irc.dtypes.wrap_int`).  Constant folding uses this too, so a
    folded constant is exactly what the interpreter would have computed.
    ``types`` are the operand types when ``node`` has no operands of its own (an
    importer evaluating before it builds the node)."""
    if types is None:
        types = [v.type for v in node.inputs]
    with np.errstate(all="ignore"):   # IEEE results (log(0) = -inf...) are the semantics
        results = node.opdef.run(args, node.attrs, types)
    for k, (v, r) in enumerate(zip(node.outputs, results)):
        dt = v.type.dtype
        if dt.is_int and dt.bits < 8 and isinstance(r, np.ndarray) and r.dtype == dt.storage:
            results[k] = wrap_int(r, dt)
    return results


def run(graph: Graph, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Run ``graph`` on ``inputs`` (name → array) in the reference interpreter."""
    return Interpreter(graph).run(inputs)


def random_inputs(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs matching the graph's input types (for tests and quick runs):
    floats ~ N(0, 1), integers uniform over their range, bools fair coins."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for v in graph.inputs:
        t = v.type
        if t.dtype.is_float:
            out[v.name] = rng.standard_normal(t.shape).astype(t.dtype.storage)
        elif t.dtype.is_bool:
            out[v.name] = rng.random(t.shape) < 0.5
        else:
            lo, hi = max(int(t.dtype.min), -(1 << 31)), min(int(t.dtype.max), (1 << 31) - 1)
            out[v.name] = rng.integers(lo, hi, size=t.shape, endpoint=True).astype(
                t.dtype.storage)
    return out
