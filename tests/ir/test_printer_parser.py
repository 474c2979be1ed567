"""The text form: printer, parser, sidecar files, and their error messages."""

from __future__ import annotations

import math
import os
import re
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irc.dtypes import DType
from irc.errors import InputError, ParseError
from irc import ir
from irc.ir import Graph, diff_graphs
from irc.ops import (REQUIRED, ArrayAttr, Bool, DTypeAttr, Enum, Float, Floats, Int, Ints, Str,
                     all_ops)
from irc.parser import (MAX_CONSTANT_BYTES, MAX_CONSTANT_ELEMENTS, _grammar_text, _lark,
                        parse_graph, parse_type, unquote)
from irc.printer import (SIMPLE_NAME_PATTERN, format_attr_value, format_float, format_name,
                         format_type, print_graph, quote)
from irc.textio import SIDECAR_MARKER, load_text, save_text, sidecar_path
from irc.types import Encoding, PerAxis, PerTensor, TensorType, tensor_type

F32 = DType.F32


def roundtrip(g: Graph, **kw: Any) -> Graph:
    """print -> parse, asserting structural equality and canonical text."""
    sidecar: dict[str, np.ndarray] = {}
    text = print_graph(g, sidecar=sidecar, **kw)
    g2 = parse_graph(text, sidecar=sidecar)
    assert diff_graphs(g2, g) is None, text
    assert print_graph(g2, sidecar={}, **kw) == text
    return g2


def canonical(text: str, **kw: Any) -> None:
    """``text`` parses and prints back unchanged."""
    assert print_graph(parse_graph(text), **kw) == text


def parse_error(text: str, **kw: Any) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse_graph(text, filename="t.irc", **kw)
    return info.value


# ---------------------------------------------------------------------------
# The whole syntax at once
# ---------------------------------------------------------------------------

EXAMPLE = """\
graph @mlp(%x: f32[1,784], %mask: b1[1,4]) attributes {target = "arm64"} {
  %w = const @w : f32[784,128]
  %b = const dense<[0.5, -1.0]> : f32[2]
  %z = const dense<0.0> : f32[64,64]
  %0 = nn.gemm(%x, %w) {alpha = 2.0, trans_b = true} : f32[1,128] loc("fc1")
  %a, %c = nn.split(%0) {axis = 1, sizes = [64, 64]} : f32[1,64], f32[1,64]
  %q = "nn.relu"(%a) : (f32[1,64]) -> f32[1,64]
  return %q, %c
}
"""


def test_example_parses_and_prints_canonically() -> None:
    w = np.arange(784 * 128, dtype=np.float32).reshape(784, 128)
    g = parse_graph(EXAMPLE, sidecar={"w": w})
    assert g.name == "mlp" and g.attrs == {"target": "arm64"}
    assert [v.name for v in g.inputs] == ["x", "mask"]
    assert [n.op for n in g.nodes] == ["const"] * 3 + ["nn.gemm", "nn.split", "nn.relu"]
    gemm = g.nodes[3]
    assert gemm.name == "fc1"
    assert gemm.attrs["alpha"] == 2.0 and gemm.attrs["trans_b"] is True
    assert gemm.attrs["trans_a"] is False             # defaults filled in
    assert np.array_equal(g.value("w").const_value, w)
    assert g.value("z").const_value.shape == (64, 64)
    assert [v.name for v in g.outputs] == ["q", "c"]
    sidecar: dict[str, np.ndarray] = {}
    text = print_graph(g, sidecar=sidecar)
    assert text == EXAMPLE.replace('"nn.relu"(%a) : (f32[1,64]) -> f32[1,64]',
                                   "nn.relu(%a) : f32[1,64]")
    assert list(sidecar) == ["w"] and sidecar["w"] is g.value("w").const_value
    roundtrip(g)
    roundtrip(g, generic=True)


def test_generic_form_prints_every_op_generically() -> None:
    g = parse_graph(EXAMPLE, sidecar={"w": np.zeros((784, 128), np.float32)})
    text = print_graph(g, generic=True)
    assert '%b = "const"() {value = dense<[0.5, -1.0]> : f32[2]} : () -> f32[2]' in text
    assert ('%0 = "nn.gemm"(%x, %w) {alpha = 2.0, trans_b = true} : '
            "(f32[1,784], f32[784,128]) -> f32[1,128] loc(\"fc1\")") in text
    assert ('%a, %c = "nn.split"(%0) {axis = 1, sizes = [64, 64]} : (f32[1,128]) -> '
            "(f32[1,64], f32[1,64])") in text


def test_comments_and_whitespace_are_ignored() -> None:
    text = """// leading comment
    graph @g(  %x :f32[ 2 , 3 ]  )   {   // trailing comment
      %y=nn.relu( %x ):f32[2,3]// no space
      // a line of its own
      return %y
    }  // end"""
    g = parse_graph(text)
    assert print_graph(g) == ("graph @g(%x: f32[2,3]) {\n  %y = nn.relu(%x) : f32[2,3]\n"
                              "  return %y\n}\n")


