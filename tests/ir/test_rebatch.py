"""irc.rebatch.with_batch: the same parameters at another batch size."""

from __future__ import annotations

import numpy as np
import pytest

import irc
from irc.builder import Builder
from irc.rebatch import RebatchError, batch_size, with_batch


def _net(batch: int) -> irc.Graph:
    rng = np.random.default_rng(0)
    b = Builder("net")
    x = b.input("x", f"f32[{batch},2,4,4]")
    h = b.nn.conv2d(x, b.const(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), "w"),
                    pads=(1, 1, 1, 1))
    h = b.nn.reshape(h, shape=[batch, 48])           # an exporter's folded Shape
    return b.finish(b.nn.gemm(h, b.const(rng.standard_normal((48, 5)).astype(np.float32), "fc"),
                              name="y"))


def test_with_batch_keeps_parameters_and_values() -> None:
    g = _net(4)
    x = np.random.default_rng(1).standard_normal((4, 2, 4, 4)).astype(np.float32)
    ref = irc.run(g, {"x": x})["y"]
    one = with_batch(g, 1)
    assert batch_size(one) == 1 and one.outputs[0].type.shape == (1, 5)
    assert one.value("w").const_value is g.value("w").const_value or \
        np.array_equal(one.value("w").const_value, g.value("w").const_value)
    for i in range(4):
        np.testing.assert_allclose(irc.run(one, {"x": x[i:i + 1]})["y"], ref[i:i + 1],
                                   rtol=1e-5, atol=1e-4)
    assert with_batch(g, 4) is g
    assert batch_size(g) == 4                             # the original is untouched


def test_an_op_that_fixes_the_batch_is_named() -> None:
    b = Builder("fixed")
    x = b.input("x", "f32[4,6]")
    g = b.finish(b.nn.reshape(x, shape=[2, 12], name="y"))   # folds the batch into rows
    with pytest.raises(RebatchError, match=r"nn\.reshape.*does not take batch 3"):
        with_batch(g, 3)
    with pytest.raises(ValueError, match=">= 1"):
        with_batch(g, 0)
