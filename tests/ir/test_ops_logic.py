"""nn.* comparison, logic, selection, classification and indexing ops, and
nn.lrn: values against hand-written references, broadcasting, dtypes, and the
type rules' rejections."""

from __future__ import annotations

import math

import numpy as np
import pytest

from irc.dtypes import DType
from irc.errors import OpError
from irc.ops import get_op
from irc.types import PerTensor

from ophelpers import F32, T, infer, make_rand, run

rand = make_rand(31)
NAN, INF = float("nan"), float("inf")

COMPARISONS = [
    ("nn.equal", lambda a, b: a == b),
    ("nn.less", lambda a, b: a < b),
    ("nn.less_equal", lambda a, b: a <= b),
    ("nn.greater", lambda a, b: a > b),
    ("nn.greater_equal", lambda a, b: a >= b),
]


@pytest.mark.parametrize("op,ref", COMPARISONS, ids=[c[0] for c in COMPARISONS])
def test_comparisons_elementwise_against_python(op, ref):
    vals = [-INF, -2.0, -0.0, 0.0, 1.5, 2.0, INF, NAN]
    a = np.array([x for x in vals for _ in vals], np.float32)
    b = np.array([y for _ in vals for y in vals], np.float32)
    y = run(op, a, b)
    assert y.dtype == np.bool_
    want = [ref(float(x), float(z)) for x, z in zip(a, b)]   # IEEE: NaN compares false
    assert y.tolist() == want


@pytest.mark.parametrize("op,ref", COMPARISONS, ids=[c[0] for c in COMPARISONS])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8, np.uint8, np.float16, np.float64])
def test_comparisons_broadcast_in_every_number_dtype(op, ref, dtype):
    a = np.arange(6, dtype=dtype).reshape(2, 1, 3)
    b = np.array([[1], [2], [4], [5]], dtype=dtype)           # [4, 1]
    y = run(op, a, b)
    assert y.shape == (2, 4, 3)
    np.testing.assert_array_equal(y, ref(a, b))


def test_equal_compares_booleans_the_ordering_ops_do_not():
    a, b = np.array([True, False, True]), np.array([True, True, False])
    assert run("nn.equal", a, b).tolist() == [True, False, False]
    for op in ("nn.less", "nn.less_equal", "nn.greater", "nn.greater_equal"):
        with pytest.raises(OpError, match="compares numbers, got b1"):
            infer(op, T(DType.B1, 3), T(DType.B1, 3))


def test_comparison_type_rules():
    assert infer("nn.less", T(DType.I64, 2, 1), T(DType.I64, 5)) == T(DType.B1, 2, 5)
    assert infer("nn.equal", F32(), F32(3)) == T(DType.B1, 3)
    with pytest.raises(OpError, match="share one dtype"):
        infer("nn.equal", F32(3), T(DType.F64, 3))
    with pytest.raises(OpError, match="do not broadcast"):
        infer("nn.greater", F32(3), F32(4))
    q = F32(3).with_(dtype=DType.I8, quant=PerTensor(0.1, 0))
    with pytest.raises(OpError, match="unquantized"):
        infer("nn.less", q, q)


def test_sub_byte_integers_compare_by_value():
    a = np.array([-8, -1, 0, 7], np.int8)
    y = run("nn.less", a, np.array([0], np.int8))
    assert y.tolist() == [True, True, False, False]
    assert infer("nn.less", T(DType.I4, 4), T(DType.I4, 1)) == T(DType.B1, 4)


# --- logic ----------------------------------------------------------------------------------

@pytest.mark.parametrize("op,ref", [
    ("nn.and", lambda a, b: a and b),
    ("nn.or", lambda a, b: a or b),
    ("nn.xor", lambda a, b: a != b),
])
def test_binary_logic_truth_tables_and_broadcasting(op, ref):
    a = np.array([[False], [True]])          # [2, 1]
    b = np.array([False, True])              # [2]
    y = run(op, a, b)
    assert y.shape == (2, 2) and y.dtype == np.bool_
    assert y.tolist() == [[ref(x, z) for z in (False, True)] for x in (False, True)]


def test_not_and_logic_type_rules():
    assert run("nn.not", np.array([True, False])).tolist() == [False, True]
    assert run("nn.not", np.array(True)).shape == ()
    for op in ("nn.and", "nn.or", "nn.xor"):
        assert infer(op, T(DType.B1, 3, 1), T(DType.B1, 4)) == T(DType.B1, 3, 4)
        with pytest.raises(OpError, match="takes b1 operands, got i64"):
            infer(op, T(DType.B1, 3), T(DType.I64, 3))
    with pytest.raises(OpError, match="nn.not takes b1 operands, got f32"):
        infer("nn.not", F32(2))


