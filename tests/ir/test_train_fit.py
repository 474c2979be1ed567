"""fit(): training a graph's float constants with irc.autodiff, on scikit-learn's
bundled 8x8 digits."""

from __future__ import annotations

import numpy as np
import pytest

import irc
from irc import sparsity
from irc.builder import Builder
from irc.train import SGD, Adam, fit, with_loss

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
    with pytest.raises(ValueError, match="batch"):
        fit(g, {"x": np.zeros((100, 64), np.float32)}, np.zeros(100), batch_size=10)
    with pytest.raises(ValueError, match="cross_entropy or mse"):
        with_loss(g, "hinge")
    with pytest.raises(ValueError, match="no output"):
        with_loss(g, output="nope")