def test_keywords_are_keywords_only_where_the_grammar_expects_them() -> None:
    """``true``, ``dense``, ``loc``, ``const``... still work as names and keys; in a
    value position ``true``/``false``/``dense`` are keywords (the printer quotes
    such strings) and ``inf``/``nan`` are floats."""
    text = """graph @graph(%return: f32[1], %const: f32[1]) attributes {true = x, \
axis = "dense", loc = {true = [inf, -inf, nan, nan_x, inf2]}, x = 0x10, graph = attributes} {
  %loc = nn.relu(%return) : f32[1] loc("loc")
  %dense = nn.relu(%loc) : f32[1]
  return %dense, %const
}
""".replace("\\\n", "")
    g = parse_graph(text)
    assert g.name == "graph" and [v.name for v in g.inputs] == ["return", "const"]
    assert g.attrs["true"] == "x" and g.attrs["axis"] == "dense" and g.attrs["x"] == 16
    inner = g.attrs["loc"]["true"]
    assert inner[:2] == (math.inf, -math.inf) and math.isnan(inner[2])
    assert inner[3:] == ("nan_x", "inf2")
    assert 'graph = "attributes"' in print_graph(g)
    roundtrip(g)
    err = parse_error("graph @g() attributes {a = dense} {\n  return\n}")
    assert str(err) == "t.irc:1:33: unexpected '}'; expected '<'"


def test_str_of_graph_is_the_text_form() -> None:
    g = const_graph(np.arange(100, dtype=np.float32), name="big")
    assert str(g) == print_graph(g)
    assert "%big = const @big : f32[100]" in str(g)


def test_empty_graph_and_no_outputs() -> None:
    canonical("graph @e() {\n  return\n}\n")


# ---------------------------------------------------------------------------
# Types
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "f32[1,3,224,224]", "f32[]", "b1[0]", "i4[2,2]", "u2[7]",
    "i8[1,16]<0.05,-3>", "u8[4]<1e-05,128>",
    "i8[2,3]<axis=0,[0.1,0.2],[0,0]>", "i8[2,3]<axis=-1,[0.5,0.25,1.0],[1,2,3]>",
    "f32[64,64]#csr", "f32[64,64]#bsr<4x4>", "i8[8]#huffman(codebook<32>)",
    "i8[8]<0.5,0>#codebook<16,2>(bitpack)",
])
def test_type_text_roundtrips(text: str) -> None:
    t = parse_type(text)
    assert format_type(t) == text
    assert str(t) == text
    assert tensor_type(text) == t


def test_type_values() -> None:
    assert parse_type("f32[]") == TensorType(F32, ())
    assert parse_type("i8[1,16]<0.05,-3>").quant == PerTensor(0.05, -3)
    assert parse_type("i8[2,3]<axis=0,[0.1,0.2],[0,1]>").quant == PerAxis(0, (0.1, 0.2), (0, 1))
    assert parse_type("f32[4,4]#bsr<4,4>").encoding == Encoding("bsr", (4, 4))   # ',' too
    assert parse_type("f32[4,4]#bsr<2x4>").encoding == Encoding("bsr", (2, 4))
    assert parse_type("i8[8]#huffman(codebook<32>)").encoding == \
        Encoding("huffman", inner=Encoding("codebook", (32,)))
    assert parse_type("f32[4]#dense") == parse_type("f32[4]")     # dense is not printed
    assert parse_type("i8[2]<1,0>").quant == PerTensor(1.0, 0)    # an int scale is fine
    assert parse_type("f32[ 1 , 2 ]").shape == (1, 2)


