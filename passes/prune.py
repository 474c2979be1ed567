"""``prune``: set the least important weights to zero (magnitude pruning).

Works on float and integer graphs alike (``calibrate,quant,prune{...},sparse-encode``
is the usual order; pruning before ``quant`` works too — a pruned float weight
quantizes to the stored 0).  The contract — which weights, their 2-D view
(rows = output channels, columns = the reduction axis), what "pruned" means for
a quantized weight, where the masks live — is :mod:`irc.sparsity`'s; this
module reads options and reports.

Patterns (``pattern=``), all scored on |real value|:

* ``unstructured`` — the smallest ``sparsity`` fraction of each layer's
  weights (``threshold=global``: of all in-scope weights together);
* ``nm`` with ``n``, ``m`` (or spelled ``2:4``) — keep the n largest of every m
  consecutive weights along the reduction axis; sparsity is 1 − n/m;
* ``block{r}x{c}`` — r output channels × c reduction elements pruned whole,
  blocks ranked by ``criterion`` (mean L1 or RMS of the block);
* ``channel`` — whole filters, by :mod:`passes.prune_channels` (structural).

Layers: every prunable weight except the graph's first and last
(``keep_first``/``keep_last``), narrowed by ``scope`` and ``exclude`` globs on
node names, result names, weight names and ops; N:M and block patterns skip
depthwise convs unless ``depthwise=true``.  ``layers=[conv1:0.3, "fc*:0.9"]``
gives layers their own sparsity (first matching glob wins) and prunes them even
when they are first, last or outside ``scope``.

Schedule: with ``step`` set, each layer is pruned to TF-MOT's polynomial decay
``s(step) = s_f + (s_i − s_f)·(1 − (step − begin_step)/(end_step − begin_step))^power``
(clamped), ``s_i = initial_sparsity`` and ``s_f`` the layer's sparsity; a
fine-tuning loop runs the pass at its pruning steps and calls
:func:`irc.sparsity.apply_masks` after every update in between.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Optional

from irc import sparsity as sp
from irc.errors import PassError, PipelineError
from irc.ir import Graph
from irc.pass_manager import Pass, PassContext, register_pass


@register_pass
@dataclass(frozen=True)
class Prune(Pass):
    """Magnitude pruning: unstructured, N:M, r×c blocks or whole channels; masks kept on the graph."""

    name: ClassVar[str] = "prune"

    sparsity: float = field(default=0.5, metadata={
        "doc": "fraction of each in-scope layer's weights set to zero, in [0, 1)"})
    pattern: str = field(default="unstructured", metadata={
        "doc": "unstructured | nm (with n, m) | N:M such as 2:4 | block{r}x{c} such as "
               "block4x1 (r output channels x c reduction elements) | channel"})
    n: int = field(default=2, metadata={"doc": "pattern=nm: weights kept per group"})
    m: int = field(default=4, metadata={"doc": "pattern=nm: group size along the reduction "
                                               "axis"})
    layers: tuple[str, ...] = field(default=(), metadata={
        "doc": "per-layer sparsities GLOB:S, e.g. [conv1:0.3, \"fc*:0.9\"]; first match wins; "
               "named layers are pruned even if first/last or outside scope"})
    scope: tuple[str, ...] = field(default=(), metadata={
        "doc": "prune only layers matching these globs (node, result or weight names, ops); "
               "empty: all"})
    exclude: tuple[str, ...] = field(default=(), metadata={
        "doc": "never prune layers matching these globs"})
    keep_first: bool = field(default=True, metadata={
        "doc": "leave the first prunable layer dense"})
    keep_last: bool = field(default=True, metadata={
        "doc": "leave the last prunable layer dense"})
    depthwise: bool = field(default=False, metadata={
        "doc": "also prune depthwise convs with nm/block patterns (unstructured always does)"})
    criterion: Literal["l1", "l2", "activation"] = field(default="l1", metadata={
        "doc": "block score: mean |w| (l1) or RMS (l2) of the block; pattern=channel also "
               "takes activation (the output error a removed channel leaves, measured on "
               "--calib-data)"})
    compensate: bool = field(default=True, metadata={
        "doc": "pattern=channel with --calib-data: fold removed channels' mean activations "
               "into the next layers' biases"})
    multiple: int = field(default=1, metadata={
        "doc": "pattern=channel: keep channel counts a multiple of this (e.g. 4 or 8 for "
               "SIMD-friendly widths)"})
    threshold: Literal["layer", "global"] = field(default="layer", metadata={
        "doc": "layer: each layer reaches its sparsity; global: one magnitude threshold over "
               "all in-scope weights (layers without a per-layer sparsity)"})
    step: Optional[int] = field(default=None, metadata={
        "doc": "training step: prune to the polynomial-decay schedule's sparsity at this step "
               "(none: prune to sparsity now)"})
    begin_step: int = field(default=0, metadata={"doc": "schedule: first pruning step"})
    end_step: int = field(default=1000, metadata={
        "doc": "schedule: step at which the final sparsity is reached"})
    initial_sparsity: float = field(default=0.0, metadata={
        "doc": "schedule: sparsity at begin_step"})
    power: float = field(default=3.0, metadata={"doc": "schedule: exponent of the decay"})
    verbose: bool = field(default=False, metadata={
        "doc": "print the per-layer table (layer, shape, pattern, sparsity, bytes) to stderr"})

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            self.parsed_pattern()
            sp.check_sparsity(self.sparsity)
            sp.check_sparsity(self.initial_sparsity, "initial_sparsity")
            sp.parse_layer_sparsities(self.layers)
            if self.criterion == "activation" and self.parsed_pattern().kind != "channel":
                raise ValueError("criterion=activation applies to pattern=channel only")
            if self.multiple < 1:
                raise ValueError(f"multiple must be >= 1, got {self.multiple}")
            if self.end_step < self.begin_step:
                raise ValueError(f"end_step ({self.end_step}) must be >= begin_step "
                                 f"({self.begin_step})")
        except ValueError as e:
            raise PipelineError(f"pass 'prune': {e}") from None

    def parsed_pattern(self) -> sp.Pattern:
        return sp.parse_pattern(self.pattern, self.n, self.m)

    def scheduled(self, final: float) -> float:
        """The sparsity to prune a layer whose target is ``final`` to now."""
        if self.step is None:
            return final
        return sp.PolynomialDecay(self.initial_sparsity, final, self.begin_step,
                                  self.end_step, self.power)(self.step)

    def plan(self, graph: Graph) -> tuple[list[tuple[sp.PrunableLayer, float]],
                                          list[tuple[sp.PrunableLayer, float]]]:
        """``(layer-wise, global)`` lists of ``(layer, sparsity now)``; the global
        list is empty unless ``threshold=global``."""
        pattern = self.parsed_pattern()
        overrides = sp.parse_layer_sparsities(self.layers)
        chosen = sp.select_layers(graph, pattern, scope=self.scope, exclude=self.exclude,
                                  keep_first=self.keep_first, keep_last=self.keep_last,
                                  named=[g for g, _ in overrides], depthwise=self.depthwise)
        own: list[tuple[sp.PrunableLayer, float]] = []
        shared: list[tuple[sp.PrunableLayer, float]] = []
        for layer in chosen:
            given = next((s for g, s in overrides if layer.matches([g])), None)
            s = self.scheduled(self.sparsity if given is None else given)
            if s <= 0.0:
                continue
            (shared if given is None and self.threshold == "global" else own).append((layer, s))
        return own, shared

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        pattern = self.parsed_pattern()
        own, shared = self.plan(graph)
        if pattern.kind == "channel":
            return self._channels(graph, ctx, own + shared)
        if pattern.kind == "nm" and self.threshold == "global":
            raise PassError("threshold=global has no meaning for N:M sparsity (every group of "
                            "m keeps n); drop it")
        stats = sp.prune_weights(graph, own, pattern, self.criterion)
        stats += sp.prune_weights(graph, shared, pattern, self.criterion, global_threshold=True)
        for s in stats:
            ctx.count(f"sparsity {s.layer}", round(s.sparsity, 4), modified=False)
        ctx.count("layers", len(stats))
        ctx.count("weights-pruned", sum(s.pruned for s in stats))
        ctx.count("bytes-saved", sum(s.bytes_saved for s in stats), modified=False)
        ctx.log(f"pruned {len(stats)} layer(s) ({pattern})")
        if self.verbose:
            out = ctx.log_stream or sys.stderr
            out.write(f"prune ({pattern}):\n{sp.format_table(stats)}\n")
        return graph

    def _channels(self, graph: Graph, ctx: PassContext,
                  plan: list[tuple[sp.PrunableLayer, float]]) -> Graph:
        if self.threshold == "global":
            raise PassError("pattern=channel prunes each layer on its own; drop threshold=global")
        calib = ctx.calib_data if self.compensate or self.criterion == "activation" else None
        if self.criterion == "activation" and calib is None:
            raise PassError("prune{pattern=channel,criterion=activation} measures channels on "
                            "calibration data: give --calib-data (calib_data=)")
        by_amount: dict[float, list[Any]] = {}
        for layer, s in plan:
            by_amount.setdefault(s, []).append(layer.node)
        for amount, nodes in by_amount.items():
            result = sp.prune_channels(graph, amount, nodes, self.criterion,
                                       multiple=self.multiple, calib_data=calib)
            for k, v in result.counters().items():
                ctx.count(str(k), v)
            if self.verbose:
                (ctx.log_stream or sys.stderr).write(result.summary() + "\n")
        ctx.mark_modified()
        return graph
