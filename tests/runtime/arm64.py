"""Cross-building C test programs for arm64 and running them under qemu-user.

The arm64 tier of the runtime tests (STYLE.md §14): programs are compiled with
Debian's ``aarch64-linux-gnu-gcc`` and run with ``qemu-aarch64 -L
/usr/aarch64-linux-gnu -cpu CPU``.  ``cortex-a76`` has the dot-product extension
(HWCAP_ASIMDDP); ``cortex-a53`` does not, so SDOT traps there (SIGILL) and the
runtime must pick the plain NEON kernels.  Timings under qemu mean nothing;
results do.

Install the tools with::

    apt-get install -y gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CC = "aarch64-linux-gnu-gcc"
QEMU = "qemu-aarch64"
SYSROOT = Path("/usr/aarch64-linux-gnu")
INSTALL_HINT = "apt-get install -y gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "runtime"
#: Flags every arm64 test program is built with: the runtime's own (runtime/Makefile).
BASE_FLAGS = ("-O2", "-std=c99", "-Wall", "-Wextra", "-ffp-contract=off",
              f"-I{RUNTIME / 'include'}", f"-I{RUNTIME / 'src'}")


class CrossError(RuntimeError):
    """A cross build failed or the cross tools are missing."""


def missing_tools() -> list[str]:
    """The cross tools (compiler, emulator, arm64 libc) this machine lacks."""
    missing = [tool for tool in (CC, QEMU) if shutil.which(tool) is None]
    if not (SYSROOT / "lib" / "ld-linux-aarch64.so.1").exists():
        missing.append(f"{SYSROOT} (libc6-dev-arm64-cross)")
    return missing


def cross_available() -> bool:
    """True when arm64 programs can be built and run here."""
    return not missing_tools()


def build_arm64(sources: Sequence[str | Path], out: str | Path,
                extra_flags: Sequence[str] = ()) -> Path:
    """Compile and link ``sources`` into the arm64 executable ``out`` (BASE_FLAGS first,
    then ``extra_flags``; ``-lm`` last).  Raises CrossError with the compiler's
    output on failure."""
    missing = missing_tools()
    if missing:
        raise CrossError(f"cannot build for arm64: missing {', '.join(missing)} "
                         f"(install: {INSTALL_HINT})")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [CC, *BASE_FLAGS, *extra_flags, *(str(s) for s in sources), "-o", str(out), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CrossError(f"arm64 build failed (exit {proc.returncode}):\n  {' '.join(cmd)}\n"
                         f"{proc.stdout}{proc.stderr}")
    return out


@dataclass(frozen=True)
class QemuResult:
    """What a program did under qemu: exit code (negative: killed by that signal)."""

    cmd: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def signal(self) -> int | None:
        return -self.returncode if self.returncode < 0 else None

    def describe(self) -> str:
        how = (f"killed by signal {self.signal}" if self.signal is not None
               else f"exit {self.returncode}")
        return (f"{' '.join(self.cmd)}: {how}\n--- stdout ---\n{self.stdout}"
                f"--- stderr ---\n{self.stderr}")


def run_qemu(binary: str | Path, args: Sequence[str] = (), cpu: str = "cortex-a76",
             timeout: float = 600.0, check: bool = True) -> QemuResult:
    """Run the arm64 ``binary`` under ``qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu cpu``.
    With ``check`` a non-zero exit (or a signal, e.g. SIGILL from an instruction the CPU
    model lacks) raises CrossError carrying the output; otherwise the result is
    returned as is."""
    if shutil.which(QEMU) is None:
        raise CrossError(f"cannot run arm64 programs: {QEMU} missing (install: {INSTALL_HINT})")
    cmd = (QEMU, "-L", str(SYSROOT), "-cpu", cpu, str(binary), *args)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise CrossError(f"{' '.join(cmd)}: timed out after {timeout:.0f} s") from e
    result = QemuResult(cmd, proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise CrossError(result.describe())
    return result
