"""prune and irc.sparsity: the 2-D view, each pattern's sparsity and shape,
quantized weights, layer selection, global thresholds, schedules, and masks
that survive the text form and re-zero weights after training steps."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import irc
from irc import sparsity as sp
from irc.builder import Builder
from irc.dtypes import DType
from irc.errors import IRError, PassError, PipelineError
from irc.pass_manager import PassContext, run_pipeline
from irc.pipeline import build_pipeline
from irc.types import PerAxis, PerTensor, TensorType

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ir"))
from strategies import graphs  # noqa: E402


def _f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Random weights away from 0, so a zero after pruning means "pruned"."""
    w = rng.uniform(0.1, 1.0, shape) * rng.choice([-1.0, 1.0], shape)
    return w.astype(np.float32)


def _net(seed: int = 0, c: int = 16) -> irc.Graph:
    """stem conv -> 1x1 conv -> depthwise -> 1x1 conv -> gemm -> gemm (trans_b)."""
    rng = np.random.default_rng(seed)
    b = Builder("net")
    x = b.input("x", f"f32[1,{c},6,6]")
    h = b.nn.conv2d(x, b.const(_f32(rng, c, c, 3, 3), "stem.w"), pads=[1, 1, 1, 1], loc="stem")
    h = b.nn.conv2d(h, b.const(_f32(rng, 32, c, 1, 1), "pw1.w"), loc="pw1")
    h = b.nn.conv2d(h, b.const(_f32(rng, 32, 1, 3, 3), "dw.w"), pads=[1, 1, 1, 1], groups=32,
                    loc="dw")
    h = b.nn.conv2d(h, b.const(_f32(rng, 24, 32, 1, 1), "pw2.w"), loc="pw2")
    h = b.nn.flatten(b.nn.global_avg_pool(h))
    h = b.nn.gemm(h, b.const(_f32(rng, 24, 40), "fc1.w"), loc="fc1")
    y = b.nn.gemm(h, b.const(_f32(rng, 10, 40), "fc2.w"), trans_b=True, loc="fc2")
    return b.finish(y)


def _weights(g: irc.Graph) -> dict[str, np.ndarray]:
    return {layer.weight.name: layer.view.to_matrix(layer.weight.const_value)
            for layer in sp.prunable_layers(g)}


def _prune(g: irc.Graph, pipeline: str, **kw: object) -> tuple[irc.Graph, PassContext]:
    ctx = PassContext(**kw)  # type: ignore[arg-type]
    return run_pipeline(g, pipeline, ctx=ctx, verify_each=True), ctx


# ---------------------------------------------------------------------------
# the 2-D view
# ---------------------------------------------------------------------------

def test_matrix_view_rows_are_output_channels() -> None:
    g = _net()
    layers = {layer.name: layer for layer in sp.prunable_layers(g)}
    assert list(layers) == ["stem", "pw1", "dw", "pw2", "fc1", "fc2"]
    conv, fc1, fc2 = layers["stem"], layers["fc1"], layers["fc2"]
    w = conv.weight.const_value
    m = sp.matrix_view(conv.node, w)
    assert m.shape == (16, 16 * 9)
    np.testing.assert_array_equal(m[3, 2 * 9 + 1 * 3 + 2], w[3, 2, 1, 2])   # (c, i, j) row-major
    b = fc1.weight.const_value                                              # [K=24, N=40]
    m = sp.matrix_view(fc1.node, b)
    assert m.shape == (40, 24) and m[5, 7] == b[7, 5]
    b2 = fc2.weight.const_value                                             # trans_b: [N, K]
    np.testing.assert_array_equal(sp.matrix_view(fc2.node, b2), b2)
    assert layers["dw"].view.depthwise and not layers["pw1"].view.depthwise
    for layer in layers.values():
        arr = layer.weight.const_value
        back = sp.from_matrix(layer.node, sp.matrix_view(layer.node, arr), arr.shape)
        np.testing.assert_array_equal(back, arr)


@settings(max_examples=40, deadline=None)
@given(o=st.integers(1, 9), c=st.integers(1, 6), k=st.sampled_from([1, 2, 3]),
       trans=st.booleans())
