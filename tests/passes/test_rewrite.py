"""The pattern rewriter: matching, checks with reasons, fixed point, naming, tracing."""

from __future__ import annotations

import numpy as np
import pytest

from irc.builder import Builder
from irc.dtypes import DType
from irc.interpreter import random_inputs, run
from irc.rewrite import Const, Op, Rule, Var, apply_rules
from irc.types import TensorType
from irc.verifier import verify

F32 = DType.F32


def neg_chain(n: int):  # type: ignore[no-untyped-def]
    b = Builder("chain")
    h = b.input("x", TensorType(F32, (4,)))
    for _ in range(n):
        h = b.nn.neg(h)
    return b.finish(b.nn.relu(h, name="y"))


double_neg = Rule("double-neg", Op("nn.neg", Op("nn.neg", Var("x"))),
                  lambda m, rw: m["x"])


def test_fixed_point_and_counts() -> None:
    g = neg_chain(7)
    ref = run(g, random_inputs(g))
    stats = apply_rules(g, [double_neg])
    assert stats.fired == {"double-neg": 3}
    assert [n.op for n in g.nodes] == ["nn.neg", "nn.relu"]
    assert stats.erased == 6
    verify(g)
    np.testing.assert_array_equal(run(g, random_inputs(g))["y"], ref["y"])


def test_one_use_blocks_and_trace_says_why() -> None:
    b = Builder("t")
    x = b.input("x", TensorType(F32, (4,)))
    n1 = b.nn.neg(x)
    n2 = b.nn.neg(n1)
    g = b.finish(b.nn.add(n1, n2, name="y"))
    log: list[str] = []
    stats = apply_rules(g, [double_neg], trace=log.append)
    assert stats.total == 0
    assert any("double-neg: not at %1 = nn.neg(%0): operand 0 of nn.neg: %0 has 2 uses" in line
               for line in log), log


def test_check_reason_and_same_variable_binding() -> None:
    b = Builder("t")
    x = b.input("x", TensorType(F32, (4,)))
    w = b.input("w", TensorType(F32, (4,)))
    s1 = b.nn.add(x, x)
    s2 = b.nn.add(x, w)
    g = b.finish(b.nn.mul(s1, s2, name="y"))
    log: list[str] = []
    rule = Rule("x+x", Op("nn.add", Var("a"), Var("a")),
                lambda m, rw: rw.op("nn.mul", m["a"], rw.const(np.full(4, 2, np.float32))),
                check=lambda m: None if m["a"].name == "x" else "not x")
    stats = apply_rules(g, [rule], trace=log.append)
    assert stats.fired == {"x+x": 1}
    assert any("bound to two different values" in line for line in log)
    # the replacement took over the replaced value's name
    assert [n.outputs[0].name for n in g.nodes if n.op == "nn.mul"][0] == "0"
    verify(g)


def test_optional_const_operand() -> None:
    b = Builder("t")
    x = b.input("x", TensorType(F32, (1, 2)))
    w = b.const(np.eye(2, dtype=np.float32))
    g1 = b.nn.gemm(x, w)
    g2 = b.nn.gemm(g1, w, np.ones(2, np.float32))
    g = b.finish(b.nn.add(g1, g2, name="y"))
    seen = []
    rule = Rule("gemm", Op("nn.gemm", Var("x"), Const("w"), Const("c", optional=True)),
                lambda m, rw: seen.append(m["c"]) or None)
    apply_rules(g, [rule])
    assert seen[0] is None and seen[1].is_const


def test_output_name_preserved_when_root_is_output() -> None:
    g = neg_chain(2)
    g.outputs = [g.nodes[1].output]          # the second neg is the output
    name = g.outputs[0].name
    rule = Rule("neg-neg-to-relu", Op("nn.neg", Op("nn.neg", Var("x"))),
                lambda m, rw: rw.op("nn.relu", m["x"]))
    apply_rules(g, [rule])
    assert g.outputs[0].name == name and g.outputs[0].producer.op == "nn.relu"


def test_forwarding_graph_input_to_output_is_declined() -> None:
    b = Builder("t")
    x = b.input("x", TensorType(F32, (4,)))
    g = b.finish(b.nn.neg(b.nn.neg(x), name="y"))
    log: list[str] = []
    assert apply_rules(g, [double_neg], trace=log.append).total == 0
    assert any("graph output" in line for line in log)


def test_type_changing_rewrite_is_a_bug() -> None:
    g = neg_chain(1)
    bad = Rule("bad", Op("nn.neg", Var("x")),
               lambda m, rw: rw.op("nn.reshape", m["x"], shape=(2, 2)))
    with pytest.raises(ValueError, match="would replace"):
        apply_rules(g, [bad])
