"""The README's first command: irc's main job on the bundled model, before and after.

    python examples/demo.py [--passes PIPELINE] [--samples N]

Imports ``examples/fashion_cnn.onnx`` (a small residual CNN trained on
Fashion-MNIST by ``examples/train_fashion_cnn.py``), compiles it with
``calibrate,quant,bias-correct`` on the 200 calibration images of
``examples/fashion_eval.npz``, writes ``fashion_cnn.int8.irc`` and its QDQ ONNX
twin ``fashion_cnn.int8.onnx``, and prints constant bytes, top-1 accuracy on
the 500 bundled test images and interpreter latency, float vs int8.

The interpreter is numpy, so the integer graph is not faster here; speed comes
with the C runtime, which this demo will run once it exists (then pruning and
sparse encodings join the pipeline too).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import irc

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passes", default=PASSES, help=f"pipeline (default {PASSES})")
    ap.add_argument("--samples", type=int, default=500, help="test images to score (<= 500)")
    args = ap.parse_args()

    data = np.load(HERE / "fashion_eval.npz")
    images = (data["test_images"][:args.samples].astype(np.float32) / 255.0)[:, None]
    labels = data["test_labels"][:args.samples]
    calib = {"input": (data["calib_images"].astype(np.float32) / 255.0)[:, None]}

    before = irc.load(HERE / "fashion_cnn.onnx", input_shapes={"input": (1, 1, 28, 28)})
    t0 = time.perf_counter()
    after = irc.compile(before, args.passes, calib_data=calib, verify_each=True)
    compile_s = time.perf_counter() - t0
    irc.save(after, "fashion_cnn.int8.irc")
    irc.save(after, "fashion_cnn.int8.onnx")

    ops = [n.op for n in after.nodes if n.op != "const"]
    n_int = sum(op.startswith("q.") and op not in ("q.quantize", "q.dequantize") for op in ops)
    acc_b, acc_a = accuracy(before, images, labels), accuracy(after, images, labels)
    lat_b, lat_a = latency_ms(before, images[:1]), latency_ms(after, images[:1])

    print(f"\nexamples/fashion_cnn.onnx --passes {args.passes}  ({compile_s:.1f} s)")
    print("  -> fashion_cnn.int8.irc, fashion_cnn.int8.onnx (QDQ, runs in onnxruntime)")
    print(f"{'':<28} {'float':>10} {'int8':>10}")
    print(f"{'nodes (non-constant)':<28} "
          f"{sum(n.op != 'const' for n in before.nodes):>10} {len(ops):>10}")
    print(f"{'integer ops':<28} {0:>10} {n_int:>10}")
    print(f"{'constant bytes':<28} {constant_bytes(before):>10,} {constant_bytes(after):>10,}")
    print(f"{f'top-1 on {len(labels)} test images':<28} {acc_b:>9.1f}% {acc_a:>9.1f}%")
    print(f"{'latency (interpreter, ms)':<28} {lat_b:>10.2f} {lat_a:>10.2f}")
    return 0 if acc_a >= acc_b - 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
