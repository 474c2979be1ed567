"""VJPs of the trainable nn.* ops (elementwise, activations, pools, norms,
reductions, data movement) against float64 central differences
(``irc.gradcheck.check_op_vjp``), over hypothesis-drawn shapes and attributes.

Inputs are drawn away from the points where an op is not differentiable (relu
at 0, clamp bounds, max ties), since finite differences are meaningless there;
the tie rules are pinned by separate example tests.  ``test_every_vjp_is_checked``
keeps the list honest: an op cannot gain a VJP without a gradient check here or
in another test module that calls ``check_op_vjp`` on it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from irc.errors import IrcError
from irc.gradcheck import check_op_vjp, numeric_grad
from irc.ops import all_ops, get_op
from irc.types import TensorType

FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

#: every op whose VJP this module checks (test_every_vjp_is_checked reads it)
CHECKED: set[str] = set()


def checks(*ops: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    CHECKED.update(ops)
    return lambda fn: fn


def valid(op_name: str, arrays: list[np.ndarray], attrs: dict[str, Any]) -> bool:
    """Whether the op's type rule accepts these operands and attributes."""
    op = get_op(op_name)
    try:
        norm = op.normalize_attrs(attrs)
        op.infer_types([TensorType.of(a) for a in arrays], norm)
    except (IrcError, ValueError):
        return False
    return True


def away(x: np.ndarray, kinks: tuple[float, ...], gap: float = 0.05) -> np.ndarray:
    """``x`` with every value within ``gap`` of a kink moved ``2·gap`` past it."""
    x = np.array(x, copy=True)
    for k in kinks:
        near = np.abs(x - k) < gap
        x[near] = k + 2 * gap
    return x


def distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values spaced 0.1 apart in random order: no ties for max to break."""
    n = math.prod(shape)
    return (rng.permutation(n) * 0.1 - 0.05 * n).reshape(shape)


seeds = st.integers(0, 2 ** 32 - 1)
dtypes = st.sampled_from([np.float64, np.float64, np.float32])
small_shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


@st.composite
def broadcast_pair(draw: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two shapes that broadcast together (some leading axes dropped, some dims 1)."""
    base = draw(st.lists(st.integers(1, 4), min_size=0, max_size=4).map(tuple))

    def operand() -> tuple[int, ...]:
        drop = draw(st.integers(0, len(base)))
        return tuple(1 if draw(st.booleans()) else d for d in base[drop:])
    return operand(), operand()


# --- elementwise binary ---------------------------------------------------------------

@checks("nn.add", "nn.sub", "nn.mul", "nn.div", "nn.pow", "nn.min", "nn.max")
@FAST
@given(op=st.sampled_from(["nn.add", "nn.sub", "nn.mul", "nn.div", "nn.pow", "nn.min",
                           "nn.max"]),
       shapes=broadcast_pair(), seed=seeds, dtype=dtypes)
def test_binary(op: str, shapes: tuple[tuple[int, ...], tuple[int, ...]], seed: int,
                dtype: type) -> None:
    rng = np.random.default_rng(seed)
    a = rng.uniform(-2, 2, shapes[0])
    b = rng.uniform(-2, 2, shapes[1])
    if op == "nn.div":
        b = away(b, (0.0,), 0.5)                     # |b| >= 0.5
    if op == "nn.pow":
        a = rng.uniform(0.5, 2, shapes[0])           # a > 0: a^b and ln a defined
    if op in ("nn.min", "nn.max"):
        assume(np.abs(np.subtract(a, b)).min(initial=1.0) > 1e-2)
    check_op_vjp(op, [a.astype(dtype), b.astype(dtype)], {})


