"""Reverse-mode differentiation over the IR.

Parameters are the graph's float constants; a loss is a scalar value of the
graph (or cotangents for any of its values).  :func:`forward_backward` runs the
graph once in the reference interpreter, keeping the operands and results of
the nodes the backward pass needs, then walks those nodes in reverse, calling
each op's VJP (``OpDef.vjp``) and summing the gradients of values read several
times — the chain rule over the DAG::

    v̄ = Σ_{(node, i) reading v} vjp_node(inputs, attrs, outputs, ȳ_node)[i]

Only *active* nodes are differentiated: those with a float operand that depends
on a parameter (or a differentiated input) and a result the loss depends on;
branches that reach no parameter or no loss are skipped, and only those nodes'
values are kept for the backward pass.  An active node whose op has no VJP is an
error naming the node and the parameters behind it.  Arrays stay in the graph's
own dtypes (float32 in training); each gradient has its value's shape and dtype.

::

    from irc.autodiff import forward_backward, trainable_params, write_back
    params = trainable_params(g)                       # ['conv1.w', 'conv1.b', ...]
    outs, grads = forward_backward(g, {"x": xb, "y": yb}, loss="loss")
    write_back(g, {p: g.value(p).const_value - lr * grads[p] for p in params})
"""

from __future__ import annotations

import inspect
from typing import Any, Iterable, Mapping

import numpy as np

from .errors import IrcError
from .interpreter import Interpreter, evaluate
from .ir import Graph, Node, Value, format_name

Array = np.ndarray

__all__ = ["AutodiffError", "forward_backward", "trainable_params", "write_back"]


class AutodiffError(IrcError):
    """A graph cannot be differentiated as asked (no VJP on the path, a bad loss
    or parameter name, a VJP returning the wrong shape...)."""


def _is_float(v: Value) -> bool:
    return v.type.dtype.is_float


def trainable_params(graph: Graph) -> list[str]:
    """Names of the float constants read by an op with a VJP at a differentiable
    operand (weights, biases, norm scales and biases), in graph order.  Integer
    constants (shapes, indices) and constants read only at non-differentiable
    operands (``Operand(differentiable=False)``: running statistics; or a
    callable of the reading node's attributes returning False: a fake-quant
    scale that is not learned) are left out."""
    out = []
    for node in graph.consts():
        v = node.output
        if not _is_float(v) or v.type.quant is not None:
            continue
        for user, i in v.uses:
            op = user.opdef
            if op.vjp is not None and op.operand_for(
                    i, len(user.inputs)).is_differentiable(user.attrs):
                out.append(v.name)
                break
    return out


def write_back(graph: Graph, arrays: Mapping[str, Any]) -> None:
    """Replace constants' arrays (name → array), keeping each constant's dtype and
    shape: the array is cast to the constant's dtype and stored as a read-only copy
    (the node's ``value`` attribute is replaced, never written into)."""
    consts = {n.output.name: n for n in graph.consts()}
    for name, arr in arrays.items():
        node = consts.get(name)
        if node is None:
            raise AutodiffError(f"write_back: %{format_name(name)} is not a constant of "
                                f"graph @{graph.name}")
        t = node.output.type
        a = np.asarray(arr)
        if a.shape != t.shape:
            raise AutodiffError(f"write_back: %{format_name(name)} has shape {list(t.shape)}, "
                                f"got an array of shape {list(a.shape)}")
        new = np.array(a, dtype=t.dtype.storage, copy=True)
        new.setflags(write=False)
        node.attrs["value"] = new


class _Recorder(Interpreter):
    """The interpreter, keeping the operands and results of the ``keep`` nodes and
    the values named in ``extra`` (a loss that is not a graph output)."""

    def __init__(self, graph: Graph, keep: set[int], extra: set[str]) -> None:
        super().__init__(graph)
        self.keep, self.extra = keep, extra
        self.saved: dict[int, tuple[list[Array], list[Array]]] = {}
        self.values: dict[str, Array] = {}

    def run_node(self, node: Node, args: list[Array]) -> list[Array]:
        results = evaluate(node, args)
        if id(node) in self.keep:
            self.saved[id(node)] = (args, results)
        for v, r in zip(node.outputs, results):
            if v.name in self.extra:
                self.values[v.name] = np.asarray(r)
        return results


