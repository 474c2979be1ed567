"""Property: the text form round-trips every valid graph.

For random graphs (``strategies.graphs``), in both the custom and the generic
form, with large constants in a sidecar dict:

* ``parse(print(g))`` is structurally equal to ``g`` (names, types, ops,
  attributes, constants bit for bit, locations, graph attributes);
* printing the parsed graph gives the same text (the printer is canonical);
* the generic text parses to the same graph as the custom text;
* ``load_text(save_text(g))`` through real files (text plus sidecar ``.npz``) is
  structurally equal to ``g``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from irc.ir import Graph, diff_graphs
from irc.parser import parse_graph
from irc.printer import print_graph
from irc.textio import load_text, save_text

try:
    from strategies import graphs
except ImportError:  # tests/ir imported as a package
    from .strategies import graphs  # type: ignore[no-redef]


def _roundtrip(g: Graph, generic: bool, inline_limit: int) -> str:
    sidecar: dict[str, np.ndarray] = {}
    text = print_graph(g, sidecar=sidecar, generic=generic, inline_limit=inline_limit)
    g2 = parse_graph(text, sidecar=sidecar)
    diff = diff_graphs(g2, g)
    assert diff is None, f"{diff}\n--- text:\n{text}"
    sidecar2: dict[str, np.ndarray] = {}
    again = print_graph(g2, sidecar=sidecar2, generic=generic, inline_limit=inline_limit)
    assert again == text
    assert sidecar2.keys() == sidecar.keys()
    for k, arr in sidecar.items():
        assert sidecar2[k].dtype == arr.dtype and sidecar2[k].tobytes() == arr.tobytes()
    return text


@settings(max_examples=500, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(graphs(), st.sampled_from([16, 16, 0, 3, 1000]))
def test_print_parse_roundtrip(g: Graph, inline_limit: int) -> None:
    custom = _roundtrip(g, False, inline_limit)
    generic = _roundtrip(g, True, inline_limit)
    # the two forms describe the same graph
    sidecar: dict[str, np.ndarray] = {}
    text = print_graph(g, sidecar=sidecar, generic=True, inline_limit=inline_limit)
    assert print_graph(parse_graph(text, sidecar=sidecar),
                       inline_limit=inline_limit, sidecar={}) == custom
    assert generic == text


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(graphs(), st.booleans())
def test_save_load_roundtrip_through_files(g: Graph, generic: bool) -> None:
    # a fresh directory per example: pytest's function-scoped tmp_path would be
    # shared by every example hypothesis runs
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "model.irc"
        save_text(g, path, generic=generic)
        g2 = load_text(path)
        diff = diff_graphs(g2, g)
        assert diff is None, f"{diff}\n--- text:\n{path.read_text()}"
        assert not [f for f in os.listdir(d) if f.startswith(".")]   # no temp files left
