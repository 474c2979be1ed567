"""The README's first command: irc's main job on the bundled model, before and after.

    python examples/demo.py [--passes PIPELINE] [--samples N]

Imports ``examples/fashion_cnn.onnx`` (a small residual CNN trained on
Fashion-MNIST by ``examples/train_fashion_cnn.py``), compiles it with
``calibrate,quant,bias-correct`` on the 200 calibration images of
``examples/fashion_eval.npz`` for this machine's target, writes
``fashion_cnn.int8.irc``, its QDQ ONNX twin ``fashion_cnn.int8.onnx`` and the
artifact ``fashion_cnn.int8.ircm`` (plus ``fashion_cnn.f32.ircm`` of the float
model), runs both artifacts in the C runtime, and prints sizes, top-1 accuracy
on the 500 bundled test images and latency, float vs int8 — in the numpy
reference interpreter and in C.  It fails if the C runtime's int8 logits differ
from the interpreter's by a single bit, or accuracy drops by more than 2 points.
(Pruning and sparse encodings join the pipeline as they land.)
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


def constant_bytes(g: irc.Graph) -> int:
    return sum(n.output.type.nbytes for n in g.nodes if n.op == "const")


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
    ap.add_argument("--passes", default=PASSES, help=f"pipeline (default {PASSES})")
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
    after = irc.compile(before, args.passes, calib_data=calib, verify_each=True, target=target)
    compile_s = time.perf_counter() - t0
    irc.save(after, "fashion_cnn.int8.irc")
    irc.save(after, "fashion_cnn.int8.onnx")
    irc.save(after, "fashion_cnn.int8.ircm")
    irc.save(irc.compile(before, "fuse-bn,fuse-activation,plan-memory"), "fashion_cnn.f32.ircm")
    c_before, c_after = Session("fashion_cnn.f32.ircm"), Session("fashion_cnn.int8.ircm")

    ops = [n.op for n in after.nodes if n.op != "const"]
    n_int = sum(op.startswith("q.") and op not in ("q.quantize", "q.dequantize") for op in ops)
    acc_b, acc_a = accuracy(before, images, labels), accuracy(after, images, labels)
    lat_b, lat_a = latency_ms(before, images[:1]), latency_ms(after, images[:1])
    logits_b, logits_a = c_logits(c_before, images), c_logits(c_after, images)
    c_acc_b = 100.0 * float(np.mean(np.argmax(logits_b, 1) == labels))
    c_acc_a = 100.0 * float(np.mean(np.argmax(logits_a, 1) == labels))
    interp_a = np.concatenate([irc.run(after, {"input": images[i:i + 1]})["logits"]
                               for i in range(len(images))])
    exact = bool(np.array_equal(logits_a, interp_a))
    c_lat_b, c_lat_a = c_latency_ms(c_before, images[:1]), c_latency_ms(c_after, images[:1])
    size_b = Path("fashion_cnn.f32.ircm").stat().st_size
    size_a = Path("fashion_cnn.int8.ircm").stat().st_size

    print(f"\nexamples/fashion_cnn.onnx --passes {args.passes} --target {target}  "
          f"({compile_s:.1f} s)")
    print("  -> fashion_cnn.int8.irc, fashion_cnn.int8.onnx (QDQ, runs in onnxruntime), "
          "fashion_cnn.int8.ircm (the C runtime's artifact)")
    print(f"  C runtime kernels: {c_after.isa}; int8 logits in C == interpreter on all "
          f"{len(labels)} images: {'yes' if exact else 'NO'}")
    print(f"{'':<28} {'float':>10} {'int8':>10}")
    print(f"{'nodes (non-constant)':<28} "
          f"{sum(n.op != 'const' for n in before.nodes):>10} {len(ops):>10}")
    print(f"{'integer ops':<28} {0:>10} {n_int:>10}")
    print(f"{'constant bytes':<28} {constant_bytes(before):>10,} {constant_bytes(after):>10,}")
    print(f"{'artifact bytes (.ircm)':<28} {size_b:>10,} {size_a:>10,}")
    print(f"{f'top-1 on {len(labels)}, interpreter':<28} {acc_b:>9.1f}% {acc_a:>9.1f}%")
    print(f"{f'top-1 on {len(labels)}, C runtime':<28} {c_acc_b:>9.1f}% {c_acc_a:>9.1f}%")
    print(f"{'latency, interpreter (ms)':<28} {lat_b:>10.3f} {lat_a:>10.3f}")
    print(f"{'latency, C runtime (ms)':<28} {c_lat_b:>10.3f} {c_lat_a:>10.3f}")
    return 0 if exact and acc_a >= acc_b - 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
