"""Gradient checks: an op's VJP (or a graph's gradients) against finite differences.

Everything is checked through one scalar: for random cotangents ``g_k`` (one per
float result, N(0, 1), seeded), ``L(x) = sum_k <g_k, y_k(x)>``; then
``dL/dx_i = vjp(x, g)_i`` is what the VJP must return, and central differences
in float64 estimate it::

    dL/dx[e] ~ (L(x + eps·e) - L(x - eps·e)) / (2·eps)       (error O(eps²))

Two estimates are compared with the analytic gradient ``a``:

* element-wise on every element of each checked operand (a random sample of
  ``max_elements`` of them when the operand is larger), with
  ``|a - n| <= atol + rtol·|n|`` (numpy's ``allclose`` rule);
* along ``directions`` random directions ``v`` over the whole operand at once:
  ``<a, v>`` against ``(L(x + eps·v) - L(x - eps·v)) / (2·eps)``, which sees every
  element even when the sample misses some.

The op runs in float64 for the check (every float operand is cast), so the op's
numpy semantics must keep float64 (the nn.* ops do).  A second call with the
operands' own dtypes checks that the VJP returns each gradient in its operand's
dtype and shape, and (for float32) agrees with the float64 one to ~1e-3.

Finite differences are wrong at kinks (relu at 0, clamp bounds, max-pool ties):
draw inputs away from them (e.g. ``|x| > 1e-3``).  Arrays given to the VJP are
read-only, so a VJP that writes into its arguments fails here.

A straight-through estimator (``qat.fake_quant``: rounding whose VJP is the
identity inside the range) is not the derivative of its forward, which is flat
almost everywhere; pass ``surrogate=`` to take the finite differences of a
smooth stand-in that agrees with the forward at the base point and whose
derivative there is what the STE claims — typically the forward with the
rounding offsets and the inside/outside masks frozen at the base operands::

    def frozen(xs, base, attrs):        # y = s·(clamp(v) + δ0·inside0 − z)
        ...
    check_op_vjp("qat.fake_quant", [x, s], {"qmin": -8, "qmax": 7}, surrogate=frozen)

::

    from irc.gradcheck import check_op_vjp
    check_op_vjp("nn.matmul", [a, b], {})                 # every float operand
    check_op_vjp("nn.gemm", [a, b, c], {"trans_b": True}, wrt=[0, 2])

Failures raise ``AssertionError`` naming the op, operand, attributes and the
worst element.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .ops import OpDef, get_op

Array = np.ndarray

#: ``surrogate(inputs, base_inputs, attrs) -> results``: a smooth stand-in for an
#: op's forward, differentiated instead of it (straight-through estimators).
Surrogate = Callable[[list[Array], list[Array], dict[str, Any]], Sequence[Any]]

__all__ = ["check_graph_grads", "check_op_vjp", "graph_to_float64", "numeric_grad"]


def _ro(a: Array) -> Array:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def _is_float(a: Array) -> bool:
    return a.dtype.kind == "f"


def numeric_grad(f: Callable[[Array], float], x: Array, eps: float = 1e-6,
                 index: Sequence[tuple[int, ...]] | None = None) -> Array:
    """Central-difference gradient of the scalar ``f`` at float64 ``x``: at every
    element, or only at ``index`` (returned as a flat array in that order)."""
    x = np.array(x, dtype=np.float64, copy=True)
    points = list(np.ndindex(x.shape)) if index is None else list(index)
    out = np.empty(len(points), np.float64)
    for k, p in enumerate(points):
        old = x[p]
        x[p] = old + eps
        hi = f(x)
        x[p] = old - eps
        lo = f(x)
        x[p] = old
        out[k] = (hi - lo) / (2 * eps)
    return out.reshape(x.shape) if index is None else out


def _sample(shape: tuple[int, ...], max_elements: int,
            rng: np.random.Generator) -> list[tuple[int, ...]]:
    size = int(np.prod(shape, dtype=np.int64))
    if size <= max_elements:
        return list(np.ndindex(shape))
    flat = rng.choice(size, size=max_elements, replace=False)
    return [tuple(int(i) for i in np.unravel_index(f, shape)) for f in np.sort(flat)]


def _compare(label: str, analytic: Array, numeric: Array, points: list[tuple[int, ...]],
             rtol: float, atol: float) -> None:
    """Element-wise ``allclose`` of ``analytic`` at ``points`` with ``numeric``."""
    a = np.array([analytic[p] for p in points], np.float64)
    err = np.abs(a - numeric)
    bad = err > atol + rtol * np.abs(numeric)
    if bad.any():
        k = int(np.argmax(np.where(bad, err - rtol * np.abs(numeric), -np.inf)))
        raise AssertionError(
            f"{label}: {int(bad.sum())} of {len(points)} checked elements differ from finite "
            f"differences (rtol={rtol}, atol={atol}); worst at index {list(points[k])}: "
            f"vjp {a[k]:.8g} vs numeric {numeric[k]:.8g} (|err| {err[k]:.3g}); "
            f"max |vjp| {np.abs(a).max():.3g}, max |numeric| {np.abs(numeric).max():.3g}")


def _check_directions(label: str, analytic: Array, x: Array, f: Callable[[Array], float],
                      directions: int, eps: float, rtol: float, atol: float,
                      rng: np.random.Generator) -> None:
    """``<analytic, v>`` against the central difference of ``f`` along random ``v``."""
    for _ in range(directions):
        v = rng.standard_normal(x.shape)
        v /= max(float(np.linalg.norm(v)), 1e-300)
        num = (f(x + eps * v) - f(x - eps * v)) / (2 * eps)
        ana = float(np.sum(analytic.astype(np.float64) * v))
        # the tolerance of one element, scaled by the norm of the gradient
        tol = atol * max(1.0, float(np.sqrt(x.size))) + rtol * max(
            abs(num), float(np.linalg.norm(analytic)) * 1e-3)
        if abs(ana - num) > tol:
            raise AssertionError(
                f"{label}: directional derivative along a random unit direction: "
                f"vjp {ana:.8g} vs numeric {num:.8g} (|err| {abs(ana - num):.3g} > tol "
                f"{tol:.3g}); the element-wise sample passed, so the error is in elements "
                "it did not visit")


def _describe(op: OpDef, attrs: Mapping[str, Any], shapes: Sequence[tuple[int, ...]]) -> str:
    shown = {k: v for k, v in attrs.items() if op.attr_map.get(k) is None
             or v != op.attr_map[k].default}
    dims = ", ".join(str(list(s)) for s in shapes)
    return f"{op.name}({dims}) {shown or ''}".rstrip()


def check_op_vjp(op_name: str, inputs: Sequence[Any], attrs: Mapping[str, Any] | None = None,
                 wrt: Sequence[int] | None = None, *, rtol: float = 1e-4, atol: float = 1e-6,
                 eps: float = 1e-6, seed: int = 0, max_elements: int = 128,
                 directions: int = 2, grad_outputs: Sequence[Any] | None = None,
                 check_dtype: bool = True, surrogate: Surrogate | None = None
                 ) -> list[Array | None]:
    """Check ``op_name``'s VJP against central finite differences (see the module
    docstring).

    ``inputs``: the operand arrays (float operands are checked; integer operands
    such as shapes or indices are passed through unchanged); ``attrs``: the op's
    attributes (defaults filled); ``wrt``: the operand indices to check (default:
    every float operand) — the VJP must return an array for each of them;
    ``grad_outputs``: cotangents, one per result (default: seeded N(0, 1));
    ``check_dtype``: also run the VJP at the operands' own dtypes and check each
    gradient's dtype and shape (and, for float32, its values to ~1e-3);
    ``surrogate``: for straight-through estimators, a callable
    ``(inputs, base_inputs, attrs) -> list of results`` whose finite differences
    replace the op's forward (``inputs`` perturbed, ``base_inputs`` the
    unperturbed float64 operands, so it can freeze rounding offsets and masks
    there; ``attrs`` normalized).  It must equal the forward at the base point
    (checked to ``atol + rtol·|y|``).

    Returns the float64 analytic gradients (None where the VJP gave None).
    Raises ``AssertionError`` with the op, operand and worst element on a
    mismatch, or when the op has no VJP.
    """
    op = get_op(op_name)
    norm = op.normalize_attrs(dict(attrs or {}))
    arrays = [np.asarray(a) for a in inputs]
    n_in = len(arrays)
    label0 = _describe(op, norm, [a.shape for a in arrays])
    if op.vjp is None:
        raise AssertionError(f"{op.name} has no VJP (set `vjp` on its OpDef)")
    if wrt is None:
        wrt = [i for i, a in enumerate(arrays) if _is_float(a)]
    for i in wrt:
        if not 0 <= i < n_in:
            raise ValueError(f"wrt index {i} is out of range for {n_in} operands")
        if not _is_float(arrays[i]):
            raise ValueError(f"wrt index {i}: operand {op.operand_for(i, n_in).name} is "
                             f"{arrays[i].dtype}, not float")
    rng = np.random.default_rng(seed)
    x64 = [a.astype(np.float64) if _is_float(a) else a for a in arrays]
    outs = op.run([_ro(a) for a in x64], norm)
    for k, y in enumerate(outs):
        if _is_float(y) and y.dtype != np.float64:
            raise ValueError(f"{label0}: result {k} is {y.dtype} for float64 operands; "
                             "gradcheck needs the op to compute in float64")
    if grad_outputs is None:
        gys = [rng.standard_normal(y.shape) if _is_float(y) else np.zeros(y.shape)
               for y in outs]
    else:
        if len(grad_outputs) != len(outs):
            raise ValueError(f"{len(grad_outputs)} grad_outputs for {len(outs)} results")
        gys = [np.asarray(g, np.float64) for g in grad_outputs]
        for k, (g, y) in enumerate(zip(gys, outs)):
            if g.shape != y.shape:
                raise ValueError(f"grad_outputs[{k}] has shape {list(g.shape)}, result "
                                 f"{k} has {list(y.shape)}")

    base = [_ro(a) for a in x64]
    if surrogate is not None:
        _check_surrogate(label0, surrogate, base, norm, outs, rtol, atol)

    def loss(xs: list[Array]) -> float:
        ys = op.run(xs, norm) if surrogate is None else [
            np.asarray(y) for y in surrogate(xs, base, norm)]
        return float(sum(np.sum(g * y.astype(np.float64)) for g, y in zip(gys, ys)
                         if _is_float(y)))

    grads = op.vjp([_ro(a) for a in x64], norm, [_ro(y) for y in outs],
                   [_ro(g) for g in gys])
    if grads is None or len(grads) != n_in:
        got = "None" if grads is None else f"{len(grads)} gradients"
        raise AssertionError(f"{label0}: the VJP returned {got} for {n_in} operands")
    grads = list(grads)
    for i in wrt:
        name = op.operand_for(i, n_in).name
        label = f"{label0}: d/d{name} (operand {i})"
        g = grads[i]
        if g is None:
            raise AssertionError(f"{label}: the VJP returned None for a checked operand")
        g = np.asarray(g)
        if g.shape != arrays[i].shape:
            raise AssertionError(f"{label}: gradient has shape {list(g.shape)}, operand has "
                                 f"{list(arrays[i].shape)}")
        if not np.all(np.isfinite(g)):
            raise AssertionError(f"{label}: gradient has non-finite values")

        def f_i(xi: Array, i: int = i) -> float:
            xs = list(x64)
            xs[i] = xi
            return loss(xs)

        points = _sample(arrays[i].shape, max_elements, rng)
        num = numeric_grad(f_i, x64[i], eps, points)
        _compare(label, g, num, points, rtol, atol)
        if directions and arrays[i].size > 1:
            _check_directions(label, g, x64[i], f_i, directions, eps, rtol, atol, rng)
        grads[i] = g.astype(np.float64, copy=False)
    if check_dtype and any(a.dtype != np.float64 for a in arrays if _is_float(a)):
        _check_native(op, norm, arrays, gys, wrt, grads, label0)
    return grads


def _check_surrogate(label0: str, surrogate: Surrogate, base: list[Array],
                     norm: dict[str, Any], outs: list[Array], rtol: float,
                     atol: float) -> None:
    """A surrogate must agree with the op's forward at the base point."""
    ys = list(surrogate(list(base), base, norm))
    if len(ys) != len(outs):
        raise AssertionError(f"{label0}: the surrogate gave {len(ys)} results, the op "
                             f"{len(outs)}")
    for k, (ys_k, y) in enumerate(zip(ys, outs)):
        ys_k = np.asarray(ys_k, np.float64)
        if ys_k.shape != y.shape or not np.allclose(ys_k, y, rtol=rtol, atol=atol):
            raise AssertionError(f"{label0}: the surrogate's result {k} differs from the "
                                 "op's forward at the base point (it must agree there)")


