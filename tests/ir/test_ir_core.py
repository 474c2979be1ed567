"""Graph construction and editing: SSA names, use lists, output names, copy, toposort."""

from __future__ import annotations

import numpy as np
import pytest

from irc.builder import Builder
from irc.dtypes import DType
from irc.errors import IRError, OpError, TypeInferenceError
from irc.ir import Graph, diff_graphs, structurally_equal
from irc.types import PerAxis, PerTensor, TensorType

F32 = DType.F32


def small() -> Graph:
    b = Builder("g")
    x = b.input("x", TensorType(F32, (2, 3)))
    y = b.nn.relu(b.nn.add(x, np.ones(3, np.float32)), name="y")
    return b.finish(y, verify=False)


def test_uses_are_tracked_and_updated() -> None:
    g = small()
    x = g.inputs[0]
    add = g.nodes[1]
    assert [(n.op, i) for n, i in x.uses] == [("nn.add", 0)]
    c = g.add_const(np.zeros(3, np.float32), name="z")
    add.set_input(1, c)
    assert [(n.op, i) for n, i in c.uses] == [("nn.add", 1)]
    assert not g.nodes[0].output.uses


def test_replace_all_uses_keeps_output_names() -> None:
    g = small()
    add_out = g.nodes[1].output
    y = g.outputs[0]
    g.replace_all_uses(y, add_out)      # bypass the relu
    assert [v.name for v in g.outputs] == ["y"]
    assert g.outputs[0] is add_out
    assert y.name != "y"


def test_duplicate_names_rejected() -> None:
    g = Graph()
    g.add_input("x", TensorType(F32, (1,)))
    with pytest.raises(IRError, match="already defined"):
        g.add_input("x", TensorType(F32, (1,)))


def test_unknown_op_suggests_close_names() -> None:
    g = small()
    with pytest.raises(OpError, match="did you mean nn.relu"):
        g.add("nn.rleu", [g.inputs[0]])


def test_bad_attribute_and_type_errors_name_the_op() -> None:
    g = small()
    with pytest.raises(OpError, match=r"nn.clip: unknown attribute 'lo'.*min, max"):
        g.add("nn.clip", [g.inputs[0]], {"lo": 0.0})
    other = g.add_input("w", TensorType(F32, (4,)))
    with pytest.raises(TypeInferenceError, match=r"nn.add: shapes \[2, 3\], \[4\] do not broadcast"):
        g.add("nn.add", [g.inputs[0], other])


def test_copy_is_structurally_equal_and_independent() -> None:
    g = small()
    h = g.copy()
    assert structurally_equal(g, h)
    h.nodes[-1].attrs["extra"] = 1
    assert diff_graphs(g, h) is not None
    assert h.nodes[0].output.uses[0][0] is h.nodes[1]


def test_toposort_restores_order_stably() -> None:
    g = small()
    g.nodes.reverse()
    g.toposort()
    assert [n.op for n in g.nodes] == ["const", "nn.add", "nn.relu"]


def test_constants_are_read_only() -> None:
    g = small()
    with pytest.raises(ValueError):
        g.nodes[0].attrs["value"][0] = 5.0


def test_quant_types_validate() -> None:
    with pytest.raises(ValueError, match="scale"):
        PerTensor(0.0, 0)
    with pytest.raises(ValueError, match="needs 4 scales"):
        TensorType(DType.I8, (4, 2), PerAxis(0, (0.1, 0.2), (0, 0)))
    t = TensorType(DType.I8, (2, 2), PerAxis(0, (0.1, 0.2), (0, 1)))
    assert str(t) == "i8[2,2]<axis=0,[0.1,0.2],[0,1]>"
    assert str(TensorType(DType.U8, (1,), PerTensor(0.05, -3))) == "u8[1]<0.05,-3>"


def test_dtype_ranges() -> None:
    assert (DType.I4.min, DType.I4.max) == (-8, 7)
    assert (DType.U4.min, DType.U4.max) == (0, 15)
    assert (DType.I8.min, DType.U8.max) == (-128, 255)
    assert DType.parse("b1") is DType.B1
    with pytest.raises(ValueError, match="unknown dtype 'f8'"):
        DType.parse("f8")
