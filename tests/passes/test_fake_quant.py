"""fake-quant: QAT quantizers where quant puts integers, and quant lowering them back."""

from __future__ import annotations

import numpy as np
import pytest

import irc
from irc.autodiff import trainable_params
from irc.builder import Builder
from irc.errors import PassError
from irc.train import Adam, fit, predict

B = 16


def _net(batch: int = B, seed: int = 0) -> irc.Graph:
    """conv → relu → (+ depthwise conv) → max pool → flatten → gemm → relu → gemm."""
    rng = np.random.default_rng(seed)
    b = Builder("net")
    x = b.input("x", f"f32[{batch},2,8,8]")

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * np.sqrt(2 / np.prod(shape[1:]))).astype(np.float32)
    h = b.nn.relu(b.nn.conv2d(x, b.const(w(8, 2, 3, 3), "c1.w"),
                              b.const((rng.standard_normal(8) * 0.1).astype(np.float32), "c1.b"),
                              pads=(1, 1, 1, 1)))
    d = b.nn.relu(b.nn.conv2d(h, b.const(w(8, 1, 3, 3), "dw.w"),
                              b.const(np.zeros(8, np.float32), "dw.b"), pads=(1, 1, 1, 1),
                              groups=8))
    h = b.nn.max_pool(b.nn.add(h, d), kernel=(2, 2), strides=(2, 2))
    h = b.nn.relu(b.nn.gemm(b.nn.flatten(h), b.const(w(32, 128).T.copy(), "fc1.w"),
                            b.const(np.zeros(32, np.float32), "fc1.b")))
    return b.finish(b.nn.gemm(h, b.const(w(5, 32).T.copy(), "fc2.w"),
                              b.const(np.zeros(5, np.float32), "fc2.b"), name="logits"))


def _data(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2, 8, 8)).astype(np.float32)
    y = (x[:, 0, :4].mean(axis=(1, 2)) > 0).astype(np.int64) + 2 * (x[:, 1].mean(axis=(1, 2)) > 0)
    return x, y


def _agreement(fq: irc.Graph, lowered: irc.Graph, x: np.ndarray) -> tuple[float, float]:
    a = predict(fq, {"x": x})
    b = predict(lowered, {"x": x})
    return float((a.argmax(1) == b.argmax(1)).mean()), float(np.mean(np.isclose(a, b, atol=1e-5)))


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_lowering_computes_what_the_fake_quant_graph_computes(bits: int) -> None:
    x, _ = _data(256)
    fq = irc.compile(_net(), f"fake-quant{{bits={bits}}}", calib_data={"x": x[:64]})
    ops = [n.op for n in fq.nodes]
    assert ops.count("qat.fake_quant") >= 10      # weights, activations, biases
    assert fq.outputs[0].name == "logits"
    lowered = irc.compile(fq, f"quant{{bits={bits}}}")
    assert not any(n.op == "qat.fake_quant" for n in lowered.nodes)
    assert sum(n.op in ("q.conv2d", "q.matmul") for n in lowered.nodes) == 4
    argmax, values = _agreement(fq, lowered, x)
    assert argmax == 1.0 and values >= 0.99, (argmax, values)


def test_lsq_scales_train_and_lowering_keeps_them() -> None:
    x, y = _data(512)
    fq = irc.compile(_net(), "fake-quant{bits=4,lsq=true}", calib_data={"x": x[:64]})
    params = trainable_params(fq)
    scales = [p for p in params if p.endswith(".scale")]
    assert len(scales) >= 8                              # weights' and activations'
    w_scale = "c1.w.fq.scale"
    before = fq.value(w_scale).const_value.copy()
    fit(fq, {"x": x}, y, epochs=2, batch_size=B, optimizer=Adam(lr=3e-3), progress_label=None)
    learned = fq.value(w_scale).const_value
    assert not np.allclose(learned, before)
    lowered = irc.compile(fq, "quant{bits=4}")
    conv = next(n for n in lowered.nodes if n.op == "q.conv2d")
    np.testing.assert_allclose(conv.inputs[1].type.quant.scales, np.abs(learned), rtol=1e-7)
    argmax, _ = _agreement(fq, lowered, x[:256])
    assert argmax >= 0.99


def test_training_through_two_bit_quantizers_lowers_the_loss() -> None:
    x, y = _data(1024)
    net = _net()
    fit(net, {"x": x}, y, epochs=2, batch_size=B, optimizer=Adam(lr=3e-3), progress_label=None)
    fq = irc.compile(net, "fake-quant{bits=2,lsq=true}", calib_data={"x": x[:64]})
    hist = fit(fq, {"x": x}, y, epochs=3, batch_size=B, optimizer=Adam(lr=1e-3),
               progress_label=None)
    assert hist.loss[-1] < 0.9 * hist.loss[0]
    assert _agreement(fq, irc.compile(fq, "quant{bits=2}"), x[:256])[0] >= 0.99


def test_one_bit_trains_and_is_refused_by_quant() -> None:
    x, y = _data(256)
    fq = irc.compile(_net(), "fake-quant{bits=1}", calib_data={"x": x[:64]})
    signs = [n for n in fq.nodes if n.op == "qat.fake_quant"]
    assert signs and all(n.attrs["mode"] == "sign" for n in signs)
    fit(fq, {"x": x}, y, epochs=1, batch_size=B, optimizer=Adam(lr=1e-3), progress_label=None)
    w = predict(fq, {"x": x[:4]})
    assert np.isfinite(w).all()
    with pytest.raises(PassError, match="1-bit .*no integer lowering"):
        irc.compile(fq, "quant{bits=8}")


def test_errors_name_the_fix() -> None:
    x, _ = _data(64)
    with pytest.raises(PassError, match="needs activation ranges"):
        irc.compile(_net(), "fake-quant")
    fq = irc.compile(_net(), "fake-quant{bits=4}", calib_data={"x": x})
    with pytest.raises(PassError, match="trained with fake-quant bits=4"):
        irc.compile(fq, "quant{bits=8}")
    with pytest.raises(PassError, match="already holds fake quantizers"):
        irc.compile(fq, "fake-quant{bits=4}", calib_data={"x": x})
    with pytest.raises(Exception, match="bits must be in 1..8"):
        irc.compile(_net(), "fake-quant{bits=9}", calib_data={"x": x})


def test_fake_quant_graph_survives_the_text_form(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, _ = _data(64)
    fq = irc.compile(_net(), "fake-quant{bits=4}", calib_data={"x": x})
    irc.save(fq, tmp_path / "m.irc")
    back = irc.load(tmp_path / "m.irc")
    np.testing.assert_array_equal(predict(back, {"x": x}), predict(fq, {"x": x}))
    lowered = irc.compile(back, "quant{bits=4}")
    assert _agreement(fq, lowered, x)[0] == 1.0