@pytest.mark.parametrize("text, message", [
    ("f33[1]", "<string>:1:1: unknown dtype 'f33'; expected one of f64, f32"),
    ("f32[1,", "<string>:1:4: malformed shape"),
    ("f32[1,a]", "<string>:1:4: malformed shape"),
    ("f32[-1]", "<string>:1:1: bad type f32[-1]: shape [-1] has a negative dimension"),
    ("f32[1]<1.0>", "<string>:1:11: unexpected '>'; expected ','"),
    ("i8[1]<0.0,1>", "<string>:1:7: quantization scale must be finite and > 0, got 0.0"),
    ("i8[2]<axis=0,[0.1],[0]>", "<string>:1:1: bad type i8[2]: per-axis quantization "
                                "along axis 0 needs 2 scales, got 1"),
    ("f32[1]#", "<string>:1:8: unexpected end of input; expected an identifier"),
])
def test_type_errors(text: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_type(text)
    assert str(info.value).startswith(message), str(info.value)


# ---------------------------------------------------------------------------
# Names and strings
# ---------------------------------------------------------------------------

ODD_NAMES = ["with space", 'quote"d', "back\\slash", "new\nline", "tab\there", "cr\rhere",
             "ünïcödé", "emoji😀", "\x00nul", "\u2028sep", "-leading", ".dot", "%pct",
             "a//b", "1.5e-3"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_names_roundtrip(name: str) -> None:
    g = Graph(name)
    x = g.add_input(name, "f32[2]")
    c = g.add_const(np.ones(2, np.float32), name + "c")
    y = g.add("nn.add", [x, c], output_names=[name + "y"], name=name).output
    g.set_outputs([y])
    text = print_graph(g)
    assert len(text.splitlines()) == 5          # escapes keep every statement on one line
    roundtrip(g)
    roundtrip(g, generic=True)


def test_empty_value_name_is_an_error() -> None:
    with pytest.raises(ParseError, match="must not be empty"):
        parse_graph('graph @g(%"": f32[2]) {\n  return %""\n}\n')


def test_simple_names_print_bare() -> None:
    assert format_name("x") == "x"
    assert format_name("0") == "0"
    assert format_name("a.b$c-d_1") == "a.b$c-d_1"
    assert format_name("a b") == '"a b"'
    assert format_name("-x") == '"-x"'
    assert format_name("") == '""'
    assert quote('a"b\\c\nd\te\x01\u2028') == '"a\\"b\\\\c\\nd\\te\\x01\\u2028"'


def test_the_simple_name_rule_is_defined_once() -> None:
    """The printer owns the rule; the parser puts its pattern into the grammar it
    loads, and the copy in grammar.lark (what a reader sees) is the same text."""
    literal = re.search(r"^SIMPLE_NAME: /(.*)/$", (Path(ir.__file__).with_name("grammar.lark"))
                        .read_text(encoding="utf-8"), re.MULTILINE)
    assert literal is not None and literal.group(1) == SIMPLE_NAME_PATTERN
    assert f"SIMPLE_NAME: /{SIMPLE_NAME_PATTERN}/" in _grammar_text()


_TERMINALS = {t.name: re.compile(t.pattern.to_regexp()) for t in _lark().terminals}


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet='aZ09_.$-"\\ %@/\n\té')))
def test_the_grammar_reads_exactly_the_names_the_printer_writes(s: str) -> None:
    simple = re.fullmatch(SIMPLE_NAME_PATTERN, s) is not None
    quoted = _TERMINALS["STRING"].fullmatch(s) is not None
    for sigil, terminal in (("%", "VALUE_ID"), ("@", "SYMBOL")):
        # a name token is the sigil and then a simple name or a quoted string, exactly
        assert (_TERMINALS[terminal].fullmatch(sigil + s) is not None) == (simple or quoted)
        assert _TERMINALS[terminal].fullmatch(sigil + format_name(s))
    assert (format_name(s) == s) == simple
    assert ir.format_name(s) == format_name(s)
    if s:
        n = format_name(s)
        g = parse_graph(f"graph @{n}(%{n}: f32[1]) {{\n  return %{n}\n}}\n")
        assert g.name == s and g.inputs[0].name == s


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_quote_unquote_inverse(s: str) -> None:
    q = quote(s)
    assert "\n" not in q and "\r" not in q
    assert unquote(q) == s


# ---------------------------------------------------------------------------
# Attributes
# ---------------------------------------------------------------------------

def test_floats_always_look_like_floats() -> None:
    for x in [1.0, -0.0, 1e16, 1e-7, 5e-324, 1.7976931348623157e308, 0.1, 3.0]:
        s = format_float(x)
        assert any(ch in s for ch in ".e"), s
        assert float(s) == x and math.copysign(1, float(s)) == math.copysign(1, x)
    assert [format_float(x) for x in (math.inf, -math.inf, math.nan)] == ["inf", "-inf", "nan"]


def test_attribute_value_syntax() -> None:
    assert format_attr_value(3) == "3"
    assert format_attr_value(3.0) == "3.0"
    assert format_attr_value(True) == "true"
    assert format_attr_value("arm64") == '"arm64"'
    assert format_attr_value("nearest", bare_strings=True) == "nearest"
    for reserved in ("true", "false", "inf", "nan", "dense", "two words", "2d"):
        assert format_attr_value(reserved, bare_strings=True) == quote(reserved)
    assert format_attr_value(DType.I8) == "i8"
    assert format_attr_value((1, (2.5, "s"), ())) == '[1, [2.5, "s"], []]'
    assert format_attr_value({"a": 1, "b c": [True]}) == '{a = 1, "b c" = [true]}'
    assert format_attr_value(np.array([1, 2], np.int32)) == "dense<[1, 2]> : i32[2]"


def test_node_attributes_print_without_defaults_in_declaration_order() -> None:
    text = """graph @g(%x: f32[2,3]) {
  %y = nn.clip(%x) {max = 6, min = 0} : f32[2,3]
  %z = nn.clip(%y) {min = -inf} : f32[2,3]
  %c = nn.cast(%z) {to = i8} : i8[2,3]
  %e = nn.gelu(%z) {approximate = "tanh"} : f32[2,3]
  return %c, %e
}
"""
    g = parse_graph(text)
    clip, clip2, cast, gelu = g.nodes
    assert clip.attrs == {"min": 0.0, "max": 6.0}                  # ints coerced to floats
    assert isinstance(clip.attrs["max"], float)
    assert clip2.attrs == {"min": -math.inf, "max": math.inf}
    assert cast.attrs == {"to": DType.I8}
    assert gelu.attrs == {"approximate": "tanh"}
    printed = print_graph(g)
    assert "nn.clip(%x) {min = 0.0, max = 6.0} : f32[2,3]" in printed
    assert "%z = nn.clip(%y) : f32[2,3]" in printed                  # default omitted
    assert "{to = i8}" in printed
    assert "{approximate = tanh}" in printed                         # enums print bare
    roundtrip(g)