@FAST
@given(shapes=broadcast_pair(), seed=seeds, lo=st.floats(-3, 0), width=st.floats(0.5, 4))
def test_add_fused_clamp(shapes: tuple[tuple[int, ...], tuple[int, ...]], seed: int,
                         lo: float, width: float) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-3, 3, shapes[0]), rng.uniform(-3, 3, shapes[1])
    hi = lo + width
    s = np.add(a, b)
    assume(np.abs(s - lo).min(initial=1.0) > 1e-2 and np.abs(s - hi).min(initial=1.0) > 1e-2)
    check_op_vjp("nn.add", [a, b], {"clamp": [lo, hi]})


def test_min_max_ties_split_the_gradient() -> None:
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 5.0])
    g = np.array([2.0, 2.0, 2.0])
    for op, ga, gb in (("nn.max", [1, 2, 0], [1, 0, 2]), ("nn.min", [1, 0, 2], [1, 2, 0])):
        got = get_op(op).vjp([a, b], {}, [get_op(op).run([a, b], {})[0]], [g])
        np.testing.assert_array_equal(got[0], ga)
        np.testing.assert_array_equal(got[1], gb)


def test_integer_operands_have_no_gradient() -> None:
    a = np.array([1, 2], np.int32)
    y = get_op("nn.add").run([a, a], get_op("nn.add").normalize_attrs({}))
    assert get_op("nn.add").vjp([a, a], {"clamp": (-np.inf, np.inf)}, y, [y[0]]) == [None, None]
    assert get_op("nn.relu").vjp([a], {}, [a], [a]) == [None]


# --- elementwise unary ----------------------------------------------------------------

#: op -> (value range, kinks to stay away from, attribute strategy)
UNARY: dict[str, tuple[tuple[float, float], Callable[[dict[str, Any]], tuple[float, ...]],
                       st.SearchStrategy[dict[str, Any]]]] = {
    "nn.identity": ((-3, 3), lambda a: (), st.just({})),
    "nn.neg": ((-3, 3), lambda a: (), st.just({})),
    "nn.abs": ((-3, 3), lambda a: (0.0,), st.just({})),
    "nn.sqrt": ((0.2, 4), lambda a: (), st.just({})),
    "nn.exp": ((-3, 2), lambda a: (), st.just({})),
    "nn.log": ((0.2, 4), lambda a: (), st.just({})),
    "nn.tanh": ((-3, 3), lambda a: (), st.just({})),
    "nn.sigmoid": ((-6, 6), lambda a: (), st.just({})),
    "nn.erf": ((-3, 3), lambda a: (), st.just({})),
    "nn.relu": ((-3, 3), lambda a: (0.0,), st.just({})),
    "nn.relu6": ((-2, 8), lambda a: (0.0, 6.0), st.just({})),
    "nn.leaky_relu": ((-3, 3), lambda a: (0.0,),
                      st.fixed_dictionaries({"alpha": st.floats(-1, 1)})),
    "nn.hardsigmoid": ((-6, 6), lambda a: (-a["beta"] / a["alpha"],
                                           (1 - a["beta"]) / a["alpha"]),
                       st.fixed_dictionaries({"alpha": st.floats(0.1, 2),
                                              "beta": st.floats(-1, 1)})),
    "nn.hardswish": ((-5, 5), lambda a: (-3.0, 3.0), st.just({})),
    "nn.gelu": ((-4, 4), lambda a: (),
                st.fixed_dictionaries({"approximate": st.sampled_from(["none", "tanh"])})),
    "nn.clip": ((-4, 4), lambda a: (a["min"], a["max"]),
                st.fixed_dictionaries({"min": st.floats(-3, 0), "max": st.floats(0.2, 3)})),
}


@checks(*UNARY)
@FAST
@given(op=st.sampled_from(sorted(UNARY)), shape=small_shapes, seed=seeds, dtype=dtypes,
       data=st.data())
def test_unary(op: str, shape: tuple[int, ...], seed: int, dtype: type, data: Any) -> None:
    (lo, hi), kinks, attr_st = UNARY[op]
    attrs = data.draw(attr_st)
    x = away(np.random.default_rng(seed).uniform(lo, hi, shape), kinks(attrs))
    check_op_vjp(op, [x.astype(dtype)], attrs)


