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


# ---------------------------------------------------------------------------
# Random graphs rarely contain conv -> batch_norm or linear -> relu chains, so
# fuse-bn and fuse-activation get graphs built to contain them.
# ---------------------------------------------------------------------------

from hypothesis import strategies as st  # noqa: E402

from irc.builder import Builder  # noqa: E402
from irc.dtypes import DType  # noqa: E402
from irc.types import TensorType  # noqa: E402


@st.composite
def fusable_chains(draw) -> irc.Graph:  # type: ignore[no-untyped-def]
    """conv2d / conv_transpose2d / gemm / matmul / add, each optionally followed by
    batch_norm and an activation (relu, relu6, clip), with random shapes, groups,
    strides, and sometimes a second reader or a graph output in the middle."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    b = Builder("chains")
    n, c = draw(st.integers(1, 2)), draw(st.sampled_from([2, 4]))
    x = b.input("x", TensorType(DType.F32, (n, c, 5, 5)))
    outs = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["conv", "convt", "gemm", "matmul", "add"]))
        groups = draw(st.sampled_from([1, c]))
        o = c * draw(st.integers(1, 2)) if kind != "convt" else c
        if kind == "conv":
            k, s = draw(st.sampled_from([1, 3])), draw(st.integers(1, 2))
            y = b.nn.conv2d(x, b.const(f32(o, c // groups, k, k)),
                            *( [b.const(f32(o))] if draw(st.booleans()) else []),
                            strides=(s, s), pads=(k // 2,) * 4, groups=groups)
        elif kind == "convt":
            y = b.nn.conv_transpose2d(x, b.const(f32(c, o // groups, 2, 2)),
                                      strides=(2, 2), groups=groups)
        elif kind in ("gemm", "matmul"):
            flat = b.nn.flatten(x)
            k_in = flat.type.shape[1]
            if kind == "gemm":
                tb = draw(st.booleans())
                w = f32(o, k_in) if tb else f32(k_in, o)
                y = b.nn.gemm(flat, b.const(w), b.const(f32(o)), trans_b=tb,
                              alpha=draw(st.sampled_from([1.0, 0.5])),
                              beta=draw(st.sampled_from([1.0, 2.0])))
            else:
                y = b.nn.matmul(flat, b.const(f32(k_in, o)))
        else:
            y = b.nn.add(x, b.const(f32(c, 1, 1)))
        ch = y.type.shape[1]
        if draw(st.booleans()):
            var = (rng.random(ch) + 0.5).astype(np.float32)
            y = b.nn.batch_norm(y, b.const(f32(ch)), b.const(f32(ch)), b.const(f32(ch)),
                                b.const(var), epsilon=1e-3)
        if draw(st.booleans()):
            outs.append(y)                       # a second reader: graph output
        act = draw(st.sampled_from(["none", "relu", "relu6", "clip"]))
        if act == "relu":
            y = b.nn.relu(y)
        elif act == "relu6":
            y = b.nn.relu6(y)
        elif act == "clip":
            y = b.nn.clip(y, min=-0.5, max=draw(st.sampled_from([0.5, 3.0])))
        outs.append(y)
    return b.finish(*outs)


@pytest.mark.parametrize("pipeline", ["fuse-bn", "fuse-activation",
                                      "fuse-bn,fuse-activation,dce"])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=fusable_chains())
def test_fusions_preserve_semantics(pipeline: str, g: irc.Graph) -> None:
    feeds = random_inputs(g, seed=1)
    before = irc.run(g, feeds)
    ctx = irc.PassContext()
    from irc.pass_manager import run_pipeline
    out = run_pipeline(g.copy(), pipeline, verify_each=True, ctx=ctx)
    fired = sum(v for d in ctx.statistics.values() for k, v in d.items() if k == "fused")
    event("fused" if fired else "nothing fused")
    # the op count never grows (no node is duplicated by a fusion)
    count = lambda gr: sum(n.op != "const" for n in gr.nodes)  # noqa: E731
    assert count(out) <= count(g)
    after = irc.run(out, feeds)
    assert list(after) == list(before)
    for name in before:
        # fuse-bn re-associates float arithmetic, so compare within float32 rounding
        np.testing.assert_allclose(after[name], before[name], rtol=2e-4, atol=2e-4,
                                   err_msg=name)
