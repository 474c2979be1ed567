"""nn.resize against ONNX's published Resize examples and a per-pixel loop of the
spec's coordinate formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irc.errors import OpError

from ophelpers import F32, infer, run


X22 = np.array([[[[1, 2], [3, 4]]]], np.float32)
X24 = np.array([[[[1, 2, 3, 4], [5, 6, 7, 8]]]], np.float32)


# --- the examples in the ONNX Resize operator documentation / backend tests -----------------

def test_onnx_upsample_scales_nearest():
    y = run("nn.resize", X22, mode="nearest", scales=(1, 1, 2, 3))
    np.testing.assert_array_equal(y[0, 0], [[1, 1, 1, 2, 2, 2], [1, 1, 1, 2, 2, 2],
                                            [3, 3, 3, 4, 4, 4], [3, 3, 3, 4, 4, 4]])


def test_onnx_downsample_scales_nearest():
    y = run("nn.resize", X24, mode="nearest", scales=(1, 1, 0.6, 0.6))
    np.testing.assert_array_equal(y[0, 0], [[1, 3]])


def test_onnx_upsample_scales_linear():
    y = run("nn.resize", X22, mode="linear", scales=(1, 1, 2, 2))
    np.testing.assert_allclose(y[0, 0], [[1, 1.25, 1.75, 2], [1.5, 1.75, 2.25, 2.5],
                                         [2.5, 2.75, 3.25, 3.5], [3, 3.25, 3.75, 4]])


def test_onnx_upsample_scales_linear_align_corners():
    y = run("nn.resize", X22, mode="linear", scales=(1, 1, 2, 2),
            coordinate_transformation_mode="align_corners")
    third = 1 / 3
    np.testing.assert_allclose(y[0, 0], [
        [1, 1 + third, 1 + 2 * third, 2],
        [1 + 2 * third, 2, 2 + third, 2 + 2 * third],
        [2 + third, 2 + 2 * third, 3, 3 + third],
        [3, 3 + third, 3 + 2 * third, 4]], rtol=1e-6)


def test_onnx_downsample_scales_linear():
    y = run("nn.resize", X24, mode="linear", scales=(1, 1, 0.6, 0.6))
    np.testing.assert_allclose(y[0, 0], [[2.6666665, 4.3333331]], rtol=1e-6)


def test_onnx_downsample_scales_linear_align_corners():
    # ONNX's resized length here is 4 * 0.6 = 2.4, not the output size 2:
    # x_original(1) = 1 * (4 - 1) / (2.4 - 1) = 2.142857 (onnx/onnx#2462: intended)
    y = run("nn.resize", X24, mode="linear", scales=(1, 1, 0.6, 0.6),
            coordinate_transformation_mode="align_corners")
    np.testing.assert_allclose(y[0, 0], [[1, 3.142857]], rtol=1e-6)


def test_onnx_upsample_sizes_nearest_modes():
    x = np.arange(1, 17, dtype=np.float32).reshape(1, 1, 4, 4)
    # resize_upsample_sizes_nearest_ceil_half_pixel
    y = run("nn.resize", x, sizes=(1, 1, 8, 8), nearest_mode="ceil")
    np.testing.assert_array_equal(y[0, 0, 0], [1, 2, 2, 3, 3, 4, 4, 4])
    np.testing.assert_array_equal(y[0, 0, :, 0], [1, 5, 5, 9, 9, 13, 13, 13])
    # resize_upsample_sizes_nearest_floor_align_corners
    y = run("nn.resize", x, sizes=(1, 1, 8, 8), nearest_mode="floor",
            coordinate_transformation_mode="align_corners")
    np.testing.assert_array_equal(y[0, 0, 0], [1, 1, 1, 2, 2, 3, 3, 4])
    # resize_upsample_sizes_nearest_round_prefer_ceil_asymmetric
    y = run("nn.resize", x, sizes=(1, 1, 8, 8), nearest_mode="round_prefer_ceil",
            coordinate_transformation_mode="asymmetric")
    np.testing.assert_array_equal(y[0, 0, 0], [1, 2, 2, 3, 3, 4, 4, 4])


def test_onnx_downsample_sizes_linear_pytorch_half_pixel():
    x = np.arange(1, 17, dtype=np.float32).reshape(1, 1, 4, 4)
    y = run("nn.resize", x, mode="linear", sizes=(1, 1, 3, 1),
            coordinate_transformation_mode="pytorch_half_pixel")
    np.testing.assert_allclose(y[0, 0, :, 0], [1.6666666, 7.0, 12.333333], rtol=1e-6)


# --- property test against a per-pixel loop --------------------------------------------------

def _coord(x, n, length, scale, ctm):
    """ONNX: length is the resized length, input length * scale (unrounded)."""
    if ctm == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if ctm == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if length != 1 else 0.0
    if ctm == "align_corners":
        return x * (n - 1) / (length - 1) if length != 1 else 0.0
    return x / scale


def _nearest(c, mode):
    if mode == "floor":
        return math.floor(c)
    if mode == "ceil":
        return math.ceil(c)
    frac = c - math.floor(c)
    if frac == 0.5:
        return math.floor(c) if mode == "round_prefer_floor" else math.ceil(c)
    return math.floor(c + 0.5)


def loop_resize(x, out_hw, scales, lengths, mode, ctm, nearest_mode):
    H, W = x.shape[2:]
    OH, OW = out_hw
    y = np.zeros(x.shape[:2] + (OH, OW))
    for p in range(OH):
        for q in range(OW):
            ch = _coord(p, H, lengths[0], scales[0], ctm)
            cw = _coord(q, W, lengths[1], scales[1], ctm)
            if mode == "nearest":
                i = min(max(_nearest(ch, nearest_mode), 0), H - 1)
                j = min(max(_nearest(cw, nearest_mode), 0), W - 1)
                y[:, :, p, q] = x[:, :, i, j]
            else:
                ch, cw = min(max(ch, 0), H - 1), min(max(cw, 0), W - 1)
                i0, j0 = int(math.floor(ch)), int(math.floor(cw))
                i1, j1 = min(i0 + 1, H - 1), min(j0 + 1, W - 1)
                fh, fw = ch - i0, cw - j0
                y[:, :, p, q] = ((1 - fh) * (1 - fw) * x[:, :, i0, j0]
                                 + (1 - fh) * fw * x[:, :, i0, j1]
                                 + fh * (1 - fw) * x[:, :, i1, j0]
                                 + fh * fw * x[:, :, i1, j1])
    return y


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_resize_matches_per_pixel_loop(data):
    d = data.draw
    h, w = d(st.integers(1, 5)), d(st.integers(1, 5))
    mode = d(st.sampled_from(["nearest", "linear"]))
    ctm = d(st.sampled_from(["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"]))
    nearest_mode = d(st.sampled_from(["round_prefer_floor", "round_prefer_ceil", "floor",
                                      "ceil"]))
    x = np.random.default_rng(d(st.integers(0, 99))).standard_normal((1, 2, h, w)).astype(
        np.float32)
    attrs = dict(mode=mode, coordinate_transformation_mode=ctm, nearest_mode=nearest_mode)
    if d(st.booleans()):
        sizes = (1, 2, d(st.integers(1, 9)), d(st.integers(1, 9)))
        attrs["sizes"] = sizes
        out_hw, scales, lengths = sizes[2:], (sizes[2] / h, sizes[3] / w), sizes[2:]
    else:
        sc = (d(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0])),
              d(st.sampled_from([0.5, 1.0, 2.0, 2.5])))
        out_hw = (int(h * sc[0]), int(w * sc[1]))
        if min(out_hw) < 1:
            return
        attrs["scales"] = (1.0, 1.0) + sc
        scales, lengths = sc, (h * sc[0], w * sc[1])
    y = run("nn.resize", x, **attrs)
    want = loop_resize(x, out_hw, scales, lengths, mode, ctm, nearest_mode)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


# --- type rule -------------------------------------------------------------------------------

def test_resize_shape_rule():
    assert infer("nn.resize", F32(1, 3, 10, 10), scales=(1, 1, 2, 2)) == F32(1, 3, 20, 20)
    assert infer("nn.resize", F32(1, 3, 10, 10), sizes=(1, 3, 7, 5),
                 mode="linear") == F32(1, 3, 7, 5)
    assert infer("nn.resize", F32(4, 10), scales=(1, 0.35)) == F32(4, 3)


@pytest.mark.parametrize("attrs,message", [
    ({}, "exactly one of scales and sizes"),
    ({"scales": (1, 1, 2, 2), "sizes": (1, 3, 8, 8)}, "exactly one of scales and sizes"),
    ({"scales": (2, 2)}, "scales has 2 entries for rank 4"),
    ({"scales": (1, 1, 0, 2)}, "must be finite and positive"),
    ({"scales": (1, 1, 0.1, 1)}, "shrink"),
    ({"scales": (1, 1, 2, 2), "coordinate_transformation_mode": "tf_crop_and_resize"},
     "coordinate_transformation_mode"),
])
def test_resize_errors(attrs, message):
    with pytest.raises(OpError, match=message):
        infer("nn.resize", F32(1, 3, 4, 4), **attrs)
