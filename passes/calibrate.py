"""``calibrate``: measure the ranges of a float graph's activations.

1. Insert a ``calib.observe`` node on every tensor that may be quantized: each
   graph input and each float result of a non-constant node.
2. Run the reference interpreter over the calibration feeds
   (``PassContext.calib_data``; see :mod:`irc.calib_data`), feeding every
   observed array to its observer (:mod:`irc.calibration`: ``minmax``, ``ema``,
   ``percentile``, ``kl``, ``js``, ``mse``; histograms are streaming, so memory
   does not grow with the number of samples).  A progress bar shows samples done.
3. Remove the observers and record each tensor's range on the graph::

       graph.attrs["calibration"] = {"method": "kl", "samples": 200,
                                     "ranges": {"conv1": [lo, hi], ...}}

   which the text form keeps, so ``calibrate`` and ``quant`` can run in separate
   ``irc compile`` invocations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Optional

import numpy as np

from irc import calibration
from irc.calib_data import calib_feeds
from irc.interpreter import Interpreter, evaluate
from irc.ir import Graph, Node, Value
from irc.pass_manager import Pass, PassContext, register_pass
from irc.progress import progress

#: Where calibration results live on the graph.
CALIBRATION_ATTR = "calibration"

#: What calibrate and quant run first (``prepare = true``): constants folded,
#: batch norms and activations fused into the ops before them, so ranges are
#: measured on — and integer ops made of — the graph that will actually run.
PREPARE = "fold,noop-elim,fuse-bn,fuse-gelu,fuse-matmul-bias,fuse-activation,dce"


def prepare(graph: Graph, ctx: PassContext) -> Graph:
    """Run :data:`PREPARE` over ``graph`` (statistics go to the running pass)."""
    from irc.pipeline import build_pipeline
    for p in build_pipeline(PREPARE):
        graph = p.run(graph, ctx)
    return graph

#: A histogram method needs this many observed values to search a distribution;
#: below it (a small tensor over few samples, such as logits) the range is min/max.
MIN_HISTOGRAM_VALUES = 4096

Method = Literal["minmax", "ema", "percentile", "kl", "js", "mse"]


def observed_values(graph: Graph) -> list[Value]:
    """The tensors calibration watches: float graph inputs and float results of
    non-constant nodes."""
    vals = [v for v in graph.inputs if v.type.dtype.is_float]
    for n in graph.nodes:
        if n.op != "const":
            vals.extend(v for v in n.outputs if v.type.dtype.is_float)
    return vals


class _Observing(Interpreter):
    def __init__(self, graph: Graph, observers: dict[str, calibration.Observer]) -> None:
        super().__init__(graph)
        self.observers = observers
        self.unbounded: set[str] = set()     # tensors that held an infinity

    def run_node(self, node: Node, args: list[np.ndarray]) -> list[np.ndarray]:
        if node.op == "calib.observe":
            x, name = args[0], node.attrs["tensor"]
            if name not in self.unbounded and np.isinf(x).any():
                self.unbounded.add(name)
            self.observers[name].observe(x if x.dtype == np.float32 else x.astype(np.float32))
            return [x]
        return evaluate(node, args)


@dataclass
class Calibration:
    """What a calibration run measured."""

    ranges: dict[str, tuple[float, float]]   # value name -> (lo, hi)
    samples: int
    #: tensors that held ±inf (e.g. an attention mask's -inf): no finite range
    #: represents them, so they get none and stay float
    unbounded: list[str]

    def record(self, graph: Graph, method: str) -> None:
        """Store on ``graph.attrs["calibration"]`` (what :func:`recorded_ranges` reads)."""
        graph.attrs[CALIBRATION_ATTR] = {
            "method": method, "samples": self.samples,
            "ranges": {k: (lo, hi) for k, (lo, hi) in self.ranges.items()},
            **({"unbounded": tuple(self.unbounded)} if self.unbounded else {})}


def calibrate_ranges(graph: Graph, data: Any, method: str = "minmax", *,
                     num_samples: int | None = None, label: str = "calibrate",
                     output_method: str | None = "minmax",
                     **observer_options: Any) -> Calibration:
    """Run ``graph`` over ``data`` and measure a range for each observed tensor;
    ``graph`` is left as it was.  Graph outputs use ``output_method`` (None: the
    same ``method``): clipping a model's logits changes its answer."""
    feeds = calib_feeds(data, graph).head(num_samples)
    watched = observed_values(graph)
    outputs = {id(v) for v in graph.outputs}
    observers = {v.name: calibration.make_observer(
        output_method if output_method and id(v) in outputs else method, **observer_options)
        for v in watched}
    # each observer runs right after its tensor's producer, so values still die early;
    # their results are unused, and the observers are removed again below
    observe = {id(v): graph.make_node("calib.observe", [v], {"tensor": v.name})
               for v in watched}
    saved = list(graph.nodes)
    order = [observe[id(v)] for v in graph.inputs if id(v) in observe]
    for n in saved:
        order.append(n)
        order.extend(observe[id(v)] for v in n.outputs if id(v) in observe)
    graph.nodes = order
    inserted = list(observe.values())
    try:
        runner = _Observing(graph, observers)
        for feed in progress(feeds, label, len(feeds), unit="samples"):
            runner.run(feed)
    finally:
        graph.nodes = saved
        for node in inserted:
            graph.forget(node)
    ranges = {}
    for name, obs in observers.items():
        if not obs.count or name in runner.unbounded:
            continue
        if not obs.seen:                  # only NaNs: nothing to quantize against
            runner.unbounded.add(name)
            continue
        if isinstance(obs, calibration.HistogramObserver) and obs.seen < MIN_HISTOGRAM_VALUES:
            # too few values for a distribution search (e.g. the logits of a few samples)
            lo, hi = min(obs.hist.lo, 0.0), max(obs.hist.hi, 0.0)
        else:
            lo, hi = obs.range()
        ranges[name] = (float(lo), float(hi))
    return Calibration(ranges, len(feeds), sorted(runner.unbounded))


