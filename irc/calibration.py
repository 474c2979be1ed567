"""Calibration observers: the clipping range ``(lo, hi)`` of a float tensor.

The ``calibrate`` pass feeds every observed activation (a numpy array of any
shape) to an :class:`Observer` made by :func:`make_observer`, then asks it for the
range the int8 quantizer uses.  Only finite values count (NaN and +-inf are
dropped).  ``range()`` always returns ``lo <= 0 <= hi`` and ``lo < hi``, so 0 is
exactly representable; an observer that saw no finite value raises
:class:`CalibrationError` (a ``ValueError``).

=============  ===========================================================
``minmax``     running min / max
``ema``        moving average of per-batch min / max
``percentile`` the (100-p)th / pth percentile of the histogram
``kl``         TensorRT entropy calibration (Migacz 2017): min KL(P || Q)
``js``         the same search scored by Jensen-Shannon divergence
``mse``        the threshold minimizing the expected squared error
=============  ===========================================================

The last four read a :class:`StreamingHistogram`, whose memory is bounded by its
capacity whatever the number of samples, and which is a pure function of the
multiset of values seen: observing in any chunking, or merging shards in any
grouping, gives the identical histogram.

Threshold searches (``kl``, ``js``, ``mse``) run on ``bins`` equal bins of
``|x|`` over ``[0, M]``, ``M = max|x|``, and return ``T``; the range is then
``(max(min, -T), min(max, T))``.  A tensor is *one-sided* when ``min >= 0`` or
``max <= 0`` (post-ReLU); an asymmetric quantizer then spends all ``2**bits``
levels on ``[0, T]``, otherwise ``|x| <= T`` gets ``2**(bits-1)`` of them.
Everything is deterministic (no sampling, ties go to the smallest ``T``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from irc.errors import IrcError

__all__ = ["METHODS", "CalibrationError", "Observer", "MinMaxObserver", "EmaObserver",
           "HistogramObserver", "PercentileObserver", "KLObserver", "JSObserver",
           "MSEObserver", "StreamingHistogram", "make_observer", "divergence_curve",
           "mse_curve"]

METHODS = ("minmax", "ema", "percentile", "kl", "js", "mse")

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


class CalibrationError(IrcError, ValueError):
    """An observer cannot give a range (nothing observed) or was misconfigured."""


# --------------------------------------------------------------------------- histogram

#: |bin index| < 2**_INDEX_BITS: indices and edges are exact in int64 and float64.
_INDEX_BITS = 52
#: Width exponent used while every value seen is 0 (below float64's 2**-1074).
_ZERO_EXPONENT = -1200


def _floor_div(v: float, e: int) -> int:
    """``floor(v / 2**e)``, exact: scaling by a power of two does not round, and a
    negative ``v`` that underflows to -0.0 is still below 0."""
    q = math.floor(math.ldexp(v, -e))
    return -1 if q == 0 and v < 0 else q


def _nbins(lo: float, hi: float, e: int) -> int:
    """Bins of width ``2**e`` aligned on multiples of it that cover ``[lo, hi]``."""
    return _floor_div(hi, e) - _floor_div(lo, e) + 1


def _canonical_exponent(lo: float, hi: float, capacity: int) -> int:
    """The width exponent of the histogram of any data with extremes ``lo, hi``.

    ``e = max(e_floor(M), min{e : nbins(lo, hi, 2**e) <= capacity})`` with
    ``M = max|x|`` and ``e_floor(M) = exponent(M) - 52`` (so |index| < 2**52).
    Both terms only grow when the data grows: ``e_floor`` is monotone in ``M``,
    and ``nbins`` is monotone in the data and non-increasing in ``e`` (floor(a/2)
    - floor(b/2) <= a - b).  Hence the streaming histogram never needs a finer
    width than it has, and its width depends only on ``lo, hi``.
    """
    m = max(-lo, hi)
    e = math.frexp(m)[1] - _INDEX_BITS if m > 0 else _ZERO_EXPONENT
    if hi > lo:   # nbins > span / 2**e: start below the first e that can fit
        e = max(e, math.frexp((hi - lo) / capacity)[1] - 2)
    while _nbins(lo, hi, e) > capacity:
        e += 1
    return e


def _bin_index(values: F64, e: int) -> I64:
    """:func:`_floor_div` of each value."""
    scaled = np.ldexp(values, -e)
    idx = np.floor(scaled).astype(np.int64)
    idx -= (scaled == 0) & (values < 0)     # a negative value that underflowed to -0.0
    return idx


class StreamingHistogram:
    """Counts of finite values in equal bins of width ``w = 2**exponent``.

    Invariants (checked by ``_check``):

    * bin ``j`` holds the values ``v`` with ``floor(v / w) == origin + j``, i.e.
      ``v in [(origin+j) w, (origin+j+1) w)``; 0 is always a bin edge;
    * ``counts.size == floor(hi/w) - floor(lo/w) + 1 <= capacity``, where
      ``lo, hi`` are the exact min and max seen, and ``counts.sum() == total``;
    * ``exponent == _canonical_exponent(lo, hi, capacity)``.

    Coarsening ``w -> 2**k w`` maps index ``a`` to ``floor(a / 2**k) = a >> k``,
    which is ``floor(v / (2**k w))`` for every value in the bin: pairs of bins
    merge exactly and old data is never re-binned approximately.  So the state
    depends only on the multiset of values: any chunking and any merge order give
    the same histogram.
    """

    def __init__(self, capacity: int = 8192) -> None:
        if capacity < 2:
            raise CalibrationError(f"histogram capacity must be >= 2, got {capacity}")
        self.capacity = capacity
        self.exponent = _ZERO_EXPONENT
        self.origin = 0
        self.counts: I64 = np.zeros(0, np.int64)
        self.lo = math.inf
        self.hi = -math.inf
        self.total = 0

    @property
    def width(self) -> float:
        return math.ldexp(1.0, self.exponent)

    def add(self, values: F64) -> None:
        """Count finite float64 ``values`` (1-D)."""
        if values.size == 0:
            return
        self._cover(min(self.lo, float(values.min())), max(self.hi, float(values.max())))
        idx = _bin_index(values, self.exponent) - self.origin
        self.counts += np.bincount(idx, minlength=self.counts.size)
        self.total += int(values.size)

    def merge(self, other: StreamingHistogram) -> None:
        """Add ``other``'s counts: both go to the coarser common width, then add."""
        if other.capacity != self.capacity:
            raise CalibrationError(f"cannot merge histograms of capacity {self.capacity} "
                                   f"and {other.capacity}")
        if other.total == 0:
            return
        self._cover(min(self.lo, other.lo), max(self.hi, other.hi))
        self.counts += other._coarsened(self.exponent, self.origin, self.counts.size)
        self.total += other.total

    def _cover(self, lo: float, hi: float) -> None:
        """Coarsen to the canonical width of data spanning ``[lo, hi]``."""
        e = _canonical_exponent(lo, hi, self.capacity)
        assert self.total == 0 or e >= self.exponent, "the width never shrinks"
        origin = _floor_div(lo, e)
        n = _floor_div(hi, e) - origin + 1
        if (e, origin, n) != (self.exponent, self.origin, self.counts.size):
            self.counts = self._coarsened(e, origin, n)
            self.exponent, self.origin = e, origin
        self.lo, self.hi = lo, hi

    def _coarsened(self, e: int, origin: int, n: int) -> I64:
        """The counts on the grid ``(e, origin, n)``, which is at least as coarse."""
        out = np.zeros(n, np.int64)
        if self.total:
            shift = min(e - self.exponent, 63)    # a >> 63 is floor for any int64
            idx = ((self.origin + np.arange(self.counts.size, dtype=np.int64)) >> shift) - origin
            np.add.at(out, idx, self.counts)
        return out

    def _check(self) -> None:
        n = _nbins(self.lo, self.hi, self.exponent) if self.total else 0
        assert self.counts.size == n <= self.capacity
        assert int(self.counts.sum()) == self.total
        if self.total:
            assert self.exponent == _canonical_exponent(self.lo, self.hi, self.capacity)
            assert self.origin == _floor_div(self.lo, self.exponent)

    # -- the histogram as a density: counts spread uniformly over each bin's support

    def _supports(self) -> tuple[F64, F64, F64]:
        """``(left, right, cum)``: bin ``j``'s support is ``[left_j, right_j]``, the
        bin clipped to ``[lo, hi]`` (so the last one may be the single point
        ``hi``), and ``cum_j = counts[:j].sum()`` (exact below 2**53)."""
        n = self.counts.size
        left = np.ldexp((self.origin + np.arange(n + 1)).astype(np.float64), self.exponent)
        right = left[1:].copy()
        left = left[:-1]
        left[0], right[-1] = self.lo, self.hi
        cum = np.concatenate(([0.0], np.cumsum(self.counts, dtype=np.float64)))
        return left, right, cum

    def cdf(self, t: F64, *, strict: bool = False) -> F64:
        """Mass of values ``<= t`` (``< t`` when ``strict``), piecewise linear.

        ``F(t) = cum_j + counts_j * frac`` in the bin ``j`` holding ``t``; since
        ``counts_j * frac <= counts_j`` this is monotone in floating point too,
        and exactly constant across empty bins.
        """
        left, right, cum = self._supports()
        j = np.searchsorted(left, t, side="left" if strict else "right") - 1
        jj = np.clip(j, 0, left.size - 1)
        span = right[jj] - left[jj]
        frac = np.where(span > 0, np.clip((t - left[jj]) / np.where(span > 0, span, 1.0), 0, 1),
                        1.0)   # a point support: all of it is <= t (< t) once j reaches it
        out: F64 = np.where(j >= 0, cum[jj] + self.counts[jj] * frac, 0.0)
        return out

    def quantile(self, q: float) -> float:
        """The value below which a fraction ``q`` of the mass lies (inverse of ``cdf``)."""
        left, right, cum = self._supports()
        t = q * self.total
        j = min(int(np.searchsorted(cum[1:], t, side="left")), left.size - 1)
        # cum_j < t <= cum_{j+1}, so counts_j > 0 (or t == 0 and j == 0, the min)
        frac = min(max((t - cum[j]) / max(int(self.counts[j]), 1), 0.0), 1.0)
        return float(left[j] + frac * (right[j] - left[j]))

    def abs_masses(self, nbins: int) -> tuple[F64, float]:
        """Mass of ``|x|`` in ``nbins`` equal bins over ``[0, M]``, and ``M = max|x|``.

        Bin ``k`` gets ``F(t_k+1) - F(t_k)`` (x in ``(t_k, t_k+1]``) plus
        ``F<(-t_k) - F<(-t_k+1)`` (x in ``[-t_k+1, -t_k)``); bin 0 also gets the mass
        at exactly 0.  Each term is >= 0 and exactly 0 over empty bins.
        """
        m = max(-self.lo, self.hi)
        grid = np.linspace(0.0, m, nbins + 1)
        grid[-1] = m
        pos = np.diff(self.cdf(grid))
        neg = -np.diff(self.cdf(-grid, strict=True))
        masses: F64 = pos + neg
        zero = np.zeros(1)
        masses[0] += float(self.cdf(zero)[0] - self.cdf(zero, strict=True)[0])
        return masses, m


