"""Sparsity: which weights can be pruned, how they are viewed, masks and schedules.

The contract shared by the ``prune`` pass, sparse encoding and the runtime's
sparse kernels (docs/sparsity.md):

**Prunable weights.**  An op declares which operand is its prunable weight with
a ``"prune"`` hook (:func:`irc.ops.op_hook`) returning a :class:`WeightView`, or
None when the node has no constant weight.  Built in: ``nn.conv2d``,
``q.conv2d`` (w), ``nn.matmul``, ``q.matmul`` (a constant 2-D b), ``nn.gemm``
(a constant b).  A weight several nodes read is one :class:`PrunableLayer`,
pruned once.

**The 2-D view** (rows = output channels, columns = the reduction axis)::

    conv   w [O, C/g, kh, kw]  ->  W[O][C/g·kh·kw]   (row-major flattening)
    matmul b [K, N]            ->  W[N][K] = bᵀ
    gemm   b [K, N]            ->  W[N][K] = bᵀ;   trans_b: b is already [N, K]

N:M groups run along the columns (m consecutive reduction elements of one
output channel); ``block{r}x{c}`` blocks are r rows (output channels) × c
columns.  The artifact's ``csr``/``bsr`` blobs store exactly this matrix.

**Pruned means zero**: float weights become 0.0, quantized weights the stored
value of real 0 (their zero point).  Magnitudes are real values,
``|(q − z)·s|`` for quantized weights, so per-channel scales count.

**Masks** live on the graph, ``graph.attrs["prune"][weight name] = {pattern,
sparsity, shape, mask}``, the mask packed 8 per byte (``u8``, little bit order,
1 = kept), so the text form keeps it.  :func:`masks` reads them back,
:func:`apply_masks` re-zeroes the pruned weights (what a fine-tuning loop calls
after each update).  Entries naming values no longer in the graph are ignored.

**Schedules**: :class:`PolynomialDecay`, TF-MOT's
``s(t) = s_f + (s_i − s_f)·(1 − (t − t0)/(t1 − t0))^p``, clamped to [t0, t1].
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np

from .errors import IRError, PassError
from .ir import Graph, Node, Value
from .ops import get_op, has_op, op_hook
from .types import PerAxis, PerTensor, TensorType

Array = np.ndarray

#: Where prune records live on the graph.
PRUNE_ATTR = "prune"

Layout = Literal["oihw", "kn", "nk"]
Criterion = Literal["l1", "l2"]


# ---------------------------------------------------------------------------
# Patterns
# ---------------------------------------------------------------------------

_BLOCK_RE = re.compile(r"block(\d+)x(\d+)\Z")
_NM_RE = re.compile(r"(\d+):(\d+)\Z")


@dataclass(frozen=True)
class Pattern:
    """A sparsity pattern: ``unstructured``, ``nm`` (keep n of every m along the
    reduction axis), ``block`` (r × c blocks of the 2-D view) or ``channel``
    (whole output channels; structural, :mod:`passes.prune_channels`)."""

    kind: Literal["unstructured", "nm", "block", "channel"]
    n: int = 0
    m: int = 0
    r: int = 1
    c: int = 1

    def __str__(self) -> str:
        if self.kind == "nm":
            return f"{self.n}:{self.m}"
        if self.kind == "block":
            return f"block{self.r}x{self.c}"
        return self.kind

    @property
    def fixed_sparsity(self) -> float | None:
        """The sparsity the pattern itself fixes (N:M: 1 − n/m), else None."""
        return 1.0 - self.n / self.m if self.kind == "nm" else None


def parse_pattern(text: str | Pattern, n: int = 2, m: int = 4) -> Pattern:
    """``unstructured``, ``nm`` (with ``n``, ``m``), ``N:M`` (``2:4``),
    ``block{r}x{c}`` (``block4x1``) or ``channel``; ``ValueError`` otherwise."""
    if isinstance(text, Pattern):
        return text
    t = str(text).strip()
    if t in ("unstructured", "channel"):
        return Pattern(t)  # type: ignore[arg-type]
    mt = _NM_RE.match(t)
    if t == "nm" or mt:
        if mt:
            n, m = int(mt.group(1)), int(mt.group(2))
        if not 0 < n < m:
            raise ValueError(f"N:M sparsity needs 0 < n < m, got {n}:{m}")
        return Pattern("nm", n=n, m=m)
    mb = _BLOCK_RE.match(t)
    if mb:
        r, c = int(mb.group(1)), int(mb.group(2))
        if r < 1 or c < 1:
            raise ValueError(f"block sizes must be >= 1, got {t}")
        return Pattern("block", r=r, c=c)
    raise ValueError(f"unknown sparsity pattern {t!r}: use unstructured, nm (with n, m), "
                     "N:M such as 2:4, block{r}x{c} such as block4x1, or channel")


def block_shape(pattern: str | Pattern) -> tuple[int, int] | None:
    """``(r, c)`` of a ``block{r}x{c}`` pattern (rows = output channels,
    columns = reduction), None for every other pattern."""
    p = parse_pattern(pattern)
    return (p.r, p.c) if p.kind == "block" else None


# ---------------------------------------------------------------------------
# Prunable weights and their 2-D view
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class WeightView:
    """Which operand of a node is its prunable weight, and how that weight maps
    to the 2-D matrix ``W[rows = output channels][cols = reduction]``.

    ``layout``: ``oihw`` (first axis = rows, the rest flattened row-major),
    ``kn`` (a [K, N] matrix: ``W = wᵀ``) or ``nk`` (already ``W``).
    ``depthwise``: a depthwise conv (groups > 1, one input channel per group);
    the N:M and block patterns skip these unless asked."""

    operand: int
    layout: Layout
    depthwise: bool = False

    def to_matrix(self, w: Array) -> Array:
        """The 2-D view of ``w`` (a view of its data where numpy allows)."""
        if self.layout == "kn":
            return w.T
        if self.layout == "nk":
            return w
        return w.reshape(w.shape[0], -1)

    def from_matrix(self, mat: Array, shape: Sequence[int]) -> Array:
        """The inverse of :meth:`to_matrix`: a weight of ``shape`` from ``W``."""
        if self.layout == "kn":
            return np.ascontiguousarray(mat.T).reshape(tuple(shape))
        return np.ascontiguousarray(mat).reshape(tuple(shape))


def _const_operand(node: Node, i: int, rank: int | None = None) -> bool:
    if len(node.inputs) <= i or not node.inputs[i].is_const:
        return False
    return rank is None or node.inputs[i].type.rank == rank


def _conv_view(node: Node) -> WeightView | None:
    """conv / q.conv: w [O, C/g, kh, kw] -> W[O][C/g·kh·kw]."""
    if not _const_operand(node, 1, 4):
        return None
    w = node.inputs[1].type.shape
    depthwise = node.attrs.get("groups", 1) > 1 and w[1] == 1
    return WeightView(1, "oihw", depthwise)


def _matmul_view(node: Node) -> WeightView | None:
    """matmul / q.matmul with a constant 2-D b [K, N] -> W = bᵀ."""
    return WeightView(1, "kn") if _const_operand(node, 1, 2) else None


def _gemm_view(node: Node) -> WeightView | None:
    """gemm: b [K, N] -> W = bᵀ; with trans_b, b is [N, K] = W."""
    if not _const_operand(node, 1, 2):
        return None
    return WeightView(1, "nk" if node.attrs.get("trans_b", False) else "kn")


for _op, _fn in (("nn.conv2d", _conv_view), ("q.conv2d", _conv_view),
                 ("nn.matmul", _matmul_view), ("q.matmul", _matmul_view),
                 ("nn.gemm", _gemm_view)):
    if get_op(_op).hook("prune") is None:      # (a module reload registers nothing twice)
        op_hook(_op, "prune")(_fn)


def weight_view(node: Node) -> WeightView | None:
    """The node's prunable weight (its op's ``"prune"`` hook), or None."""
    if not has_op(node.op):
        return None
    hook = node.opdef.hook("prune")
    return None if hook is None else hook(node)


def _view_of(node: Node) -> WeightView:
    v = weight_view(node)
    if v is None:
        raise IRError(f"{node.short()} has no prunable constant weight (ops with a 'prune' "
                      "hook: conv2d, matmul and gemm with constant weights, float or q.*)")
    return v


def matrix_view(node: Node, w: Array) -> Array:
    """``w`` (the node's weight, or an array of its shape) as the 2-D matrix
    ``W[output channels][reduction]``."""
    return _view_of(node).to_matrix(np.asarray(w))


def from_matrix(node: Node, mat: Array, shape: Sequence[int]) -> Array:
    """The inverse of :func:`matrix_view`: the weight of ``shape`` whose view is ``mat``."""
    return _view_of(node).from_matrix(np.asarray(mat), shape)


@dataclass(eq=False)
class PrunableLayer:
    """A prunable weight and the nodes that read it (first reader first)."""

    weight: Value
    nodes: list[Node]
    view: WeightView

    @property
    def node(self) -> Node:
        return self.nodes[0]

    @property
    def name(self) -> str:
        """How tables and options name the layer: the first reader's node name
        (``loc``), else its result's value name."""
        n = self.node
        return n.name or n.outputs[0].name

    def keys(self) -> list[str]:
        """What ``scope``/``exclude``/``layers`` globs match: node names, result
        names, the weight's name and the op (``nn.conv2d`` and ``conv2d``)."""
        out = [self.weight.name]
        for n in self.nodes:
            out += [n.op, n.op.split(".", 1)[-1]] + ([n.name] if n.name else []) \
                + [v.name for v in n.outputs]
        return out

    def matches(self, patterns: Iterable[str]) -> bool:
        keys = self.keys()
        return any(fnmatch.fnmatchcase(k, p) for p in patterns for k in keys)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.weight.type.shape)

    @property
    def size(self) -> int:
        return int(math.prod(self.shape))


