"""The text form parser: ``irc/grammar.lark`` (LALR) plus the semantics here.

:func:`parse_graph` reads what :func:`irc.printer.print_graph` writes — both the
custom form (``%y = nn.relu(%x) : f32[4]``) and the generic form
(``%y = "nn.relu"(%x) : (f32[4]) -> f32[4]``) of any op — and builds the graph
while lark parses (the callbacks below run as each rule is reduced; no parse
tree is built), so a 10,000-node graph parses in well under a second.

What the parser checks, each as a :class:`~irc.errors.ParseError` with file,
line and column: syntax (with the tokens that would have been accepted), value
names defined once and before use, op names (an unknown op is an error that
suggests close names: a node needs its op's definition, e.g. to fill attribute
defaults), attribute names and values (by the op's attribute kinds), operand
types in the generic form against the operands' actual types, result counts,
sidecar keys, that constants' arrays fit their types, that no constant exceeds
:data:`MAX_CONSTANT_ELEMENTS` / :data:`MAX_CONSTANT_BYTES`, and that no finite
float literal overflows its type (``1e400`` in an f32 or an attribute, ``70000.0``
in an f16: infinity is written ``inf``).  Whether result types
agree with the op's type rule is the verifier's business, not the parser's.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from pathlib import Path
from typing import Any, Mapping, NoReturn

import numpy as np
from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from .dtypes import DType
from .errors import IRError, OpError, ParseError
from .ir import Graph, Value
from .ops import get_op
from .printer import SIMPLE_NAME_PATTERN
from .types import DENSE, Encoding, PerAxis, PerTensor, TensorType, check_array_fits

__all__ = ["parse_graph", "parse_type", "unquote"]


# ---------------------------------------------------------------------------
# Strings and names
# ---------------------------------------------------------------------------

_ESCAPE = re.compile(r'\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)', re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "0": "\0"}


def _unescape_one(m: "re.Match[str]") -> str:
    e = m.group(1)
    if len(e) == 1:
        try:
            return _SIMPLE_ESCAPES[e]
        except KeyError:
            raise ValueError(f"unknown escape '\\{e}' in a string") from None
    return chr(int(e[1:], 16))


def unquote(s: str) -> str:
    """The text of a double-quoted string literal (inverse of :func:`irc.printer.quote`)."""
    body = s[1:-1]
    return _ESCAPE.sub(_unescape_one, body) if "\\" in body else body


def _text(tok: Token, s: str | None = None) -> str:
    """``unquote`` of a STRING token (or of ``s``, part of it), errors positioned."""
    try:
        return unquote(str(tok) if s is None else s)
    except ValueError as e:
        _fail(str(e), tok)


def _name(tok: Token) -> str:
    """The name in a ``%name``/``@name`` token (quoted or not)."""
    s = str(tok)
    return _text(tok, s[1:]) if s[1:2] == '"' else s[1:]


def _is_inf_literal(tok: Token) -> bool:
    return tok.type == "FLOAT" and tok.lstrip("+-") == "inf"


def _float(tok: Token) -> float:
    """A FLOAT or INT token as a float64.  A finite literal too large for float64
    (``1e400``) is an error, not infinity: write ``inf`` for that."""
    v = float(tok)
    if math.isinf(v) and not _is_inf_literal(tok):
        _fail(f"{tok} overflows f64 (write inf for infinity)", tok)
    return v


# ---------------------------------------------------------------------------
# Values that need a second look once their context is known
# ---------------------------------------------------------------------------

class _Bare(str):
    """A bare identifier in an attribute value (an enum value or dtype name)."""


class _ArrayLit:
    """A parsed ``dense<...> : T`` or ``@key : T``."""

    __slots__ = ("array", "type", "tok")

    def __init__(self, array: np.ndarray, type: TensorType, tok: Token) -> None:
        self.array, self.type, self.tok = array, type, tok


def _plain(v: Any, graph_level: bool) -> Any:
    """Attribute values as Python values: lists become tuples, ``{}`` dicts,
    tensors arrays; bare identifiers strs (or DTypes at graph level, where strings
    print quoted and dtypes bare)."""
    if isinstance(v, _Bare):
        if graph_level:
            try:
                return DType.parse(v)
            except ValueError:
                pass
        return str(v)
    if isinstance(v, tuple):
        return tuple(_plain(x, graph_level) for x in v)
    if isinstance(v, _ArrayLit):
        return v.array
    if isinstance(v, list):   # an attribute dict: [(key token, value), ...]
        return {_key(k): _plain(x, graph_level) for k, x in v}
    return v


def _key(tok: Token) -> str:
    return _text(tok) if tok.type == "STRING" else str(tok)


# ---------------------------------------------------------------------------
# Parse state (one per parse_graph call, per thread)
# ---------------------------------------------------------------------------

class _State:
    def __init__(self, text: str, filename: str | None,
                 sidecar: Mapping[str, np.ndarray] | None, sidecar_file: str | None) -> None:
        self.text = text
        self.filename = filename
        self.sidecar = sidecar
        self.sidecar_file = sidecar_file
        self.graph: Graph | None = None
        self.values: dict[str, Value] = {}
        self.where: dict[str, Token] = {}   # name -> defining token


_local = threading.local()


def _state() -> _State | None:
    return getattr(_local, "state", None)


def _fail(message: str, tok: Any = None) -> NoReturn:
    st = _state()
    line = getattr(tok, "line", None)
    col = getattr(tok, "column", None)
    raise ParseError(message, file=st.filename if st else None, line=line, column=col)


# ---------------------------------------------------------------------------
# Types
# ---------------------------------------------------------------------------

_TYPE_CACHE: dict[tuple[Any, ...], TensorType] = {}


def _shape(tok: Token) -> tuple[int, ...]:
    body = tok[1:-1].strip()
    return tuple(int(d) for d in body.split(",")) if body else ()


def _make_type(dtype_tok: Token, shape_tok: Token, quant: Any, enc: Encoding | None) -> TensorType:
    key = (str(dtype_tok), str(shape_tok), quant, enc)
    t = _TYPE_CACHE.get(key)
    if t is not None:
        return t
    try:
        dtype = DType.parse(str(dtype_tok))
    except ValueError as e:
        _fail(str(e), dtype_tok)
    try:
        t = TensorType(dtype, _shape(shape_tok), quant, enc if enc is not None else DENSE)
    except ValueError as e:
        _fail(f"bad type {dtype_tok}{shape_tok}: {e}", dtype_tok)
    if len(_TYPE_CACHE) > 50_000:
        _TYPE_CACHE.clear()
    _TYPE_CACHE[key] = t
    return t


# ---------------------------------------------------------------------------
# Tensor literals
# ---------------------------------------------------------------------------

#: The largest constant the parser builds: 2**31 elements and 8 GiB.  Larger ones
#: (``dense<0.0> : f32[100000000000]``) are refused with a ParseError rather than
#: allocated; they are far beyond any model irc targets.  Types of graph inputs and
#: results are not capped: they allocate nothing while parsing.
MAX_CONSTANT_ELEMENTS = 2**31
MAX_CONSTANT_BYTES = 8 * 2**30


def _nbytes(ty: TensorType) -> int:
    return ty.size * ty.dtype.storage.itemsize


def _check_constant_size(ty: TensorType, tok: Token) -> None:
    if ty.size > MAX_CONSTANT_ELEMENTS or _nbytes(ty) > MAX_CONSTANT_BYTES:
        _fail(f"constant {ty} is too large: {ty.size:,} elements, {_nbytes(ty):,} bytes "
              f"(irc accepts constants of up to {MAX_CONSTANT_ELEMENTS:,} elements and "
              f"{MAX_CONSTANT_BYTES // 2**30} GiB)", tok)


def _dense_array(dense_tok: Token, body: Any, ty: TensorType) -> np.ndarray:
    """The array of ``dense<body> : ty``; ``body`` is a splat token or a flat list
    of element tokens."""
    _check_constant_size(ty, dense_tok)
    dt = ty.dtype
    storage = dt.storage
    splat = isinstance(body, Token)
    toks: list[Token] = [body] if splat else body
    if not splat and len(toks) != ty.size:
        _fail(f"dense<...> has {len(toks)} element(s) but {ty} has {ty.size}", dense_tok)
    if dt.is_float:
        vals: list[float] = []
        hexes: list[tuple[int, int]] = []
        explicit_inf: list[bool] = []
        width = storage.itemsize * 8
        for i, t in enumerate(toks):
            explicit_inf.append(_is_inf_literal(t))
            if t.type in ("FLOAT", "INT"):
                vals.append(float(t))   # 1e400 reads as inf here and is caught below
            elif t.type == "HEX":
                bits = int(t, 16)
                if bits >> width:
                    _fail(f"bit pattern {t} is wider than {dt} ({width} bits)", t)
                hexes.append((i, bits))
                vals.append(0.0)
            else:
                _fail(f"expected a number for an element of {dt}, got {t}", t)
        wide = np.array(vals, dtype=np.float64)
        with np.errstate(over="ignore"):
            arr = wide.astype(storage)
        # A literal that is not `inf` but rounds to infinity (in float64 or in the
        # element type) overflows: f32 `1e400` is as wrong as f16 `70000.0`.
        over = np.isinf(arr) & ~np.array(explicit_inf, dtype=bool)
        if over.any():
            i = int(np.argmax(over))
            _fail(f"{toks[i]} overflows {dt} (write inf for infinity)", toks[i])
        if hexes:
            view = arr.view(np.dtype(f"u{storage.itemsize}"))
            for i, bits in hexes:
                view[i] = bits
    elif dt.is_bool:
        bools = []
        for t in toks:
            if t.type == "TRUE" or (t.type == "INT" and int(t) == 1):
                bools.append(True)
            elif t.type == "FALSE" or (t.type == "INT" and int(t) == 0):
                bools.append(False)
            else:
                _fail(f"expected true or false for an element of b1, got {t}", t)
        arr = np.array(bools, dtype=np.bool_)
    else:
        ints = []
        lo, hi = dt.min, dt.max
        for t in toks:
            if t.type == "INT":
                v = int(t)
            elif t.type == "HEX":
                v = int(t, 16)
            else:
                _fail(f"expected an integer for an element of {dt}, got {t}", t)
            if not lo <= v <= hi:
                _fail(f"{t} is out of range for {dt} [{lo}, {hi}]", t)
            ints.append(v)
        arr = np.array(ints, dtype=storage)
    if splat:
        try:
            arr = np.full(ty.shape, arr[0], dtype=storage)
        except MemoryError:
            _fail(f"not enough memory for the constant {ty} ({_nbytes(ty):,} bytes)", dense_tok)
    else:
        arr = arr.reshape(ty.shape)
    arr.setflags(write=False)
    return arr


def _sidecar_array(tok: Token, ty: TensorType) -> np.ndarray:
    _check_constant_size(ty, tok)
    st = _state()
    key = _name(tok)
    where = f" {st.sidecar_file}" if st and st.sidecar_file else ""
    if st is None or st.sidecar is None:
        if st and st.sidecar_file:
            _fail(f"tensor @{key} is stored in the sidecar file{where}, which does not "
                  "exist", tok)
        _fail(f"tensor @{key} refers to a sidecar, but none was given (pass sidecar= or "
              "use irc.textio.load_text)", tok)
    try:
        arr = st.sidecar[key]
    except KeyError:
        keys = sorted(st.sidecar)
        shown = ", ".join(keys[:8]) + (", ..." if len(keys) > 8 else "")
        import difflib
        close = difflib.get_close_matches(key, keys, n=1)
        hint = f"; did you mean @{close[0]}?" if close else ""
        _fail(f"sidecar{where or ''} has no array '{key}'{hint} (it has {len(keys)}: "
              f"{shown or 'none'})", tok)
    arr = np.asarray(arr)
    why = check_array_fits(arr, ty)
    if why:
        _fail(f"sidecar array '{key}'{(' in' + where) if where else ''} does not fit {ty}: "
              f"{why}", tok)
    return arr


# ---------------------------------------------------------------------------
# The callbacks lark runs as it reduces each rule (see grammar.lark)
# ---------------------------------------------------------------------------

class _Callbacks:
    # -- types ------------------------------------------------------------------------
    def type(self, c: list[Any]) -> TensorType:
        return _make_type(c[0], c[1], c[2], c[3])

    def per_tensor(self, c: list[Token]) -> PerTensor:
        try:
            return PerTensor(_float(c[0]), int(c[1]))
        except ValueError as e:
            _fail(str(e), c[0])

    def per_axis(self, c: list[Any]) -> PerAxis:
        axis, scales, zps = c
        try:
            return PerAxis(int(axis), tuple(_float(s) for s in scales or ()),
                           tuple(int(z) for z in zps or ()))
        except ValueError as e:
            _fail(str(e), axis)

    def numbers(self, c: list[Token]) -> list[Token]:
        return c

    ints = numbers

    def ints_x(self, c: list[Token]) -> tuple[int, ...]:
        return tuple(int(t) for t in c)

    def encoding(self, c: list[Any]) -> Encoding:
        kind, params, inner = c
        enc = Encoding(str(kind), params or (), inner)
        return DENSE if enc == DENSE else enc

    encoding_inner = encoding

    # -- attribute values ---------------------------------------------------------------
    def int_value(self, c: list[Token]) -> int:
        t = c[0]
        return int(t, 16) if t.type == "HEX" else int(t)

    def float_value(self, c: list[Token]) -> float:
        return _float(c[0])

    def true_value(self, c: list[Token]) -> bool:
        return True

    def false_value(self, c: list[Token]) -> bool:
        return False

    def ident_value(self, c: list[Token]) -> _Bare:
        return _Bare(c[0])

    def string_value(self, c: list[Token]) -> str:
        return _text(c[0])

    def list_value(self, c: list[Any]) -> tuple[Any, ...]:
        return () if c == [None] else tuple(c)

    def dict_value(self, c: list[Any]) -> list[tuple[Token, Any]]:
        return c[0]

    def attr(self, c: list[Any]) -> tuple[Token, Any]:
        return (c[0], c[1])

    def attr_dict(self, c: list[Any]) -> list[tuple[Token, Any]]:
        return [] if c == [None] else c

    # -- tensors -----------------------------------------------------------------------------
    def splat(self, c: list[Token]) -> Token:
        return c[0]

    def element_list(self, c: list[Any]) -> list[Token]:
        if c == [None]:
            return []
        out: list[Token] = []
        for x in c:
            if isinstance(x, list):
                out.extend(x)
            else:
                out.append(x)
        return out

    def dense_lit(self, c: list[Any]) -> _ArrayLit:
        return _ArrayLit(_dense_array(c[0], c[1], c[2]), c[2], c[0])

    def sidecar_lit(self, c: list[Any]) -> _ArrayLit:
        return _ArrayLit(_sidecar_array(c[0], c[1]), c[1], c[0])

    # -- statements ------------------------------------------------------------------------------
    def value_list(self, c: list[Token]) -> list[Token]:
        return c

    def type_list(self, c: list[TensorType]) -> list[TensorType]:
        return c

    def one_type(self, c: list[TensorType]) -> list[TensorType]:
        return c

    def loc(self, c: list[Token]) -> str:
        return _text(c[0])

    def const_op(self, c: list[Any]) -> tuple[Any, ...]:
        return ("const", c[0], c[1])

    def custom_op(self, c: list[Any]) -> tuple[Any, ...]:
        return ("custom", c[0], str(c[0]), c[1], c[2], None, c[3])

    def generic_op(self, c: list[Any]) -> tuple[Any, ...]:
        return ("generic", c[0], _text(c[0]), c[1], c[2], c[3] or [], c[4] or [])

    def params(self, c: list[Any]) -> list[Any]:
        return c

    def param(self, c: list[Any]) -> tuple[Token, TensorType]:
        return (c[0], c[1])

    def graph_head(self, c: list[Any]) -> Graph:
        st = _state()
        assert st is not None
        sym, params, attrs = c
        g = st.graph = Graph(_name(sym))
        for tok, ty in params or ():
            name = self._define(tok)
            v = g.add_input(name, ty)
            st.values[name] = v
        if attrs:
            g.attrs = self._graph_attrs(attrs)
        return g

    def _graph_attrs(self, items: list[tuple[Token, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for tok, v in items:
            k = _key(tok)
            if k in out:
                _fail(f"graph attribute '{k}' is given twice", tok)
            out[k] = _plain(v, graph_level=True)
        return out

    def _define(self, tok: Token) -> str:
        st = _state()
        assert st is not None
        name = _name(tok)
        if not name:
            _fail("value names must not be empty", tok)
        if name in st.where:
            first = st.where[name]
            _fail(f"value %{name} is already defined (at line {first.line}, column "
                  f"{first.column}); SSA names must be unique", tok)
        st.where[name] = tok
        return name

    def _use(self, tok: Token) -> Value:
        st = _state()
        assert st is not None
        v = st.values.get(_name(tok))
        if v is None:
            import difflib
            close = difflib.get_close_matches(_name(tok), list(st.values), n=1)
            hint = f"; did you mean %{close[0]}?" if close else ""
            _fail(f"undefined value {tok}{hint}", tok)
        return v

    def stmt(self, c: list[Any]) -> None:
        st = _state()
        assert st is not None and st.graph is not None
        g = st.graph
        result_toks, op, loc = c
        result_toks = result_toks or []
        if op[0] == "const":
            const_tok, lit = op[1], op[2]
            if len(result_toks) != 1:
                _fail(f"const defines exactly one value, got {len(result_toks)} name(s)",
                      const_tok)
            names = [self._define(result_toks[0])]
            try:
                node = g.make_const(lit.array, names[0], lit.type)
            except (IRError, OpError, ValueError) as e:
                _fail(str(e), const_tok)
            node.name = loc
        else:
            _, op_tok, opname, operand_toks, attrs, operand_types, result_types = op
            try:
                opdef = get_op(opname)
            except OpError as e:
                _fail(str(e), op_tok)
            inputs = [self._use(t) for t in operand_toks or ()]
            if op[0] == "generic":
                if len(operand_types) != len(inputs):
                    _fail(f"{opname}: the signature lists {len(operand_types)} operand type(s) "
                          f"for {len(inputs)} operand(s)", op_tok)
                for tok, v, t in zip(operand_toks or (), inputs, operand_types):
                    if v.type != t:
                        _fail(f"{opname}: operand {tok} has type {v.type}, but the signature "
                              f"says {t}", tok)
            result_types = result_types or []
            if len(result_types) != len(result_toks):
                what = "no result types" if not result_types else \
                    f"{len(result_types)} result type(s)"
                _fail(f"{opname}: {len(result_toks)} result name(s) but {what}"
                      + (" (write `: T` after the operands)" if not result_types else ""),
                      op_tok)
            names = [self._define(t) for t in result_toks]
            raw = self._node_attrs(attrs or [], opname)
            try:
                node = g.make_node(opname, inputs, raw, output_types=result_types,
                                   output_names=names, name=loc)
            except OpError as e:
                self._attr_error(e, opdef, attrs or [], op_tok)
            except IRError as e:
                _fail(str(e), op_tok)
        g.append(node)
        for v, name, tok in zip(node.outputs, names, result_toks):
            if v.name != name:          # make_node invents a name for ""
                g.rename(v, name)
            st.values[name] = v

    def _node_attrs(self, items: list[tuple[Token, Any]], opname: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for tok, v in items:
            k = _key(tok)
            if k in out:
                _fail(f"{opname}: attribute '{k}' is given twice", tok)
            out[k] = _plain(v, graph_level=False)
        return out

    def _attr_error(self, err: OpError, opdef: Any, items: list[tuple[Token, Any]],
                    op_tok: Token) -> NoReturn:
        """Re-raise ``err`` (from attribute normalization) at the attribute at fault."""
        known = opdef.attr_map
        for tok, v in items:
            k = _key(tok)
            spec = known.get(k)
            if spec is None:
                import difflib
                close = difflib.get_close_matches(k, list(known), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                _fail(f"{opdef.name}: unknown attribute '{k}'{hint} (attributes of "
                      f"{opdef.name}: {', '.join(known) or 'none'})", tok)
            try:
                spec.kind.coerce(_plain(v, graph_level=False))
            except ValueError as e:
                _fail(f"{opdef.name}: attribute '{k}': {e}", tok)
        _fail(str(err), op_tok)

    def ret(self, c: list[Any]) -> list[Value]:
        return [self._use(t) for t in c[0] or ()]

    def graph(self, c: list[Any]) -> Graph:
        g: Graph = c[0]
        g.set_outputs(c[-1])
        return g

    def start(self, c: list[Any]) -> Graph:
        return c[0]


# ---------------------------------------------------------------------------
# Syntax errors: lark's terminal names in words
# ---------------------------------------------------------------------------

_TERMINAL_WORDS = {
    "VALUE_ID": "a value name (%x)",
    "SYMBOL": "a name (@x)",
    "OP_NAME": "an op name (nn.add)",
    "IDENT": "an identifier",
    "STRING": 'a string ("...")',
    "SHAPE": "a shape ([1,3])",
    "FLOAT": "a float",
    "HEX": "a hex number",
    "INT": "an integer",
    "$END": "end of input",
    "CONST": "'const'",
    "DENSE": "'dense'",
    "TRUE": "'true'",
    "FALSE": "'false'",
}


def _describe_terminals(names: Any, lark: Lark) -> str:
    words = set()
    for n in names:
        if n in _TERMINAL_WORDS:
            words.add(_TERMINAL_WORDS[n])
            continue
        try:
            pat = lark.get_terminal(n).pattern
        except KeyError:
            words.add(n)
            continue
        words.add(f"'{pat.value}'" if pat.type == "str" else n.lower())
    ordered = sorted(words, key=lambda w: (not w.startswith("'"), w))
    if len(ordered) <= 1:
        return "".join(ordered) or "nothing"
    return ", ".join(ordered[:-1]) + " or " + ordered[-1]


_MALFORMED_SHAPE = "malformed shape (dimensions are integers: [1,3,224,224], or [] for a scalar)"


def _syntax_error(e: UnexpectedInput, text: str, filename: str | None, lark: Lark) -> ParseError:
    # ``accepts`` simulates the parser on each terminal (without our callbacks), so
    # it is exact where LALR's merged lookahead sets (``expected``) are not.
    accepts: Any = None
    ip = getattr(e, "interactive_parser", None)
    if ip is not None:
        try:
            accepts = ip.accepts()
        except Exception:   # noqa: BLE001 - fall back to lark's own sets
            accepts = None
    if isinstance(e, UnexpectedToken):
        tok = e.token
        allowed = accepts or e.expected
        if tok.type == "$END":
            lines = text.split("\n")
            return ParseError(f"unexpected end of input; expected "
                              f"{_describe_terminals(allowed, lark)}", file=filename,
                              line=len(lines), column=len(lines[-1]) + 1)
        if tok == "[" and "SHAPE" in allowed:
            return ParseError(_MALFORMED_SHAPE, file=filename, line=tok.line, column=tok.column)
        shown = str(tok.value)
        shown = shown if len(shown) <= 30 else shown[:27] + "..."
        return ParseError(f"unexpected {shown!r}; expected {_describe_terminals(allowed, lark)}",
                          file=filename, line=tok.line, column=tok.column)
    if isinstance(e, UnexpectedCharacters):
        pos = e.pos_in_stream if e.pos_in_stream is not None else len(text)
        ch = text[pos] if pos < len(text) else ""
        allowed = accepts or e.allowed or set()
        if ch == "[" and "SHAPE" in allowed:
            msg = _MALFORMED_SHAPE
        elif ch == '"':
            msg = "unterminated string (strings end on the same line; write \\n for newlines)"
        else:
            msg = f"unexpected character {ch!r}"
            if allowed:
                msg += f"; expected {_describe_terminals(allowed, lark)}"
        return ParseError(msg, file=filename, line=e.line, column=e.column)
    return ParseError(str(e), file=filename, line=getattr(e, "line", None),
                      column=getattr(e, "column", None))


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------

_SIMPLE_NAME_RULE = re.compile(r"^SIMPLE_NAME: /.*/$", re.MULTILINE)


def _grammar_text() -> str:
    """grammar.lark with its SIMPLE_NAME pattern set to the printer's, the one
    definition of which names print bare (so the two cannot disagree)."""
    grammar = (Path(__file__).with_name("grammar.lark")).read_text(encoding="utf-8")
    rule = f"SIMPLE_NAME: /{SIMPLE_NAME_PATTERN}/"
    grammar, n = _SIMPLE_NAME_RULE.subn(lambda _: rule, grammar)
    if n != 1:
        raise RuntimeError(f"irc/grammar.lark must define SIMPLE_NAME once, on one line "
                           f"(found {n})")
    return grammar


@functools.lru_cache(maxsize=None)
def _lark() -> Lark:
    grammar = _grammar_text()
    return Lark(grammar, parser="lalr", lexer="contextual", start=["start", "type"],
                propagate_positions=True, maybe_placeholders=True, transformer=_Callbacks())


def parse_graph(text: str, *, sidecar: Mapping[str, np.ndarray] | None = None,
                filename: str | None = None, sidecar_file: str | None = None) -> Graph:
    """Parse the text form of one graph.

    ``sidecar`` maps the keys of ``@key`` tensor references to arrays (an open
    ``.npz`` works); ``filename`` and ``sidecar_file`` only name the inputs in
    error messages.  Raises :class:`~irc.errors.ParseError`.
    """
    lark = _lark()
    prev = _state()
    _local.state = _State(text, filename, sidecar, sidecar_file)
    try:
        graph: Graph = lark.parse(text, start="start")  # type: ignore[assignment]  # the transformer builds it
        return graph
    except UnexpectedInput as e:
        raise _syntax_error(e, text, filename, lark) from None
    finally:
        _local.state = prev


@functools.lru_cache(maxsize=4096)
def parse_type(text: str) -> TensorType:
    """Parse a type: ``"f32[1,3]"``, ``"i8[16]<0.05,-3>"``, ``"f32[64,64]#bsr<4x4>"``."""
    lark = _lark()
    prev = _state()
    _local.state = None
    try:
        ty: TensorType = lark.parse(text, start="type")  # type: ignore[assignment]  # built inline
        return ty
    except UnexpectedInput as e:
        raise _syntax_error(e, text, None, lark) from None
    finally:
        _local.state = prev
