"""Declarative pattern rewriting: pattern → check (with a reason) → rewrite.

A :class:`Rule` pairs a pattern rooted at one op with an optional ``check``
(returns ``None`` to accept or a string saying why not) and a ``rewrite`` that
builds replacement nodes through a :class:`Rewriter` and returns the values
that replace the root's results::

    x, w, b = Var("x"), Const("w"), Const("b", optional=True)
    conv = Op("nn.conv2d", x, w, b, bind="conv")
    rule = Rule("fuse-bn-conv",
                Op("nn.batch_norm", conv, Const("scale"), Const("bias"), Const("mean"),
                   Const("var"), bind="bn"),
                check=lambda m: None if m["conv"].attrs["groups"] == 1 else "grouped",
                rewrite=lambda m, rw: rw.op("nn.conv2d", m["x"], ...))

:func:`apply_rules` runs a rule set over a graph to a fixed point.  Rules are
indexed by root op (``Op(None, ...)`` / ``AnyOp`` matches any root), so most
nodes are rejected by one dict lookup.  Each sweep walks the nodes in order and
rebuilds the node list in O(n); matched nodes that become dead are erased.
Pass ``trace`` (a callable taking a string) to see which rule fired where and
why each other candidate did not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .ir import Graph, Node, Value, format_name
from .types import DENSE, TensorType


# ---------------------------------------------------------------------------
# Patterns
# ---------------------------------------------------------------------------

class Match:
    """Bindings of a successful match: ``m["x"]`` is a bound Value or Node
    (``None`` for an absent optional operand); ``m.root`` is the root node."""

    def __init__(self, root: Node, graph_outputs: frozenset[int] = frozenset()) -> None:
        self.root = root
        self.graph_outputs = graph_outputs   # ids of values that are graph outputs
        self.bindings: dict[str, Any] = {}
        self.nodes: list[Node] = []      # every matched node, producers first, root last

    def __getitem__(self, key: str) -> Any:
        return self.bindings[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.bindings.get(key, default)

    def const(self, key: str) -> np.ndarray:
        """The array of a bound constant value."""
        return self.bindings[key].const_value

    def _bind(self, key: str | None, thing: Any) -> str | None:
        if key is None:
            return None
        prev = self.bindings.get(key, _UNSET)
        if prev is _UNSET:
            self.bindings[key] = thing
            return None
        if prev is not thing:
            return f"'{key}' is bound to two different values"
        return None


_UNSET = object()


class Pattern:
    """Base of patterns; ``match_value`` returns None on success or a reason."""

    optional: bool = False

    def match_value(self, v: Value | None, m: Match) -> str | None:
        raise NotImplementedError


@dataclass
class Var(Pattern):
    """Any value; binds it under ``name``.  Reusing a name requires the same value."""

    name: str | None = None
    optional: bool = False
    where: Callable[[Value], bool] | None = None

    def match_value(self, v: Value | None, m: Match) -> str | None:
        if v is None:
            return None if self.optional else "missing operand"
        if self.where is not None and not self.where(v):
            return f"%{format_name(v.name)} fails the condition on '{self.name}'"
        return m._bind(self.name, v)


@dataclass
class Const(Pattern):
    """A value produced by ``const``; binds the value under ``name``."""

    name: str | None = None
    optional: bool = False

    def match_value(self, v: Value | None, m: Match) -> str | None:
        if v is None:
            if self.optional:
                m._bind(self.name, None)
                return None
            return "missing operand"
        if not v.is_const:
            return f"%{format_name(v.name)} is not a constant"
        return m._bind(self.name, v)


class Op(Pattern):
    """A node of op ``op`` (a name, a tuple of names, or None for any op) whose
    operands match ``operands`` (absent trailing operands match optional
    patterns; extra operands are rejected unless ``rest=True``).

    ``bind`` names the node; the root's results are replaced by the rewrite,
    and a non-root matched node must have ``one_use`` (its only reader is the
    node above it) unless that is set to False.
    """

    def __init__(self, op: str | tuple[str, ...] | None, *operands: Pattern, bind: str | None = None,
                 one_use: bool = True, rest: bool = False,
                 where: Callable[[Node], bool] | None = None) -> None:
        self.ops = (op,) if isinstance(op, str) else op
        self.operands = operands
        self.bind, self.one_use, self.rest, self.where = bind, one_use, rest, where

    def roots(self) -> tuple[str, ...] | None:
        return self.ops

    def match_node(self, node: Node, m: Match) -> str | None:
        if self.ops is not None and node.op not in self.ops:
            return f"{node.short()} is not {' or '.join(self.ops)}"
        if self.where is not None and not self.where(node):
            return f"{node.short()} fails the condition on '{self.bind or self.ops}'"
        ins = node.inputs
        if len(ins) > len(self.operands) and not self.rest:
            return f"{node.short()} has {len(ins)} operands, pattern expects {len(self.operands)}"
        for k, pat in enumerate(self.operands):
            v = ins[k] if k < len(ins) else None
            why = pat.match_value(v, m)
            if why:
                return f"operand {k} of {node.op}: {why}"
        m.nodes.append(node)
        return m._bind(self.bind, node)

    def match_value(self, v: Value | None, m: Match) -> str | None:
        if v is None:
            return "missing operand"
        if v.producer is None:
            return f"%{format_name(v.name)} is a graph input"
        if self.one_use:
            if id(v) in m.graph_outputs:
                return f"%{format_name(v.name)} is also a graph output (pattern needs one use)"
            if len(v.uses) != 1:
                return f"%{format_name(v.name)} has {len(v.uses)} uses (pattern needs one)"
        return self.match_node(v.producer, m)


# ---------------------------------------------------------------------------
# Rules and the rewriter
# ---------------------------------------------------------------------------

class Rewriter:
    """Builds replacement nodes; they are placed just before the matched root."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.new_nodes: list[Node] = []

    def op(self, op: str, *operands: Value, name: str | None = None, loc: str | None = None,
           output_types: Sequence[TensorType] | None = None, **attrs: Any) -> Value:
        """Create ``op(*operands) {attrs}`` and return its (first) result."""
        return self.op_multi(op, *operands, name=name, loc=loc, output_types=output_types,
                             **attrs)[0]

    def op_multi(self, op: str, *operands: Value, name: str | None = None,
                 loc: str | None = None, output_types: Sequence[TensorType] | None = None,
                 **attrs: Any) -> list[Value]:
        node = self.graph.make_node(op, list(operands), attrs, output_types=output_types,
                                    output_names=None if name is None else [name], name=loc)
        self.new_nodes.append(node)
        return node.outputs

    def const(self, array: Any, name: str | None = None,
              type: TensorType | str | None = None) -> Value:
        node = self.graph.make_const(array, name, type)
        self.new_nodes.append(node)
        return node.output