def prunable_layers(graph: Graph) -> list[PrunableLayer]:
    """Every prunable weight of ``graph`` in the order of its first reader."""
    by_weight: dict[int, PrunableLayer] = {}
    for node in graph.nodes:
        view = weight_view(node)
        if view is None:
            continue
        w = node.inputs[view.operand]
        layer = by_weight.get(id(w))
        if layer is None:
            by_weight[id(w)] = PrunableLayer(w, [node], view)
        else:
            layer.nodes.append(node)
    return list(by_weight.values())


def select_layers(graph: Graph, pattern: str | Pattern = "unstructured", *,
                  scope: Sequence[str] = (), exclude: Sequence[str] = (),
                  keep_first: bool = True, keep_last: bool = True,
                  named: Sequence[str] = (), depthwise: bool = False) -> list[PrunableLayer]:
    """The layers a prune would touch, in graph order.

    A layer is in when it is not matched by ``exclude`` and either a ``named``
    glob (explicit per-layer sparsities) matches it, or all of: ``scope`` is
    empty or matches it; it is not the first (``keep_first``) or last
    (``keep_last``) prunable layer of the graph; and, for N:M and block
    patterns, it is not depthwise (unless ``depthwise``)."""
    p = parse_pattern(pattern)
    layers = prunable_layers(graph)
    out = []
    for i, layer in enumerate(layers):
        if exclude and layer.matches(exclude):
            continue
        if named and layer.matches(named):
            out.append(layer)
            continue
        if scope and not layer.matches(scope):
            continue
        if (keep_first and i == 0) or (keep_last and i == len(layers) - 1):
            continue
        if layer.view.depthwise and p.kind in ("nm", "block") and not depthwise:
            continue
        out.append(layer)
    return out