def test_float_attributes_roundtrip_exactly() -> None:
    g = Graph("g")
    x = g.add_input("x", "f32[2]")
    vals = [0.1, 1 / 3, 5e-324, -1e300, 123456789.123456789, math.nan]
    ys = [g.add("nn.clip", [x], {"min": v}).output for v in vals]
    g.set_outputs(ys)
    g2 = roundtrip(g)
    for n, v in zip(g2.nodes, vals):
        got = n.attrs["min"]
        assert got == v or (math.isnan(got) and math.isnan(v))


def _pad(value: float) -> Graph:
    g = Graph("g")
    x = g.add_input("x", "f32[2]")
    g.set_outputs([g.add("nn.pad", [x], {"pads": (1, 1), "value": value}).output])
    return g


def test_negative_zero_attributes_are_not_the_default() -> None:
    neg, pos = _pad(-0.0), _pad(0.0)
    assert "%0 = nn.pad(%x) {pads = [1, 1], value = -0.0} : f32[4]" in print_graph(neg)
    assert "%0 = nn.pad(%x) {pads = [1, 1]} : f32[4]" in print_graph(pos)
    for generic in (False, True):
        g2 = roundtrip(neg, generic=generic)
        assert struct.pack("<d", g2.nodes[0].attrs["value"]) == struct.pack("<d", -0.0)
    assert diff_graphs(neg, pos) is not None
    assert diff_graphs(_pad(math.nan), _pad(-math.nan)) is None   # every NaN prints as nan


def test_structural_equality_tells_zero_from_negative_zero() -> None:
    a, b = Graph("g"), Graph("g")
    a.attrs, b.attrs = {"bias": -0.0}, {"bias": 0.0}
    assert diff_graphs(a, b) is not None
    a.attrs, b.attrs = {"r": (1.0, -0.0)}, {"r": (1.0, 0.0)}
    assert diff_graphs(a, b) is not None
    a.attrs, b.attrs = {"r": (1.0, -0.0)}, {"r": (1.0, -0.0)}
    assert diff_graphs(a, b) is None
    clip = [Graph("g"), Graph("g")]
    for g, lo in zip(clip, (0.0, -0.0)):
        x = g.add_input("x", "f32[2]")
        g.set_outputs([g.add("nn.clip", [x], {"min": lo}).output])
    assert "node 0" in (diff_graphs(*clip) or "")


def test_graph_attributes_roundtrip_with_their_types() -> None:
    g = Graph("g")
    g.add_input("x", "f32[1]")
    g.set_outputs(g.inputs)
    g.attrs = {"target": "arm64", "dtype_name": "f32", "dtype": DType.F16, "n": -3,
               "big": 2**70, "f": 2.5, "nan": math.nan, "flag": False,
               "nested": (1, ("a", 2.0), ()), "map": {"x y": (0.0, 1.0), "z": {}},
               "odd key\n": "v\"al", "table": np.arange(20, dtype=np.int32)}
    sidecar: dict[str, np.ndarray] = {}
    text = print_graph(g, sidecar=sidecar)
    assert 'dtype_name = "f32", dtype = f16' in text
    g2 = parse_graph(text, sidecar=sidecar)
    assert g2.attrs["dtype"] is DType.F16 and g2.attrs["dtype_name"] == "f32"
    assert isinstance(g2.attrs["big"], int) and g2.attrs["big"] == 2**70
    assert g2.attrs["map"] == {"x y": (0.0, 1.0), "z": {}}
    assert np.array_equal(g2.attrs["table"], g.attrs["table"])
    assert diff_graphs(g2, g) is None


# ---------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------

def const_graph(arr: np.ndarray, type: str | TensorType | None = None, name: str = "c") -> Graph:
    g = Graph("g")
    c = g.add_const(arr, name, type)
    g.set_outputs([c])
    return g


def const_line(g: Graph, **kw: Any) -> str:
    return print_graph(g, **kw).splitlines()[1].strip()


def test_inline_splat_and_sidecar_constants() -> None:
    small = const_graph(np.array([1.5, -2.0, 3.25], np.float32))
    assert const_line(small) == "%c = const dense<[1.5, -2.0, 3.25]> : f32[3]"
    splat = const_graph(np.full((64, 64), 7, np.int8))
    assert const_line(splat) == "%c = const dense<7> : i8[64,64]"
    scalar = const_graph(np.float32(2.0))
    assert const_line(scalar) == "%c = const dense<2.0> : f32[]"
    empty = const_graph(np.zeros((0, 3), np.float32))
    assert const_line(empty) == "%c = const dense<[]> : f32[0,3]"
    at_limit = const_graph(np.arange(16, dtype=np.int32))
    assert "dense<[0, 1, 2," in const_line(at_limit)
    big = const_graph(np.arange(17, dtype=np.int32), name="w.1 odd")
    assert const_line(big) == "%\"w.1 odd\" = const @w.1_odd : i32[17]"  # display only
    sidecar: dict[str, np.ndarray] = {}
    print_graph(big, sidecar=sidecar)
    assert list(sidecar) == ["w.1_odd"]
    assert const_line(at_limit, inline_limit=4).startswith("%c = const @c : i32[16]")
    for g in (small, splat, scalar, empty, at_limit, big):
        roundtrip(g)
        roundtrip(g, generic=True)
        roundtrip(g, inline_limit=0)


