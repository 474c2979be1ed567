"""fit(): training a graph's float constants with irc.autodiff, on scikit-learn's
bundled 8x8 digits."""

from __future__ import annotations

import numpy as np
import pytest

import irc
from irc import sparsity
from irc.builder import Builder
from irc.train import SGD, Adam, BatchNormStats, evaluate, fit, predict, with_loss

B = 50


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(d.target))
    x, y = (d.data[idx] / 16).astype(np.float32), d.target[idx]
    return x[:1500], y[:1500], x[1500:1750], y[1500:1750]


def _mlp(seed: int = 0) -> irc.Graph:
    rng = np.random.default_rng(seed)
    b = Builder("mlp")
    x = b.input("x", f"f32[{B},64]")
    w1 = (rng.standard_normal((64, 64)) * np.sqrt(2 / 64)).astype(np.float32)
    w2 = (rng.standard_normal((64, 10)) * np.sqrt(1 / 64)).astype(np.float32)
    h = b.nn.relu(b.nn.gemm(x, b.const(w1, "fc1.w"), b.const(np.zeros(64, np.float32), "fc1.b")))
    return b.finish(b.nn.gemm(h, b.const(w2, "fc2.w"), b.const(np.zeros(10, np.float32), "fc2.b"),
                              name="logits"))


def _accuracy(g: irc.Graph, x: np.ndarray, y: np.ndarray) -> float:
    hits = sum(int((irc.run(g, {"x": x[i:i + B]})["logits"].argmax(1) == y[i:i + B]).sum())
               for i in range(0, len(y), B))
    return hits / len(y)


@pytest.mark.parametrize("opt", [lambda: Adam(lr=3e-3), lambda: SGD(lr=0.1, momentum=0.9)])
def test_fit_trains_an_mlp_on_digits(opt) -> None:  # type: ignore[no-untyped-def]
    xtr, ytr, xte, yte = _digits()
    g = _mlp()
    before = _accuracy(g, xte, yte)
    hist = fit(g, {"x": xtr}, ytr, epochs=8, batch_size=B, optimizer=opt(), progress_label=None)
    assert hist.loss[-1] < hist.loss[0] / 4
    assert before < 0.3 and _accuracy(g, xte, yte) >= 0.93     # written back into g
    assert len(hist.accuracy) == 8 and hist.accuracy[-1] > 0.93


def test_prune_and_fine_tune_keeps_pruned_weights_at_zero() -> None:
    xtr, ytr, xte, yte = _digits()
    g = _mlp()
    fit(g, {"x": xtr}, ytr, epochs=5, batch_size=B, optimizer=Adam(lr=3e-3),
        progress_label=None)
    g = irc.compile(g, "prune{sparsity=0.8,keep_first=false,keep_last=false}")
    zero = {n: w == 0 for n, w in sparsity.masks(g).items()}
    assert zero
    fit(g, {"x": xtr}, ytr, epochs=3, batch_size=B, optimizer=Adam(lr=3e-3),
        on_step=lambda graph, step: sparsity.apply_masks(graph), progress_label=None)
    for name in zero:
        w = g.value(name).const_value
        assert np.count_nonzero(w) / w.size <= 0.2 + 1e-9
    assert _accuracy(g, xte, yte) > 0.85


def test_mse_loss_fits_a_linear_map() -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 3)).astype(np.float32)
    x = rng.standard_normal((400, 4)).astype(np.float32)
    b = Builder("lin")
    xv = b.input("x", "f32[20,4]")
    g = b.finish(b.nn.gemm(xv, b.const(np.zeros((4, 3), np.float32), "w"), name="y"))
    hist = fit(g, {"x": x}, x @ a, epochs=30, batch_size=20, loss="mse",
               optimizer=SGD(lr=0.1, momentum=0.5), progress_label=None)
    assert hist.loss[-1] < 1e-3 and not hist.accuracy
    np.testing.assert_allclose(g.value("w").const_value, a, atol=0.02)


def test_errors() -> None:
    g = _mlp()
    with pytest.raises(ValueError, match="no data for the graph's input"):
        fit(g, {"y": np.zeros((100, 64), np.float32)}, np.zeros(100), batch_size=10)
    with pytest.raises(ValueError, match=r"class labels must lie in \[0, 10\)"):
        fit(g, {"x": np.zeros((100, 64), np.float32)}, np.full(100, 10), batch_size=10,
            progress_label=None)
    with pytest.raises(ValueError, match="bn must be"):
        fit(g, {"x": np.zeros((100, 64), np.float32)}, np.zeros(100), bn="eval")
    with pytest.raises(ValueError, match="no constant 'nope'"):
        fit(g, {"x": np.zeros((100, 64), np.float32)}, np.zeros(100), params=["nope"])
    with pytest.raises(ValueError, match="cross_entropy or mse"):
        with_loss(g, "hinge")
    with pytest.raises(ValueError, match="no output"):
        with_loss(g, output="nope")


