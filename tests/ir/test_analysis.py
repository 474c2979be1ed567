"""Analyses: networkx view, reachability, liveness, dominance."""

from __future__ import annotations

import numpy as np

from irc.analysis import (ENTRY, ancestors, dominators, live_ranges, peak_live_bytes,
                          reachable_from, to_networkx)
from irc.builder import Builder
from irc.dtypes import DType
from irc.types import TensorType


def diamond():  # type: ignore[no-untyped-def]
    b = Builder("d")
    x = b.input("x", TensorType(DType.F32, (4,)))
    a = b.nn.neg(x, name="a")                 # 0
    l = b.nn.relu(a, name="l")                # 1
    r = b.nn.exp(a, name="r")                 # 2
    y = b.nn.add(l, r, name="y")              # 3
    c = b.const(np.ones(4, np.float32), name="c")   # 4
    z = b.nn.mul(y, c, name="z")              # 5
    return b.finish(z)


def test_networkx_view_and_dominators() -> None:
    g = diamond()
    nxg = to_networkx(g)
    assert nxg.edges[ENTRY, 0]["values"] == ["x"]
    assert set(nxg.successors(0)) == {1, 2}
    idom = dominators(g)
    assert idom[3] == 0          # both paths to the add pass through the neg
    assert idom[1] == 0
    assert idom[5] == ENTRY      # the constant c is a second root reaching z
    assert idom[4] == ENTRY


def test_reachability() -> None:
    g = diamond()
    a = g.value("a")
    assert [n.outputs[0].name for n in reachable_from(g, [a])] == ["l", "r", "y", "z"]
    assert [n.outputs[0].name for n in ancestors(g, g.value("y"))] == ["a", "l", "r", "y"]


def test_liveness_and_peak() -> None:
    g = diamond()
    ranges = {r.value.name: (r.start, r.end) for r in live_ranges(g)}
    assert ranges["x"] == (-1, 0)
    assert ranges["a"] == (0, 2)
    assert ranges["l"] == (1, 3)
    assert ranges["z"] == (5, 6)
    assert "c" not in ranges                   # constants are not arena values
    # at node 2 (exp): a, l and r are live -> 3 tensors of 16 bytes
    assert peak_live_bytes(g) == 48
