"""The C runtime's data-movement ops (copy, transpose, concat, split, slice, pad, gather,
expand, cast) against the interpreter, for every dtype the artifact holds, on every kernel
level and with two threads: identical bytes (these ops move or convert values exactly).
Shapes and parameters from hypothesis."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import irc
from irc import Builder, DType, PerTensor, TensorType
from irc.artifact import build_artifact
from irc.runtime import RuntimeError_, Session

from test_ops_int8 import assert_runtime_matches

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DTYPES = [DType.F32, DType.I32, DType.I8, DType.U8, DType.I64, DType.B1]
dtypes = st.sampled_from(DTYPES)
seeds = st.integers(0, 2**31)
shapes = st.lists(st.integers(1, 5), min_size=1, max_size=5).map(tuple)


def values(rng, dtype: DType, shape) -> np.ndarray:
    if dtype is DType.F32:
        v = (rng.standard_normal(shape) * 100).astype(np.float32)
        if v.size >= 4:
            v.reshape(-1)[:4] = [np.nan, np.inf, -0.0, 3e9]
        return v
    if dtype is DType.B1:
        return rng.random(shape) < 0.5
    info = np.iinfo(dtype.storage)
    return rng.integers(info.min, info.max, shape, dtype=dtype.storage, endpoint=True)


def one_op(op: str, t: TensorType, *extra, **attrs):
    b = Builder()
    ins = [b.input("x", t)] + [b.input(f"in{i}", e) for i, e in enumerate(extra)]
    out = b.op(op, *ins, **attrs)
    return b.finish(*(out if isinstance(out, tuple) else (out,)))


@SETTINGS
@given(shapes, dtypes, seeds)
def test_copy_ops(shape, dtype, seed):
    """reshape / flatten / squeeze / unsqueeze are copies (free when the plan shares bytes)."""
    rng = np.random.default_rng(seed)
    t = TensorType(dtype, shape)
    b = Builder()
    x = b.input("x", t)
    r = b.nn.reshape(x, shape=[-1])
    f = b.nn.flatten(x, axis=int(rng.integers(0, len(shape) + 1)))
    u = b.nn.unsqueeze(x, axes=[0])
    g = b.finish(b.nn.squeeze(u, axes=[0]), r, f)
    assert_runtime_matches(g, {"x": values(rng, dtype, shape)})
    assert_runtime_matches(irc.compile(g, "plan-memory"), {"x": values(rng, dtype, shape)})


@SETTINGS
@given(shapes, dtypes, seeds)
def test_transpose(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    perm = [int(p) for p in rng.permutation(len(shape))]
    g = one_op("nn.transpose", TensorType(dtype, shape), perm=perm)
    assert_runtime_matches(g, {"x": values(rng, dtype, shape)})


@SETTINGS
@given(shapes, dtypes, st.integers(1, 4), seeds)
def test_concat_and_split(shape, dtype, parts, seed):
    rng = np.random.default_rng(seed)
    axis = int(rng.integers(len(shape)))
    lens = [int(n) for n in rng.integers(1, 4, parts)]
    ts = [TensorType(dtype, shape[:axis] + (n,) + shape[axis + 1:]) for n in lens]
    b = Builder()
    xs = [b.input(f"x{i}", t) for i, t in enumerate(ts)]
    cat = b.nn.concat(*xs, axis=axis - len(shape) if rng.random() < 0.5 else axis)
    pieces = b.nn.split(cat, axis=axis, sizes=list(reversed(lens)))
    pieces = pieces if isinstance(pieces, tuple) else (pieces,)
    g = b.finish(cat, *pieces)
    assert_runtime_matches(g, {f"x{i}": values(rng, dtype, t.shape) for i, t in enumerate(ts)})


def test_concat_with_a_constant():
    b = Builder()
    x = b.input("x", TensorType(DType.I8, (2, 3), PerTensor(0.1, 0)))
    c = b.const(np.arange(4, dtype=np.int8).reshape(2, 2), type=TensorType(DType.I8, (2, 2),
                                                                           PerTensor(0.1, 0)))
    g = b.finish(b.nn.concat(x, c, axis=1))
    assert_runtime_matches(g, {"x": np.arange(6, dtype=np.int8).reshape(2, 3)})


@SETTINGS
@given(shapes, dtypes, seeds)
def test_slice(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    starts, ends, axes, steps = [], [], [], []
    for ax, n in enumerate(shape):
        if rng.random() < 0.3:
            continue
        step = int(rng.choice([1, 1, 2, 3, -1, -2]))
        a, b = sorted(int(v) for v in rng.integers(0, n, 2))
        if step > 0:
            starts.append(a), ends.append(b + 1)
        else:
            starts.append(b), ends.append(a - 1 if a > 0 else -n - 1)
        axes.append(ax), steps.append(step)
    if not axes:
        starts, ends, axes, steps = [0], [shape[0]], [0], [1]
    g = one_op("nn.slice", TensorType(dtype, shape), starts=starts, ends=ends, axes=axes,
               steps=steps)
    assert_runtime_matches(g, {"x": values(rng, dtype, shape)})


@SETTINGS
@given(shapes.filter(lambda s: len(s) <= 4), dtypes, seeds)
def test_pad(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    pads = [int(p) for p in rng.integers(0, 3, 2 * len(shape))]
    value = {DType.F32: -1.5, DType.I32: -7, DType.I8: -3, DType.U8: 200, DType.I64: -9,
             DType.B1: 1}[dtype]
    g = one_op("nn.pad", TensorType(dtype, shape), pads=pads, value=float(value))
    assert_runtime_matches(g, {"x": values(rng, dtype, shape)})


@SETTINGS
@given(shapes.filter(lambda s: len(s) <= 4), dtypes, st.sampled_from([DType.I32, DType.I64]),
       st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple), seeds)
def test_gather(shape, dtype, idt, ishape, seed):
    rng = np.random.default_rng(seed)
    axis = int(rng.integers(len(shape)))
    n = shape[axis]
    g = one_op("nn.gather", TensorType(dtype, shape), TensorType(idt, ishape), axis=axis)
    idx = rng.integers(-n, n, ishape).astype(idt.storage)
    assert_runtime_matches(g, {"x": values(rng, dtype, shape), "in0": idx})


def test_gather_index_out_of_range_fails_the_run():
    g = one_op("nn.gather", TensorType(DType.F32, (4, 3)), TensorType(DType.I64, (2,)), axis=0)
    s = Session(build_artifact(g))
    x = np.zeros((4, 3), np.float32)
    s.run({"x": x, "in0": np.array([-4, 3], np.int64)})
    for bad in (4, -5, 2**40):
        with pytest.raises(RuntimeError_, match=r"gather.*index .*out of range"):
            s.run({"x": x, "in0": np.array([0, bad], np.int64)})


@SETTINGS
@given(shapes.filter(lambda s: len(s) <= 4), dtypes, seeds)
def test_expand(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    xshape = tuple(d if rng.random() < 0.5 else 1 for d in shape)
    xshape = xshape[int(rng.integers(0, len(xshape))):]
    lead = tuple(int(d) for d in rng.integers(1, 3, int(rng.integers(0, 2))))
    g = one_op("nn.expand", TensorType(dtype, xshape), shape=list(lead + shape))
    assert_runtime_matches(g, {"x": values(rng, dtype, xshape)})


@SETTINGS
@given(shapes, dtypes, dtypes, seeds)
def test_cast(shape, src, dst, seed):
    rng = np.random.default_rng(seed)
    x = values(rng, src, shape)
    if src is DType.F32:   # values around each integer type's range, and the specials
        x = (rng.standard_normal(shape) * float(rng.choice([3, 300, 5e4, 3e9, 1e19]))) \
            .astype(np.float32)
        x.reshape(-1)[:min(x.size, 5)] = [np.nan, -np.inf, 2.5, -2.5, -0.7][:min(x.size, 5)]
    g = one_op("nn.cast", TensorType(src, shape), to=dst)
    assert_runtime_matches(g, {"x": x})
