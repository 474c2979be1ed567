"""The q8 kernel family (depthwise conv, requantize, add, mul) of the C runtime.

Builds tests/runtime/c/test_q8_kernels.c with the family's files: every ISA variant this
CPU runs is checked byte for byte against the scalar twin, and the scalar twin against a
direct reference written from the interpreter's formulas, with guard bytes around every
output.  Once optimized, once under AddressSanitizer and UndefinedBehaviorSanitizer, and
(when the cross tools exist) for arm64 under qemu.  The C program checks bytes; this file
builds and runs it.

Benchmark (µs per PP-LCNet-like depthwise layer, per ISA)::

    gcc -O2 -std=c99 -Iruntime/include -Iruntime/src tests/runtime/c/test_q8_kernels.c \\
        runtime/src/kernels/q8_*.c -o /tmp/q8 && /tmp/q8 bench
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import arm64

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "tests" / "runtime" / "c" / "test_q8_kernels.c"
RUNTIME = ROOT / "runtime"
FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off",
         f"-I{RUNTIME / 'include'}", f"-I{RUNTIME / 'src'}"]

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def _kernels() -> list[str]:
    return sorted(str(p) for p in (RUNTIME / "src" / "kernels").glob("q8_*.c"))


def _build(out: Path, extra: list[str]) -> Path:
    cmd = ["gcc", *FLAGS, *extra, str(SOURCE), *_kernels(), "-o", str(out), "-lm"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, f"build failed:\n{' '.join(cmd)}\n{done.stderr}"
    return out


def _check(stdout: str, families: set[str]) -> None:
    lines = stdout.splitlines()
    assert lines and lines[0].startswith("families:"), stdout
    assert families <= set(lines[0].split()[1:]), stdout
    assert lines[-1].endswith(": 0 failures"), stdout


def _run(exe: Path, iters: int, seed: int) -> str:
    done = subprocess.run([str(exe), str(iters), str(seed)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"{exe.name} {iters} {seed} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_q8_families_match_scalar_and_reference(tmp_path: Path) -> None:
    exe = _build(tmp_path / "test_q8", ["-O2"])
    for seed in (1, 2, 3):
        _check(_run(exe, 1500, seed), {"scalar"})


def test_q8_families_sanitized(tmp_path: Path) -> None:
    exe = _build(tmp_path / "test_q8_asan",
                 ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                  "-fno-omit-frame-pointer"])
    _check(_run(exe, 600, 11), {"scalar"})


@pytest.mark.skipif(not arm64.cross_available(), reason="needs aarch64 cross tools and qemu")
def test_q8_families_arm64(tmp_path: Path) -> None:
    exe = arm64.build_arm64([SOURCE, *_kernels()], tmp_path / "test_q8_arm64", ["-Werror"])
    _check(arm64.run_qemu(exe, ["800", "5"], timeout=300).stdout, {"scalar", "neon"})
