"""Pipeline strings: parse, build, print.

The CLI's ``--passes`` and the Python API share one text form (grammar in
``pipeline.lark``)::

    fold, dce, fuse-bn{max_iterations=3}, quant{bits=8, per_channel=true, exclude=[conv1, "fc.2"]}
    fixpoint(fold, dce){max_iterations=5}

* passes are separated by commas; whitespace is free;
* options go in braces as ``name=value``; ``-`` and ``_`` are the same in option
  names (``per-channel`` is the field ``per_channel``);
* values are ints, floats, ``true``/``false``, bare words (``kl``, ``block1x4``,
  ``conv1``), quoted strings (``"fc.2"``, ``'a b'``) and lists in brackets;
  ``none`` sets an ``Optional`` option to None;
* ``fixpoint(...)`` repeats a sub-pipeline until it stops changing the graph.

Every error is a :class:`~irc.errors.PipelineError` that quotes the pipeline
with a caret under the fault.  :func:`format_pipeline` prints the canonical
form (no spaces, non-default options only), so
``build_pipeline(format_pipeline(p)) == p``.
"""

from __future__ import annotations

import ast
import difflib
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .errors import PipelineError
from .pass_base import Fixpoint, Pass, get_pass, unknown_pass_message
from .pass_options import classify_word

__all__ = ["parse_pipeline", "build_pipeline", "format_pipeline", "PipelineSpec"]

#: What ``build_pipeline`` accepts: a pipeline string, or a list of passes,
#: pipeline strings, pass classes and ``(name, options)`` pairs.
PipelineSpec = str | Sequence[Any]


@functools.cache
def _parser() -> Lark:
    grammar = (Path(__file__).with_name("pipeline.lark")).read_text()
    return Lark(grammar, parser="lalr", propagate_positions=True)


# ---------------------------------------------------------------------------
# Parsed form (with positions, for error carets)
# ---------------------------------------------------------------------------

@dataclass
class _Opt:
    key: str                 # normalized to a field name (``-`` -> ``_``)
    value: Any
    key_span: tuple[int, int] | None = None
    value_span: tuple[int, int] | None = None


@dataclass
class _Item:
    name: str
    options: list[_Opt] = field(default_factory=list)
    group: list["_Item"] | None = None
    span: tuple[int, int] | None = None


def _span(x: Token | Tree[Token]) -> tuple[int, int]:
    if isinstance(x, Token):
        return (x.start_pos or 0, x.end_pos or 0)
    return (x.meta.start_pos, x.meta.end_pos)


def _value(t: Token | Tree[Token]) -> Any:
    if isinstance(t, Tree):
        if t.data == "bare":
            return classify_word(str(t.children[0]))
        if t.data == "string":
            return ast.literal_eval(str(t.children[0]))
        if t.data == "list":
            return [_value(c) for c in t.children]
    raise AssertionError(f"unexpected pipeline tree {t!r}")


def _items(tree: Tree[Token], text: str) -> list[_Item]:
    assert tree.data == "pipeline"
    items = []
    for it in tree.children:
        assert isinstance(it, Tree) and it.data == "item"
        name_tok = it.children[0]
        item = _Item(str(name_tok), span=_span(name_tok))
        for part in it.children[1:]:
            assert isinstance(part, Tree)
            if part.data == "group":
                body = part.children[0]
                assert isinstance(body, Tree)
                item.group = _items(body, text)
            else:   # options
                seen: dict[str, _Opt] = {}
                for opt in part.children:
                    assert isinstance(opt, Tree)
                    key_tok, val = opt.children
                    o = _Opt(str(key_tok).replace("-", "_"), _value(val), _span(key_tok),
                             _span(val))
                    if o.key in seen:
                        raise PipelineError(_at(f"pass '{item.name}': option '{o.key}' is "
                                                "given twice", text, o.key_span))
                    seen[o.key] = o
                    item.options.append(o)
        items.append(item)
    return items


def _parse(text: str) -> list[_Item]:
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as e:
        raise PipelineError(_syntax_message(e, text)) from None
    return _items(tree.children[0], text)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Error messages
