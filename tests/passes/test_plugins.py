"""Plugins: ``--load FILE.py`` and ``irc.passes`` entry points (real importlib.metadata
discovery over dist-info folders on sys.path; no pip, no network)."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

from irc import plugins
from irc.errors import PluginError
from irc.ir import Graph
from irc.pass_base import _mark_plugins_loaded, pass_source
from irc.pass_manager import (PassContext, all_passes, build_pipeline, get_pass,
                              registry_snapshot, run_pipeline)
from irc.plugins import load_entry_point_passes, load_pass_file
from irc.types import TensorType

PLUGIN_DIR = Path(__file__).parent / "plugin_pkg"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Restore the registry and the file cache after each test, and forget the
    plugin modules it imported (so the next test imports them afresh)."""
    modules = set(sys.modules)
    monkeypatch.setattr(plugins, "_LOADED_FILES", {})
    with registry_snapshot():
        _mark_plugins_loaded(True)
        yield
    roots = (str(tmp_path), str(PLUGIN_DIR))
    for name in set(sys.modules) - modules:
        file = getattr(sys.modules[name], "__file__", None) or ""
        if name.startswith("_irc_user_passes_") or file.startswith(roots):
            del sys.modules[name]


def tiny_graph() -> Graph:
    g = Graph("g")
    x = g.add_input("x", TensorType("f32", (4,)))
    y = g.add("nn.relu", [x]).output
    z = g.add("nn.relu", [y]).output
    g.set_outputs([g.add("nn.add", [z, x]).output])
    return g


PASS_SRC = '''
from dataclasses import dataclass
from typing import ClassVar
from irc.pass_manager import Pass, register_pass

@register_pass
@dataclass(frozen=True)
class {cls}(Pass):
    """{doc}"""
    name: ClassVar[str] = "{name}"
    def run(self, graph, ctx):
        graph.name = "{name}"
        return graph
'''


def pass_source_code(name: str, cls: str = "UserPass", doc: str = "A user pass.") -> str:
    return PASS_SRC.format(name=name, cls=cls, doc=doc)


def make_dist(root: Path, dist: str, entry_points: dict[str, str],
              modules: dict[str, str]) -> None:
    """A distribution as pip would leave it: a dist-info folder plus modules."""
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[irc.passes]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
    for mod, src in modules.items():
        (root / f"{mod}.py").write_text(textwrap.dedent(src))
    importlib.invalidate_caches()


# ---------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------

