"""Pruning sensitivity: how much each layer tolerates, and a per-layer proposal.

For each prunable layer in scope and each sparsity of a sweep (default
0.3 … 0.95), prune *only that layer* (one-shot, the chosen pattern) and measure
the model on evaluation data.  The metric, in points (0–100):

* ``accuracy`` — top-1 accuracy against the ``labels`` array of the data;
* ``agreement`` — no labels, classifier output (last axis > 1): how often the
  pruned model's top-1 equals the unpruned model's;
* ``cosine`` — any other output: 100 · cosine similarity of all outputs with
  the unpruned model's.

The proposal meets an accuracy budget (points the metric may drop):

1. per layer, the largest swept sparsity whose single-layer drop ≤ budget
   (0 if none);
2. prune every layer at its proposal together and measure; while the joint drop
   exceeds the budget, back off the layer with the largest proposed sparsity
   (ties: the one whose own drop there is largest) to the next lower swept
   sparsity that was within budget alone (or 0), and measure again.

Single-layer drops do not add up exactly, which is why step 2 checks jointly.
The result prints as a table and as a ``prune{...}`` pipeline to paste
(``irc report MODEL --sensitivity --eval-data F``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from . import sparsity as sp
from .errors import InputError
from .interpreter import Interpreter
from .ir import Graph
from .progress import progress
from .quant_compare import real_values

Array = np.ndarray

#: The sparsities swept by default.
DEFAULT_SPARSITIES = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)

METRICS = {
    "accuracy": "top-1 accuracy (%) against the data's labels",
    "agreement": "top-1 agreement (%) with the unpruned model (no labels in the data)",
    "cosine": "100 x cosine similarity with the unpruned model's output (not a classifier)",
}


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------

def load_eval_data(data: Any, graph: Graph, labels: Array | None = None,
                   num_samples: int | None = None) -> tuple[list[dict[str, Array]], Array | None]:
    """Feeds of the model's batch size from ``data`` (a path to .npz/.npy, a
    dict of stacked arrays, ...: :func:`irc.calib_data.calib_feeds`), and the
    labels: ``labels``, or the ``labels`` array of a dict/.npz, cut to the
    samples the feeds hold."""
    from .calib_data import calib_feeds
    if isinstance(data, (str, Path)) and Path(data).suffix == ".npz":
        if not Path(data).exists():
            raise InputError(f"{data}: no such file")
        with np.load(data, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    if isinstance(data, Mapping) and "labels" in data:
        data = dict(data)
        found = np.asarray(data.pop("labels"))
        labels = found if labels is None else labels
    feeds = list(calib_feeds(data, graph).head(num_samples))
    if labels is not None:
        batch = max(graph.inputs[0].type.shape[0], 1) if graph.inputs[0].type.shape else 1
        need = len(feeds) * batch
        labels = np.asarray(labels).reshape(-1)
        if labels.size < need:
            raise InputError(f"the evaluation data has {labels.size} labels for {need} samples")
        labels = labels[:need]
    return feeds, labels


class Evaluator:
    """Scores graphs against the unpruned ``graph`` on fixed feeds (see the
    module docstring for the metric)."""

    def __init__(self, graph: Graph, feeds: Sequence[Mapping[str, Array]],
                 labels: Array | None = None) -> None:
        if not feeds:
            raise InputError("no evaluation samples")
        self.feeds = list(feeds)
        self.labels = labels
        self.output = graph.outputs[0].name
        ref = self.outputs(graph)
        classifier = ref.ndim >= 2 and ref.shape[-1] > 1
        if labels is not None and not classifier:
            raise InputError(f"the data has labels, but the model's output {self.output} "
                             f"{list(ref.shape)} is not a classifier's [batch, classes]")
        self.metric = "accuracy" if labels is not None else \
            "agreement" if classifier else "cosine"
        self.reference = ref
        self.evaluations = 0
        self.baseline = self.score_outputs(ref)

    @property
    def samples(self) -> int:
        return int(self.reference.shape[0]) if self.reference.ndim else 1

    def outputs(self, graph: Graph) -> Array:
        """The first output over all feeds, real-valued, stacked on axis 0."""
        interp = Interpreter(graph)
        v = graph.outputs[0]
        out = [real_values(np.asarray(interp.run(f)[v.name]), v) for f in self.feeds]
        return np.concatenate([o.reshape((-1,) + o.shape[1:]) if o.ndim else o[None]
                               for o in out])

    def score_outputs(self, out: Array) -> float:
        if self.metric == "cosine":
            a, b = self.reference.reshape(-1), out.reshape(-1)
            na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
            return 100.0 if na == nb == 0 else 100.0 * float(a @ b) / (na * nb) \
                if na and nb else 0.0
        top = out.reshape(-1, out.shape[-1]).argmax(axis=1)
        want = self.labels if self.metric == "accuracy" else \
            self.reference.reshape(-1, out.shape[-1]).argmax(axis=1)
        return 100.0 * float(np.mean(top == np.asarray(want).reshape(-1)))

    def score(self, graph: Graph) -> float:
        self.evaluations += 1
        return self.score_outputs(self.outputs(graph))


def pruned_copy(graph: Graph, plan: Mapping[str, float], pattern: str | sp.Pattern,
                criterion: sp.Criterion = "l1") -> Graph:
    """A copy of ``graph`` with each weight named in ``plan`` pruned to its
    sparsity (0: left dense)."""
    p = sp.parse_pattern(pattern)
    g = graph.copy()
    layers = {layer.weight.name: layer for layer in sp.prunable_layers(g)}
    chosen = [(layers[w], s) for w, s in plan.items() if s > 0]
    if p.kind == "channel":
        for layer, s in chosen:
            sp.prune_channels(g, s, [layer.node], criterion)
    else:
        sp.prune_weights(g, chosen, p, criterion)
    return g


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------

@dataclass
class LayerSweep:
    """One layer's row: its metric at each swept sparsity, and the proposal."""

    layer: str
    weight: str
    op: str
    params: int
    scores: dict[float, float] = field(default_factory=dict)
    proposed: float = 0.0


