"""Hostile artifacts: every truncation and thousands of corrupted variants of valid
files are rejected with a message, or (if a corruption happens to stay valid) run,
and never crash or touch memory out of bounds — checked under AddressSanitizer and
UndefinedBehaviorSanitizer with the C driver (tests/runtime/c/run_artifact.c)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from irc import DType
from irc.artifact import build_artifact

from rt_helpers import (SANITIZE, build_driver, corruptions, have_cc, qconv_graph,
                        qmatmul_graph, sparse_corruptions, sparse_fgraph, sparse_qgraph,
                        write_pack)

pytestmark = pytest.mark.skipif(not have_cc(), reason="needs gcc")


def models() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {
        "qconv": build_artifact(qconv_graph(rng, C=4, OC=6, groups=2)),
        "depthwise": build_artifact(qconv_graph(rng, C=5, OC=5, groups=5, stride=(2, 2))),
        "qmatmul": build_artifact(qmatmul_graph(rng, M=3, K=9, N=5, const_b=False,
                                                batch=(2,), adt=DType.U8)),
        # sparse weights (format 1.1): bsr with edge blocks, csr, both layouts, int8 and float
        "qspmm_bsr": build_artifact(sparse_qgraph(rng, layout=0, N=7, K=10, enc=(2, 3),
                                                  density=0.5, B=2, H=2, W=3, xdt=DType.U8)),
        "qspmm_csr": build_artifact(sparse_qgraph(rng, layout=1, N=9, K=13, enc="csr",
                                                  density=0.4, M=3, ydt=None)),
        "spmm_bsr": build_artifact(sparse_fgraph(rng, layout=1, N=10, K=9, enc=(4, 4),
                                                 density=0.6, M=2, batch=(2,))),
    }


SPARSE = ["qspmm_bsr", "qspmm_csr", "spmm_bsr"]


@pytest.fixture(scope="module")
def asan_driver(tmp_path_factory):
    out = tmp_path_factory.mktemp("asan") / "run_artifact"
    return build_driver(out, SANITIZE)


def _run(driver, *args):
    res = subprocess.run([str(driver), *map(str, args)], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, f"driver failed ({res.returncode}):\n{res.stdout}\n{res.stderr[-3000:]}"
    return res.stdout


@pytest.mark.parametrize("name", ["qconv", "depthwise", "qmatmul", *SPARSE])
def test_every_truncation_is_rejected(asan_driver, tmp_path, name):
    path = tmp_path / f"{name}.ircm"
    path.write_bytes(models()[name])
    assert "rejected all" in _run(asan_driver, "--truncations", path)


def test_corrupted_artifacts_never_crash(asan_driver, tmp_path):
    blobs = []
    for i, blob in enumerate(models().values()):
        blobs.append(blob)                              # the valid one must load and run
        blobs.extend(corruptions(blob, 1500, seed=i))
    out = _run(asan_driver, "--pack", write_pack(blobs, tmp_path / "pack.bin"))
    loaded = int(out.split()[1])
    rejected = int(out.split()[3])
    assert loaded + rejected == len(blobs)
    assert loaded >= 3                                   # the valid ones at least
    assert rejected > len(blobs) // 2                    # most corruptions are caught


def test_corrupted_sparse_blobs_never_crash_and_are_refused_by_name(asan_driver, tmp_path):
    """Damage aimed at the csr/bsr blobs (row pointers, column indices, index width, block
    sides, nnzb, nbytes, padding, edge-block values; checksums fixed): under ASan nothing
    crashes, and each variant is refused with a message naming the damaged tensor — or,
    when the damage left a valid blob (a changed value, a still-increasing index), loads."""
    from irc.runtime import RuntimeError_, Session
    cases = []
    for i, name in enumerate(SPARSE):
        cases.extend(sparse_corruptions(models()[name], 600, seed=10 + i))
    blobs = [b for _, b in cases]
    out = _run(asan_driver, "--pack", write_pack(blobs, tmp_path / "pack.bin"))
    loaded, rejected = int(out.split()[1]), int(out.split()[3])
    assert loaded + rejected == len(blobs)
    assert rejected > len(blobs) // 2, out
    refused = 0
    for tensor, blob in cases:                  # ASan passed them all: safe in-process
        try:
            Session(blob)
        except RuntimeError_ as e:
            refused += 1
            assert f"'{tensor}'" in str(e), f"message does not name '{tensor}': {e}"
    assert refused == rejected


def test_valid_artifacts_run_under_asan_with_every_isa(asan_driver, tmp_path):
    from irc.runtime import ISAS, available_isas
    for name, blob in models().items():
        path = tmp_path / f"{name}.ircm"
        path.write_bytes(blob)
        for isa in available_isas():
            bits = 0
            for level in ISAS:   # the level and everything below it
                bits |= ISAS[level]
                if level == isa:
                    break
            assert isa in _run(asan_driver, "--isa", bits, path, tmp_path)
