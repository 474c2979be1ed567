"""qspmm and spmm on arm64 under qemu: fixed-seed sparse graphs (csr and bsr blocks,
both layouts, int8 and float) written as artifacts and run by the C driver built for
aarch64, on every kernel level of ``cortex-a76`` (scalar, neon, neondot) and
``cortex-a53`` (scalar, neon; no dot product), and with two threads: int8 gives the
interpreter's bytes, float agrees within 1e-4·√K (docs/artifact.md).  The arm64 int8
families take int8 activations (act_signed), the scalar twin uint8: both packings run."""

from __future__ import annotations

import numpy as np
import pytest

import irc
from irc import DType

from arm64 import cross_available, missing_tools
from rt_helpers import (build_arm64_driver, random_feeds, run_under_qemu, sparse_fgraph,
                        sparse_float_tolerance, sparse_qgraph)

pytestmark = pytest.mark.skipif(
    not cross_available(), reason=f"arm64 cross tools missing: {', '.join(missing_tools())}")

# IRC_ISA_* masks of each level (irc_runtime.h) and the levels each CPU model has
MASKS = {"scalar": 0x01, "neon": 0x09, "neondot": 0x19}
CPUS = {"cortex-a76": ["scalar", "neon", "neondot"], "cortex-a53": ["scalar", "neon"]}
ENCODINGS = ["csr", (1, 4), (4, 1), (4, 4), (8, 1), (2, 2), (3, 5)]


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    return build_arm64_driver(tmp_path_factory.mktemp("arm64") / "run_artifact")


def graphs():
    rng = np.random.default_rng(29)
    cases = []
    for i, enc in enumerate(ENCODINGS):
        density = [0.0, 0.05, 0.3, 0.7, 1.0, 0.3, 0.5][i]
        xdt = [DType.I8, DType.U8][i % 2]
        ydt = [DType.I8, DType.U8, None][i % 3]
        cases.append(sparse_qgraph(rng, layout=0, N=int(rng.integers(1, 30)),
                                   K=int(rng.integers(1, 40)), enc=enc, density=density,
                                   B=2, H=3, W=5, xdt=xdt, ydt=ydt, per_channel=i % 2 == 0,
                                   bias=i % 3 != 1, empty_rows=True))
        cases.append(sparse_qgraph(rng, layout=1, N=int(rng.integers(1, 30)),
                                   K=int(rng.integers(1, 40)), enc=enc, density=density,
                                   M=[1, 3, 17][i % 3], batch=(2,) if i % 2 else (),
                                   xdt=xdt, ydt=ydt, per_channel=i % 2 == 1))
        cases.append(sparse_fgraph(rng, layout=i % 2, N=int(rng.integers(1, 30)),
                                   K=int(rng.integers(1, 40)), enc=enc, density=density,
                                   M=[1, 4][i % 2], clamp=(-0.5, 2.0) if i % 3 == 0 else None))
    # big enough to be split over two threads (columns, then row blocks)
    cases.append(sparse_qgraph(rng, layout=0, N=96, K=130, enc=(4, 1), density=0.6, H=16, W=16))
    cases.append(sparse_qgraph(rng, layout=1, N=512, K=260, enc=(8, 1), density=0.6, M=2))
    return cases


@pytest.mark.parametrize("cpu", list(CPUS))
def test_sparse_graphs_under_qemu(driver, tmp_path, cpu):
    rng = np.random.default_rng(3)
    runs = 0
    for i, g in enumerate(graphs()):
        feeds = random_feeds(rng, g)
        want = irc.run(g, feeds)
        tol = None
        for level in CPUS[cpu]:
            threads = 2 if level == CPUS[cpu][-1] else 1
            chosen, got = run_under_qemu(driver, g, feeds, tmp_path / f"g{i}-{level}", cpu,
                                         ["--isa", str(MASKS[level]), "--threads", str(threads)])
            assert chosen == level
            runs += 1
            for name, ref in want.items():
                where = f"graph {i} ({g.nodes[-1].op}) on {cpu}, {level} x{threads}"
                if ref.dtype.kind == "f":
                    tol = sparse_float_tolerance(g, feeds) if tol is None else tol
                    assert np.all(np.abs(got[name].astype(np.float64) - ref) <= tol), where
                else:
                    assert np.array_equal(got[name], ref), where
    assert runs == len(graphs()) * len(CPUS[cpu])