def _seeds(graph: Graph, loss: str | Mapping[str, Any]) -> dict[str, Array | None]:
    """Loss cotangents by value name (None: a scalar loss, seeded with 1 later)."""
    if isinstance(loss, str):
        v = _lookup(graph, loss, "loss")
        if v.type.shape != () and v.type.size != 1:
            raise AutodiffError(f"loss %{format_name(loss)} has shape {list(v.type.shape)}; "
                                "a loss must be a scalar (or pass cotangents as a dict)")
        if not _is_float(v):
            raise AutodiffError(f"loss %{format_name(loss)} is {v.type.dtype}, not float")
        return {loss: None}
    seeds: dict[str, Array | None] = {}
    for name, g in loss.items():
        v = _lookup(graph, name, "grad_outputs")
        arr = np.asarray(g)
        if arr.shape != v.type.shape:
            raise AutodiffError(f"grad_outputs[%{format_name(name)}] has shape "
                                f"{list(arr.shape)}, the value has {list(v.type.shape)}")
        if not _is_float(v):
            raise AutodiffError(f"grad_outputs: %{format_name(name)} is {v.type.dtype}, "
                                "not float")
        seeds[name] = arr.astype(v.type.dtype.storage, copy=False)
    if not seeds:
        raise AutodiffError("grad_outputs is empty: nothing to differentiate")
    return seeds


def _lookup(graph: Graph, name: str, what: str) -> Value:
    for v in graph.values():
        if v.name == name:
            return v
    raise AutodiffError(f"{what}: graph @{graph.name} has no value %{format_name(name)}")


def _targets(graph: Graph, params: Iterable[str] | None, wrt_inputs: bool) -> list[Value]:
    """The values to differentiate: parameters (float constants) and, with
    ``wrt_inputs``, the float graph inputs."""
    names = trainable_params(graph) if params is None else list(params)
    out: list[Value] = []
    for name in names:
        v = _lookup(graph, name, "params")
        if not v.is_const:
            raise AutodiffError(f"params: %{format_name(name)} is not a constant (parameters "
                                "are the graph's float constants; use wrt_inputs for inputs)")
        if not _is_float(v):
            raise AutodiffError(f"params: %{format_name(name)} is a {v.type.dtype} constant; "
                                "only float constants are trainable")
        out.append(v)
    if wrt_inputs:
        out += [v for v in graph.inputs if _is_float(v)]
    return out


def _active_nodes(graph: Graph, targets: list[Value],
                  seeds: Iterable[str]) -> tuple[list[Node], set[int]]:
    """Nodes (in graph order) with a float operand depending on a target and a
    result the seeds depend on; and the ids of the values depending on a target."""
    dep = {id(v) for v in targets}
    for node in graph.nodes:
        if any(id(v) in dep for v in node.inputs):
            dep.update(id(v) for v in node.outputs if _is_float(v))
    seed_names = set(seeds)
    need = {id(v) for v in graph.values() if v.name in seed_names}
    active: list[Node] = []
    for node in reversed(graph.nodes):
        if any(id(v) in need for v in node.outputs) and any(id(v) in dep
                                                            for v in node.inputs):
            active.append(node)
            need.update(id(v) for v in node.inputs if id(v) in dep)
    active.reverse()
    return active, dep


_TAKES_NEEDS: dict[str, bool] = {}


def _takes_needs(node: Node) -> bool:
    """Whether the op's VJP accepts ``needs=`` (one bool per operand: False where
    the engine discards the gradient, so the VJP may skip it and return None)."""
    known = _TAKES_NEEDS.get(node.op)
    if known is None:
        try:
            known = "needs" in inspect.signature(node.opdef.vjp).parameters
        except (TypeError, ValueError):
            known = False
        _TAKES_NEEDS[node.op] = known
    return known


def _no_vjp_error(graph: Graph, node: Node, targets: list[Value]) -> AutodiffError:
    """Name the node and up to three parameters whose gradient passes through it."""
    tids = {id(v): v for v in targets}
    seen: set[int] = set()
    found: list[str] = []
    stack = list(node.inputs)
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if id(v) in tids:
            found.append("%" + format_name(v.name))
        if v.producer is not None:
            stack.extend(v.producer.inputs)
    shown = ", ".join(sorted(found)[:3]) + (" ..." if len(found) > 3 else "")
    return AutodiffError(
        f"cannot differentiate {node.short()} [node {graph.index_of(node)}]: {node.op} has no "
        f"VJP, and the gradient of {shown} flows through it (give {node.op} a vjp, or leave "
        "those parameters out of params)")


