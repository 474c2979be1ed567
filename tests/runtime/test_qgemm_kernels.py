"""The int8 GEMM families of the C runtime against the scalar reference.

Builds tests/runtime/c/test_qgemm.c with the runtime's kernel directory (every family the
registry in dispatch.c lists, each run where this CPU supports it) and runs it: once
optimized, once with AddressSanitizer and UndefinedBehaviorSanitizer, where reading an A
row outside the block or a per-channel array past its padding, or writing C outside the
block, stops the program.  Where the arm64 cross compiler and qemu are installed, it is
also built for arm64 and run under qemu on a CPU with the dot-product extension (neon and
neondot families) and on one without (neon only).  The C program checks bytes; this file
builds and runs it.

Only the qgemm files, cpu.c and the test are compiled with the sanitizers; the other kernel
families are only linked (for the registry), so they are compiled once, plainly.
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "tests" / "runtime" / "c" / "test_qgemm.c"
RUNTIME = ROOT / "runtime"
SANITIZE = ["-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer"]

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def _compile(src: Path, obj: Path, flags: list[str]) -> None:
    cmd = ["gcc", "-std=c99", "-Wall", f"-I{RUNTIME / 'include'}", f"-I{RUNTIME / 'src'}",
           *flags, "-c", str(src), "-o", str(obj)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, f"build failed:\n{' '.join(cmd)}\n{done.stderr}"


def _compile_all(jobs: list[tuple[Path, Path, list[str]]]) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(_compile, *job) for job in jobs]:
            future.result()


@pytest.fixture(scope="module")
def other_objects(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The kernel files the test only links: compiled once, -O1."""
    out = tmp_path_factory.mktemp("kernels")
    srcs = [p for p in sorted((RUNTIME / "src" / "kernels").glob("*.c"))
            if not p.name.startswith("qgemm_")]
    jobs = [(src, out / (src.stem + ".o"), ["-O1"]) for src in srcs]
    _compile_all(jobs)
    return [obj for _, obj, _ in jobs]


def _build(out: Path, flags: list[str], others: list[Path]) -> Path:
    srcs = [SOURCE, RUNTIME / "src" / "cpu.c",
            *sorted((RUNTIME / "src" / "kernels").glob("qgemm_*.c"))]
    jobs = [(src, out.parent / f"{out.name}-{src.stem}.o", flags) for src in srcs]
    _compile_all(jobs)
    cmd = ["gcc", *flags, *(str(obj) for _, obj, _ in jobs), *(str(o) for o in others), "-lm",
           "-o", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, f"link failed:\n{' '.join(cmd)}\n{done.stderr}"
    return out


def _run(exe: Path, seed: int, iters: int, prefix: tuple[str, ...] = ()) -> str:
    done = subprocess.run([*prefix, str(exe), str(seed), str(iters)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"{exe.name} {seed} {iters} failed:\n{done.stdout}\n{done.stderr}"
    lines = done.stdout.splitlines()
    assert any(line.startswith("qgemm scalar") and " ok:" in line for line in lines), done.stdout
    return done.stdout


def test_qgemm_families_match_scalar(tmp_path: Path, other_objects: list[Path]) -> None:
    exe = _build(tmp_path / "test_qgemm", ["-O2"], other_objects)
    for seed in (1, 2):
        _run(exe, seed, 1000)


def test_qgemm_families_sanitized(tmp_path: Path, other_objects: list[Path]) -> None:
    exe = _build(tmp_path / "test_qgemm_asan", ["-O1", *SANITIZE], other_objects)
    _run(exe, 11, 300)


@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-gcc") is None
                    or shutil.which("qemu-aarch64") is None,
                    reason="needs aarch64-linux-gnu-gcc and qemu-aarch64")
def test_qgemm_families_arm64_qemu(tmp_path: Path) -> None:
    exe = tmp_path / "test_qgemm_arm64"
    cmd = ["aarch64-linux-gnu-gcc", "-std=c99", "-O2", "-Wall", "-static",
           f"-I{RUNTIME / 'include'}", f"-I{RUNTIME / 'src'}", str(SOURCE),
           str(RUNTIME / "src" / "cpu.c"),
           *(str(p) for p in sorted((RUNTIME / "src" / "kernels").glob("*.c"))), "-lm",
           "-o", str(exe)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, f"build failed:\n{' '.join(cmd)}\n{done.stderr}"
    out = _run(exe, 21, 300, ("qemu-aarch64", "-cpu", "cortex-a76"))
    assert "qgemm neondot     ok" in out and "qgemm neon        ok" in out, out
    out = _run(exe, 22, 200, ("qemu-aarch64", "-cpu", "cortex-a53"))   # no SDOT
    assert "qgemm neon        ok" in out and "neondot     skipped" in out, out
