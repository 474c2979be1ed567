"""ONNX's backend node tests, run against irc's interpreter as an ONNX backend
(:class:`irc.frontend.onnx_backend.IrcBackend`).

Which tests: every node test the installed ``onnx`` builds in memory
(``onnx.backend.test.loader.load_model_tests(kind="node")``: a model plus
input and expected output tensors; nothing is downloaded; wheels before 1.23
ship them as data files, read instead) whose nodes are all
op types the importer converts (``irc.onnx_import.supported_ops()``).  That
takes in the ``_expanded`` variants of ops irc has no converter for when their
function body uses only supported ops.  Each is prepared (import + verify),
run, and compared with ONNX's own check
(``onnx.backend.test.runner.Runner.assert_similar_outputs``: same shapes and
dtypes, ``rtol``/``atol`` from the test case, 1e-3 / 1e-7 unless it says
otherwise).

``onnx_node_tests.txt`` (next to this file) lists each such test as
``[included]`` (must pass) or in an ``[excluded: CATEGORY]`` section with a
reason (skipped).  A test in neither list is *unlisted*:

* under the onnx version the list was triaged with (its ``onnx`` line),
  unlisted tests run like included ones and ``test_node_test_list_is_complete``
  fails naming each one with its result, so a new converter's node tests get
  triaged in the same change;
* under any other onnx version they are skipped and reported in a warning,
  and listed names that version no longer has are ignored: upgrading onnx
  never breaks CI by itself.  Re-triage then (below) and bump the onnx line.

A listed test whose ops this build does not convert (the list may be triaged
ahead of a converter, or a converter was dropped) is skipped, naming the ops.

``IRC_ONNX_NODE_TESTS=all`` runs the excluded tests too, as strict xfails: an
excluded test that passes fails, to be moved to ``[included]``.

Triage helper: ``python tests/frontend/test_onnx_backend.py`` runs every
candidate and prints the counts, the unlisted tests (with the line to add),
stale names and excluded tests that now pass.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx.backend.test.runner import Runner  # noqa: E402

from irc.frontend.onnx_backend import IrcBackend  # noqa: E402
from irc.onnx_import import supported_ops  # noqa: E402

LIST_FILE = Path(__file__).with_name("onnx_node_tests.txt")
DOC_FILE = Path(__file__).resolve().parents[2] / "docs" / "onnx.md"
RUN_EXCLUDED = os.environ.get("IRC_ONNX_NODE_TESTS", "") == "all"


# --- the list file ------------------------------------------------------------------------

class NodeTestList(NamedTuple):
    onnx_version: str
    included: list[str]
    excluded: dict[str, tuple[str, str]]      # name -> (category, detail)


def parse_list(text: str, where: str = str(LIST_FILE)) -> NodeTestList:
    """``onnx VERSION``, then ``[included]`` (one name a line) and
    ``[excluded: CATEGORY]`` sections (``name  reason`` lines); ``#`` comments."""
    version, included, excluded = "", [], {}
    section: str | None = None
    seen: set[str] = set()
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"\[(included|excluded:\s*(.+?))\]", line)
        if m:
            section = "included" if m.group(1) == "included" else m.group(2)
            continue
        if section is None:
            key, _, val = line.partition(" ")
            if key != "onnx" or not val.strip():
                raise ValueError(f"{where}:{no}: expected 'onnx VERSION' before the sections")
            version = val.strip()
            continue
        name, _, reason = line.partition(" ")
        if not name.startswith("test_"):
            raise ValueError(f"{where}:{no}: {name!r} is not a node test name")
        if name in seen:
            raise ValueError(f"{where}:{no}: {name} is listed twice")
        seen.add(name)
        if section == "included":
            if reason.strip():
                raise ValueError(f"{where}:{no}: included tests take no reason")
            included.append(name)
        else:
            if not reason.strip():
                raise ValueError(f"{where}:{no}: excluded test {name} needs a reason")
            excluded[name] = (section, reason.strip())
    if not version:
        raise ValueError(f"{where}: no 'onnx VERSION' line")
    return NodeTestList(version, included, excluded)


# --- the node tests -----------------------------------------------------------------------

