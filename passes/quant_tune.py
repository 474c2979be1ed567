"""Post-quantization corrections: ``bias-correct`` and ``weight-calibrate``.

Both run after ``quant`` in the same pipeline (they compare against the float
graph it lowered, ``PassContext.float_reference``) and touch only the integer
constants of lowered conv2d/gemm/matmul layers — the ``q.conv2d``/``q.matmul``
whose accumulator a ``q.requantize`` narrows into value ``N``, the name of the
float layer's result.

**bias-correct** (empirical bias correction): quantizing weights shifts each
output channel's mean.  Over the calibration data, with the float layer's
pre-activation output ``y`` (its clamp removed) and the quantized
accumulator's real value ``ŷ = s_acc[c] · acc``::

    b_q[c] += round((E[y_c] − E[ŷ_c]) / s_acc[c])

Layers are corrected in order, each after the ones before it, in a single
run over all samples (:func:`_run_all_samples`), so every correction sees the
corrected layers upstream.

**weight-calibrate** (the seed's equation): per output channel, with ``w_c``
the float weights and ``ŵ_c`` the dequantized ones::

    u_c = E(w_c) − E(ŵ_c),   ζ_c = ‖w_c − E(w_c)‖ / ‖ŵ_c − E(ŵ_c)‖
    ŵ_c ← ζ_c (ŵ_c + u_c),   then re-quantized with the same scales

matching each channel's mean and spread to the float channel's.  Scales are
unchanged, so biases and multipliers stay valid; run it before bias-correct.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator

import numpy as np

from irc.calib_data import calib_feeds
from irc.dtypes import DType, wrap_int
from irc.errors import PassError
from irc.interpreter import Interpreter, evaluate
from irc.ir import Graph, Node
from irc.ops.nn_elementwise import NO_CLAMP
from irc.ops.q_core import channel_scales, round_to_int, saturate
from irc.pass_manager import Pass, PassContext, register_pass
from irc.progress import progress
from irc.quant_params import dequantize

from .quant_rules import lowered_weights


@dataclass
class Layer:
    """A lowered linear layer: ``acc = q.conv2d|q.matmul(...)``, ``out = q.requantize(acc)``."""

    name: str             # the float layer's result name (= the requantized value's)
    acc: Node             # q.conv2d / q.matmul
    float_node: Node      # the float layer in the reference graph
    axis: int             # channel axis of acc

    @property
    def acc_scales(self) -> np.ndarray:
        q = self.acc.output.type.quant
        assert q is not None
        return np.asarray(channel_scales(q), np.float64)


def lowered_layers(qgraph: Graph, ref: Graph) -> list[Layer]:
    """Every lowered conv2d/gemm/matmul of ``qgraph`` with constant weights and
    its float counterpart in ``ref``."""
    float_by_name = {v.name: v.producer for v in ref.values() if v.producer is not None}
    layers = []
    for n in qgraph.nodes:
        if n.op != "q.requantize":
            continue
        acc = n.inputs[0].producer
        fnode = float_by_name.get(n.output.name)
        if acc is None or acc.op not in ("q.conv2d", "q.matmul") or fnode is None \
                or not acc.inputs[1].is_const or fnode.op not in ("nn.conv2d", "nn.gemm",
                                                                   "nn.matmul"):
            continue
        axis = 1 if acc.op == "q.conv2d" else acc.output.type.rank - 1
        layers.append(Layer(n.output.name, acc, fnode, axis))
    return layers


def _reference(ctx: PassContext, what: str) -> Graph:
    ref = ctx.float_reference
    if ref is None:
        raise PassError(f"{what} compares against the float graph that quant lowered: run it "
                        f"in the same pipeline after quant (e.g. --passes quant,{what})")
    return ref


def _replace_const(graph: Graph, node: Node, index: int, array: np.ndarray,
                   type_: Any = None) -> None:
    """Point operand ``index`` of ``node`` at a new constant (inserted before it);
    the old constant is erased when nothing else reads it."""
    old = node.inputs[index] if index < len(node.inputs) else None
    name = graph.fresh_name(old.name if old is not None else node.output.name + ".bias")
    c = graph.make_const(array, name, type_)
    graph.insert_before(node, [c])
    if old is None:
        node.add_input(c.output)
    else:
        node.set_input(index, c.output)
        if not old.users and old not in graph.outputs and old.producer is not None:
            graph.erase(old.producer)


class _PreActivation(Interpreter):
    """Runs the float graph, also recording chosen layers' outputs without their clamp."""

    def __init__(self, graph: Graph, names: dict[str, int]) -> None:
        super().__init__(graph)
        self.names = names
        self.sums: dict[str, tuple[np.ndarray, int]] = {}

    def run_node(self, node: Node, args: list[np.ndarray]) -> list[np.ndarray]:
        out = evaluate(node, args)
        name = node.outputs[0].name
        if name in self.names:
            pre = out[0]
            if "clamp" in node.attrs and tuple(node.attrs["clamp"]) != tuple(NO_CLAMP):
                pre = node.opdef.run(args, dict(node.attrs, clamp=NO_CLAMP))[0]
            ax = self.names[name] % pre.ndim
            s = pre.astype(np.float64).sum(axis=tuple(i for i in range(pre.ndim) if i != ax))
            t, c = self.sums.get(name, (0.0, 0))
            self.sums[name] = (t + s, c + pre.size // pre.shape[ax])
        return out


@register_pass
@dataclass(frozen=True)
class BiasCorrect(Pass):
    """Correct int32 biases so each channel's mean output matches the float graph."""

    name: ClassVar[str] = "bias-correct"

    num_samples: int = field(default=0, metadata={
        "doc": "calibration feeds used (0 = all)"})

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        ref = _reference(ctx, "bias-correct")
        feeds = calib_feeds(ctx.calib_data, graph).head(self.num_samples or None)
        layers = {id(L.acc): L for L in lowered_layers(graph, ref)}
        pre = _PreActivation(ref, {L.name: L.axis for L in layers.values()})
        for feed in progress(feeds, "bias-correct (float)", len(feeds), unit="samples"):
            pre.run(feed)
        float_means = {n: t / c for n, (t, c) in pre.sums.items()}
        corrected = 0
        for node, accs in _run_all_samples(graph, feeds.feeds, layers):
            L = layers[id(node)]
            # acc real value = s_acc[c] · acc;  E over samples and positions per channel
            ax = L.axis % accs[0].ndim
            red = tuple(i for i in range(accs[0].ndim) if i != ax)
            q_mean = sum(a.astype(np.float64).sum(axis=red) for a in accs) / \
                (len(accs) * (accs[0].size // accs[0].shape[ax])) * L.acc_scales
            delta = round_to_int((float_means[L.name] - q_mean) / L.acc_scales,
                                 "half_away").astype(np.int64)
            if not delta.any():
                continue
            old = (node.inputs[2].const_value.astype(np.int64) if len(node.inputs) == 3
                   else np.zeros(delta.shape, np.int64))
            _replace_const(graph, node, 2, saturate(old + delta, DType.I32))
            shape = [1] * accs[0].ndim
            shape[ax] = delta.size
            for i, a in enumerate(accs):     # what the corrected layer now computes
                accs[i] = wrap_int(a.astype(np.int64) + delta.reshape(shape), DType.I32)
            corrected += 1
        ctx.count("corrected", corrected)
        return graph


def _run_all_samples(graph: Graph, feeds: list[dict[str, np.ndarray]],
                     stops: dict[int, Any]) -> Iterator[tuple[Node, list[np.ndarray]]]:
    """Execute ``graph`` node by node over all feeds at once, yielding at each node
    in ``stops`` its results on every feed (a mutable list: a correction made by
    the caller flows into the rest of the run).  This makes bias correction
    sequential — each layer is corrected after the layers before it — in one pass."""
    last_use: dict[int, int] = {}
    for i, n in enumerate(graph.nodes):
        for v in n.inputs:
            last_use[id(v)] = i
    keep = {id(v) for v in graph.outputs}
    envs: list[dict[int, np.ndarray]] = [
        {id(v): np.asarray(f[v.name]) for v in graph.inputs} for f in feeds]
    for i, n in enumerate(progress(list(graph.nodes), "bias-correct (int)", unit="nodes")):
        if n.op == "const":
            for env in envs:
                env[id(n.output)] = n.output.const_value
            continue
        results = [evaluate(n, [env[id(v)] for v in n.inputs]) for env in envs]
        if id(n) in stops:
            accs = [r[0] for r in results]
            yield n, accs
            results = [[a] for a in accs]
        for env, res in zip(envs, results):
            for v, a in zip(n.outputs, res):
                env[id(v)] = a
            for v in n.inputs:
                if last_use.get(id(v)) == i and id(v) not in keep:
                    env.pop(id(v), None)


@register_pass
@dataclass(frozen=True)
class WeightCalibrate(Pass):
    """Match each quantized weight channel's mean and spread to the float one's."""

    name: ClassVar[str] = "weight-calibrate"

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        ref = _reference(ctx, "weight-calibrate")
        for L in lowered_layers(graph, ref):
            wv = L.acc.inputs[1]
            w_float, axis = lowered_weights(L.float_node)
            t = wv.type
            if axis is None or t.quant is None or w_float.shape != t.shape:
                continue
            w_hat = dequantize(wv.const_value, t)
            scales = np.asarray(channel_scales(t.quant), np.float64)
            new = _calibrated(w_float.astype(np.float64), w_hat, axis)
            shape = [1] * new.ndim
            shape[axis] = len(scales)
            qmax = int(t.dtype.max)
            stored = saturate(np.clip(round_to_int(new / scales.reshape(shape), "half_away"),
                                      -qmax, qmax), t.dtype)
            if np.array_equal(stored, wv.const_value):
                continue
            ctx.count("weights changed", int(np.sum(stored != wv.const_value)), modified=False)
            _replace_const(graph, L.acc, 1, stored, t)
            ctx.count("layers")
        return graph


def _calibrated(w: np.ndarray, w_hat: np.ndarray, axis: int) -> np.ndarray:
    """``ζ_c (ŵ_c + u_c)`` per channel along ``axis`` (module docstring)."""
    wm, hm = np.moveaxis(w, axis, 0), np.moveaxis(w_hat, axis, 0)
    rows_w, rows_h = wm.reshape(wm.shape[0], -1), hm.reshape(hm.shape[0], -1)
    mu_w, mu_h = rows_w.mean(axis=1, keepdims=True), rows_h.mean(axis=1, keepdims=True)
    n_w = np.linalg.norm(rows_w - mu_w, axis=1, keepdims=True)
    n_h = np.linalg.norm(rows_h - mu_h, axis=1, keepdims=True)
    zeta = np.where(n_h > 0, n_w / np.where(n_h > 0, n_h, 1.0), 1.0)
    out = zeta * (rows_h + (mu_w - mu_h))
    return np.moveaxis(out.reshape(hm.shape), 0, axis)