def test_view_round_trip_any_shape(o: int, c: int, k: int, trans: bool) -> None:
    rng = np.random.default_rng(o * 100 + c * 10 + k)
    b = Builder()
    x = b.input("x", f"f32[1,{c},4,4]")
    conv = b.nn.conv2d(x, _f32(rng, o, c, k, k))
    h = b.nn.flatten(conv)
    kdim = o * (5 - k) ** 2
    wb = _f32(rng, o + 1, kdim) if trans else _f32(rng, kdim, o + 1)
    b.finish(b.nn.gemm(h, wb, trans_b=trans))
    for layer in sp.prunable_layers(b.graph):
        arr = layer.weight.const_value
        mat = sp.matrix_view(layer.node, arr)
        assert mat.shape[0] == (o if layer.node.op == "nn.conv2d" else o + 1)
        np.testing.assert_array_equal(sp.from_matrix(layer.node, mat, arr.shape), arr)


def test_view_of_node_without_weight_is_an_error() -> None:
    g = _net()
    relu_free = next(n for n in g.nodes if n.op == "nn.flatten")
    with pytest.raises(IRError, match="no prunable constant weight"):
        sp.matrix_view(relu_free, np.zeros(3))


def test_block_shape_and_patterns() -> None:
    assert sp.block_shape("block4x1") == (4, 1)
    assert sp.block_shape("block1x4") == (1, 4)
    assert sp.block_shape("block8x1") == (8, 1)
    assert sp.block_shape("unstructured") is None and sp.block_shape("2:4") is None
    assert str(sp.parse_pattern("nm", 1, 4)) == "1:4"
    assert sp.parse_pattern("2:4").fixed_sparsity == 0.5
    for bad in ("block0x4", "4:2", "blocky", "2:2"):
        with pytest.raises(ValueError):
            sp.parse_pattern(bad)


# ---------------------------------------------------------------------------
# patterns: exact sparsity and shape
# ---------------------------------------------------------------------------

def test_unstructured_sparsity_is_exact() -> None:
    g = _net()
    before = _weights(g)
    g, ctx = _prune(g, "prune{sparsity=0.7}")
    after = _weights(g)
    pruned = ["pw1.w", "dw.w", "pw2.w", "fc1.w"]            # first and last kept
    for name, w in after.items():
        if name in pruned:
            assert abs(np.count_nonzero(w == 0) - 0.7 * w.size) <= 0.5, name
            kept = np.abs(before[name][w != 0])
            gone = np.abs(before[name][w == 0])
            assert gone.max() <= kept.min()                   # the smallest went
        else:
            np.testing.assert_array_equal(w, before[name])
    assert ctx.stats["prune"]["layers"] == 4
    assert ctx.stats["prune"]["weights-pruned"] == sum(
        int(np.count_nonzero(after[n] == 0)) for n in pruned)


@pytest.mark.parametrize("r,c", [(1, 4), (4, 1), (4, 4), (8, 1), (2, 3)])
def test_blocks_are_zero_or_whole(r: int, c: int) -> None:
    g, _ = _prune(_net(1), f"prune{{sparsity=0.6,pattern=block{r}x{c}}}")
    for name, w in _weights(g).items():
        if name in ("stem.w", "fc2.w", "dw.w"):             # first, last, depthwise
            assert np.count_nonzero(w == 0) == 0, name
            continue
        R, C = w.shape
        zeros = 0
        for i in range(0, R, r):
            for j in range(0, C, c):
                blk = w[i:i + r, j:j + c]
                assert (blk == 0).all() or (blk != 0).all(), (name, i, j)
                zeros += blk.size if (blk == 0).all() else 0
        assert abs(zeros - 0.6 * w.size) <= r * c / 2 + 1e-9, name