def parse_layer_sparsities(items: Iterable[str]) -> list[tuple[str, float]]:
    """``["conv1:0.3", "fc*:0.9"]`` -> ``[("conv1", 0.3), ("fc*", 0.9)]`` (the
    ``layers`` option; the last ``:`` splits, so names may hold colons)."""
    out = []
    for item in items:
        glob, sep, s = str(item).rpartition(":")
        try:
            if not sep or not glob:
                raise ValueError
            value = float(s)
        except ValueError:
            raise ValueError(f"layer sparsity {item!r}: write GLOB:SPARSITY, e.g. conv1:0.3 "
                             'or "fc*":0.9 quoted as "fc*:0.9"') from None
        check_sparsity(value, f"layer sparsity {item!r}")
        out.append((glob, value))
    return out


def check_sparsity(s: float, what: str = "sparsity") -> float:
    if not (0.0 <= s < 1.0):
        raise ValueError(f"{what} must be in [0, 1), got {s}")
    return s


# ---------------------------------------------------------------------------
# Values: magnitudes and the stored zero
# ---------------------------------------------------------------------------

def real_values(arr: Array, t: TensorType) -> Array:
    """float64 real values of a weight (``(q − z)·s`` when quantized)."""
    if t.quant is None:
        return np.asarray(arr, np.float64)
    from .quant_params import dequantize
    return dequantize(np.asarray(arr), t)