class NodeCase:
    """One node test: ``model``, ``data_sets`` ([(inputs, expected outputs)]),
    ``rtol``, ``atol``.  onnx >= 1.23 builds them in memory; older wheels ship
    them as files (``model_dir`` with ``model.onnx`` and ``test_data_set_*/``
    ``input_K.pb`` / ``output_K.pb``), read here, the data sets when first run."""

    def __init__(self, case: Any) -> None:
        self.name, self.rtol, self.atol = case.name, case.rtol, case.atol
        self._dir = case.model_dir
        self.model = case.model if case.model is not None else \
            onnx.load(os.path.join(self._dir, "model.onnx"))
        self._data = case.data_sets

    @property
    def data_sets(self) -> list[tuple[list[Any], list[Any]]]:
        if self._data is None:
            sets = sorted(Path(self._dir).glob("test_data_set_*"))
            self._data = [(self._protos(d, "input"), self._protos(d, "output")) for d in sets]
        return list(self._data)

    @staticmethod
    def _protos(d: Path, kind: str) -> list[Any]:
        out = []
        for k in range(len(list(d.glob(f"{kind}_*.pb")))):
            t = onnx.TensorProto()
            t.ParseFromString((d / f"{kind}_{k}.pb").read_bytes())   # tensors only
            out.append(t)
        return out


def load_node_tests() -> dict[str, NodeCase]:
    """name -> node test of the installed onnx (in memory, or its data files)."""
    from onnx.backend.test.loader import load_model_tests
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")        # the generators overflow on purpose
        return {t.name: NodeCase(t) for t in load_model_tests(kind="node")}


def is_candidate(case: Any, supported: set[str]) -> bool:
    """Every node is an op type of the default domain that the importer converts."""
    nodes = case.model.graph.node
    return bool(nodes) and all(n.domain in ("", "ai.onnx") and n.op_type in supported
                               for n in nodes)


def _array(t: Any) -> np.ndarray:
    return onnx.numpy_helper.to_array(t) if isinstance(t, onnx.TensorProto) else np.asarray(t)


def run_case(case: Any) -> None:
    """Prepare the model, run every data set, compare as onnx's runner does."""
    rep = IrcBackend.prepare(case.model)
    for inputs, expected in case.data_sets:
        got = rep.run([_array(x) for x in inputs])
        Runner.assert_similar_outputs([_array(y) for y in expected], list(got),
                                      rtol=case.rtol, atol=case.atol)


LISTED = parse_list(LIST_FILE.read_text())
CASES = load_node_tests()
SUPPORTED = set(supported_ops())
CANDIDATES = sorted(n for n, c in CASES.items() if is_candidate(c, SUPPORTED))
SAME_ONNX = LISTED.onnx_version == onnx.__version__
UNLISTED = [n for n in CANDIDATES if n not in LISTED.included and n not in LISTED.excluded]
STALE = sorted(n for n in (*LISTED.included, *LISTED.excluded) if n not in CASES)


def _params() -> list[Any]:
    params = []
    for name in sorted(set(CANDIDATES) | set(LISTED.included) | set(LISTED.excluded)):
        if name not in CASES:
            continue                       # stale: reported by the completeness test
        marks: list[Any] = []
        if name not in CANDIDATES:
            missing = sorted({n.op_type for n in CASES[name].model.graph.node} - SUPPORTED)
            marks.append(pytest.mark.skip(
                reason=f"listed, but this build does not convert {', '.join(missing)}"))
        elif name in LISTED.excluded:
            cat, why = LISTED.excluded[name]
            reason = f"excluded ({cat}): {why}"
            marks.append(pytest.mark.xfail(reason=reason, strict=True) if RUN_EXCLUDED
                         else pytest.mark.skip(reason=reason))
        elif name not in LISTED.included and not SAME_ONNX:
            marks.append(pytest.mark.skip(
                reason=f"not in {LIST_FILE.name} (triaged for onnx {LISTED.onnx_version}, "
                       f"this is {onnx.__version__})"))
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.mark.parametrize("name", _params())
def test_node(name: str) -> None:
    run_case(CASES[name])


def test_node_test_list_is_complete() -> None:
    problems = []
    if UNLISTED:
        problems.append(f"{len(UNLISTED)} node test(s) of supported ops are in neither list "
                        f"(see their test_node results; add each to [included] or to an "
                        f"[excluded: ...] section with a reason): " + ", ".join(UNLISTED))
    if STALE:
        problems.append(f"{len(STALE)} listed test(s) the installed onnx does not have: "
                        + ", ".join(STALE))
    if not problems:
        return
    msg = f"{LIST_FILE.name}: " + "\n".join(problems) + \
        "\n(python tests/frontend/test_onnx_backend.py prints the lines to add)"
    if SAME_ONNX:
        pytest.fail(msg)
    warnings.warn(f"onnx {onnx.__version__} differs from the {LISTED.onnx_version} the list "
                  f"was triaged with; {msg}")