@pytest.mark.parametrize("spelling", ["pattern=2:4", "pattern=nm", "pattern=nm,n=1,m=4"])
def test_nm_along_the_reduction_axis(spelling: str) -> None:
    n, m = (1, 4) if "n=1" in spelling else (2, 4)
    g, _ = _prune(_net(2), f"prune{{{spelling}}}")
    for name, w in _weights(g).items():
        if name in ("stem.w", "fc2.w", "dw.w"):
            continue
        R, C = w.shape
        assert C % m == 0
        groups = (w != 0).reshape(R, C // m, m).sum(axis=2)
        assert (groups == n).all(), name                     # exactly n kept in every group
        assert np.count_nonzero(w == 0) == w.size * (m - n) // m
    recs = sp.records(g)
    assert recs["fc1.w"].pattern == f"{n}:{m}"


def test_nm_keeps_the_largest_of_each_group() -> None:
    mag = np.array([[0.1, 0.9, 0.5, 0.2, 3, 2, 1, 0],
                    [1, 1, 1, 1, 0, 0, 0, 0.5]])
    keep = sp.nm_mask(mag, 2, 4)
    np.testing.assert_array_equal(keep, [[0, 1, 1, 0, 1, 1, 0, 0],
                                         [1, 1, 0, 0, 1, 0, 0, 1]])   # ties: lower column
    tail = sp.nm_mask(np.array([[1.0, 2, 3, 4, 5, 6]]), 2, 4)         # 6 = 4 + a tail of 2
    np.testing.assert_array_equal(tail, [[0, 0, 1, 1, 1, 1]])


def test_depthwise_only_with_depthwise_true() -> None:
    g, _ = _prune(_net(), "prune{pattern=block4x1,depthwise=true}")
    assert np.count_nonzero(_weights(g)["dw.w"] == 0) == 32 * 9 // 2
    g, _ = _prune(_net(), "prune")                            # unstructured: always
    assert np.count_nonzero(_weights(g)["dw.w"] == 0) == 32 * 9 // 2


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(R=st.integers(1, 20), C=st.integers(1, 20), r=st.integers(1, 5), c=st.integers(1, 5),
       s=st.floats(0.0, 0.99), seed=st.integers(0, 1000))
def test_magnitude_mask_hits_the_target_within_one_block(R: int, C: int, r: int, c: int,
                                                        s: float, seed: int) -> None:
    mag = np.abs(np.random.default_rng(seed).standard_normal((R, C)))
    keep = sp.magnitude_mask(mag, s, r, c)
    assert keep.shape == (R, C)
    assert abs((~keep).sum() - s * R * C) <= r * c / 2 + 1e-9
    for i in range(0, R, r):
        for j in range(0, C, c):
            blk = keep[i:i + r, j:j + c]
            assert blk.all() or not blk.any()


# ---------------------------------------------------------------------------
# layer selection
# ---------------------------------------------------------------------------

def test_first_and_last_kept_by_default_and_configurable() -> None:
    pruned = lambda g: {k for k, m in sp.masks(g).items() if not m.all()}  # noqa: E731
    g, _ = _prune(_net(), "prune")
    assert pruned(g) == {"pw1.w", "dw.w", "pw2.w", "fc1.w"}
    g, _ = _prune(_net(), "prune{keep_first=false,keep_last=false}")
    assert pruned(g) == {"stem.w", "pw1.w", "dw.w", "pw2.w", "fc1.w", "fc2.w"}
    g, _ = _prune(_net(), "prune{scope=[pw*],exclude=[pw2]}")
    assert pruned(g) == {"pw1.w"}
    g, _ = _prune(_net(), "prune{scope=[gemm]}")               # an op name
    assert pruned(g) == {"fc1.w"}


def test_per_layer_sparsities() -> None:
    g, _ = _prune(_net(), 'prune{sparsity=0.5,layers=[stem:0.25, "fc*:0.9", pw1.w:0.75]}')
    recs = sp.records(g)
    assert recs["stem.w"].sparsity == 0.25                     # named: pruned although first
    assert abs(recs["fc1.w"].sparsity - 0.9) < 1e-3
    assert abs(recs["fc2.w"].sparsity - 0.9) < 1e-3            # ... and although last
    assert recs["pw1.w"].sparsity == 0.75                      # by weight name
    assert recs["pw2.w"].sparsity == 0.5


def test_global_threshold_ranks_layers_together() -> None:
    rng = np.random.default_rng(3)
    b = Builder()
    x = b.input("x", "f32[1,8]")
    h = b.nn.gemm(x, b.const(_f32(rng, 8, 8), "first"))
    h = b.nn.gemm(h, b.const(_f32(rng, 8, 64) * 0.01, "small"))    # tiny weights
    h = b.nn.gemm(h, b.const(_f32(rng, 64, 64), "big"))
    b.finish(b.nn.gemm(h, b.const(_f32(rng, 64, 4), "last")))
    layer, _ = _prune(b.graph.copy(), "prune{sparsity=0.5}")
    assert sp.records(layer)["small"].sparsity == 0.5 == sp.records(layer)["big"].sparsity
    glob, ctx = _prune(b.graph.copy(), "prune{sparsity=0.5,threshold=global}")
    recs = sp.records(glob)
    assert recs["small"].sparsity == 1.0                       # all below the global threshold
    total = 8 * 64 + 64 * 64
    assert (recs["small"].sparsity * 8 * 64 + recs["big"].sparsity * 64 * 64) == total * 0.5
    with pytest.raises(PassError, match="N:M"):
        _prune(_net(), "prune{pattern=2:4,threshold=global}")


def test_shared_weight_is_pruned_once() -> None:
    rng = np.random.default_rng(4)
    b = Builder()
    x = b.input("x", "f32[2,16]")
    w = b.const(_f32(rng, 16, 16), "shared")
    h = b.nn.matmul(b.nn.matmul(x, b.const(_f32(rng, 16, 16), "a")), w)
    h = b.nn.matmul(b.nn.relu(h), w)
    b.finish(b.nn.matmul(h, b.const(_f32(rng, 16, 4), "z")))
    layers = sp.prunable_layers(b.graph)
    assert [(layer.weight.name, len(layer.nodes)) for layer in layers] == \
        [("a", 1), ("shared", 2), ("z", 1)]
    g, ctx = _prune(b.graph, "prune{sparsity=0.5}")
    assert ctx.stats["prune"]["layers"] == 1
    assert np.count_nonzero(g.value("shared").const_value == 0) == 128


# ---------------------------------------------------------------------------
# quantized weights
# ---------------------------------------------------------------------------

def _calib(g: irc.Graph, n: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(9)
    return {"x": rng.standard_normal((n,) + tuple(g.inputs[0].type.shape[1:]))
            .astype(np.float32)}


@pytest.mark.parametrize("pattern", ["unstructured", "block4x1", "2:4"])
def test_prune_after_quant(pattern: str) -> None:
    g = _net(5)
    q, _ = _prune(g, f"calibrate,quant,prune{{sparsity=0.5,pattern={pattern}}}",
                  calib_data=_calib(g))
    ops = {layer.node.op for layer in sp.prunable_layers(q)}
    assert "q.conv2d" in ops
    recs = sp.records(q)
    assert recs
    for name, rec in recs.items():
        v = q.value(name)
        assert v.type.quant is not None
        z = sp.stored_zero(v.type)
        np.testing.assert_array_equal(v.const_value[~rec.mask], z[~rec.mask])
    irc.verify(q)
    irc.run(q, {"x": _calib(g, 1)["x"]})


def test_quantized_magnitude_uses_real_values() -> None:
    """Channel 0 stores big integers with a tiny scale; channel 1 small integers
    with a big one: by real value, channel 0's weights are the small ones."""
    b = Builder()
    x = b.input("x", TensorType(DType.I8, (1, 2, 1, 1), PerTensor(0.1, 0)))
    stored = np.array([100, 110, 120, 127, 2, 3, 4, 5], np.int8).reshape(2, 4, 1, 1)[:, :2]
    stored = np.ascontiguousarray(stored)
    wt = TensorType(DType.I8, (2, 2, 1, 1), PerAxis(0, (0.001, 1.0), (0, 0)))
    w = b.const(stored, "w", type=wt)
    g = b.finish(b.q.conv2d(x, w))
    layer = sp.prunable_layers(g)[0]
    sp.prune_weights(g, [(layer, 0.5)])
    np.testing.assert_array_equal(g.value("w").const_value.reshape(2, 2), [[0, 0], [2, 3]])


def test_pruned_quantized_weight_is_its_zero_point() -> None:
    t = TensorType(DType.I8, (3, 2), PerAxis(0, (1.0, 1.0, 1.0), (5, -2, 0)))
    np.testing.assert_array_equal(sp.stored_zero(t), [[5, 5], [-2, -2], [0, 0]])
    b = Builder()
    v = b.const(np.array([[5, 9], [1, -2], [3, 0]], np.int8), "w", type=t)
    assert sp.apply_mask(v, np.array([[0, 0], [0, 1], [1, 0]], bool)) == 2   # 9 and 1
    np.testing.assert_array_equal(v.const_value, [[5, 5], [-2, -2], [3, 0]])


def test_headline_pipeline_with_sparse_encode() -> None:
    if "sparse-encode" not in {p for p in irc.pass_manager.all_passes()}:
        pytest.skip("sparse-encode is not registered")
    g = _net(6)
    feeds = {"x": _calib(g, 1)["x"]}
    q, ctx = _prune(g, "calibrate,quant,prune{sparsity=0.8,pattern=block4x1},sparse-encode",
                    calib_data=_calib(g))
    dense, _ = _prune(g, "calibrate,quant,prune{sparsity=0.8,pattern=block4x1}",
                      calib_data=_calib(g))
    assert any(n.op.startswith("sparse.") for n in q.nodes)
    np.testing.assert_array_equal(irc.run(q, feeds)[q.outputs[0].name],
                                  irc.run(dense, feeds)[dense.outputs[0].name])


# ---------------------------------------------------------------------------
# masks on the graph
# ---------------------------------------------------------------------------

def test_masks_round_trip_through_text_and_reapply(tmp_path: Path) -> None:
    g, _ = _prune(_net(), "prune{sparsity=0.6,pattern=block4x1}")
    before = sp.masks(g)
    assert set(before) == {"pw1.w", "pw2.w", "fc1.w"}
    irc.save(g, tmp_path / "m.irc")
    assert "prune = {" in (tmp_path / "m.irc").read_text()
    back = irc.load(tmp_path / "m.irc")
    after = sp.masks(back)
    assert set(after) == set(before)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])
    rec = sp.records(back)["fc1.w"]
    assert rec.pattern == "block4x1" and abs(rec.sparsity - 0.6) < 0.02
    # a training step moves every weight; apply_masks puts the pruned ones back to 0
    for k, m in after.items():
        v = back.value(k)
        sp.set_weight(v, v.const_value + 0.01)
    changed = sp.apply_masks(back)
    assert changed == sum(int((~m).sum()) for m in after.values())
    for k, m in after.items():
        w = back.value(k).const_value
        assert (w[~m] == 0).all() and (w[m] != 0).all()
    assert sp.apply_masks(back) == 0


