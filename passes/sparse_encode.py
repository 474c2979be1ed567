"""``sparse-encode``: store pruned weights as ``csr`` / ``bsr<r x c>`` and lower
their consumers to the ``sparse.*`` ops — where the target's sparse kernels win.

Which products qualify (the ones the runtime's sparse kernels compute,
``W[N][K]`` times activations; :mod:`irc.ops.sparse`):

==================================  ==========================  ==================
dense op                            condition                   becomes
==================================  ==========================  ==================
``nn.conv2d(x, w, b?)``             1×1, stride 1, no padding,  ``sparse.conv2d``
                                    one group
``nn.matmul(a, B)``, ``nn.gemm``    constant ``B`` [K, N];      ``sparse.matmul(a, Bᵀ)``
                                    gemm: ``trans_a = 0``, a
                                    per-column bias
``q.conv2d(x, w, b?)``              as ``nn.conv2d``; i8        ``sparse.qconv2d``
                                    weights, zero point 0
``q.matmul(a, B, bias?)``           constant i8 ``B`` [K, N],   ``sparse.qmatmul(a, Bᵀ)``
                                    zero point 0
==================================  ==========================  ==================

**The cost model.**  For a weight ``W[N][K]`` and a block shape ``r × c`` the
sparse kernel's work is the stored blocks: ``density = stored blocks · r·c / (N·K)``
(zeros inside stored blocks are computed too).  Sparse wins when the density is
below the *break-even density* of that block shape, dtype and target
(:mod:`irc.sparse_cost`, measured by ``bench/sparse_kernels.py``).  The block
shape is the one the ``prune`` pass recorded for the weight (``graph.attrs
["prune"]``), else the candidate of the target with the most margin.
The kernels vectorize over the product's columns M (pixels of a 1×1 conv, rows
of a fully connected layer), so a matrix-vector product (M below
:data:`irc.sparse_cost.GEMV_COLUMNS`, e.g. a batch-1 classifier) has its own,
much lower, break-even densities.  ``objective=size`` encodes wherever the blob
is smaller than the dense weight instead — for a phone app that cares more
about download size than about a few microseconds.  ``force=true`` encodes
every qualifying weight whatever the model says (for testing and measuring);
``max_density`` replaces the break-even density.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Optional

import numpy as np

from irc.dtypes import DType
from irc.ir import Graph, Node, Value
from irc.ops._window import window
from irc.pass_manager import Pass, PassContext, register_pass
from irc.sparse_cost import Candidate, choose_block
from irc.sparsity import PRUNE_ATTR, parse_pattern
from irc.types import Encoding, PerAxis, PerTensor, TensorType

Mode = Literal["auto", "csr", "bsr"]
Objective = Literal["speed", "size"]


@dataclass
class _Plan:
    """How one product is rewritten: its sparse op, operands and weight matrix."""

    op: str
    x: Value
    w: np.ndarray                 # W[N][K] (conv: [N, K, 1, 1])
    w_type: TensorType            # W's type without the encoding
    bias: Value | np.ndarray | None
    attrs: dict[str, Any]


def _pointwise(node: Node) -> bool:
    x, w = node.inputs[0].type, node.inputs[1].type
    a = node.attrs
    if w.rank != 4 or w.shape[2:] != (1, 1) or a["groups"] != 1 or tuple(a["strides"]) != (1, 1):
        return False
    win = window(x.shape[2:], w.shape[2:], a["strides"], a["dilations"], a["pads"],
                 a["auto_pad"])
    return not any(win.pads)


def _int_weights(w: Value) -> bool:
    q = w.type.quant
    if w.type.dtype is not DType.I8 or q is None:
        return False
    zps = (q.zero_point,) if isinstance(q, PerTensor) else q.zero_points  # type: ignore[union-attr]
    return not any(zps)


def _transposed_type(b: TensorType) -> TensorType:
    """The type of ``Bᵀ`` [N, K] for ``B`` [K, N]: a per-column axis becomes axis 0."""
    q = b.quant
    if isinstance(q, PerAxis):
        q = PerAxis(0, q.scales, q.zero_points)
    return TensorType(b.dtype, (b.shape[1], b.shape[0]), q)


def _plan(node: Node) -> _Plan | None:
    """The sparse rewrite of ``node``, or None when it does not qualify."""
    ins = node.inputs
    if len(ins) < 2 or not ins[1].is_const:
        return None
    w = ins[1]
    rest = ins[2] if len(ins) > 2 else None
    if node.op in ("nn.conv2d", "q.conv2d"):
        if not _pointwise(node) or (node.op == "q.conv2d" and not _int_weights(w)):
            return None
        op = "sparse.conv2d" if node.op == "nn.conv2d" else "sparse.qconv2d"
        attrs = {"clamp": node.attrs["clamp"]} if node.op == "nn.conv2d" else {}
        return _Plan(op, ins[0], w.const_value, TensorType(w.type.dtype, w.type.shape,
                                                             w.type.quant), rest, attrs)
    if node.op == "q.matmul":
        if w.type.rank != 2 or ins[0].type.rank < 2 or not _int_weights(w):
            return None
        return _Plan("sparse.qmatmul", ins[0], np.ascontiguousarray(w.const_value.T),
                     _transposed_type(w.type), rest, {})
    if node.op == "nn.matmul":
        if w.type.rank != 2 or ins[0].type.rank < 2:
            return None
        return _Plan("sparse.matmul", ins[0], np.ascontiguousarray(w.const_value.T),
                     _transposed_type(w.type), None, {"clamp": node.attrs["clamp"]})
    if node.op == "nn.gemm":
        a = node.attrs
        if a["trans_a"] or w.type.rank != 2:
            return None
        wv = w.const_value.astype(np.float32) * np.float32(a["alpha"])
        wt = wv if a["trans_b"] else wv.T
        n = wt.shape[0]
        bias: np.ndarray | None = None
        if rest is not None and a["beta"] != 0.0:
            if not rest.is_const or rest.const_value.size not in (1, n) or (
                    rest.const_value.ndim and rest.const_value.shape[-1] not in (1, n)):
                return None          # not a per-column bias
            bias = np.broadcast_to(rest.const_value.astype(np.float32).reshape(-1), (n,)) \
                * np.float32(a["beta"])
        return _Plan("sparse.matmul", ins[0], np.ascontiguousarray(wt, np.float32),
                     TensorType(DType.F32, wt.shape), bias, {"clamp": a["clamp"]})
    return None


def _columns(plan: _Plan) -> int:
    """M, the columns the sparse kernel vectorizes over: pixels of one image (1×1
    conv) or rows of the fully connected layer."""
    x = plan.x.type.shape
    if plan.op in ("sparse.conv2d", "sparse.qconv2d"):
        return int(np.prod(x[2:]))
    return int(np.prod(x[:-1]))


def _stored_bytes(w: np.ndarray, block: tuple[int, int]) -> int:
    from irc.sparse_format import stored_nbytes
    enc = Encoding("csr") if block == (1, 1) else Encoding("bsr", block)
    return stored_nbytes(w, enc)


def _selected(node: Node, only: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    names = [n for n in (node.name, node.outputs[0].name, node.inputs[1].name) if n]
    hit = lambda globs: any(fnmatch.fnmatchcase(n, g) for n in names for g in globs)  # noqa: E731
    return (not only or hit(only)) and not hit(exclude)


def _recorded_block(graph: Graph, w: Value) -> tuple[int, int] | None:
    """The block shape the prune pass recorded for ``w`` (its ``block{r}x{c}``, or
    1×1 for unstructured pruning), if any."""
    rec = (graph.attrs.get(PRUNE_ATTR) or {}).get(w.name)
    if not isinstance(rec, dict):
        return None
    try:
        p = parse_pattern(str(rec.get("pattern", "")))
    except ValueError:
        return None
    if p.kind == "unstructured":
        return (1, 1)
    return (p.r, p.c) if p.kind == "block" else None


@register_pass
@dataclass(frozen=True)
class SparseEncode(Pass):
    """Store pruned weights csr/bsr and lower their products to sparse.* where the
    target's sparse kernels beat the dense ones."""

    name: ClassVar[str] = "sparse-encode"

    encoding: Mode = field(default="auto", metadata={
        "doc": "auto (the block the prune pass recorded, else the cheapest for the target), "
               "csr (1x1), or bsr (with block)"})
    block: str = field(default="", metadata={
        "doc": "block shape RxC for bsr (rows = output channels x reduction), e.g. 4x1"})
    max_density: Optional[float] = field(default=None, metadata={
        "doc": "encode when the stored density is below this (default: the target's "
               "measured break-even density)"})
    objective: Objective = field(default="speed", metadata={
        "doc": "speed: encode where the sparse kernel is faster (the cost model); size: "
               "wherever the sparse blob is smaller than the dense weight"})
    force: bool = field(default=False, metadata={
        "doc": "encode every qualifying weight, whatever the cost model says"})
    only: tuple[str, ...] = field(default=(), metadata={
        "doc": "globs on node / output / weight names to consider (default: all)"})
    exclude: tuple[str, ...] = field(default=(), metadata={
        "doc": "globs on node / output / weight names to leave dense"})

    def _fixed_block(self) -> tuple[int, int] | None:
        if self.encoding == "csr":
            return (1, 1)
        if self.block:
            r, _, c = self.block.lower().partition("x")
            if not (r.isdigit() and c.isdigit() and 1 <= int(r) <= 64 and 1 <= int(c) <= 64):
                raise ValueError(f"sparse-encode: block must be RxC with 1 <= R, C <= 64, "
                                 f"got {self.block!r}")
            return int(r), int(c)
        if self.encoding == "bsr":
            raise ValueError("sparse-encode: encoding=bsr needs block=RxC (e.g. block=4x1)")
        return None

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        fixed = self._fixed_block()
        target = ctx.target if ctx.target != "generic" else str(graph.attrs.get("target")
                                                                or "generic")
        for node in list(graph.nodes):
            if node.op not in ("nn.conv2d", "nn.matmul", "nn.gemm", "q.conv2d", "q.matmul"):
                continue
            if not _selected(node, self.only, self.exclude):
                continue
            plan = _plan(node)
            if plan is None:
                continue
            mat = plan.w.reshape(plan.w.shape[0], -1)
            recorded = _recorded_block(graph, node.inputs[1])
            blocks = [fixed] if fixed else ([recorded] if recorded else None)
            dtype = "int8" if plan.w_type.dtype is DType.I8 else "f32"
            choice: Candidate | None = choose_block(mat, dtype, target, blocks,
                                                    self.max_density, columns=_columns(plan))
            if choice is None:
                continue
            if self.objective == "size" and not self.force:
                if _stored_bytes(plan.w, choice.block) >= plan.w.nbytes:
                    ctx.count("left dense (no smaller)", modified=False)
                    continue
            elif not choice.wins and not self.force:
                ctx.count("left dense (cost model)", modified=False)
                ctx.log(f"{node.short()}: density {choice.density:.3f} at {choice.block} is "
                        f"above break-even {choice.break_even:.3f}; left dense")
                continue
            self._rewrite(graph, node, plan, choice, ctx)
        return graph

    def _rewrite(self, graph: Graph, node: Node, plan: _Plan, choice: Candidate,
                 ctx: PassContext) -> None:
        r, c = choice.block
        enc = Encoding("csr") if (r, c) == (1, 1) else Encoding("bsr", (r, c))
        t = plan.w_type
        w_name = graph.fresh_name(f"{node.inputs[1].name}.{enc.kind}")
        new_nodes = [graph.make_const(plan.w, w_name,
                                      TensorType(t.dtype, plan.w.shape, t.quant, enc))]
        operands = [plan.x, new_nodes[0].output]
        if isinstance(plan.bias, np.ndarray):
            new_nodes.append(graph.make_const(plan.bias.astype(np.float32), None))
            operands.append(new_nodes[-1].output)
        elif plan.bias is not None:
            operands.append(plan.bias)
        sparse = graph.make_node(plan.op, operands, plan.attrs, name=node.name)
        new_nodes.append(sparse)
        graph.insert_before(node, new_nodes)
        graph.replace_all_uses(node.outputs[0], sparse.outputs[0])
        dense_inputs = {id(v): v for v in node.inputs}.values()
        graph.erase(node)
        for v in dense_inputs:       # the dense weight (and a folded gemm bias), now unread
            if v.is_const and not v.uses and not any(v is o for o in graph.outputs):
                graph.erase(v.producer)  # type: ignore[arg-type]
        ctx.count("encoded")
        ctx.count("bytes saved", int(plan.w.nbytes) - _stored_bytes(plan.w, choice.block))
        ctx.log(f"{plan.op} {sparse.outputs[0].name}: {enc}, density {choice.density:.3f} "
                f"(break-even {choice.break_even:.3f})")