def test_relu_and_clamp_pass_nothing_at_their_bounds() -> None:
    x = np.array([-1.0, 0.0, 3.0, 6.0, 7.0])
    g = np.ones(5)
    relu6 = get_op("nn.relu6").vjp([x], {}, [np.clip(x, 0, 6)], [g])[0]
    np.testing.assert_array_equal(relu6, [0, 0, 1, 0, 0])
    fused = get_op("nn.add").vjp([x, np.zeros(5)], {"clamp": (0.0, 6.0)}, [np.clip(x, 0, 6)],
                                 [g])[0]
    np.testing.assert_array_equal(fused, relu6)     # fusing relu6 does not change gradients


@checks("nn.prelu")
@FAST
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), seed=seeds,
       data=st.data())
def test_prelu(shape: tuple[int, ...], seed: int, data: Any) -> None:
    keep = data.draw(st.integers(0, len(shape)))      # slope: a suffix of x's shape, some 1s
    slope_shape = tuple(1 if data.draw(st.booleans()) else d for d in shape[len(shape) - keep:])
    rng = np.random.default_rng(seed)
    x = away(rng.uniform(-3, 3, shape), (0.0,))
    check_op_vjp("nn.prelu", [x, rng.uniform(-1, 1, slope_shape)], {})


# --- softmax / norms ------------------------------------------------------------------

@checks("nn.softmax", "nn.log_softmax")
@FAST
@given(op=st.sampled_from(["nn.softmax", "nn.log_softmax"]),
       shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), seed=seeds,
       data=st.data(), dtype=dtypes)
def test_softmax(op: str, shape: tuple[int, ...], seed: int, data: Any, dtype: type) -> None:
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = np.random.default_rng(seed).uniform(-4, 4, shape)
    check_op_vjp(op, [x.astype(dtype)], {"axis": axis})


@checks("nn.layer_norm")
@FAST
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), seed=seeds,
       data=st.data(), with_bias=st.booleans())
def test_layer_norm(shape: tuple[int, ...], seed: int, data: Any, with_bias: bool) -> None:
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    norm_shape = shape[axis % len(shape):]
    rng = np.random.default_rng(seed)

    def param() -> np.ndarray:
        drop = data.draw(st.integers(0, len(norm_shape)))
        s = tuple(1 if data.draw(st.booleans()) else d for d in norm_shape[drop:])
        return rng.uniform(0.5, 2, s)
    ins = [rng.standard_normal(shape), param()] + ([param()] if with_bias else [])
    check_op_vjp("nn.layer_norm", ins, {"axis": axis, "epsilon": 1e-3})


@checks("nn.batch_norm")
@FAST
@given(shape=st.lists(st.integers(1, 3), min_size=2, max_size=4).map(tuple), seed=seeds,
       training=st.booleans(), dtype=dtypes)
def test_batch_norm(shape: tuple[int, ...], seed: int, training: bool, dtype: type) -> None:
    rng = np.random.default_rng(seed)
    c = shape[1]
    ins = [rng.standard_normal(shape), rng.uniform(0.5, 2, c), rng.standard_normal(c),
           rng.standard_normal(c), rng.uniform(0.5, 2, c)]
    grads = check_op_vjp("nn.batch_norm", [a.astype(dtype) for a in ins],
                         {"training": training, "epsilon": 1e-3}, wrt=[0, 1, 2])
    assert grads[3] is None and grads[4] is None     # running statistics are not trained