RewriteFn = Callable[[Match, Rewriter], "Value | Sequence[Value] | None"]


@dataclass
class Rule:
    """``pattern`` → ``check`` (None = accept, str = reason to decline) → ``rewrite``.

    ``rewrite`` returns the values replacing the root's results (or None to
    decline late).
    """

    name: str
    pattern: Op
    rewrite: RewriteFn
    check: Callable[[Match], str | None] | None = None
    doc: str = ""


@dataclass
class RewriteStats:
    """How often each rule fired, and sweeps taken."""

    fired: dict[str, int] = field(default_factory=dict)
    sweeps: int = 0
    erased: int = 0

    @property
    def total(self) -> int:
        return sum(self.fired.values())


def apply_rules(graph: Graph, rules: Iterable[Rule], *, max_sweeps: int = 100,
                trace: Callable[[str], None] | None = None) -> RewriteStats:
    """Apply ``rules`` to ``graph`` until none fires (or ``max_sweeps``)."""
    rules = list(rules)
    by_root: dict[str | None, list[Rule]] = {}
    for r in rules:
        for op in (r.pattern.roots() or (None,)):
            by_root.setdefault(op, []).append(r)
    wildcard = by_root.get(None, [])
    stats = RewriteStats()
    outputs = {id(v) for v in graph.outputs}
    while stats.sweeps < max_sweeps:
        stats.sweeps += 1
        fired_this_sweep = 0
        dead: set[int] = set()
        new_list: list[Node] = []
        for node in graph.nodes:
            if id(node) in dead:
                continue
            candidates = by_root.get(node.op, []) + wildcard
            done = False
            frozen_outputs = frozenset(outputs)
            for rule in candidates:
                m = Match(node, frozen_outputs)
                why = rule.pattern.match_node(node, m)
                if why is None and rule.check is not None:
                    why = rule.check(m)
                if why is None:
                    why, done = _try_rewrite(graph, rule, m, new_list, dead, outputs, stats)
                if done:
                    fired_this_sweep += 1
                    stats.fired[rule.name] = stats.fired.get(rule.name, 0) + 1
                    if trace:
                        trace(f"{rule.name}: fired at {node.short()}")
                    break
                if trace:
                    trace(f"{rule.name}: not at {node.short()}: {why}")
            if not done:
                new_list.append(node)
        graph.nodes = [n for n in new_list if id(n) not in dead]
        outputs = {id(v) for v in graph.outputs}
        if not fired_this_sweep:
            break
    return stats


