"""Pruning sensitivity: the sweep, the metric chosen from the data, a proposal
whose joint drop stays within the budget, the pipeline it prints, the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import irc
from irc import sparsity as sp
from irc.builder import Builder
from irc.cli import main
from irc.errors import InputError
from irc.sensitivity import Evaluator, analyze, load_eval_data, pruned_copy

REPO = Path(__file__).resolve().parents[2]
FASHION = REPO / "examples" / "fashion_cnn.onnx"


@pytest.fixture(scope="module")
def fashion() -> irc.Graph:
    return irc.load(FASHION, input_shapes={"input": (1, 1, 28, 28)})


@pytest.fixture(scope="module")
def fashion_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = np.load(REPO / "examples" / "fashion_eval.npz")
    path = tmp_path_factory.mktemp("sens") / "eval.npz"
    np.savez(path, input=(d["test_images"][:40].astype(np.float32) / 255.0)[:, None],
             labels=d["test_labels"][:40])
    return path


def _mlp(seed: int = 0, classes: int = 5) -> irc.Graph:
    rng = np.random.default_rng(seed)
    b = Builder("mlp")
    x = b.input("x", "f32[2,12]")
    h = b.nn.relu(b.nn.gemm(x, b.const(rng.standard_normal((12, 16)).astype(np.float32), "w0")))
    h = b.nn.relu(b.nn.gemm(h, b.const(rng.standard_normal((16, 16)).astype(np.float32), "w1"),
                            loc="hidden"))
    return b.finish(b.nn.gemm(h, b.const(rng.standard_normal((16, classes))
                                         .astype(np.float32), "w2")))


def _inputs(n: int = 16) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(1).standard_normal((n, 12)).astype(np.float32)}


def test_joint_drop_within_budget_on_fashion(fashion: irc.Graph, fashion_data: Path) -> None:
    r = analyze(fashion, fashion_data, budget=2.5, sparsities=(0.5, 0.8, 0.95))
    assert r.metric == "accuracy" and r.samples == 40
    assert [row.layer for row in r.layers] == ["/conv3/conv3.0/Conv", "/dw/dw.0/Conv",
                                               "/head/head.1/Gemm"]
    assert all(set(row.scores) == {0.5, 0.8, 0.95} for row in r.layers)
    assert r.joint is not None and r.joint_drop is not None and r.joint_drop <= 2.5
    assert any(row.proposed > 0 for row in r.layers)
    for row in r.layers:                      # a proposal was within budget on its own
        if row.proposed:
            assert r.baseline - row.scores[row.proposed] <= 2.5
    # the printed pipeline reproduces the joint result
    pipe = r.pipeline()
    assert pipe.startswith("prune{sparsity=0.0,layers=[")
    pruned = irc.compile(fashion, pipe)
    feeds, labels = load_eval_data(fashion_data, fashion)
    ev = Evaluator(fashion, feeds, labels)
    assert ev.score(pruned) == pytest.approx(r.joint)
    recs = sp.records(pruned)
    assert {k: round(v.sparsity, 2) for k, v in recs.items()} == \
        {row.weight: row.proposed for row in r.layers if row.proposed}
    text = r.summary()
    assert "top-1 accuracy" in text and "pipeline: prune{" in text and "proposed" in text


def test_backoff_until_the_budget_holds() -> None:
    """Each layer alone drops 1 point per 0.1 of sparsity; jointly the drops add
    up.  With budget 6: alone each may go to 0.5; together the largest back off
    first, to levels that were within budget alone, until the sum is <= 6."""
    from irc.sensitivity import LayerSweep, SensitivityReport, _propose

    class Additive:
        def score(self, graph: irc.Graph) -> float:
            return 100.0 - 10 * sum(r.sparsity for r in sp.records(graph).values())

    g = _mlp()
    levels = (0.2, 0.3, 0.5, 0.7)
    rows = [LayerSweep(w, w, "nn.gemm", 100, {s: 100.0 - 10 * s for s in levels})
            for w in ("w0", "w1", "w2")]
    r = SensitivityReport("accuracy", 100.0, "unstructured", levels, 6.0, 16, rows)
    _propose(r, g, Additive(), sp.parse_pattern("unstructured"), "l1")  # type: ignore[arg-type]
    assert [row.proposed for row in rows] == [0.2, 0.2, 0.2]
    assert r.backoffs == 6 and r.joint == pytest.approx(94.0, abs=0.1)   # 0.2 of 192: 38


def test_metrics_follow_the_data() -> None:
    g = _mlp()
    feeds, labels = load_eval_data({**_inputs(), "labels": np.arange(16) % 5}, g)
    assert len(feeds) == 8 and labels is not None and labels.shape == (16,)
    assert Evaluator(g, feeds, labels).metric == "accuracy"
    ev = Evaluator(g, feeds)
    assert ev.metric == "agreement" and ev.baseline == 100.0
    one = _mlp(classes=1)
    ev1 = Evaluator(one, load_eval_data(_inputs(), one)[0])
    assert ev1.metric == "cosine" and ev1.baseline == pytest.approx(100.0)
    worse = pruned_copy(one, {"w1": 0.9}, "unstructured")
    assert ev1.score(worse) < 100.0
    with pytest.raises(InputError, match="not a classifier"):
        Evaluator(one, load_eval_data(_inputs(), one)[0], np.zeros(16))


def test_nm_sweeps_its_one_sparsity() -> None:
    g = _mlp()
    r = analyze(g, _inputs(), pattern="2:4", budget=100.0, keep_first=False)
    assert r.sparsities == (0.5,) and r.pattern == "2:4"
    assert r.pipeline() == "prune{sparsity=0.0,pattern=nm,layers=[w0:0.5,w1:0.5]}"
    assert [row.proposed for row in r.layers] == [0.5, 0.5]


def test_pipeline_with_passes_before() -> None:
    g = _mlp()
    r = analyze(g, _inputs(), budget=100.0, sparsities=(0.5,), prefix="calibrate,quant",
                keep_first=False, keep_last=False)
    assert r.pipeline().startswith("calibrate,quant,prune{")
    with pytest.raises(InputError, match="no prunable layer"):
        analyze(g, _inputs(), scope=["nothing"])


def test_plot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = analyze(_mlp(), _inputs(), budget=5.0, sparsities=(0.5, 0.9), keep_first=False)
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "matplotlib", None)
        with pytest.raises(InputError, match="matplotlib"):
            r.plot(tmp_path / "x.png")
    pytest.importorskip("matplotlib")
    r.plot(tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_cli(fashion_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["report", str(FASHION), "--input-shape", "input=1,1,28,28", "--sensitivity",
            "--eval-data", str(fashion_data), "--sparsities", "0.5,0.9", "--pattern",
            "block4x1", "--budget", "3", "--scope", "*Gemm", "--num-samples", "20"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "pattern block4x1, 20 samples" in out and "/head/head.1/Gemm" in out
    assert "/conv3/conv3.0/Conv" not in out and "pipeline: " in out
    assert main(["report", str(FASHION), "--input-shape", "input=1,1,28,28",
                 "--sensitivity"]) == 1
    assert "--eval-data" in capsys.readouterr().err
    assert main(["report", str(FASHION), "--input-shape", "input=1,1,28,28"]) == 1
    assert "--calib-data" in capsys.readouterr().err
    assert main(args[:-2] + ["--sparsities", "lots"]) == 1
    assert "--sparsities" in capsys.readouterr().err


def test_sweep_an_int8_model() -> None:
    g = _mlp()
    q = irc.compile(g, "calibrate,quant", calib_data=_inputs())
    r = analyze(q, _inputs(), budget=100.0, sparsities=(0.5, 0.9), keep_first=False,
                keep_last=False, prefix="calibrate,quant")
    assert {row.op for row in r.layers} == {"q.matmul"}
    assert all(row.proposed == 0.9 for row in r.layers)
    pruned = irc.compile(g, r.pipeline(), calib_data=_inputs())
    assert {k: round(v.sparsity, 1) for k, v in sp.records(pruned).items()} == \
        {row.weight: 0.9 for row in r.layers}