def test_list_file_is_sorted_and_categorized() -> None:
    assert LISTED.included == sorted(LISTED.included), "keep [included] sorted"
    by_cat: dict[str, list[str]] = {}
    for name, (cat, _) in LISTED.excluded.items():
        by_cat.setdefault(cat, []).append(name)
    for cat, names in by_cat.items():
        assert names == sorted(names), f"keep [excluded: {cat}] sorted"


def test_docs_state_the_counts() -> None:
    """docs/onnx.md's "Backend tests" section quotes the list's totals."""
    line = f"{len(LISTED.included)} included, {len(LISTED.excluded)} excluded"
    assert line in DOC_FILE.read_text(), \
        f"update the counts in {DOC_FILE.name}'s Backend tests section to '{line}'"


def test_backend_api_on_a_small_model() -> None:
    """prepare/run with a sequence, a mapping; run_node; specialized inputs."""
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    s = helper.make_tensor_value_info("s", TensorProto.INT64, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["r"]),
                           helper.make_node("Reshape", ["r", "s"], ["y"])], "g", [x, s], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    a = np.array([[1, -2, 3], [-4, 5, -6]], np.float32)
    rep = IrcBackend.prepare(m)
    out = rep.run([a, np.array([3, 2])])
    np.testing.assert_array_equal(out[0], np.maximum(a, 0).reshape(3, 2))
    assert rep.specialized == ["s"]          # Reshape's shape is bound to its value
    out = rep.run({"x": a, "s": np.array([1, 6])})
    assert out["y"].shape == (1, 6)
    # symbolic dims: imported per run for the inputs' shapes, or once given input_shapes
    xd = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])
    md = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "d",
                                             [xd], [y]),
                           opset_imports=[helper.make_opsetid("", 17)])
    rep = IrcBackend.prepare(md)
    assert rep.graph is None
    assert rep.run([a])[0].shape == (2, 3)
    assert rep.run([np.ones((5, 3), np.float32)])[0].shape == (5, 3)
    rep = IrcBackend.prepare(md, input_shapes={"x": (4, 3)})
    assert rep.graph is not None and rep.graph.inputs[0].type.shape == (4, 3)
    (z,) = IrcBackend.run_node(helper.make_node("Sigmoid", ["x"], ["z"]), [a])
    np.testing.assert_allclose(z, 1 / (1 + np.exp(-a)), rtol=1e-6)
    assert IrcBackend.supports_device("CPU") and not IrcBackend.supports_device("CUDA")


# --- triage helper ------------------------------------------------------------------------

def _triage() -> int:
    results: dict[str, str] = {}
    for name in CANDIDATES:
        try:
            run_case(CASES[name])
            results[name] = ""
        except Exception as e:  # noqa: BLE001 - reported
            results[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    ok = [n for n, r in results.items() if not r]
    print(f"onnx {onnx.__version__} (list: {LISTED.onnx_version}); {len(CASES)} node tests, "
          f"{len(CANDIDATES)} of supported ops; {len(ok)} pass")
    print(f"list: {len(LISTED.included)} included, {len(LISTED.excluded)} excluded")
    for cat, n in sorted(Counter(c for c, _ in LISTED.excluded.values()).items()):
        print(f"  {n:4d}  {cat}")
    bad = [n for n in LISTED.included if results.get(n)]
    if bad:
        print("\nincluded but failing:")
        for n in bad:
            print(f"  {n}: {results[n]}")
    if UNLISTED:
        print("\nunlisted (add to [included]):")
        for n in UNLISTED:
            if not results[n]:
                print(f"{n}")
        print("\nunlisted and failing (exclude with a reason, or fix):")
        for n in UNLISTED:
            if results[n]:
                print(f"{n}  {results[n]}")
    now_pass = [n for n in LISTED.excluded if n in results and not results[n]]
    if now_pass:
        print("\nexcluded but passing (move to [included]): " + ", ".join(now_pass))
    if STALE:
        print("\nnot in this onnx: " + ", ".join(STALE))
    return 0


if __name__ == "__main__":
    sys.exit(_triage())