def run_rules(graph: Graph, rules: Iterable[Rule], ctx: Any, *, total: str | None = None,
              max_sweeps: int = 100) -> RewriteStats:
    """:func:`apply_rules` as passes use it: traces go to ``ctx.log`` when the
    ``trace_rewrites`` option is on (``irc compile --trace-rewrites``); how often
    each rule fired is counted into the pass statistics, plus the sum under
    ``total`` if given (counted even when zero, so tests can pin it)."""
    trace = ctx.log if ctx.options.get("trace_rewrites") else None
    stats = apply_rules(graph, rules, max_sweeps=max_sweeps, trace=trace)
    for name, n in stats.fired.items():
        ctx.count(name, n)
    if total is not None:
        ctx.count(total, stats.total)
    return stats


def _try_rewrite(graph: Graph, rule: Rule, m: Match, new_list: list[Node], dead: set[int],
                 outputs: set[int], stats: RewriteStats) -> tuple[str | None, bool]:
    root = m.root
    rw = Rewriter(graph)
    result = rule.rewrite(m, rw)
    if result is None:
        _discard(graph, rw.new_nodes)
        return "rewrite declined", False
    repl = [result] if isinstance(result, Value) else list(result)
    if len(repl) != len(root.outputs):
        raise ValueError(f"rule {rule.name} returned {len(repl)} values for {root.short()} "
                         f"with {len(root.outputs)} results")
    graph_io = {id(v) for v in graph.inputs} | outputs
    for old, new in zip(root.outputs, repl):
        if new is old:
            _discard(graph, rw.new_nodes)
            raise ValueError(f"rule {rule.name} returned the root's own result %{old.name}; "
                             "return None to decline instead")
        if id(old) in outputs and id(new) in graph_io:
            _discard(graph, rw.new_nodes)
            return (f"%{format_name(old.name)} is a graph output and its replacement is a graph "
                    "input/output; keeping the node preserves the output name"), False
        why = _encoding_refused(old, new)
        if why:
            _discard(graph, rw.new_nodes)
            return why, False
        if old.type.with_(encoding=DENSE) != new.type.with_(encoding=DENSE):
            _discard(graph, rw.new_nodes)
            raise ValueError(f"rule {rule.name} would replace %{old.name}: {old.type} by "
                             f"%{new.name}: {new.type}")
    new_list.extend(rw.new_nodes)
    old_names = [v.name for v in root.outputs]
    for old, new in zip(root.outputs, repl):
        was_output = id(old) in outputs
        graph.replace_all_uses(old, new)
        if was_output:
            outputs.discard(id(old))
            outputs.add(id(new))
    # erase the root and any matched node that became dead (users before producers:
    # m.nodes lists producers first, the root last)
    for node in reversed(m.nodes):
        if id(node) in dead:
            continue
        if all(not v.uses and id(v) not in outputs for v in node.outputs) and node.opdef.pure:
            graph.forget(node)
            dead.add(id(node))
            stats.erased += 1
    if id(root) not in dead:
        new_list.append(root)      # an impure root stays (after its replacement)
    # a value the rewrite created takes over the name of the result it replaces
    created = {id(v) for n in rw.new_nodes for v in n.outputs}
    if id(root) in dead:
        for name, new in zip(old_names, repl):
            if id(new) in created and new.name != name and not graph.has_name(name):
                graph.rename(new, name)
    return None, True


def _encoding_refused(old: Value, new: Value) -> str | None:
    """Why a reader of ``old`` cannot take the encoded constant ``new``, or None."""
    enc = new.type.encoding
    if enc.is_dense:
        return None
    for node, k in old.uses:
        slot = node.opdef.operand_for(k, len(node.inputs))
        if "*" not in slot.encodings and enc.kind not in slot.encodings:
            return (f"replacement %{format_name(new.name)} is encoded {enc}, which operand {k} "
                    f"of {node.short()} does not accept")
    return None


def _discard(graph: Graph, nodes: list[Node]) -> None:
    for n in nodes:
        graph.forget(n)


__all__ = ["Const", "Match", "Op", "Pattern", "Rewriter", "Rule", "RewriteStats", "Var",
           "apply_rules", "run_rules"]
