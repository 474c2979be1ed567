"""The integer elementwise, pooling and data-movement ops on arm64 under qemu: the op
chains of op_chains.py, written as artifacts and run by the C driver built for aarch64,
give the interpreter's results (bytes for integers, float32 within 1e-6: the global
average is summed in double) on cortex-a76 (neondot level) and cortex-a53 (neon)."""

from __future__ import annotations

import numpy as np
import pytest

import irc

from arm64 import cross_available, missing_tools
from op_chains import chain_feeds, data_chain, int8_chain
from rt_helpers import build_arm64_driver, run_under_qemu

pytestmark = pytest.mark.skipif(
    not cross_available(), reason=f"arm64 cross tools missing: {', '.join(missing_tools())}")

CPUS = {"cortex-a76": "neondot", "cortex-a53": "neon"}


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    return build_arm64_driver(tmp_path_factory.mktemp("arm64_ops") / "run_artifact")


@pytest.mark.parametrize("cpu", list(CPUS))
def test_op_chains_under_qemu(driver, tmp_path, cpu):
    rng = np.random.default_rng(7)
    for i, g in enumerate([int8_chain(), data_chain()]):
        feeds = chain_feeds(rng, g)
        level, got = run_under_qemu(driver, g, feeds, tmp_path / f"m{i}", cpu)
        assert level == CPUS[cpu]
        for name, want in irc.run(g, feeds).items():
            if want.dtype.kind == "f":
                np.testing.assert_allclose(got[name], want, rtol=1e-6, atol=1e-6,
                                           equal_nan=True,
                                           err_msg=f"graph {i} output {name} on {cpu}")
            else:
                assert np.array_equal(got[name], want), \
                    f"graph {i} output {name} differs on {cpu}"
