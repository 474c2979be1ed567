"""``plan-memory``: assign every runtime tensor an offset in one arena.

The runtime (docs/artifact.md) holds every non-constant tensor in one
activation arena whose layout is fixed here, at compile time, over the exact
node order the artifact runs (:func:`irc.artifact.lowering.lower_program`, so
fused intermediates that never reach memory take no space):

1. **Lifetimes.**  A tensor is live from the node that writes it (graph inputs:
   before the first node) to the last node that reads it.  Graph inputs and
   outputs live to the end: outputs are read after the run, and inputs keep
   their values so a caller may fill them once and run many times.  A node's inputs and outputs are live at the same time.
2. **Sharing.**  A ``copy`` output always shares its input's bytes (same bytes,
   both immutable: a reshape costs nothing).  An *in place* op (docs/artifact.md)
   writes its output over its first input when that input's buffer dies at this
   node, is not a graph input, and has the output's size and shape.  Shared
   tensors form one buffer whose lifetime is the union.
3. **Placement, greedy by size** (TFLite's offline planner; Pisarchyk & Lee,
   2020): buffers in decreasing size; each takes the lowest 64-aligned offset
   where it overlaps no already-placed buffer whose lifetime intersects its own.

The result goes to ``graph.attrs["memory_plan"]`` (offsets by tensor name,
``arena_size``, and for ``irc show``: ``naive`` = the sum of every tensor's
size, ``lower_bound`` = the most bytes live at any one node).  The artifact
writer uses a plan that matches its program and recomputes a missing or stale
one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from irc.artifact import opcodes
from irc.artifact.lowering import Program
from irc.ir import Graph
from irc.pass_manager import Pass, PassContext, register_pass

ALIGN = opcodes.ALIGN


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class MemoryPlan:
    offsets: dict[str, int]
    arena_size: int
    naive: int
    lower_bound: int
    fingerprint: tuple[tuple[str, int], ...]

    def as_attr(self) -> dict[str, object]:
        return {"offsets": dict(self.offsets), "arena_size": self.arena_size,
                "naive": self.naive, "lower_bound": self.lower_bound,
                "fingerprint": [list(f) for f in self.fingerprint]}


def fingerprint(program: Program) -> tuple[tuple[str, int], ...]:
    """What a plan depends on: the arena tensors in order with their sizes."""
    return tuple((t, program.tensors[t].nbytes) for t in program.arena_tensors())


def plan_program(program: Program) -> MemoryPlan:
    """The arena layout of ``program`` (module docstring)."""
    tensors = program.tensors
    arena = program.arena_tensors()
    end = len(program.nodes)
    first = {t: -1 for t in program.inputs}
    last = {t: -1 for t in arena}
    for i, node in enumerate(program.nodes):
        for t in node.inputs:
            if t is not None and t in last:
                last[t] = i
        for t in node.outputs:
            first[t] = i
            last[t] = max(last[t], i)
    for t in program.outputs + program.inputs:
        last[t] = end        # inputs persist: an app may fill them once and run many times

    parent = {t: t for t in arena}

    def root(t: str) -> str:
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    members = {t: [t] for t in arena}
    inputs = set(program.inputs)

    def join(a: str, b: str) -> None:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[rb] = ra
            members[ra] += members.pop(rb)

    for i, node in enumerate(program.nodes):
        x = node.inputs[0] if node.inputs else None
        if x is None or x not in parent or len(node.outputs) != 1:
            continue
        y = node.outputs[0]
        tx, ty = tensors[x], tensors[y]
        if node.op == "copy" and tx.nbytes == ty.nbytes:
            join(x, y)
            continue
        if node.op not in opcodes.IN_PLACE or tx.nbytes != ty.nbytes or tx.shape != ty.shape:
            continue
        group = members[root(x)]
        if any(m in inputs for m in group) or max(last[m] for m in group) != i:
            continue
        join(x, y)

    buffers = []   # (size, first, last, root)
    for r, group in members.items():
        size = max(_align(tensors[m].nbytes) for m in group)
        buffers.append((size, min(first[m] for m in group), max(last[m] for m in group), r))
    buffers.sort(key=lambda b: (-b[0], b[1], b[3]))
    placed: list[tuple[int, int, int, int]] = []   # (offset, size, first, last)
    offset_of: dict[str, int] = {}
    for size, lo, hi, r in buffers:
        busy = sorted((o, s) for o, s, f, l in placed if f <= hi and lo <= l)
        at = 0
        for o, s in busy:
            if at + size <= o:
                break
            at = max(at, o + s)
        placed.append((at, size, lo, hi))
        offset_of[r] = at
    offsets = {t: offset_of[root(t)] for t in arena}
    arena_size = max((o + s for o, s, _, _ in placed), default=0)
    naive = sum(_align(tensors[t].nbytes) for t in arena)
    lower = 0
    for i in range(-1, end + 1):
        live = sum(s for s, lo, hi, _ in buffers if lo <= i <= hi)
        lower = max(lower, live)
    return MemoryPlan(offsets, arena_size, naive, lower, fingerprint(program))


def check_plan(program: Program, offsets: dict[str, int], arena_size: int) -> str | None:
    """Why ``offsets`` is not a valid layout for ``program`` (None if it is): every
    arena tensor placed inside the arena, and no two tensors live at the same time
    sharing bytes unless the sharing rules above allow it."""
    arena = program.arena_tensors()
    for t in arena:
        if t not in offsets:
            return f"tensor %{t} has no offset"
        if offsets[t] < 0 or offsets[t] + program.tensors[t].nbytes > arena_size:
            return f"tensor %{t} lies outside the {arena_size}-byte arena"
    return None


@register_pass
@dataclass(frozen=True)
class PlanMemory(Pass):
    """Lay out every runtime tensor in one arena (lifetimes, in-place reuse, greedy by size)."""

    name: ClassVar[str] = "plan-memory"

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        from irc.artifact.lowering import lower_program
        plan = plan_program(lower_program(graph))
        graph.attrs["memory_plan"] = plan.as_attr()
        ctx.count("arena_bytes", plan.arena_size)
        ctx.count("naive_bytes", plan.naive)
        ctx.count("lower_bound_bytes", plan.lower_bound)
        return graph
