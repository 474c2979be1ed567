"""Hypothesis strategies for random *valid* irc graphs (reusable by any test).

``graphs()`` draws a graph with a few inputs of several dtypes and shapes, then
a random DAG of constants and ops taken from the op registry *at run time* (so
ops added later are exercised without editing this file).  Every node is made
with ``Graph.make_node`` so result types come from the op's type rule; a
candidate whose operands or attributes the type rule rejects, or that the op's
``verify`` objects to, is dropped.  Attribute values are drawn per attribute
kind, with shape-aware guesses for common names (``axis``, ``axes``, ``perm``,
``sizes``, ``shape``...), so multi-result ops such as ``nn.split`` appear when
they exist.  Constants cover every dtype (sub-byte ints, bools, f16 with NaN
payloads, infinities, -0.0), per-tensor and per-axis quantized types, splats,
empty and large (sidecar-sized) arrays, and names that need quoting.  Graph
attributes and node locations are random too.

::

    from strategies import graphs        # tests/ir is on sys.path under pytest

    @given(graphs(max_nodes=8))
    def test_something(g): ...
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
from hypothesis import strategies as st

from irc.dtypes import DType
from irc.encodings import encoding_kinds
from irc.ir import Graph, Value
from irc.ops import (ArrayAttr, Bool, DTypeAttr, Enum, Float, Floats, Int, Ints, OpDef, Str,
                     all_ops)
from irc.types import Encoding, PerAxis, PerTensor, TensorType
from irc.verifier import node_problems

__all__ = ["arrays_for", "attr_values", "dtypes", "graphs", "names", "shapes", "tensor_types"]

ALL_DTYPES = list(DType)
FLOAT_DTYPES = [d for d in DType if d.is_float]
INT_DTYPES = [d for d in DType if d.is_int]

# ---------------------------------------------------------------------------
# Leaves: names, dtypes, shapes, types, arrays
# ---------------------------------------------------------------------------

_SIMPLE = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
_SIMPLE_WITH_PUNCT = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.$-]{0,6}", fullmatch=True)
_ODD = st.text(min_size=1, max_size=8)   # quotes, backslashes, newlines, unicode...


def names() -> st.SearchStrategy[str | None]:
    """Value-name hints: None (auto-numbered), identifiers, names with ``.$-``, odd text."""
    return st.one_of(st.none(), _SIMPLE, _SIMPLE_WITH_PUNCT, _ODD)


def dtypes(kinds: Sequence[DType] = ALL_DTYPES) -> st.SearchStrategy[DType]:
    return st.sampled_from(list(kinds))


def shapes(max_rank: int = 3, max_dim: int = 4, min_dim: int = 0,
           max_size: int = 48) -> st.SearchStrategy[tuple[int, ...]]:
    return st.lists(st.integers(min_dim, max_dim), max_size=max_rank).map(tuple).filter(
        lambda s: math.prod(s) <= max_size)


_SCALES = st.floats(min_value=1e-6, max_value=1e3, allow_nan=False, allow_infinity=False)


@st.composite
def quant_params(draw: Any, dtype: DType, shape: tuple[int, ...]) -> PerTensor | PerAxis | None:
    """None, per-tensor or per-axis parameters fitting ``shape`` (integer dtypes only)."""
    if not dtype.is_int:
        return None
    choice = draw(st.integers(0, 2))
    lo, hi = int(dtype.min), int(dtype.max)
    if choice == 1:
        return PerTensor(draw(_SCALES), draw(st.integers(lo, hi)))
    axes = [a for a, d in enumerate(shape) if d >= 1]
    if choice == 2 and axes:
        axis = draw(st.sampled_from(axes))
        n = shape[axis]
        if draw(st.booleans()):
            axis -= len(shape)     # negative axes are legal too
        return PerAxis(axis, draw(st.lists(_SCALES, min_size=n, max_size=n)),
                       draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)))
    return None


@st.composite
def encodings(draw: Any) -> Encoding:
    """Any registered encoding with random parameters (``dense`` most often); the
    const op's verifier drops combinations the encoding rejects."""
    kinds = encoding_kinds()
    name = draw(st.sampled_from(sorted(kinds)))
    if name == "dense" or draw(st.integers(0, 3)) == 0:
        return Encoding()
    kind = kinds[name]
    params = tuple(draw(st.lists(st.integers(1, 8), min_size=kind.params,
                                 max_size=kind.params)))
    inner = draw(encodings()) if kind.wraps and draw(st.booleans()) else None
    if inner is not None and inner.is_dense:
        inner = None
    return Encoding(name, params, inner)