# --------------------------------------------------------------------------- searches

#: Q's value where P > 0 but Q == 0 (MXNet / onnxruntime ``smooth_distribution``).
KL_EPS = 1e-4


def _candidates(h: F64, levels: int, rows: int = 128) -> Iterator[tuple[I64, F64, F64]]:
    """Candidates ``i`` (bins kept) with their reference ``P`` and quantized ``Q``.

    For ``i`` in ``levels .. n`` (Migacz 2017, "8-bit Inference with TensorRT"):

    * ``P = h[:i]`` with the outlier mass ``h[i:].sum()`` added to ``P[i-1]``;
    * ``Q``: the ``i`` bins quantized into ``levels`` equal levels, bin ``j`` in
      level ``g = floor(j * levels / i)`` (as NVIDIA's pytorch-quantization; the
      MXNet form merges ``i // levels`` bins a level and gives the last level
      all ``i % levels`` leftovers, so for ``levels < i < 2 levels`` one level
      spans up to half the range and those candidates lose).  Level ``g`` spans
      bins ``b_g .. b_{g+1} - 1``, ``b_g = ceil(g i / levels)``.  Its mass
      ``S_g = h[b_g : b_{g+1}].sum()`` is spread evenly over its ``N_g`` bins
      where ``P > 0``, and ``Q = 0`` where ``P = 0``.

    ``P`` differs from ``h`` only in bin ``i-1`` (level ``levels-1``), so ``S``
    and ``N`` come from prefix sums of ``h``.  Candidates come ``rows`` at a time
    as 2-D arrays (one row per candidate, zero-padded to the largest ``i``).
    """
    n = h.size
    total = float(h.sum())
    cum = np.concatenate(([0.0], np.cumsum(h)))
    cum_nz = np.concatenate(([0], np.cumsum(h > 0)))
    g = np.arange(levels + 1)
    for first in range(levels, n + 1, rows):
        i = np.arange(first, min(first + rows, n + 1))
        r = np.arange(i.size)
        cols = np.arange(int(i[-1]))
        p = np.where(cols < i[:, None], h[: cols.size], 0.0)
        p[r, i - 1] += total - cum[i]
        b = -((-g * i[:, None]) // levels)                  # ceil(g i / levels)
        s = cum[b[:, 1:]] - cum[b[:, :-1]]
        cnt = (cum_nz[b[:, 1:]] - cum_nz[b[:, :-1]]).astype(np.float64)
        cnt[:, -1] += (h[i - 1] == 0) & (p[r, i - 1] > 0)   # the outliers' bin
        share = np.divide(s, cnt, out=np.zeros_like(s), where=cnt > 0)
        level = np.minimum(cols * levels // i[:, None], levels - 1)
        q = np.where(p > 0, np.take_along_axis(share, level, axis=1), 0.0)
        yield i, p, q


def _normalized(a: F64) -> F64:
    sums = a.sum(axis=1, keepdims=True)
    out: F64 = a / np.where(sums > 0, sums, 1.0)
    return out


def _xlogy_ratio(x: F64, y: F64) -> F64:
    """``sum(x * log(x / y))`` per row over ``x > 0`` (callers make ``y > 0`` there)."""
    ok = (x > 0) & (y > 0)
    out: F64 = np.where(ok, x * np.log(np.where(ok, x, 1.0) / np.where(ok, y, 1.0)), 0.0).sum(axis=1)
    return out


def _kl_rows(pc: F64, qc: F64) -> F64:
    """KL(P || Q) per row, ``sum_{P>0} p log(p / q)``.

    Bins with ``P == 0`` are skipped.  Where ``P > 0`` but ``Q == 0`` (only
    ``P[i-1]``, when the top level holds nothing but the outliers land there)
    ``q = KL_EPS``, taken evenly from Q's other bins on P's support so Q still
    sums to 1: ``smooth_distribution`` of MXNet / onnxruntime, applied to Q only.
    (pytorch-quantization scores such a candidate ``inf`` instead.)  A row whose
    Q cannot pay for it, or is empty, scores ``inf``.
    """
    p, q = _normalized(pc), _normalized(qc)
    support = p > 0
    hole = support & (q == 0)
    n_hole = hole.sum(axis=1, keepdims=True)
    n_fill = (support & (q > 0)).sum(axis=1, keepdims=True)
    q = np.where(hole, KL_EPS, q - KL_EPS * n_hole / np.maximum(n_fill, 1))
    bad = (n_fill[:, 0] == 0) | (support & (q <= 0)).any(axis=1)
    out: F64 = np.where(bad, np.inf, _xlogy_ratio(p, q))
    return out


def _js_rows(pc: F64, qc: F64) -> F64:
    """JS(P, Q) = (KL(P || M) + KL(Q || M)) / 2 with ``M = (P + Q) / 2``; in [0, log 2]."""
    p, q = _normalized(pc), _normalized(qc)
    mid = (p + q) / 2
    out: F64 = np.where(qc.sum(axis=1) > 0,
                        (_xlogy_ratio(p, mid) + _xlogy_ratio(q, mid)) / 2, np.inf)
    return out


_DIVERGENCES: dict[str, Callable[[F64, F64], F64]] = {"kl": _kl_rows, "js": _js_rows}


def divergence_curve(h: F64, levels: int, kind: str = "kl") -> tuple[I64, F64]:
    """Candidates ``i = levels .. len(h)`` and the divergence of each (see ``_candidates``)."""
    if h.size < levels:
        raise CalibrationError(f"{kind} search needs at least {levels} bins, got {h.size}")
    score = _DIVERGENCES[kind]
    parts = [(i, score(p, q)) for i, p, q in _candidates(np.asarray(h, np.float64), levels)]
    return (np.concatenate([i for i, _ in parts]), np.concatenate([d for _, d in parts]))


def mse_curve(h: F64, steps: int, span: float) -> F64:
    """Expected squared error (in bin-width units^2, summed over the mass) for the
    thresholds ``T = k`` bins, ``k = 1 .. len(h)``, with values at bin centres
    ``u_j = j + 1/2``::

        E(k) = sum_{j >= k} h_j (u_j - k)^2            clipping
             + (sum_{j < k} h_j) * D(k)^2 / 12          rounding, D(k) = span * k / steps

    ``span`` is 2 for a range ``(-T, T)`` and 1 for ``(0, T)``; ``steps = 2**bits - 1``.
    The clipping sum is ``S2 - 2k S1 + k^2 S0`` over the suffix sums ``S_r = sum h u^r``.
    """
    u = np.arange(h.size) + 0.5
    suffix = [np.concatenate((np.cumsum((h * u**r)[::-1])[::-1], [0.0])) for r in range(3)]
    k = np.arange(1, h.size + 1, dtype=np.float64)
    s0, s1, s2 = (s[1:] for s in suffix)       # suffixes from j = k
    clip = np.maximum(s2 - 2 * k * s1 + k * k * s0, 0.0)
    inside = float(h.sum()) - s0
    out: F64 = clip + inside * (span * k / steps) ** 2 / 12
    return out


# --------------------------------------------------------------------------- observers


class Observer:
    """Collects finite values of one tensor and chooses its clipping range.

    Subclasses implement ``_observe(values)`` (finite, float64, 1-D, non-empty),
    ``_merge(other)``, ``_range()`` and ``_settings()``; this class drops
    non-finite values, counts calls, checks merges and finishes the range.
    """

    method = ""

    def __init__(self, *, bits: int = 8, symmetric: bool = False) -> None:
        self.bits = bits
        self.symmetric = symmetric
        self.count = 0           # observe() calls
        self.seen = 0            # finite values observed

    def observe(self, x: ArrayLike) -> None:
        """Record one batch/sample (any shape); NaN and +-inf are ignored."""
        values = np.asarray(x, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        self.count += 1
        if values.size:
            self.seen += int(values.size)
            self._observe(values)

    def merge(self, other: Observer) -> None:
        """Combine with an observer of the same method and settings (another shard)."""
        if type(other) is not type(self) or other._settings() != self._settings():
            raise CalibrationError(f"cannot merge {other!r} into {self!r}: "
                                   "method and settings must match")
        self.count += other.count
        if other.seen:
            self.seen += other.seen
            self._merge(other)

    def range(self) -> tuple[float, float]:
        """``(lo, hi)`` with ``lo <= 0 <= hi`` and ``lo < hi``.

        All-zero data gives ``(0, 1)`` (``(-1, 1)`` symmetric): any scale works.
        """
        if not self.seen:
            raise CalibrationError(
                f"{self.method} observer has no range: it saw no finite values "
                f"({self.count} observe() calls)")
        lo, hi = self._range()
        lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
        if self.symmetric:
            a = max(-lo, hi)
            lo, hi = -a, a
        if lo == hi:
            lo, hi = (-1.0 if self.symmetric else 0.0), 1.0
        return lo, hi

    def _settings(self) -> tuple[Any, ...]:
        return (self.bits, self.symmetric)

    def _observe(self, values: F64) -> None:
        raise NotImplementedError

    def _merge(self, other: Any) -> None:
        raise NotImplementedError

    def _range(self) -> tuple[float, float]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{self.method} observer, {self.count} observe() calls, {self.seen} values>"


class MinMaxObserver(Observer):
    """Running ``(min, max)``."""

    method = "minmax"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.lo, self.hi = math.inf, -math.inf

    def _observe(self, values: F64) -> None:
        self.lo = min(self.lo, float(values.min()))
        self.hi = max(self.hi, float(values.max()))

    def _merge(self, other: MinMaxObserver) -> None:
        self.lo, self.hi = min(self.lo, other.lo), max(self.hi, other.hi)

    def _range(self) -> tuple[float, float]:
        return self.lo, self.hi


class EmaObserver(Observer):
    """Moving average of per-batch min and max (TF / PyTorch MovingAverageMinMax).

    The first batch sets ``avg = batch``; each later one
    ``avg = momentum * avg + (1 - momentum) * batch``.  PyTorch's
    ``averaging_constant = 0.01`` is ``momentum = 0.99``; the default 0.9 suits
    calibration sets of tens to hundreds of batches.  Batches with no finite value
    are skipped.  EMA is order-dependent, so ``merge`` approximates the
    concatenated stream by the batch-count-weighted mean of the two averages.
    """

    method = "ema"

    def __init__(self, *, momentum: float = 0.9, **kw: Any) -> None:
        super().__init__(**kw)
        self.momentum = momentum
        self.lo = self.hi = 0.0
        self.batches = 0

    def _observe(self, values: F64) -> None:
        lo, hi = float(values.min()), float(values.max())
        if self.batches:
            c = self.momentum
            lo, hi = c * self.lo + (1 - c) * lo, c * self.hi + (1 - c) * hi
        self.lo, self.hi = lo, hi
        self.batches += 1

    def _merge(self, other: EmaObserver) -> None:
        a, b = self.batches, other.batches
        self.lo = (a * self.lo + b * other.lo) / (a + b)
        self.hi = (a * self.hi + b * other.hi) / (a + b)
        self.batches = a + b

    def _range(self) -> tuple[float, float]:
        return self.lo, self.hi

    def _settings(self) -> tuple[Any, ...]:
        return (*super()._settings(), self.momentum)


class HistogramObserver(Observer):
    """Base of the methods that read a :class:`StreamingHistogram`.

    The histogram holds at most ``4 * bins`` bins, so that the ``|x|`` searches
    see detail of at least ``max|x| / bins``: the span ``max - min`` can be
    ``2 max|x|`` and the power-of-two width can be up to twice the span over the
    capacity.  That is 8192 int64 counts (64 KiB) per tensor by default.
    """

    def __init__(self, *, bins: int = 2048, **kw: Any) -> None:
        super().__init__(**kw)
        self.bins = bins
        self.hist = StreamingHistogram(4 * bins)

    def _observe(self, values: F64) -> None:
        self.hist.add(values)

    def _merge(self, other: HistogramObserver) -> None:
        self.hist.merge(other.hist)

    def _settings(self) -> tuple[Any, ...]:
        return (*super()._settings(), self.bins)

    @property
    def one_sided(self) -> bool:
        """Asymmetric quantizer and data of one sign: all levels go to ``[0, T]``."""
        return not self.symmetric and (self.hist.lo >= 0 or self.hist.hi <= 0)

    def _range(self) -> tuple[float, float]:
        h, m = self.hist.abs_masses(self.bins)
        if m == 0:
            return 0.0, 0.0
        t = self._threshold(h) * m / self.bins
        return max(self.hist.lo, -t), min(self.hist.hi, t)

    def _threshold(self, h: F64) -> float:
        """The threshold in bins of the ``|x|`` histogram ``h``."""
        raise NotImplementedError


class PercentileObserver(HistogramObserver):
    """``lo, hi`` = the ``(100-p)``th and ``p``th percentiles, interpolated within a bin."""

    method = "percentile"

    def __init__(self, *, percentile: float = 99.99, **kw: Any) -> None:
        super().__init__(**kw)
        self.percentile = percentile

    def _range(self) -> tuple[float, float]:
        q = self.percentile / 100
        return self.hist.quantile(1 - q), self.hist.quantile(q)

    def _settings(self) -> tuple[Any, ...]:
        return (*super()._settings(), self.percentile)


class KLObserver(HistogramObserver):
    """Entropy calibration: the ``i`` (bins kept) with the least divergence.

    ``T = i`` bins, the upper edge of the kept bins (as pytorch-quantization);
    Migacz's slides say ``(i + 0.5)`` bins, half a bin (``max|x| / (2 bins)``)
    more.  Bin 0 is given bin 1's mass first (pytorch-quantization does too): the
    spike of exact zeros after a ReLU is exact under every candidate, yet would
    dominate the divergence and pull ``T`` far down (to 1.8 sigma on ReLU of a
    Gaussian instead of 3.9).
    """

    method = "kl"

    def _threshold(self, h: F64) -> float:
        levels = 2 ** self.bits if self.one_sided else 2 ** (self.bits - 1)
        h = h.copy()
        h[0] = h[1]
        i, d = divergence_curve(h, levels, self.method)
        return float(i[int(np.argmin(d))])


class JSObserver(KLObserver):
    """:class:`KLObserver` scored by Jensen-Shannon divergence."""

    method = "js"


class MSEObserver(HistogramObserver):
    """The threshold minimizing :func:`mse_curve`: clipping + rounding error."""

    method = "mse"

    def _threshold(self, h: F64) -> float:
        err = mse_curve(h, 2 ** self.bits - 1, 1.0 if self.one_sided else 2.0)
        return float(np.argmin(err) + 1)


_OBSERVERS: dict[str, type[Observer]] = {
    c.method: c for c in (MinMaxObserver, EmaObserver, PercentileObserver, KLObserver,
                          JSObserver, MSEObserver)}


def make_observer(method: str, *, bits: int = 8, symmetric: bool = False,
                  percentile: float = 99.99, ema_momentum: float = 0.9,
                  bins: int = 2048) -> Observer:
    """A fresh observer for ``method`` (one of :data:`METHODS`).

    ``bits``: quantized width (2..16); ``symmetric``: return ``(-a, a)``;
    ``percentile``: p in [50, 100] for ``percentile``; ``ema_momentum`` in
    [0, 1) for ``ema``; ``bins``: bins of the ``|x|`` threshold search (at least
    ``2**bits`` for ``kl``/``js``).  Options a method does not use are ignored.
    """
    if method not in _OBSERVERS:
        raise CalibrationError(f"unknown calibration method {method!r}; "
                               f"valid methods: {', '.join(METHODS)}")
    if not 2 <= bits <= 16:
        raise CalibrationError(f"bits must be in 2..16, got {bits}")
    kw: dict[str, Any] = {"bits": bits, "symmetric": symmetric}
    if method == "ema":
        if not 0 <= ema_momentum < 1:
            raise CalibrationError(f"ema_momentum must be in [0, 1), got {ema_momentum}")
        kw["momentum"] = ema_momentum
    if method in ("percentile", "kl", "js", "mse"):
        need = 2 ** bits if method in ("kl", "js") else 2
        if bins < need:
            raise CalibrationError(f"{method} with bits={bits} needs bins >= {need}, got {bins}")
        kw["bins"] = bins
    if method == "percentile":
        if not 50 <= percentile <= 100:
            raise CalibrationError(f"percentile must be in [50, 100], got {percentile}")
        kw["percentile"] = percentile
    return _OBSERVERS[method](**kw)