def stored_zero(t: TensorType, shape: Sequence[int] | None = None) -> Array:
    """The stored value of real 0 for every element of a weight of type ``t``:
    0 for floats, the zero point(s) for quantized integers (broadcast along the
    quantization axis)."""
    shape = tuple(t.shape if shape is None else shape)
    q = t.quant
    st = t.dtype.storage
    if q is None:
        return np.zeros(shape, st)
    if isinstance(q, PerTensor):
        return np.full(shape, q.zero_point, st)
    assert isinstance(q, PerAxis)
    b = [1] * len(shape)
    b[q.axis] = len(q.zero_points)
    return np.broadcast_to(np.asarray(q.zero_points).reshape(b).astype(st), shape).copy()


def set_weight(value: Value, arr: Array) -> None:
    """Replace a constant's array in place (same type, read-only copy)."""
    if not value.is_const:
        raise IRError(f"%{value.name} is not a constant")
    assert value.producer is not None
    new = np.array(arr, dtype=value.type.dtype.storage, copy=True)
    if new.shape != tuple(value.type.shape):
        raise IRError(f"%{value.name}: new array has shape {list(new.shape)}, the value "
                      f"is {value.type}")
    new.setflags(write=False)
    value.producer.attrs["value"] = new


def apply_mask(value: Value, keep: Array) -> int:
    """Set the weights of ``value`` where ``keep`` is False to (stored) zero;
    returns how many elements changed."""
    arr = value.const_value
    zero = stored_zero(value.type)
    new = np.where(keep, arr, zero)
    changed = int(np.count_nonzero(new != arr))
    if changed:
        set_weight(value, new)
    return changed


# ---------------------------------------------------------------------------
# Masks (2-D, True = kept)
# ---------------------------------------------------------------------------

def _choose(scores: Array, sizes: Array, target: float) -> Array:
    """Prune units lowest-score first (ties: lowest index first); the number of
    units is the k whose pruned element count Σ sizes is closest to ``target``
    (fewer on a tie).  Returns the boolean "pruned" mask over units."""
    scores, sizes = scores.reshape(-1), sizes.reshape(-1)
    order = np.argsort(scores, kind="stable")
    cum = np.concatenate([[0], np.cumsum(sizes[order])])
    k = int(np.argmin(np.abs(cum - target)))
    pruned = np.zeros(scores.size, bool)
    pruned[order[:k]] = True
    return pruned