# ---------------------------------------------------------------------------

_TERMINALS = {
    "BARE": "a name", "STRING": "a quoted string", "COMMA": "','",
    "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['",
    "RSQB": "']'", "EQUAL": "'='", "$END": "the end of the pipeline",
}
_ORDER = list(_TERMINALS)


def _expected(names: Iterable[str]) -> str:
    known = sorted({n for n in names if n in _TERMINALS}, key=_ORDER.index)
    if "STRING" in known:     # where a value goes: a word, a number, a string or a list
        known = [n for n in known if n not in ("BARE", "STRING", "LSQB")]
        words = ["a value"] + [_TERMINALS[n] for n in known]
    else:
        words = ["a name" if n == "BARE" else _TERMINALS[n] for n in known]
    if not words:
        return ""
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _at(message: str, text: str | None, span: tuple[int, int] | None) -> str:
    """``message`` plus the pipeline line with a caret under ``span``."""
    if text is None or span is None:
        return message
    start, end = span
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    if line_end < 0:
        line_end = len(text)
    line = text[line_start:line_end].replace("\t", " ")
    col = start - line_start
    width = max(1, min(end, line_end) - start)
    lineno = text.count("\n", 0, start) + 1
    where = f"line {lineno}, column {col + 1}" if "\n" in text.strip() else f"column {col + 1}"
    return f"{message} (at {where})\n  {line}\n  {' ' * col}{'^' * width}"


def _syntax_message(e: UnexpectedInput, text: str) -> str:
    if isinstance(e, UnexpectedCharacters):
        pos = e.pos_in_stream or 0
        ch = text[pos] if pos < len(text) else ""
        if ch in "\"'":
            msg = "unterminated string"
        else:
            msg = f"unexpected character {ch!r}"
            exp = _expected(e.allowed or ())
            if exp:
                msg += f"; expected {exp}"
        return _at(f"invalid pipeline: {msg}", text, (pos, pos + 1))
    if isinstance(e, UnexpectedToken):
        tok = e.token
        at_end = tok.type == "$END"
        pos = len(text) if at_end or tok.start_pos is None else tok.start_pos
        found = "the end of the pipeline" if at_end else repr(str(tok))
        expected: Iterable[str] = e.expected
        try:   # exact, unlike the LALR table's merged lookahead sets
            expected = e.interactive_parser.accepts() or expected  # type: ignore[no-untyped-call]
        except Exception:  # pragma: no cover - older lark
            pass
        msg = f"expected {_expected(expected) or 'something else'}, found {found}"
        if tok.type == "EQUAL" and "EQUAL" not in expected:
            msg += " (options go in braces: pass{name=value})"
        elif tok.type == "BARE" and "COMMA" in expected:
            msg += " (separate passes and options with commas)"
        span = (pos, pos + max(1, len(str(tok)) if not at_end else 1))
        return _at(f"invalid pipeline: {msg}", text, span)
    if isinstance(e, UnexpectedEOF):
        msg = f"expected {_expected(e.expected) or 'more'}, found the end of the pipeline"
        return _at(f"invalid pipeline: {msg}", text, (len(text), len(text) + 1))
    return f"invalid pipeline: {e}"


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------