@st.composite
def tensor_types(draw: Any, dtype: DType | None = None, shape: tuple[int, ...] | None = None,
                 quant: bool = True) -> TensorType:
    dt = dtype if dtype is not None else draw(dtypes())
    sh = shape if shape is not None else draw(shapes())
    q = draw(quant_params(dt, sh)) if quant else None
    return TensorType(dt, sh, q)


def _float_bits(dt: DType) -> st.SearchStrategy[np.ndarray]:
    """Float elements: ordinary values, specials, and raw bit patterns (any NaN)."""
    storage = dt.storage
    ordinary = st.floats(width=storage.itemsize * 8, allow_nan=True, allow_infinity=True,
                         allow_subnormal=True)
    special = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.1, 1e-3, float("inf"), float("-inf"),
                               float("nan"), -float("nan")])
    width = storage.itemsize * 8
    mantissa = {16: 10, 32: 23, 64: 52}[width]
    raw = st.integers(0, (1 << width) - 1)
    # any NaN: sign, all-ones exponent, non-zero payload (quiet or signalling)
    nans = st.tuples(st.integers(0, 1), st.integers(1, (1 << mantissa) - 1)).map(
        lambda sp: (sp[0] << (width - 1)) | (((1 << (width - 1 - mantissa)) - 1) << mantissa)
        | sp[1])

    def element(kind_value: tuple[int, Any]) -> np.ndarray:
        kind, v = kind_value
        if kind == 2:
            return np.array(v, dtype=f"u{storage.itemsize}").view(storage)
        return np.array(v, dtype=np.float64).astype(storage)
    return st.one_of(st.tuples(st.just(0), ordinary), st.tuples(st.just(1), special),
                     st.tuples(st.just(2), st.one_of(raw, nans))).map(element)


@st.composite
def arrays_for(draw: Any, ty: TensorType) -> np.ndarray:
    """An array a constant of type ``ty`` may hold: sometimes a splat, sometimes
    large enough for the sidecar."""
    dt, n = ty.dtype, ty.size
    storage = dt.storage
    if dt.is_float:
        elem = _float_bits(dt)
    elif dt.is_bool:
        elem = st.booleans().map(lambda b: np.array(b, dtype=np.bool_))
    else:
        elem = st.integers(int(dt.min), int(dt.max)).map(lambda v: np.array(v, dtype=storage))
    if n and draw(st.integers(0, 4)) == 0:
        flat = np.full(n, draw(elem), dtype=storage)             # splat
    else:
        flat = np.array([draw(elem) for _ in range(n)], dtype=storage).reshape(n)
    return flat.reshape(ty.shape)


# ---------------------------------------------------------------------------
# Attribute values
# ---------------------------------------------------------------------------

_ATTR_FLOATS = st.one_of(st.floats(allow_nan=False, width=64),
                         st.sampled_from([0.0, -0.0, 1.0, 0.5, 1e-5, float("inf"),
                                          float("-inf")]))
_SIMPLE_VALUES = st.one_of(st.integers(-2**40, 2**40), _ATTR_FLOATS, st.booleans(),
                           st.text(max_size=6), st.sampled_from(ALL_DTYPES))


def attr_values() -> st.SearchStrategy[Any]:
    """Graph-attribute values: ints, floats (incl. nan, inf), bools, strings,
    dtypes, and nested lists/dicts of them."""
    leaves = st.one_of(_SIMPLE_VALUES, st.just(float("nan")))
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.one_of(_SIMPLE, _ODD), inner, max_size=3)), max_leaves=6)


