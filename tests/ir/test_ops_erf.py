"""irc.ops._numerics.erf against libm's math.erf (scipy is not a dependency)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from irc.ops._numerics import erf


def _ref(xs: np.ndarray) -> np.ndarray:
    return np.array([math.erf(float(v)) for v in xs])


def test_dense_grid_absolute_error_far_below_float32():
    xs = np.linspace(-9.0, 9.0, 360_001)      # step 5e-5, crosses every piece boundary
    err = np.abs(erf(xs) - _ref(xs))
    assert err.max() < 1e-13


def test_piece_boundaries_and_their_neighbours():
    edges = np.arange(0.0, 6.5, 0.5)
    xs = np.concatenate([edges, np.nextafter(edges, -1), np.nextafter(edges, 10)])
    xs = np.concatenate([xs, -xs])
    assert np.abs(erf(xs) - _ref(xs)).max() < 1e-14


def test_relative_error_near_zero():
    xs = np.logspace(-300, -0.31, 3000)
    rel = np.abs(erf(xs) - _ref(xs)) / _ref(xs)
    assert rel.max() < 1e-14


def test_subnormals_stay_tiny_and_signed():
    xs = np.array([5e-324, 1e-315, 2.2e-308])
    assert np.abs(erf(xs) - _ref(xs)).max() < 1e-320
    assert np.all(erf(-xs) < 0)


def test_tails_saturate_to_one():
    xs = np.array([5.9, 6.0, 6.5, 10.0, 27.0, 1e300])
    assert np.abs(erf(xs) - _ref(xs)).max() < 1e-16
    assert np.all(erf(xs[1:]) == 1.0)
    assert np.all(erf(-xs[1:]) == -1.0)


def test_special_values():
    got = erf(np.array([0.0, -0.0, np.inf, -np.inf, np.nan]))
    assert got[0] == 0.0 and not np.signbit(got[0])
    assert got[1] == 0.0 and np.signbit(got[1])
    assert got[2] == 1.0 and got[3] == -1.0
    assert np.isnan(got[4])


def test_odd_and_monotone_to_within_rounding():
    xs = np.linspace(0, 7, 70_001)
    y = erf(xs)
    assert np.array_equal(erf(-xs), -y)
    assert np.all(np.diff(y) >= -3e-16)     # a float64 ulp of 1 is 2.2e-16


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_accepts_any_float_dtype_and_returns_float64(dtype):
    x = np.linspace(-3, 3, 101).astype(dtype)
    y = erf(x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, _ref(x.astype(np.float64)), atol=1e-14)


def test_float32_results_are_correctly_rounded_almost_everywhere():
    x = np.random.default_rng(0).standard_normal(50_000).astype(np.float32) * 2
    mine = erf(x).astype(np.float32)
    ref = _ref(x.astype(np.float64)).astype(np.float32)
    # a 1e-14 error can flip a rounding only for values within 1e-14 of a float32 tie
    assert np.mean(mine != ref) < 1e-3
    assert np.max(np.abs(mine.astype(np.float64) - ref)) <= np.spacing(np.float32(1))
