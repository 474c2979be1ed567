"""nn.conv2d and nn.conv_transpose2d against naive loops written from the ONNX
definitions, plus their shape rules."""

from __future__ import annotations

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


# --- references ----------------------------------------------------------------------------

def same_pads(n, k, s, d, mode):
    """ONNX auto_pad SAME_*: output ceil(n / s); the odd pad goes at the end (upper)
    or the start (lower)."""
    out = -(-n // s)
    total = max(0, (out - 1) * s + (k - 1) * d + 1 - n)
    small, big = total // 2, total - total // 2
    return (small, big) if mode == "same_upper" else (big, small)


def explicit_pads(x_hw, k_hw, strides, dilations, pads, auto_pad):
    if auto_pad == "explicit":
        return pads
    if auto_pad == "valid":
        return (0, 0, 0, 0)
    (t, b), (l, r) = (same_pads(x_hw[a], k_hw[a], strides[a], dilations[a], auto_pad)
                      for a in range(2))
    return (t, l, b, r)


def naive_conv2d(x, w, b=None, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1),
                 groups=1, auto_pad="explicit"):
    N, C, H, W = x.shape
    O, Cg, KH, KW = w.shape
    (sh, sw), (dh, dw) = strides, dilations
    t, l, bo, r = explicit_pads((H, W), (KH, KW), strides, dilations, pads, auto_pad)
    OH = (H + t + bo - (KH - 1) * dh - 1) // sh + 1
    OW = (W + l + r - (KW - 1) * dw - 1) // sw + 1
    Og = O // groups
    y = np.zeros((N, O, OH, OW))
    for n in range(N):
        for o in range(O):
            g = o // Og
            for p in range(OH):
                for q in range(OW):
                    acc = 0.0 if b is None else float(b[o])
                    for c in range(Cg):
                        for i in range(KH):
                            for j in range(KW):
                                h, v = p * sh - t + i * dh, q * sw - l + j * dw
                                if 0 <= h < H and 0 <= v < W:
                                    acc += float(x[n, g * Cg + c, h, v]) * float(w[o, c, i, j])
                    y[n, o, p, q] = acc
    return y


def naive_conv_transpose2d(x, w, b=None, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1),
                           groups=1, output_padding=(0, 0)):
    N, C, H, W = x.shape
    _, Og, KH, KW = w.shape
    (sh, sw), (dh, dw) = strides, dilations
    t, l, bo, r = pads
    OH = sh * (H - 1) + output_padding[0] + (KH - 1) * dh + 1 - t - bo
    OW = sw * (W - 1) + output_padding[1] + (KW - 1) * dw + 1 - l - r
    Cg = C // groups
    y = np.zeros((N, Og * groups, OH, OW))
    for n in range(N):
        for c in range(C):
            g = c // Cg
            for h in range(H):
                for v in range(W):
                    for o in range(Og):
                        for i in range(KH):
                            for j in range(KW):
                                p, q = h * sh + i * dh - t, v * sw + j * dw - l
                                if 0 <= p < OH and 0 <= q < OW:
                                    y[n, g * Og + o, p, q] += float(x[n, c, h, v]) * float(
                                        w[c, o, i, j])
    if b is not None:
        y += b[None, :, None, None]
    return y


def assert_matches_loops(op_name, x, w, b=None, tol=1e-5, **attrs):
    """``op_name`` computes what its naive loop above does; returns the op's result."""
    naive = {"nn.conv2d": naive_conv2d, "nn.conv_transpose2d": naive_conv_transpose2d}[op_name]
    got = run(op_name, x, w, *([] if b is None else [b]), **attrs)
    np.testing.assert_allclose(got, naive(x, w, b, **attrs), rtol=tol, atol=tol)
    return got


def draw_geometry(d, max_groups, max_per_group):
    """Groups, input and output channels per group, kernel, strides and dilations."""
    g = d(st.integers(1, max_groups))
    cg, og = d(st.integers(1, max_per_group)), d(st.integers(1, max_per_group))
    kernel = (d(st.integers(1, 3)), d(st.integers(1, 3)))
    strides = (d(st.integers(1, 3)), d(st.integers(1, 3)))
    dilations = (d(st.integers(1, 2)), d(st.integers(1, 2)))
    return g, cg, og, kernel, strides, dilations


# --- conv2d: hand cases -------------------------------------------------------------------