def _ints_for(draw: Any, name: str, kind: Ints, x: TensorType | None,
              so_far: dict[str, Any]) -> tuple[int, ...]:
    """A guess at a list-of-ints attribute that the op's type rule may accept."""
    shape = list(x.shape) if x is not None else []
    r = len(shape)
    lo = kind.min if kind.min is not None else -2
    hi = kind.max if kind.max is not None else 4
    guesses: list[Callable[[], list[int]]] = []
    if name == "axes" and r:
        guesses.append(lambda: sorted(draw(st.sets(st.integers(0, r - 1), max_size=r))))
        guesses.append(lambda: [a for a in range(r) if shape[a] == 1])   # squeeze
        guesses.append(lambda: [draw(st.integers(0, r))])                # unsqueeze
    if name == "perm":
        guesses.append(lambda: draw(st.permutations(list(range(r)))))
    if name in ("sizes", "split") and r:
        ax = so_far.get("axis", 0)
        d = shape[ax % r] if -r <= ax < r else shape[0]
        cuts = sorted(draw(st.lists(st.integers(0, d), min_size=0, max_size=2)))
        bounds = [0, *cuts, d]
        return tuple(b - a for a, b in zip(bounds, bounds[1:]))     # pieces of one axis
    if name == "shape":
        guesses.append(lambda: [math.prod(shape)])
        guesses.append(lambda: list(reversed(shape)))
        guesses.append(lambda: [-1])
        guesses.append(lambda: [draw(st.integers(1, 3)), *[d if d != 1 else
                                                          draw(st.integers(1, 3))
                                                          for d in shape]])
    if name == "starts":
        guesses.append(lambda: [0] * r)
    if name == "ends":
        guesses.append(lambda: list(shape))
    if name == "pads" and kind.length is None:
        guesses.append(lambda: draw(st.lists(st.integers(0, 2), min_size=2 * r,
                                             max_size=2 * r)))
    n = kind.length

    def generic() -> list[int]:
        size = n if n is not None else draw(st.integers(0, max(r, 1)))
        return draw(st.lists(st.integers(lo, max(lo, hi)), min_size=size, max_size=size))
    guesses.append(generic)
    out = draw(st.sampled_from(guesses))()
    if n is not None and len(out) != n:
        out = generic()
    return tuple(int(v) for v in out)


def _attr_value(draw: Any, name: str, kind: Any, x: TensorType | None,
                so_far: dict[str, Any]) -> Any:
    r = x.rank if x is not None else 0
    if isinstance(kind, Int):
        if name == "axis":
            return draw(st.integers(-r, r - 1)) if r else 0
        lo = kind.min if kind.min is not None else -3
        hi = kind.max if kind.max is not None else 3
        return draw(st.integers(lo, max(lo, min(hi, lo + 6))))
    if isinstance(kind, Float):
        lo = kind.min if kind.min is not None else -1e6
        hi = kind.max if kind.max is not None else 1e6
        return draw(st.one_of(st.floats(lo, hi, allow_nan=False),
                              st.sampled_from([v for v in (0.0, 1.0, 1e-5, 0.5)
                                               if lo <= v <= hi] or [lo])))
    if isinstance(kind, Bool):
        return draw(st.booleans())
    if isinstance(kind, Enum):
        return draw(st.sampled_from(kind.choices))
    if isinstance(kind, Ints):
        return _ints_for(draw, name, kind, x, so_far)
    if isinstance(kind, Floats):
        n = kind.length if kind.length is not None else draw(st.integers(0, 3))
        vals = sorted(draw(st.lists(_ATTR_FLOATS, min_size=n, max_size=n)))
        return tuple(vals)
    if isinstance(kind, DTypeAttr):
        return draw(dtypes())
    if isinstance(kind, Str):
        return draw(st.text(max_size=6))
    raise _Skip


class _Skip(Exception):
    """This op/attribute cannot be generated here."""


# ---------------------------------------------------------------------------
# Graphs
# ---------------------------------------------------------------------------

def _candidate_ops() -> list[OpDef]:
    """Registered ops (except const) whose attributes this module can draw."""
    out = []
    for name, op in all_ops().items():
        if name == "const" or any(isinstance(a.kind, ArrayAttr) for a in op.attrs):
            continue
        out.append(op)
    return out


def _operand_count(draw: Any, op: OpDef) -> int:
    n = 0
    for slot in op.operands:
        if slot.variadic:
            n += draw(st.integers(max(slot.min_count, 1), max(slot.min_count, 3)))
        elif slot.optional:
            if draw(st.booleans()):
                n += 1
            else:
                break
        else:
            n += 1
    return n


def _add_const(draw: Any, g: Graph, ty: TensorType | None = None,
               kinds: Sequence[DType] | None = None) -> Value | None:
    if ty is None:
        big = draw(st.integers(0, 5)) == 0     # often beyond the inline limit
        shape = draw(shapes(max_dim=6, min_dim=3 if big else 0))
        ty = draw(tensor_types(shape=shape) if kinds is None else
                  tensor_types(dtype=draw(dtypes(kinds)), shape=shape, quant=False))
        if draw(st.integers(0, 5)) == 0:
            ty = ty.with_(encoding=draw(encodings()))
    arr = draw(arrays_for(ty))
    node = g.make_const(arr, draw(names()), ty)
    node.name = draw(st.one_of(st.none(), st.just(""), _SIMPLE, _ODD))
    g.append(node)
    if list(node.opdef.verify(node)):
        g.erase(node)
        return None
    return node.output


