"""The text form printer: the one place irc's text syntax is produced.

::

    graph @mlp(%x: f32[1,784]) attributes {target = "arm64"} {
      %w = const @w : f32[784,128]                     // large: sidecar reference
      %b = const dense<[0.5, -1.0]> : f32[2]           // small: inline, flat row-major
      %z = const dense<0.0> : f32[64,64]               // splat: every element equal
      %0 = nn.gemm(%x, %w, %b) {trans_b = true} : f32[1,128] loc("fc1")
      %a, %c = nn.split(%0) {axis = 1, sizes = [64, 64]} : f32[1,64], f32[1,64]
      %q = "nn.relu"(%a) : (f32[1,64]) -> f32[1,64]    // generic form
      return %q, %c
    }

Every registered op prints in the *custom* form ``op(%operands) {attrs} : results``
(operand types are omitted: they are the types of the operands); ``generic=True``
prints every op as ``"op"(%operands) {attrs} : (operand types) -> results``.
Both forms omit attributes equal to the op's default and parse back to the same
graph (:mod:`irc.parser`; ``parse(print(g))`` is structurally equal to ``g``).

Values:

* ints print as ints; floats always carry ``.``, an exponent, ``inf`` or ``nan``
  (``repr`` of the float64, so they round-trip exactly); ``true``/``false``;
* ``Str`` attributes and every graph-attribute string print quoted; enum values
  and dtypes print bare (quoted only when they are not identifiers or would read
  as a keyword: ``true``, ``false``, ``inf``, ``nan``, ``dense``);
* tensors print as ``dense<[1.0, 2.0]> : T`` (flat, row-major), ``dense<0.0> : T``
  when every element is bitwise equal (any size), or ``@key : T`` when larger
  than ``inline_limit`` elements: the array goes into the ``sidecar`` dict under
  ``key`` (the value name, made a simple name and unique).  Float elements print
  in the shortest form that reads back bit-exactly through float64 (for f16/f32
  the float64 ``repr`` of the widened value when the short form does not); NaN
  prints as ``nan``/``-nan`` when it is the canonical quiet NaN and otherwise as
  its bit pattern in hex (``0x7fc00001``), as MLIR does.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from .dtypes import DType
from .errors import IRError
from .ir import _attrs_key
from .ops import DTypeAttr, Enum, OpDef, get_op, has_op
from .types import PerAxis, PerTensor, TensorType

if TYPE_CHECKING:
    from .ir import Graph, Node, Value

#: The one definition of a simple value or graph name, printed bare after ``%``/``@``
#: (any other name prints quoted).  irc/grammar.lark's SIMPLE_NAME terminal is
#: this pattern: the parser puts it there when it loads the grammar.
SIMPLE_NAME_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.$-]*"
_SIMPLE_NAME = re.compile(SIMPLE_NAME_PATTERN + r"\Z")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: Identifiers that read as something else where an attribute value is expected.
RESERVED_WORDS = frozenset({"true", "false", "inf", "nan", "dense"})
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Bit patterns of the canonical quiet NaN per float width (what ``nan`` reads as).
_QNAN = {16: 0x7E00, 32: 0x7FC00000, 64: 0x7FF8000000000000}
_INF = {16: 0x7C00, 32: 0x7F800000, 64: 0x7FF0000000000000}


# ---------------------------------------------------------------------------
# Small pieces: floats, strings, names, types
# ---------------------------------------------------------------------------

def format_float(x: float) -> str:
    """Shortest text that parses back to exactly ``x`` (``inf``, ``-inf``, ``nan`` too)."""
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


def quote(s: str) -> str:
    """``s`` as a double-quoted string literal.

    Escapes ``\\``, ``"``, ``\\n``, ``\\r``, ``\\t`` and any other non-printable
    character (``\\xHH``, ``\\uHHHH``, ``\\UHHHHHHHH``) so a quoted string never
    spans lines; :func:`irc.parser.unquote` inverts it.
    """
    if s.isprintable() and '"' not in s and "\\" not in s:
        return f'"{s}"'
    out = []
    for ch in s:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch.isprintable():
            out.append(ch)
        else:
            o = ord(ch)
            out.append(f"\\x{o:02x}" if o < 0x100 else
                       f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")
    return '"' + "".join(out) + '"'


def format_name(name: str) -> str:
    """A value or graph name as printed after ``%``/``@``: bare when it is a
    simple name (:data:`SIMPLE_NAME_PATTERN`), else :func:`quote`-d."""
    return name if _SIMPLE_NAME.match(name) else quote(name)


def format_key(key: str) -> str:
    """An attribute name: bare when an identifier, else quoted."""
    if not isinstance(key, str):
        raise IRError(f"attribute names must be strings, got {key!r}")
    return key if _IDENT.match(key) else quote(key)


def format_type(t: TensorType) -> str:
    s = f"{t.dtype}[{','.join(str(d) for d in t.shape)}]"
    q = t.quant
    if isinstance(q, PerTensor):
        s += f"<{format_float(q.scale)},{q.zero_point}>"
    elif isinstance(q, PerAxis):
        s += (f"<axis={q.axis},[{','.join(format_float(x) for x in q.scales)}],"
              f"[{','.join(str(z) for z in q.zero_points)}]>")
    if not t.encoding.is_dense:
        s += f"#{t.encoding}"
    return s


def _uint_of(dt: np.dtype) -> np.dtype:
    return np.dtype(f"u{dt.itemsize}")


def format_element_float(x: np.floating) -> str:
    """One float tensor element, exactly (see the module docstring)."""
    dt = np.dtype(type(x))
    bits = int(np.asarray(x).view(_uint_of(dt)))
    width = dt.itemsize * 8
    sign = bits >> (width - 1)
    magnitude = bits & ~(1 << (width - 1))
    inf = _INF[width]
    if magnitude > inf:             # NaN (decided on the bits: no FP compare on sNaN)
        if magnitude == _QNAN[width]:
            return "-nan" if sign else "nan"
        return f"0x{bits:0{width // 4}x}"
    if magnitude == inf:
        return "-inf" if sign else "inf"
    if dt == np.float64:
        return repr(float(x))
    short = str(x)   # numpy's shortest round-trip text at the element's own precision
    if ("." in short or "e" in short) and \
            int(np.asarray(float(short), dtype=dt).view(_uint_of(dt))) == bits:
        return short
    return repr(float(x))


def _format_elements(flat: np.ndarray) -> list[str]:
    kind = flat.dtype.kind
    if kind == "b":
        return ["true" if v else "false" for v in flat.tolist()]
    if kind in "iu":
        return [str(v) for v in flat.tolist()]
    if kind == "f":
        return [format_element_float(v) for v in flat]
    raise IRError(f"the text form cannot print arrays of numpy dtype {flat.dtype}")


def is_splat(arr: np.ndarray) -> bool:
    """True when ``arr`` has at least one element and all are bitwise equal."""
    if arr.size == 0:
        return False
    flat = np.ascontiguousarray(arr).reshape(-1)
    if flat.dtype.kind == "f":
        flat = flat.view(_uint_of(flat.dtype))
    return bool((flat == flat[0]).all())


def _sidecar_key(hint: str, used: set[str] | dict[str, Any]) -> str:
    """A simple, unique sidecar key made from ``hint``."""
    key = re.sub(r"[^A-Za-z0-9_.-]", "_", hint)
    if not key or not (key[0].isalnum() or key[0] == "_"):
        key = "v" + key
    if key.startswith("__irc"):       # reserved for the sidecar file's own entries
        key = "v" + key
    if key not in used:
        return key
    k = 1
    while f"{key}_{k}" in used:
        k += 1
    return f"{key}_{k}"


# ---------------------------------------------------------------------------
# The graph printer
# ---------------------------------------------------------------------------

def print_graph(graph: "Graph", *, sidecar: dict[str, np.ndarray] | None = None,
                generic: bool = False, inline_limit: int = 16) -> str:
    """The text form of ``graph``.

    ``sidecar``: when a dict, every constant with more than ``inline_limit``
    elements (and not a splat) is stored into it under a unique key and printed
    as ``@key``; when None such constants still print as ``@key`` references
    (display only: the text alone cannot be parsed back).  ``generic`` prints
    every op in the generic form.
    """
    return _Printer(sidecar, generic, inline_limit).graph(graph)


def print_node(node: "Node", *, generic: bool = False, inline_limit: int = 16) -> str:
    """One node's line (without indentation), as :func:`print_graph` prints it."""
    return _Printer(None, generic, inline_limit).node(node)