def test_batch_norm_training_uses_batch_statistics() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 2, 2)) * 3 + 1
    scale, bias = rng.uniform(0.5, 2, 3), rng.standard_normal(3)
    mean, var = rng.standard_normal(3), rng.uniform(0.5, 2, 3)   # ignored in training
    op = get_op("nn.batch_norm")
    y = op.run([x, scale, bias, mean, var], op.normalize_attrs({"training": True}))[0]
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    sd = np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, (x - mu) / sd * scale[:, None, None] + bias[:, None, None],
                               rtol=1e-12)
    # the default is still inference mode
    y_eval = op.run([x, scale, bias, mean, var], op.normalize_attrs({}))[0]
    np.testing.assert_allclose(y_eval, (x - mean[:, None, None]) / np.sqrt(
        var[:, None, None] + 1e-5) * scale[:, None, None] + bias[:, None, None], rtol=1e-12)


def test_training_batch_norm_is_not_folded_exported_or_lowered(tmp_path: Path) -> None:
    import irc
    from irc.builder import Builder
    from irc.artifact.lowering import ArtifactError
    from irc.errors import ModelExportError
    b = Builder("bn_train")
    x = b.input("x", "f32[2,3,4,4]")
    h = b.nn.conv2d(x, b.const(np.ones((3, 3, 1, 1), np.float32), "w"))
    params = [b.const(np.full(3, v, np.float32), n) for n, v in
              (("s", 2.0), ("b", 0.5), ("m", 0.1), ("v", 3.0))]
    g = b.finish(b.nn.batch_norm(h, *params, training=True))
    out = irc.compile(g, "fuse-bn")
    assert [n.op for n in out.nodes if n.op != "const"] == ["nn.conv2d", "nn.batch_norm"]
    with pytest.raises(ModelExportError, match="training-mode batch norm"):
        irc.save(g, tmp_path / "bn.onnx")
    with pytest.raises(ArtifactError, match="training-mode batch norm"):
        irc.save(g, tmp_path / "bn.ircm")
    assert not list(tmp_path.iterdir())             # no half-written output


# --- pools ----------------------------------------------------------------------------

@st.composite
def pool_case(draw: Any, dilations: bool) -> tuple[tuple[int, ...], dict[str, Any]]:
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 6)),
             draw(st.integers(1, 6)))
    attrs: dict[str, Any] = {
        "kernel": [draw(st.integers(1, 3)), draw(st.integers(1, 3))],
        "strides": [draw(st.integers(1, 3)), draw(st.integers(1, 3))],
        "ceil_mode": draw(st.booleans()),
        "auto_pad": draw(st.sampled_from(["explicit", "explicit", "same_upper", "same_lower",
                                          "valid"])),
    }
    attrs["pads"] = ([draw(st.integers(0, 2)) for _ in range(4)]
                     if attrs["auto_pad"] == "explicit" else [0, 0, 0, 0])
    if dilations:
        attrs["dilations"] = [draw(st.integers(1, 2)), draw(st.integers(1, 2))]
    return shape, attrs


@checks("nn.max_pool")
@FAST
@given(case=pool_case(dilations=True), seed=seeds, dtype=dtypes)
def test_max_pool(case: tuple[tuple[int, ...], dict[str, Any]], seed: int, dtype: type) -> None:
    shape, attrs = case
    x = distinct(np.random.default_rng(seed), shape)
    assume(valid("nn.max_pool", [x], attrs))
    check_op_vjp("nn.max_pool", [x.astype(dtype)], attrs)


def test_max_pool_tie_goes_to_the_first_tap() -> None:
    x = np.ones((1, 1, 3, 3))
    op = get_op("nn.max_pool")
    attrs = op.normalize_attrs({"kernel": [2, 2], "strides": [1, 1], "pads": [1, 1, 0, 0]})
    y = op.run([x], attrs)[0]
    gx = op.vjp([x], attrs, [y], [np.ones_like(y)])[0]
    # window (p, q) reads rows p-1..p, cols q-1..q; its first in-bounds tap (row-major) wins
    np.testing.assert_array_equal(gx, [[[[4, 2, 0], [2, 1, 0], [0, 0, 0]]]])
    gx = get_op("nn.global_max_pool").vjp([x], {}, [np.ones((1, 1, 1, 1))],
                                          [np.ones((1, 1, 1, 1))])[0]
    np.testing.assert_array_equal(gx, [[[[1, 0, 0], [0, 0, 0], [0, 0, 0]]]])


