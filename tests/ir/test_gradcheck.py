"""The gradient checker (irc/gradcheck.py) itself: it passes a right VJP and
catches wrong ones with a message naming the op, operand and element."""

from __future__ import annotations

import numpy as np
import pytest

from irc.gradcheck import check_op_vjp, numeric_grad
from irc.ops import get_op

rng = np.random.default_rng(0)


def rand(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def test_numeric_grad_of_a_quadratic() -> None:
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    g = numeric_grad(lambda v: float(np.sum(v ** 2)), x)
    np.testing.assert_allclose(g, 2 * x, rtol=1e-7)
    pts = [(0, 1), (1, 0)]
    np.testing.assert_allclose(numeric_grad(lambda v: float(np.sum(v ** 2)), x, index=pts),
                               [-4.0, 1.0], rtol=1e-7)


def test_right_vjp_passes_and_returns_float64() -> None:
    grads = check_op_vjp("nn.matmul", [rand(3, 4), rand(4, 2)], {})
    assert [g.shape for g in grads] == [(3, 4), (4, 2)]
    assert all(g.dtype == np.float64 for g in grads)


def _patch(monkeypatch: pytest.MonkeyPatch, op_name: str, fn) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(type(get_op(op_name)), "vjp", staticmethod(fn))


def test_wrong_values_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    right = get_op("nn.matmul").vjp

    def off_by_one_element(inputs, attrs, outputs, gys):  # type: ignore[no-untyped-def]
        da, db = right(inputs, attrs, outputs, gys)
        db = db.copy()
        db[1, 0] += 0.5
        return [da, db]
    _patch(monkeypatch, "nn.matmul", off_by_one_element)
    with pytest.raises(AssertionError, match=r"nn\.matmul.*d/db \(operand 1\).*\[1, 0\]"):
        check_op_vjp("nn.matmul", [rand(3, 4), rand(4, 2)], {})
    # operand 0 alone is still right
    check_op_vjp("nn.matmul", [rand(3, 4), rand(4, 2)], {}, wrt=[0])


def test_error_outside_the_sample_is_caught_by_directions(
        monkeypatch: pytest.MonkeyPatch) -> None:
    right = get_op("nn.matmul").vjp

    def scaled(inputs, attrs, outputs, gys):  # type: ignore[no-untyped-def]
        da, db = right(inputs, attrs, outputs, gys)
        return [da * 1.01, db]
    _patch(monkeypatch, "nn.matmul", scaled)
    with pytest.raises(AssertionError, match="d/da"):
        check_op_vjp("nn.matmul", [rand(20, 30), rand(30, 2)], {}, max_elements=1)


def test_shape_dtype_none_and_mutation_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = rand(3, 4), rand(4, 2)
    right = get_op("nn.matmul").vjp
    _patch(monkeypatch, "nn.matmul", lambda i, at, o, g: [None, right(i, at, o, g)[1]])
    with pytest.raises(AssertionError, match="returned None"):
        check_op_vjp("nn.matmul", [a, b], {})
    _patch(monkeypatch, "nn.matmul", lambda i, at, o, g: [right(i, at, o, g)[0].T, None])
    with pytest.raises(AssertionError, match="shape"):
        check_op_vjp("nn.matmul", [a, b], {}, wrt=[0])
    _patch(monkeypatch, "nn.matmul",
           lambda i, at, o, g: [x.astype(np.float64) for x in right(i, at, o, g)])
    with pytest.raises(AssertionError, match="float64, expected the operand's dtype float32"):
        check_op_vjp("nn.matmul", [a, b], {})

    def writes(inputs, attrs, outputs, gys):  # type: ignore[no-untyped-def]
        gys[0][...] = 0
        return right(inputs, attrs, outputs, gys)
    _patch(monkeypatch, "nn.matmul", writes)
    with pytest.raises(ValueError, match="read-only"):
        check_op_vjp("nn.matmul", [a, b], {})
    _patch(monkeypatch, "nn.matmul", lambda i, at, o, g: [None])
    with pytest.raises(AssertionError, match="1 gradients for 2 operands"):
        check_op_vjp("nn.matmul", [a, b], {})


def test_no_vjp_and_bad_wrt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(type(get_op("nn.matmul")), "vjp", None)
    with pytest.raises(AssertionError, match="nn.matmul has no VJP"):
        check_op_vjp("nn.matmul", [rand(2, 2), rand(2, 2)], {})
    monkeypatch.undo()
    with pytest.raises(ValueError, match="out of range"):
        check_op_vjp("nn.matmul", [rand(2, 2), rand(2, 2)], {}, wrt=[2])


def test_given_grad_outputs() -> None:
    a, b = rand(2, 3), rand(3, 2)
    grads = check_op_vjp("nn.matmul", [a, b], {}, grad_outputs=[np.ones((2, 2))])
    np.testing.assert_allclose(grads[0], np.ones((2, 2)) @ b.astype(np.float64).T, rtol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        check_op_vjp("nn.matmul", [a, b], {}, grad_outputs=[np.ones((3, 3))])
