"""The arm64 int8 GEMM families under qemu (the arm64 tier, STYLE.md §14).

Two C programs check the ``neon`` and ``neondot`` families (qgemm_neon.c,
qgemm_neondot.c) bit for bit:

- ``c/test_qgemm.c``, every family of the build against the scalar twin over
  random problems (the same program the host tier runs);
- ``c/test_qgemm_neon.c``, the arm64 specifics: the packed layout byte for
  byte, a requantization sweep (every shift, edge multipliers, INT32_MIN/MAX,
  exact ties, left-shift wrapping), int32 wrap-around of long dot products,
  and guard pages behind every operand (reads past the contract's bounds fault,
  where ASan is not available under qemu).

Each runs on two CPU models so both kernel paths really execute:

- ``cortex-a76`` has the dot-product extension: both families run;
- ``cortex-a53`` lacks it: the programs must see no ASIMDDP in HWCAP and skip
  ``neondot``; forcing ``neondot`` there must trap (SIGILL), proof that the a53
  run exercised the plain NEON path and that HWCAP told the truth.

Skipped only when the cross tools are absent (CI installs them).  About 7 s
in all here (2-3 s of it compiling); qemu timings say nothing about speed.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from arm64 import RUNTIME, CrossError, build_arm64, cross_available, missing_tools, run_qemu

pytestmark = pytest.mark.skipif(
    not cross_available(), reason=f"arm64 cross tools missing: {', '.join(missing_tools())}")

HERE = Path(__file__).resolve().parent
KERNELS = RUNTIME / "src" / "kernels"
# test_qgemm.c walks the kernel registry (dispatch.c), which links every family
LIBRARY = [RUNTIME / "src" / "cpu.c", *sorted(KERNELS.glob("*.c"))]
SEED = "7"

# program -> (its arguments, what it prints per CPU: patterns that must / must not appear)
PROGRAMS = {
    "test_qgemm": ([SEED, "300"], {
        "cortex-a76": ([r"qgemm neon +ok:", r"qgemm neondot +ok:"], [r"FAIL", r"skipped"]),
        "cortex-a53": ([r"qgemm neon +ok:", r"qgemm neondot +skipped"], [r"FAIL", r"neondot +ok"]),
    }),
    "test_qgemm_neon": (["--seed", SEED], {
        "cortex-a76": ([r"^neon: ok", r"^neondot: ok", r"all ok\s*$"], [r"FAIL", r"skipped"]),
        "cortex-a53": ([r"^neon: ok", r"^neondot: skipped: HWCAP lacks ASIMDDP", r"all ok\s*$"],
                       [r"FAIL", r"neondot: ok"]),
    }),
}


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("arm64")
    # -Werror: the kernels build warning-free with the runtime's plain flags (no -march;
    # only the SDOT tile carries a target attribute).
    return {name: build_arm64([HERE / "c" / f"{name}.c", *LIBRARY], out / name, ["-Werror"])
            for name in PROGRAMS}


@pytest.mark.parametrize("cpu", ["cortex-a76", "cortex-a53"])
@pytest.mark.parametrize("name", list(PROGRAMS))
def test_qgemm_families_under_qemu(programs: dict[str, Path], name: str, cpu: str) -> None:
    args, expect = PROGRAMS[name]
    result = run_qemu(programs[name], args, cpu=cpu)
    must, must_not = expect[cpu]
    for pattern in must:
        assert re.search(pattern, result.stdout, re.M), f"no /{pattern}/\n{result.describe()}"
    for pattern in must_not:
        assert not re.search(pattern, result.stdout, re.M), f"/{pattern}/\n{result.describe()}"


def test_qgemm_neondot_traps_on_cortex_a53(programs: dict[str, Path]) -> None:
    """Forcing neondot on a CPU without ASIMDDP dies of SIGILL at its first SDOT (its
    packing has none and passes first)."""
    result = run_qemu(programs["test_qgemm_neon"],
                      ["--seed", SEED, "--cases", "1", "--force-neondot"], cpu="cortex-a53",
                      check=False)
    assert re.search(r"^neon: ok", result.stdout, re.M), result.describe()
    assert result.signal == signal.SIGILL, result.describe()


def test_build_errors_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.c"
    bad.write_text("int main(void) { return undeclared; }\n")
    with pytest.raises(CrossError, match="undeclared"):
        build_arm64([bad], tmp_path / "bad")
