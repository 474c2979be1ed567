"""The command line: every subcommand, its errors, and atomic outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import irc
from irc.cli import main

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "passes" / "golden"
EXAMPLE = ROOT / "examples" / "small_cnn.irc"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "irc.cli", *args], capture_output=True,
                          text=True)


def test_help_everywhere() -> None:
    for cmd in ([], ["compile"], ["run"], ["show"], ["passes"], ["ops"]):
        r = run_cli(*cmd, "--help")
        assert r.returncode == 0, r.stderr
        assert "usage: irc" in r.stdout


def test_compile_with_instruments(tmp_path: Path) -> None:
    out = tmp_path / "out.irc"
    r = run_cli("compile", str(GOLDEN / "pipeline_cnn.irc"), "--passes", "fold,dce,fuse-bn",
                "--verify-each", "--time-passes", "--statistics", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "fuse-bn" in r.stderr and "fold" in r.stderr     # timing table
    g = irc.load(out)
    assert not any(n.op == "nn.batch_norm" for n in g.nodes)


def test_print_ir_after(tmp_path: Path) -> None:
    r = run_cli("compile", str(GOLDEN / "fold.irc"), "--passes", "fold,dce",
                "--print-ir-after", "fold", "-o", str(tmp_path / "o.irc"))
    assert r.returncode == 0, r.stderr
    assert "IR after fold" in r.stderr and "graph @fold" in r.stderr
    assert "IR after dce" not in r.stderr


def test_user_pass_via_load(tmp_path: Path) -> None:
    plugin = tmp_path / "mypass.py"
    plugin.write_text('''
from dataclasses import dataclass
from typing import ClassVar
import irc

@irc.register_pass
@dataclass(frozen=True)
class RenameGraph(irc.Pass):
    """Rename the graph."""
    name: ClassVar[str] = "rename-graph"
    to: str = "renamed"

    def run(self, graph, ctx):
        graph.name = self.to
        ctx.count("renamed")
        return graph
''')
    out = tmp_path / "o.irc"
    r = run_cli("compile", str(GOLDEN / "dce.irc"), "--load", str(plugin),
                "--passes", "dce,rename-graph{to=user_pass_ran}", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text().startswith("graph @user_pass_ran")
    r = run_cli("passes", "--load", str(plugin))
    assert "rename-graph" in r.stdout and "Rename the graph." in r.stdout


def test_errors_are_short_and_leave_no_output(tmp_path: Path) -> None:
    out = tmp_path / "o.irc"
    cases = [
        (["compile", str(GOLDEN / "dce.irc"), "--passes", "dce,nosuchpass", "-o", str(out)],
         "nosuchpass"),
        (["compile", str(GOLDEN / "dce.irc"), "--passes", "fold{bogus=1}", "-o", str(out)],
         "bogus"),
        (["compile", str(tmp_path / "missing.irc"), "--passes", "dce", "-o", str(out)],
         "no such file"),
        (["compile", str(GOLDEN / "dce.irc"), "--passes", "dce", "-o", str(tmp_path / "o.xyz")],
         "cannot write format"),
        (["run", str(GOLDEN / "dce.irc"), "--input", "x=" + str(tmp_path / "nope.npy")],
         "no such file"),
    ]
    for args, needle in cases:
        r = run_cli(*args)
        assert r.returncode == 1, (args, r.stderr)
        assert needle in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) <= 3, r.stderr
    assert not out.exists()
    assert not list(tmp_path.glob(".*tmp*"))


def test_parse_error_points_at_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.irc"
    bad.write_text("graph @g(%x: f32[2]) {\n  %y = nn.relu(%x : f32[2]\n  return %y\n}\n")
    r = run_cli("show", str(bad))
    assert r.returncode == 1
    assert f"{bad}:2:" in r.stderr


def test_debug_shows_traceback(tmp_path: Path) -> None:
    r = run_cli("--debug", "show", str(tmp_path / "missing.irc"))
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_run_writes_outputs(tmp_path: Path) -> None:
    x = np.arange(4, dtype=np.float32) - 2
    np.save(tmp_path / "x.npy", x)
    unused = np.zeros(4, np.float32)
    np.save(tmp_path / "u.npy", unused)
    r = run_cli("run", str(GOLDEN / "dce.irc"), "--input", f"x={tmp_path / 'x.npy'}",
                "--input", f"unused={tmp_path / 'u.npy'}", "--output-dir", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "y.npy"), np.maximum(x, 0))
    r = run_cli("run", str(GOLDEN / "dce.irc"), "--input", f"x={tmp_path / 'x.npy'}")
    assert r.returncode == 1 and "missing unused" in r.stderr


def test_show_summary_and_ir() -> None:
    r = run_cli("show", str(EXAMPLE))
    assert r.returncode == 0, r.stderr
    assert "nn.conv2d" in r.stdout and "parameters:" in r.stdout
    r = run_cli("show", str(GOLDEN / "fold.irc"), "--ir")
    assert r.stdout.startswith("graph @fold(%x: f32[2,2])")
    r = run_cli("show", str(GOLDEN / "fold.irc"), "--generic")
    assert '"nn.add"' in r.stdout


def test_passes_and_ops_listing() -> None:
    r = run_cli("passes")
    for name in ("fold", "dce", "fuse-bn", "noop-elim", "fuse-activation"):
        assert name in r.stdout
    assert "max_elements" in r.stdout
    r = run_cli("ops", "nn.conv", "-v")
    assert "nn.conv2d" in r.stdout and "groups" in r.stdout


def test_main_in_process_returns_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(GOLDEN / "dce.irc")]) == 0
    assert main(["show", "/nonexistent.irc"]) == 1
    assert "no such file" in capsys.readouterr().err


def test_trace_rewrites_explains(tmp_path: Path) -> None:
    r = run_cli("compile", str(GOLDEN / "fuse_bn_declined.irc"), "--passes", "fuse-bn",
                "--trace-rewrites", "-o", str(tmp_path / "o.irc"))
    assert r.returncode == 0, r.stderr
    assert "fuse-bn-conv2d: not at" in r.stderr
    assert "has a fused activation between it and the batch norm" in r.stderr


def test_os_errors_are_user_errors(tmp_path: Path) -> None:
    (tmp_path / "d.irc").mkdir()
    r = run_cli("show", str(tmp_path / "d.irc"))
    assert r.returncode == 1 and "Traceback" not in r.stderr and "internal" not in r.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    x = tmp_path / "x.npy"
    np.save(x, np.zeros(4, np.float32))
    r = run_cli("run", str(GOLDEN / "fold.irc"), "--input", f"x={tmp_path / 'x2.npy'}")
    assert r.returncode == 1
    np.save(tmp_path / "x2.npy", np.zeros((2, 2), np.float32))
    r = run_cli("run", str(GOLDEN / "fold.irc"), "--input", f"x={tmp_path / 'x2.npy'}",
                "--output-dir", str(blocker))
    assert r.returncode == 1 and "not a directory" in r.stderr
    r = run_cli("compile", str(GOLDEN / "dce.irc"), "-p", "dce", "-o",
                str(blocker / "sub" / "o.irc"))
    assert r.returncode == 1 and "internal" not in r.stderr, r.stderr


def test_debug_flag_after_subcommand(tmp_path: Path) -> None:
    r = run_cli("show", str(tmp_path / "missing.irc"), "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_run_and_show_verify_first(tmp_path: Path) -> None:
    bad = tmp_path / "bad.irc"
    bad.write_text("graph @g(%x: f32[2]) {\n  %y = nn.relu(%x) : f32[3]\n  return %y\n}\n")
    for args in (["show", str(bad)], ["run", str(bad), "--random-inputs"]):
        r = run_cli(*args)
        assert r.returncode == 1
        assert "declared f32[3] but nn.relu's type rule gives f32[2]" in r.stderr
