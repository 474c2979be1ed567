"""fuse-gelu: how often it fires, what remains, and that the function is unchanged."""

from __future__ import annotations

import math

import numpy as np
import pytest

import irc
from irc.builder import Builder
from irc.pass_manager import PassContext, run_pipeline

R2 = np.float32(math.sqrt(2.0))


def _gelu_graph(variant: str, c: float = float(R2)):
    b = Builder()
    x = b.input("x", "f32[4,16]")
    if variant == "bert":        # x·(1 + erf(x/√2))·½, as torch exports it
        y = b.nn.mul(b.nn.mul(x, b.nn.add(b.nn.erf(b.nn.div(x, np.float32(c))),
                                          np.float32(1))), np.float32(0.5))
    elif variant == "half_first":  # (½·x)·(1 + erf(x·1/√2)), operands swapped
        y = b.nn.mul(b.nn.mul(np.float32(0.5), x),
                     b.nn.add(np.float32(1), b.nn.erf(b.nn.mul(np.float32(1 / c), x))))
    else:                        # two GELUs in a row, the second feeding an output twice
        h = b.nn.mul(b.nn.mul(x, b.nn.add(b.nn.erf(b.nn.div(x, R2)), np.float32(1))),
                     np.float32(0.5))
        y = b.nn.mul(b.nn.mul(h, b.nn.add(b.nn.erf(b.nn.div(h, R2)), np.float32(1))),
                     np.float32(0.5))
    return b.finish(y)


@pytest.mark.parametrize("variant,fired", [("bert", 1), ("half_first", 1), ("chain", 2)])
def test_fuse_gelu_fires_and_keeps_the_function(variant, fired):
    g = _gelu_graph(variant)
    ctx = PassContext()
    out = run_pipeline(g.copy(), "fuse-gelu,dce", ctx=ctx, verify_each=True)
    assert ctx.statistics["fuse-gelu"]["fused"] == fired
    assert [n.op for n in out.nodes if n.op != "const"] == ["nn.gelu"] * fired
    x = (np.random.default_rng(0).standard_normal((4, 16)) * 3).astype(np.float32)
    want = irc.run(g, {"x": x})[g.outputs[0].name]
    got = irc.run(out, {"x": x})[out.outputs[0].name]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_fuse_gelu_declines_other_constants():
    g = _gelu_graph("bert", c=1.5)
    out = irc.compile(g, "fuse-gelu")
    assert "nn.gelu" not in [n.op for n in out.nodes]