def parse_pipeline(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse a pipeline string into ``(pass name, options)`` pairs without
    looking the passes up.  Values are ints, floats, bools, strs and lists;
    option names are normalized to field names.  A ``fixpoint(...)`` group
    becomes ``("fixpoint", {"passes": [...nested pairs...], **options})``."""
    return [_as_pair(it) for it in _parse(text)]


def _as_pair(item: _Item) -> tuple[str, dict[str, Any]]:
    opts = {o.key: o.value for o in item.options}
    if item.group is not None:
        opts = {"passes": [_as_pair(g) for g in item.group], **opts}
    return item.name, opts


def build_pipeline(spec: PipelineSpec) -> list[Pass]:
    """Pass instances from a pipeline string, or from a list whose entries are
    Pass instances, pipeline strings, Pass classes (default options) or
    ``(name, options)`` pairs.  Raises :class:`PipelineError` for an unknown pass
    or option, a value of the wrong type, or a syntax error."""
    if isinstance(spec, str):
        return [_build(it, spec) for it in _parse(spec)]
    out: list[Pass] = []
    for entry in spec:
        if isinstance(entry, Pass):
            out.append(entry)
        elif isinstance(entry, str):
            out.extend(build_pipeline(entry))
        elif isinstance(entry, type) and issubclass(entry, Pass):
            out.append(_build(_Item(entry.name), None, entry))
        elif isinstance(entry, (tuple, list)) and len(entry) == 2 \
                and isinstance(entry[0], str) and isinstance(entry[1], dict):
            out.append(_build(_from_pair(entry[0], entry[1]), None))
        else:
            raise PipelineError(f"cannot make a pass from {entry!r}: give a Pass instance, a "
                                "pipeline string or a (name, options) pair")
    return out


def _from_pair(name: str, options: dict[str, Any]) -> _Item:
    opts = dict(options)
    group = None
    if name == "fixpoint" and "passes" in opts:
        inner = opts.pop("passes")
        group = []
        for entry in inner if isinstance(inner, (list, tuple)) else [inner]:
            if isinstance(entry, str):
                group.extend(_parse(entry))
            elif isinstance(entry, (tuple, list)) and len(entry) == 2:
                group.append(_from_pair(entry[0], entry[1]))
            else:
                raise PipelineError(f"fixpoint: cannot make a pass from {entry!r}")
    return _Item(name, [_Opt(k.replace("-", "_"), v) for k, v in opts.items()], group)


def _build(item: _Item, text: str | None, cls: type[Pass] | None = None) -> Pass:
    name = item.name
    kwargs: dict[str, Any] = {}
    if name == "fixpoint":
        cls = Fixpoint
        if item.group is None:
            raise PipelineError(_at("fixpoint needs a sub-pipeline in parentheses, e.g. "
                                    "fixpoint(fold,dce){max_iterations=5}", text, item.span))
        kwargs["passes"] = tuple(_build(g, text) for g in item.group)
    else:
        if cls is None:
            try:
                cls = get_pass(name)
            except PipelineError:
                raise PipelineError(_at(unknown_pass_message(name), text, item.span)) from None
        if item.group is not None:
            raise PipelineError(_at(f"pass '{name}' does not take a sub-pipeline in "
                                    "parentheses (only fixpoint(...) does)", text, item.span))
    name = cls.name
    options = {o.name: o for o in cls.options()}
    for opt in item.options:
        spec = options.get(opt.key)
        if spec is None:
            raise PipelineError(_at(_unknown_option(cls, opt.key), text, opt.key_span))
        if opt.key in kwargs:
            raise PipelineError(_at(f"pass '{name}': option '{opt.key}' is given twice",
                                    text, opt.key_span))
        try:
            kwargs[opt.key] = spec.type.coerce(opt.value)
        except ValueError as e:
            raise PipelineError(_at(f"pass '{name}': option '{opt.key}' {e}", text,
                                    opt.value_span)) from None
    for spec in options.values():
        if spec.required and spec.name not in kwargs:
            raise PipelineError(_at(f"pass '{name}' needs option '{spec.name}' "
                                    f"({spec.type.describe()}): write "
                                    f"{name}{{{spec.name}=...}}", text, item.span))
    try:
        return cls(**kwargs)
    except PipelineError as e:
        raise PipelineError(_at(str(e), text, item.span)) from None
    except (TypeError, ValueError) as e:
        raise PipelineError(_at(f"pass '{name}': {e}", text, item.span)) from e


def _unknown_option(cls: type[Pass], key: str) -> str:
    opts = cls.options()
    if not opts:
        return f"pass '{cls.name}' takes no options (got '{key}')"
    names = [o.name for o in opts]
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else "."
    listing = ", ".join(o.signature() for o in opts)
    return f"pass '{cls.name}' has no option '{key}'{hint} Options of {cls.name}: {listing}"


def format_pipeline(passes: Iterable[Pass]) -> str:
    """The canonical pipeline string: ``fold,quant{bits=4}`` (non-default options only)."""
    return ",".join(str(p) for p in passes)
