"""ONNX comparisons, logic, Where, IsNaN/IsInf, GatherElements and LRN on
run-time inputs: imported, verified, run in the irc interpreter and compared
with onnxruntime; and still folded when their operands are constant."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

import irc  # noqa: E402
from irc.errors import ModelImportError  # noqa: E402
from irc.onnx_import import import_onnx  # noqa: E402
from irc.verifier import verify  # noqa: E402
from onnxhelpers import export_round_trip, model, ort_run  # noqa: E402

F, F16, F64 = TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE
I32, I64, B = TensorProto.INT32, TensorProto.INT64, TensorProto.BOOL
NP = {F: np.float32, F16: np.float16, F64: np.float64, I32: np.int32, I64: np.int64,
      B: np.bool_}

rng = np.random.default_rng(7)


def feed(shape, elem):
    if elem == B:
        return rng.random(shape) < 0.5
    if elem in (I32, I64):
        return rng.integers(-3, 4, size=shape).astype(NP[elem])   # small: many ties
    x = rng.standard_normal(shape)
    x[rng.random(shape) < 0.2] = 0.0                              # ties for ==, <=
    return x.astype(NP[elem])


def check(m, feeds, rtol=1e-4, atol=1e-5):
    """Import, verify, run; outputs equal onnxruntime's in shape, dtype, values;
    exported back to ONNX, the graph gives the same outputs in onnxruntime."""
    g = import_onnx(m)
    verify(g)
    got, want = irc.run(g, feeds), ort_run(m, feeds)
    assert set(got) == set(want)
    for k in want:
        assert got[k].shape == want[k].shape and got[k].dtype == want[k].dtype, k
        if want[k].dtype == np.bool_ or want[k].dtype.kind in "iu":
            np.testing.assert_array_equal(got[k], want[k], err_msg=k)
        else:
            np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=atol, err_msg=k)
    export_round_trip(m, g, feeds, rtol=rtol, atol=atol)     # ONNX -> IR -> ONNX
    return g


def ops_of(g):
    return [n.op for n in g.nodes if n.op != "const"]


@pytest.mark.parametrize("op", ["Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"])
@pytest.mark.parametrize("elem", [F, I64, I32, F16, F64])
def test_comparisons_broadcast(op, elem):
    nodes = [helper.make_node(op, ["a", "b"], ["y"])]
    m = model(nodes, [("a", [2, 3, 4], elem), ("b", [3, 1], elem)], [("y", B)])
    check(m, {"a": feed((2, 3, 4), elem), "b": feed((3, 1), elem)})


def test_comparisons_with_nan_and_inf():
    vals = np.array([np.nan, -np.inf, -1, 0, 1, np.inf], np.float32)
    a, b = np.repeat(vals, 6), np.tile(vals, 6)
    ops = ["Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"]
    nodes = [helper.make_node(op, ["a", "b"], [f"y{k}"]) for k, op in enumerate(ops)]
    m = model(nodes, [("a", [36], F), ("b", [36], F)], [(f"y{k}", B) for k in range(5)])
    check(m, {"a": a, "b": b})


def test_equal_on_booleans():
    nodes = [helper.make_node("Equal", ["a", "b"], ["y"])]
    m = model(nodes, [("a", [4, 1], B), ("b", [3], B)], [("y", B)])
    check(m, {"a": feed((4, 1), B), "b": feed((3,), B)})


@pytest.mark.parametrize("op", ["And", "Or", "Xor"])
def test_binary_logic(op):
    nodes = [helper.make_node(op, ["a", "b"], ["y"])]
    m = model(nodes, [("a", [2, 1, 5], B), ("b", [3, 5], B)], [("y", B)])
    check(m, {"a": feed((2, 1, 5), B), "b": feed((3, 5), B)})


def test_not_of_a_comparison():
    nodes = [helper.make_node("Greater", ["x", "zero"], ["p"]),
             helper.make_node("Not", ["p"], ["y"])]
    m = model(nodes, [("x", [3, 4], F)], [("y", B)], {"zero": np.zeros(1, np.float32)})
    g = check(m, {"x": feed((3, 4), F)})
    assert ops_of(g) == ["nn.greater", "nn.not"]


@pytest.mark.parametrize("elem", [F, I64, I32, F64])   # ORT has no b1 or f16 Where
def test_where_broadcasts_three_ways(elem):
    nodes = [helper.make_node("Where", ["c", "a", "b"], ["y"])]
    m = model(nodes, [("c", [2, 1, 4], B), ("a", [3, 4], elem), ("b", [1], elem)],
              [("y", elem)])
    check(m, {"c": feed((2, 1, 4), B), "a": feed((3, 4), elem), "b": feed((1,), elem)})


def test_is_nan_is_inf():
    x = np.array([[0, np.nan, np.inf], [-np.inf, 3e38, -2]], np.float32)
    nodes = [helper.make_node("IsNaN", ["x"], ["n"]),
             helper.make_node("IsInf", ["x"], ["i"]),
             helper.make_node("IsInf", ["x"], ["p"], detect_negative=0),
             helper.make_node("IsInf", ["x"], ["q"], detect_positive=0)]
    m = model(nodes, [("x", [2, 3], F)], [("n", B), ("i", B), ("p", B), ("q", B)], opset=20)
    check(m, {"x": x})


@pytest.mark.parametrize("axis,ishape", [(0, [5, 3, 2]), (1, [2, 7, 4]), (-1, [1, 2, 6])])
@pytest.mark.parametrize("ielem", [I64, I32])
def test_gather_elements(axis, ishape, ielem):
    xshape = [3, 4, 5]
    n = xshape[axis]
    idx = rng.integers(-n, n, size=ishape).astype(NP[ielem])
    nodes = [helper.make_node("GatherElements", ["x", "i"], ["y"], axis=axis)]
    m = model(nodes, [("x", xshape, F), ("i", ishape, ielem)], ["y"])
    check(m, {"x": feed(xshape, F), "i": idx})


@pytest.mark.parametrize("attrs", [
    dict(size=5),
    dict(size=3, alpha=0.5, beta=0.6, bias=2.0),
    dict(size=7, alpha=1.0, beta=0.75, bias=1.0),
    dict(size=1, alpha=2.0, beta=1.0, bias=0.5),
    dict(size=9, alpha=0.3),                            # wider than the channels
])
def test_lrn(attrs):
    nodes = [helper.make_node("LRN", ["x"], ["y"], **attrs)]
    m = model(nodes, [("x", [2, 6, 5, 3], F)], ["y"], opset=13)
    g = check(m, {"x": feed((2, 6, 5, 3), F) * 3})
    assert ops_of(g) == ["nn.lrn"]


def test_lrn_even_size_and_other_ranks_follow_the_spec():
    """onnxruntime runs LRN on 4-D tensors with odd sizes only; the spec (and
    irc) also define even windows (one more channel above than below) and any
    rank >= 2 ([N, C, ...]).  Checked against the spec's formula."""
    for shape, size in [([1, 5, 2, 2], 4), ([2, 6, 3], 3), ([3, 4], 2)]:
        nodes = [helper.make_node("LRN", ["x"], ["y"], size=size, alpha=0.8, bias=1.5)]
        m = model(nodes, [("x", shape, F)], ["y"], opset=13)
        x = feed(shape, F) * 2
        y = irc.run(import_onnx(m), {"x": x})["y"]
        c = shape[1]
        sq = np.zeros(shape)
        for ch in range(c):
            lo, hi = max(0, ch - (size - 1) // 2), min(c - 1, ch + -(-(size - 1) // 2))
            sq[:, ch] = np.sum(x[:, lo:hi + 1].astype(np.float64) ** 2, axis=1)
        np.testing.assert_allclose(y, x / (1.5 + 0.8 / size * sq) ** 0.75, rtol=1e-6)


def test_lrn_needs_size():
    nodes = [helper.make_node("LRN", ["x"], ["y"], name="n0")]
    m = model(nodes, [("x", [1, 3, 2, 2], F)], ["y"])
    with pytest.raises(ModelImportError, match="node LRN 'n0': attribute size is required"):
        import_onnx(m)


def test_attention_mask_pattern_as_transformers_exports_it():
    """The mask arithmetic of an SDPA attention block exported by PyTorch: a
    padding mask and a window mask combined with And, turned into an additive
    bias by Where, scores guarded with IsNaN -- all on run-time inputs."""
    s = 6
    nodes = [
        helper.make_node("Cast", ["mask"], ["mb"], to=B),                 # [B, S] i64 -> b1
        helper.make_node("Unsqueeze", ["mb", "ax12"], ["m4"]),            # [B, 1, 1, S]
        helper.make_node("GreaterOrEqual", ["pos_q", "pos_k"], ["win"]),  # [S, S]
        helper.make_node("And", ["m4", "win"], ["keep"]),                 # [B, 1, S, S]
        helper.make_node("Where", ["keep", "zero", "minf"], ["bias"]),
        helper.make_node("Add", ["scores", "bias"], ["sb"]),
        helper.make_node("Softmax", ["sb"], ["p"], axis=-1),
        helper.make_node("IsNaN", ["p"], ["nan"]),
        helper.make_node("Where", ["nan", "zero", "p"], ["y"]),
    ]
    pos = np.arange(s, dtype=np.int64)
    m = model(nodes, [("mask", [2, s], I64), ("scores", [2, 2, s, s], F)], ["y"],
              {"ax12": np.array([1, 2], np.int64), "pos_q": pos[:, None], "pos_k": pos[None],
               "zero": np.array(0, np.float32),
               "minf": np.array(np.finfo(np.float32).min, np.float32)})
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], np.int64)
    g = check(m, {"mask": mask, "scores": feed((2, 2, s, s), F)})
    ops = ops_of(g)
    assert {"nn.and", "nn.where", "nn.is_nan"} <= set(ops)
    assert "nn.greater_equal" not in ops             # constant positions: folded


