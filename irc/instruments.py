"""Pass instruments: hooks the pass manager calls around every pass.

An instrument is any object with some of these methods (all optional)::

    before_pipeline(passes, graph, ctx)        # passes: the top-level Pass list
    before_pass(pass_, graph, ctx)             # ctx.current_pass is the label ("fold#2")
    after_pass(pass_, graph, ctx, seconds)     # graph: what the pass returned
    after_pipeline(graph, ctx)                 # only when every pass succeeded

Hooks run in the order the instruments are given.  The built-ins give the CLI's
``--print-ir-after``, ``--time-passes``, ``--verify-each`` and ``--statistics``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence, TextIO

from .errors import PassError, PipelineError, VerifyError

if TYPE_CHECKING:
    from .ir import Graph
    from .pass_base import Pass, PassContext

__all__ = ["Instrument", "PrintIRAfter", "TimePasses", "VerifyEach", "Statistics",
           "pipeline_names"]


class Instrument:
    """Optional base class documenting the hooks; every hook does nothing."""

    def before_pipeline(self, passes: Sequence["Pass"], graph: "Graph",
                        ctx: "PassContext") -> None:
        pass

    def before_pass(self, pass_: "Pass", graph: "Graph", ctx: "PassContext") -> None:
        pass

    def after_pass(self, pass_: "Pass", graph: "Graph", ctx: "PassContext",
                   seconds: float) -> None:
        pass

    def after_pipeline(self, graph: "Graph", ctx: "PassContext") -> None:
        pass


def pipeline_names(passes: Iterable["Pass"]) -> list[str]:
    """Every pass name in a pipeline, inner passes of ``fixpoint`` included, in order."""
    from .pass_base import Fixpoint
    out: list[str] = []
    for p in passes:
        if isinstance(p, Fixpoint):
            out.extend(pipeline_names(p.passes))
        else:
            out.append(p.name)
    return out


def _out(stream: TextIO | None) -> TextIO:
    return stream if stream is not None else sys.stderr


class PrintIRAfter(Instrument):
    """Print the IR after the named passes (or ``"all"``)::

        // ----- IR after fuse-bn -----
        graph @main(...) { ... }

    A name matches every run of that pass; ``fold#2`` matches only the second
    ``fold`` in the pipeline.  Naming a pass the pipeline does not contain is a
    :class:`PipelineError`.
    """

    def __init__(self, names: Iterable[str] | str = "all", stream: TextIO | None = None,
                 printer: Callable[["Graph"], str] | None = None) -> None:
        if isinstance(names, str):
            names = [names]
        parts = {n.strip() for entry in names for n in entry.split(",") if n.strip()}
        self.names: set[str] | str = "all" if "all" in parts else parts
        self.stream = stream
        self._printer = printer

    def before_pipeline(self, passes: Sequence["Pass"], graph: "Graph",
                        ctx: "PassContext") -> None:
        if self.names == "all":
            return
        present = pipeline_names(passes)
        for n in sorted(self.names):
            base = n.split("#", 1)[0]
            if base not in present:
                raise PipelineError(f"--print-ir-after: pass '{n}' is not in the pipeline "
                                    f"({', '.join(present) or 'empty'})")

    def after_pass(self, pass_: "Pass", graph: "Graph", ctx: "PassContext",
                   seconds: float) -> None:
        label = ctx.current_pass or pass_.name
        if self.names != "all" and pass_.name not in self.names and label not in self.names:
            return
        printer = self._printer
        if printer is None:
            from .printer import print_graph
            printer = print_graph
        text = printer(graph)
        out = _out(self.stream)
        out.write(f"// ----- IR after {label} -----\n")
        out.write(text if text.endswith("\n") else text + "\n")


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
    return lines


class TimePasses(Instrument):
    """Wall time per pass, printed as a table after the pipeline (in run order;
    a pass repeated by ``fixpoint`` is summed under one label)::

        ===== pass timing =====
        pass      wall (ms)       %
        fold          1.203   24.1%
        dce           0.311    6.2%
        total         4.990  100.0%
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.timings: dict[str, float] = {}

    def before_pipeline(self, passes: Sequence["Pass"], graph: "Graph",
                        ctx: "PassContext") -> None:
        self.timings = {}

    def after_pass(self, pass_: "Pass", graph: "Graph", ctx: "PassContext",
                   seconds: float) -> None:
        label = ctx.current_pass or pass_.name
        self.timings[label] = self.timings.get(label, 0.0) + seconds

    def report(self) -> str:
        total = sum(self.timings.values())
        rows = [["pass", "wall (ms)", "%"]]
        for label, s in self.timings.items():
            share = 100.0 * s / total if total > 0 else 0.0
            rows.append([label, f"{s * 1e3:.3f}", f"{share:.1f}%"])
        rows.append(["total", f"{total * 1e3:.3f}", "100.0%"])
        return "\n".join(["===== pass timing ====="] + _table(rows, {1, 2})) + "\n"

    def after_pipeline(self, graph: "Graph", ctx: "PassContext") -> None:
        _out(self.stream).write(self.report())


class VerifyEach(Instrument):
    """Verify the IR before the first pass and after every pass.  A problem
    becomes a :class:`PassError`: ``IR after pass 'fuse-bn' is invalid: ...``."""

    def __init__(self, verify: Callable[["Graph"], None] | None = None) -> None:
        self._verify = verify

    def _check(self, graph: "Graph") -> None:
        if self._verify is not None:
            self._verify(graph)
        else:
            from .verifier import verify
            verify(graph)

    def before_pipeline(self, passes: Sequence["Pass"], graph: "Graph",
                        ctx: "PassContext") -> None:
        try:
            self._check(graph)
        except VerifyError as e:
            raise PassError(f"IR given to the pipeline is invalid (before any pass ran): "
                            f"{e}") from e

    def after_pass(self, pass_: "Pass", graph: "Graph", ctx: "PassContext",
                   seconds: float) -> None:
        try:
            self._check(graph)
        except VerifyError as e:
            label = ctx.current_pass or pass_.name
            raise PassError(f"IR after pass '{label}' is invalid: {e}") from e


class Statistics(Instrument):
    """Collect the per-pass counters (``ctx.count``) and print them as a table
    after the pipeline when given a stream (``stream=None`` prints to stderr;
    ``show=False`` only collects into ``.stats``)::

        ===== pass statistics =====
        pass     statistic  value
        fuse-bn  fused          2
    """

    def __init__(self, stream: TextIO | None = None, show: bool = True) -> None:
        self.stream = stream
        self.show = show
        self.stats: dict[str, dict[str, Any]] = {}

    def after_pipeline(self, graph: "Graph", ctx: "PassContext") -> None:
        self.stats = {k: dict(v) for k, v in ctx.stats.items()}
        if self.show:
            _out(self.stream).write(self.report())

    def report(self) -> str:
        rows = [["pass", "statistic", "value"]]
        for label, counters in self.stats.items():
            for key, v in counters.items():
                rows.append([label, key, f"{v:g}" if isinstance(v, float) else str(v)])
        if len(rows) == 1:
            return "===== pass statistics =====\n(no statistics recorded)\n"
        return "\n".join(["===== pass statistics ====="] + _table(rows, {2})) + "\n"
