"""Shared pytest setup: the golden-IR test collector.

Every ``tests/**/golden/*.irc`` file is one test.  Its header comments say
what to run and what to expect::

    // RUN: fold,dce                  pipeline (run with --verify-each)
    // STATS: fold.folded=2           exact per-pass statistics (repeatable)
    // NUMERIC: rtol=1e-5 atol=1e-6   compare outputs before/after on random inputs
    // CHECK: %y = nn.conv2d(...)     FileCheck directives on the printed result

The result is printed and checked with the ``filecheck`` package (a Python port
of LLVM FileCheck: CHECK, CHECK-NEXT, CHECK-NOT, CHECK-SAME, regexes
``{{...}}`` and variables ``[[X:...]]``).  Numeric equivalence is checked
whenever the graph has float inputs unless ``// NUMERIC: off``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def pytest_collect_file(parent, file_path: Path):  # type: ignore[no-untyped-def]
    if file_path.suffix == ".irc" and file_path.parent.name == "golden":
        return GoldenFile.from_parent(parent, path=file_path)
    return None


class GoldenFile(pytest.File):
    def collect(self):  # type: ignore[no-untyped-def]
        yield GoldenItem.from_parent(self, name=self.path.stem)


class GoldenItem(pytest.Item):
    def runtest(self) -> None:
        run_golden(self.path)

    def reportinfo(self):  # type: ignore[no-untyped-def]
        return self.path, 0, f"golden: {self.path.name}"


_DIRECTIVE = re.compile(r"^\s*//\s*(RUN|STATS|NUMERIC):\s*(.*)$")


def run_golden(path: Path) -> None:
    import irc
    from irc.interpreter import random_inputs
    from irc.pass_manager import PassContext, run_pipeline
    from irc.printer import print_graph
    from irc.textio import load_text

    text = path.read_text()
    runs, stats_expect, numeric = [], {}, {"rtol": 1e-5, "atol": 1e-6}
    numeric_on = True
    for line in text.splitlines():
        m = _DIRECTIVE.match(line)
        if not m:
            continue
        kind, body = m.groups()
        if kind == "RUN":
            runs.append(body.strip())
        elif kind == "STATS":
            for item in body.split():
                key, _, val = item.partition("=")
                stats_expect[key] = int(val)
        elif kind == "NUMERIC":
            if body.strip() == "off":
                numeric_on = False
            for item in body.split():
                k, _, v = item.partition("=")
                if v:
                    numeric[k] = float(v)
    assert len(runs) == 1, f"{path}: expected exactly one // RUN: line"

    original = load_text(path)
    irc.verify(original)
    ctx = PassContext(seed=0)
    result = run_pipeline(original.copy(), runs[0], verify_each=True, ctx=ctx)
    printed = print_graph(result)

    # 1. how many rewrites fired
    got = {f"{p}.{k}": v for p, d in ctx.statistics.items() for k, v in d.items()}
    for key, want in stats_expect.items():
        assert key in got, (f"{path.name}: no statistic {key} (misspelt, or the pass did not "
                            f"run); statistics: {got}")
        assert got[key] == want, (
            f"{path.name}: statistic {key} = {got.get(key, 0)}, expected {want}\n"
            f"all statistics: {got}\nresult:\n{printed}")

    # 2. the structure after (FileCheck)
    with tempfile.NamedTemporaryFile("w", suffix=".out", delete=False) as f:
        f.write(printed)
        out_path = f.name
    try:
        proc = subprocess.run([sys.executable, "-m", "filecheck", str(path), "--input-file",
                               out_path], capture_output=True, text=True)
    finally:
        os.unlink(out_path)
    assert proc.returncode == 0, (f"{path.name}: FileCheck failed\n{proc.stdout}{proc.stderr}\n"
                                  f"result:\n{printed}")

    # 3. numeric equivalence on random inputs
    if numeric_on:
        for seed in range(3):
            feeds = random_inputs(original, seed=seed)
            before = irc.run(original, feeds)
            after = irc.run(result, feeds)
            assert list(before) == list(after), f"output names changed: {list(before)} -> {list(after)}"
            for name in before:
                np.testing.assert_allclose(after[name], before[name], rtol=numeric["rtol"],
                                           atol=numeric["atol"],
                                           err_msg=f"{path.name}: output {name} changed")
