"""irc.distill: the distillation loss terms against numpy references, hint adapters,
errors, and short distillation runs on scikit-learn's 8x8 digits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import irc
from irc.autodiff import forward_backward
from irc.builder import Builder
from irc.distill import Distillation, DistillError, distill
from irc.gradcheck import check_graph_grads
from irc.objectives import TARGET
from irc.train import Adam, cross_entropy, evaluate, fit, soft_cross_entropy

B = 50


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    idx = np.random.default_rng(0).permutation(len(d.target))
    x, y = (d.data[idx] / 16).astype(np.float32).reshape(-1, 1, 8, 8), d.target[idx]
    return x[:1500], y[:1500], x[1500:1750], y[1500:1750]


def _cnn(name: str, channels: int, batch: int = B, seed: int = 0, pool: bool = False,
         classes: int = 10, input_name: str = "x") -> irc.Graph:
    """conv c@3×3 (pad 1) → relu (%<name>.relu) [→ max-pool 2] → flatten → gemm."""
    rng = np.random.default_rng(seed)
    b = Builder(name)
    x = b.input(input_name, f"f32[{batch},1,8,8]")
    w = (rng.standard_normal((channels, 1, 3, 3)) * np.sqrt(2 / 9)).astype(np.float32)
    h = b.nn.relu(b.nn.conv2d(x, b.const(w, f"{name}.conv.w"),
                              b.const(np.zeros(channels, np.float32), f"{name}.conv.b"),
                              pads=[1, 1, 1, 1]), name=f"{name}.relu")
    side = 8
    if pool:
        h = b.nn.max_pool(h, kernel=[2, 2], strides=[2, 2])
        side = 4
    h = b.nn.flatten(h, name=f"{name}.flat")
    fan = channels * side * side
    fc = (rng.standard_normal((fan, classes)) * np.sqrt(1 / fan)).astype(np.float32)
    return b.finish(b.nn.gemm(h, b.const(fc, f"{name}.fc.w"),
                              b.const(np.zeros(classes, np.float32), f"{name}.fc.b"),
                              name=f"{name}.logits"))


@pytest.fixture(scope="module")
def teacher() -> irc.Graph:
    xtr, ytr, _, _ = _digits()
    t = _cnn("t", 16, seed=1)
    fit(t, {"x": xtr}, ytr, epochs=3, batch_size=B, optimizer=Adam(lr=3e-3),
        progress_label=None)
    return t


def _logit_graphs(c: int = 7) -> tuple[irc.Graph, irc.Graph]:
    """Student: its input is its logits (identity); teacher: a fixed linear map."""
    rng = np.random.default_rng(3)
    b = Builder("s")
    student = b.finish(b.nn.identity(b.input("x", f"f32[6,{c}]"), name="logits"))
    b = Builder("t")
    w = rng.standard_normal((c, c)).astype(np.float32)
    teacher = b.finish(b.nn.gemm(b.input("x", f"f32[6,{c}]"), b.const(w, "t.w"), name="t.logits"))
    return student, teacher


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_soft_term_and_its_gradient_match_soft_cross_entropy(temperature: float) -> None:
    student, teacher = _logit_graphs()
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((6, 7)) * 3).astype(np.float32)
    y = rng.integers(0, 7, 6)
    obj = Distillation(teacher, temperature=temperature, alpha=0.5, smoothing=0.1)
    train = obj.build(student)
    feeds = obj.feeds({"x": x, TARGET: y})
    o_t = irc.run(teacher, {"x": x})["t.logits"]
    want, want_grad = soft_cross_entropy(x, o_t, temperature)
    outs, grads = forward_backward(train, feeds, params=[], loss=obj.terms["soft"],
                                   wrt_inputs=True)
    assert float(outs[obj.terms["soft"]]) == pytest.approx(want, rel=1e-5)
    np.testing.assert_allclose(grads["x"], want_grad, rtol=1e-4, atol=1e-6)
    hard, _ = cross_entropy(x, y, smoothing=0.1)
    assert float(outs[obj.terms["hard"]]) == pytest.approx(hard, rel=1e-5)
    assert float(outs["loss"]) == pytest.approx(hard + 0.5 * want, rel=1e-5)


def _attention_ref(f: np.ndarray) -> np.ndarray:
    q = (f.astype(np.float64) ** 2).sum(axis=1)
    return q / np.sqrt((q * q).sum(axis=(1, 2), keepdims=True) + 1e-12)


def test_attention_term_matches_numpy_and_gradients_check() -> None:
    student, teacher = _cnn("s", 3, batch=4), _cnn("t", 5, batch=4, seed=1)
    obj = Distillation(teacher, alpha=0.0, attention=[("s.relu", "t.relu")],
                       attention_weight=300.0, hints=[("s.relu", "t.relu")], hint_weight=0.0)
    train = obj.build(student)
    x = np.random.default_rng(1).random((4, 1, 8, 8)).astype(np.float32)
    y = np.arange(4)
    feeds = obj.feeds({"x": x, TARGET: y})
    outs = irc.run(train, feeds)
    f_s = irc.run(irc.compile(student, "dce"), {"x": x})
    fs = irc.run(_features(student, "s.relu"), {"x": x})["s.relu"]
    ft = irc.run(_features(teacher, "t.relu"), {"x": x})["t.relu"]
    want = ((_attention_ref(fs) - _attention_ref(ft)) ** 2).mean()
    got = float(outs[obj.terms["attention.s.relu"]])
    assert got == pytest.approx(want, rel=1e-5) and want > 1e-4
    hard, _ = cross_entropy(f_s["s.logits"], y)
    assert float(outs["loss"]) == pytest.approx(hard + 150.0 * want, rel=1e-5)
    # the whole training graph (hint adapter, attention maps) against finite differences
    check_graph_grads(train, feeds, ["s.conv.w", *obj.extra_params], rtol=1e-3, atol=1e-6)


def _features(g: irc.Graph, name: str) -> irc.Graph:
    out = g.copy()
    out.set_outputs([out.value(name)])
    return irc.compile(out, "dce")


def test_hint_adapter_trains_and_hint_loss_decreases(teacher: irc.Graph) -> None:
    xtr, ytr, _, _ = _digits()
    student = _cnn("s", 4)
    obj = Distillation(teacher, hints=[("s.relu", "t.relu")], hint_weight=10.0,
                       cache_teacher=True)
    train = obj.build(student)
    w_name, b_name = obj.extra_params
    assert list(obj.adapters()["s.relu"]) == [w_name, b_name]
    w0 = train.value(w_name).const_value.copy()
    assert w0.shape == (16, 4, 1, 1)
    batch = {"x": xtr[:B], TARGET: ytr[:B]}
    before = float(irc.run(train, obj.feeds(batch))[obj.terms["hint.s.relu"]])
    fit(student, {"x": xtr}, ytr, epochs=3, batch_size=B, optimizer=Adam(lr=3e-3), loss=obj,
        progress_label=None)
    trained = obj.graph
    assert trained is not None
    w1 = trained.value(w_name).const_value
    assert not np.allclose(w0, w1)                               # the adapter was trained
    assert np.array_equal(obj.adapters()["s.relu"][w_name], w1)
    after = float(irc.run(trained, obj.feeds(batch))[obj.terms["hint.s.relu"]])
    assert after < 0.5 * before
    assert not student.has_name(w_name)                          # adapters stay outside
    # the cached teacher results are the teacher's results
    cached = obj.teacher_outputs({"x": xtr[:B]})
    obj.cache_teacher = False
    fresh = obj.teacher_outputs({"x": xtr[:B]})
    assert cached.keys() == fresh.keys()
    for k in fresh:
        np.testing.assert_array_equal(cached[k], fresh[k])


def test_linear_hint_and_identity_adapter() -> None:
    student, teacher = _cnn("s", 2, batch=4), _cnn("t", 2, batch=4, seed=1)
    obj = Distillation(teacher, hints=[("s.flat", "t.flat"), ("s.relu", "t.relu")])
    train = obj.build(student)
    ad = obj.adapters()
    (w_flat, _), (w_conv, _) = [list(ad[k]) for k in ("s.flat", "s.relu")]
    np.testing.assert_array_equal(train.value(w_flat).const_value, np.eye(128))
    np.testing.assert_array_equal(train.value(w_conv).const_value[:, :, 0, 0], np.eye(2))
    x = np.random.default_rng(2).random((4, 1, 8, 8)).astype(np.float32)
    outs = irc.run(train, obj.feeds({"x": x, TARGET: np.zeros(4)}))
    fs = irc.run(_features(student, "s.flat"), {"x": x})["s.flat"]
    ft = irc.run(_features(teacher, "t.flat"), {"x": x})["t.flat"]
    assert float(outs[obj.terms["hint.s.flat"]]) == pytest.approx(((fs - ft) ** 2).mean(),
                                                                   rel=1e-5)
    twice = Distillation(teacher, hints=[("s.relu", "t.relu"), ("s.relu", "t.relu")])
    twice.build(student)                      # one student value hinted twice: two adapters
    assert list(twice.adapters()) == ["s.relu", "s.relu.t.relu"]
    assert len(twice.extra_params) == 4 and {"hint.s.relu", "hint.s.relu.t.relu"} <= set(
        twice.terms)


def test_errors(teacher: irc.Graph) -> None:
    student = _cnn("s", 4)

    def build(t: irc.Graph = teacher, s: irc.Graph = student, **kw: Any) -> None:
        Distillation(t, **kw).build(s)

    with pytest.raises(DistillError, match=r"hint \('s.nope', 't.relu'\): the student graph "
                                           r"@s has no value 's.nope' \(its features: "
                                           r"0, s.relu, s.flat, s.logits\)"):
        build(hints=[("s.nope", "t.relu")])
    with pytest.raises(ValueError, match="teacher graph @t has no value 't.nope'"):
        build(attention=[("s.relu", "t.nope")])
    pooled = _cnn("s", 4, pool=True)
    pooled_relu = [n.output.name for n in pooled.nodes if n.op == "nn.max_pool"][0]
    with pytest.raises(DistillError, match="spatial sizes differ.*pair layers of the same"):
        build(s=pooled, hints=[(pooled_relu, "t.relu")])
    with pytest.raises(DistillError, match=r"spatial sizes differ.*\[50, 4, 4, 4\]"):
        build(s=pooled, attention=[(pooled_relu, "t.relu")])
    with pytest.raises(DistillError, match=r"attention maps need \[B, C, H, W\]"):
        build(attention=[("s.flat", "t.flat")])
    with pytest.raises(DistillError, match="hints match"):
        build(hints=[("s.flat", "t.relu")])
    with pytest.raises(DistillError, match=r"teacher's output %t5.logits is \[50, 5\].*"
                                           r"\[50, 10\]"):
        build(t=_cnn("t5", 4, classes=5))
    with pytest.raises(DistillError, match="only the student takes x; only the teacher "
                                           "takes image"):
        build(t=_cnn("t", 4, input_name="image"))
    b = Builder("t")
    xin = b.input("x", f"f32[{B},64]")
    flat_teacher = b.finish(b.nn.gemm(xin, b.const(np.zeros((64, 10), np.float32))))
    with pytest.raises(DistillError, match=r"input 'x': the student takes f32\[50,1,8,8\], "
                                           r"the teacher f32\[50,64\]"):
        build(t=flat_teacher)
    with pytest.raises(DistillError, match="temperature must be > 0"):
        Distillation(teacher, temperature=0)
    with pytest.raises(DistillError, match="name pairs"):
        Distillation(teacher, hints=["s.relu"])  # type: ignore[list-item]
    with pytest.raises(DistillError, match="distill sets fit's loss"):
        distill(student, teacher, {"x": np.zeros((B, 1, 8, 8), np.float32)}, np.zeros(B),
                loss="mse")


def test_distill_end_to_end(teacher: irc.Graph) -> None:
    xtr, ytr, xte, yte = _digits()
    t_acc = evaluate(teacher, {"x": xte}, yte, progress_label=None)
    student = _cnn("s", 4)
    before = {p: student.value(p).const_value.copy() for p in ("s.conv.w", "s.fc.w")}
    hist = distill(student, teacher, {"x": xtr}, ytr, epochs=3, batch_size=B,
                   optimizer=Adam(lr=3e-3), hints=[("s.relu", "t.relu")], hint_weight=1.0,
                   attention=[("s.relu", "t.relu")], eval_data=({"x": xte}, yte),
                   progress_label=None)
    assert len(hist.loss) == 3 and hist.loss[-1] < hist.loss[0]
    assert all(not np.array_equal(before[p], student.value(p).const_value) for p in before)
    assert t_acc > 0.9 and hist.val_accuracy[-1] > 0.85
    assert [v.name for v in student.inputs] == ["x"]             # the student is unchanged
    assert [v.name for v in student.outputs] == ["s.logits"]     # in structure