@dataclass
class SensitivityReport:
    """What :func:`analyze` found; :meth:`table`, :meth:`pipeline`, :meth:`plot`."""

    metric: str
    baseline: float
    pattern: str
    sparsities: tuple[float, ...]
    budget: float
    samples: int
    layers: list[LayerSweep]
    joint: float | None = None         # the metric with every proposal applied
    backoffs: int = 0
    evaluations: int = 0
    criterion: str = "l1"
    prefix: str = ""                   # passes run before the sweep (e.g. calibrate,quant)

    @property
    def joint_drop(self) -> float | None:
        return None if self.joint is None else self.baseline - self.joint

    def proposal(self) -> dict[str, float]:
        """``{weight name: proposed sparsity}`` (0 included)."""
        return {r.weight: r.proposed for r in self.layers}

    def pipeline(self) -> str:
        """The ``prune{...}`` pipeline (after :attr:`prefix`) applying the
        proposal: named layers only (``sparsity=0`` leaves the rest dense)."""
        from .passes.prune import Prune
        p = sp.parse_pattern(self.pattern)
        kw: dict[str, Any] = {"pattern": "nm", "n": p.n, "m": p.m} if p.kind == "nm" \
            else {"pattern": str(p)}
        named = tuple(f"{r.weight}:{_short(r.proposed)}" for r in self.layers if r.proposed > 0)
        text = str(Prune(sparsity=0.0, layers=named, criterion=self.criterion, **kw)) \
            if named else ""
        return ",".join(x for x in (self.prefix, text) if x)

    def table(self) -> str:
        """Layers × sparsities (metric values; ``*`` = drop over the budget)."""
        head = ["layer", "params"] + [f"{s:g}" for s in self.sparsities] + ["proposed"]
        rows = []
        for r in self.layers:
            cells = []
            for s in self.sparsities:
                v = r.scores.get(s)
                mark = "*" if v is not None and self.baseline - v > self.budget + 1e-9 else " "
                cells.append("-" if v is None else f"{v:.1f}{mark}")
            rows.append([r.layer, str(r.params)] + cells + [_short(r.proposed)])
        widths = [max(len(x) for x in col) for col in zip(head, *rows)]
        return "\n".join("  ".join(x.ljust(w) if i == 0 else x.rjust(w)
                                   for i, (x, w) in enumerate(zip(line, widths)))
                         for line in [head] + rows)

    def summary(self) -> str:
        """The table with a header and the verdict, as ``irc report`` prints it."""
        lines = [f"pruning sensitivity, pattern {self.pattern}, {self.samples} samples; "
                 f"metric: {METRICS[self.metric]}",
                 f"unpruned: {self.baseline:.2f}; budget: a drop of at most {self.budget:g} "
                 f"point(s) (* = over budget for that layer alone)", "", self.table(), ""]
        if self.joint is not None:
            pruned = sum(r.params * r.proposed for r in self.layers)
            total = sum(r.params for r in self.layers)
            lines.append(f"proposed together: {self.joint:.2f} (drop {self.joint_drop:.2f}) "
                         f"after {self.backoffs} back-off(s); {pruned:.0f} of {total} "
                         f"weights in these layers pruned")
        pipe = self.pipeline()
        lines.append(f"pipeline: {pipe}" if pipe else
                     "pipeline: none (no layer can be pruned within the budget)")
        return "\n".join(lines)

    def plot(self, path: str | Path) -> None:
        """Metric vs sparsity per layer, the budget line dashed, to ``path``
        (PNG, ...); :class:`InputError` when matplotlib is missing."""
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            raise InputError("--plot needs matplotlib (pip install matplotlib); the table "
                             "above has the same numbers") from None
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for r in self.layers:
            xs = [0.0] + [s for s in self.sparsities if s in r.scores]
            ys = [self.baseline] + [r.scores[s] for s in xs[1:]]
            ax.plot(xs, ys, marker="o", label=r.layer)
        ax.axhline(self.baseline - self.budget, linestyle="--", color="gray",
                   label=f"budget (-{self.budget:g})")
        ax.set_xlabel(f"sparsity of one layer ({self.pattern})")
        ax.set_ylabel(METRICS[self.metric].split(" (")[0] + " (points)")
        ax.set_title("pruning sensitivity")
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(str(path))
        plt.close(fig)


