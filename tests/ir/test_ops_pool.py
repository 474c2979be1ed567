"""nn.max_pool / nn.avg_pool / global pools against naive loops written from the
ONNX (and PyTorch, for ceil_mode and count_include_pad) definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irc.dtypes import DType
from irc.errors import OpError
from irc.ops import get_op
from irc.types import TensorType

from ophelpers import F32, T, infer, make_rand, run


rand = make_rand(0)


def naive_pool(x, kind, kernel, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1),
               ceil_mode=False, count_include_pad=False, auto_pad="explicit"):
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations

    def axis(n, k, s, d, b, e):
        span = (k - 1) * d + 1
        if auto_pad in ("same_upper", "same_lower"):
            out = math.ceil(n / s)
            total = max(0, (out - 1) * s + span - n)
            lo = total // 2 if auto_pad == "same_upper" else total - total // 2
            return out, lo, total - lo
        if auto_pad == "valid":
            b = e = 0
        num = n + b + e - span
        out = (math.ceil(num / s) if ceil_mode else num // s) + 1
        if ceil_mode and (out - 1) * s >= n + b:   # last window would start in the end pad
            out -= 1
        return out, b, e

    OH, t, bo = axis(H, kh, sh, dh, pads[0], pads[2])
    OW, l, r = axis(W, kw, sw, dw, pads[1], pads[3])
    y = np.zeros((N, C, OH, OW))
    for n in range(N):
        for c in range(C):
            for p in range(OH):
                for q in range(OW):
                    vals, pad_count = [], 0
                    for i in range(kh):
                        for j in range(kw):
                            h, v = p * sh - t + i * dh, q * sw - l + j * dw
                            if 0 <= h < H and 0 <= v < W:
                                vals.append(float(x[n, c, h, v]))
                            elif -t <= h < H + bo and -l <= v < W + r:
                                pad_count += 1
                    if kind == "max":
                        y[n, c, p, q] = max(vals)
                    else:
                        y[n, c, p, q] = sum(vals) / (len(vals) + (pad_count if
                                                                  count_include_pad else 0))
    return y


# --- hand cases ----------------------------------------------------------------------------

def test_max_and_avg_pool_hand_computed():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    mp = run("nn.max_pool", x, kernel=(2, 2), strides=(2, 2))
    np.testing.assert_array_equal(mp[0, 0], [[5, 7], [13, 15]])
    ap = run("nn.avg_pool", x, kernel=(2, 2), strides=(2, 2))
    np.testing.assert_array_equal(ap[0, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_max_pool_padding_never_wins():
    x = -np.ones((1, 1, 2, 2), np.float32) * 5
    y = run("nn.max_pool", x, kernel=(3, 3), pads=(1, 1, 1, 1))
    np.testing.assert_array_equal(y, np.full((1, 1, 2, 2), -5, np.float32))


def test_avg_pool_count_include_pad():
    x = np.ones((1, 1, 3, 3), np.float32)
    attrs = dict(kernel=(3, 3), pads=(1, 1, 1, 1))
    np.testing.assert_array_equal(run("nn.avg_pool", x, **attrs), np.ones((1, 1, 3, 3)))
    y = run("nn.avg_pool", x, count_include_pad=True, **attrs)
    np.testing.assert_allclose(y[0, 0], np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]]) / 9,
                               rtol=1e-6)


def test_ceil_mode_sizes():
    # (5 - 2) / 2 + 1 = 2.5: floor -> 2, ceil -> 3
    assert run("nn.max_pool", rand(1, 1, 5, 5), kernel=(2, 2), strides=(2, 2),
               ceil_mode=True).shape == (1, 1, 3, 3)
    # with pads 1: ceil((5 + 2 - 2) / 2) + 1 = 4, but window 3 would start at 6 - 1 = 5,
    # inside the end padding, so it is dropped -> 3
    assert run("nn.max_pool", rand(1, 1, 5, 5), kernel=(2, 2), strides=(2, 2),
               pads=(1, 1, 1, 1), ceil_mode=True).shape == (1, 1, 3, 3)


def test_ceil_mode_overhang_is_not_counted_even_with_count_include_pad():
    x = np.arange(5, dtype=np.float32).reshape(1, 1, 1, 5) + 1   # 1 2 3 4 5
    y = run("nn.avg_pool", x, kernel=(1, 2), strides=(1, 2), ceil_mode=True,
            count_include_pad=True)
    np.testing.assert_allclose(y[0, 0, 0], [1.5, 3.5, 5.0])


def test_auto_pad_same_keeps_ceil_size():
    x = rand(1, 2, 7, 5)
    y = run("nn.max_pool", x, kernel=(3, 3), strides=(2, 2), auto_pad="same_upper")
    assert y.shape == (1, 2, 4, 3)
    np.testing.assert_array_equal(y, naive_pool(x, "max", (3, 3), (2, 2),
                                                auto_pad="same_upper"))


def test_max_pool_accepts_integers():
    x = np.array([[[[-128, -100], [-90, -128]]]], np.int8)
    y = run("nn.max_pool", x, kernel=(2, 2), pads=(1, 1, 0, 0))
    np.testing.assert_array_equal(y[0, 0], [[-128, -100], [-90, -90]])
    assert y.dtype == np.int8


# --- property tests ------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.data())
def test_pools_match_naive_loops(data):
    d = data.draw
    kind = d(st.sampled_from(["max", "avg"]))
    kernel = (d(st.integers(1, 3)), d(st.integers(1, 3)))
    strides = (d(st.integers(1, 3)), d(st.integers(1, 3)))
    dil = (d(st.integers(1, 2)), d(st.integers(1, 2))) if kind == "max" else (1, 1)
    auto_pad = d(st.sampled_from(["explicit", "explicit", "same_upper", "same_lower", "valid"]))
    ceil_mode = d(st.booleans())
    # pads smaller than the kernel so that no window lies wholly in the padding
    pads = ((d(st.integers(0, kernel[0] - 1)), d(st.integers(0, kernel[1] - 1)),
             d(st.integers(0, kernel[0] - 1)), d(st.integers(0, kernel[1] - 1)))
            if auto_pad == "explicit" else (0, 0, 0, 0))
    span = [(kernel[a] - 1) * dil[a] + 1 for a in range(2)]
    h = d(st.integers(max(1, span[0] - pads[0] - pads[2]), 7))
    w = d(st.integers(max(1, span[1] - pads[1] - pads[3]), 7))
    if auto_pad == "valid":
        h, w = max(h, span[0]), max(w, span[1])
    x = rand(d(st.integers(1, 2)), d(st.integers(1, 3)), h, w)
    attrs = dict(kernel=kernel, strides=strides, pads=pads, ceil_mode=ceil_mode,
                 auto_pad=auto_pad)
    if kind == "max":
        attrs["dilations"] = dil
        try:
            got = run("nn.max_pool", x, **attrs)
        except OpError as e:   # dilated taps may skip every input element of a window
            assert "reads only padding" in str(e)
            return
        want = naive_pool(x, "max", **attrs)   # only now: such a window has no max
    else:
        attrs["count_include_pad"] = d(st.booleans())
        want = naive_pool(x, "avg", **attrs)
        got = run("nn.avg_pool", x, **attrs)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# --- global pools ----------------------------------------------------------------------------

def test_global_pools_keep_dims():
    x = rand(2, 3, 5, 4)
    ga = run("nn.global_avg_pool", x)
    gm = run("nn.global_max_pool", x)
    assert ga.shape == gm.shape == (2, 3, 1, 1)
    np.testing.assert_allclose(ga[..., 0, 0], x.astype(np.float64).mean(axis=(2, 3)),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(gm[..., 0, 0], x.max(axis=(2, 3)))
    assert infer("nn.global_avg_pool", F32(1, 8, 3, 3, 3)) == F32(1, 8, 1, 1, 1)


def test_global_pool_float16_accumulates_wide():
    x = np.full((1, 1, 64, 64), 0.1, np.float16)
    y = run("nn.global_avg_pool", x)
    assert y.dtype == np.float16
    assert abs(float(y[0, 0, 0, 0]) - 0.1) < 1e-3


# --- type rules --------------------------------------------------------------------------------

def test_pool_shape_rules():
    assert infer("nn.max_pool", F32(1, 64, 112, 112), kernel=(3, 3), strides=(2, 2),
                 pads=(1, 1, 1, 1)) == F32(1, 64, 56, 56)
    assert infer("nn.avg_pool", F32(1, 8, 7, 7), kernel=(7, 7)) == F32(1, 8, 1, 1)


@pytest.mark.parametrize("op,shape,attrs,message", [
    ("nn.max_pool", (1, 1, 4, 4), {}, "missing required attribute 'kernel'"),
    ("nn.max_pool", (1, 1, 4, 4), {"kernel": (5, 1)}, "height: the window spans 5"),
    ("nn.avg_pool", (1, 1, 4, 4), {"kernel": (2, 2), "pads": (2, 0, 0, 0)},
     "height: output position 0 reads only padding"),
    ("nn.max_pool", (1, 1, 4, 4), {"kernel": (2, 2), "pads": (0, 0, 0, 3)},
     "width: output position 5 reads only padding"),
    ("nn.avg_pool", (1, 4, 4), {"kernel": (2, 2)}, "x must be 4-D"),
    ("nn.avg_pool", (1, 1, 4, 4), {"kernel": (2, 2), "dilations": (2, 2)},
     "unknown attribute 'dilations'"),
    ("nn.max_pool", (1, 1, 4, 4), {"kernel": (0, 2)}, "kernel.*>= 1"),
    ("nn.global_max_pool", (2, 3), {}, "rank >= 3"),
])
def test_pool_errors_name_the_problem(op, shape, attrs, message):
    with pytest.raises(OpError, match=message):
        infer(op, F32(*shape), **attrs)


def test_avg_pool_rejects_integers():
    with pytest.raises(OpError, match="must be a float tensor"):
        infer("nn.avg_pool", T(DType.I8, 1, 1, 4, 4), kernel=(2, 2))


def test_ceil_mode_window_longer_than_padded_input() -> None:
    """ONNX: out = ceil((n + pads - span) / s) + 1 may be 1 even when the window
    is longer than the padded input (found by differential testing against the
    ONNX reference and onnxruntime, which both give these results)."""
    x = np.arange(2, dtype=np.float32).reshape(1, 1, 1, 2)
    y = get_op("nn.max_pool").run([x], get_op("nn.max_pool").normalize_attrs(
        dict(kernel=(1, 4), strides=(1, 3), pads=(0, 0, 0, 1), ceil_mode=True)))[0]
    np.testing.assert_array_equal(y, [[[[1.0]]]])
    x = np.arange(2, dtype=np.float32).reshape(2, 1, 1, 1)
    avg = get_op("nn.avg_pool")
    y = avg.run([x], avg.normalize_attrs(dict(kernel=(1, 2), strides=(2, 3), ceil_mode=True,
                                              count_include_pad=True)))[0]
    np.testing.assert_array_equal(y.ravel(), [0.0, 1.0])     # the overhang is not counted
    with pytest.raises(ValueError, match="window spans 4"):
        get_op("nn.max_pool").infer(
            [TensorType(DType.F32, (1, 1, 1, 2))],
            get_op("nn.max_pool").normalize_attrs(dict(kernel=(1, 4), ceil_mode=False)))