def test_conv2d_hand_computed_3x3_box_filter():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, 3, 3), np.float32)
    y = run("nn.conv2d", x, w)
    # window sums of the 4x4 ramp: top-left window is 0+1+2+4+5+6+8+9+10 = 45
    np.testing.assert_array_equal(y, [[[[45, 54], [81, 90]]]])
    y = run("nn.conv2d", x, w, pads=(1, 1, 1, 1), strides=(2, 2))
    # zero-padded windows centred on (0,0), (0,2), (2,0), (2,2)
    np.testing.assert_array_equal(y, [[[[0 + 1 + 4 + 5, 1 + 2 + 3 + 5 + 6 + 7],
                                        [4 + 5 + 8 + 9 + 12 + 13, 90]]]])


def test_conv2d_bias_dilation_and_clamp():
    x, w, b = rand(2, 3, 9, 8), rand(4, 3, 3, 2), rand(4)
    attrs = dict(strides=(2, 1), pads=(1, 0, 2, 1), dilations=(2, 3))
    want = naive_conv2d(x, w, b, **attrs)
    np.testing.assert_allclose(run("nn.conv2d", x, w, b, **attrs), want, rtol=1e-5, atol=1e-5)
    clamped = run("nn.conv2d", x, w, b, clamp=(0.0, 1.0), **attrs)
    np.testing.assert_allclose(clamped, np.clip(want, 0, 1), rtol=1e-5, atol=1e-5)


def test_conv2d_depthwise_with_channel_multiplier():
    x, w, b = rand(1, 3, 6, 6), rand(6, 1, 3, 3), rand(6)
    assert_matches_loops("nn.conv2d", x, w, b, groups=3, pads=(1, 1, 1, 1))


def test_conv2d_grouped_equals_concat_of_independent_convs():
    x, w = rand(1, 4, 5, 5), rand(6, 2, 3, 3)
    y = run("nn.conv2d", x, w, groups=2)
    y0 = run("nn.conv2d", np.ascontiguousarray(x[:, :2]), np.ascontiguousarray(w[:3]))
    y1 = run("nn.conv2d", np.ascontiguousarray(x[:, 2:]), np.ascontiguousarray(w[3:]))
    np.testing.assert_allclose(y, np.concatenate([y0, y1], axis=1), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode,pads", [("same_upper", (0, 0, 1, 1)),
                                       ("same_lower", (1, 1, 0, 0))])
def test_conv2d_auto_pad_puts_the_odd_pad_where_onnx_says(mode, pads):
    x, w = rand(1, 2, 4, 4), rand(3, 2, 2, 2)
    y = run("nn.conv2d", x, w, auto_pad=mode)
    assert y.shape == (1, 3, 4, 4)
    np.testing.assert_array_equal(y, run("nn.conv2d", x, w, pads=pads))


def test_conv2d_auto_pad_same_with_stride_and_valid():
    x, w = rand(1, 1, 7, 6), rand(1, 1, 3, 3)
    assert run("nn.conv2d", x, w, auto_pad="same_upper", strides=(2, 2)).shape == (1, 1, 4, 3)
    assert run("nn.conv2d", x, w, auto_pad="valid", strides=(2, 2)).shape == (1, 1, 3, 2)


