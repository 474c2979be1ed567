"""GEMM throughput of the C runtime against onnxruntime (and numpy for float32).

    python bench/gemm.py [--threads 1,2] [--dtype int8,f32] [--repeats 15] [--json out.json]

Each shape M×K×N becomes a one-node model, compiled for both: for irc an ``.ircm``
artifact run by ``irc.runtime.Session``; for onnxruntime (CPU provider, MLAS) an
ONNX model with the same node.  The peers, per the issue:

* int8, requantized output — irc ``qmatmul`` (u8 activations × s8 per-column
  weights → u8) vs onnxruntime ``QLinearMatMul`` (u8 × s8 → u8);
* int8, int32 output — irc ``qmatmul`` without requantization vs ``MatMulInteger``
  (u8 × s8 → i32);
* float32 — irc ``matmul`` vs onnxruntime ``MatMul`` and ``numpy.matmul``
  (numpy with this environment's ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` and
  with both unset, in a subprocess).

Timing: both sides run on inputs bound once (irc ``Session.invoke``, onnxruntime
``run_with_iobinding``), so what is timed is one call into each library, each
sample enough calls to last ≥ 2 ms, each figure a median.  One thread: the two
libraries interleaved sample by sample in this process (``--repeats`` samples).
Two threads: each configuration in fresh processes, alternating, three rounds
(``bench/timing.py``: idle worker threads of one library would otherwise spin on
the cores the other is being timed on).  GOP/s counts 2
ops per multiply-accumulate.  "% peak" is against the core's peak measured next
to each row by ``bench/peak.c`` (register-only ``vpdpbusd`` / FMA loops on zmm,
compiled here with gcc), times the thread count: this VM's clock moves by 2×, and
../shared/MACHINE.md's figures (1,046 GOP/s, 266 GFLOP/s per core) are its best
moments, shown in the header for reference.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from timing import CALLS, isolated, sampler  # noqa: E402

SHAPES = [(1, 768, 768), (128, 768, 768), (128, 768, 3072), (3136, 64, 64), (196, 1152, 128),
          (49, 4608, 512)]
PEAK_DOC = {"int8": 1046.0, "f32": 266.0}      # ../shared/MACHINE.md, per core
HERE = Path(__file__).resolve().parent


@functools.cache
def _peak_binary() -> str | None:
    out = Path(tempfile.mkdtemp(prefix="irc-peak-")) / "peak"
    res = subprocess.run(["gcc", "-O2", str(HERE / "peak.c"), "-o", str(out)],
                         capture_output=True, text=True)
    return str(out) if res.returncode == 0 else None


def peak_now(dtype: str) -> float:
    """The core's int8 (vpdpbusd) or fp32 (FMA) peak measured right now, GOP/s; falls
    back to MACHINE.md's figure where the loop cannot run."""
    exe = _peak_binary()
    if exe:
        best = 0.0
        for _ in range(2):      # the faster of two medians: a slow moment is not the peak
            out = subprocess.run([exe, "vnni" if dtype == "int8" else "fma", "9"],
                                 capture_output=True, text=True)
            if out.returncode == 0:
                best = max(best, float(out.stdout))
        if best > 0:
            return best
    return PEAK_DOC[dtype]


