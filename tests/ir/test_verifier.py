"""The verifier reports every problem with the node that has it."""

from __future__ import annotations

import numpy as np
import pytest

from irc.builder import Builder
from irc.dtypes import DType
from irc.encodings import EncodingKind, register_encoding, unregister_encoding
from irc.errors import VerifyError
from irc.ir import Node, Value
from irc.types import Encoding, PerTensor, TensorType
from irc.verifier import verify, verify_problems

F32 = DType.F32


def graph():  # type: ignore[no-untyped-def]
    b = Builder("v")
    x = b.input("x", TensorType(F32, (2, 3)))
    y = b.nn.relu(b.nn.add(x, np.ones(3, np.float32)), name="y")
    return b.finish(y)


def test_valid_graph_passes() -> None:
    verify(graph())


def test_wrong_declared_type_names_node() -> None:
    g = graph()
    g.nodes[-1].outputs[0].type = TensorType(F32, (3, 2))
    with pytest.raises(VerifyError) as e:
        verify(g)
    msg = str(e.value)
    assert "%y = nn.relu(%1) [node 2]" in msg
    assert "declared f32[3,2] but nn.relu's type rule gives f32[2,3]" in msg


def test_use_before_def_is_reported() -> None:
    g = graph()
    g.nodes[1], g.nodes[2] = g.nodes[2], g.nodes[1]
    problems = verify_problems(g)
    assert any("used before it is defined" in p and "nn.relu" in p for p in problems)


def test_bad_attribute_value_and_all_problems_listed() -> None:
    g = graph()
    g.nodes[1].attrs["clamp"] = (0.0,)          # wrong length
    g.nodes[-1].attrs["bogus"] = 1               # unknown attribute
    problems = verify_problems(g)
    assert len(problems) == 2
    assert "attribute 'clamp': expected 2 numbers, got 1" in problems[0]
    assert "unknown attribute 'bogus'" in problems[1]


def test_const_payload_must_fit_type() -> None:
    g = graph()
    c = g.nodes[0]
    c.outputs[0].type = TensorType(DType.I4, (3,))
    c.attrs["value"] = np.array([1, 9, -9], np.int8)
    problems = verify_problems(g)
    assert any("values [-9, 9] exceed the range [-8, 7] of i4" in p for p in problems)


@pytest.fixture
def testpack():  # type: ignore[no-untyped-def]
    """A test-only encoding, registered for one test (the registry is global)."""
    register_encoding(EncodingKind("testpack", doc="test-only encoding"))
    yield
    unregister_encoding("testpack")


def test_encodings_checked(testpack: None) -> None:
    g = graph()
    c = g.nodes[0]
    c.outputs[0].type = c.outputs[0].type.with_(encoding=Encoding("nosuch"))
    assert any("unknown encoding 'nosuch'" in p for p in verify_problems(g))
    # a known encoding on a constant that nn.add does not accept
    c.outputs[0].type = c.outputs[0].type.with_(encoding=Encoding("testpack"))
    problems = verify_problems(g)
    assert len(problems) == 1
    assert "operand 1 ('b') %0 is encoded testpack, which nn.add does not accept" in problems[0]
    # only constants may be encoded
    g = graph()
    out = g.nodes[1].outputs[0]
    out.type = out.type.with_(encoding=Encoding("testpack"))
    assert any("only constants may be encoded" in p for p in verify_problems(g))
    assert any("bad<" in p or "takes 0 parameter" in p for p in verify_problems(_with_params()))


def _with_params():  # type: ignore[no-untyped-def]
    g = graph()
    c = g.nodes[0]
    c.outputs[0].type = c.outputs[0].type.with_(encoding=Encoding("testpack", (4,)))
    return g


def test_quantized_type_on_float_op_is_rejected() -> None:
    g = graph()
    out = g.nodes[-1].outputs[0]
    out.type = out.type.with_(quant=PerTensor(0.1, 0))
    assert any("type rule gives f32[2,3]" in p for p in verify_problems(g))


def test_missing_outputs_and_foreign_values() -> None:
    g = graph()
    stranger = Value("s", TensorType(F32, (2, 3)))
    g.outputs.append(stranger)
    assert any("graph output %s is not defined" in p for p in verify_problems(g))
    g.outputs = []
    assert "graph has no outputs" in verify_problems(g)


def test_unknown_op_reported_not_raised() -> None:
    g = graph()
    bad = Node("nn.frobnicate", [g.inputs[0]], [Value("q", TensorType(F32, (2, 3)))])
    g.nodes.append(bad)
    assert any("unknown op 'nn.frobnicate'" in p for p in verify_problems(g))