def test_example_plugin_is_discovered_through_its_entry_point(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert "example-count-ops" not in all_passes()
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    new = load_entry_point_passes()
    assert [c.name for c in new] == ["example-count-ops"]
    assert pass_source("example-count-ops") == (
        "irc_example_plugin.CountOps (from entry point 'example = irc_example_plugin' of "
        "distribution 'irc-example-plugin')")
    assert load_entry_point_passes() == []          # idempotent

    ctx = PassContext()
    g = tiny_graph()
    assert run_pipeline(g, "example-count-ops", ctx=ctx) is g
    assert ctx.stats == {"example-count-ops": {"nn.add": 1, "nn.relu": 2}}
    assert not ctx.modified
    ctx = PassContext()
    run_pipeline(g, "example-count-ops{prefix=nn.r}", ctx=ctx)
    assert ctx.stats == {"example-count-ops": {"nn.relu": 2}}


def test_get_pass_loads_entry_points_once_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    calls = []
    real = plugins.load_entry_point_passes
    monkeypatch.setattr(plugins, "load_entry_point_passes",
                        lambda: calls.append(1) or real())
    _mark_plugins_loaded(False)
    assert get_pass("example-count-ops").summary() == (
        "Count the nodes of each op into the statistics; the graph is unchanged.")
    assert "example-count-ops" in all_passes()
    build_pipeline("example-count-ops")
    assert calls == [1]


def test_two_entry_points_registering_one_name(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    make_dist(tmp_path, "dist-a", {"a": "mod_a"},
              {"mod_a": pass_source_code("t-dup", "PassA")})
    make_dist(tmp_path, "dist-b", {"b": "mod_b"},
              {"mod_b": pass_source_code("t-dup", "PassB")})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as exc:
        load_entry_point_passes()
    msg = str(exc.value)
    assert "pass name 't-dup' is registered twice: by " in msg
    assert "mod_a.PassA (from entry point 'a = mod_a' of distribution 'dist-a')" in msg
    assert "mod_b.PassB (from entry point 'b = mod_b' of distribution 'dist-b')" in msg
    assert msg.startswith("irc pass plugin entry point ")


def test_entry_point_clashing_with_a_registered_pass(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    load_pass_file(_write(tmp_path / "mine.py", pass_source_code("t-taken")))
    make_dist(tmp_path / "site", "dist-c", {"c": "mod_c:PassC"},
              {"mod_c": pass_source_code("t-taken", "PassC").replace("@register_pass\n", "")})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(PluginError, match=r"^irc pass plugin entry point 'c = mod_c:PassC' of "
                       r"distribution 'dist-c': pass name 't-taken' is registered twice: by "
                       r"_irc_user_passes_mine_\w+\.UserPass \(from file .*mine\.py\) and by "
                       r"mod_c\.PassC \(from entry point"):
        load_entry_point_passes()


def test_entry_point_naming_a_pass_class(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    src = pass_source_code("t-from-class", "Cls").replace("@register_pass\n", "")
    make_dist(tmp_path, "dist-d", {"d": "mod_d:Cls"}, {"mod_d": src})
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [c.name for c in load_entry_point_passes()] == ["t-from-class"]
    assert load_entry_point_passes() == []


@pytest.mark.parametrize("target, module, message", [
    ("broken_mod", "raise RuntimeError('needs CUDA')\n",
     "failed to load: RuntimeError: needs CUDA (fix or uninstall the plugin)"),
    ("missing_mod", None,
     "failed to load: ModuleNotFoundError: No module named 'missing_mod'"),
    ("odd_mod:VALUE", "VALUE = 42\n",
     "refers to 42, which is neither a module nor a subclass of irc.pass_manager.Pass"),
])
def test_broken_entry_points_name_distribution_and_entry_point(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, module: str | None,
        message: str) -> None:
    mods = {target.split(":")[0]: module} if module is not None else {}
    make_dist(tmp_path, "dist-broken", {"broken": target}, mods)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as exc:
        load_entry_point_passes()
    assert str(exc.value).startswith(
        f"irc pass plugin entry point 'broken = {target}' of distribution 'dist-broken' ")
    assert message in str(exc.value)


def test_a_broken_plugin_makes_get_pass_fail_until_fixed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_dist(tmp_path, "dist-broken", {"broken": "gone_mod"}, {})
    monkeypatch.syspath_prepend(str(tmp_path))
    _mark_plugins_loaded(False)
    for _ in range(2):
        with pytest.raises(PluginError, match="distribution 'dist-broken'"):
            get_pass("anything")


# ---------------------------------------------------------------------------
# --load FILE.py
# ---------------------------------------------------------------------------

def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_load_pass_file_registers_its_passes(tmp_path: Path) -> None:
    path = _write(tmp_path / "my passes.py", pass_source_code("t-user", doc="Mine."))
    [cls] = load_pass_file(path)
    assert cls.name == "t-user" and get_pass("t-user") is cls
    assert pass_source("t-user").endswith(f"(from file {path})")
    assert run_pipeline(Graph("g"), "t-user").name == "t-user"
    assert load_pass_file(str(path)) == [cls]       # imported once


def test_load_pass_file_missing_or_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match=r"pass file .*nope\.py: no such file"):
        load_pass_file(tmp_path / "nope.py")
    with pytest.raises(PluginError, match="not a file"):
        load_pass_file(tmp_path)


def test_load_pass_file_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.py", "x = 1\ndef f(:\n    pass\n")
    with pytest.raises(PluginError) as exc:
        load_pass_file(path)
    assert str(exc.value).startswith(f"{path}:2: syntax error in pass file: ")
    assert isinstance(exc.value.__cause__, SyntaxError)


def test_load_pass_file_exception_names_file_line_and_type(tmp_path: Path) -> None:
    src = pass_source_code("t-partial") + "\n\nraise ImportError('no module named onnx')\n"
    path = _write(tmp_path / "boom.py", src)
    line = src.splitlines().index("raise ImportError('no module named onnx')") + 1
    with pytest.raises(PluginError) as exc:
        load_pass_file(path)
    assert str(exc.value) == (f"{path}:{line}: error while loading pass file: ImportError: "
                              "no module named onnx")
    assert "t-partial" not in all_passes()           # rolled back
    assert not [m for m in sys.modules if m.startswith("_irc_user_passes_boom")]


def test_load_pass_file_clash_names_both_files(tmp_path: Path) -> None:
    first = _write(tmp_path / "a" / "passes.py", pass_source_code("t-same", "First"))
    second = _write(tmp_path / "b" / "passes.py", pass_source_code("t-same", "Second"))
    load_pass_file(first)
    with pytest.raises(PluginError) as exc:
        load_pass_file(second)
    msg = str(exc.value)
    assert msg.startswith(f"while loading pass file {second}: pass name 't-same' is registered "
                          "twice: by ")
    assert f".First (from file {first})" in msg and f".Second (from file {second})" in msg


def test_load_pass_file_with_an_invalid_pass(tmp_path: Path) -> None:
    src = pass_source_code("t-mutable").replace("@dataclass(frozen=True)", "@dataclass")
    path = _write(tmp_path / "mut.py", src)
    with pytest.raises(PluginError, match=r"while loading pass file .*mut\.py: register_pass: "
                       r".*UserPass must be a frozen dataclass"):
        load_pass_file(path)
