"""Shape ops: reshape, flatten, squeeze, unsqueeze, transpose, expand, concat,
split, slice, pad, gather, cast — shape rules, ONNX corner cases, and values
against independent references (Python slicing, index loops, hand results)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irc.builder import Builder
from irc.dtypes import DType
from irc.errors import OpError, VerifyError
from irc.ops import get_op

from ophelpers import F32, T, infer, run

INT64_MAX, INT64_MIN = 2 ** 63 - 1, -2 ** 63


def ramp(*shape, dtype=np.float32):
    return np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)


# --- reshape / flatten / squeeze / unsqueeze -------------------------------------------------

@pytest.mark.parametrize("shape,target,out", [
    ((2, 3, 4), (6, 4), (6, 4)),
    ((2, 3, 4), (-1,), (24,)),
    ((2, 3, 4), (0, -1), (2, 12)),
    ((2, 3, 4), (0, 0, 2, 2), (2, 3, 2, 2)),
    ((2, 3, 4), (4, -1, 2), (4, 3, 2)),
    ((1, 1), (), ()),
])
def test_reshape_resolves_zero_and_minus_one(shape, target, out):
    assert infer("nn.reshape", F32(*shape), shape=target) == F32(*out)
    x = ramp(*shape)
    y = run("nn.reshape", x, shape=target)
    np.testing.assert_array_equal(y.ravel(), x.ravel())


@pytest.mark.parametrize("shape,target,message", [
    ((2, 3), (4, 2), r"cannot reshape \[2, 3\] \(6 elements\) to \[4, 2\]"),
    ((2, 3), (-1, -1), "more than one -1"),
    ((2, 3), (4, -1), "not a multiple of 4"),
    ((2, 3), (1, 1, 0), "0 at index 2 copies an input dim"),
    ((2, 3), (-2, 3), ">= -1"),
])
def test_reshape_errors(shape, target, message):
    with pytest.raises(OpError, match=message):
        infer("nn.reshape", F32(*shape), shape=target)


@pytest.mark.parametrize("axis,out", [(0, (1, 120)), (1, (2, 60)), (2, (6, 20)), (4, (120, 1)),
                                      (-1, (24, 5)), (-4, (1, 120))])
def test_flatten(axis, out):
    x = ramp(2, 3, 4, 5)
    y = run("nn.flatten", x, axis=axis)
    assert y.shape == out
    np.testing.assert_array_equal(y.ravel(), x.ravel())


def test_flatten_axis_out_of_range():
    with pytest.raises(OpError, match=r"axis 5 is out of range \[-4, 4\]"):
        infer("nn.flatten", F32(2, 3, 4, 5), axis=5)


def test_squeeze_and_unsqueeze():
    assert infer("nn.squeeze", F32(1, 3, 1, 2)) == F32(3, 2)
    assert infer("nn.squeeze", F32(1, 3, 1, 2), axes=(-2,)) == F32(1, 3, 2)
    assert infer("nn.unsqueeze", F32(3, 2), axes=(0, 3)) == F32(1, 3, 2, 1)
    assert infer("nn.unsqueeze", F32(3, 2), axes=(-1,)) == F32(3, 2, 1)
    assert infer("nn.unsqueeze", F32(), axes=(0, 1)) == F32(1, 1)
    x = ramp(3, 2)
    np.testing.assert_array_equal(run("nn.squeeze", run("nn.unsqueeze", x, axes=(1, -1))), x)
    with pytest.raises(OpError, match="cannot squeeze axis 1 .* its size is 3"):
        infer("nn.squeeze", F32(1, 3), axes=(1,))
    with pytest.raises(OpError, match="name an axis twice"):
        infer("nn.unsqueeze", F32(3), axes=(0, -3))
    with pytest.raises(OpError, match="missing required attribute 'axes'"):
        infer("nn.unsqueeze", F32(3))


# --- transpose / expand ----------------------------------------------------------------------

def test_transpose_default_reverses_and_perm_permutes():
    x = ramp(2, 3, 4)
    y = run("nn.transpose", x)
    assert y.shape == (4, 3, 2)
    assert y[3, 1, 0] == x[0, 1, 3]
    z = run("nn.transpose", x, perm=(1, 2, 0))
    assert z.shape == (3, 4, 2)
    for i, j, k in np.ndindex(2, 3, 4):
        assert z[j, k, i] == x[i, j, k]
    with pytest.raises(OpError, match=r"perm \[0, 0, 1\] is not a permutation"):
        infer("nn.transpose", F32(2, 3, 4), perm=(0, 0, 1))
    with pytest.raises(OpError, match="not a permutation"):
        infer("nn.transpose", F32(2, 3, 4), perm=(1, 0))


def test_expand_is_bidirectional():
    assert infer("nn.expand", F32(3, 1), shape=(2, 1, 4)) == F32(2, 3, 4)
    assert infer("nn.expand", F32(3, 4), shape=(1, 1)) == F32(3, 4)   # result bigger than shape
    x = np.array([[1], [2], [3]], np.float32)
    y = run("nn.expand", x, shape=(2, 1, 4))
    for i, j, k in np.ndindex(2, 3, 4):
        assert y[i, j, k] == x[j, 0]
    with pytest.raises(OpError, match="do not broadcast"):
        infer("nn.expand", F32(3, 2), shape=(4,))


# --- concat / split --------------------------------------------------------------------------

def test_concat():
    a, b, c = ramp(2, 1, 3), ramp(2, 4, 3) + 100, ramp(2, 2, 3) + 200
    y = run("nn.concat", a, b, c, axis=-2)
    assert y.shape == (2, 7, 3)
    np.testing.assert_array_equal(y[:, :1], a)
    np.testing.assert_array_equal(y[:, 1:5], b)
    np.testing.assert_array_equal(y[:, 5:], c)
    assert infer("nn.concat", F32(4), axis=0) == F32(4)


@pytest.mark.parametrize("types,attrs,message", [
    ((F32(2, 1, 3), F32(2, 4, 4)), {"axis": 1},
     r"operand 1 has shape \[2, 4, 4\], which does not match"),
    ((F32(2), T(DType.F16, 2)), {"axis": 0}, "share one dtype"),
    ((F32(2), F32(2)), {}, "missing required attribute 'axis'"),
    ((), {"axis": 0}, "at least 1"),
])
def test_concat_errors(types, attrs, message):
    with pytest.raises(OpError, match=message):
        infer("nn.concat", *types, **attrs)


def test_split_has_one_result_per_piece():
    types = infer("nn.split", F32(2, 7), axis=1, sizes=(2, 0, 5))
    assert types == (F32(2, 2), F32(2, 0), F32(2, 5))
    x = ramp(2, 7)
    p0, p1, p2 = run("nn.split", x, axis=-1, sizes=(2, 0, 5))
    np.testing.assert_array_equal(p0, x[:, :2])
    assert p1.shape == (2, 0)
    np.testing.assert_array_equal(p2, x[:, 2:])
    with pytest.raises(OpError, match=r"sizes \[2, 4\] sum to 6, but axis 1 .* length 7"):
        infer("nn.split", F32(2, 7), axis=1, sizes=(2, 4))


# --- slice -------------------------------------------------------------------------------------

def test_slice_onnx_corner_cases():
    x = ramp(10)
    cases = [
        (dict(starts=(2,), ends=(INT64_MAX,)), x[2:]),
        (dict(starts=(-3,), ends=(INT64_MAX,)), x[7:]),
        (dict(starts=(INT64_MAX,), ends=(INT64_MIN,), steps=(-1,)), x[::-1]),
        (dict(starts=(-1,), ends=(INT64_MIN,), steps=(-3,)), x[9::-3]),
        (dict(starts=(20,), ends=(2,), steps=(-2,)), x[9:2:-2]),
        # ONNX clamps a negative step's start into [0, n-1]: start -100 reads element 0
        (dict(starts=(-100,), ends=(-200,), steps=(-1,)), x[:1]),
        (dict(starts=(5,), ends=(5,)), x[5:5]),
        (dict(starts=(8,), ends=(2,)), x[8:2]),
        (dict(starts=(-100,), ends=(100,), steps=(4,)), x[::4]),
    ]
    for attrs, want in cases:
        y = run("nn.slice", x, **attrs)
        np.testing.assert_array_equal(y, want, err_msg=str(attrs))


def test_slice_axes_and_steps():
    x = ramp(4, 5, 6)
    y = run("nn.slice", x, starts=(1, -1), ends=(4, 0), axes=(-1, 1), steps=(2, -2))
    np.testing.assert_array_equal(y, x[:, 4:0:-2, 1:4:2])


@pytest.mark.parametrize("attrs,message", [
    (dict(starts=(0,), ends=(1, 2)), "starts has 1 entries but ends has 2"),
    (dict(starts=(0,), ends=(1,), steps=(0,)), "steps must not be 0"),
    (dict(starts=(0, 0), ends=(1, 1), axes=(1, -1)), "name an axis twice"),
    (dict(starts=(0,), ends=(1,), axes=(3,)), "out of range for rank 2"),
    (dict(starts=(0,), ends=(1,), axes=(0, 1)), "need equal lengths"),
])
def test_slice_errors(attrs, message):
    with pytest.raises(OpError, match=message):
        infer("nn.slice", F32(4, 5), **attrs)


@st.composite
def slice_case(draw):
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=1, max_size=3)))
    starts, ends, axes, steps, pyslices = [], [], [], [], [slice(None)] * len(shape)
    for ax in draw(st.permutations(range(len(shape)))):
        if not draw(st.booleans()):
            continue
        n = shape[ax]
        step = draw(st.sampled_from([-3, -2, -1, 1, 2, 3]))
        if step > 0:       # Python and ONNX clamp the same way here
            start = draw(st.integers(-n - 3, n + 3) | st.sampled_from([INT64_MIN, INT64_MAX]))
        else:              # keep start in [-n, n-1] where Python also agrees with ONNX...
            start = draw(st.integers(-n, max(n - 1, -n)) | st.just(INT64_MAX))
        end = draw(st.integers(-n - 3, n + 3) | st.sampled_from([INT64_MIN, INT64_MAX]))
        starts.append(start)
        ends.append(end)
        axes.append(draw(st.sampled_from([ax, ax - len(shape)])))
        steps.append(step)
        if step < 0 and start == INT64_MAX:
            start = None          # ...or "from the end"
        pyslices[ax] = slice(start, end, step)
    return shape, dict(starts=starts, ends=ends, axes=axes, steps=steps), tuple(pyslices)


@settings(max_examples=150, deadline=None)
@given(slice_case())
def test_slice_matches_python_slicing(case):
    shape, attrs, pyslices = case
    x = ramp(*shape)
    if not attrs["starts"]:
        attrs = dict(starts=(), ends=())
    y = run("nn.slice", x, **attrs)
    np.testing.assert_array_equal(y, x[pyslices])


# --- pad ---------------------------------------------------------------------------------------

def test_pad_modes_hand_computed():
    x = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
    pads = (1, 2, 0, 1)    # begin axis0, begin axis1, end axis0, end axis1
    np.testing.assert_array_equal(run("nn.pad", x, pads=pads, value=-1.0), [
        [-1, -1, -1, -1, -1, -1],
        [-1, -1, 1, 2, 3, -1],
        [-1, -1, 4, 5, 6, -1]])
    np.testing.assert_array_equal(run("nn.pad", x, pads=pads, mode="reflect"), [
        [6, 5, 4, 5, 6, 5],
        [3, 2, 1, 2, 3, 2],
        [6, 5, 4, 5, 6, 5]])
    np.testing.assert_array_equal(run("nn.pad", x, pads=pads, mode="edge"), [
        [1, 1, 1, 2, 3, 3],
        [1, 1, 1, 2, 3, 3],
        [4, 4, 4, 5, 6, 6]])


def test_pad_negative_crops():
    x = ramp(3, 4)
    y = run("nn.pad", x, pads=(-1, 1, 0, -2))
    np.testing.assert_array_equal(y, [[0, 4, 5], [0, 8, 9]])


def test_pad_integer_tensor_and_value_cast():
    y = run("nn.pad", np.array([1, 2], np.int8), pads=(1, 1), value=7.0)
    np.testing.assert_array_equal(y, [7, 1, 2, 7])
    assert y.dtype == np.int8


@pytest.mark.parametrize("shape,attrs,message", [
    ((2, 3), dict(pads=(1, 1)), r"pads needs 2 \* rank = 4 entries"),
    ((2, 3), dict(pads=(0, 3, 0, 0), mode="reflect"), "reflect pads 3, 0 must be smaller"),
    ((2, 3), dict(pads=(-3, 0, 0, 0)), "remove more than its 2 elements"),
    ((2, 3), dict(pads=(0, 0, 0, 0), mode="wrap"), "mode.*constant, reflect, edge"),
])
def test_pad_errors(shape, attrs, message):
    with pytest.raises(OpError, match=message):
        infer("nn.pad", F32(*shape), **attrs)


# --- gather ------------------------------------------------------------------------------------

@pytest.mark.parametrize("idx_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_matches_index_loops(axis, idx_dtype):
    x = ramp(3, 4, 5)
    ax = axis % 3
    n = x.shape[ax]
    idx = np.array([[0, -1], [n - 1, 1], [-n, 2]], idx_dtype)
    y = run("nn.gather", x, idx, axis=axis)
    assert y.shape == x.shape[:ax] + idx.shape + x.shape[ax + 1:]
    for out_idx in np.ndindex(*y.shape):
        pre, mid, post = out_idx[:ax], out_idx[ax:ax + 2], out_idx[ax + 2:]
        k = int(idx[mid]) % n
        assert y[out_idx] == x[pre + (k,) + post]


def test_gather_scalar_index_drops_the_axis():
    x = ramp(3, 4)
    y = run("nn.gather", x, np.array(-1, np.int64), axis=0)
    np.testing.assert_array_equal(y, x[2])


def test_gather_errors():
    with pytest.raises(OpError, match="indices must be i32 or i64, got f32"):
        infer("nn.gather", F32(3, 4), F32(2))
    with pytest.raises(ValueError, match=r"indices \[0, 3\] are out of range \[-3, 2\]"):
        get_op("nn.gather").run([ramp(3, 4), np.array([0, 3], np.int64)], {"axis": 0})
    b = Builder()
    x = b.input("x", F32(3, 4))
    y = b.nn.gather(x, b.const(np.array([1, -4], np.int64)), axis=0)
    with pytest.raises(VerifyError, match=r"constant indices \[-4, 1\] are out of range"):
        b.finish(y)


# --- cast --------------------------------------------------------------------------------------

@pytest.mark.parametrize("src,to,want", [
    (np.array([-1.9, 1.9, -0.5, 300, -300, np.nan, np.inf, -np.inf], np.float32), "i8",
     [-1, 1, 0, 127, -128, 0, 127, -128]),
    (np.array([-5.0, 255.9, 256.0], np.float32), "u8", [0, 255, 255]),
    (np.array([1e30, -1e30, 2.0 ** 62], np.float64), "i64", [INT64_MAX, INT64_MIN, 2 ** 62]),
    (np.array([9.5, -9.5, 3.7], np.float32), "i4", [7, -8, 3]),
    (np.array([200, -129, 5], np.int32), "i8", [-56, 127, 5]),
    (np.array([17, -1, 5], np.int32), "u4", [1, 15, 5]),
    (np.array([7, 8, -9, -8], np.int32), "i4", [7, -8, 7, -8]),
    (np.array([0.0, -0.0, np.nan, 2.0], np.float32), "b1", [False, False, True, True]),
    (np.array([True, False]), "f32", [1.0, 0.0]),
    (np.array([True, False]), "i4", [1, 0]),
    (np.array([1e6, -1e6, 1.5], np.float32), "f16", [np.inf, -np.inf, 1.5]),
    (np.array([16777217], np.int32), "f32", [16777216.0]),
])
def test_cast_rules(src, to, want):
    y = run("nn.cast", src, to=to)
    assert y.dtype == DType.parse(to).storage
    np.testing.assert_array_equal(y, np.array(want, dtype=y.dtype))


def test_cast_type_rule():
    assert infer("nn.cast", F32(2, 3), to="i8") == T(DType.I8, 2, 3)
    with pytest.raises(OpError, match="expected a dtype name"):
        infer("nn.cast", F32(2), to="float8")
