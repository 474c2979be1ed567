"""VJPs of nn.matmul, nn.gemm, nn.conv2d and nn.conv_transpose2d (and their fused
clamp) against finite differences (irc.gradcheck), over shapes drawn by hypothesis."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from irc.errors import TypeInferenceError
from irc.gradcheck import check_op_vjp
from irc.ops import get_op
from irc.ops.nn_linear import matmul_shape
from irc.types import TensorType

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MORE = settings(FAST, max_examples=60)       # conv geometry has more corners


def rand(seed: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def away_from(y: np.ndarray, bounds: tuple[float, float], gap: float = 1e-3) -> bool:
    """No result lies within ``gap`` of a clamp bound (finite differences there
    straddle the kink)."""
    return all(np.all(np.abs(y.astype(np.float64) - b) > gap) for b in bounds if np.isfinite(b))


def fits(op_name: str, inputs: list[np.ndarray], attrs: dict) -> bool:
    """Whether the op's type rule accepts these operands and attributes."""
    op = get_op(op_name)
    try:
        op.infer_types([TensorType.of(a) for a in inputs], op.normalize_attrs(attrs))
    except TypeInferenceError:
        return False
    return True


# -- nn.matmul ------------------------------------------------------------------------

dims = st.integers(1, 4)


@st.composite
def matmul_shapes(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Operand shapes of numpy matmul: 1-D either side, batch axes of any rank on
    either side that broadcast (size-1 axes and missing leading axes)."""
    m, k, n = draw(dims), draw(dims), draw(dims)
    batch = draw(st.lists(st.integers(1, 3), max_size=3))
    def side() -> tuple[int, ...]:
        keep = draw(st.integers(0, len(batch)))
        return tuple(1 if draw(st.booleans()) else d for d in batch[len(batch) - keep:])
    a = (k,) if draw(st.integers(0, 4)) == 0 else side() + (m, k)
    b = (k,) if draw(st.integers(0, 4)) == 0 else side() + (k, n)
    return a, b


@FAST
@given(matmul_shapes(), st.integers(0, 2 ** 16))
def test_matmul_vjp(shapes: tuple[tuple[int, ...], tuple[int, ...]], seed: int) -> None:
    sa, sb = shapes
    matmul_shape(sa, sb)
    check_op_vjp("nn.matmul", [rand(seed, *sa), rand(seed + 1, *sb)], {}, seed=seed)


def test_matmul_shared_weight_across_batch() -> None:
    """[B, T, K] @ [K, N]: the weight's gradient sums over every batch row."""
    a, b = rand(0, 3, 5, 4), rand(1, 4, 2)
    grads = check_op_vjp("nn.matmul", [a, b], {}, grad_outputs=[np.ones((3, 5, 2))])
    np.testing.assert_allclose(grads[1], np.repeat(a.astype(np.float64).sum(axis=(0, 1))[:, None],
                                                   2, axis=1), rtol=1e-10)


def test_matmul_float16_gradients_keep_dtype() -> None:
    a, b = rand(0, 3, 4).astype(np.float16), rand(1, 4, 2).astype(np.float16)
    op = get_op("nn.matmul")
    y = op.run([a, b], op.normalize_attrs({}))[0]
    ga, gb = op.vjp([a, b], op.normalize_attrs({}), [y], [np.ones_like(y)])
    assert ga.dtype == gb.dtype == np.float16


# -- nn.gemm --------------------------------------------------------------------------

@FAST
@given(dims, dims, dims, st.booleans(), st.booleans(),
       st.sampled_from([None, "scalar", "row", "col", "full"]),
       st.sampled_from([1.0, 0.5, -2.0]), st.sampled_from([1.0, 0.0, 3.0]),
       st.integers(0, 2 ** 16))
def test_gemm_vjp(m: int, k: int, n: int, ta: bool, tb: bool, c: str | None, alpha: float,
                  beta: float, seed: int) -> None:
    a = rand(seed, *((k, m) if ta else (m, k)))
    b = rand(seed + 1, *((n, k) if tb else (k, n)))
    inputs = [a, b]
    if c is not None:
        cshape = {"scalar": (), "row": (n,), "col": (m, 1), "full": (m, n)}[c]
        inputs.append(rand(seed + 2, *cshape))
    check_op_vjp("nn.gemm", inputs,
                 {"trans_a": ta, "trans_b": tb, "alpha": alpha, "beta": beta}, seed=seed)


def test_gemm_beta_zero_gives_c_zero_gradient() -> None:
    grads = check_op_vjp("nn.gemm", [rand(0, 2, 3), rand(1, 3, 4), rand(2, 4)], {"beta": 0.0})
    assert not grads[2].any()


# -- nn.conv2d ------------------------------------------------------------------------

@st.composite
def conv_cases(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...], dict]:
    """Conv geometries: groups (1, grouped, depthwise with a channel multiplier),
    kernel sizes, strides, explicit or auto pads, dilations."""
    kind = draw(st.sampled_from(["dense", "grouped", "depthwise"]))
    g = 1 if kind == "dense" else draw(st.integers(2, 3))
    cg = 1 if kind == "depthwise" else draw(st.integers(1, 3))
    og = draw(st.integers(1, 2)) if kind == "depthwise" else draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    attrs: dict = {"groups": g,
                   "strides": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                   "dilations": (draw(st.integers(1, 2)), draw(st.integers(1, 2)))}
    auto = draw(st.sampled_from(["explicit", "explicit", "same_upper", "same_lower", "valid"]))
    if auto == "explicit":
        attrs["pads"] = tuple(draw(st.integers(0, 2)) for _ in range(4))
    else:
        attrs["auto_pad"] = auto
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    n = draw(st.integers(1, 2))
    return (n, g * cg, h, w), (g * og, cg, kh, kw), attrs