def test_sidecar_keys_are_unique_and_simple() -> None:
    g = Graph("g")
    outs = [g.add_const(np.arange(20, dtype=np.float32), n) for n in ("a b", "a_b", "a?b", "")]
    g.set_outputs(outs)
    sidecar: dict[str, np.ndarray] = {"a_b": np.zeros(1)}   # keys already taken are avoided
    text = print_graph(g, sidecar=sidecar)
    assert [v.name for v in outs] == ["a b", "a_b", "a?b", "0"]   # "" gets a fresh name
    assert list(sidecar) == ["a_b", "a_b_1", "a_b_2", "a_b_3", "0"]
    assert "%\"a b\" = const @a_b_1 : f32[20]" in text
    del sidecar["a_b"]
    g2 = parse_graph(text, sidecar=sidecar)
    assert diff_graphs(g2, g) is None


def test_special_floats_are_bit_exact() -> None:
    snan = {2: 0x7C01, 4: 0x7F800001, 8: 0xFFF0000000000001}    # signalling, odd payloads
    for dt in (np.float16, np.float32, np.float64):
        ui = np.dtype(f"u{np.dtype(dt).itemsize}")
        vals = np.array([np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, 0.1, 1e-5, 0], dt)
        bits = vals.view(ui).copy()
        bits[-1] = snan[ui.itemsize]
        g = const_graph(bits.view(dt))
        line = const_line(g)
        assert "[nan, -nan, inf, -inf, -0.0, 0.0, 0.1" in line, line
        assert line.endswith(f"0x{snan[ui.itemsize]:0{ui.itemsize * 2}x}]> : "
                             f"f{ui.itemsize * 8}[9]"), line
        g2 = roundtrip(g)
        assert g2.value("c").const_value.view(ui).tolist() == bits.tolist()
        roundtrip(g, generic=True)
        roundtrip(g, inline_limit=0)


def test_float32_elements_print_short_when_exact() -> None:
    g = const_graph(np.array([0.1, 1 / 3, 65504.0, 1e-45], np.float32))
    assert const_line(g) == "%c = const dense<[0.1, 0.33333334, 65504.0, 1e-45]> : f32[4]"
    g16 = const_graph(np.array([0.1, 65504.0, 6e-08], np.float16))
    assert const_line(g16) == "%c = const dense<[0.1, 6.55e+04, 6e-08]> : f16[3]"
    roundtrip(g)
    roundtrip(g16)


def test_bool_int4_and_quantized_constants() -> None:
    b = const_graph(np.array([True, False, True]))
    assert const_line(b) == "%c = const dense<[true, false, true]> : b1[3]"
    i4 = const_graph(np.array([-8, 7, 0], np.int8), "i4[3]")
    assert const_line(i4) == "%c = const dense<[-8, 7, 0]> : i4[3]"
    q = const_graph(np.array([[1, -2], [3, 4]], np.int8), "i8[2,2]<axis=1,[0.5,0.25],[0,1]>")
    assert const_line(q) == "%c = const dense<[1, -2, 3, 4]> : i8[2,2]<axis=1,[0.5,0.25],[0,1]>"
    u4 = const_graph(np.arange(16, dtype=np.uint8).reshape(4, 4), "u4[4,4]<0.1,8>#csr")
    for g in (b, i4, q, u4):
        roundtrip(g)
        roundtrip(g, generic=True)
        roundtrip(g, inline_limit=0)
    g = parse_graph("graph @g() {\n  %c = const dense<[1, 0x7]> : i4[2]\n  return %c\n}")
    assert g.value("c").const_value.tolist() == [1, 7]


@pytest.mark.parametrize("body, message", [
    ("const dense<[1, 2, 3]> : f32[2]", "2:14: dense<...> has 3 element(s) but f32[2] has 2"),
    ("const dense<[1, 8]> : i4[2]", "2:24: 8 is out of range for i4 [-8, 7]"),
    ("const dense<[1.5]> : i8[1]", "2:21: expected an integer for an element of i8, got 1.5"),
    ("const dense<2> : b1[1]", "2:20: expected true or false for an element of b1, got 2"),
    ("const dense<true> : f32[1]", "2:20: expected a number for an element of f32, got true"),
    ("const dense<1e10> : f16[1]", "2:20: 1e10 overflows f16 (write inf for infinity)"),
    ("const dense<70000.0> : f16[1]", "2:20: 70000.0 overflows f16 (write inf for infinity)"),
    ("const dense<[1.0, 1e400]> : f32[2]",
     "2:26: 1e400 overflows f32 (write inf for infinity)"),
    ("const dense<[-1e400]> : f64[1]", "2:21: -1e400 overflows f64 (write inf for infinity)"),
    ("const dense<1e39> : f32[1]", "2:20: 1e39 overflows f32 (write inf for infinity)"),
    ("const dense<0x10000> : f16[1]", "2:20: bit pattern 0x10000 is wider than f16 (16 bits)"),
])
def test_constant_errors(body: str, message: str) -> None:
    err = parse_error(f"graph @g() {{\n  %c = {body}\n  return %c\n}}")
    assert str(err) == f"t.irc:{message}"