@checks("nn.avg_pool")
@FAST
@given(case=pool_case(dilations=False), seed=seeds, include=st.booleans(), dtype=dtypes)
def test_avg_pool(case: tuple[tuple[int, ...], dict[str, Any]], seed: int, include: bool,
                  dtype: type) -> None:
    shape, attrs = case
    attrs["count_include_pad"] = include
    x = np.random.default_rng(seed).standard_normal(shape)
    assume(valid("nn.avg_pool", [x], attrs))
    check_op_vjp("nn.avg_pool", [x.astype(dtype)], attrs)


@checks("nn.global_avg_pool", "nn.global_max_pool")
@FAST
@given(op=st.sampled_from(["nn.global_avg_pool", "nn.global_max_pool"]),
       shape=st.lists(st.integers(1, 4), min_size=3, max_size=4).map(tuple), seed=seeds)
def test_global_pools(op: str, shape: tuple[int, ...], seed: int) -> None:
    check_op_vjp(op, [distinct(np.random.default_rng(seed), shape)], {})


# --- reductions -----------------------------------------------------------------------

@checks("nn.reduce_sum", "nn.reduce_mean", "nn.reduce_max")
@FAST
@given(op=st.sampled_from(["nn.reduce_sum", "nn.reduce_mean", "nn.reduce_max"]),
       shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), seed=seeds,
       keepdims=st.booleans(), data=st.data(), dtype=dtypes)
def test_reduce(op: str, shape: tuple[int, ...], seed: int, keepdims: bool, data: Any,
                dtype: type) -> None:
    axes = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), max_size=len(shape),
                              unique_by=lambda a: a % len(shape)))
    x = distinct(np.random.default_rng(seed), shape)
    check_op_vjp(op, [x.astype(dtype)], {"axes": axes, "keepdims": keepdims})


def test_reduce_max_ties_share_the_gradient() -> None:
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])
    op = get_op("nn.reduce_max")
    attrs = op.normalize_attrs({"axes": [1], "keepdims": False})
    gx = op.vjp([x], attrs, op.run([x], attrs), [np.array([2.0, 4.0])])[0]
    np.testing.assert_array_equal(gx, [[0, 1, 1], [2, 0, 2]])


# --- data movement --------------------------------------------------------------------

shapes_1_4 = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


@checks("nn.reshape", "nn.flatten", "nn.squeeze", "nn.unsqueeze", "nn.transpose",
        "nn.expand")
@FAST
@given(shape=shapes_1_4, seed=seeds, data=st.data(),
       op=st.sampled_from(["nn.reshape", "nn.flatten", "nn.squeeze", "nn.unsqueeze",
                           "nn.transpose", "nn.expand"]))
def test_movement(shape: tuple[int, ...], seed: int, data: Any, op: str) -> None:
    r = len(shape)
    if op == "nn.reshape":
        attrs = {"shape": data.draw(st.sampled_from([[-1], list(shape[::-1]),
                                                     [0, -1] if r > 1 else [-1]]))}
    elif op == "nn.flatten":
        attrs = {"axis": data.draw(st.integers(-r, r))}
    elif op == "nn.squeeze":
        ones = [i for i, d in enumerate(shape) if d == 1]
        attrs = {"axes": data.draw(st.lists(st.sampled_from(ones), unique=True)) if ones else []}
    elif op == "nn.unsqueeze":
        attrs = {"axes": data.draw(st.lists(st.integers(0, r), min_size=1, max_size=2,
                                            unique=True))}
    elif op == "nn.transpose":
        attrs = {"perm": data.draw(st.permutations(range(r)))}
    else:   # expand: 1 in shape keeps x's dim, extra leading axes are added
        shape = tuple(1 if data.draw(st.booleans()) else d for d in shape)
        lead = data.draw(st.lists(st.integers(1, 3), max_size=2))
        attrs = {"shape": lead + [data.draw(st.integers(1, 3)) if d == 1 else
                                  data.draw(st.sampled_from([1, d])) for d in shape]}
    x = np.random.default_rng(seed).standard_normal(shape)
    assume(valid(op, [x], attrs))
    check_op_vjp(op, [x], attrs)