# --- where ----------------------------------------------------------------------------------

def test_where_selects_with_three_way_broadcasting():
    cond = np.array([[True], [False]])                           # [2, 1]
    a = np.arange(3, dtype=np.float32)                           # [3]
    b = np.full((1, 1, 1), -1, np.float32)                       # [1, 1, 1]
    y = run("nn.where", cond, a, b)
    assert y.shape == (1, 2, 3) and y.dtype == np.float32
    assert y.tolist() == [[[0, 1, 2], [-1, -1, -1]]]


@pytest.mark.parametrize("dtype", [np.int64, np.float16, np.bool_, np.uint8])
def test_where_keeps_the_dtype(dtype):
    cond = np.array([True, False, True])
    a, b = np.ones(3, dtype), np.zeros(3, dtype)
    y = run("nn.where", cond, a, b)
    assert y.dtype == np.dtype(dtype) and y.tolist() == [1, 0, 1]


def test_where_type_rules():
    assert infer("nn.where", T(DType.B1, 4, 1), F32(1, 5), F32()) == F32(4, 5)
    with pytest.raises(OpError, match="cond must be b1, got f32"):
        infer("nn.where", F32(3), F32(3), F32(3))
    with pytest.raises(OpError, match="share one dtype"):
        infer("nn.where", T(DType.B1, 3), F32(3), T(DType.I64, 3))
    with pytest.raises(OpError, match="do not broadcast"):
        infer("nn.where", T(DType.B1, 2), F32(3), F32(3))


def test_where_masks_attention_scores_like_bert():
    """The exported-transformer pattern: a where over an additive mask keeps the
    masked logits finite and selects exactly."""
    scores = rand(2, 1, 4, 4)
    keep = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], bool)[:, None, None, :]
    fill = np.array(np.finfo(np.float32).min, np.float32)
    y = run("nn.where", keep, scores, fill)
    np.testing.assert_array_equal(y, np.where(keep, scores, fill))


# --- is_nan / is_inf -----------------------------------------------------------------------

def test_is_nan_and_is_inf():
    x = np.array([0.0, -1.0, NAN, INF, -INF, 3e38], np.float32)
    assert run("nn.is_nan", x).tolist() == [False, False, True, False, False, False]
    assert run("nn.is_inf", x).tolist() == [False, False, False, True, True, False]
    assert run("nn.is_inf", x, detect_negative=False).tolist() == \
        [False, False, False, True, False, False]
    assert run("nn.is_inf", x, detect_positive=False).tolist() == \
        [False, False, False, False, True, False]
    assert not run("nn.is_inf", x, detect_positive=False, detect_negative=False).any()
    assert run("nn.is_nan", np.array(NAN, np.float16)).shape == ()
    for op in ("nn.is_nan", "nn.is_inf"):
        with pytest.raises(OpError, match="must be a float tensor, got i32"):
            infer(op, T(DType.I32, 2))


# --- gather_elements -----------------------------------------------------------------------

def _gather_elements_ref(x, idx, axis):
    """The ONNX definition, index by index."""
    out = np.empty(idx.shape, x.dtype)
    n = x.shape[axis]
    for pos in np.ndindex(*idx.shape):
        src = list(pos)
        i = int(idx[pos])
        src[axis] = i + n if i < 0 else i
        out[pos] = x[tuple(src)]
    return out


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_gather_elements_against_the_definition(axis):
    x = rand(3, 4, 5)
    r = np.random.default_rng(axis + 5)
    shape = [2, 3, 4]
    ax = axis % 3
    shape[ax] = 6                                   # the indexed axis may be longer
    n = x.shape[ax]
    idx = r.integers(-n, n, size=shape).astype(np.int64)
    y = run("nn.gather_elements", x, idx, axis=axis)
    np.testing.assert_array_equal(y, _gather_elements_ref(x, idx, ax))


def test_gather_elements_onnx_example_and_i32_indices():
    # the ONNX operator docs' example 2
    x = np.arange(1, 10, dtype=np.float32).reshape(3, 3)
    idx = np.array([[1, 2, 0], [2, 0, 0]], np.int32)
    assert run("nn.gather_elements", x, idx, axis=0).tolist() == [[4, 8, 3], [7, 2, 3]]


