"""irc train / irc distill on the command line (sklearn's 8x8 digits)."""

from __future__ import annotations

import numpy as np
import pytest

import irc
from irc.builder import Builder
from irc.cli import main
from irc.train import evaluate


@pytest.fixture()
def files(tmp_path):  # type: ignore[no-untyped-def]
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    x, y = (d.data / 16).astype(np.float32), d.target
    np.savez(tmp_path / "train.npz", x=x[:1500], labels=y[:1500])
    np.savez(tmp_path / "test.npz", x=x[1500:], labels=y[1500:])
    rng = np.random.default_rng(0)

    def mlp(hidden: int, name: str) -> None:
        b = Builder(name)
        xv = b.input("x", "f32[1,64]")
        w1 = (rng.standard_normal((64, hidden)) * np.sqrt(2 / 64)).astype(np.float32)
        h = b.nn.relu(b.nn.gemm(xv, b.const(w1, "fc1.w"),
                                b.const(np.zeros(hidden, np.float32), "fc1.b"), name="h"))
        w2 = (rng.standard_normal((hidden, 10)) * np.sqrt(1 / hidden)).astype(np.float32)
        irc.save(b.finish(b.nn.gemm(h, b.const(w2, "fc2.w"),
                                    b.const(np.zeros(10, np.float32), "fc2.b"), name="logits")),
                 tmp_path / f"{name}.irc")
    mlp(64, "big")
    mlp(16, "small")
    return tmp_path, x[1500:], y[1500:]


def test_train_then_qat_then_compile(files, capsys) -> None:  # type: ignore[no-untyped-def]
    d, xte, yte = files
    assert main(["train", str(d / "big.irc"), "--data", str(d / "train.npz"), "--eval-data",
                 str(d / "test.npz"), "--epochs", "8", "--batch-size", "50", "--lr", "3e-3",
                 "--checkpoint", str(d / "ckpt.irc"), "-o", str(d / "t.irc")]) == 0
    out = capsys.readouterr().out
    assert "epoch 8: loss" in out and "eval top-1" in out
    trained = irc.load(d / "t.irc")
    assert evaluate(trained, {"x": xte}, yte, progress_label=None) > 0.85
    assert (d / "ckpt.irc").exists()
    assert main(["train", str(d / "t.irc"), "--passes", "fake-quant{bits=4}", "--calib-data",
                 str(d / "test.npz"), "--data", str(d / "train.npz"), "--epochs", "1",
                 "--batch-size", "50", "--lr", "1e-4", "-o", str(d / "q.irc")]) == 0
    assert main(["compile", str(d / "q.irc"), "--passes", "quant{bits=4}", "-o",
                 str(d / "q4.irc")]) == 0
    q4 = irc.load(d / "q4.irc")
    assert any(n.op == "q.matmul" for n in q4.nodes)
    assert evaluate(q4, {"x": xte}, yte, progress_label=None) > 0.8


def test_train_with_pruning_and_distill(files, capsys) -> None:  # type: ignore[no-untyped-def]
    d, xte, yte = files
    assert main(["train", str(d / "big.irc"), "--data", str(d / "train.npz"), "--epochs", "3",
                 "--batch-size", "50", "--lr", "3e-3", "--prune",
                 "sparsity=0.8,keep_first=false,keep_last=false", "-o", str(d / "p.irc")]) == 0
    p = irc.load(d / "p.irc")
    w = p.value("fc1.w").const_value
    assert np.count_nonzero(w) / w.size <= 0.2 + 1e-6 and p.attrs.get("prune")
    assert main(["distill", str(d / "small.irc"), "--teacher", str(d / "p.irc"), "--data",
                 str(d / "train.npz"), "--epochs", "5", "--batch-size", "50", "--lr", "3e-3",
                 "--hint", "h=h", "-o", str(d / "s.irc")]) == 0
    s = irc.load(d / "s.irc")
    assert evaluate(s, {"x": xte}, yte, progress_label=None) > 0.6


@pytest.mark.parametrize("argv, message", [
    (["--data", "{d}/nope.npz"], "--data {d}/nope.npz: no such file"),
    (["--data", "{d}/train.npz", "--labels-key", "y"], "no 'y' array of targets"),
    (["--data", "{d}/train.npz", "--prune", "sparsity=2"], "sparsity"),
])
def test_errors(files, capsys, argv, message) -> None:  # type: ignore[no-untyped-def]
    d, _, _ = files
    args = ["train", str(d / "big.irc"), *[a.format(d=d) for a in argv], "-o", str(d / "o.irc")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert message.format(d=d) in err and "Traceback" not in err
    assert not (d / "o.irc").exists()
