"""Property tests: every built-in pass keeps random valid graphs valid and
computing the same values.

Graphs come from ``tests/ir/strategies.py`` (random DAGs over every registered
op, constants of every dtype including NaN payloads and -0.0).  For each graph
and pipeline: the result verifies, and on the same random inputs the outputs
are equal (NaNs in the same places; -0.0 == 0.0, since ``x + 0`` -> ``x`` may
flip the sign of a zero).  Graphs the interpreter itself rejects (say, a
gather with out-of-range indices) are skipped.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings

import irc
from irc.errors import InterpreterError
from irc.interpreter import random_inputs
from irc.verifier import verify

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ir"))
from strategies import graphs  # noqa: E402

PIPELINES = ["fold", "dce", "noop-elim", "fuse-activation", "fuse-bn",
             "fold,noop-elim,fuse-bn,fuse-activation,dce"]


@pytest.mark.parametrize("pipeline", PIPELINES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=graphs(max_nodes=10))
def test_pass_preserves_semantics(pipeline: str, g: irc.Graph) -> None:
    feeds = random_inputs(g, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            before = irc.run(g, feeds)
        except InterpreterError:
            assume(False)
        after_graph = irc.compile(g, pipeline, verify_each=True)
        verify(after_graph)
        event("graph changed" if len(after_graph.nodes) != len(g.nodes) else "unchanged")
        after = irc.run(after_graph, feeds)
    assert list(after) == list(before)
    for name in before:
        a, b = after[name], before[name]
        assert a.dtype == b.dtype and a.shape == b.shape, name
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
            np.testing.assert_array_equal(a[~np.isnan(a)], b[~np.isnan(b)], err_msg=name)
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)
