"""The whole runtime on arm64 under qemu: random quantized graphs (conv, depthwise,
pointwise, matmul) written as artifacts, run by the C driver built for aarch64, give
the interpreter's bytes on ``cortex-a76`` (neondot kernels) and ``cortex-a53``
(plain NEON: no dot product)."""

from __future__ import annotations

import numpy as np
import pytest

import irc
from irc import DType

from arm64 import cross_available, missing_tools
from rt_helpers import (build_arm64_driver, qconv_graph, qmatmul_graph, random_feeds,
                        run_under_qemu)

pytestmark = pytest.mark.skipif(
    not cross_available(), reason=f"arm64 cross tools missing: {', '.join(missing_tools())}")

CPUS = {"cortex-a76": "neondot", "cortex-a53": "neon"}


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    return build_arm64_driver(tmp_path_factory.mktemp("arm64") / "run_artifact")


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
        feeds = random_feeds(rng, g)
        level, got = run_under_qemu(driver, g, feeds, tmp_path / f"m{i}", cpu)
        assert level == CPUS[cpu]
        for name, want in irc.run(g, feeds).items():
            assert np.array_equal(got[name], want), f"graph {i} output {name} differs on {cpu}"