def test_fit_at_another_batch_size_evaluate_and_checkpoint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    xtr, ytr, xte, yte = _digits()
    g = _mlp()                                   # imported at batch 50, trained at 30
    ckpt = tmp_path / "best.irc"
    hist = fit(g, {"x": xtr}, ytr, epochs=3, batch_size=30, optimizer=Adam(lr=3e-3),
               eval_data=({"x": xte}, yte), checkpoint=ckpt, progress_label=None)
    assert g.inputs[0].type.shape == (50, 64)
    assert len(hist.val_accuracy) == 3 and hist.best_val is not None and hist.best_val > 0.85
    assert evaluate(g, {"x": xte}, yte, batch_size=64, progress_label=None) == \
        pytest.approx(hist.val_accuracy[-1])
    assert evaluate(g, {"x": xte}, yte, progress_label=None) == pytest.approx(_accuracy(g, xte, yte))
    saved = irc.load(ckpt)                       # the best epoch's parameters
    assert evaluate(saved, {"x": xte}, yte, progress_label=None) == pytest.approx(hist.best_val)
    logits = predict(g, {"x": xte[:7]}, batch_size=4)
    assert logits.shape == (7, 10)
    np.testing.assert_allclose(logits, irc.run(g, {"x": xte[:50]})["logits"][:7], rtol=1e-5,
                               atol=1e-5)


def _conv_bn(batch: int) -> irc.Graph:
    rng = np.random.default_rng(0)
    b = Builder("convbn")
    x = b.input("x", f"f32[{batch},1,8,8]")
    w = (rng.standard_normal((8, 1, 3, 3)) * 0.5).astype(np.float32)
    h = b.nn.conv2d(x, b.const(w, "c.w"), pads=(1, 1, 1, 1))
    h = b.nn.batch_norm(h, b.const(np.ones(8, np.float32), "bn.scale"),
                        b.const(np.zeros(8, np.float32), "bn.bias"),
                        b.const(np.zeros(8, np.float32), "bn.mean"),
                        b.const(np.ones(8, np.float32), "bn.var"))
    h = b.nn.flatten(b.nn.relu(h))
    fc = (rng.standard_normal((512, 10)) * 0.05).astype(np.float32)
    return b.finish(b.nn.gemm(h, b.const(fc, "fc.w"), b.const(np.zeros(10, np.float32), "fc.b"),
                              name="logits"))


def test_batch_norm_trains_on_batch_statistics_and_updates_running_ones() -> None:
    xtr, ytr, xte, yte = _digits()
    # shifted and scaled pixels: stale running statistics (0, 1) would wreck eval mode
    prep = lambda x: (x.reshape(-1, 1, 8, 8) * 3.0 + 5.0).astype(np.float32)  # noqa: E731
    g = _conv_bn(50)
    assert not g.value("bn.mean").const_value.any()
    hist = fit(g, {"x": prep(xtr)}, ytr, epochs=4, batch_size=50, optimizer=Adam(lr=3e-3),
               progress_label=None)
    mean = g.value("bn.mean").const_value
    assert np.abs(mean).max() > 1.0                 # moved toward the conv outputs' means
    assert all(not n.attrs["training"] for n in g.nodes if n.op == "nn.batch_norm")
    acc = evaluate(g, {"x": prep(xte)}, yte, progress_label=None)   # eval mode, running stats
    assert acc > 0.9 and acc > hist.accuracy[-1] - 0.05
    frozen = _conv_bn(50)
    fit(frozen, {"x": prep(xtr)}, ytr, epochs=1, batch_size=50, optimizer=Adam(lr=1e-3),
        bn="freeze", progress_label=None)
    assert not frozen.value("bn.mean").const_value.any()        # untouched


def test_batch_norm_stats_update_formula() -> None:
    g = with_loss(_conv_bn(4))
    stats = BatchNormStats(g, momentum=0.25)
    node = stats.nodes[0]
    x = np.random.default_rng(2).standard_normal((4, 8, 8, 8)) * 2 + 1
    stats.update(g, {node.inputs[0].name: x})
    mu = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(g.value("bn.mean").const_value, 0.25 * mu, rtol=1e-6)
    np.testing.assert_allclose(g.value("bn.var").const_value, 0.75 + 0.25 * var, rtol=1e-6)
    assert node.inputs[0] in g.outputs


def test_accuracy_reads_the_output_the_loss_trains() -> None:
    from irc.objectives import Supervised
    xtr, ytr, xte, yte = _digits()
    g = _mlp()
    aux = g.outputs[0].producer.inputs[0]            # the hidden layer, [B, 64]
    g.set_outputs([aux, g.outputs[0]])
    hist = fit(g, {"x": xtr}, ytr, epochs=4, batch_size=B, optimizer=Adam(lr=3e-3),
               loss=Supervised(output="logits"), eval_data=({"x": xte}, yte),
               progress_label=None)
    assert hist.accuracy[-1] > 0.9 and hist.val_accuracy[-1] > 0.85