def test_conv2d_pointwise_fast_path_and_float16():
    x, w, b = rand(2, 8, 5, 3), rand(4, 8, 1, 1), rand(4)
    assert_matches_loops("nn.conv2d", x, w, b)
    x16, w16, b16 = x.astype(np.float16), w.astype(np.float16), b.astype(np.float16)
    y16 = assert_matches_loops("nn.conv2d", x16, w16, b16, tol=2e-3)
    assert y16.dtype == np.float16


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_conv2d_matches_naive_loops(data):
    d = data.draw
    g, cg, og, (kh, kw), strides, dil = draw_geometry(d, max_groups=3, max_per_group=2)
    auto_pad = d(st.sampled_from(["explicit", "explicit", "same_upper", "same_lower", "valid"]))
    pads = tuple(d(st.integers(0, 2)) for _ in range(4)) if auto_pad == "explicit" else (0,) * 4
    span_h, span_w = (kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1
    h = d(st.integers(max(1, span_h - pads[0] - pads[2]), 7))
    w_ = d(st.integers(max(1, span_w - pads[1] - pads[3]), 7))
    if auto_pad == "valid":
        h, w_ = max(h, span_h), max(w_, span_w)
    n = d(st.integers(1, 2))
    x, w = rand(n, g * cg, h, w_), rand(g * og, cg, kh, kw)
    b = rand(g * og) if d(st.booleans()) else None
    assert_matches_loops("nn.conv2d", x, w, b, strides=strides, pads=pads, dilations=dil,
                         groups=g, auto_pad=auto_pad)


# --- conv2d: type rule ---------------------------------------------------------------------

def test_conv2d_shape_rule():
    assert infer("nn.conv2d", F32(1, 3, 224, 224), F32(64, 3, 7, 7), F32(64),
                 strides=(2, 2), pads=(3, 3, 3, 3)) == F32(1, 64, 112, 112)
    assert infer("nn.conv2d", F32(1, 32, 14, 14), F32(32, 1, 3, 3),
                 groups=32, pads=(1, 1, 1, 1)) == F32(1, 32, 14, 14)
    assert infer("nn.conv2d", F32(1, 1, 10, 10), F32(1, 1, 3, 3),
                 dilations=(4, 1)) == F32(1, 1, 2, 8)


@pytest.mark.parametrize("types,attrs,message", [
    ((F32(1, 3, 8, 8), F32(4, 2, 3, 3)), {}, r"w has 2 input channels per group .* = 3"),
    ((F32(1, 4, 8, 8), F32(6, 2, 3, 3)), {"groups": 3}, "input channels 4 are not divisible"),
    ((F32(1, 4, 8, 8), F32(5, 2, 3, 3)), {"groups": 2}, "output channels 5 .* not divisible"),
    ((F32(1, 3, 8, 8), F32(4, 3, 3, 3), F32(3)), {}, r"bias must have shape \[4\]"),
    ((F32(1, 3, 4, 4), F32(4, 3, 5, 3)), {}, "height: the window spans 5"),
    ((F32(1, 3, 4, 4), F32(4, 3, 3, 3)), {"dilations": (1, 2)}, "width: the window spans 5"),
    ((F32(3, 8, 8), F32(4, 3, 3, 3)), {}, "x must be 4-D"),
    ((F32(1, 3, 8, 8), F32(4, 3, 3)), {}, "w must be 4-D"),
    ((F32(1, 3, 8, 8), T(DType.F16, 4, 3, 3, 3)), {}, "share one dtype"),
    ((T(DType.I8, 1, 3, 8, 8), T(DType.I8, 4, 3, 3, 3)), {},
     "must be a float tensor"),
    ((F32(1, 3, 8, 8), F32(4, 3, 3, 3)), {"pads": (1, 1, 1, 1), "auto_pad": "same_upper"},
     "use one or the other"),
])
def test_conv2d_shape_errors_name_the_problem(types, attrs, message):
    with pytest.raises(OpError, match=message):
        infer("nn.conv2d", *types, **attrs)


@pytest.mark.parametrize("attrs,message", [
    ({"strides": (1,)}, "strides.*expected 2 integers"),
    ({"strides": (0, 1)}, "strides.*>= 1"),
    ({"pads": (1, 1, 1)}, "pads.*expected 4 integers"),
    ({"pads": (-1, 0, 0, 0)}, "pads.*>= 0"),
    ({"groups": 0}, "groups.*>= 1"),
    ({"auto_pad": "SAME_UPPER"}, "auto_pad.*explicit, same_upper, same_lower, valid"),
    ({"padding": 1}, "unknown attribute 'padding'"),
])
def test_conv2d_attribute_domains(attrs, message):
    with pytest.raises(OpError, match=message):
        infer("nn.conv2d", F32(1, 3, 8, 8), F32(4, 3, 3, 3), **attrs)


# --- conv_transpose2d ----------------------------------------------------------------------

def test_conv_transpose2d_hand_computed():
    x = np.array([[[[1, 2], [3, 4]]]], np.float32)
    w = np.ones((1, 1, 2, 2), np.float32)
    # stride 2: each input pixel paints its own 2x2 block
    y = run("nn.conv_transpose2d", x, w, strides=(2, 2))
    np.testing.assert_array_equal(y[0, 0], [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4],
                                            [3, 3, 4, 4]])
    # stride 1: the patches overlap and add up
    y = run("nn.conv_transpose2d", x, w)
    np.testing.assert_array_equal(y[0, 0], [[1, 3, 2], [4, 10, 6], [3, 7, 4]])


