"""The whole runtime on arm64 under qemu: random quantized graphs (conv, depthwise,
pointwise, matmul) written as artifacts, run by the C driver built for aarch64, give
the interpreter's bytes on ``cortex-a76`` (neondot kernels) and ``cortex-a53``
(plain NEON: no dot product)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

import irc
from irc import DType
from irc.artifact import build_artifact

from arm64 import build_arm64, cross_available, missing_tools, run_qemu
from rt_helpers import DRIVER, qconv_graph, qmatmul_graph, random_feeds, runtime_sources

pytestmark = pytest.mark.skipif(
    not cross_available(), reason=f"arm64 cross tools missing: {', '.join(missing_tools())}")

CPUS = {"cortex-a76": "neondot", "cortex-a53": "neon"}


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    out = tmp_path_factory.mktemp("arm64") / "run_artifact"
    return build_arm64([DRIVER, *runtime_sources()], out, ["-DIRC_THREADS=1", "-pthread"])


def graphs():
    rng = np.random.default_rng(11)
    cases = [
        qconv_graph(rng),
        qconv_graph(rng, C=6, OC=9, H=11, W=13, KH=1, KW=1, pads=(0, 0, 0, 0), xdt=DType.U8),
        qconv_graph(rng, C=7, OC=7, groups=7, stride=(2, 2), H=15, W=10, ydt=DType.U8),
        qconv_graph(rng, C=4, OC=6, groups=2, KH=2, KW=3, dil=(2, 1), wdt=DType.U8, ydt=None),
        qmatmul_graph(rng, M=9, K=37, N=21),
        qmatmul_graph(rng, M=4, K=16, N=33, const_b=False, batch=(3,), adt=DType.U8),
        qmatmul_graph(rng, M=1, K=130, N=70, bdt=DType.U8, ydt=DType.U8),
    ]
    for _ in range(8):   # random geometry, as the host tier's hypothesis cases
        cases.append(qconv_graph(rng, C=int(rng.integers(1, 9)), OC=int(rng.integers(1, 9)),
                                 H=int(rng.integers(3, 12)), W=int(rng.integers(3, 12)),
                                 stride=(int(rng.integers(1, 3)),) * 2,
                                 xdt=[DType.I8, DType.U8][int(rng.integers(2))]))
    return cases


@pytest.mark.parametrize("cpu", list(CPUS))
def test_graphs_bit_exact_under_qemu(driver, tmp_path, cpu):
    rng = np.random.default_rng(5)
    for i, g in enumerate(graphs()):
        model = tmp_path / f"m{i}.ircm"
        model.write_bytes(build_artifact(g))
        feeds = random_feeds(rng, g)
        files = []
        for v in g.inputs:
            p = tmp_path / f"m{i}_{v.name}.bin"
            p.write_bytes(np.ascontiguousarray(feeds[v.name]).tobytes())
            files.append(str(p))
        outdir = tmp_path / f"out{i}"
        outdir.mkdir()
        res = run_qemu(driver, [str(model), str(outdir), *files], cpu=cpu)
        assert res.returncode == 0, res.describe()
        assert res.stdout.strip() == CPUS[cpu]
        ref = irc.run(g, feeds)
        for k, (name, want) in enumerate(ref.items()):
            got = np.fromfile(outdir / f"output{k}.bin", dtype=want.dtype).reshape(want.shape)
            assert np.array_equal(got, want), f"graph {i} output {name} differs on {cpu}"