def format_attr_value(value: Any, *, bare_strings: bool = False, inline_limit: int = 16) -> str:
    """An attribute value as :func:`print_graph` prints it (``bare_strings``: as
    for enum attributes, whose identifier values print unquoted)."""
    return _Printer(None, False, inline_limit).value(value, quote_strings=not bare_strings,
                                                     key_hint="value")


class _Printer:
    def __init__(self, sidecar: dict[str, np.ndarray] | None, generic: bool,
                 inline_limit: int) -> None:
        self.sidecar = sidecar
        self.used_keys: set[str] = set(sidecar) if sidecar is not None else set()
        self.generic = generic
        self.inline_limit = inline_limit
        self.names: dict[int, str] = {}
        self.types: dict[TensorType, str] = {}

    # -- pieces ---------------------------------------------------------------------
    def ref(self, v: "Value") -> str:
        s = self.names.get(id(v))
        if s is None:
            s = self.names[id(v)] = "%" + format_name(v.name)
        return s

    def type(self, t: TensorType) -> str:
        s = self.types.get(t)
        if s is None:
            s = self.types[t] = format_type(t)
        return s

    def array(self, arr: np.ndarray, ty: TensorType, key_hint: str) -> str:
        """``dense<...> : T`` or ``@key : T``."""
        tys = self.type(ty)
        if is_splat(arr):
            first = np.ascontiguousarray(arr).reshape(-1)[:1]
            return f"dense<{_format_elements(first)[0]}> : {tys}"
        if arr.size <= self.inline_limit:
            elems = _format_elements(np.ascontiguousarray(arr).reshape(-1))
            return f"dense<[{', '.join(elems)}]> : {tys}"
        key = _sidecar_key(key_hint, self.used_keys)
        self.used_keys.add(key)
        if self.sidecar is not None:
            self.sidecar[key] = arr
        return f"@{format_name(key)} : {tys}"

    def value(self, v: Any, *, quote_strings: bool, key_hint: str) -> str:
        """An attribute value.  ``quote_strings``: print str values quoted even
        when they are identifiers (Str attributes, graph attributes)."""
        if isinstance(v, (bool, np.bool_)):
            return "true" if v else "false"
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        if isinstance(v, (float, np.floating)):
            return format_float(float(v))
        if isinstance(v, DType):
            return v.short
        if isinstance(v, str):
            if not quote_strings and _IDENT.match(v) and v not in RESERVED_WORDS:
                return v
            return quote(v)
        if isinstance(v, (tuple, list)):
            return "[" + ", ".join(self.value(x, quote_strings=quote_strings,
                                              key_hint=f"{key_hint}.{i}")
                                   for i, x in enumerate(v)) + "]"
        if isinstance(v, dict):
            return self.attr_dict(v.items(), quote_strings=quote_strings, key_hint=key_hint)
        if isinstance(v, np.ndarray):
            try:
                dt = DType.from_numpy(v.dtype)
            except ValueError:
                raise IRError(f"{key_hint}: the text form cannot print an array of numpy "
                              f"dtype {v.dtype}") from None
            return self.array(v, TensorType(dt, v.shape), key_hint)
        raise IRError(f"{key_hint}: the text form cannot print the attribute value {v!r} "
                      f"(of type {type(v).__name__})")

    def attr_dict(self, items: Any, *, quote_strings: bool, key_hint: str) -> str:
        parts = [f"{format_key(k)} = "
                 f"{self.value(v, quote_strings=quote_strings, key_hint=f'{key_hint}.{k}')}"
                 for k, v in items]
        return "{" + ", ".join(parts) + "}"

    def node_attrs(self, node: "Node", opdef: OpDef | None) -> str:
        """`` {k = v, ...}`` without defaults, in the op's declaration order."""
        if not node.attrs:
            return ""
        hint = node.outputs[0].name if node.outputs else node.op
        attrs = node.attrs
        parts = []
        specs, known = _attr_specs(opdef) if opdef is not None else ((), frozenset())
        for name, default_key, bare in specs:
            if name not in attrs:
                continue
            v = attrs[name]
            if default_key is not None and _attrs_key({"": v}) == default_key:
                continue
            parts.append(f"{format_key(name)} = "
                         f"{self.value(v, quote_strings=not bare, key_hint=f'{hint}.{name}')}")
        for k, v in attrs.items():   # not declared by the op (the verifier reports them)
            if k not in known:
                parts.append(f"{format_key(k)} = "
                             f"{self.value(v, quote_strings=True, key_hint=f'{hint}.{k}')}")
        return " {" + ", ".join(parts) + "}" if parts else ""

    # -- nodes and graphs -----------------------------------------------------------------
    def node(self, node: "Node") -> str:
        outs = ", ".join(self.ref(v) for v in node.outputs)
        head = f"{outs} = " if node.outputs else ""
        loc = f" loc({quote(node.name)})" if node.name is not None else ""
        if node.op == "const" and not self.generic and set(node.attrs) == {"value"} \
                and len(node.outputs) == 1 and not node.inputs:
            out = node.outputs[0]
            return f"{head}const {self.array(node.attrs['value'], out.type, out.name)}{loc}"
        opdef = get_op(node.op) if has_op(node.op) else None
        args = ", ".join(self.ref(v) for v in node.inputs)
        if node.op == "const" and "value" in node.attrs and len(node.outputs) == 1:
            # generic const: the literal carries the full result type
            out = node.outputs[0]
            lit = self.array(node.attrs["value"], out.type, out.name)
            rest = {k: v for k, v in node.attrs.items() if k != "value"}
            attrs = " {value = " + lit + "".join(
                f", {format_key(k)} = {self.value(v, quote_strings=True, key_hint=k)}"
                for k, v in rest.items()) + "}"
        else:
            attrs = self.node_attrs(node, opdef)
        results = [self.type(v.type) for v in node.outputs]
        if self.generic or opdef is None or node.op == "const":
            ins = ", ".join(self.type(v.type) for v in node.inputs)
            res = results[0] if len(results) == 1 else "(" + ", ".join(results) + ")"
            return f"{head}{quote(node.op)}({args}){attrs} : ({ins}) -> {res}{loc}"
        sig = " : " + ", ".join(results) if results else ""
        return f"{head}{node.op}({args}){attrs}{sig}{loc}"

    def graph(self, g: "Graph") -> str:
        params = ", ".join(f"{self.ref(v)}: {self.type(v.type)}" for v in g.inputs)
        attrs = ""
        if g.attrs:
            attrs = " attributes " + self.attr_dict(g.attrs.items(), quote_strings=True,
                                                    key_hint="graph")
        lines = [f"graph @{format_name(g.name)}({params}){attrs} {{"]
        lines.extend("  " + self.node(n) for n in g.nodes)
        rets = ", ".join(self.ref(v) for v in g.outputs)
        lines.append(f"  return {rets}" if rets else "  return")
        lines.append("}")
        return "\n".join(lines) + "\n"


_Specs = tuple[list[tuple[str, Any, bool]], frozenset[str]]
_SPECS: dict[int, tuple[OpDef, _Specs]] = {}


def _attr_specs(opdef: OpDef) -> _Specs:
    """Per attribute of ``opdef``, in declaration order: its name, the comparison
    key of its default (None when required) and whether string values print bare;
    and the set of the names."""
    hit = _SPECS.get(id(opdef))
    if hit is not None and hit[0] is opdef:
        return hit[1]
    specs = [(a.name, None if a.required else _attrs_key({"": a.default}),
              isinstance(a.kind, (Enum, DTypeAttr))) for a in opdef.attrs]
    res = (specs, frozenset(a.name for a in opdef.attrs))
    _SPECS[id(opdef)] = (opdef, res)
    return res