def test_constant_operands_still_fold():
    """Shape arithmetic: Where(Equal(Shape(x), 4), ...) is a constant, so the
    Expand's shape is static and only the Add remains."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shp"]),
        helper.make_node("Equal", ["shp", "four"], ["eq"]),
        helper.make_node("Not", ["eq"], ["ne"]),
        helper.make_node("Where", ["ne", "shp", "one"], ["w"]),
        helper.make_node("Less", ["w", "five"], ["lt"]),
        helper.make_node("And", ["lt", "ne"], ["both"]),
        helper.make_node("Cast", ["both"], ["bi"], to=I64),
        helper.make_node("Add", ["w", "bi"], ["w2"]),
        helper.make_node("Sub", ["w2", "bi"], ["w3"]),
        helper.make_node("ConstantOfShape", ["w3"], ["ones"],
                         value=onnx.numpy_helper.from_array(np.array([1.5], np.float32))),
        helper.make_node("Add", ["x", "ones"], ["y"]),
    ]
    m = model(nodes, [("x", [2, 4, 3], F)], ["y"],
              {"four": np.array(4, np.int64), "one": np.array(1, np.int64),
               "five": np.array(5, np.int64)})
    g = check(m, {"x": feed((2, 4, 3), F)})
    assert ops_of(g) == ["nn.add"]