def measure(models: dict[str, tuple[str, bytes]], feed: np.ndarray, threads: int,
            repeats: int) -> dict[str, float]:
    """Median seconds per call of each ``name: (lib, model bytes)`` on input ``a``.  One
    thread: all in this process, interleaved sample by sample.  More threads: each
    configuration in fresh processes, alternating (bench/timing.py explains why)."""
    feeds = {"a": feed}
    if threads == 1:
        samplers = {k: sampler(CALLS[lib](blob, feeds, 1)) for k, (lib, blob) in models.items()}
        times: dict[str, list[float]] = {k: [] for k in samplers}
        for _ in range(repeats):
            for k, smp in samplers.items():
                times[k].append(smp())
        return {k: float(np.median(v)) for k, v in times.items()}
    d = Path(tempfile.mkdtemp(prefix="irc-gemm-"))
    configs = {}
    for k, (lib, blob) in models.items():
        path = d / f"{k}.{'ircm' if lib == 'irc' else 'onnx'}"
        path.write_bytes(blob)
        configs[k] = (lib, str(path), threads)
    return isolated(configs, feeds, rounds=3, samples=max(3, repeats // 3), workdir=d)


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------

def irc_int8(M: int, K: int, N: int, requant: bool, rng: np.random.Generator) -> bytes:
    from irc import Builder, DType, PerAxis, PerTensor, TensorType
    from irc.artifact import build_artifact
    from irc.fixedpoint import quantize_multiplier
    b = Builder()
    a = b.input("a", TensorType(DType.U8, (M, K), PerTensor(0.02, 128)))
    ws = rng.uniform(0.001, 0.01, N)
    w = b.const(rng.integers(-127, 128, (K, N)).astype(np.int8),
                type=TensorType(DType.I8, (K, N), PerAxis(1, tuple(map(float, ws)), (0,) * N)))
    acc = b.q.matmul(a, w)
    if requant:
        sy = 0.02 * float(np.median(ws)) * 40
        pairs = [quantize_multiplier(0.02 * s / sy) for s in ws]
        acc = b.q.requantize(acc, dtype=DType.U8, scale=sy, zero_point=128, method="fixed_point",
                             multipliers=[m for m, _ in pairs], shifts=[s for _, s in pairs])
    return build_artifact(b.finish(acc))


def irc_f32(M: int, K: int, N: int, rng: np.random.Generator) -> bytes:
    from irc import Builder
    from irc.artifact import build_artifact
    b = Builder()
    a = b.input("a", f"f32[{M},{K}]")
    w = b.const(rng.standard_normal((K, N)).astype(np.float32))
    return build_artifact(b.finish(b.nn.matmul(a, w)))


def ort_model(kind: str, M: int, K: int, N: int, rng: np.random.Generator) -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    inits, nodes = [], []
    if kind == "f32":
        inits.append(numpy_helper.from_array(rng.standard_normal((K, N)).astype(np.float32), "w"))
        nodes.append(helper.make_node("MatMul", ["a", "w"], ["y"]))
        a_t, y_t = TensorProto.FLOAT, TensorProto.FLOAT
    else:
        inits.append(numpy_helper.from_array(rng.integers(-127, 128, (K, N)).astype(np.int8), "w"))
        a_t = TensorProto.UINT8
        if kind == "MatMulInteger":
            inits += [numpy_helper.from_array(np.array(128, np.uint8), "az"),
                      numpy_helper.from_array(np.zeros(N, np.int8), "wz")]
            nodes.append(helper.make_node("MatMulInteger", ["a", "w", "az", "wz"], ["y"]))
            y_t = TensorProto.INT32
        else:
            inits += [numpy_helper.from_array(np.array(0.02, np.float32), "as"),
                      numpy_helper.from_array(np.array(128, np.uint8), "az"),
                      numpy_helper.from_array(rng.uniform(0.001, 0.01, N).astype(np.float32), "ws"),
                      numpy_helper.from_array(np.zeros(N, np.int8), "wz"),
                      numpy_helper.from_array(np.array(0.004, np.float32), "ys"),
                      numpy_helper.from_array(np.array(128, np.uint8), "yz")]
            nodes.append(helper.make_node("QLinearMatMul",
                                          ["a", "as", "az", "w", "ws", "wz", "ys", "yz"], ["y"]))
            y_t = TensorProto.UINT8
    graph = helper.make_graph(nodes, "gemm", [helper.make_tensor_value_info("a", a_t, [M, K])],
                              [helper.make_tensor_value_info("y", y_t, [M, N])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


_NUMPY_CHILD = r"""
import json, sys, time, numpy as np
M, K, N, repeats = map(int, sys.argv[1:5])
rng = np.random.default_rng(0)
a = rng.standard_normal((M, K)).astype(np.float32); w = rng.standard_normal((K, N)).astype(np.float32)
np.matmul(a, w)
t = time.perf_counter(); np.matmul(a, w); once = max(time.perf_counter() - t, 1e-7)
calls = max(1, int(2e-3 / once)); samples = []
for _ in range(repeats):
    t = time.perf_counter()
    for _ in range(calls): np.matmul(a, w)
    samples.append((time.perf_counter() - t) / calls)
print(json.dumps(float(np.median(samples))))
"""


def numpy_seconds(M: int, K: int, N: int, repeats: int, unset: bool) -> float:
    """numpy.matmul in a child process on one OpenBLAS thread, with this environment's
    OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, or with both unset."""
    env = {k: v for k, v in os.environ.items()
           if not (unset and k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"))}
    env["OPENBLAS_NUM_THREADS"] = "1"
    out = subprocess.run([sys.executable, "-c", _NUMPY_CHILD, str(M), str(K), str(N),
                          str(repeats)], env=env, capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout))


# ---------------------------------------------------------------------------------------------

def gops(M: int, K: int, N: int, seconds: float) -> float:
    return 2.0 * M * K * N / seconds / 1e9


def bench_int8(threads: int, repeats: int, rows: list[dict]) -> None:
    print(f"\nint8 GEMM, {threads} thread(s): GOP/s (median of {repeats}); ratio = irc / "
          f"onnxruntime; %peak of the vpdpbusd peak measured before each row")
    print(f"{'M×K×N':>16} | {'irc u8→u8':>9} {'%peak':>6} | {'ORT QLinearMM':>13} {'ratio':>6} | "
          f"{'irc →i32':>9} | {'ORT MatMulInt':>13} {'ratio':>6}")
    for M, K, N in SHAPES:
        rng = np.random.default_rng(0)
        feed = rng.integers(0, 256, (M, K)).astype(np.uint8)
        models = {"irc_q": ("irc", irc_int8(M, K, N, True, rng)),
                  "ort_q": ("ort", ort_model("QLinearMatMul", M, K, N, rng)),
                  "irc_i": ("irc", irc_int8(M, K, N, False, rng)),
                  "ort_i": ("ort", ort_model("MatMulInteger", M, K, N, rng))}
        peak = peak_now("int8") * threads
        t = measure(models, feed, threads, repeats)
        g = {k: gops(M, K, N, v) for k, v in t.items()}
        row = {"dtype": "int8", "threads": threads, "shape": [M, K, N], "peak_now": peak,
               **{f"gops_{k}": v for k, v in g.items()}}
        rows.append(row)
        print(f"{f'{M}×{K}×{N}':>16} | {g['irc_q']:9.0f} {100 * g['irc_q'] / peak:5.0f}% | "
              f"{g['ort_q']:13.0f} {g['irc_q'] / g['ort_q']:6.2f} | {g['irc_i']:9.0f} | "
              f"{g['ort_i']:13.0f} {g['irc_i'] / g['ort_i']:6.2f}", flush=True)


def bench_f32(threads: int, repeats: int, rows: list[dict]) -> None:
    print(f"\nfloat32 GEMM, {threads} thread(s): GFLOP/s (median of {repeats}); numpy is "
          "single-threaded OpenBLAS (env as set / both OPENBLAS_* unset)")
    print(f"{'M×K×N':>16} | {'irc':>7} {'%peak':>6} | {'ORT MatMul':>10} {'ratio':>6} | "
          f"{'numpy':>7} {'ratio':>6} | {'numpy unset':>11} {'ratio':>6}")
    for M, K, N in SHAPES:
        rng = np.random.default_rng(0)
        a = rng.standard_normal((M, K)).astype(np.float32)
        models = {"irc": ("irc", irc_f32(M, K, N, rng)),
                  "ort": ("ort", ort_model("f32", M, K, N, rng))}
        peak = peak_now("f32") * threads
        t = measure(models, a, threads, repeats)
        g = {k: gops(M, K, N, v) for k, v in t.items()}
        if threads == 1:
            g["numpy"] = gops(M, K, N, numpy_seconds(M, K, N, repeats, unset=False))
            g["numpy_unset"] = gops(M, K, N, numpy_seconds(M, K, N, repeats, unset=True))
        rows.append({"dtype": "f32", "threads": threads, "shape": [M, K, N], "peak_now": peak,
                     **{f"gflops_{k}": v for k, v in g.items()}})
        np_cols = (f"{g['numpy']:7.0f} {g['irc'] / g['numpy']:6.2f} | {g['numpy_unset']:11.0f} "
                   f"{g['irc'] / g['numpy_unset']:6.2f}") if threads == 1 else \
            f"{'-':>7} {'':>6} | {'-':>11} {'':>6}"
        print(f"{f'{M}×{K}×{N}':>16} | {g['irc']:7.0f} {100 * g['irc'] / peak:5.0f}% | "
              f"{g['ort']:10.0f} {g['irc'] / g['ort']:6.2f} | {np_cols}", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    p.add_argument("--dtype", default="int8,f32", help="int8, f32 or both")
    p.add_argument("--repeats", type=int, default=15, help="samples per figure (median)")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = p.parse_args()
    from irc.runtime import available_isas
    print(f"irc runtime kernels: {available_isas()[-1]} (best of {', '.join(available_isas())})")
    print(f"core peak now: int8 {peak_now('int8'):.0f} GOP/s, fp32 {peak_now('f32'):.0f} GFLOP/s "
          f"(MACHINE.md: {PEAK_DOC['int8']:.0f}, {PEAK_DOC['f32']:.0f})")
    rows: list[dict] = []
    for threads in map(int, args.threads.split(",")):
        if "int8" in args.dtype:
            bench_int8(threads, args.repeats, rows)
        if "f32" in args.dtype:
            bench_f32(threads, args.repeats, rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

