"""Quantized ONNX ops import with ONNX's exact semantics: bit-exact against onnxruntime.

Inputs are chosen to hit rounding ties on purpose (x / scale landing on .5), so
the half-to-even rule is tested, not just typical values.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import irc  # noqa: E402
from irc.frontend import import_onnx  # noqa: E402

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
rng = np.random.default_rng(7)

_NP2ONNX = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float16): TensorProto.FLOAT16,
            np.dtype(np.uint8): TensorProto.UINT8,
            np.dtype(np.int8): TensorProto.INT8, np.dtype(np.int32): TensorProto.INT32}


def model(nodes, inputs: dict[str, np.ndarray], inits: dict[str, np.ndarray],
          outputs: list[str], opset: int = 19):  # type: ignore[no-untyped-def]
    g = helper.make_graph(
        nodes, "q",
        [helper.make_tensor_value_info(k, _NP2ONNX[v.dtype], v.shape) for k, v in inputs.items()],
        [], [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    inferred = {vi.name: vi for vi in onnx.shape_inference.infer_shapes(m).graph.value_info}
    m.graph.output.extend(inferred.get(o) or helper.make_tensor_value_info(
        o, TensorProto.UNDEFINED, None) for o in outputs)     # typed outputs, as ORT needs
    return m


def both(m, feeds: dict[str, np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:  # type: ignore[no-untyped-def]
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    ref = ort.InferenceSession(m.SerializeToString(), so,
                               providers=["CPUExecutionProvider"]).run(None, feeds)
    g = import_onnx(m)
    irc.verify(g)
    got = list(irc.run(g, feeds).values())
    return got, ref


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def test_quantize_dequantize_ties_and_saturation() -> None:
    scale = np.float32(0.5)
    # x / 0.5 = k + 0.5 exactly -> ties; plus values far outside the u8/i8 range
    x = np.concatenate([np.arange(-10, 10, dtype=np.float32) * 0.5 + 0.25,
                        np.array([-1e6, 1e6, 0.0, -0.0], np.float32)]).reshape(1, -1)
    for zp in (np.uint8(128), np.int8(-3)):
        m = model([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
                   helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])],
                  {"x": x}, {"s": np.array(scale), "z": np.array(zp)}, ["q", "y"])
        got, ref = both(m, {"x": x})
        assert got[0].dtype == ref[0].dtype
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])


def test_per_axis_quantize_dequantize() -> None:
    x = f32(2, 3, 4)
    s = np.array([0.02, 0.05, 0.1], np.float32)
    z = np.array([-5, 0, 7], np.int8)
    m = model([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1),
               helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1)],
              {"x": x}, {"s": s, "z": z}, ["q", "y"])
    got, ref = both(m, {"x": x})
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("groups,stride,pad", [(1, 1, 1), (1, 2, 0), (4, 1, 1)])
def test_qlinear_conv_is_bit_exact(per_channel: bool, groups: int, stride: int,
                                   pad: int) -> None:
    c, o = 4, 8
    x = rng.integers(0, 256, (1, c, 7, 7), dtype=np.uint8)
    w = rng.integers(-127, 128, (o, c // groups, 3, 3), dtype=np.int8)
    ws = (rng.random(o) * 0.01 + 0.001).astype(np.float32) if per_channel \
        else np.array(0.004, np.float32)
    wz = np.zeros(o, np.int8) if per_channel else np.array(0, np.int8)
    b = rng.integers(-5000, 5000, o, dtype=np.int32)
    inits = {"xs": np.array(0.02, np.float32), "xz": np.array(121, np.uint8), "w": w,
             "ws": ws, "wz": wz, "ys": np.array(0.07, np.float32),
             "yz": np.array(100, np.uint8), "b": b}
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
                            ["y"], strides=[stride] * 2, pads=[pad] * 4, group=groups)
    got, ref = both(model([node], {"x": x}, inits, ["y"]), {"x": x})
    assert got[0].dtype == np.uint8
    np.testing.assert_array_equal(got[0], ref[0])


def test_qlinear_matmul_and_integer_ops_are_bit_exact() -> None:
    a = rng.integers(0, 256, (3, 16), dtype=np.uint8)
    b = rng.integers(-128, 128, (16, 5), dtype=np.int8)
    inits = {"as": np.array(0.03, np.float32), "az": np.array(7, np.uint8), "b": b,
             "bs": np.array(0.011, np.float32), "bz": np.array(-2, np.int8),
             "ys": np.array(0.09, np.float32), "yz": np.array(128, np.uint8)}
    nodes = [helper.make_node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"],
                              ["y"]),
             helper.make_node("MatMulInteger", ["a", "b", "az", "bz"], ["acc"])]
    got, ref = both(model(nodes, {"a": a}, inits, ["y", "acc"]), {"a": a})
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    assert got[1].dtype == np.int32

    x = rng.integers(0, 256, (1, 3, 6, 6), dtype=np.uint8)
    w = rng.integers(0, 256, (4, 3, 3, 3), dtype=np.uint8)
    node = helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], pads=[1, 1, 1, 1])
    got, ref = both(model([node], {"x": x}, {"w": w, "xz": np.array(9, np.uint8),
                                            "wz": np.array(130, np.uint8)}, ["y"], opset=10),
                    {"x": x})
    np.testing.assert_array_equal(got[0], ref[0])


def test_qdq_model_with_constant_weights() -> None:
    """A QDQ-style float model: weights stored int8 + DequantizeLinear, activations
    quantize/dequantize around a float conv (what quantize_static emits)."""
    x = f32(1, 3, 8, 8)
    w = rng.integers(-127, 128, (4, 3, 3, 3), dtype=np.int8)
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], axis=0),
             helper.make_node("Conv", ["xd", "wd"], ["y"], pads=[1, 1, 1, 1])]
    inits = {"xs": np.array(0.02, np.float32), "xz": np.array(128, np.uint8), "w": w,
             "ws": (rng.random(4) * 0.01 + 0.001).astype(np.float32),
             "wz": np.zeros(4, np.int8)}
    got, ref = both(model(nodes, {"x": x}, inits, ["y"]), {"x": x})
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-5, atol=1e-5)


def test_one_d_quantized_convs() -> None:
    x = rng.integers(0, 256, (1, 2, 7), dtype=np.uint8)
    w = rng.integers(-127, 128, (3, 2, 3), dtype=np.int8)
    inits = {"xs": np.array(0.02, np.float32), "xz": np.array(121, np.uint8), "w": w,
             "ws": np.array(0.004, np.float32), "wz": np.array(0, np.int8),
             "ys": np.array(0.05, np.float32), "yz": np.array(90, np.uint8)}
    nodes = [helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"],
                              ["y"], strides=[2], auto_pad="SAME_UPPER"),
             helper.make_node("ConvInteger", ["x", "w8", "xz"], ["acc"], pads=[1, 1])]
    inits["w8"] = rng.integers(0, 256, (3, 2, 3), dtype=np.uint8)
    got, ref = both(model(nodes, {"x": x}, inits, ["y", "acc"]), {"x": x})
    assert got[0].shape == (1, 3, 4) and got[1].shape == (1, 3, 7)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])


def test_dequantize_output_has_the_scale_type() -> None:
    q = rng.integers(-128, 128, (2, 5), dtype=np.int8)
    m = model([helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])], {"q": q},
              {"s": np.array(0.3, np.float16), "z": np.array(3, np.int8)}, ["y"])
    got, ref = both(m, {"q": q})
    assert got[0].dtype == np.float16
    np.testing.assert_array_equal(got[0], ref[0])


def test_invalid_quantization_parameters_are_refused() -> None:
    from irc.errors import ModelImportError
    x = f32(1, 3, 2)
    m = model([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1)], {"x": x},
              {"s": np.array([0.1, 0.2, 0.3], np.float32), "z": np.array(0, np.uint8)}, ["q"])
    with pytest.raises(ModelImportError, match="zero point has shape \\[\\] but its scale has \\[3\\]"):
        import_onnx(m)
    node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"],
                            output_dtype=TensorProto.INT8)
    m = model([node], {"x": x}, {"s": np.array(0.1, np.float32), "z": np.array(0, np.uint8)},
              ["q"], opset=21)
    with pytest.raises(ModelImportError, match="output_dtype"):
        import_onnx(m)
