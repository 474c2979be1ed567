"""Float vs quantized, tensor by tensor: the quantization report and the
statistics bias correction needs.

``quant`` keeps value names: a quantized node's result has the name of the
float value it replaces (conversions get ``.q``/``.dq``, accumulators
``.acc``).  So running both graphs on the same feeds and matching by name
compares each layer's real output — dequantized on the integer side — with
its float counterpart:

* SQNR (dB) = ``10 · log10(Σ f² / Σ (f − q)²)`` over all samples;
* cosine similarity ``Σ f·q / (‖f‖ ‖q‖)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from .interpreter import Interpreter, evaluate
from .ir import Graph, Node, Value
from .progress import progress
from .quant_params import dequantize

Array = np.ndarray


class Recorder(Interpreter):
    """An interpreter that hands chosen values to ``sink(name, array, value)``."""

    def __init__(self, graph: Graph, names: Iterable[str],
                 sink: Callable[[str, Array, Value], None]) -> None:
        super().__init__(graph)
        self.names = set(names)
        self.sink = sink

    def run_node(self, node: Node, args: list[Array]) -> list[Array]:
        out = evaluate(node, args)
        for v, a in zip(node.outputs, out):
            if v.name in self.names:
                self.sink(v.name, a, v)
        return out

    def run(self, inputs: Mapping[str, Any]) -> dict[str, Array]:
        for v in self.graph.inputs:
            if v.name in self.names:
                self.sink(v.name, np.asarray(inputs[v.name]), v)
        return super().run(inputs)


def real_values(a: Array, v: Value) -> Array:
    """float64 real values of ``v``'s array (dequantized when its type is quantized)."""
    return dequantize(a, v.type) if v.type.quant is not None else a.astype(np.float64)


@dataclass
class _Sums:
    ff: float = 0.0
    qq: float = 0.0
    fq: float = 0.0
    ee: float = 0.0
    max_abs: float = 0.0


@dataclass
class LayerError:
    """How far one quantized tensor is from its float counterpart."""

    name: str
    op: str
    sqnr_db: float
    cosine: float
    max_abs_error: float

    def row(self) -> list[str]:
        return [self.name, self.op, f"{self.sqnr_db:.1f}", f"{self.cosine:.5f}",
                f"{self.max_abs_error:.4g}"]


def compared_values(float_graph: Graph, quant_graph: Graph) -> dict[str, str]:
    """Names of the float graph's values whose quantized counterpart is an
    integer tensor (what quantization changed), mapped to the producing op."""
    qvals = {v.name: v for v in quant_graph.values()}
    out = {}
    for v in float_graph.values():
        q = qvals.get(v.name)
        if q is not None and v.producer is not None and v.producer.op != "const" \
                and q.type.quant is not None and v.type.dtype.is_float:
            out[v.name] = q.producer.op if q.producer is not None else "input"
    return out


def compare(float_graph: Graph, quant_graph: Graph, feeds: Iterable[Mapping[str, Array]],
            names: Iterable[str] | None = None, *, label: str = "compare") -> list[LayerError]:
    """Per-tensor SQNR and cosine of ``quant_graph`` against ``float_graph`` over
    ``feeds``, worst (lowest SQNR) first."""
    ops = compared_values(float_graph, quant_graph)
    chosen = list(ops) if names is None else [n for n in names if n in ops]
    sums = {n: _Sums() for n in chosen}
    pending: dict[str, Array] = {}

    def keep_float(name: str, a: Array, v: Value) -> None:
        pending[name] = a.astype(np.float64)

    def against(name: str, a: Array, v: Value) -> None:
        f, q = pending.pop(name), real_values(a, v)
        s = sums[name]
        s.ff += float(np.sum(f * f))
        s.qq += float(np.sum(q * q))
        s.fq += float(np.sum(f * q))
        e = f - q
        s.ee += float(np.sum(e * e))
        s.max_abs = max(s.max_abs, float(np.max(np.abs(e), initial=0.0)))

    fr, qr = Recorder(float_graph, chosen, keep_float), Recorder(quant_graph, chosen, against)
    feeds = list(feeds)
    for feed in progress(feeds, label, len(feeds), unit="samples"):
        fr.run(feed)
        qr.run(feed)
    rows = []
    for n in chosen:
        s = sums[n]
        sqnr = math.inf if s.ee == 0 else 10 * math.log10(max(s.ff, 1e-300) / s.ee)
        cos = s.fq / math.sqrt(s.ff * s.qq) if s.ff > 0 and s.qq > 0 else float(s.ff == s.qq)
        rows.append(LayerError(n, ops[n], sqnr, cos, s.max_abs))
    rows.sort(key=lambda r: r.sqnr_db)
    return rows


@dataclass
class _Mean:
    total: Array | None = None
    count: int = 0


def channel_means(graph: Graph, feeds: Iterable[Mapping[str, Array]],
                  axes: Mapping[str, int], *, label: str = "statistics") -> dict[str, Array]:
    """Mean real value per channel (index of ``axes[name]``) of each named value."""
    acc: dict[str, _Mean] = {n: _Mean() for n in axes}

    def sink(name: str, a: Array, v: Value) -> None:
        r = real_values(a, v)
        ax = axes[name] % r.ndim
        red = tuple(i for i in range(r.ndim) if i != ax)
        m = acc[name]
        s = r.sum(axis=red)
        m.total = s if m.total is None else m.total + s
        m.count += r.size // r.shape[ax]

    rec = Recorder(graph, axes, sink)
    feeds = list(feeds)
    for feed in progress(feeds, label, len(feeds), unit="samples"):
        rec.run(feed)
    return {n: m.total / m.count for n, m in acc.items() if m.total is not None}


def quantization_report(graph: Graph, passes: str = "quant", calib_data: Any = None,
                        eval_data: Any = None, *, num_samples: int | None = None
                        ) -> tuple[Graph, list[LayerError]]:
    """Quantize ``graph`` with ``passes`` (which must include ``quant``) and compare
    every quantized tensor with its float counterpart on ``eval_data`` (default:
    the calibration data): ``(quantized graph, rows worst first)``."""
    from .calib_data import calib_feeds
    from .errors import InputError
    from .pass_manager import PassContext, run_pipeline
    ctx = PassContext(calib_data=calib_data)
    q = run_pipeline(graph.copy(), passes, ctx=ctx)
    if ctx.float_reference is None:
        raise InputError(f"the pipeline '{passes}' does not quantize (add quant)")
    feeds = calib_feeds(eval_data if eval_data is not None else calib_data, graph)
    return q, compare(ctx.float_reference, q, feeds.head(num_samples), label="report")


def format_report(rows: list[LayerError], limit: int | None = None) -> str:
    """The report as an aligned text table."""
    head = ["tensor", "quantized op", "SQNR dB", "cosine", "max |err|"]
    body = [r.row() for r in rows[:limit]]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(line, widths)))
             for line in [head] + body]
    return "\n".join(lines)


__all__ = ["LayerError", "Recorder", "channel_means", "compare", "compared_values",
           "format_report", "quantization_report", "real_values"]