@MORE
@given(conv_cases(), st.booleans(), st.integers(0, 2 ** 16))
def test_conv2d_vjp(case: tuple[tuple[int, ...], tuple[int, ...], dict], bias: bool,
                    seed: int) -> None:
    xs, ws, attrs = case
    inputs = [rand(seed, *xs), rand(seed + 1, *ws)]
    if bias:
        inputs.append(rand(seed + 2, ws[0]))
    assume(fits("nn.conv2d", inputs, attrs))         # the window fits this input
    check_op_vjp("nn.conv2d", inputs, attrs, seed=seed, max_elements=64)


@st.composite
def conv_transpose_cases(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...], dict]:
    """conv_transpose2d geometries: groups, strides, dilations, pads, output_padding."""
    g = draw(st.integers(1, 3))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    attrs = {"groups": g, "strides": strides, "dilations": dil,
             "pads": tuple(draw(st.integers(0, 2)) for _ in range(4)),
             "output_padding": tuple(draw(st.integers(0, max(s, d) - 1))
                                     for s, d in zip(strides, dil))}
    x = (draw(st.integers(1, 2)), g * cg, draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    return x, (g * cg, og, draw(st.integers(1, 3)), draw(st.integers(1, 3))), attrs


@MORE
@given(conv_transpose_cases(), st.booleans(), st.integers(0, 2 ** 16))
def test_conv_transpose2d_vjp(case: tuple[tuple[int, ...], tuple[int, ...], dict], bias: bool,
                              seed: int) -> None:
    xs, ws, attrs = case
    inputs = [rand(seed, *xs), rand(seed + 1, *ws)]
    if bias:
        inputs.append(rand(seed + 2, ws[1] * attrs["groups"]))
    assume(fits("nn.conv_transpose2d", inputs, attrs))   # the pads leave an output
    check_op_vjp("nn.conv_transpose2d", inputs, attrs, seed=seed, max_elements=64)


def test_conv2d_lenet_sizes() -> None:
    """LeNet-5's two convolutions (5x5, padded and valid) on a small batch."""
    check_op_vjp("nn.conv2d", [rand(0, 2, 1, 12, 12), rand(1, 6, 1, 5, 5), rand(2, 6)],
                 {"pads": (2, 2, 2, 2)}, max_elements=48)
    check_op_vjp("nn.conv2d", [rand(3, 2, 6, 8, 8), rand(4, 16, 6, 5, 5), rand(5, 16)], {},
                 max_elements=48)


def test_conv2d_unread_input_rows_get_zero_gradient() -> None:
    """Stride 3 with a 2-tap kernel never reads rows 2, 5: their gradient is 0."""
    grads = check_op_vjp("nn.conv2d", [rand(0, 1, 2, 7, 7), rand(1, 3, 2, 2, 2)],
                         {"strides": (3, 3)})
    assert not grads[0][:, :, [2, 5], :].any() and not grads[0][:, :, :, [2, 5]].any()


# -- the fused clamp ------------------------------------------------------------------

CLAMPS = [(0.0, float("inf")), (0.0, 6.0), (-0.5, 0.5), (float("-inf"), 0.25)]


@FAST
@given(st.sampled_from(["matmul", "gemm", "conv2d", "depthwise", "transpose"]),
       st.sampled_from(CLAMPS),
       st.integers(0, 2 ** 16))
def test_clamp_masks_the_gradient(kind: str, clamp: tuple[float, float], seed: int) -> None:
    if kind == "matmul":
        op, inputs, attrs = "nn.matmul", [rand(seed, 2, 3, 4), rand(seed + 1, 4, 5)], {}
    elif kind == "gemm":
        op, inputs, attrs = "nn.gemm", [rand(seed, 3, 4), rand(seed + 1, 5, 4),
                                        rand(seed + 2, 5)], {"trans_b": True}
    elif kind == "conv2d":
        op, inputs, attrs = "nn.conv2d", [rand(seed, 1, 2, 5, 5), rand(seed + 1, 3, 2, 3, 3),
                                          rand(seed + 2, 3)], {"pads": (1, 1, 1, 1)}
    elif kind == "depthwise":
        op, inputs, attrs = "nn.conv2d", [rand(seed, 1, 3, 5, 5), rand(seed + 1, 3, 1, 3, 3)], \
            {"groups": 3, "pads": (1, 1, 1, 1)}
    else:
        op, inputs, attrs = "nn.conv_transpose2d", [rand(seed, 1, 2, 3, 3),
                                                    rand(seed + 1, 2, 3, 2, 2)], {"strides": (2, 2)}
    d = get_op(op)
    unclamped = d.run(inputs, d.normalize_attrs(attrs))[0]
    assume(away_from(unclamped, clamp))
    attrs = {**attrs, "clamp": clamp}
    y = d.run(inputs, d.normalize_attrs(attrs))[0]
    gy = np.ones_like(y)
    grads = check_op_vjp(op, inputs, attrs, seed=seed, grad_outputs=[gy], max_elements=64)
    # the bias (or c) sees ȳ only where the result is strictly inside the bounds
    inside = (y > clamp[0]) & (y < clamp[1])
    if op == "nn.conv2d" and len(inputs) == 3:
        np.testing.assert_allclose(grads[2], inside.sum(axis=(0, 2, 3)), rtol=1e-12)
    if op == "nn.gemm":
        np.testing.assert_allclose(grads[2], inside.sum(axis=0), rtol=1e-12)


def test_clamp_at_the_bound_passes_no_gradient() -> None:
    """relu's convention: a result exactly on a bound was clamped (no gradient)."""
    a = np.array([[1.0, -1.0]], np.float32)
    b = np.array([[1.0], [1.0]], np.float32)            # a @ b = 0, on the bound
    op = get_op("nn.matmul")
    attrs = op.normalize_attrs({"clamp": (0.0, np.inf)})
    y = op.run([a, b], attrs)[0]
    ga, gb = op.vjp([a, b], attrs, [y], [np.ones_like(y)])
    assert not ga.any() and not gb.any()


@pytest.mark.parametrize("groups, wshape", [(1, (4, 3, 3, 3)), (3, (6, 1, 3, 3))])
def test_conv2d_skips_the_input_gradient_when_not_needed(groups: int,
                                                         wshape: tuple[int, ...]) -> None:
    op = get_op("nn.conv2d")
    attrs = op.normalize_attrs({"groups": groups, "pads": (1, 0, 1, 2)})
    ins = [rand(0, 2, 3, 5, 6), rand(1, *wshape), rand(2, wshape[0])]
    y = op.run(ins, attrs)[0]
    gy = [rand(3, *y.shape)]
    full = op.vjp(ins, attrs, [y], gy)
    part = op.vjp(ins, attrs, [y], gy, needs=[False, True, True])
    assert part[0] is None
    np.testing.assert_array_equal(part[1], full[1])
    np.testing.assert_array_equal(part[2], full[2])
