"""The float32 kernel families of the C runtime (sgemm, f32) against their scalar twins
and double-precision references.

Builds tests/runtime/c/test_f32_kernels.c with cpu.c and the sgemm_* / f32_* kernel files
only (they depend on nothing else) and runs it: once optimized, once with AddressSanitizer
and UndefinedBehaviorSanitizer (a kernel writing C outside its block or reading past a
buffer stops the program), and, where the cross compiler and qemu are installed, once as
an arm64 binary so the NEON families are checked too.  The C program does the checking;
this file builds and runs it.

``pytest -k bench -s`` also builds tests/runtime/c/bench_sgemm.c and prints each family's
single-thread GFLOP/s on the benchmark shapes (not run by default: set IRC_BENCH=1).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
C_DIR = ROOT / "tests" / "runtime" / "c"
RUNTIME = ROOT / "runtime"
SANITIZE = ["-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer"]

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def _sources(main: str) -> list[str]:
    kernels = RUNTIME / "src" / "kernels"
    return [str(C_DIR / main), str(RUNTIME / "src" / "cpu.c"),
            *map(str, sorted(kernels.glob("sgemm_*.c"))), *map(str, sorted(kernels.glob("f32_*.c")))]


def _build(cc: str, out: Path, main: str, flags: list[str]) -> Path:
    cmd = [cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off",
           f"-I{RUNTIME / 'include'}", f"-I{RUNTIME / 'src'}", *flags, *_sources(main),
           "-o", str(out), "-lm"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, f"build failed:\n{' '.join(cmd)}\n{done.stderr}"
    return out


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), \
        f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"


def test_f32_kernels_optimized(tmp_path: Path) -> None:
    _run([str(_build("gcc", tmp_path / "t", "test_f32_kernels.c", ["-O2"]))])


def test_f32_kernels_sanitized(tmp_path: Path) -> None:
    _run([str(_build("gcc", tmp_path / "t", "test_f32_kernels.c", ["-O1", *SANITIZE]))])


@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-gcc") is None
                    or shutil.which("qemu-aarch64") is None,
                    reason="needs aarch64-linux-gnu-gcc and qemu-aarch64")
def test_f32_kernels_arm64(tmp_path: Path) -> None:
    exe = _build("aarch64-linux-gnu-gcc", tmp_path / "t", "test_f32_kernels.c", ["-O2", "-static"])
    _run(["qemu-aarch64", "-cpu", "cortex-a76", str(exe)])


@pytest.mark.skipif(not os.environ.get("IRC_BENCH"), reason="benchmark: set IRC_BENCH=1")
def test_bench_sgemm(tmp_path: Path) -> None:
    exe = _build("gcc", tmp_path / "bench", "bench_sgemm.c", ["-O2"])
    done = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600)
    print(done.stdout)
    assert done.returncode == 0
