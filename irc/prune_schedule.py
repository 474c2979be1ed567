"""Iterative pruning with fine-tuning: a sparsity schedule applied during :func:`irc.train.fit`.

One-shot pruning (the ``prune`` pass) removes weights from a trained model and
stops; accuracy drops, sharply above ~80 %.  Iterative pruning (Zhu & Gupta
2017, TF-MOT's ``prune_low_magnitude``) removes them *while training*: the
sparsity rises step by step, the weights left adapt after each rise, and the
last part of training fine-tunes at the final sparsity.

**The schedule** (TF-MOT's polynomial decay, :class:`irc.sparsity.PolynomialDecay`)::

    p(t) = clamp((t − t0) / (t1 − t0), 0, 1)
    s(t) = s_f + (s_i − s_f) · (1 − p(t))^power

``t0 = begin_step``, ``t1 = end_step``, ``s_i = initial_sparsity``, ``s_f`` the
layer's final sparsity (``sparsity``, or its ``layers`` entry), ``power = 3``
by default (fast at first, flat at the end).  ``t`` is :func:`irc.train.fit`'s
step: the number of optimizer updates done, 1 after the first.

**What happens at step t** (``schedule(train_graph, t)``, fit's ``on_step``,
called after every update):

* at a *pruning step* — ``t0 + k·frequency`` or ``t1``, within [t0, t1] — and at
  the first call at or after ``t0`` (so a loop that starts mid-way prunes at
  once), the masks are chosen again from the training graph's *current*
  weights, each layer to ``s(t)``, by the ``prune`` pass's own logic (layer
  choice, magnitude scores, patterns).  Weights already at zero score lowest,
  so in practice the masks only grow;
* on every step, masked weights are set back to exactly zero in the training
  graph (fit reads its parameters back after ``on_step``), so an update never
  revives a pruned weight — after ``t1`` this is plain fine-tuning at the final
  masks.

**Options.**  The ``prune`` pass's — ``sparsity``, ``pattern``, ``n``, ``m``,
``layers`` (``["conv1:0.3", "fc*:0.9"]``), ``scope``, ``exclude``,
``keep_first``, ``keep_last``, ``depthwise``, ``criterion``, ``threshold`` —
parsed and checked by constructing the pass (``passes/prune.py``, docs there);
plus ``begin_step``, ``end_step``, ``frequency``, ``initial_sparsity``,
``power``.  Bad options raise ``ValueError``.

**Patterns**, all of the ``prune`` pass's:

* ``unstructured``, ``block{r}x{c}`` — the smallest weights / r × c blocks of
  each layer (``threshold=global``: of all in-scope layers together) up to
  ``s(t)``, exactly as ``prune{sparsity=s(t)}``;
* ``nm`` / ``N:M`` (e.g. ``2:4``) — the pattern fixes the final sparsity,
  ``1 − n/m`` (``sparsity`` must be left out or equal it).  The ramp prunes,
  among the ``m − n`` smallest weights of every group of m (the ones N:M would
  prune), the ``s(t)`` fraction of the layer with the smallest magnitudes; so
  every group keeps ≥ n weights at every step, and at ``s_f`` the mask is
  exactly the pass's ``n:m`` mask;
* ``channel`` — in the pass, structural (:mod:`passes.prune_channels` removes
  filters and rewrites readers; the graph's shapes change, which a training
  graph cannot).  Here it is the *mask form*: whole output channels (rows of the
  2-D view, i.e. whole filters) are held at zero, ``round(s·C)`` of each
  layer's ``C`` (half up, ≥ 1 kept), scored per layer by the mean |w| (``l1``)
  or RMS (``l2``) of the filter (``criterion=activation`` needs the structural
  pass and is refused).  Afterwards ``prune{pattern=channel,sparsity=s}``
  removes those channels physically — they are the lowest-norm ones — unless
  the structural pass couples a layer with another (a residual add sums the
  scores of both), where it may choose differently.

**Masks in the user's graph.**  fit trains a copy; :meth:`PruneSchedule.finish`
writes the masks into the user's graph as ``graph.attrs["prune"]`` (what the
``prune`` pass records: ``sparse-encode``, ``irc show`` and the ``.irc`` text
form read them) and zeroes the masked weights there.

**Example**::

    from irc.prune_schedule import PruneSchedule, prune_and_fine_tune
    from irc.train import Adam, cosine, fit

    # all in one: fine-tune 3 epochs, reach 90 % at 2/3 of the steps, then
    # fine-tune at 90 %; masks end up in graph.attrs["prune"]
    hist = prune_and_fine_tune(graph, {"input": x}, y, sparsity=0.9, epochs=3,
                               batch_size=64, optimizer=Adam(lr=1e-4))

    # or by hand
    sched = PruneSchedule(0.9, "block1x4", begin_step=0, end_step=2000, frequency=100)
    fit(graph, {"input": x}, y, epochs=3, on_step=sched)
    print(sparsity.format_table(sched.finish(graph)))
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from . import sparsity as sp
from .errors import PipelineError
from .ir import Graph

if TYPE_CHECKING:
    from .train import History

Array = np.ndarray

#: ``end_step`` of :func:`prune_and_fine_tune` by default: this fraction of the
#: run's steps; the rest fine-tunes at the final sparsity.
PRUNE_FRACTION = 2 / 3
#: :func:`prune_and_fine_tune`'s default ``frequency``: about this many pruning steps.
PRUNE_EVENTS = 16


@dataclass(frozen=True)
class PruneEvent:
    """One mask selection: the step, the schedule's sparsity then (for layers
    with ``sparsity`` as their target) and the measured sparsity of each pruned
    weight, ``{weight name: zeros / size}``."""

    step: int
    target: float
    sparsity: dict[str, float]


class PruneSchedule:
    """``on_step`` hook for :func:`irc.train.fit`: gradual magnitude pruning to a
    polynomial-decay schedule, masked weights held at zero (module docstring)."""

    def __init__(self, sparsity: float | None = None, pattern: str = "unstructured", *,
                 n: int = 2, m: int = 4, layers: Sequence[str] = (), scope: Sequence[str] = (),
                 exclude: Sequence[str] = (), keep_first: bool = True, keep_last: bool = True,
                 depthwise: bool = False, criterion: str = "l1", threshold: str = "layer",
                 begin_step: int = 0, end_step: int = 1000, frequency: int = 100,
                 initial_sparsity: float = 0.0, power: float = 3.0) -> None:
        from .passes.prune import Prune
        try:
            pat = sp.parse_pattern(pattern, n, m)
        except ValueError as e:
            raise ValueError(f"PruneSchedule: {e}") from None
        fixed = pat.fixed_sparsity
        if fixed is not None and sparsity is not None and not math.isclose(sparsity, fixed):
            raise ValueError(f"PruneSchedule: pattern {pat} fixes the sparsity at {fixed:g} "
                             f"(1 − n/m); got sparsity={sparsity}: leave it out")
        final = fixed if fixed is not None else (0.5 if sparsity is None else sparsity)
        if pat.kind in ("nm", "channel") and threshold == "global":
            raise ValueError(f"PruneSchedule: threshold=global has no meaning for pattern "
                             f"{pat} (each {'group' if pat.kind == 'nm' else 'layer'} is "
                             "pruned on its own); drop it")
        if pat.kind == "channel" and criterion == "activation":
            raise ValueError("PruneSchedule: criterion=activation measures channels on "
                             "calibration data in the structural prune{pattern=channel}; "
                             "the schedule's channel masks take l1 or l2")
        if initial_sparsity > final:
            raise ValueError(f"PruneSchedule: initial_sparsity ({initial_sparsity}) must not "
                             f"exceed the final sparsity ({final:g})")
        try:
            self.options = Prune(
                sparsity=final, pattern=str(pattern), n=n, m=m, layers=tuple(layers),
                scope=tuple(scope), exclude=tuple(exclude), keep_first=keep_first,
                keep_last=keep_last, depthwise=depthwise, criterion=criterion,
                threshold=threshold, begin_step=begin_step, end_step=end_step,
                initial_sparsity=initial_sparsity, power=power)
            self.decay = sp.PolynomialDecay(initial_sparsity, final, begin_step, end_step,
                                            power, frequency)
        except (PipelineError, ValueError) as e:
            msg = str(e).removeprefix("pass 'prune': ")
            raise ValueError(f"PruneSchedule: {msg}") from None
        self.pattern = pat
        self.masks: dict[str, Array] = {}       # weight name -> keep mask (weight's shape)
        self.targets: dict[str, float] = {}     # weight name -> its sparsity at the last selection
        self.events: list[PruneEvent] = []

    # -- the schedule ---------------------------------------------------------------------------

    def target(self, step: int) -> float:
        """``s(step)`` for layers whose final sparsity is ``sparsity``."""
        return self.decay(step)

    def is_pruning_step(self, step: int) -> bool:
        """Whether masks are chosen again at ``step``."""
        return self.decay.should_prune(step) or \
            (not self.events and step >= self.decay.begin_step)

    def __call__(self, train: Graph, step: int) -> None:
        """fit's ``on_step``: choose masks at pruning steps, then zero the masked
        weights of ``train`` in place."""
        if self.is_pruning_step(step):
            self.select(train, step)
        self.hold(train)

    def select(self, graph: Graph, step: int) -> None:
        """Choose every in-scope layer's mask from ``graph``'s current weights at
        the sparsity ``s(step)`` (the weights are zeroed, the masks recorded)."""
        opts = replace(self.options, step=step)
        own, shared = opts.plan(graph)
        p = self.pattern
        if p.kind in ("unstructured", "block"):
            stats = sp.prune_weights(graph, own, p, opts.criterion)
            stats += sp.prune_weights(graph, shared, p, opts.criterion, global_threshold=True)
            recorded = sp.masks(graph)
            for st in stats:
                self.masks[st.weight] = recorded[st.weight]
                self.targets[st.weight] = st.target
        else:
            s_nm = self.decay(step)
            for layer, s in own:
                s = s_nm if p.kind == "nm" else s
                mag = np.abs(layer.view.to_matrix(sp.real_values(layer.weight.const_value,
                                                                 layer.weight.type)))
                keep2d = (gradual_nm_mask(mag, p.n, p.m, s) if p.kind == "nm"
                          else channel_mask(mag, s, opts.criterion))
                keep = layer.view.from_matrix(keep2d, layer.shape)
                sp.apply_mask(layer.weight, keep)
                sp.record_mask(graph, layer.weight.name, str(p), keep)
                self.masks[layer.weight.name] = keep
                self.targets[layer.weight.name] = s
        self.events.append(PruneEvent(step, self.decay(step), {
            k: 1.0 - float(np.count_nonzero(graph.value(k).const_value)) / v.size
            for k, v in self.masks.items()}))

    def hold(self, graph: Graph) -> int:
        """Set the masked weights of ``graph`` back to zero; returns how many
        elements changed."""
        changed = 0
        for name, keep in self.masks.items():
            if graph.has_name(name):
                changed += sp.apply_mask(graph.value(name), keep)
        return changed

    # -- the user's graph -----------------------------------------------------------------------

    def finish(self, graph: Graph) -> list[sp.LayerStats]:
        """Zero the masked weights of ``graph`` (the user's, which fit wrote the
        trained values back into) and record the masks in
        ``graph.attrs["prune"]``, as the ``prune`` pass does.  Returns the
        per-layer statistics (:func:`irc.sparsity.format_table` prints them)."""
        if not self.masks:
            raise ValueError("PruneSchedule.finish: no masks yet (the schedule never ran: "
                             "pass it to fit(on_step=...) with begin_step within the run)")
        by_weight = {layer.weight.name: layer for layer in sp.prunable_layers(graph)}
        out = []
        for name, keep in self.masks.items():
            layer = by_weight.get(name)
            if layer is None or layer.shape != keep.shape:
                raise ValueError(f"PruneSchedule.finish: graph @{graph.name} has no prunable "
                                 f"weight {name!r} of shape {list(keep.shape)}")
            sp.apply_mask(layer.weight, keep)
            sp.record_mask(graph, name, str(self.pattern), keep)
            mat = layer.view.to_matrix(layer.weight.const_value)
            out.append(sp.LayerStats(layer.name, name, layer.node.op, layer.shape,
                                     str(self.pattern), self.targets[name],
                                     int(keep.size - np.count_nonzero(keep)), int(keep.size),
                                     int(mat.nbytes), sp.sparse_nbytes(mat, self.pattern)))
        return out


# ---------------------------------------------------------------------------------------------
# Masks the prune pass has no one-shot form of (2-D magnitudes, True = kept)
# ---------------------------------------------------------------------------------------------

def gradual_nm_mask(mag: Array, n: int, m: int, s: float) -> Array:
    """N:M on the way: of the elements N:M would prune (the ``m − n`` smallest of
    every group of ``m`` consecutive columns; a last group of t < m columns
    ``t − min(n, t)``), prune the ``round(s · size)`` smallest (ties: lowest
    index).  Every group keeps ≥ n; at ``s ≥ 1 − n/m`` this is
    :func:`irc.sparsity.nm_mask`."""
    if s >= 1.0 - n / m - 1e-12:
        return sp.nm_mask(mag, n, m)
    R, C = mag.shape
    g = -(-C // m)
    pad = np.full((R, g * m), np.inf)
    pad[:, :C] = mag
    order = np.argsort(pad.reshape(R, g, m), axis=2, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(m), order.shape), axis=2)
    real = np.minimum(m, C - np.arange(g) * m)                 # columns in each group
    prunable = (rank < (real - np.minimum(n, real))[None, :, None]).reshape(R, g * m)[:, :C]
    cand = np.flatnonzero(prunable)
    k = min(len(cand), int(round(s * mag.size)))
    pick = cand[np.argsort(mag.reshape(-1)[cand], kind="stable")[:k]]
    keep = np.ones(mag.size, bool)
    keep[pick] = False
    return keep.reshape(R, C)


def channel_mask(mag: Array, s: float, criterion: str = "l1") -> Array:
    """Whole rows (output channels) pruned: ``round(s · R)`` of the ``R`` (half
    up, as :mod:`passes.prune_channels` counts; at least one kept), lowest mean
    |w| (``l1``) or RMS (``l2``) first, ties by index."""
    R, C = mag.shape
    scores, _ = sp.block_scores(mag, 1, C, "l2" if criterion == "l2" else "l1")
    k = min(R - 1, int(math.floor(s * R + 0.5)))
    keep = np.ones(R, bool)
    keep[np.argsort(scores.reshape(-1), kind="stable")[:k]] = False
    return np.repeat(keep[:, None], C, axis=1)


# ---------------------------------------------------------------------------------------------
# All in one
# ---------------------------------------------------------------------------------------------

def prune_and_fine_tune(graph: Graph, inputs: Mapping[str, Array], targets: Array, *,
                        sparsity: float | None = None, pattern: str = "unstructured",
                        epochs: int = 3, batch_size: int = 64, begin_step: int | None = None,
                        end_step: int | None = None, frequency: int | None = None,
                        on_step: Callable[[Graph, int], None] | None = None,
                        **options: Any) -> "History":
    """Prune ``graph`` gradually while fine-tuning it with :func:`irc.train.fit`,
    then record the masks in ``graph.attrs["prune"]``; returns fit's History.

    The run has ``T = epochs · ⌊len(samples) / batch_size⌋`` steps.  By default
    the schedule starts at once (``begin_step``: the optimizer's step count, 0
    for a new one), reaches the final sparsity at ``end_step = ⌈2/3 · T⌉``
    (:data:`PRUNE_FRACTION`) and chooses masks ``PRUNE_EVENTS = 16`` times on the
    way (``frequency = ⌊(end − begin) / 16⌋``, at least 1); the last third
    fine-tunes at the final masks.  ``options`` holds :class:`PruneSchedule`'s
    keywords (``n``, ``m``, ``layers``, ``scope``, ``exclude``, ``keep_first``,
    ``keep_last``, ``depthwise``, ``criterion``, ``threshold``,
    ``initial_sparsity``, ``power``) and :func:`irc.train.fit`'s (``optimizer``,
    ``bn``, ``seed``, ``eval_data``, ``progress_label``, ...).  ``on_step`` runs
    after the schedule's."""
    from .train import fit
    known = set(inspect.signature(PruneSchedule).parameters)
    sched_opts = {k: v for k, v in options.items() if k in known}
    fit_opts = {k: v for k, v in options.items() if k not in known}
    samples = len(next(iter(inputs.values()))) if inputs else 0
    total = epochs * (samples // batch_size)
    if total < 1:
        raise ValueError(f"prune_and_fine_tune: {samples} samples in batches of {batch_size} "
                         f"for {epochs} epoch(s) make no training step")
    opt = fit_opts.get("optimizer")
    start = opt.steps if opt is not None else 0
    t0 = start if begin_step is None else begin_step
    t1 = start + math.ceil(PRUNE_FRACTION * total) if end_step is None else end_step
    freq = max(1, (t1 - t0) // PRUNE_EVENTS) if frequency is None else frequency
    schedule = PruneSchedule(sparsity, pattern, begin_step=t0, end_step=t1, frequency=freq,
                             **sched_opts)

    def hook(train: Graph, step: int) -> None:
        schedule(train, step)
        if on_step is not None:
            on_step(train, step)
    hist = fit(graph, inputs, targets, epochs=epochs, batch_size=batch_size, on_step=hook,
               **fit_opts)
    schedule.finish(graph)
    return hist


__all__ = ["PruneSchedule", "PruneEvent", "prune_and_fine_tune", "gradual_nm_mask",
           "channel_mask", "PRUNE_FRACTION", "PRUNE_EVENTS"]