def _short(s: float) -> str:
    return f"{s:g}"


# ---------------------------------------------------------------------------
# Sweep and proposal
# ---------------------------------------------------------------------------

def analyze(graph: Graph, eval_data: Any, *, budget: float = 1.0,
            pattern: str = "unstructured", n: int = 2, m: int = 4,
            sparsities: Iterable[float] = DEFAULT_SPARSITIES, criterion: sp.Criterion = "l1",
            scope: Sequence[str] = (), exclude: Sequence[str] = (), keep_first: bool = True,
            keep_last: bool = True, depthwise: bool = False, labels: Array | None = None,
            num_samples: int | None = None, prefix: str = "",
            on_step: Callable[[], None] | None = None) -> SensitivityReport:
    """Sweep each in-scope layer's sparsity alone on ``eval_data`` and propose
    per-layer sparsities whose joint drop is within ``budget`` points (module
    docstring).  Layer selection is :func:`irc.sparsity.select_layers`'s."""
    p = sp.parse_pattern(pattern, n, m)
    levels = (p.fixed_sparsity,) if p.fixed_sparsity is not None else \
        tuple(sorted({sp.check_sparsity(float(s)) for s in sparsities} - {0.0}))
    if not levels:
        raise InputError("no sparsities to sweep")
    if budget < 0:
        raise InputError(f"the budget is a drop in points (>= 0), got {budget}")
    feeds, labels = load_eval_data(eval_data, graph, labels, num_samples)
    ev = Evaluator(graph, feeds, labels)
    layers = sp.select_layers(graph, p, scope=scope, exclude=exclude, keep_first=keep_first,
                              keep_last=keep_last, depthwise=depthwise)
    if not layers:
        raise InputError("no prunable layer in scope (conv2d, matmul, gemm with constant "
                         "weights; the first and last are kept unless told otherwise)")
    rows = [LayerSweep(layer.name, layer.weight.name, layer.node.op, layer.size)
            for layer in layers]
    grid = [(row, s) for row in rows for s in levels]
    for row, s in progress(grid, "sensitivity", len(grid), unit="runs"):
        row.scores[s] = ev.score(pruned_copy(graph, {row.weight: s}, p, criterion))
        if on_step is not None:
            on_step()
    report = SensitivityReport(ev.metric, ev.baseline, str(p), levels, budget, ev.samples, rows,
                               criterion=criterion, prefix=prefix)
    _propose(report, graph, ev, p, criterion)
    report.evaluations = ev.evaluations
    return report


def _propose(report: SensitivityReport, graph: Graph, ev: Evaluator, p: sp.Pattern,
             criterion: sp.Criterion) -> None:
    """Fill ``proposed`` (largest single-layer sparsity within budget, then
    joint back-off), ``joint`` and ``backoffs``."""
    ok = report.baseline - report.budget - 1e-9
    for row in report.layers:
        within = [s for s in report.sparsities if row.scores[s] >= ok]
        row.proposed = max(within, default=0.0)
    while True:
        plan = report.proposal()
        if not any(plan.values()):
            report.joint = report.baseline
            return
        report.joint = ev.score(pruned_copy(graph, plan, p, criterion))
        if report.joint >= ok:
            return
        worst = max((r for r in report.layers if r.proposed > 0),
                    key=lambda r: (r.proposed, report.baseline - r.scores[r.proposed]))
        worst.proposed = max((s for s in report.sparsities
                              if s < worst.proposed and worst.scores[s] >= ok), default=0.0)
        report.backoffs += 1


__all__ = ["DEFAULT_SPARSITIES", "METRICS", "Evaluator", "LayerSweep", "SensitivityReport",
           "analyze", "load_eval_data", "pruned_copy"]
