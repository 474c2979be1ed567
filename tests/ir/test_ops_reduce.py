"""nn.reduce_sum / reduce_mean / reduce_max: ONNX axes/keepdims semantics."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from irc.dtypes import DType
from irc.errors import OpError

from ophelpers import F32, T, infer, run


def loop_reduce(x, axes, keepdims, kind):
    """Group elements by their coordinates outside ``axes`` and fold each group."""
    axes = sorted(a % x.ndim for a in axes) if axes else list(range(x.ndim))
    groups: dict[tuple, list[float]] = {}
    for idx in np.ndindex(*x.shape):
        key = tuple(0 if i in axes else v for i, v in enumerate(idx)) if keepdims else \
            tuple(v for i, v in enumerate(idx) if i not in axes)
        groups.setdefault(key, []).append(float(x[idx]))
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape)) if keepdims else \
        tuple(d for i, d in enumerate(x.shape) if i not in axes)
    out = np.empty(shape)
    fold = {"sum": sum, "max": max, "mean": lambda v: sum(v) / len(v)}[kind]
    for key, vals in groups.items():
        out[key] = fold(vals)
    return out


AXES = [(), (0,), (-1,), (0, 2), (1, -1), (0, 1, 2)]


@pytest.mark.parametrize("kind", ["sum", "mean", "max"])
@pytest.mark.parametrize("axes,keepdims", list(itertools.product(AXES, [True, False])))
def test_reductions_against_grouping_loops(kind, axes, keepdims):
    x = np.random.default_rng(3).standard_normal((2, 3, 4)).astype(np.float32)
    y = run(f"nn.reduce_{kind}", x, axes=axes, keepdims=keepdims)
    np.testing.assert_allclose(y, loop_reduce(x, axes, keepdims, kind), rtol=1e-5, atol=1e-6)


def test_default_is_all_axes_keepdims():
    assert infer("nn.reduce_mean", F32(2, 3, 4)) == F32(1, 1, 1)
    assert infer("nn.reduce_sum", F32(2, 3, 4), keepdims=False) == F32()
    assert infer("nn.reduce_max", F32(2, 3, 4), axes=(1,), keepdims=False) == F32(2, 4)


def test_integer_sum_and_max_keep_dtype_mean_rejects_integers():
    x = np.array([[1, 2], [3, 4]], np.int32)
    y = run("nn.reduce_sum", x, axes=(1,))
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, [[3], [7]])
    np.testing.assert_array_equal(run("nn.reduce_max", x, axes=(0,), keepdims=False), [3, 4])
    with pytest.raises(OpError, match="must be a float tensor"):
        infer("nn.reduce_mean", T(DType.I32, 2, 2))


def test_float16_sum_accumulates_wide():
    x = np.full(4096, 1.0, np.float16)
    # a float16 running sum sticks at 2048; the result 4096 is exact in float16
    assert run("nn.reduce_sum", x)[0] == 4096


@pytest.mark.parametrize("op,shape,axes,message", [
    ("nn.reduce_sum", (2, 3), (1, -1), "name an axis twice"),
    ("nn.reduce_sum", (2, 3), (2,), "axes entry 2 is out of range for rank 2"),
    ("nn.reduce_max", (2, 0), (1,), "empty axis"),
])
def test_reduce_errors(op, shape, axes, message):
    with pytest.raises(OpError, match=message):
        infer(op, F32(*shape), axes=axes)