@checks("nn.concat", "nn.split")
@FAST
@given(shape=shapes_1_4, seed=seeds, data=st.data())
def test_concat_split(shape: tuple[int, ...], seed: int, data: Any) -> None:
    rng = np.random.default_rng(seed)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    assume(sum(sizes) > 0)
    ins = []
    for s in sizes:
        sh = list(shape)
        sh[axis] = s
        ins.append(rng.standard_normal(sh))
    check_op_vjp("nn.concat", ins, {"axis": axis}, wrt=[i for i, s in enumerate(sizes) if s])
    check_op_vjp("nn.split", [np.concatenate(ins, axis=axis)], {"axis": axis, "sizes": sizes})


def test_split_takes_none_for_an_unused_piece() -> None:
    x = np.arange(6.0).reshape(2, 3)
    op = get_op("nn.split")
    attrs = op.normalize_attrs({"axis": 1, "sizes": [1, 2]})
    outs = op.run([x], attrs)
    gx = op.vjp([x], attrs, outs, [None, np.ones((2, 2))])[0]
    np.testing.assert_array_equal(gx, [[0, 1, 1], [0, 1, 1]])


@checks("nn.slice")
@FAST
@given(shape=shapes_1_4, seed=seeds, data=st.data())
def test_slice(shape: tuple[int, ...], seed: int, data: Any) -> None:
    r = len(shape)
    axes = data.draw(st.lists(st.integers(0, r - 1), min_size=1, max_size=r, unique=True))
    starts = [data.draw(st.integers(-5, 5)) for _ in axes]
    ends = [data.draw(st.integers(-6, 6)) for _ in axes]
    steps = [data.draw(st.sampled_from([1, 2, 3, -1, -2])) for _ in axes]
    attrs = {"starts": starts, "ends": ends, "axes": axes, "steps": steps}
    x = np.random.default_rng(seed).standard_normal(shape)
    check_op_vjp("nn.slice", [x], attrs)


@checks("nn.pad")
@FAST
@given(shape=shapes_1_4, seed=seeds, data=st.data(),
       mode=st.sampled_from(["constant", "constant", "reflect", "edge"]))
def test_pad(shape: tuple[int, ...], seed: int, data: Any, mode: str) -> None:
    pads = [data.draw(st.integers(-1, 3)) for _ in range(2 * len(shape))]
    attrs = {"pads": pads, "mode": mode, "value": data.draw(st.floats(-2, 2))}
    x = np.random.default_rng(seed).standard_normal(shape)
    assume(valid("nn.pad", [x], attrs))
    check_op_vjp("nn.pad", [x], attrs)


@checks("nn.gather")
@FAST
@given(shape=shapes_1_4, seed=seeds, data=st.data(), dtype=st.sampled_from([np.int32, np.int64]))
def test_gather(shape: tuple[int, ...], seed: int, data: Any, dtype: type) -> None:
    rng = np.random.default_rng(seed)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    idx_shape = data.draw(st.lists(st.integers(0, 3), max_size=2).map(tuple))
    idx = rng.integers(-n, n, idx_shape).astype(dtype)     # repeats and negatives
    grads = check_op_vjp("nn.gather", [rng.standard_normal(shape), idx], {"axis": axis})
    assert grads[1] is None


