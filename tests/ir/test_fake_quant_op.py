"""``qat.fake_quant`` (irc/ops/qat.py): forward values, bit-equality of the
dynamic weight form with ``irc.quant_params``, the straight-through VJPs checked
against finite differences of frozen-rounding surrogates
(``check_op_vjp(..., surrogate=...)``), which scales are trainable, the text
form and the type rule's errors.

Inputs are drawn away from rounding ties (``v`` with fractional part near .5),
from the clamp edges ``qmin``/``qmax``, and in sign mode from 0 and ``±clip``,
where the frozen masks of the surrogates would differ from the perturbed ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from irc.autodiff import forward_backward, trainable_params
from irc.builder import Builder
from irc.errors import IrcError, TypeInferenceError, VerifyError
from irc.gradcheck import check_op_vjp
from irc.ops import get_op
from irc.ops.q_core import round_to_int
from irc.ops.qat import _channel_axes, _per_channel
from irc.parser import parse_graph
from irc.printer import print_graph
from irc.quant_params import dequantize, quantize_weights
from irc.verifier import verify

OP = "qat.fake_quant"
FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

Array = np.ndarray


def run(inputs: list[Array], **attrs: Any) -> Array:
    op = get_op(OP)
    return op.run(inputs, op.normalize_attrs(attrs))[0]


def vjp(inputs: list[Array], g: Array, **attrs: Any) -> list[Array | None]:
    op = get_op(OP)
    norm = op.normalize_attrs(attrs)
    return op.vjp(inputs, norm, op.run(inputs, norm), [g])


#: a [] or [C] parameter shaped to broadcast against x; the axes Σ_c sums over
bcast, others = _per_channel, _channel_axes


# --- surrogates: the forward with rounding offsets and masks frozen at the base point -------

def affine_surrogate(xs: list[Array], base: list[Array], attrs: dict[str, Any]) -> list[Array]:
    """y = s_eff·(clamp(v, qmin, qmax) + δ0·inside0 − z), v = x/s_eff + z, with
    δ0 = round(v0) − v0 and inside0 the base point's mask, s_eff = s0 + gs·(s − s0):
    ∂y/∂x = inside0, ∂y/∂s = gs·(δ0 inside, qmin − z below, qmax − z above)."""
    axis, qmin, qmax = attrs["axis"], attrs["qmin"], attrs["qmax"]
    x, x0 = xs[0], base[0]
    s0 = bcast(base[1], x0, axis)
    s = s0 + attrs["grad_scale"] * (bcast(xs[1], x0, axis) - s0)
    z = bcast(base[2], x0, axis) if len(base) > 2 else 0.0
    v0 = x0 / s0 + z
    inside0 = (v0 >= qmin) & (v0 <= qmax)
    delta0 = round_to_int(v0, "half_away") - v0
    v = x / s + z
    return [s * (np.clip(v, qmin, qmax) + delta0 * inside0 - z)]


def identity_surrogate(xs: list[Array], base: list[Array], attrs: dict[str, Any]) -> list[Array]:
    """Dynamic weights: y = y0 + (x − x0), the pure STE."""
    y0 = get_op(OP).run(base, attrs)[0]
    return [y0 + (xs[0] - base[0])]


def sign_surrogate(xs: list[Array], base: list[Array], attrs: dict[str, Any]) -> list[Array]:
    """y = α·(sgn(x0) + (x − x0)·1[|x0| ≤ clip]) with α = mean_c |x| (dynamic, exact)
    or α_eff = α0 + gs·(α − α0) (an operand)."""
    axis = attrs["axis"]
    x, x0 = xs[0], base[0]
    if len(xs) > 1:
        a0 = bcast(base[1], x0, axis)
        alpha = a0 + attrs["grad_scale"] * (bcast(xs[1], x0, axis) - a0)
    else:
        alpha = np.mean(np.abs(x), axis=others(x, axis), keepdims=True)
    sg0 = np.where(x0 >= 0, 1.0, -1.0)
    return [alpha * (sg0 + (x - x0) * (np.abs(x0) <= attrs["clip"]))]


# --- drawing -------------------------------------------------------------------------------

seeds = st.integers(0, 2 ** 32 - 1)
dtypes = st.sampled_from([np.float64, np.float64, np.float32])


@st.composite
def shape_axis(draw: Any) -> tuple[tuple[int, ...], int | None]:
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    axis = draw(st.one_of(st.none(), st.integers(0, len(shape) - 1)))
    return shape, axis


def grid(bits: int, signed: bool) -> tuple[int, int]:
    return (-2 ** (bits - 1), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)


def off_ties(v: Array, qmin: int, qmax: int, gap: float = 0.05) -> Array:
    """v moved off rounding ties (fraction .5) and the clamp edges qmin, qmax."""
    v = np.array(v, copy=True)
    frac = v - np.floor(v)
    near = np.abs(frac - 0.5) < gap
    v[near] += 2 * gap
    for edge in (qmin, qmax):
        v[np.abs(v - edge) < gap] = edge + 2 * gap
    return v


# --- forward --------------------------------------------------------------------------------

def test_forward_hand_computed() -> None:
    x = np.array([0.26, -0.74, 1.3, -5.0, 0.0])
    # v = x/0.5 = [0.52, -1.48, 2.6, -10, 0] -> [1, -1, 3, -4 (clamped), 0] -> times 0.5
    np.testing.assert_array_equal(run([x, np.array(0.5)], qmin=-4, qmax=3),
                                  [0.5, -0.5, 1.5, -2.0, 0.0])
    # z = 1: v = [1.52, -0.48, 3.6, -9, 1] -> [2, 0, 3 (clamped), -4 (clamped), 1]; s·(q − z)
    np.testing.assert_array_equal(run([x, np.array(0.5), np.array(1.0)], qmin=-4, qmax=3),
                                  [0.5, -0.5, 1.0, -2.5, 0.0])
    # ties round away from zero: 0.25/0.5 = 0.5 -> 1, −0.75/0.5 = −1.5 -> −2
    np.testing.assert_array_equal(run([np.array([0.25, -0.75]), np.array(0.5)]), [0.5, -1.0])
    # sign: α = mean|x| = 1.46, sgn(0) = +1
    np.testing.assert_allclose(run([x], mode="sign"), 1.46 * np.array([1, -1, 1, -1, 1]))
    # per channel along axis 1, learned α
    w = np.array([[1.0, -2.0], [-3.0, 0.0]], np.float32)
    y = run([w, np.array([0.5, 2.0], np.float32)], mode="sign", axis=1)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [[0.5, -2.0], [-0.5, 2.0]])
    # dynamic per channel (axis 0), 2 bits: s = [2/1, 3/1]
    np.testing.assert_array_equal(run([np.array([[2.0, -1.1], [1.4, 3.0]])], axis=0,
                                      qmin=-1, qmax=1), [[2.0, -2.0], [0.0, 3.0]])


def test_a_vanishing_learned_scale_is_guarded() -> None:
    y = run([np.array([1e-9, -1.0]), np.array(0.0)], qmin=-4, qmax=3)
    np.testing.assert_array_equal(y, [0.0, -4 * 2.0 ** -24])
    assert np.all(np.isfinite(y))


@FAST
@given(sa=shape_axis(), seed=seeds, bits=st.sampled_from([8, 4, 2]),
       dtype=st.sampled_from([np.float32, np.float64]), zeros=st.booleans())
def test_dynamic_matches_quantize_weights_bit_for_bit(sa: tuple[tuple[int, ...], int | None],
                                                      seed: int, bits: int, dtype: type,
                                                      zeros: bool) -> None:
    shape, axis = sa
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal(shape) * rng.uniform(1e-3, 10)).astype(dtype)
    if zeros:
        w[..., 0] = 0.0                   # an all-zero channel (or −0.3·s ties to −0)
    qmax = 2 ** (bits - 1) - 1
    w32 = w.astype(np.float32)
    ref = dequantize(*quantize_weights(w32, axis, bits)).astype(np.float32)
    got = run([w32], qmin=-qmax, qmax=qmax, axis=axis)
    assert got.dtype == np.float32
    assert np.array_equal(got.view(np.uint32), ref.view(np.uint32))
    if dtype == np.float64:               # float64 in: the same values before the cast
        got64 = run([w], qmin=-qmax, qmax=qmax, axis=axis)
        ref64 = dequantize(*quantize_weights(w, axis, bits))
        assert np.array_equal(got64.view(np.uint64), (ref64 + 0.0).view(np.uint64))


# --- VJPs against surrogates ---------------------------------------------------------------

@FAST
@given(sa=shape_axis(), seed=seeds, bits=st.sampled_from([2, 3, 4, 8]), signed=st.booleans(),
       with_zp=st.booleans(), grad_scale=st.sampled_from([0.0, 1.0, 0.03]), dtype=dtypes)
def test_affine_vjp(sa: tuple[tuple[int, ...], int | None], seed: int, bits: int, signed: bool,
                    with_zp: bool, grad_scale: float, dtype: type) -> None:
    shape, axis = sa
    rng = np.random.default_rng(seed)
    qmin, qmax = grid(bits, signed)
    c = () if axis is None else (shape[axis],)
    s = rng.uniform(0.05, 0.5, c)
    z = rng.integers(qmin, qmax, c, endpoint=True).astype(np.float64)
    zb = bcast(z, np.empty(shape), axis) if with_zp else 0.0
    v = off_ties(rng.uniform(qmin - 3, qmax + 3, shape), qmin, qmax)
    x = (v - zb) * bcast(s, np.empty(shape), axis)
    inputs = [x.astype(dtype), s.astype(dtype)] + ([z.astype(dtype)] if with_zp else [])
    attrs = {"qmin": qmin, "qmax": qmax, "axis": axis, "grad_scale": grad_scale}
    wrt = [0, 1] if grad_scale > 0 else [0]
    grads = check_op_vjp(OP, inputs, attrs, wrt=wrt, surrogate=affine_surrogate, seed=seed)
    if grad_scale == 0:
        assert grads[1] is None               # the scale is not learned
    if with_zp:
        assert grads[2] is None               # the zero point never is


@FAST
@given(sa=shape_axis(), seed=seeds, bits=st.sampled_from([2, 4, 8]), dtype=dtypes)
def test_dynamic_vjp_is_the_identity(sa: tuple[tuple[int, ...], int | None], seed: int,
                                     bits: int, dtype: type) -> None:
    shape, axis = sa
    rng = np.random.default_rng(seed)
    qmax = 2 ** (bits - 1) - 1
    w = rng.standard_normal(shape).astype(dtype)
    (gx,) = check_op_vjp(OP, [w], {"qmin": -qmax, "qmax": qmax, "axis": axis},
                         surrogate=identity_surrogate, seed=seed)
    g = rng.standard_normal(shape)
    np.testing.assert_array_equal(vjp([w.astype(np.float64)], g, qmin=-qmax, qmax=qmax,
                                      axis=axis)[0], g)


@FAST
@given(sa=shape_axis(), seed=seeds, clip=st.sampled_from([1.0, 0.5, 2.0]),
       learned=st.sampled_from([None, 0.0, 1.0, 0.1]), dtype=dtypes)
def test_sign_vjp(sa: tuple[tuple[int, ...], int | None], seed: int, clip: float,
                  learned: float | None, dtype: type) -> None:
    """learned None: dynamic α = mean|x|; 0.0: α operand, not learned; > 0: learned α."""
    shape, axis = sa
    rng = np.random.default_rng(seed)
    mag = rng.uniform(0.05, 2.5 * clip, shape)
    mag[np.abs(mag - clip) < 0.05] = clip + 0.1         # away from the STE window's edge
    x = np.where(rng.random(shape) < 0.5, -1.0, 1.0) * mag   # away from 0
    attrs: dict[str, Any] = {"mode": "sign", "axis": axis, "clip": clip}
    inputs = [x.astype(dtype)]
    wrt = [0]
    if learned is not None:
        c = () if axis is None else (shape[axis],)
        inputs.append(rng.uniform(0.1, 2.0, c).astype(dtype))
        attrs["grad_scale"] = learned
        if learned > 0:
            wrt = [0, 1]
    grads = check_op_vjp(OP, inputs, attrs, wrt=wrt, surrogate=sign_surrogate, seed=seed)
    if learned == 0.0:
        assert grads[1] is None


def test_a_surrogate_must_agree_with_the_forward() -> None:
    x, s = np.array([0.3, -0.6, 5.0]), np.array(0.5)
    with pytest.raises(AssertionError, match="surrogate's result 0 differs from the op's "
                                             "forward at the base point"):
        check_op_vjp(OP, [x, s], {}, wrt=[0], surrogate=lambda xs, base, attrs: [xs[0]])


def test_lsq_scale_gradient_by_hand() -> None:
    # s = 1, qmin..qmax = −2..1: v = x = [0.3, −0.6, 5, −7]
    x, s = np.array([0.3, -0.6, 5.0, -7.0]), np.array(1.0)
    g = np.array([1.0, 2.0, 3.0, 4.0])
    gx, gs = vjp([x, s], g, qmin=-2, qmax=1, grad_scale=0.5)
    np.testing.assert_array_equal(gx, [1.0, 2.0, 0.0, 0.0])
    # r = [round(0.3) − 0.3, round(−0.6) + 0.6, qmax, qmin] = [−0.3, −0.4, 1, −2]
    assert gs.shape == () and gs == pytest.approx(0.5 * (-0.3 - 0.8 + 3.0 - 8.0))


# --- trainable parameters and the engine -------------------------------------------------

def _qat_graph(grad_scale: float) -> Any:
    b = Builder("qat")
    x = b.input("x", "f32[2,3]")
    w = b.const(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32), "w")
    s_w = b.const(np.full(4, 0.05, np.float32), "s_w")
    s_x = b.const(np.array(0.1, np.float32), "s_x")
    z_x = b.const(np.array(3.0, np.float32), "z_x")
    wq = b.qat.fake_quant(w, s_w, axis=0, qmin=-127, qmax=127, grad_scale=grad_scale)
    xq = b.qat.fake_quant(x, s_x, z_x, grad_scale=grad_scale)
    return b.finish(b.nn.gemm(xq, wq, trans_b=True))


def test_trainable_params_follow_grad_scale() -> None:
    assert trainable_params(_qat_graph(0.0)) == ["w"]
    assert trainable_params(_qat_graph(0.01)) == ["w", "s_w", "s_x"]


def test_forward_backward_reaches_a_learned_scale() -> None:
    g = _qat_graph(0.25)
    xb = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    out = g.outputs[0]
    _, grads = forward_backward(g, {"x": xb}, loss={out.name: np.ones(out.type.shape,
                                                                      np.float32)})
    assert set(grads) == {"w", "s_w", "s_x"}
    assert grads["s_w"].shape == (4,) and grads["s_x"].shape == ()
    assert np.any(grads["s_w"] != 0)


# --- text form --------------------------------------------------------------------------

def test_text_form_round_trips() -> None:
    g = _qat_graph(0.01)
    b = Builder(graph=g)
    h = b.qat.fake_quant(g.outputs[0], mode="sign", clip=0.5, axis=-1)
    g.set_outputs([h])
    text = print_graph(g)
    assert "qat.fake_quant(" in text and "axis = 0" in text and "mode = sign" in text
    assert print_graph(parse_graph(text)) == text
    generic = print_graph(g, generic=True)
    assert print_graph(parse_graph(generic)) == text
    # ``axis = none`` (bare) is the default, per tensor, and is not printed
    text2 = text.replace("mode = sign", "mode = sign, axis = none", 1)
    text2 = text2.replace(", axis = -1", "")
    g2 = parse_graph(text2)
    node = [n for n in g2.nodes if n.op == OP][-1]
    assert node.attrs["axis"] is None


# --- the type rule and verifier ------------------------------------------------------------

@pytest.mark.parametrize("operands, attrs, message", [
    ([(2, 3), ()], {"qmin": 5, "qmax": 5}, "qmin (5) must be less than qmax (5)"),
    ([(2, 3), (3,)], {}, "scale has shape [3]; per tensor (axis = none) it must have shape []"),
    ([(2, 3), (3,)], {"axis": 0},
     "scale has shape [3]; along axis 0 of x [2, 3] it must have shape [2] (per channel)"),
    ([(2, 3), (3,), (2,)], {"axis": 1}, "zero_point has shape [2]; along axis 1"),
    ([(2, 3), (), ()], {"mode": "sign"}, "sign mode takes no zero_point"),
    ([(2, 3)], {"grad_scale": 0.1}, "grad_scale > 0 learns the scale operand, but there is none"),
    ([(2, 3)], {"axis": 2}, "axis 2 is out of range for rank 2"),
    ([(2, 3)], {"mode": "sign", "clip": 0.0}, "clip must be a finite number > 0"),
    ([(2, 3), (), (), ()], {}, "qat.fake_quant takes 1 to 3 operand(s) (x, scale?, zero_point?)"),
])
def test_type_rule_errors(operands: list[tuple[int, ...]], attrs: dict[str, Any],
                          message: str) -> None:
    b = Builder("bad")
    x = b.input("x", "f32[" + ",".join(map(str, operands[0])) + "]")
    rest = [b.const(np.ones(s, np.float32)) for s in operands[1:]]
    with pytest.raises(IrcError) as err:
        b.qat.fake_quant(x, *rest, **attrs)
    assert message in str(err.value)


def test_integer_operands_are_rejected() -> None:
    b = Builder("bad")
    x = b.input("x", "i8[2]")
    with pytest.raises(TypeInferenceError, match="x must be a float tensor"):
        b.qat.fake_quant(x, np.float32(0.5))


def test_verifier_rejects_a_fractional_zero_point() -> None:
    b = Builder("bad")
    x = b.input("x", "f32[2,2]")
    y = b.qat.fake_quant(x, b.const(np.array([0.5, 0.5], np.float32)),
                         b.const(np.array([1.0, 2.5], np.float32)), axis=0)
    b.graph.set_outputs([y])
    with pytest.raises(VerifyError, match=r"zero_point must hold integers .* 2\.5 at index \[1\]"):
        verify(b.graph)