def _check_native(op: OpDef, norm: dict[str, Any], arrays: list[Array], gys: list[Array],
                  wrt: Sequence[int], ref: list[Array | None], label0: str) -> None:
    """The VJP at the operands' own dtypes: same dtypes and shapes, close values."""
    outs = op.run([_ro(a) for a in arrays], norm)
    gn = [_ro(g.astype(y.dtype) if _is_float(y) else g) for g, y in zip(gys, outs)]
    grads = op.vjp([_ro(a) for a in arrays], norm, [_ro(y) for y in outs], gn)
    n_in = len(arrays)
    for i in wrt:
        name = op.operand_for(i, n_in).name
        label = f"{label0}: d/d{name} (operand {i}, {arrays[i].dtype})"
        g = grads[i]
        if g is None or np.asarray(g).shape != arrays[i].shape:
            raise AssertionError(f"{label}: gradient is "
                                 f"{'None' if g is None else list(np.asarray(g).shape)} at the "
                                 "operands' own dtype")
        if np.asarray(g).dtype != arrays[i].dtype:
            raise AssertionError(f"{label}: gradient is {np.asarray(g).dtype}, expected the "
                                 f"operand's dtype {arrays[i].dtype}")
        r = ref[i]
        if arrays[i].dtype == np.float32 and r is not None:
            scale = max(1.0, float(np.abs(r).max(initial=0.0)))
            err = float(np.abs(np.asarray(g, np.float64) - r).max(initial=0.0))
            if err > 1e-3 * scale:
                raise AssertionError(f"{label}: float32 gradient differs from the float64 one "
                                     f"by {err:.3g} (max |grad| {scale:.3g})")