def test_infinity_is_written_inf() -> None:
    g = parse_graph("graph @g() {\n  %c = const dense<[inf, -inf, +inf, 65504.0]> : f16[4]\n"
                    "  return %c\n}")
    assert g.value("c").const_value.tolist() == [math.inf, -math.inf, math.inf, 65504.0]


@pytest.mark.parametrize("text, where", [
    ("graph @g(%x: f32[2]) {\n  %y = nn.clip(%x) {min = 1e400} : f32[2]\n  return %y\n}",
     "t.irc:2:27: 1e400 overflows f64"),
    ("graph @g(%x: f32[2]) {\n  %y = nn.clip(%x) {min = -1e999} : f32[2]\n  return %y\n}",
     "t.irc:2:27: -1e999 overflows f64"),
    ("graph @g() attributes {a = [1.0, 2e308]} {\n  return\n}",
     "t.irc:1:34: 2e308 overflows f64"),
    ("graph @g(%x: i8[2]<1e400,0>) {\n  return %x\n}", "t.irc:1:20: 1e400 overflows f64"),
])
def test_float_attributes_that_overflow_are_errors(text: str, where: str) -> None:
    assert str(parse_error(text)).startswith(where)


@pytest.mark.parametrize("lit", [
    "dense<0.0> : f32[100000000000]",
    "dense<0> : i8[2147483649]",                       # elements over the cap
    "dense<0.0> : f64[1073741825]",                    # bytes over the cap
    "dense<[1.0, 2.0]> : f32[100000,100000,100000]",
    "@w : f32[100000000000]",
])
def test_absurd_constants_are_refused_before_allocating(lit: str) -> None:
    assert MAX_CONSTANT_ELEMENTS == 2**31 and MAX_CONSTANT_BYTES == 8 * 2**30
    err = parse_error(f"graph @g() {{\n  %c = const {lit}\n  return %c\n}}",
                      sidecar={"w": np.zeros(1, np.float32)})
    assert re.fullmatch(r"t\.irc:2:14: constant \S+ is too large: [0-9,]+ elements, [0-9,]+ "
                        r"bytes \(irc accepts constants of up to 2,147,483,648 elements and "
                        r"8 GiB\)", str(err)), str(err)
    # graph inputs of any size are fine: they allocate nothing
    g = parse_graph("graph @g(%x: f32[100000000000]) {\n  return %x\n}")
    assert g.inputs[0].type.size == 10**11


def test_sidecar_errors() -> None:
    text = "graph @g() {\n  %c = const @w : f32[2,3]\n  return %c\n}"
    err = parse_error(text)
    assert str(err).startswith("t.irc:2:14: tensor @w refers to a sidecar, but none was given")
    err = parse_error(text, sidecar={"w0": np.zeros((2, 3), np.float32)})
    assert str(err) == "t.irc:2:14: sidecar has no array 'w'; did you mean @w0? (it has 1: w0)"
    err = parse_error(text, sidecar={"w": np.zeros((3, 2), np.float32)})
    assert str(err) == ("t.irc:2:14: sidecar array 'w' does not fit f32[2,3]: shape [3, 2] "
                        "does not match type shape [2, 3]")
    err = parse_error(text, sidecar={"w": np.zeros((2, 3), np.float64)})
    assert "numpy dtype float64 does not store f32" in str(err)
    err = parse_error(text, sidecar_file="m.npz")
    assert str(err) == ("t.irc:2:14: tensor @w is stored in the sidecar file m.npz, which "
                        "does not exist")


# ---------------------------------------------------------------------------
# Statements, generic form, every op
# ---------------------------------------------------------------------------

def test_multi_result_custom_and_generic() -> None:
    text = """graph @g(%x: f32[4,6]) {
  %a, %b, %c = nn.split(%x) {axis = -1, sizes = [1, 2, 3]} : f32[4,1], f32[4,2], f32[4,3]
  %d, %e = "nn.split"(%x) {sizes = [1, 3]} : (f32[4,6]) -> (f32[1,6], f32[3,6])
  return %c, %e
}
"""
    g = parse_graph(text)
    assert [v.name for v in g.nodes[0].outputs] == ["a", "b", "c"]
    assert g.nodes[1].attrs == {"axis": 0, "sizes": (1, 3)}
    roundtrip(g)
    roundtrip(g, generic=True)


def test_zero_result_generic_statement() -> None:
    g = parse_graph('graph @g(%x: f32[2]) {\n  "nn.relu"(%x) : (f32[2]) -> ()\n  return %x\n}')
    assert len(g.nodes) == 1 and g.nodes[0].outputs == []
    assert "  nn.relu(%x)\n" in print_graph(g)
    roundtrip(g)
    roundtrip(g, generic=True)


