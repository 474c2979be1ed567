"""The integer elementwise, pooling and data-movement ops on arm64 under qemu: the op
chains of op_chains.py, written as artifacts and run by the C driver built for aarch64,
give the interpreter's results (bytes for integers, float32 within 1e-6: the global
average is summed in double) on cortex-a76 (neondot level) and cortex-a53 (neon)."""

from __future__ import annotations

import numpy as np
import pytest

import irc
from irc.artifact import build_artifact

from arm64 import build_arm64, cross_available, missing_tools, run_qemu
from op_chains import chain_feeds, data_chain, int8_chain
from rt_helpers import DRIVER, runtime_sources

pytestmark = pytest.mark.skipif(
    not cross_available(), reason=f"arm64 cross tools missing: {', '.join(missing_tools())}")

CPUS = {"cortex-a76": "neondot", "cortex-a53": "neon"}


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    out = tmp_path_factory.mktemp("arm64_ops") / "run_artifact"
    return build_arm64([DRIVER, *runtime_sources()], out, ["-DIRC_THREADS=1", "-pthread"])


@pytest.mark.parametrize("cpu", list(CPUS))
def test_op_chains_under_qemu(driver, tmp_path, cpu):
    rng = np.random.default_rng(7)
    for i, g in enumerate([int8_chain(), data_chain()]):
        model = tmp_path / f"m{i}.ircm"
        model.write_bytes(build_artifact(g))
        feeds = chain_feeds(rng, g)
        files = []
        for v in g.inputs:
            p = tmp_path / f"m{i}_{v.name}.bin"
            p.write_bytes(np.ascontiguousarray(feeds[v.name]).tobytes())
            files.append(str(p))
        outdir = tmp_path / f"out{i}"
        outdir.mkdir()
        res = run_qemu(driver, [str(model), str(outdir), *files], cpu=cpu)
        assert res.stdout.strip() == CPUS[cpu]
        for k, (name, want) in enumerate(irc.run(g, feeds).items()):
            got = np.fromfile(outdir / f"output{k}.bin", dtype=want.dtype).reshape(want.shape)
            if want.dtype.kind == "f":
                np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, equal_nan=True,
                                           err_msg=f"graph {i} output {name} on {cpu}")
            else:
                assert np.array_equal(got, want), f"graph {i} output {name} differs on {cpu}"