def test_stale_mask_entries_are_ignored() -> None:
    g, _ = _prune(_net(), "prune")
    g.attrs["prune"] = dict(g.attrs["prune"], gone={"pattern": "unstructured",
                                                    "sparsity": 0.5, "shape": [2],
                                                    "mask": sp.pack_mask([True, False])})
    g.attrs["prune"]["pw1.w"] = dict(g.attrs["prune"]["pw1.w"], shape=[3, 3])  # wrong shape
    assert set(sp.masks(g)) == {"dw.w", "pw2.w", "fc1.w"}
    sp.apply_masks(g)


def test_pack_unpack() -> None:
    m = np.random.default_rng(0).random((3, 5, 7)) < 0.3
    p = sp.pack_mask(m)
    assert p.dtype == np.uint8 and p.size == -(-m.size // 8)
    np.testing.assert_array_equal(sp.unpack_mask(p, m.shape), m)


def test_copy_does_not_share_records() -> None:
    g, _ = _prune(_net(), "prune{sparsity=0.3}")
    c = g.copy()
    _prune(c, "prune{sparsity=0.9}")
    assert abs(sp.records(g)["fc1.w"].sparsity - 0.3) < 0.01


# ---------------------------------------------------------------------------
# schedules
# ---------------------------------------------------------------------------

def test_polynomial_decay_values() -> None:
    s = sp.PolynomialDecay(0.1, 0.9, begin_step=100, end_step=300, power=3, frequency=50)
    assert s(0) == pytest.approx(0.1) and s(100) == pytest.approx(0.1)
    assert s(200) == pytest.approx(0.9 + (0.1 - 0.9) * 0.5 ** 3)
    assert s(300) == pytest.approx(0.9) and s(10_000) == pytest.approx(0.9)
    assert [t for t in range(0, 400, 25) if s.should_prune(t)] == [100, 150, 200, 250, 300]
    lin = sp.PolynomialDecay(0.0, 0.8, 0, 10, power=1)
    assert [round(lin(t), 6) for t in (0, 5, 10)] == [0.0, 0.4, 0.8]
    with pytest.raises(ValueError):
        sp.PolynomialDecay(0.0, 1.0)
    with pytest.raises(ValueError):
        sp.PolynomialDecay(0.0, 0.5, begin_step=5, end_step=1)


def test_pass_follows_the_schedule() -> None:
    sched = sp.PolynomialDecay(0.0, 0.8, 0, 100, 3)
    g = _net()
    for step in (0, 25, 50, 100, 150):
        g, _ = _prune(g, f"prune{{sparsity=0.8,step={step},end_step=100}}")
        want = sched(step)
        rec = sp.records(g).get("fc1.w")
        got = rec.sparsity if rec is not None else 0.0
        assert abs(got - want) <= 1 / (24 * 40), step
        sp.apply_masks(g)


# ---------------------------------------------------------------------------
# options, channel dispatch, stats
# ---------------------------------------------------------------------------

def test_option_errors() -> None:
    for bad in ("prune{sparsity=1.0}", "prune{pattern=blocky}", "prune{layers=[conv1]}",
                "prune{layers=[conv1:2]}", "prune{criterion=l3}", "prune{threshold=all}",
                "prune{end_step=1,begin_step=5}"):
        with pytest.raises(PipelineError):
            build_pipeline(bad)
    p = build_pipeline('prune{sparsity=0.8,pattern=block4x1,layers=[conv1:0.3, "fc*:0.9"]}')[0]
    assert str(p) == 'prune{sparsity=0.8,pattern=block4x1,layers=[conv1:0.3,fc*:0.9]}'


def test_channel_pattern_dispatches(monkeypatch: pytest.MonkeyPatch) -> None:
    import irc.passes.prune_channels as pc
    calls = []
    real = pc.prune_channels

    def spy(graph: irc.Graph, amount: float, layers: list, criterion: str = "l1",
            multiple: int = 1, calib_data: object = None) -> object:
        calls.append((amount, [n.name for n in layers], criterion, multiple,
                      calib_data is not None))
        return real(graph, amount, layers, criterion, multiple=multiple, calib_data=calib_data)
    monkeypatch.setattr(pc, "prune_channels", spy)
    g, ctx = _prune(_net(), "prune{pattern=channel,sparsity=0.25,scope=[pw*],criterion=l2,"
                            "multiple=2}")
    assert calls == [(0.25, ["pw1", "pw2"], "l2", 2, False)]
    st_ = ctx.stats["prune"]
    assert st_["channels_removed"] > 0 and st_["params_removed"] > 0
    pw1 = next(n for n in g.nodes if n.name == "pw1")
    assert pw1.inputs[1].type.shape[0] == 24            # 32 - 8, a multiple of 2

    feeds = {"x": np.random.default_rng(3).standard_normal((1, 16, 6, 6)).astype(np.float32)}
    calls.clear()
    _prune(_net(), "prune{pattern=channel,sparsity=0.25,scope=[pw*],criterion=activation}",
           calib_data=[feeds])
    assert calls == [(0.25, ["pw1", "pw2"], "activation", 1, True)]
    calls.clear()
    _prune(_net(), "prune{pattern=channel,sparsity=0.25,scope=[pw*],compensate=false}",
           calib_data=[feeds])
    assert calls[0][-1] is False
    with pytest.raises(PassError, match="calibration data"):
        _prune(_net(), "prune{pattern=channel,criterion=activation}")
    with pytest.raises(PipelineError, match="pattern=channel only"):
        build_pipeline("prune{pattern=block4x1,criterion=activation}")


def test_channel_pattern_without_the_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "irc.passes.prune_channels", None)
    with pytest.raises(PassError, match="not available"):
        _prune(_net(), "prune{pattern=channel}")


def test_verbose_table_and_stats(capsys: pytest.CaptureFixture[str]) -> None:
    _, ctx = _prune(_net(), "prune{sparsity=0.5,pattern=block4x1,verbose=true}")
    err = capsys.readouterr().err
    assert "layer" in err and "pw1" in err and "block4x1" in err and "total" in err
    st_ = ctx.stats["prune"]
    assert st_["sparsity pw1"] == 0.5 and st_["layers"] == 3
    assert st_["bytes-saved"] > 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=graphs(max_nodes=10))
def test_prune_keeps_random_graphs_valid(g: irc.Graph) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = irc.compile(g, "prune{sparsity=0.5,keep_first=false,keep_last=false}",
                          verify_each=True)
    irc.verify(out)
    assert set(sp.masks(out)) == {layer.weight.name for layer in sp.prunable_layers(out)}


def test_channel_pattern_with_prune_channels() -> None:
    pytest.importorskip("irc.passes.prune_channels")
    g, ctx = _prune(_net(), "prune{pattern=channel,sparsity=0.5,scope=[pw1]}")
    assert ctx.stats["prune"]["channels_removed"] == 16
    assert g.value("pw1.w").type.shape[0] == 16
