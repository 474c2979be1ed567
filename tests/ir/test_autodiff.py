"""The reverse-mode engine (irc/autodiff.py): gradients of small graphs against
finite differences, shared values, unused branches, parameters, write-back,
a softmax cross-entropy loss built from ops, a few training steps, and errors."""

from __future__ import annotations

import numpy as np
import pytest

from irc.autodiff import AutodiffError, forward_backward, trainable_params, write_back
from irc.builder import Builder
from irc.gradcheck import check_graph_grads
from irc.interpreter import run
from irc.ir import Graph
from irc.ops import get_op


def rand(seed: int, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def small_cnn(clamp: bool = True) -> Graph:
    """conv (padded) -> depthwise conv -> matmul over the flattened batch, with a
    weight shared by two products and a value read by two nodes."""
    b = Builder("cnn")
    x = b.input("x", "f32[2,2,5,5]")
    relu = {"clamp": (0.0, float("inf"))} if clamp else {}
    h = b.nn.conv2d(x, b.const(rand(1, 4, 2, 3, 3), "c1.w"), b.const(rand(2, 4), "c1.b"),
                    pads=(1, 1, 1, 1), **relu)
    h = b.nn.conv2d(h, b.const(rand(3, 4, 1, 3, 3), "dw.w"), groups=4, strides=(2, 2), **relu)
    # [2, 4, 2, 2] viewed as a batch of [4, 2] @ [2, 2] products with one shared weight
    h3 = b.nn.matmul(h, b.const(rand(4, 2, 2), "sq.w"))
    w2 = b.const(rand(5, 2, 2), "w2")
    y = b.nn.matmul(b.nn.matmul(h3, w2), w2)           # w2 read by two nodes
    z = b.nn.matmul(h3, h3)                            # h3 read twice by one node
    out = b.nn.gemm(b.const(rand(6, 3, 8), "g.a"), b.const(rand(7, 8, 8), "g.b"), trans_b=True)
    return b.finish(y, z, out)


def test_trainable_params_are_the_float_constants_with_vjps() -> None:
    assert trainable_params(small_cnn()) == ["c1.w", "c1.b", "dw.w", "sq.w", "w2", "g.a", "g.b"]


def test_small_cnn_grads_match_finite_differences() -> None:
    g = small_cnn()
    grads = check_graph_grads(g, wrt_inputs=True, seed=3)
    assert set(grads) == set(trainable_params(g)) | {"x"}


def test_grads_keep_dtype_and_shape() -> None:
    g = small_cnn()
    feeds = {"x": rand(0, 2, 2, 5, 5)}
    outs, grads = forward_backward(g, feeds, loss={v.name: np.ones(v.type.shape, np.float32)
                                                   for v in g.outputs})
    for name, arr in grads.items():
        v = g.value(name)
        assert arr.dtype == np.float32 and arr.shape == v.type.shape, name
    ref = run(g, feeds)
    assert set(outs) == set(ref)
    for k in ref:
        np.testing.assert_array_equal(outs[k], ref[k])


def test_shared_value_gradients_accumulate() -> None:
    """y = w @ w (one value, both operands): dL/dw = ȳ·wᵀ + wᵀ·ȳ."""
    b = Builder()
    w = b.const(rand(0, 3, 3), "w")
    g = b.finish(b.nn.matmul(w, w, name="y"))
    wv = rand(0, 3, 3).astype(np.float64)
    gy = rand(1, 3, 3).astype(np.float64)
    _, grads = forward_backward(g, {}, loss={"y": gy})
    np.testing.assert_allclose(grads["w"], gy @ wv.T + wv.T @ gy, rtol=1e-5)


def test_unused_branches_are_skipped() -> None:
    """A parameter whose only path reaches an output that is not the loss, through
    an op without a VJP, gets a zero gradient and no error; an integer branch is
    ignored; a parameter the loss does not read gets zeros."""
    b = Builder()
    x = b.input("x", "f32[2,3]")
    w = b.const(rand(0, 3, 4), "w")
    y = b.nn.matmul(x, w, name="y")
    p = b.const(rand(1, 1, 4, 2, 2), "p")
    side = b.nn.lrn(p, size=3, name="side")             # no VJP, not on the loss path
    unused = b.const(rand(2, 4, 4), "unused")
    other = b.nn.matmul(y, unused, name="other")       # reads the loss path, not the loss
    g = b.finish(y, side, other)
    outs, grads = forward_backward(g, {"x": rand(3, 2, 3)}, params=["w", "p", "unused"],
                                   loss={"y": np.ones((2, 4), np.float32)})
    assert set(outs) == {"y", "side", "other"}
    assert not grads["p"].any() and not grads["unused"].any()
    np.testing.assert_allclose(grads["w"], rand(3, 2, 3).T @ np.ones((2, 4)), rtol=1e-6)


def test_loss_that_reads_no_parameter_gives_zeros() -> None:
    b = Builder()
    x = b.input("x", "f32[2]")
    w = b.const(rand(0, 2, 2), "w")
    g = b.finish(b.nn.matmul(x, x, name="loss"), b.nn.matmul(x, w, name="y"))
    _, grads = forward_backward(g, {"x": rand(1, 2)}, loss="loss")
    assert list(grads) == ["w"] and not grads["w"].any()


def test_scalar_loss_name_and_non_output_loss() -> None:
    """loss = a scalar value that is not a graph output: seeded with 1 and returned."""
    b = Builder()
    x = b.input("x", "f32[4]")
    w = b.const(rand(0, 4), "w")
    s = b.nn.matmul(x, w, name="s")                    # a scalar
    g = b.finish(b.nn.matmul(w, w, name="norm"))
    del s
    xv = rand(1, 4)
    outs, grads = forward_backward(g, {"x": xv}, loss="s")
    np.testing.assert_allclose(outs["s"], xv @ rand(0, 4), rtol=1e-6)
    np.testing.assert_allclose(grads["w"], xv, rtol=1e-6)


def softmax_cross_entropy(n: int = 4, k: int = 5, classes: int = 3) -> Graph:
    """loss = -mean_n Σ_c onehot[n, c] · log_softmax(x·W + b)[n, c], built from ops."""
    b = Builder("xent")
    x = b.input("x", f"f32[{n},{k}]")
    onehot = b.input("onehot", f"f32[{n},{classes}]")
    logits = b.nn.gemm(x, b.const(rand(0, k, classes), "fc.w"), b.const(rand(1, classes), "fc.b"))
    logp = b.nn.log_softmax(logits, axis=1)
    nll = b.nn.neg(b.nn.reduce_sum(b.nn.mul(onehot, logp), axes=(1,), keepdims=False))
    return b.finish(b.nn.reduce_mean(nll, axes=(0,), keepdims=False, name="loss"))


def test_softmax_cross_entropy_from_ops() -> None:
    g = softmax_cross_entropy()
    rng = np.random.default_rng(0)
    x = rand(2, 4, 5)
    labels = rng.integers(0, 3, 4)
    onehot = np.eye(3, dtype=np.float32)[labels]
    outs, grads = forward_backward(g, {"x": x, "onehot": onehot}, loss="loss")
    # the textbook form: dL/dlogits = (softmax - onehot) / n
    logits = x.astype(np.float64) @ rand(0, 5, 3) + rand(1, 3)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dlogits = (p - onehot) / 4
    np.testing.assert_allclose(outs["loss"], -np.log(p[np.arange(4), labels]).mean(), rtol=1e-5)
    np.testing.assert_allclose(grads["fc.w"], x.T @ dlogits, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads["fc.b"], dlogits.sum(0), rtol=1e-4, atol=1e-6)
    check_graph_grads(g, {"x": x, "onehot": onehot}, wrt_inputs=True)


def test_training_steps_write_back_and_lower_the_loss() -> None:
    """SGD on 0.5·‖y − t‖² (its cotangent y − t passed as grad_outputs) through conv +
    gemm: write_back replaces the constants and the loss falls."""
    b = Builder("reg")
    x = b.input("x", "f32[8,1,4,4]")
    h = b.nn.conv2d(x, b.const(rand(0, 2, 1, 3, 3, scale=0.3), "c.w"),
                    b.const(np.zeros(2, np.float32), "c.b"))
    y = b.nn.matmul(h, b.const(rand(1, 2, 1, scale=0.3), "m.w"), name="y")   # [8, 2, 2, 1]
    g = b.finish(y)
    params = trainable_params(g)
    teacher = g.copy()
    write_back(teacher, {p: rand(10 + i, *g.value(p).type.shape, scale=0.5)
                         for i, p in enumerate(params)})
    xs = rand(2, 8, 1, 4, 4)
    target = run(teacher, {"x": xs})["y"]
    losses = []
    for _ in range(40):
        out = run(g, {"x": xs})["y"]
        losses.append(0.5 * float(((out - target) ** 2).sum()))
        _, grads = forward_backward(g, {"x": xs}, params, loss={"y": out - target})
        write_back(g, {p: g.value(p).const_value - 0.01 * grads[p] for p in params})
    assert losses[-1] < 0.2 * losses[0]
    w = g.value("c.w").const_value
    assert w.dtype == np.float32 and not w.flags.writeable


def test_vjps_taking_needs_are_told_which_gradients_are_used(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A VJP with a ``needs`` parameter learns which operands' gradients the engine
    keeps: not the data input of a first convolution."""
    seen: list[list[bool]] = []
    right = get_op("nn.conv2d").vjp

    def spy(inputs, attrs, outputs, gys, needs=None):  # type: ignore[no-untyped-def]
        seen.append(list(needs))
        return right(inputs, attrs, outputs, gys, needs=needs)
    monkeypatch.setattr(type(get_op("nn.conv2d")), "vjp", staticmethod(spy))
    from irc import autodiff
    monkeypatch.setattr(autodiff, "_TAKES_NEEDS", {})
    g = small_cnn()
    y = g.outputs[0]
    _, grads = forward_backward(g, {"x": rand(0, 2, 2, 5, 5)}, params=["c1.w", "dw.w"],
                                loss={y.name: np.ones(y.type.shape, np.float32)})
    assert seen == [[True, True], [False, True, False]]   # reverse order; c1.b not asked for
    _, grads_x = forward_backward(g, {"x": rand(0, 2, 2, 5, 5)}, params=["c1.w", "dw.w"],
                                  loss={y.name: np.ones(y.type.shape, np.float32)},
                                  wrt_inputs=True)
    assert seen[-1] == [True, True, False]
    np.testing.assert_array_equal(grads["c1.w"], grads_x["c1.w"])


def test_write_back_errors() -> None:
    g = small_cnn()
    with pytest.raises(AutodiffError, match="shape"):
        write_back(g, {"c1.b": np.zeros(5)})
    with pytest.raises(AutodiffError, match="not a constant"):
        write_back(g, {"x": np.zeros((2, 2, 5, 5))})
    write_back(g, {"c1.b": np.arange(4)})                # cast to the constant's dtype
    assert g.value("c1.b").const_value.dtype == np.float32


def test_no_vjp_on_the_path_names_the_node_and_parameters(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(type(get_op("nn.matmul")), "vjp", None)
    g = small_cnn()
    with pytest.raises(AutodiffError, match=r"cannot differentiate %\S+ = nn\.matmul\(.*\) "
                                            r"\[node \d+\]: nn\.matmul has no VJP.*%c1\.b"):
        forward_backward(g, {"x": rand(0, 2, 2, 5, 5)}, params=["c1.w", "c1.b"],
                         loss={g.outputs[0].name: np.ones(g.outputs[0].type.shape, np.float32)})


def test_bad_loss_and_params() -> None:
    g = small_cnn()
    feeds = {"x": rand(0, 2, 2, 5, 5)}
    y = g.outputs[0].name
    with pytest.raises(AutodiffError, match="must be a scalar"):
        forward_backward(g, feeds, loss=y)
    with pytest.raises(AutodiffError, match="no value %nope"):
        forward_backward(g, feeds, loss="nope")
    with pytest.raises(AutodiffError, match="has shape"):
        forward_backward(g, feeds, loss={y: np.ones(3)})
    with pytest.raises(AutodiffError, match="is not a constant"):
        forward_backward(g, feeds, params=["x"], loss={y: np.ones(g.outputs[0].type.shape)})
    with pytest.raises(AutodiffError, match="empty"):
        forward_backward(g, feeds, loss={})
    b = Builder()
    x = b.input("x", "f32[3]")
    g2 = b.finish(b.nn.matmul(x, b.const(rand(0, 3, 2), "w")))
    g2.add_const(np.array([1, 2], np.int64), name="ints")
    with pytest.raises(AutodiffError, match="i64 constant"):
        forward_backward(g2, {"x": rand(1, 3)}, params=["ints"],
                         loss={g2.outputs[0].name: np.ones(2, np.float32)})


def test_a_vjp_of_the_wrong_shape_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(type(get_op("nn.gemm")), "vjp",
                        staticmethod(lambda i, a, o, g: [None, np.zeros((1, 1), np.float32)]))
    g = small_cnn()
    with pytest.raises(AutodiffError, match=r"nn\.gemm gave %g\.b a gradient of shape \[1, 1\]"):
        forward_backward(g, {"x": rand(0, 2, 2, 5, 5)}, params=["g.b"],
                         loss={g.outputs[2].name: np.ones((3, 8), np.float32)})
