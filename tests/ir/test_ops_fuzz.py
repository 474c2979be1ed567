"""Robustness of every nn.* op definition: a type rule rejects bad operands and
attributes only with OpError (never a crash), and whenever it accepts, compute
returns exactly the dtypes and shapes it promised."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from irc.dtypes import DType
from irc.errors import OpError
from irc.ops import (Bool, DTypeAttr, Enum, Float, Floats, Int, Ints, all_ops, get_op)
from irc.types import TensorType

from ophelpers import check_results

NN_OPS = sorted(n for n in all_ops() if n.startswith("nn."))
DTYPES = [DType.F32, DType.F32, DType.F16, DType.F64, DType.I32, DType.I64, DType.I8, DType.U8,
          DType.I4, DType.B1]
#: ops whose compute may reject *data* (not types) with a ValueError
DATA_DEPENDENT = {"nn.gather": "out of range", "nn.pow": "negative integer powers",
                  "nn.gather_elements": "out of range"}

_shapes = st.lists(st.integers(0, 5), max_size=4).map(tuple).filter(
    lambda s: math.prod(s) <= 200)
_floats = st.one_of(st.floats(-10, 10), st.sampled_from(
    [0.0, 1.0, 0.5, 1e-5, 2.0, -1.0, 1e30, float("inf"), float("-inf"), float("nan")]))


def _attr(draw, name, kind, rank):
    if isinstance(kind, Int):
        return draw(st.integers(-rank - 1, rank + 3) if "axis" in name else st.integers(-2, 5))
    if isinstance(kind, Float):
        return draw(_floats)
    if isinstance(kind, Bool):
        return draw(st.booleans())
    if isinstance(kind, Enum):
        return draw(st.sampled_from(kind.choices))
    if isinstance(kind, DTypeAttr):
        return draw(st.sampled_from(list(DType)))
    if isinstance(kind, Ints):
        n = kind.length if kind.length is not None else draw(st.integers(0, rank + 2))
        big = st.sampled_from([2 ** 63 - 1, -2 ** 63, 2 ** 40])
        return draw(st.lists(st.integers(-rank - 2, 6) | big, min_size=n, max_size=n))
    if isinstance(kind, Floats):
        n = kind.length if kind.length is not None else draw(st.integers(0, rank + 1))
        return draw(st.lists(_floats, min_size=n, max_size=n))
    raise AssertionError(f"no strategy for {kind}")


def _array(rng, ty):
    dt = ty.dtype
    if dt.is_float:
        return np.asarray(rng.standard_normal(ty.shape) * 3, dtype=dt.storage)
    if dt.is_bool:
        return np.asarray(rng.random(ty.shape) < 0.5)
    lo, hi = max(int(dt.min), -50), min(int(dt.max), 50)
    return np.asarray(rng.integers(lo, hi, size=ty.shape, endpoint=True), dtype=dt.storage)


@pytest.mark.parametrize("name", NN_OPS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_type_rule_never_crashes_and_compute_keeps_its_promise(name, data):
    d = data.draw
    op = get_op(name)
    first = TensorType(d(st.sampled_from(DTYPES)), d(_shapes))
    n_ops = sum(1 for o in op.operands if not o.optional and not o.variadic)
    n_ops += d(st.integers(0, sum(1 for o in op.operands if o.optional)))
    n_ops += sum(d(st.integers(o.min_count, 3)) for o in op.operands if o.variadic)
    types = [first]
    for _ in range(n_ops - 1):
        how = d(st.integers(0, 3))
        if how == 0:
            types.append(first)
        elif how == 1:   # a per-channel parameter or a trailing-axes broadcast
            types.append(TensorType(first.dtype, first.shape[1:2] if d(st.booleans())
                                    else first.shape[len(first.shape) // 2:]))
        elif how == 2:   # integer indices
            types.append(TensorType(d(st.sampled_from([DType.I64, DType.I32])), d(_shapes)))
        else:
            types.append(TensorType(d(st.sampled_from(DTYPES)), d(_shapes)))
    attrs = {a.name: _attr(d, a.name, a.kind, first.rank) for a in op.attrs
             if a.required or d(st.booleans())}
    try:
        norm = op.normalize_attrs(attrs)
        out_types = op.infer_types(types, norm)
    except OpError:
        return                       # a clean rejection is fine
    big = [v for v in norm.values() if isinstance(v, tuple) and any(
        isinstance(e, int) and abs(e) > 10_000 for e in v)]
    if big or any(math.prod(t.shape) > 100_000 for t in out_types):
        return      # legal but absurd geometry (pads of 2**40...): too big to compute here
    rng = np.random.default_rng(d(st.integers(0, 2 ** 16)))
    arrays = [_array(rng, t) for t in types]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # inf/nan arithmetic is legal
        try:
            outs = op.run(arrays, norm)
        except ValueError as e:
            assert name in DATA_DEPENDENT and DATA_DEPENDENT[name] in str(e), e
            return
    assert all(isinstance(o, np.ndarray) for o in outs)
    check_results(f"{name}{norm}", outs, out_types)
