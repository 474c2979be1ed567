"""Regression tests for pass bugs found in review (each failed before its fix)."""

from __future__ import annotations

import numpy as np

import irc
from irc.builder import Builder
from irc.dtypes import DType
from irc.types import PerTensor, TensorType


def test_fused_clamp_on_int64_keeps_exact_values() -> None:
    big = np.array([2**53 + 1, -5], np.int64)
    b = Builder("i")
    x = b.input("x", TensorType(DType.I64, (2,)))
    y = b.nn.relu(b.nn.add(x, np.zeros(2, np.int64)), name="y")
    z = b.nn.clip(x, min=-1.5, max=1e30, name="z")
    g = b.finish(y, z)
    out = irc.run(g, {"x": big})
    assert out["y"].tolist() == [2**53 + 1, 0]
    assert out["z"].tolist() == [2**53 + 1, -1]
    fused = irc.compile(g, "fuse-activation", verify_each=True)
    assert [n.op for n in fused.nodes if n.op != "const"] == ["nn.add", "nn.clip"]
    assert irc.run(fused, {"x": big})["y"].tolist() == [2**53 + 1, 0]


def test_identity_of_quantized_value_is_not_forwarded() -> None:
    b = Builder("q")
    x = b.input("x", TensorType(DType.F32, (2,)))
    c = b.const(np.array([1, 2], np.int8), type=TensorType(DType.I8, (2,), PerTensor(0.5, 3)))
    y = b.nn.identity(c, name="y")
    g = b.finish(b.nn.relu(x, name="r"), y)
    out = irc.compile(g, "noop-elim", verify_each=True)
    assert out.value("y").type == TensorType(DType.I8, (2,))     # meaning unchanged


def test_default_transpose_of_square_matrix_is_kept() -> None:
    b = Builder("t")
    x = b.input("x", TensorType(DType.F32, (2, 2)))
    g = b.finish(b.nn.transpose(b.nn.relu(x), name="y"))
    out = irc.compile(g, "noop-elim", verify_each=True)
    x_val = np.array([[1, 2], [3, 4]], np.float32)
    np.testing.assert_array_equal(irc.run(out, {"x": x_val})["y"], x_val.T)


def test_fold_rejects_negative_max_elements() -> None:
    import pytest
    from irc.errors import PipelineError
    with pytest.raises(PipelineError, match="max_elements' must be >= 0"):
        irc.compile(Builder("e").graph, "fold{max_elements=-1}")