def test_gather_elements_type_rules_and_range():
    assert infer("nn.gather_elements", F32(3, 4), T(DType.I64, 2, 7), axis=1) == F32(2, 7)
    with pytest.raises(OpError, match="indices must have x's rank 2, got rank 1"):
        infer("nn.gather_elements", F32(3, 4), T(DType.I64, 4))
    with pytest.raises(OpError, match="indices dim 0 is 4, larger than x's 3"):
        infer("nn.gather_elements", F32(3, 4), T(DType.I64, 4, 4), axis=1)
    with pytest.raises(OpError, match="indices must be i32 or i64"):
        infer("nn.gather_elements", F32(3), F32(3))
    with pytest.raises(OpError, match="out of range for rank 2"):
        infer("nn.gather_elements", F32(3, 4), T(DType.I64, 3, 4), axis=2)
    with pytest.raises(ValueError, match=r"indices \[0, 3\] are out of range \[-3, 2\]"):
        run("nn.gather_elements", np.zeros(3, np.float32), np.array([0, 3]))


def test_gather_elements_constant_indices_are_verified():
    from irc.builder import Builder
    from irc.errors import VerifyError
    from irc.verifier import verify
    b = Builder()
    x = b.input("x", F32(2, 3))
    y = b.op("nn.gather_elements", x, b.const(np.array([[0, 5]], np.int64)), axis=1)
    g = b.finish(y, verify=False)
    with pytest.raises(VerifyError, match=r"constant indices \[0, 5\] are out of range"):
        verify(g)


# --- lrn ------------------------------------------------------------------------------------

def _lrn_ref(x, size, alpha, beta, bias):
    """The ONNX spec, channel by channel, in float64."""
    x = x.astype(np.float64)
    c = x.shape[1]
    y = np.empty_like(x)
    for ch in range(c):
        lo = max(0, ch - math.floor((size - 1) / 2))
        hi = min(c - 1, ch + math.ceil((size - 1) / 2))
        sq = np.sum(x[:, lo:hi + 1] ** 2, axis=1)
        y[:, ch] = x[:, ch] / (bias + alpha / size * sq) ** beta
    return y


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 11])
def test_lrn_against_the_spec(size):
    x = rand(2, 7, 3, 4) * 4
    y = run("nn.lrn", x, size=size, alpha=0.3, beta=0.75, bias=2.0)
    np.testing.assert_allclose(y, _lrn_ref(x, size, 0.3, 0.75, 2.0), rtol=1e-6, atol=1e-7)


def test_lrn_defaults_other_ranks_and_dtypes():
    op = get_op("nn.lrn")
    assert {a.name: a.default for a in op.attrs if not a.required} == \
        {"alpha": 1e-4, "beta": 0.75, "bias": 1.0}
    assert op.attr_map["size"].required
    for shape in [(2, 5), (1, 6, 8), (1, 3, 2, 2, 2)]:
        x = rand(*shape) * 30
        np.testing.assert_allclose(run("nn.lrn", x, size=3),
                                   _lrn_ref(x, 3, 1e-4, 0.75, 1.0), rtol=1e-6)
    x16 = rand(1, 4, 2, 2).astype(np.float16)
    y16 = run("nn.lrn", x16, size=3, alpha=0.5)
    assert y16.dtype == np.float16
    np.testing.assert_allclose(y16, _lrn_ref(x16, 3, 0.5, 0.75, 1.0), rtol=1e-3)


def test_lrn_type_rules():
    assert infer("nn.lrn", F32(1, 3, 4, 4), size=5) == F32(1, 3, 4, 4)
    with pytest.raises(OpError, match="missing required attribute 'size'"):
        infer("nn.lrn", F32(1, 3, 4, 4))
    with pytest.raises(OpError, match="attribute 'size'"):
        infer("nn.lrn", F32(1, 3, 4, 4), size=0)
    with pytest.raises(OpError, match="rank >= 2"):
        infer("nn.lrn", F32(3), size=1)
    with pytest.raises(OpError, match="must be a float tensor"):
        infer("nn.lrn", T(DType.I8, 1, 3), size=1)


# --- printing ---------------------------------------------------------------------------------

def test_logic_ops_print_and_parse():
    from irc.builder import Builder
    from irc.parser import parse_graph
    from irc.printer import print_graph
    b = Builder()
    m, x = b.input("m", T(DType.B1, 2, 3)), b.input("x", F32(2, 3))
    z = b.op("nn.is_nan", x)
    k = b.op("nn.and", m, b.op("nn.not", z))
    o = b.op("nn.or", k, b.op("nn.greater_equal", x, x))
    y = b.op("nn.where", o, x, b.op("nn.gather_elements", x, b.const(np.zeros((2, 3), np.int64)),
                                    axis=1))
    g = b.finish(b.op("nn.lrn", y, size=3, alpha=1e-3))
    text = print_graph(g)
    assert "nn.lrn(" in text and "size = 3" in text and "nn.where(" in text
    assert print_graph(parse_graph(text)) == text
