"""The pass manager: run a pipeline of passes with instruments.

This module is the one import site for pass authors and drivers::

    from irc.pass_manager import (Pass, PassContext, register_pass, get_pass, all_passes,
                                  parse_pipeline, build_pipeline, PassManager, run_pipeline)

For each pass the manager calls ``requires``, ``run`` and ``ensures``, times
them, and calls every instrument's hooks around them.  Any exception a pass
raises becomes a :class:`~irc.errors.PassError` naming the pass and the passes
that ran before it (``pass 'fuse-bn' failed after [fold, dce]: ...``), with the
original exception as ``__cause__``; irc's own errors keep their message, other
exceptions (bugs) add their type name.

Passes may mutate the graph they are given; drivers that need the input intact
copy it first (``irc.compile`` does).
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import Any, Iterable, Sequence, TextIO

from .errors import IrcError, PassError
from .instruments import Instrument, PrintIRAfter, Statistics, TimePasses, VerifyEach
from .ir import Graph
from .pass_base import (Fixpoint, Pass, PassContext, PassPostconditionError,
                        PassPreconditionError, all_passes, describe_pass, fixpoint, get_pass,
                        register_pass, registry_snapshot, unregister_pass)
from .pass_options import PassOption
from .pipeline import PipelineSpec, build_pipeline, format_pipeline, parse_pipeline

__all__ = [
    "Pass", "PassContext", "PassOption", "PassPreconditionError", "PassPostconditionError",
    "register_pass", "unregister_pass", "get_pass", "all_passes", "describe_pass",
    "describe_passes", "registry_snapshot", "parse_pipeline", "build_pipeline",
    "format_pipeline", "PassManager", "run_pipeline", "Fixpoint", "fixpoint", "Instrument",
    "PrintIRAfter", "TimePasses", "VerifyEach", "Statistics",
]

logger = logging.getLogger("irc.passes")

#: how many completed passes a failure message lists before eliding the oldest
_HISTORY_SHOWN = 12


@dataclass
class _Step:
    """A pass at one position of the pipeline, with its unique label."""

    pass_: Pass
    label: str
    children: list["_Step"] | None = None   # the inner steps of a Fixpoint


def _plan(passes: Sequence[Pass]) -> list[_Step]:
    """Label every position: the pass name, or ``name#k`` when the name occurs
    more than once anywhere in the pipeline (fixpoint bodies included)."""
    counts: dict[str, int] = {}

    def count(ps: Sequence[Pass]) -> None:
        for p in ps:
            counts[p.name] = counts.get(p.name, 0) + 1
            if isinstance(p, Fixpoint):
                count(p.passes)

    count(passes)
    seen: dict[str, int] = {}

    def label(ps: Sequence[Pass]) -> list[_Step]:
        out = []
        for p in ps:
            seen[p.name] = seen.get(p.name, 0) + 1
            lab = p.name if counts[p.name] == 1 else f"{p.name}#{seen[p.name]}"
            kids = label(p.passes) if isinstance(p, Fixpoint) else None
            out.append(_Step(p, lab, kids))
        return out

    return label(passes)


class PassManager:
    """Runs ``passes`` in order over a graph.

    ``instruments`` get the hooks described in :mod:`irc.instruments`;
    ``verify_each=True`` adds a :class:`VerifyEach` (after the other instruments,
    so ``--print-ir-after`` still shows an invalid graph).  After :meth:`run`,
    ``history`` lists the labels of the passes that completed, in order.
    """

    def __init__(self, passes: PipelineSpec, instruments: Iterable[Any] = (),
                 verify_each: bool = False) -> None:
        self.passes: list[Pass] = build_pipeline(passes)
        self.instruments: list[Any] = list(instruments)
        if verify_each and not any(isinstance(i, VerifyEach) for i in self.instruments):
            self.instruments.append(VerifyEach())
        self.history: list[str] = []
        #: the context's per-pass statistics after :meth:`run`
        self.stats: dict[str, dict[str, int | float]] = {}

    def __str__(self) -> str:
        return format_pipeline(self.passes)

    def __repr__(self) -> str:
        return f"PassManager({format_pipeline(self.passes)!r})"

    # -- running ---------------------------------------------------------------------
    def run(self, graph: Graph, ctx: PassContext | None = None) -> Graph:
        """Run the pipeline; returns the resulting graph (``graph`` may be mutated)."""
        ctx = ctx if ctx is not None else PassContext()
        self.history = []
        self.stats = ctx.stats
        steps = _plan(self.passes)
        self._hook("before_pipeline", self.passes, graph, ctx)
        graph, changed = self._run_steps(steps, graph, ctx)
        ctx.modified = changed
        self._hook("after_pipeline", graph, ctx)
        return graph

    def _hook(self, name: str, *args: Any) -> None:
        for inst in self.instruments:
            fn = getattr(inst, name, None)
            if fn is not None:
                fn(*args)

    def _run_steps(self, steps: list[_Step], graph: Graph, ctx: PassContext) -> tuple[Graph, bool]:
        changed = False
        for step in steps:
            if step.children is not None:
                graph, modified = self._run_fixpoint(step, graph, ctx)
            else:
                graph, modified = self._run_pass(step, graph, ctx)
            changed = changed or modified
        return graph, changed

    def _run_fixpoint(self, step: _Step, graph: Graph, ctx: PassContext) -> tuple[Graph, bool]:
        fp = step.pass_
        assert isinstance(fp, Fixpoint) and step.children is not None
        counters = ctx.stats.setdefault(step.label, {})   # listed before the inner passes
        any_change = False
        rounds = 0
        converged = False
        while rounds < fp.max_iterations:
            rounds += 1
            graph, changed = self._run_steps(step.children, graph, ctx)
            any_change = any_change or changed
            if not changed:
                converged = True
                break
        counters["iterations"] = counters.get("iterations", 0) + rounds
        if not converged:
            counters["not-converged"] = counters.get("not-converged", 0) + 1
            logger.warning("%s: %s still changed the graph after %d iterations", step.label,
                           format_pipeline(fp.passes), rounds)
        return graph, any_change

    def _run_pass(self, step: _Step, graph: Graph, ctx: PassContext) -> tuple[Graph, bool]:
        p = step.pass_
        ctx._begin_pass(step.label)
        try:
            self._hook("before_pass", p, graph, ctx)
            start = time.perf_counter()
            try:
                p.requires(graph, ctx)
                result = p.run(graph, ctx)
                if not isinstance(result, Graph):
                    raise PassError(f"run() returned {type(result).__name__}, not a Graph "
                                    "(a pass must return the graph it transformed)")
                p.ensures(result, ctx)
            except Exception as e:
                raise self._failure(step, e) from e
            seconds = time.perf_counter() - start
            modified = ctx.modified or result is not graph
            self.history.append(step.label)
            self._hook("after_pass", p, result, ctx, seconds)
        finally:
            ctx._end_pass()
        return result, modified

    def _failure(self, step: _Step, e: Exception) -> PassError:
        if isinstance(e, PassPreconditionError):
            detail = f"precondition not met: {e}"
        elif isinstance(e, PassPostconditionError):
            detail = f"postcondition violated: {e}"
        elif isinstance(e, IrcError):
            detail = str(e)
        else:
            detail = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        done = self.history
        if not done:
            where = "(no pass ran before it)"
        else:
            shown = done[-_HISTORY_SHOWN:]
            more = f"... {len(done) - len(shown)} more, " if len(done) > len(shown) else ""
            where = f"after [{more}{', '.join(shown)}]"
        return PassError(f"pass '{step.label}' failed {where}: {detail}")


def run_pipeline(graph: Graph, pipeline: PipelineSpec, *, target: str = "generic",
                 calib_data: Any = None, seed: int = 0, verify_each: bool = False,
                 time_passes: bool = False, print_ir_after: Iterable[str] | str | None = None,
                 statistics: bool = False, stream: TextIO | None = None,
                 ctx: PassContext | None = None, instruments: Iterable[Any] = ()) -> Graph:
    """Build ``pipeline`` and run it over ``graph``: the driver behind
    ``irc.compile`` and ``irc compile``.

    ``print_ir_after`` is ``"all"``, a pass name, a comma-separated string or a
    set of names; ``time_passes`` and ``statistics`` print their tables to
    ``stream`` (stderr by default) at the end.  Give either ``ctx`` or
    ``target``/``calib_data``/``seed``; with ``ctx`` the statistics stay in
    ``ctx.stats`` after the run.
    """
    if ctx is None:
        ctx = PassContext(target=target, calib_data=calib_data, seed=seed)
    elif (target, calib_data, seed) != ("generic", None, 0):
        raise TypeError("run_pipeline: pass either ctx or target/calib_data/seed, not both")
    insts: list[Any] = []
    if print_ir_after:
        insts.append(PrintIRAfter(print_ir_after, stream))
    if verify_each:
        insts.append(VerifyEach())
    insts.extend(instruments)
    if time_passes:
        insts.append(TimePasses(stream))
    if statistics:
        insts.append(Statistics(stream))
    return PassManager(pipeline, insts).run(graph, ctx)


def describe_passes(verbose: bool = False) -> str:
    """Every registered pass with its options, as ``irc passes`` prints them;
    ``verbose`` adds each pass's full docs."""
    blocks = []
    classes: list[type[Pass]] = [*all_passes().values(), Fixpoint]
    width = max(len("fixpoint(...)" if c is Fixpoint else c.name) for c in classes)
    for cls in classes:
        text = describe_pass(cls, width)
        if verbose:
            doc = cls.description()
            rest = doc.split("\n", 1)[1].strip() if "\n" in doc else ""
            if rest:
                text += "\n" + "\n".join("    " + ln if ln else "" for ln in rest.splitlines())
        blocks.append(text)
    return ("\n\n" if verbose else "\n").join(blocks)
