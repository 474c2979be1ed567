"""The README's first command: compile the bundled model and compare before/after.

    python examples/demo.py [MODEL.irc] [--passes PIPELINE]

Loads ``examples/small_cnn.irc``, runs the cleanup pipeline, and prints nodes,
parameter bytes, agreement of the outputs and interpreter latency before and
after.  As irc grows (quantization, pruning, the C runtime) this demo grows
into the full pipeline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import irc
from irc.interpreter import random_inputs

DEFAULT_PASSES = "fold,noop-elim,fuse-bn,fuse-activation,dce"


def bytes_of(g: irc.Graph) -> int:
    return sum(n.output.type.nbytes for n in g.nodes if n.op == "const")


def latency_ms(g: irc.Graph, feeds: dict, repeat: int = 15) -> float:
    irc.run(g, feeds)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        irc.run(g, feeds)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> int:
    here = Path(__file__).parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", default=str(here / "small_cnn.irc"))
    ap.add_argument("--passes", default=DEFAULT_PASSES)
    args = ap.parse_args()

    before = irc.load(args.model)
    after = irc.compile(before, args.passes, verify_each=True, time_passes=True)
    out = Path("small_cnn.opt.irc")
    irc.save(after, out)

    samples = [random_inputs(before, seed=s) for s in range(20)]
    agree, max_err = 0, 0.0
    for feeds in samples:
        a = next(iter(irc.run(before, feeds).values()))
        b = next(iter(irc.run(after, feeds).values()))
        agree += int(a.argmax() == b.argmax())
        max_err = max(max_err, float(np.abs(a - b).max()))
    lat_b, lat_a = latency_ms(before, samples[0]), latency_ms(after, samples[0])

    print(f"\n{args.model} -> {out}  ({args.passes})")
    print(f"{'':<22} {'before':>12} {'after':>12}")
    print(f"{'nodes':<22} {len(before.nodes):>12} {len(after.nodes):>12}")
    print(f"{'constant bytes':<22} {bytes_of(before):>12,} {bytes_of(after):>12,}")
    print(f"{'latency (interp, ms)':<22} {lat_b:>12.2f} {lat_a:>12.2f}")
    print(f"top-1 agreement on {len(samples)} random inputs: {agree}/{len(samples)}, "
          f"max |difference| {max_err:.2e}")
    return 0 if agree == len(samples) else 1


if __name__ == "__main__":
    sys.exit(main())
