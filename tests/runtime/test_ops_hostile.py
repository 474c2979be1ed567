"""Hostile artifacts built around the integer elementwise, pooling and data-movement ops:
corrupted parameter words, tensor records and section bytes (CRCs fixed, so the damage
reaches each op's prepare) are rejected with a message or, when they happen to stay
valid, run — never touching memory out of bounds (AddressSanitizer + UBSan, via the C
driver tests/runtime/c/run_artifact.c).  The op checks this leans on are documented
beside each prepare in runtime/src/ops_qelem.c, ops_pool.c and ops_data.c."""

from __future__ import annotations

import subprocess

import pytest

from irc.artifact import build_artifact

from op_chains import data_chain, int8_chain
from rt_helpers import SANITIZE, build_driver, corruptions, have_cc, write_pack

pytestmark = pytest.mark.skipif(not have_cc(), reason="needs gcc")


@pytest.fixture(scope="module")
def asan_driver(tmp_path_factory):
    return build_driver(tmp_path_factory.mktemp("asan") / "run_artifact", SANITIZE)


def test_corrupted_op_artifacts_never_crash(asan_driver, tmp_path):
    blobs = []
    for i, blob in enumerate([build_artifact(int8_chain()), build_artifact(data_chain())]):
        blobs.append(blob)
        blobs.extend(corruptions(blob, 2000, seed=100 + i))
    res = subprocess.run([str(asan_driver), "--pack", str(write_pack(blobs, tmp_path / "p.bin"))],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"driver failed:\n{res.stdout}\n{res.stderr[-3000:]}"
    words = res.stdout.split()
    loaded, rejected = int(words[1]), int(words[3])
    assert loaded + rejected == len(blobs)
    assert loaded >= 2 and rejected > len(blobs) // 2