def _sample_attr(kind: Any) -> Any:
    """A value each attribute kind accepts (for required attributes)."""
    if isinstance(kind, Int):
        return kind.min if kind.min is not None else 0
    if isinstance(kind, Float):
        return kind.min if kind.min is not None else 0.5
    if isinstance(kind, Bool):
        return True
    if isinstance(kind, Enum):
        return kind.choices[-1]
    if isinstance(kind, Ints):
        n = kind.length if kind.length is not None else 2
        return [max(kind.min or 0, 1)] * n
    if isinstance(kind, Floats):
        return [0.5] * (kind.length if kind.length is not None else 2)
    if isinstance(kind, DTypeAttr):
        return "i8"
    if isinstance(kind, Str):
        return "s p a c e"
    if isinstance(kind, ArrayAttr):
        return np.arange(3, dtype=np.float32)
    pytest.skip(f"no sample for attribute kind {kind!r}")


@pytest.mark.parametrize("opname", sorted(all_ops()))
def test_every_registered_op_in_both_forms(opname: str) -> None:
    """Each op prints and parses in both forms (the parser needs no per-op grammar;
    result types are taken as written, so any types will do here)."""
    op = all_ops()[opname]
    n = sum(1 if not (o.optional or o.variadic) else (2 if o.variadic else 0)
            for o in op.operands)
    g = Graph("every")
    xs = [g.add_input(f"x{i}", f"f32[2,{i + 1}]") for i in range(n)]
    attrs = {a.name: _sample_attr(a.kind) for a in op.attrs if a.default is REQUIRED}
    for a in op.attrs:      # and one non-default value where we can make one
        if a.default is not REQUIRED and isinstance(a.kind, (Bool, Enum)):
            attrs[a.name] = (not a.default) if isinstance(a.kind, Bool) else \
                next((c for c in a.kind.choices if c != a.default), a.default)
    node = g.make_node(opname, xs, attrs, output_types=[TensorType(F32, (3,)),
                                                        TensorType(DType.I8, (1,))],
                       name="here")
    g.append(node)
    g.set_outputs(node.outputs)
    generic = print_graph(g, generic=True)
    assert f'= "{opname}"(' in generic
    custom = print_graph(g)
    if opname != "const":
        assert f"= {opname}(" in custom
    roundtrip(g)
    roundtrip(g, generic=True)
    assert print_graph(parse_graph(generic)) == custom


# ---------------------------------------------------------------------------
# Errors with positions
# ---------------------------------------------------------------------------

HEAD = "graph @g(%x: f32[2]) {\n"


@pytest.mark.parametrize("body, message", [
    ("  %y = nn.relu(%x : f32[2]\n  return %y\n}", "2:19: unexpected ':'; expected ')' or ','"),
    ("  %y = nn.relu(%z) : f32[2]\n  return %y\n}", "2:16: undefined value %z"),
    ("  %y = nn.relu(%x) : f32[2]\n  return %yy\n}",
     "3:10: undefined value %yy; did you mean %y?"),
    ("  %x = nn.relu(%x) : f32[2]\n  return %x\n}",
     "2:3: value %x is already defined (at line 1, column 10); SSA names must be unique"),
    ("  %y = nn.clip(%x) {mni = 1.0} : f32[2]\n  return %y\n}",
     "2:21: nn.clip: unknown attribute 'mni'; did you mean 'min'? (attributes of nn.clip: "
     "min, max)"),
    ("  %y = nn.clip(%x) {min = \"a\"} : f32[2]\n  return %y\n}",
     "2:21: nn.clip: attribute 'min': expected a number, got 'a'"),
    ("  %y = nn.clip(%x) {min = 1.0, min = 2.0} : f32[2]\n  return %y\n}",
     "2:32: nn.clip: attribute 'min' is given twice"),
    ("  %y = nn.cast(%x) : i8[2]\n  return %y\n}",
     "2:8: nn.cast: missing required attribute 'to' (dtype)"),
    ("  %y = nn.rleu(%x) : f32[2]\n  return %y\n}",
     "2:8: unknown op 'nn.rleu'; did you mean nn.relu"),
    ("  %y = \"nn.relu\"(%x) : (f32[3]) -> f32[2]\n  return %y\n}",
     "2:18: nn.relu: operand %x has type f32[2], but the signature says f32[3]"),
    ("  %y = \"nn.relu\"(%x) : () -> f32[2]\n  return %y\n}",
     "2:8: nn.relu: the signature lists 0 operand type(s) for 1 operand(s)"),
    ("  %y = nn.relu(%x)\n  return %y\n}",
     "2:8: nn.relu: 1 result name(s) but no result types (write `: T` after the operands)"),
    ("  %y, %z = nn.relu(%x) : f32[2]\n  return %y\n}",
     "2:12: nn.relu: 2 result name(s) but 1 result type(s)"),
    ("  %y = nn.relu(%x) : f32[2] ?\n  return %y\n}", "2:29: unexpected character '?'"),
    ("  %y = nn.relu(%x) : f32[2] loc(\"abc)\n  return %y\n}",
     "2:33: unterminated string"),
    ("  %y = nn.relu(%x) : f32[2]\n  return %y\n", "4:1: unexpected end of input; "
     "expected ',' or '}'"),
    ("  %y = nn.relu(%x) : f32[2]\n  return %y\n} extra", "4:3: unexpected 'extra'; "
     "expected end of input"),
    ("  %y = const : f32[2]\n  return %y\n}", "2:14: unexpected ':'; expected 'dense' or "
     "a name (@x)"),
    ("  %y, %z = const dense<1.0> : f32[2]\n  return %y\n}",
     "2:12: const defines exactly one value, got 2 name(s)"),
    ("  %y = nn.relu(%x) {a = \"\\q\"} : f32[2]\n  return %y\n}",
     "2:25: unknown escape '\\q' in a string"),
])
def test_error_messages_have_line_and_column(body: str, message: str) -> None:
    err = parse_error(HEAD + body)
    assert str(err).startswith(f"t.irc:{message}"), str(err)
    line, col = message.split(":")[:2]
    assert (err.file, err.line, err.column) == ("t.irc", int(line), int(col))