def recorded_ranges(graph: Graph) -> dict[str, tuple[float, float]]:
    """The ranges a ``calibrate`` run recorded on ``graph`` (empty if none)."""
    cal = graph.attrs.get(CALIBRATION_ATTR) or {}
    return {k: (float(v[0]), float(v[1])) for k, v in (cal.get("ranges") or {}).items()}


@register_pass
@dataclass(frozen=True)
class Calibrate(Pass):
    """Measure activation ranges over calibration data (--calib-data) and record them."""

    name: ClassVar[str] = "calibrate"

    method: Method = field(default="minmax", metadata={
        "doc": "range estimator: minmax, ema (moving-average min/max), percentile, "
               "kl (TensorRT entropy), js (Jensen-Shannon), mse"})
    percentile: float = field(default=99.99, metadata={"doc": "percentile method: the "
                                                       "percentile kept"})
    bits: int = field(default=8, metadata={"doc": "bit width the kl/js/mse searches assume"})
    symmetric: bool = field(default=False, metadata={"doc": "symmetric ranges [-a, a]"})
    num_samples: Optional[int] = field(default=None, metadata={
        "doc": "use at most this many calibration feeds (none = all)"})
    prepare: bool = field(default=True, metadata={
        "doc": "first fold constants and fuse batch norms/activations (" + PREPARE + ")"})
    outputs_minmax: bool = field(default=True, metadata={
        "doc": "graph outputs (logits) keep their full min/max range whatever the method"})

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        if self.prepare:
            graph = prepare(graph, ctx)
        cal = calibrate_ranges(graph, ctx.calib_data, self.method,
                                     output_method="minmax" if self.outputs_minmax else None,
                                     num_samples=self.num_samples, bits=self.bits,
                                     symmetric=self.symmetric, percentile=self.percentile)
        cal.record(graph, self.method)
        ctx.count("tensors", len(cal.ranges))
        ctx.count("unbounded tensors", len(cal.unbounded), modified=False)
        ctx.count("samples", cal.samples, modified=False)
        return graph
