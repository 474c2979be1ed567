"""The float32 spmm families of the C runtime (spmm.h) against their scalar twin.

Builds tests/runtime/c/spmm_f32_check.c with cpu.c, spmm_scalar.c, the spmm_f32_* kernel
files and the sgemm_* files (its benchmark's dense baseline) — they depend on nothing else
— and runs it: once optimized, once with AddressSanitizer and UndefinedBehaviorSanitizer (a
kernel writing Y outside its rows and columns or reading past X or bias stops the
program), and, where the cross compiler and qemu are installed, as an arm64 binary so the
NEON family is checked too.  The C program generates the cases and does the checking (see
its header for the cases and the tolerance); this file builds and runs it.

``IRC_BENCH=1 pytest -k bench -s`` also runs its benchmark: spmm vs our dense sgemm on
sparse layer shapes, one thread, medians (about a minute).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from arm64 import build_arm64, cross_available, run_qemu

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "tests" / "runtime" / "c" / "spmm_f32_check.c"
RUNTIME = ROOT / "runtime"
KERNELS = RUNTIME / "src" / "kernels"
SANITIZE = ["-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer"]

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def _sources() -> list[Path]:
    return [HARNESS, RUNTIME / "src" / "cpu.c", KERNELS / "spmm_scalar.c",
            *sorted(KERNELS.glob("spmm_f32_*.c")), *sorted(KERNELS.glob("sgemm_*.c"))]


def _build(out: Path, flags: list[str]) -> Path:
    cmd = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off",
           f"-I{RUNTIME / 'include'}", f"-I{RUNTIME / 'src'}", *flags,
           *map(str, _sources()), "-o", str(out), "-lm"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, f"build failed:\n{' '.join(cmd)}\n{done.stderr}"
    return out


def _check(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), \
        f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"


def test_spmm_f32_optimized(tmp_path: Path) -> None:
    _check([str(_build(tmp_path / "t", ["-O2"])), "check", "6000"])


def test_spmm_f32_sanitized(tmp_path: Path) -> None:
    _check([str(_build(tmp_path / "t", ["-O1", *SANITIZE])), "check", "1500"])


@pytest.mark.skipif(not cross_available(), reason="needs aarch64-linux-gnu-gcc and qemu-aarch64")
def test_spmm_f32_arm64(tmp_path: Path) -> None:
    exe = build_arm64(_sources(), tmp_path / "t", ["-Werror"])
    res = run_qemu(exe, ["check", "3000"], cpu="cortex-a76")
    assert "families: neon" in res.stdout and res.stdout.strip().endswith("ok"), res.describe()


@pytest.mark.skipif(not os.environ.get("IRC_BENCH"), reason="benchmark: set IRC_BENCH=1")
def test_bench_spmm_f32(tmp_path: Path) -> None:
    exe = _build(tmp_path / "bench", ["-O2"])
    done = subprocess.run([str(exe), "bench"], capture_output=True, text=True, timeout=900)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