def graph_to_float64(graph: Any) -> Any:
    """A copy of ``graph`` with every float value, input and constant in float64
    (for finite differences; graphs with dtype attributes such as casts are not
    supported)."""
    from .dtypes import DType
    g = graph.copy()
    for v in g.values():
        if v.type.dtype.is_float:
            v.type = replace(v.type, dtype=DType.F64)
    for node in g.consts():
        arr = node.attrs["value"]
        if arr.dtype.kind == "f":
            new = arr.astype(np.float64)
            new.setflags(write=False)
            node.attrs["value"] = new
    return g


def check_graph_grads(graph: Any, feeds: Mapping[str, Any] | None = None,
                      params: Sequence[str] | None = None, *, wrt_inputs: bool = False,
                      rtol: float = 1e-4, atol: float = 1e-6, eps: float = 1e-6, seed: int = 0,
                      max_elements: int = 64, directions: int = 2) -> dict[str, Array]:
    """Check :func:`irc.autodiff.forward_backward` on a small graph: gradients of
    ``L = sum_k <g_k, output_k>`` (random cotangents) with respect to the float
    constants ``params`` (default: :func:`irc.autodiff.trainable_params`) and, with
    ``wrt_inputs``, the float graph inputs, against finite differences of the
    graph run in float64.  ``feeds`` default to seeded N(0, 1) inputs.
    Returns the float64 analytic gradients by value name."""
    from .autodiff import forward_backward, trainable_params
    from .interpreter import random_inputs, run

    g64 = graph_to_float64(graph)
    feeds = dict(random_inputs(graph, seed) if feeds is None else feeds)
    feeds64 = {k: (np.asarray(v, np.float64) if _is_float(np.asarray(v)) else np.asarray(v))
               for k, v in feeds.items()}
    names = list(trainable_params(graph) if params is None else params)
    targets = list(names)
    if wrt_inputs:
        targets += [v.name for v in graph.inputs if v.type.dtype.is_float]
    rng = np.random.default_rng(seed + 1)
    outs = run(g64, feeds64)
    gys = {k: rng.standard_normal(y.shape) for k, y in outs.items() if _is_float(y)}
    _, grads = forward_backward(g64, feeds64, params=set(names), loss=gys,
                                wrt_inputs=wrt_inputs)
    consts = {n.output.name: n for n in g64.consts()}

    def loss_with(name: str, arr: Array) -> float:
        if name in consts:
            node = consts[name]
            old = node.attrs["value"]
            node.attrs["value"] = arr
            try:
                ys = run(g64, feeds64)
            finally:
                node.attrs["value"] = old
        else:
            ys = run(g64, {**feeds64, name: arr})
        return float(sum(np.sum(gys[k] * ys[k]) for k in gys))

    for name in targets:
        base = consts[name].attrs["value"] if name in consts else feeds64[name]
        x = np.asarray(base, np.float64)
        label = f"graph @{graph.name}: d/d%{name}"
        if name not in grads:
            raise AssertionError(f"{label}: no gradient returned")
        g = grads[name]
        if g.shape != x.shape:
            raise AssertionError(f"{label}: gradient has shape {list(g.shape)}, value has "
                                 f"{list(x.shape)}")

        def f(xi: Array, name: str = name) -> float:
            return loss_with(name, xi)

        points = _sample(x.shape, max_elements, rng)
        _compare(label, g, numeric_grad(f, x, eps, points), points, rtol, atol)
        if directions and x.size > 1:
            _check_directions(label, g, x, f, directions, eps, rtol, atol, rng)
    return grads