def test_conv_transpose2d_output_padding_and_pads():
    x, w, b = rand(1, 2, 3, 3), rand(2, 3, 3, 3), rand(3)
    attrs = dict(strides=(2, 2), pads=(1, 0, 1, 2), output_padding=(1, 0))
    y = assert_matches_loops("nn.conv_transpose2d", x, w, b, **attrs)
    assert y.shape == (1, 3, 2 * 2 + 1 + 3 - 2, 2 * 2 + 3 - 2)


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_conv_transpose2d_matches_naive_loops(data):
    d = data.draw
    g, cg, og, (kh, kw), strides, dil = draw_geometry(d, max_groups=3, max_per_group=2)
    outpad = (d(st.integers(0, strides[0] - 1)), d(st.integers(0, strides[1] - 1)))
    h, w_ = d(st.integers(1, 5)), d(st.integers(1, 5))
    full_h = strides[0] * (h - 1) + outpad[0] + (kh - 1) * dil[0] + 1
    full_w = strides[1] * (w_ - 1) + outpad[1] + (kw - 1) * dil[1] + 1
    t = d(st.integers(0, min(2, full_h - 1)))
    bo = d(st.integers(0, min(2, full_h - 1 - t)))
    l = d(st.integers(0, min(2, full_w - 1)))
    r = d(st.integers(0, min(2, full_w - 1 - l)))
    x, w = rand(d(st.integers(1, 2)), g * cg, h, w_), rand(g * cg, og, kh, kw)
    b = rand(g * og) if d(st.booleans()) else None
    assert_matches_loops("nn.conv_transpose2d", x, w, b, strides=strides, pads=(t, l, bo, r),
                         dilations=dil, groups=g, output_padding=outpad)


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_conv_transpose2d_is_the_adjoint_of_conv2d(data):
    """<conv(x, w), y> == <x, conv_transpose(y, w)> with the same geometry."""
    d = data.draw
    g, cg, og, k, s, dil = draw_geometry(d, max_groups=2, max_per_group=3)
    pads = tuple(d(st.integers(0, 1)) for _ in range(4))
    hw = tuple(d(st.integers((k[a] - 1) * dil[a] + 1, 8)) for a in range(2))
    x, w = rand(1, g * cg, *hw).astype(np.float64), rand(g * og, cg, *k).astype(np.float64)
    y = run("nn.conv2d", x, w, strides=s, dilations=dil, pads=pads, groups=g)
    oh, ow = y.shape[2:]
    outpad = tuple(hw[a] - (s[a] * ((oh, ow)[a] - 1) + (k[a] - 1) * dil[a] + 1
                            - pads[a] - pads[a + 2]) for a in range(2))
    v = rand(*y.shape).astype(np.float64)
    xt = run("nn.conv_transpose2d", v, w, strides=s, dilations=dil, pads=pads, groups=g,
             output_padding=outpad)
    assert xt.shape == x.shape
    assert np.vdot(y, v) == pytest.approx(np.vdot(x, xt), rel=1e-9, abs=1e-9)


def test_conv_transpose2d_shape_rule():
    assert infer("nn.conv_transpose2d", F32(1, 16, 7, 7), F32(16, 8, 4, 4), F32(8),
                 strides=(2, 2), pads=(1, 1, 1, 1)) == F32(1, 8, 14, 14)
    assert infer("nn.conv_transpose2d", F32(1, 4, 5, 5), F32(4, 3, 3, 3),
                 groups=2) == F32(1, 6, 7, 7)


@pytest.mark.parametrize("types,attrs,message", [
    ((F32(1, 16, 7, 7), F32(8, 16, 4, 4)), {}, r"w's dim 0 \(8\) must equal x's channels \(16\)"),
    ((F32(1, 4, 5, 5), F32(4, 3, 3, 3), F32(3)), {"groups": 2}, r"bias must have shape \[6\]"),
    ((F32(1, 1, 1, 1), F32(1, 1, 1, 1)), {"pads": (1, 0, 0, 0)}, "crop the whole"),
    ((F32(1, 3, 5, 5), F32(3, 1, 3, 3)), {"groups": 2}, "not divisible by groups"),
])
def test_conv_transpose2d_shape_errors(types, attrs, message):
    with pytest.raises(OpError, match=message):
        infer("nn.conv_transpose2d", *types, **attrs)


def test_conv_transpose_output_padding_must_be_below_stride_or_dilation() -> None:
    op = get_op("nn.conv_transpose2d")
    x, w = TensorType(DType.F32, (1, 1, 2, 2)), TensorType(DType.F32, (1, 1, 1, 1))
    with pytest.raises(ValueError, match=r"output_padding \[3, 0\] must be less than "
                                         r"max\(stride, dilation\) = 1"):
        op.infer([x, w], op.normalize_attrs(dict(output_padding=(3, 0))))
    ok = op.infer([x, w], op.normalize_attrs(dict(strides=(2, 1), output_padding=(1, 0))))
    assert ok.shape == (1, 1, 4, 2)
