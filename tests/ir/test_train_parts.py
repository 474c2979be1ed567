"""The training loop's parts (irc/train.py): batches, losses with their gradients,
schedules and optimizers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irc.train import (SGD, Adam, Batches, cosine, cross_entropy, mse, soft_cross_entropy,
                       step_decay)


def _numeric_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:  # type: ignore[no-untyped-def]
    x = x.astype(np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


# --- batches -----------------------------------------------------------------------------------

def test_batches_cover_every_sample_once_per_epoch_in_a_seeded_order() -> None:
    x = np.arange(10)[:, None] * np.ones((1, 3))
    y = np.arange(10)
    b = Batches({"x": x, "y": y}, batch_size=3, seed=5, drop_last=False)
    assert len(b) == 4
    e1 = [batch["y"] for batch in b]
    assert sorted(np.concatenate(e1).tolist()) == list(range(10))
    assert all(np.array_equal(bt["x"][:, 0], bt["y"]) for bt in Batches({"x": x, "y": y}, 3))
    e2 = np.concatenate([batch["y"] for batch in b])
    assert not np.array_equal(np.concatenate(e1), e2)           # a new order each epoch
    again = Batches({"x": x, "y": y}, batch_size=3, seed=5, drop_last=False)
    assert np.array_equal(np.concatenate([bt["y"] for bt in again]), np.concatenate(e1))
    dropped = Batches({"y": y}, batch_size=3)
    assert len(dropped) == 3 and all(len(bt["y"]) == 3 for bt in dropped)
    ordered = Batches({"y": y}, batch_size=4, shuffle=False, drop_last=False)
    assert [bt["y"].tolist() for bt in ordered] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_batches_refuse_mismatched_or_too_few_samples() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        Batches({"x": np.zeros(3), "y": np.zeros(4)}, 2)
    with pytest.raises(ValueError, match="make no batch"):
        Batches({"x": np.zeros(3)}, 8)


# --- losses ------------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 4), c=st.integers(2, 6), smoothing=st.sampled_from([0.0, 0.1]),
       seed=st.integers(0, 2**16))
def test_cross_entropy_value_and_gradient(b: int, c: int, smoothing: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((b, c)) * 3
    y = rng.integers(0, c, b)
    loss, grad = cross_entropy(z, y, smoothing)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    q = np.full((b, c), smoothing / c)
    q[np.arange(b), y] += 1 - smoothing
    assert math.isclose(loss, float(-(q * np.log(p)).sum() / b), rel_tol=1e-9)
    num = _numeric_grad(lambda t: cross_entropy(t, y, smoothing)[0], z)
    np.testing.assert_allclose(grad, num, rtol=1e-4, atol=1e-6)


def test_cross_entropy_is_stable_for_huge_logits() -> None:
    loss, grad = cross_entropy(np.array([[1e4, 0.0], [0.0, -1e4]]), np.array([0, 0]))
    assert math.isfinite(loss) and np.isfinite(grad).all()
    assert math.isclose(loss, 0.0 + math.log1p(math.exp(-1e4)), abs_tol=1e-12)


@settings(max_examples=25, deadline=None)
@given(t=st.sampled_from([1.0, 2.0, 4.0]), seed=st.integers(0, 2**16))
def test_soft_cross_entropy_gradient_and_its_minimum_at_the_teacher(t: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    s, te = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    _, grad = soft_cross_entropy(s, te, t)
    num = _numeric_grad(lambda x: soft_cross_entropy(x, te, t)[0], s)
    np.testing.assert_allclose(grad, num, rtol=1e-4, atol=1e-6)
    _, at_teacher = soft_cross_entropy(te, te, t)
    np.testing.assert_allclose(at_teacher, 0, atol=1e-7)


def test_mse_value_and_gradient() -> None:
    rng = np.random.default_rng(0)
    y, t = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    loss, grad = mse(y, t)
    assert math.isclose(loss, float(((y - t) ** 2).mean()))
    np.testing.assert_allclose(grad, _numeric_grad(lambda x: mse(x, t)[0], y), rtol=1e-5)
    with pytest.raises(ValueError, match="differ"):
        mse(y, t[:1])


# --- schedules ---------------------------------------------------------------------------------

def test_schedules() -> None:
    f = cosine(total=100, warmup=10, floor=0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(100) == pytest.approx(0.1)
    assert f(55) == pytest.approx(0.1 + 0.9 * 0.5)
    assert [step_decay(3, 0.5)(s) for s in (0, 2, 3, 7)] == [1.0, 1.0, 0.5, 0.25]
    with pytest.raises(ValueError):
        cosine(total=10, warmup=10)


# --- optimizers --------------------------------------------------------------------------------

def test_sgd_momentum_follows_its_formula() -> None:
    p = {"w": np.array([1.0, -2.0], np.float32)}
    opt = SGD(lr=0.1, momentum=0.5, weight_decay=0.01)
    g1, g2 = np.array([0.5, 1.0], np.float32), np.array([-1.0, 0.25], np.float32)
    w = p["w"].astype(np.float64).copy()
    v = np.zeros(2)
    for g in (g1, g2):
        opt.step(p, {"w": g})
        gd = g + 0.01 * w
        v = 0.5 * v + gd
        w = w - 0.1 * v
    np.testing.assert_allclose(p["w"], w, rtol=1e-6)


def test_nesterov_and_plain_sgd_differ_and_both_descend() -> None:
    for kw in (dict(momentum=0.0), dict(momentum=0.9, nesterov=True)):
        p = {"w": np.array([3.0], np.float32)}
        opt = SGD(lr=0.05, **kw)  # type: ignore[arg-type]
        for _ in range(200):
            opt.step(p, {"w": 2 * p["w"]})                  # d/dw of w²
        assert abs(float(p["w"][0])) < 1e-3


def test_adam_first_step_is_lr_times_the_gradient_sign_and_it_converges() -> None:
    p = {"w": np.array([1.0, -1.0, 0.5], np.float32)}
    opt = Adam(lr=0.01)
    opt.step(p, {"w": np.array([3.0, -0.001, 0.0], np.float32)})
    np.testing.assert_allclose(p["w"], [0.99, -0.99, 0.5], atol=1e-5)
    p = {"w": np.array([2.0, -3.0], np.float32)}
    opt = Adam(lr=0.1, schedule=cosine(300))
    for _ in range(300):
        opt.step(p, {"w": 2 * p["w"]})
    assert np.abs(p["w"]).max() < 1e-2


def test_adamw_decay_is_decoupled_from_the_gradient() -> None:
    p = {"w": np.array([1.0], np.float32)}
    opt = Adam(lr=0.1, weight_decay=0.5)
    opt.step(p, {"w": np.array([0.0], np.float32)})          # no gradient: only decay
    np.testing.assert_allclose(p["w"], [1.0 - 0.1 * 0.5], rtol=1e-6)


def test_optimizer_refuses_a_gradient_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match="gradient of w"):
        SGD().step({"w": np.zeros(3, np.float32)}, {"w": np.zeros(2, np.float32)})
