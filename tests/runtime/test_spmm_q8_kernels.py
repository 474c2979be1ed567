"""The int8 spmm families of the C runtime (spmm.h) against the scalar twin, byte for byte.

Builds tests/runtime/c/spmm_q8_check.c with the runtime's kernel directory (every family the
registry in dispatch.c lists, each run where this CPU supports it) and runs it: once
optimized, once with AddressSanitizer and UndefinedBehaviorSanitizer (the program poisons
X's columns outside the requested range, and the per-row arrays and the packed W are
exact-size allocations, so an out-of-contract read stops it; X also ends at a PROT_NONE
page).  Where the arm64 cross compiler and qemu are installed, it is built for arm64 and
run on a CPU with the dot-product extension (neon and neondot families) and on one without
(neon only, neondot skipped).  The C program checks bytes; this file builds and runs it and
checks that the families the CPU has really ran (not the scalar twin in their place).

The benchmark mode is only smoke-tested here (one repeat); for the table, see the program's
header: ``spmm_q8_check --bench 15``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from arm64 import build_arm64, cross_available, run_qemu

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "tests" / "runtime" / "c" / "spmm_q8_check.c"
RUNTIME = ROOT / "runtime"
KERNELS = RUNTIME / "src" / "kernels"
SANITIZE = ["-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer"]

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def _compile(src: Path, obj: Path, flags: list[str]) -> None:
    werror = ["-Wextra", "-Werror"] if _mine(src) else []
    cmd = ["gcc", "-std=c99", "-Wall", *werror, f"-I{RUNTIME / 'include'}",
           f"-I{RUNTIME / 'src'}", *flags, "-c", str(src), "-o", str(obj)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, f"build failed:\n{' '.join(cmd)}\n{done.stderr}"


def _compile_all(jobs: list[tuple[Path, Path, list[str]]]) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(_compile, *job) for job in jobs]:
            future.result()


def _mine(src: Path) -> bool:
    return src == SOURCE or src.name == "cpu.c" or src.name.startswith("spmm_")


@pytest.fixture(scope="module")
def other_objects(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The kernel files the program only links (for the registry): compiled once, -O1."""
    out = tmp_path_factory.mktemp("kernels")
    jobs = [(src, out / (src.stem + ".o"), ["-O1"]) for src in sorted(KERNELS.glob("*.c"))
            if not _mine(src)]
    _compile_all(jobs)
    return [obj for _, obj, _ in jobs]


def _build(out: Path, flags: list[str], others: list[Path]) -> Path:
    """The check program: itself, cpu.c and the spmm files with `flags`, plus `others`."""
    srcs = [SOURCE, RUNTIME / "src" / "cpu.c", *sorted(KERNELS.glob("spmm_*.c"))]
    jobs = [(src, out.parent / f"{out.name}-{src.stem}.o", flags) for src in srcs]
    _compile_all(jobs)
    cmd = ["gcc", *flags, *(str(obj) for _, obj, _ in jobs), *map(str, others), "-lm", "-o",
           str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, f"link failed:\n{' '.join(cmd)}\n{done.stderr}"
    return out


@pytest.fixture(scope="module")
def check_o2(tmp_path_factory: pytest.TempPathFactory, other_objects: list[Path]) -> Path:
    return _build(tmp_path_factory.mktemp("o2") / "spmm_q8_check", ["-O2"], other_objects)


def _host_families() -> list[str]:
    """The spmm_q8 families this x86 CPU runs besides the scalar twin."""
    from irc.runtime import available_isas
    isas = available_isas()
    return [name for name in ("avx2", "avx512vnni") if name in isas]


def _check_output(stdout: str, ran: list[str], skipped: list[str] = ()) -> None:
    assert "FAIL" not in stdout, stdout
    assert re.search(r"^spmm_q8 scalar +ok:", stdout, re.M), stdout
    for name in ran:
        assert re.search(rf"^spmm_q8 {name} +ok:", stdout, re.M), stdout
    for name in skipped:
        assert re.search(rf"^spmm_q8 {name} +skipped", stdout, re.M), stdout


def _run(exe: Path, args: list[str]) -> str:
    done = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{exe.name} {args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@needs_gcc
def test_spmm_q8_families_match_scalar(check_o2: Path) -> None:
    for seed in ("1", "2"):
        _check_output(_run(check_o2, [seed, "1500"]), _host_families())


@needs_gcc
def test_spmm_q8_families_sanitized(tmp_path: Path, other_objects: list[Path]) -> None:
    exe = _build(tmp_path / "spmm_q8_check_asan", ["-O1", *SANITIZE], other_objects)
    _check_output(_run(exe, ["11", "600"]), _host_families())


@needs_gcc
def test_spmm_q8_bench_runs(check_o2: Path) -> None:
    out = _run(check_o2, ["--bench", "1"])
    for name in _host_families():
        assert f"level {name}: spmm_q8 {name} vs qgemm {name}" in out, out
    if _host_families():
        for pattern in ("unstr R=1", "1x4   R=1", "4x4   R=4", "8x1   R=8"):
            assert pattern in out, out
        assert "N=768 K=768 M=128" in out and "N=256 K=128 M=196" in out, out


@pytest.mark.skipif(not cross_available(), reason="needs the arm64 cross tools and qemu")
def test_spmm_q8_families_arm64_qemu(tmp_path: Path) -> None:
    # -Werror: the kernels build warning-free with the runtime's plain flags (no -march; only
    # the SDOT tiles carry a target attribute)
    exe = build_arm64([SOURCE, RUNTIME / "src" / "cpu.c", *sorted(KERNELS.glob("*.c"))],
                      tmp_path / "spmm_q8_check_arm64", ["-Werror"])
    out = run_qemu(exe, ["21", "400"], cpu="cortex-a76").stdout
    _check_output(out, ["neon", "neondot"])
    out = run_qemu(exe, ["22", "300"], cpu="cortex-a53").stdout   # no SDOT
    _check_output(out, ["neon"], ["neondot"])
