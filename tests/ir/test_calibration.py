"""Calibration observers: exact small cases, the histogram's invariants, the
threshold searches against naive references and on Gaussians."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irc.calibration import (METHODS, CalibrationError, HistogramObserver, Observer,
                             StreamingHistogram, divergence_curve, make_observer, mse_curve)
from irc.errors import IrcError

RNG = np.random.default_rng(20240601)
GAUSS = RNG.standard_normal(1_000_000).astype(np.float32)
OUTLIERS = np.array([50, -50, 50, -50], np.float32)
GAUSS_OUT = np.concatenate([GAUSS, OUTLIERS])


def range_of(method: str, *batches: np.ndarray, **kw: Any) -> tuple[float, float]:
    obs = make_observer(method, **kw)
    for b in batches:
        obs.observe(b)
    return obs.range()


def hist_of(obs: Observer) -> StreamingHistogram:
    assert isinstance(obs, HistogramObserver)
    return obs.hist


def hist_state(h: StreamingHistogram) -> tuple[object, ...]:
    return (h.exponent, h.origin, h.lo, h.hi, h.total, h.counts.tolist())


# --------------------------------------------------------------------------- minmax, ema


def test_minmax_exact_and_ignores_non_finite() -> None:
    obs = make_observer("minmax")
    obs.observe(np.array([1.0, -2.0, 3.0], np.float32))
    obs.observe(np.array([[0.5, 7.0], [np.nan, -np.inf]], np.float32))
    obs.observe(np.array([np.inf, np.nan], np.float32))
    assert obs.count == 3
    assert obs.range() == (-2.0, 7.0)


def test_minmax_includes_zero_and_symmetric() -> None:
    assert range_of("minmax", np.array([2.0, 5.0])) == (0.0, 5.0)
    assert range_of("minmax", np.array([-3.0, -1.0])) == (-3.0, 0.0)
    assert range_of("minmax", np.array([-3.0, 1.0]), symmetric=True) == (-3.0, 3.0)
    assert range_of("minmax", np.zeros(4)) == (0.0, 1.0)       # any scale works; lo < hi
    assert range_of("minmax", np.zeros(4), symmetric=True) == (-1.0, 1.0)


def test_ema_exact() -> None:
    # avg = m * avg + (1 - m) * batch, first batch initializes; m = 0.5 keeps it exact
    batches = [np.array([-1.0, 2.0]), np.array([np.nan]), np.array([-3.0, 4.0]),
               np.array([-5.0, 0.0])]
    obs = make_observer("ema", ema_momentum=0.5)
    for b in batches:
        obs.observe(b)
    # lo: -1 -> -2 -> -3.5; hi: 2 -> 3 -> 1.5; the all-NaN batch is skipped
    assert obs.range() == (-3.5, 1.5)
    assert obs.count == 4
    assert range_of("ema", np.array([1.0, 2.0]), np.array([3.0, 6.0])) == (0.0, 2.4)


def test_ema_merge_weights_by_batches() -> None:
    a, b = make_observer("ema", ema_momentum=0.5), make_observer("ema", ema_momentum=0.5)
    a.observe(np.array([-1.0, 1.0]))
    b.observe(np.array([-4.0, 4.0]))
    b.observe(np.array([-4.0, 4.0]))
    a.merge(b)
    assert a.range() == (-3.0, 3.0) and a.count == 3


# --------------------------------------------------------------------------- errors


def test_range_before_observe_raises() -> None:
    for method in METHODS:
        obs = make_observer(method)
        with pytest.raises(ValueError, match="no finite values"):
            obs.range()
        obs.observe(np.array([np.nan, np.inf], np.float32))
        with pytest.raises(CalibrationError, match=r"1 observe\(\) calls"):
            obs.range()


def test_unknown_method_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match="minmax, ema, percentile, kl, js, mse") as info:
        make_observer("entropy")
    assert isinstance(info.value, IrcError)


@pytest.mark.parametrize("kw, match", [
    ({"method": "kl", "bits": 12}, "bins >= 4096"),
    ({"method": "percentile", "percentile": 40.0}, "percentile must be"),
    ({"method": "ema", "ema_momentum": 1.0}, "ema_momentum"),
    ({"method": "minmax", "bits": 1}, "bits must be"),
])
def test_bad_options(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_observer(**kw)


def test_merge_needs_same_method_and_settings() -> None:
    with pytest.raises(ValueError, match="cannot merge"):
        make_observer("kl").merge(make_observer("js"))
    with pytest.raises(ValueError, match="cannot merge"):
        make_observer("kl").merge(make_observer("kl", bins=1024))


# --------------------------------------------------------------------------- histogram


def assert_bins_hold_their_values(h: StreamingHistogram, values: np.ndarray) -> None:
    """Invariant: bin j holds exactly the v with floor(v / 2**e) == origin + j."""
    h._check()
    v = values[np.isfinite(values)].astype(np.float64)
    idx = np.floor(np.ldexp(v, -h.exponent)).astype(np.int64) - h.origin   # v / 2**e, exact
    assert np.array_equal(np.bincount(idx, minlength=h.counts.size), h.counts)


chunked_data = st.tuples(
    st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), min_size=1, max_size=60),
    st.lists(st.integers(0, 60), max_size=8))


@settings(max_examples=200, deadline=None)
@given(chunked_data, st.sampled_from([2, 3, 8, 64]))
def test_histogram_streaming_and_merging_are_exact(data: tuple[list[float], list[int]],
                                                   capacity: int) -> None:
    values, cuts = data
    x = np.array(values, np.float32)
    chunks = np.split(x, sorted(c for c in cuts if c <= x.size))
    whole = StreamingHistogram(capacity)
    whole.add(x[np.isfinite(x)].astype(np.float64))
    streamed = StreamingHistogram(capacity)
    shards = []
    for c in chunks:
        f = c[np.isfinite(c)].astype(np.float64)
        streamed.add(f)
        shards.append(StreamingHistogram(capacity))
        shards[-1].add(f)
    merged = StreamingHistogram(capacity)      # merge shards back to front
    for s in reversed(shards):
        merged.merge(s)
    if whole.total:
        assert_bins_hold_their_values(whole, x)
    assert hist_state(streamed) == hist_state(whole) == hist_state(merged)
    assert whole.counts.size <= capacity


def test_chunks_1_10_100_and_shards_give_one_histogram() -> None:
    # the spread grows batch by batch, so the width doubles many times on the way
    x = np.concatenate([RNG.standard_normal(1000) * 2.0 ** (k / 10) for k in range(100)])
    states = []
    for n in (1, 10, 100):
        obs = make_observer("kl", bins=256)
        for chunk in np.array_split(x, n):
            obs.observe(chunk)
        assert hist_of(obs).counts.size <= 4 * 256   # memory does not grow with the data
        states.append(hist_state(hist_of(obs)))
        assert obs.count == n
    shards = [make_observer("kl", bins=256) for _ in range(4)]
    for k, chunk in enumerate(np.array_split(x, 40)):
        shards[k % 4].observe(chunk)
    for s in shards[1:]:
        shards[0].merge(s)
    states.append(hist_state(hist_of(shards[0])))
    assert all(s == states[0] for s in states)
    assert_bins_hold_their_values(hist_of(shards[0]), x)


def test_histogram_memory_is_bounded() -> None:
    obs = make_observer("percentile", bins=512)
    for k in range(200):
        obs.observe(RNG.standard_normal(500) * 10.0 ** (k % 7) + k)
        assert hist_of(obs).counts.size <= 4 * 512
    assert hist_of(obs).total == 200 * 500


def test_abs_masses_keep_the_mass_and_empty_gaps() -> None:
    h = StreamingHistogram(64)
    h.add(np.array([-3.0, -2.5, 0.0, 0.0, 1.0, 7.5, 8.0]))
    masses, m = h.abs_masses(32)
    assert m == 8.0
    assert masses.sum() == pytest.approx(7.0)
    assert masses.min() >= 0
    assert np.all(masses[13:29] == 0)                # nothing has |x| in [3.25, 7.25)
    assert masses[0] >= 2                            # the exact zeros are in bin 0


def test_tiny_negative_float64_lands_below_zero() -> None:
    h = StreamingHistogram(8)
    h.add(np.array([-5e-324, 1e300]))   # -5e-324 / 2**e underflows to -0.0; floor is -1
    h._check()
    assert h.origin == -1 and h.counts[0] == 1


def test_quantile_interpolates_within_the_support() -> None:
    h = StreamingHistogram(8)
    h.add(np.array([5.0]))
    assert h.quantile(0.0) == h.quantile(1.0) == 5.0
    h.add(np.array([1.0, 3.0]))
    assert h.quantile(0.0) == 1.0 and h.quantile(1.0) == 5.0


# --------------------------------------------------------------------------- percentile


@pytest.mark.parametrize("dist", ["uniform", "normal"])
@pytest.mark.parametrize("p", [99.0, 99.9, 99.99])
def test_percentile_matches_numpy_within_a_bin(dist: str, p: float) -> None:
    x = RNG.uniform(-2.0, 6.0, 200_000) if dist == "uniform" else RNG.normal(1.0, 3.0, 200_000)
    obs = make_observer("percentile", percentile=p)
    for chunk in np.array_split(x, 7):
        obs.observe(chunk)
    lo, hi = obs.range()
    w = hist_of(obs).width
    assert abs(hi - np.percentile(x, p)) <= w
    assert abs(lo - min(np.percentile(x, 100 - p), 0.0)) <= w


# --------------------------------------------------------------------------- kl, js, mse


def naive_divergences(h: np.ndarray, levels: int, kind: str) -> list[float]:
    """Migacz's loop, one candidate at a time (the reference for divergence_curve)."""
    out = []
    for i in range(levels, h.size + 1):
        p = h[:i].copy()
        p[-1] += h[i:].sum()
        q = np.zeros(i)
        level = np.array([j * levels // i for j in range(i)])
        for g in range(levels):
            members = (level == g) & (p > 0)
            if members.any():
                q[members] = h[:i][level == g].sum() / members.sum()
        p, q = p / p.sum(), q / q.sum() if q.sum() else q
        if kind == "js":
            m = (p + q) / 2
            kl_pm = sum(a * np.log(a / c) for a, c in zip(p, m) if a > 0)
            kl_qm = sum(b * np.log(b / c) for b, c in zip(q, m) if b > 0)
            out.append((kl_pm + kl_qm) / 2 if q.sum() else np.inf)
            continue
        hole = (p > 0) & (q == 0)
        fill = (p > 0) & (q > 0)
        if not fill.any():
            out.append(np.inf)
            continue
        q = np.where(hole, 1e-4, np.where(fill, q - 1e-4 * hole.sum() / fill.sum(), 0.0))
        out.append(sum(a * np.log(a / b) for a, b in zip(p, q) if a > 0))
    return out


@pytest.mark.parametrize("kind", ["kl", "js"])
@pytest.mark.parametrize("seed", range(4))
def test_divergence_curve_matches_naive_loop(kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    h = rng.poisson(rng.uniform(0, 20, 53)).astype(np.float64)
    h[rng.integers(0, 53, 12)] = 0                   # holes, possibly at the top
    h[-1] += 3.0                                     # outliers
    i, d = divergence_curve(h, 8, kind)
    assert i.tolist() == list(range(8, 54))
    np.testing.assert_allclose(d, naive_divergences(h, 8, kind), rtol=1e-9, atol=1e-12)


def test_mse_curve_matches_direct_sum() -> None:
    h = RNG.poisson(RNG.uniform(0, 30, 40)).astype(np.float64)
    centres = np.arange(40) + 0.5
    for span in (1.0, 2.0):
        direct = [(h * np.maximum(centres - k, 0) * (centres > k) * (centres - k)).sum()
                  + h[centres < k].sum() * (span * k / 15) ** 2 / 12 for k in range(1, 41)]
        np.testing.assert_allclose(mse_curve(h, 15, span), direct, rtol=1e-9)


def test_mse_model_matches_empirical_quantization_error() -> None:
    x = GAUSS_OUT[:200_000].astype(np.float64)
    obs = make_observer("mse")
    obs.observe(x)
    h, m = hist_of(obs).abs_masses(2048)
    model = mse_curve(h, 255, 2.0) * (m / 2048) ** 2 / x.size
    for k in (100, 300, 800, 2048):
        t = k * m / 2048
        step = 2 * t / 255
        empirical = np.mean((np.clip(np.round(x / step) * step, -t, t) - x) ** 2)
        assert model[k - 1] == pytest.approx(empirical, rel=0.02)


def test_gaussian_with_outliers() -> None:
    """1e6 N(0, 1) samples and four outliers at +-50, 8 bits.

    minmax returns the outliers.  KL lands at 4.61 and JS at 4.49 sigma (sample
    max 4.9): with 128 levels the divergence trades the clipped tail's mass
    (a cost that does not shrink with N) against merging bins, whose cost on a
    smooth density is mostly sampling noise, about (i - 128) / 2N, so with 1e6
    samples the search clips only the extreme tail; with 1e4 samples it gives
    3.5.  It ignores the outliers entirely: their mass is 4e-6.  MSE lands at
    21.9: each outlier clipped to T costs (50 - T)^2, which four in 1e6 weigh
    against a rounding error that grows as T^2; on the Gaussian alone it gives
    3.92, the known optimum for 8 bits (Banner et al., ACIQ).
    """
    assert range_of("minmax", GAUSS_OUT) == (-50.0, 50.0)
    thresholds = {}
    for method in ("kl", "js", "mse"):
        lo, hi = range_of(method, GAUSS_OUT)
        assert lo == -hi
        thresholds[method] = hi
    assert 4.3 <= thresholds["kl"] <= 4.9
    assert 4.2 <= thresholds["js"] <= 4.9
    assert 15.0 <= thresholds["mse"] <= 30.0
    lo, hi = range_of("percentile", GAUSS_OUT)
    assert 3.6 <= -lo and hi <= 3.85                 # 99.99th percentile: 3.72 sigma


@pytest.mark.parametrize("bits, expected", [(4, 2.55), (8, 3.92)])
def test_mse_on_a_gaussian_matches_aciq(bits: int, expected: float) -> None:
    _, hi = range_of("mse", GAUSS, bits=bits)
    assert hi == pytest.approx(expected, abs=0.08)


def test_kl_is_fast() -> None:
    obs = make_observer("kl")
    obs.observe(GAUSS_OUT)
    start = time.perf_counter()
    obs.range()
    assert time.perf_counter() - start < 1.0         # ~0.05 s measured


def test_one_sided_data_gives_lo_zero() -> None:
    relu = np.maximum(GAUSS[:200_000], 0)
    for method in METHODS:
        lo, hi = range_of(method, relu)
        assert lo == 0.0 and hi > 2.5, method
    # without bin 0 := bin 1, the ReLU spike at 0 would pull KL down to ~1.8
    _, hi = range_of("kl", relu)
    assert hi > 3.5
    lo, hi = range_of("kl", relu, symmetric=True)
    assert lo == -hi


def test_signed_range_is_clipped_to_the_data() -> None:
    # signed, so the |x| search: T is far above |min| and lo = max(min, -T) = min
    x = np.concatenate([np.abs(GAUSS[:100_000]), RNG.uniform(-0.5, 0.0, 1000)])
    for method in ("kl", "js", "mse"):
        lo, hi = range_of(method, x)
        assert lo == x.min() and hi > 3.0, method


@pytest.mark.parametrize("method", ["percentile", "kl", "js", "mse"])
def test_histogram_ranges_are_merge_invariant(method: str) -> None:
    single = make_observer(method)
    single.observe(GAUSS_OUT[:300_000])
    shards = [make_observer(method) for _ in range(3)]
    for s, chunk in zip(shards, np.array_split(GAUSS_OUT[:300_000], 3)):
        s.observe(chunk)
    shards[2].merge(shards[0])
    shards[2].merge(shards[1])
    assert shards[2].range() == single.range()
    assert shards[2].count == 3


@pytest.mark.parametrize("method", METHODS)
def test_edge_inputs(method: str) -> None:
    assert range_of(method, np.zeros((3, 4), np.float32)) == (0.0, 1.0)
    lo, hi = range_of(method, np.full(5, 2.5, np.float32))
    assert lo == 0.0 and 0 < hi <= 2.5
    lo, hi = range_of(method, np.array([-1e30, 3e-40, 1e30], np.float32))
    assert lo < 0 < hi and np.isfinite([lo, hi]).all()
    lo, hi = range_of(method, np.array(-7.0, np.float32))      # a 0-d tensor
    assert lo < 0 and hi == 0.0