def _try_op(draw: Any, g: Graph, values: list[Value], op: OpDef,
            kinds: Sequence[DType] | None = None) -> list[Value]:
    n = _operand_count(draw, op)
    if n == 0:
        operands: list[Value] = []
    else:
        floats = [v for v in values if v.type.dtype.is_float and v.type.quant is None]
        first = draw(st.sampled_from(floats if floats and draw(st.integers(0, 5)) else values))
        operands = [first]
        for _ in range(n - 1):
            how = draw(st.integers(0, 9))
            same = [v for v in values if v.type.dtype == first.type.dtype
                    and v.type.shape == first.type.shape]
            if how < 5 and same:
                operands.append(draw(st.sampled_from(same)))
            elif how < 8:
                # a fresh constant whose shape broadcasts against the first operand
                shape = first.type.shape
                k = draw(st.integers(0, len(shape)))
                sub = tuple(d if draw(st.booleans()) else 1 for d in shape[k:])
                c = _add_const(draw, g, TensorType(first.type.dtype, sub))
                if c is None:
                    return []
                values.append(c)
                operands.append(c)
            else:
                operands.append(draw(st.sampled_from(values)))
    x = operands[0].type if operands else None
    attrs: dict[str, Any] = {}
    try:
        for a in op.attrs:
            if a.required or draw(st.booleans()):
                attrs[a.name] = _attr_value(draw, a.name, a.kind, x, attrs)
    except _Skip:
        return []
    try:
        with np.errstate(all="ignore"):
            attrs = op.normalize_attrs(attrs)
            types = op.infer_types([v.type for v in operands], attrs)
    except Exception:      # noqa: BLE001 - rejected (or a type rule that crashed): skip
        return []
    out_names = [draw(names()) for _ in types]
    loc = draw(st.one_of(st.none(), _SIMPLE, _ODD))
    node = g.make_node(op.name, operands, attrs, output_types=types, output_names=out_names,
                       name=loc)
    g.append(node)
    if node_problems(node):     # e.g. an encoded constant the op does not accept
        g.erase(node)
        return []
    if kinds is not None and any(v.type.dtype not in kinds or v.type.quant is not None
                                 for v in node.outputs):
        g.erase(node)           # a result outside the requested dtypes
        return []
    return list(node.outputs)


@st.composite
def graphs(draw: Any, max_inputs: int = 3, max_nodes: int = 12,
           ops: Sequence[str] | None = None, kinds: Sequence[DType] | None = None) -> Graph:
    """A random valid graph (see the module docstring).  ``ops`` restricts the
    ops drawn (default: every registered op but ``const``); ``kinds`` restricts
    the dtypes of inputs, constants and results (all unquantized then; the
    first kind is the inputs' usual one)."""
    g = Graph(draw(st.one_of(_SIMPLE, _SIMPLE_WITH_PUNCT, _ODD)))
    if draw(st.booleans()):
        g.attrs = draw(st.dictionaries(st.one_of(_SIMPLE, _ODD), attr_values(), max_size=3))
    values: list[Value] = []
    input_kinds = [DType.F32, DType.F32, DType.F16, DType.F64, DType.I8, DType.I32, DType.B1,
                   DType.U4] if kinds is None else [kinds[0], kinds[0], *kinds]
    for _ in range(draw(st.integers(1, max_inputs))):
        dt = draw(st.sampled_from(input_kinds))
        ty = draw(tensor_types(dtype=dt, shape=draw(shapes(min_dim=1)), quant=kinds is None))
        values.append(g.add_input(g.fresh_name(draw(st.one_of(_SIMPLE, _ODD)) or "x"), ty))
    candidates = _candidate_ops()
    if ops is not None:
        candidates = [op for op in candidates if op.name in ops]
    # ops that (probably) have several results are drawn more often: they are few
    multi = [op for op in candidates if any(a.name in ("sizes", "split") for a in op.attrs)]
    for _ in range(draw(st.integers(0, max_nodes))):
        if not candidates or draw(st.integers(0, 3)) == 0:
            c = _add_const(draw, g, kinds=kinds)
            if c is not None:
                values.append(c)
            continue
        op = draw(st.sampled_from(multi if multi and draw(st.integers(0, 5)) == 0
                                  else candidates))
        values.extend(_try_op(draw, g, values, op, kinds))
    k = draw(st.integers(1, min(3, len(values))))
    g.set_outputs(draw(st.lists(st.sampled_from(values), min_size=k, max_size=k)))
    return g