def test_duplicate_graph_input_and_attribute() -> None:
    assert str(parse_error("graph @g(%x: f32[2], %x: f32[2]) {\n  return %x\n}")) == \
        "t.irc:1:22: value %x is already defined (at line 1, column 10); SSA names must be unique"
    assert str(parse_error("graph @g() attributes {a = 1, a = 2} {\n  return\n}")) == \
        "t.irc:1:31: graph attribute 'a' is given twice"


# ---------------------------------------------------------------------------
# Files: .irc + sidecar .npz
# ---------------------------------------------------------------------------

def model() -> Graph:
    g = Graph("m")
    x = g.add_input("x", "f32[1,32]")
    w = g.add_const(np.random.default_rng(0).standard_normal(32).astype(np.float32), "w")
    y = g.add("nn.add", [x, w], output_names=["y"]).output
    g.set_outputs([y])
    return g


def test_save_and_load(tmp_path: Path) -> None:
    g = model()
    path = tmp_path / "model.irc"
    save_text(g, path)
    assert sorted(os.listdir(tmp_path)) == ["model.irc", "model.npz"]   # no temp files left
    assert sidecar_path(path) == tmp_path / "model.npz"
    assert "%w = const @w : f32[32]" in path.read_text()
    with np.load(tmp_path / "model.npz") as z:
        assert set(z.files) == {"w", SIDECAR_MARKER}
    g2 = load_text(path)
    assert diff_graphs(g2, g) is None
    # saving a graph with only small constants removes the stale sidecar
    small = Graph("s")
    small.set_outputs([small.add_input("x", "f32[1]")])
    save_text(small, path)
    assert sorted(os.listdir(tmp_path)) == ["model.irc"]
    assert diff_graphs(load_text(path), small) is None


def test_save_refuses_to_overwrite_a_foreign_npz(tmp_path: Path) -> None:
    np.savez(tmp_path / "model.npz", calib=np.zeros(3))
    with pytest.raises(InputError, match="refusing to overwrite .*model.npz"):
        save_text(model(), tmp_path / "model.irc")
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
    with np.load(tmp_path / "model.npz") as z:
        assert z.files == ["calib"]


def test_load_with_missing_sidecar_names_both_files(tmp_path: Path) -> None:
    path = tmp_path / "model.irc"
    save_text(model(), path)
    os.unlink(tmp_path / "model.npz")
    with pytest.raises(ParseError) as info:
        load_text(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:2:14: ")
    assert f"tensor @w is stored in the sidecar file {tmp_path / 'model.npz'}, which does " \
           "not exist" in msg


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_text(tmp_path / "nope.irc")


# ---------------------------------------------------------------------------
# Performance
# ---------------------------------------------------------------------------

def test_ten_thousand_nodes_print_and_parse_fast() -> None:
    """Rerun: ``python -m pytest tests/ir/test_printer_parser.py -k ten_thousand -s``."""
    g = Graph("big")
    v = g.add_input("x", "f32[1,64]")
    k = 0
    while len(g.nodes) < 10_000:
        c = g.add_const(np.full((1, 64), k, np.float32) if k % 2 else
                        np.arange(64, dtype=np.float32).reshape(1, 64) + k)
        v = g.add("nn.add", [v, c], {"clamp": (-1.0, 6.0)} if k % 3 == 0 else None,
                  name=f"add{k}").output
        v = g.add("nn.relu", [v]).output
        v = g.add("nn.clip", [v], {"min": 0.5}).output
        k += 1
    g.set_outputs([v])
    t0 = time.perf_counter()
    sidecar: dict[str, np.ndarray] = {}
    text = print_graph(g, sidecar=sidecar)
    t1 = time.perf_counter()
    g2 = parse_graph(text, sidecar=sidecar)
    t2 = time.perf_counter()
    print(f"\n10k nodes, {len(text)} bytes: print {t1 - t0:.3f} s, parse {t2 - t1:.3f} s")
    assert diff_graphs(g2, g) is None
    assert t2 - t0 < 5.0