def block_scores(mag: Array, r: int, c: int, criterion: Criterion = "l1"
                 ) -> tuple[Array, Array]:
    """Per r × c block of the 2-D magnitudes ``mag`` ([R, C]): ``(scores, sizes)``,
    both ``[⌈R/r⌉, ⌈C/c⌉]``.  The score is the block's L1 norm (``l1``) or L2 norm
    (``l2``) normalized by its element count — mean |w| or RMS — so the partial
    blocks at the right and bottom edges rank fairly; ``sizes`` counts the
    elements inside the matrix."""
    R, C = mag.shape
    br, bc = -(-R // r), -(-C // c)
    pad = np.zeros((br * r, bc * c))
    valid = np.zeros((br * r, bc * c))
    pad[:R, :C] = mag if criterion == "l1" else mag * mag
    valid[:R, :C] = 1.0
    sums = pad.reshape(br, r, bc, c).sum(axis=(1, 3))
    sizes = valid.reshape(br, r, bc, c).sum(axis=(1, 3))
    mean = sums / np.maximum(sizes, 1)
    return (mean if criterion == "l1" else np.sqrt(mean)), sizes


def expand_blocks(block_mask: Array, r: int, c: int, R: int, C: int) -> Array:
    """A ``[⌈R/r⌉, ⌈C/c⌉]`` block mask as the ``[R, C]`` element mask."""
    return np.repeat(np.repeat(block_mask, r, axis=0), c, axis=1)[:R, :C]


def magnitude_mask(mag: Array, sparsity: float, r: int = 1, c: int = 1,
                   criterion: Criterion = "l1") -> Array:
    """Keep-mask of the 2-D magnitudes pruning r × c blocks (1 × 1:
    unstructured) until ``sparsity`` of the elements are pruned (to within one
    block)."""
    scores, sizes = block_scores(mag, r, c, criterion)
    pruned = _choose(scores, sizes, sparsity * mag.size).reshape(scores.shape)
    return expand_blocks(~pruned, r, c, *mag.shape)


def nm_mask(mag: Array, n: int, m: int) -> Array:
    """Keep-mask keeping the ``n`` largest of every ``m`` consecutive columns of
    each row (ties: the lower column); a last group of t < m columns keeps
    min(n, t)."""
    R, C = mag.shape
    g = -(-C // m)
    pad = np.full((R, g * m), -np.inf)
    pad[:, :C] = mag
    groups = pad.reshape(R, g, m)
    order = np.argsort(-groups, axis=2, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(m)[None, None, :].repeat(R, 0).repeat(g, 1),
                      axis=2)
    keep = (rank < n).reshape(R, g * m)[:, :C]
    return keep


# ---------------------------------------------------------------------------
# Pruning a graph
# ---------------------------------------------------------------------------

@dataclass
class LayerStats:
    """What pruning did to one weight."""

    layer: str
    weight: str
    op: str
    shape: tuple[int, ...]
    pattern: str
    target: float
    pruned: int
    size: int
    dense_bytes: int
    sparse_bytes: int

    @property
    def sparsity(self) -> float:
        return self.pruned / self.size if self.size else 0.0

    @property
    def bytes_saved(self) -> int:
        """What storing the weight ``csr``/``bsr`` would save over dense (≥ 0)."""
        return max(0, self.dense_bytes - self.sparse_bytes)


def _magnitude(layer: PrunableLayer) -> Array:
    """|real w| of the layer's weight in its 2-D view."""
    w = layer.weight
    return np.asarray(np.abs(layer.view.to_matrix(real_values(w.const_value, w.type))))


def sparse_nbytes(mat: Array, pattern: Pattern) -> int:
    """Bytes of the 2-D ``mat`` stored ``bsr<r x c>`` (block patterns) or ``csr``
    (the others), per docs/artifact.md."""
    from .sparse_format import stored_nbytes
    from .types import Encoding
    enc = Encoding("bsr", (pattern.r, pattern.c)) if pattern.kind == "block" \
        else Encoding("csr")
    try:
        return stored_nbytes(np.ascontiguousarray(mat), enc)
    except Exception:       # a block larger than the format allows, ...
        return int(mat.nbytes)


def _finish(graph: Graph, layer: PrunableLayer, keep2d: Array, pattern: Pattern,
            target: float) -> LayerStats:
    w = layer.weight
    keep = layer.view.from_matrix(keep2d, w.type.shape)
    apply_mask(w, keep)
    record_mask(graph, w.name, str(pattern), keep)
    mat = layer.view.to_matrix(w.const_value)
    return LayerStats(layer.name, w.name, layer.node.op, layer.shape, str(pattern), target,
                      int(keep.size - np.count_nonzero(keep)), int(keep.size),
                      int(mat.nbytes), sparse_nbytes(mat, pattern))


def prune_weights(graph: Graph, plan: Sequence[tuple[PrunableLayer, float]],
                  pattern: str | Pattern = "unstructured", criterion: Criterion = "l1",
                  global_threshold: bool = False) -> list[LayerStats]:
    """Prune each ``(layer, sparsity)`` of ``plan`` by magnitude, set pruned
    weights to (stored) zero and record the masks on the graph.

    * ``unstructured`` / ``block{r}x{c}``: prune the smallest elements / blocks
      (scored by ``criterion``) until the sparsity is reached, to within one
      block; with ``global_threshold`` every layer of the plan (which must share
      one sparsity) is ranked together: one threshold for all;
    * ``nm``: keep the n largest of every m along the reduction axis (the
      sparsity, 1 − n/m, is the pattern's; the plan's is ignored);
    * ``channel`` is structural: :func:`prune_channels`.
    """
    p = parse_pattern(pattern)
    if p.kind == "channel":
        raise PassError("pattern=channel removes whole channels: use prune_channels()")
    if not plan:
        return []
    if p.kind == "nm":
        if global_threshold:
            raise PassError("global=true has no meaning for N:M sparsity (every group of m "
                            "keeps n); drop it")
        return [_finish(graph, layer, nm_mask(_magnitude(layer), p.n, p.m), p,
                        p.fixed_sparsity or 0.0) for layer, _ in plan]
    r, c = (p.r, p.c) if p.kind == "block" else (1, 1)
    if not global_threshold:
        return [_finish(graph, layer, magnitude_mask(_magnitude(layer), s, r, c, criterion),
                        p, s) for layer, s in plan]
    targets = {s for _, s in plan}
    if len(targets) != 1:
        raise PassError(f"a global threshold needs one sparsity for all layers, got "
                        f"{sorted(targets)}")
    s = targets.pop()
    mags = [_magnitude(layer) for layer, _ in plan]
    scored = [block_scores(m, r, c, criterion) for m in mags]
    all_scores = np.concatenate([sc.reshape(-1) for sc, _ in scored])
    all_sizes = np.concatenate([sz.reshape(-1) for _, sz in scored])
    pruned = _choose(all_scores, all_sizes, s * sum(m.size for m in mags))
    out, at = [], 0
    for (layer, _), m, (sc, _) in zip(plan, mags, scored):
        part = pruned[at:at + sc.size].reshape(sc.shape)
        at += sc.size
        out.append(_finish(graph, layer, expand_blocks(~part, r, c, *m.shape), p, s))
    return out


def prune_channels(graph: Graph, amount: float, layers: list[Node],
                   criterion: str = "l1", multiple: int = 1, calib_data: Any = None) -> Any:
    """``pattern=channel``: structured filter/channel pruning, by
    :mod:`passes.prune_channels` when it is installed (its ``ChannelPruneStats``)."""
    import importlib
    try:
        mod = importlib.import_module("irc.passes.prune_channels")
    except ModuleNotFoundError as e:
        if e.name not in ("irc.passes.prune_channels", "passes.prune_channels"):
            raise
        raise PassError("pattern=channel is not available in this build (structured "
                        "channel pruning, passes/prune_channels.py, is not installed); "
                        "use unstructured, nm or block{r}x{c}") from None
    return mod.prune_channels(graph, amount, layers, criterion, multiple=multiple,
                              calib_data=calib_data)


def format_table(stats: Sequence[LayerStats]) -> str:
    """Per-layer table: layer, weight shape, pattern, sparsity, bytes dense -> sparse."""
    head = ["layer", "op", "shape", "pattern", "sparsity", "pruned", "dense B", "sparse B"]
    rows = [[s.layer, s.op, "x".join(map(str, s.shape)), s.pattern, f"{s.sparsity:.3f}",
             f"{s.pruned}/{s.size}", str(s.dense_bytes), str(s.sparse_bytes)] for s in stats]
    if stats:
        tot = sum(s.size for s in stats)
        pr = sum(s.pruned for s in stats)
        rows.append(["total", "", "", "", f"{pr / tot:.3f}" if tot else "-", f"{pr}/{tot}",
                     str(sum(s.dense_bytes for s in stats)),
                     str(sum(min(s.sparse_bytes, s.dense_bytes) for s in stats))])
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    return "\n".join("  ".join(x.ljust(w) if i < 4 else x.rjust(w)
                               for i, (x, w) in enumerate(zip(line, widths)))
                     for line in [head] + rows)


# ---------------------------------------------------------------------------
# Masks on the graph
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PruneRecord:
    """One weight's entry in ``graph.attrs["prune"]``."""

    pattern: str
    sparsity: float
    mask: Array = field(repr=False)     # bool, the weight's shape, True = kept


def pack_mask(mask: Array) -> Array:
    """A boolean mask as u8 bytes, 8 elements per byte, little bit order."""
    return np.packbits(np.asarray(mask, bool).reshape(-1), bitorder="little")


def unpack_mask(packed: Array, shape: Sequence[int]) -> Array:
    """The inverse of :func:`pack_mask`."""
    count = int(math.prod(shape))
    bits = np.unpackbits(np.asarray(packed, np.uint8).reshape(-1), count=count,
                         bitorder="little")
    return bits.astype(bool).reshape(tuple(shape))


def record_mask(graph: Graph, weight: str, pattern: str, keep: Array) -> None:
    """Record ``keep`` (True = kept) for the weight called ``weight``.  The
    ``prune`` dict is replaced, not edited: :meth:`Graph.copy` shares attrs."""
    keep = np.asarray(keep, bool)
    recs = dict(graph.attrs.get(PRUNE_ATTR) or {})
    recs[weight] = {"pattern": str(pattern),
                    "sparsity": float(1.0 - np.count_nonzero(keep) / max(keep.size, 1)),
                    "shape": [int(d) for d in keep.shape],
                    "mask": pack_mask(keep)}
    graph.attrs[PRUNE_ATTR] = recs


def records(graph: Graph) -> dict[str, PruneRecord]:
    """The prune records of weights still in ``graph`` (constants of the
    recorded shape); stale entries are skipped."""
    raw = graph.attrs.get(PRUNE_ATTR) or {}
    if not raw:
        return {}
    consts = {n.outputs[0].name: n.outputs[0] for n in graph.nodes
              if n.op == "const" and len(n.outputs) == 1}
    out = {}
    for name, rec in raw.items():
        v = consts.get(name)
        if v is None or not isinstance(rec, Mapping) or "mask" not in rec:
            continue
        shape = tuple(int(d) for d in rec.get("shape", ()))
        if shape != tuple(v.type.shape):
            continue
        out[name] = PruneRecord(str(rec.get("pattern", "")), float(rec.get("sparsity", 0.0)),
                                unpack_mask(rec["mask"], shape))
    return out


def masks(graph: Graph) -> dict[str, Array]:
    """``{weight value name: bool mask (True = kept)}`` for every pruned weight
    still in the graph."""
    return {k: r.mask for k, r in records(graph).items()}


def apply_masks(graph: Graph) -> int:
    """Re-zero every masked weight (after a training step moved them): float
    weights to 0.0, quantized ones to their zero point.  Returns how many
    elements changed."""
    consts = {n.outputs[0].name: n.outputs[0] for n in graph.nodes
              if n.op == "const" and len(n.outputs) == 1}
    return sum(apply_mask(consts[k], m) for k, m in masks(graph).items())


# ---------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PolynomialDecay:
    """TF-MOT's pruning schedule: sparsity rises from ``initial_sparsity`` at
    ``begin_step`` to ``final_sparsity`` at ``end_step``::

        p(t) = clamp((t − t0) / (t1 − t0), 0, 1)
        s(t) = s_f + (s_i − s_f) · (1 − p(t))^power

    (fast at first, flat at the end for power > 1).  ``should_prune(t)``: the
    steps at which a training loop prunes — every ``frequency`` steps in
    [t0, t1]."""

    initial_sparsity: float = 0.0
    final_sparsity: float = 0.5
    begin_step: int = 0
    end_step: int = 1000
    power: float = 3.0
    frequency: int = 100

    def __post_init__(self) -> None:
        check_sparsity(self.initial_sparsity, "initial_sparsity")
        check_sparsity(self.final_sparsity, "final_sparsity")
        if self.end_step < self.begin_step:
            raise ValueError(f"end_step ({self.end_step}) must be >= begin_step "
                             f"({self.begin_step})")
        if self.frequency < 1:
            raise ValueError(f"frequency must be >= 1, got {self.frequency}")

    def __call__(self, step: int) -> float:
        span = self.end_step - self.begin_step
        if span == 0:
            p = 1.0 if step >= self.begin_step else 0.0
        else:
            p = min(1.0, max(0.0, (step - self.begin_step) / span))
        return float(self.final_sparsity + (self.initial_sparsity - self.final_sparsity)
                     * (1.0 - p) ** self.power)

    def should_prune(self, step: int) -> bool:
        return self.begin_step <= step <= self.end_step and \
            ((step - self.begin_step) % self.frequency == 0 or step == self.end_step)


__all__ = [
    "PRUNE_ATTR", "Pattern", "parse_pattern", "block_shape", "WeightView", "weight_view",
    "matrix_view", "from_matrix", "PrunableLayer", "prunable_layers", "select_layers",
    "parse_layer_sparsities", "check_sparsity", "real_values", "stored_zero", "set_weight",
    "apply_mask", "block_scores", "expand_blocks", "magnitude_mask", "nm_mask", "LayerStats",
    "sparse_nbytes", "prune_weights", "prune_channels", "format_table", "PruneRecord",
    "pack_mask", "unpack_mask", "record_mask", "records", "masks", "apply_masks",
    "PolynomialDecay",
]