def forward_backward(graph: Graph, feeds: Mapping[str, Any],
                     params: Iterable[str] | None = None,
                     loss: str | Mapping[str, Any] = "loss", *,
                     wrt_inputs: bool = False) -> tuple[dict[str, Array], dict[str, Array]]:
    """Run ``graph`` on ``feeds`` and differentiate.

    ``params``: names of the float constants to differentiate (default:
    :func:`trainable_params`); ``loss``: the name of a scalar float value (its
    gradient is seeded with 1), or ``{value name: cotangent}`` to differentiate
    ``L = Σ <cotangent, value>``; ``wrt_inputs``: also differentiate the float
    graph inputs.

    Returns ``(outputs, grads)``: the graph outputs by name (plus the loss values,
    if they are not outputs) and ``∂L/∂p`` by name for every parameter (and
    input), in its shape and dtype (zeros when the loss does not depend on it).
    Raises :class:`AutodiffError` when an op on a path from a parameter to the
    loss has no VJP.
    """
    seeds = _seeds(graph, loss)
    targets = _targets(graph, params, wrt_inputs)
    active, dep = _active_nodes(graph, targets, seeds)
    for node in active:
        if node.opdef.vjp is None:
            raise _no_vjp_error(graph, node, targets)
    out_names = {v.name for v in graph.outputs}
    rec = _Recorder(graph, {id(n) for n in active}, set(seeds) - out_names)
    outputs = rec.run(feeds)
    outputs.update(rec.values)

    grads: dict[int, Array] = {}
    by_name = {v.name: v for n in active for v in n.outputs}
    by_name.update({v.name: v for v in targets})
    for name, g in seeds.items():
        v = by_name.get(name)
        if v is None:
            continue                       # the loss depends on no parameter
        if g is None:
            g = np.ones(v.type.shape, v.type.dtype.storage)
        grads[id(v)] = g
    target_ids = {id(v) for v in targets}
    for node in reversed(active):
        gys_opt = [grads.get(id(v)) for v in node.outputs]
        args, results = rec.saved.pop(id(node))
        if all(g is None for g in gys_opt):
            continue
        gys = [np.zeros(r.shape, r.dtype) if g is None else g
               for g, r in zip(gys_opt, results)]
        try:
            if _takes_needs(node):
                gxs = node.opdef.vjp(args, node.attrs, results, gys,
                                     needs=[id(v) in dep for v in node.inputs])
            else:
                gxs = node.opdef.vjp(args, node.attrs, results, gys)
        except Exception as e:
            raise AutodiffError(f"while differentiating {node.short()} "
                                f"[node {graph.index_of(node)}]: {type(e).__name__}: {e}") from e
        if gxs is None or len(gxs) != len(args):
            raise AutodiffError(f"while differentiating {node.short()}: the VJP of {node.op} "
                                f"returned {0 if gxs is None else len(gxs)} gradients for "
                                f"{len(args)} operands")
        for v in node.outputs:
            if id(v) not in target_ids:
                grads.pop(id(v), None)
        for v, gx in zip(node.inputs, gxs):
            if gx is None or id(v) not in dep:
                continue                   # not differentiable, or leads to no parameter
            gx = np.asarray(gx)
            if gx.shape != v.type.shape:
                raise AutodiffError(f"while differentiating {node.short()}: the VJP of "
                                    f"{node.op} gave %{format_name(v.name)} a gradient of shape "
                                    f"{list(gx.shape)}, the value has {list(v.type.shape)}")
            gx = gx.astype(v.type.dtype.storage, copy=False)
            prev = grads.get(id(v))
            grads[id(v)] = gx if prev is None else prev + gx
    result: dict[str, Array] = {}
    for v in targets:
        g = grads.get(id(v))
        result[v.name] = (np.zeros(v.type.shape, v.type.dtype.storage) if g is None
                          else np.ascontiguousarray(g).reshape(v.type.shape))  # 0-d stays 0-d
    return outputs, result
