"""The README's first command: irc's main job on the bundled model, before and after.

    python examples/demo.py [--passes PIPELINE] [--samples N]

Imports ``examples/fashion_cnn.onnx`` (a small residual CNN trained on
Fashion-MNIST by ``examples/train_fashion_cnn.py``), compiles it with
``calibrate,quant,bias-correct`` on the 200 calibration images of
``examples/fashion_eval.npz`` for this machine's target, then prunes that int8
model (80 % of the classifier's hidden layer, the bulk of the weights, in 1×4
blocks; the sensitivity analysis of ``irc report --sensitivity`` shows the
convolutions tolerate far less) and stores it block-sparse with
``sparse-encode{objective=size}`` (a batch-1 classifier is a matrix-vector
product, where the sparse kernel saves bytes rather than time).  It writes ``fashion_cnn.int8.irc``, its QDQ ONNX twin
``fashion_cnn.int8.onnx`` and the artifacts ``fashion_cnn.{f32,int8,sparse}.ircm``,
runs all three in the C runtime, and prints sizes, top-1 accuracy on the 500
bundled test images and latency — in the numpy reference interpreter and in C.
It fails if the C runtime's integer logits differ from the interpreter's by a
single bit, or a stage costs more than 2 points of accuracy.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import irc
from irc.runtime import Session

HERE = Path(__file__).parent
PASSES = "calibrate,quant,bias-correct"
PRUNE = 'prune{sparsity=0.8,pattern=block1x4,scope=["/head/*"]},sparse-encode{objective=size}'


def constant_bytes(g: irc.Graph) -> int:
    """Bytes of the constants as stored (sparse-encoded ones as their blobs)."""
    from irc.sparse_format import stored_nbytes
    return sum(stored_nbytes(n.attrs["value"], n.output.type.encoding)
               for n in g.nodes if n.op == "const")


def accuracy(g: irc.Graph, images: np.ndarray, labels: np.ndarray) -> float:
    hits = sum(int(np.argmax(irc.run(g, {"input": images[i:i + 1]})["logits"]) == labels[i])
               for i in range(len(images)))
    return 100.0 * hits / len(images)


def latency_ms(g: irc.Graph, image: np.ndarray, repeat: int = 21) -> float:
    irc.run(g, {"input": image})
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        irc.run(g, {"input": image})
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def c_logits(s: Session, images: np.ndarray) -> np.ndarray:
    return np.concatenate([s.run({"input": images[i:i + 1]})["logits"]
                           for i in range(len(images))])


def c_latency_ms(s: Session, image: np.ndarray, repeat: int = 21) -> float:
    s.set_inputs({"input": image})
    s.invoke()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(20):
            s.invoke()
        times.append((time.perf_counter() - t0) / 20)
    return statistics.median(times) * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passes", default=PASSES, help=f"int8 pipeline (default {PASSES})")
    ap.add_argument("--prune", default=PRUNE,
                    help=f"pipeline run after it (default {PRUNE})")
    ap.add_argument("--samples", type=int, default=500, help="test images to score (<= 500)")
    args = ap.parse_args()

    data = np.load(HERE / "fashion_eval.npz")
    images = (data["test_images"][:args.samples].astype(np.float32) / 255.0)[:, None]
    labels = data["test_labels"][:args.samples]
    calib = {"input": (data["calib_images"].astype(np.float32) / 255.0)[:, None]}

    target = {"x86_64": "x86_64", "AMD64": "x86_64", "aarch64": "arm64",
              "arm64": "arm64"}.get(platform.machine(), "generic")
    before = irc.load(HERE / "fashion_cnn.onnx", input_shapes={"input": (1, 1, 28, 28)})
    t0 = time.perf_counter()
    int8 = irc.compile(before, args.passes, calib_data=calib, verify_each=True, target=target)
    sparse = irc.compile(int8, args.prune, verify_each=True, target=target)
    compile_s = time.perf_counter() - t0
    irc.save(int8, "fashion_cnn.int8.irc")
    irc.save(int8, "fashion_cnn.int8.onnx")
    irc.save(int8, "fashion_cnn.int8.ircm")
    irc.save(sparse, "fashion_cnn.sparse.ircm")
    irc.save(irc.compile(before, "fuse-bn,fuse-activation,plan-memory"), "fashion_cnn.f32.ircm")
    stages = {"float": (before, "fashion_cnn.f32.ircm"), "int8": (int8, "fashion_cnn.int8.ircm"),
              "int8+sparse": (sparse, "fashion_cnn.sparse.ircm")}
    sessions = {k: Session(path) for k, (_, path) in stages.items()}

    rows: dict[str, list[str]] = {}
    exact = True
    accs = {}
    for k, (g, path) in stages.items():
        ops = [n.op for n in g.nodes if n.op != "const"]
        logits = c_logits(sessions[k], images)
        if k != "float":        # integer models: C must give the interpreter's bytes
            interp = np.concatenate([irc.run(g, {"input": images[i:i + 1]})["logits"]
                                     for i in range(len(images))])
            exact = exact and bool(np.array_equal(logits, interp))
        accs[k] = accuracy(g, images, labels)
        rows.setdefault("nodes (non-constant)", []).append(f"{len(ops):,}")
        rows.setdefault("integer / sparse ops", []).append(
            f"{sum(op.startswith(('q.', 'sparse.q')) for op in ops)} / "
            f"{sum(op.startswith('sparse.') for op in ops)}")
        rows.setdefault("constant bytes", []).append(f"{constant_bytes(g):,}")
        rows.setdefault("artifact bytes (.ircm)", []).append(f"{Path(path).stat().st_size:,}")
        rows.setdefault(f"top-1 on {len(labels)}, interpreter", []).append(f"{accs[k]:.1f}%")
        c_acc = 100.0 * float(np.mean(np.argmax(logits, 1) == labels))
        rows.setdefault(f"top-1 on {len(labels)}, C runtime", []).append(f"{c_acc:.1f}%")
        rows.setdefault("latency, interpreter (ms)", []).append(
            f"{latency_ms(g, images[:1]):.3f}")
        rows.setdefault("latency, C runtime (ms)", []).append(
            f"{c_latency_ms(sessions[k], images[:1]):.3f}")

    print(f"\nexamples/fashion_cnn.onnx --passes {args.passes},{args.prune} --target {target}  "
          f"({compile_s:.1f} s)")
    print("  -> fashion_cnn.int8.irc, fashion_cnn.int8.onnx (QDQ, runs in onnxruntime), "
          "fashion_cnn.{f32,int8,sparse}.ircm (the C runtime's artifacts)")
    print(f"  C runtime kernels: {sessions['int8'].isa}; integer logits in C == interpreter "
          f"on all {len(labels)} images: {'yes' if exact else 'NO'}")
    print(f"{'':<30}" + "".join(f"{k:>14}" for k in stages))
    for name, cells in rows.items():
        print(f"{name:<30}" + "".join(f"{c:>14}" for c in cells))
    ok = accs["int8"] >= accs["float"] - 2.0 and accs["int8+sparse"] >= accs["int8"] - 2.0
    return 0 if exact and ok else 1


if __name__ == "__main__":
    sys.exit(main())