@checks("nn.gather_elements")
@FAST
@given(shape=shapes_1_4, seed=seeds, data=st.data())
def test_gather_elements(shape: tuple[int, ...], seed: int, data: Any) -> None:
    rng = np.random.default_rng(seed)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    idx_shape = tuple(data.draw(st.integers(0, 4)) if i == axis % len(shape) else
                      data.draw(st.integers(1, d)) for i, d in enumerate(shape))
    n = shape[axis]
    idx = rng.integers(-n, n, idx_shape)                   # repeats and negatives
    grads = check_op_vjp("nn.gather_elements", [rng.standard_normal(shape), idx],
                         {"axis": axis})
    assert grads[1] is None


@checks("nn.where")
@FAST
@given(shapes=broadcast_pair(), seed=seeds, data=st.data())
def test_where(shapes: tuple[tuple[int, ...], tuple[int, ...]], seed: int, data: Any) -> None:
    rng = np.random.default_rng(seed)
    cond_shape = data.draw(st.sampled_from([shapes[0], shapes[1], ()]))
    cond = rng.random(cond_shape) < 0.5
    grads = check_op_vjp("nn.where", [cond, rng.standard_normal(shapes[0]),
                                      rng.standard_normal(shapes[1])], {})
    assert grads[0] is None


@checks("nn.cast")
@FAST
@given(shape=small_shapes, seed=seeds, to=st.sampled_from(["f32", "f64", "f16"]))
def test_cast(shape: tuple[int, ...], seed: int, to: str) -> None:
    x = np.random.default_rng(seed).standard_normal(shape)
    # the float16 rounding is a step function: check the float-to-float identity with the
    # analytic rule, finite differences only where the target keeps float64's precision
    if to == "f64":
        check_op_vjp("nn.cast", [x], {"to": to})
    op = get_op("nn.cast")
    attrs = op.normalize_attrs({"to": to})
    g = np.random.default_rng(seed + 1).standard_normal(shape)
    for dt in (np.float32, np.float64):
        gx = op.vjp([x.astype(dt)], attrs, op.run([x.astype(dt)], attrs), [g])[0]
        assert gx.dtype == dt
        np.testing.assert_array_equal(gx, g.astype(dt))
    to_int = op.normalize_attrs({"to": "i32"})
    assert op.vjp([x], to_int, op.run([x], to_int), [g]) == [None]


# --- composition: cross-entropy from log_softmax, mul, reduce_sum, reduce_mean, neg ------

def test_cross_entropy_composes() -> None:
    """L = mean_n(−Σ_c onehot[n, c] · log_softmax(z)[n, c]) through the ops' own VJPs
    chained by hand: dL/dz = (softmax(z) − onehot) / N, and finite differences."""
    rng = np.random.default_rng(3)
    z = rng.standard_normal((5, 4))
    labels = rng.integers(0, 4, 5)
    onehot = np.eye(4)[labels]
    chain = [("nn.log_softmax", {"axis": 1}, None), ("nn.mul", {}, onehot),
             ("nn.reduce_sum", {"axes": [1], "keepdims": False}, None),
             ("nn.reduce_mean", {"axes": [0], "keepdims": False}, None), ("nn.neg", {}, None)]

    def forward(v: np.ndarray) -> list[tuple[Any, dict[str, Any], list[np.ndarray], np.ndarray]]:
        tape = []
        for name, attrs, other in chain:
            op = get_op(name)
            norm = op.normalize_attrs(attrs)
            ins = [v] if other is None else [v, other]
            v = op.run(ins, norm)[0]
            tape.append((op, norm, ins, v))
        return tape

    tape = forward(z)
    g = np.ones(())
    for op, norm, ins, out in reversed(tape):
        g = op.vjp(ins, norm, [out], [g])[0]
    softmax = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(g, (softmax - onehot) / 5, rtol=1e-12, atol=1e-15)
    numeric = numeric_grad(lambda v: float(forward(v)[-1][3]), z)
    np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-9)

    # the gather form: pick each row's label with nn.gather + a diagonal
    ls = get_op("nn.log_softmax")
    y = ls.run([z], ls.normalize_attrs({"axis": 1}))[0]
    ga = get_op("nn.gather")
    picked = ga.run([y, labels], ga.normalize_attrs({"axis": 1}))[0]      # [5, 5]
    gpicked = -np.eye(5) / 5                 # L = −mean(diag(picked))
    gy = ga.vjp([y, labels], ga.normalize_attrs({"axis": 1}), [picked], [gpicked])[0]
    gz = ls.vjp([z], ls.normalize_attrs({"axis": 1}), [y], [gy])[0]
    np.testing.assert_allclose(gz, (softmax - onehot) / 5, rtol=1e-12, atol=1e-15)


