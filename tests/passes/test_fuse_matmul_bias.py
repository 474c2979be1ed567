"""fuse-matmul-bias: how often it fires, what remains, and that the values are unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import irc
from irc.builder import Builder
from irc.pass_manager import PassContext, run_pipeline


def _linear(shape, bias_first, bias_shape=None, clamp=None):
    rng = np.random.default_rng(0)
    b = Builder()
    x = b.input("x", f"f32[{','.join(map(str, shape))}]")
    w = rng.standard_normal((shape[-1], 6)).astype(np.float32)
    bias = rng.standard_normal(bias_shape or (6,)).astype(np.float32)
    mm = b.nn.matmul(x, w)
    kw = {"clamp": clamp} if clamp else {}
    y = b.nn.add(bias, mm, **kw) if bias_first else b.nn.add(mm, bias, **kw)
    return b.finish(y)


@pytest.mark.parametrize("shape,bias_first,ops", [
    ((5, 8), False, ["nn.gemm"]),
    ((1, 5, 8), True, ["nn.reshape", "nn.gemm", "nn.reshape"]),
    ((2, 3, 8), False, ["nn.reshape", "nn.gemm", "nn.reshape"]),
])
def test_fires_and_keeps_values(shape, bias_first, ops):
    g = _linear(shape, bias_first)
    ctx = PassContext()
    out = run_pipeline(g.copy(), "fuse-matmul-bias,dce", ctx=ctx, verify_each=True)
    assert ctx.statistics["fuse-matmul-bias"]["fused"] == 1
    assert [n.op for n in out.nodes if n.op != "const"] == ops
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(irc.run(out, {"x": x})[out.outputs[0].name],
                               irc.run(g, {"x": x})[g.outputs[0].name], rtol=1e-6, atol=1e-6)


def test_clamp_moves_to_the_gemm_and_non_bias_adds_are_left():
    g = _linear((5, 8), False, clamp=[0.0, 1.0])
    out = irc.compile(g, "fuse-matmul-bias,dce")
    (gemm,) = [n for n in out.nodes if n.op == "nn.gemm"]
    assert tuple(gemm.attrs["clamp"]) == (0.0, 1.0)
    not_bias = _linear((5, 8), False, bias_shape=(5, 6))       # a matrix, not a vector
    assert "nn.gemm" not in [n.op for n in irc.compile(not_bias, "fuse-matmul-bias").nodes]