def test_a_small_classifier_through_autodiff() -> None:
    """The VJPs chained by irc.autodiff: batch norm (training) → relu → max pool →
    flatten → gemm → layer norm → log_softmax · onehot → reduce → neg, gradients
    of every parameter and the input against finite differences of the graph."""
    from irc.builder import Builder
    from irc.gradcheck import check_graph_grads
    rng = np.random.default_rng(5)
    b = Builder("clf")
    x = b.input("x", "f32[4,2,4,4]")
    onehot = b.input("onehot", "f32[4,3]")

    def const(name: str, *shape: int, lo: float = -1.0, hi: float = 1.0) -> Any:
        return b.const(rng.uniform(lo, hi, shape).astype(np.float32), name)
    h = b.nn.batch_norm(x, const("bn.s", 2, lo=0.5, hi=2), const("bn.b", 2),
                        const("bn.m", 2), const("bn.v", 2, lo=0.5, hi=2), training=True)
    h = b.nn.max_pool(b.nn.relu(h), kernel=[2, 2], strides=[2, 2])
    h = b.nn.gemm(b.nn.flatten(h), const("fc.w", 8, 3), const("fc.b", 3))
    h = b.nn.layer_norm(h, const("ln.s", 3, lo=0.5, hi=2), const("ln.b", 3))
    nll = b.nn.mul(b.nn.log_softmax(h, axis=1), onehot)
    loss = b.nn.neg(b.nn.reduce_mean(b.nn.reduce_sum(nll, axes=[1], keepdims=False)),
                    name="loss")
    g = b.finish(loss)
    feeds = {"x": rng.standard_normal((4, 2, 4, 4)).astype(np.float32),
             "onehot": np.eye(3, dtype=np.float32)[rng.integers(0, 3, 4)]}
    grads = check_graph_grads(g, feeds, wrt_inputs=True)
    assert {"bn.s", "bn.b", "fc.w", "fc.b", "ln.s", "ln.b"} <= set(grads)
    assert "bn.m" not in grads and "bn.v" not in grads     # running statistics


# --- bookkeeping ----------------------------------------------------------------------

_OP_NAME = re.compile(r"[\"']([a-z]+\.[a-z0-9_]+)[\"']")


def test_every_vjp_is_checked() -> None:
    """Every op with a VJP is gradient-checked: here (``CHECKED``) or in another
    test module that calls ``check_op_vjp`` and names the op in a string literal
    (``check_op_vjp("nn.gemm", ...)``, or ``op = "nn.gemm"`` then ``check_op_vjp(op, ...)``)."""
    elsewhere: set[str] = set()
    for path in Path(__file__).resolve().parents[1].rglob("test_*.py"):
        text = path.read_text()
        if "check_op_vjp(" in text:
            elsewhere.update(_OP_NAME.findall(text))
    with_vjp = {name for name, op in all_ops().items() if op.vjp is not None}
    missing = sorted(with_vjp - CHECKED - elsewhere)
    assert not missing, f"ops with a VJP but no gradient check: {missing}"
    assert CHECKED <= with_vjp, f"checked but no VJP: {sorted(CHECKED - with_vjp)}"
