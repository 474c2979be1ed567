"""Typed pass options: from a dataclass field's annotation to a coercer.

A pass's options are its dataclass fields.  Each field's annotation picks an
:class:`OptionType` that coerces values written in a pipeline string (or given
from Python) and describes itself for error messages and ``irc passes``:

==========================================  ==========================  =================
annotation                                  pipeline text               Python value
==========================================  ==========================  =================
``int``                                     ``8``, ``-1``               ``8``
``float``                                   ``0.5``, ``1e-3``, ``8``    ``0.5``
``bool``                                    ``true`` / ``false``        ``True``
``str``                                     ``kl``, ``"fc.2"``          ``"kl"``
``Literal["kl", "minmax"]``                 ``kl``                      ``"kl"``
``tuple[int, ...]`` (also float, str,       ``[1, 2]`` (a single        ``(1, 2)``
Literal elements; ``tuple[int, int]``       value means a 1-tuple)
fixes the length)
``Optional[T]`` / ``T | None``              ``none`` or a ``T``         ``None``
==========================================  ==========================  =================

A field with ``metadata={"option": False}`` is not an option (it cannot be set
from a pipeline string); ``metadata={"doc": "..."}`` documents an option.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "MISSING", "OptionType", "PassOption", "option_type", "pass_options", "format_value",
    "classify_word",
]

#: Marks an option without a default (it must be given).
MISSING: Any = dataclasses.MISSING

_INT_RE = re.compile(r"[+-]?\d+\Z")
_FLOAT_RE = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+(?=[eE]))(?:[eE][+-]?\d+)?\Z")
#: Characters a bare (unquoted) word may hold in a pipeline string.
BARE_WORD_RE = re.compile(r"""[^\s,(){}\[\]="']+\Z""")


def classify_word(text: str) -> int | float | bool | str:
    """The value of a bare word in a pipeline string: an int, a float, a bool
    (``true``/``false``) or else the word itself."""
    if _INT_RE.match(text):
        return int(text)
    if _FLOAT_RE.match(text):
        return float(text)
    if text == "true":
        return True
    if text == "false":
        return False
    return text


def format_value(value: Any) -> str:
    """A value in canonical pipeline text; :func:`classify_word` (or the string
    grammar) reads it back to an equal value."""
    if value is None:
        return "none"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(value, str):
        if value and BARE_WORD_RE.match(value) and classify_word(value) == value \
                and value not in ("none", "inf", "-inf", "nan"):
            return value
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
            .replace("\t", "\\t")
        return f'"{escaped}"'
    if isinstance(value, (tuple, list)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return str(value)


def _shown(value: Any) -> str:
    return "'" + format_value(value) + "'"


# ---------------------------------------------------------------------------
# Option types
# ---------------------------------------------------------------------------

class OptionType:
    """Coerces a value to an option's Python type; ``ValueError`` says what was
    expected."""

    def coerce(self, value: Any) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<option type {self.describe()}>"


class IntType(OptionType):
    def coerce(self, value: Any) -> int:
        if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            return int(value)
        raise ValueError(f"expects an int, got {_shown(value)}")

    def describe(self) -> str:
        return "int"


class FloatType(OptionType):
    _WORDS = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "nan": math.nan}

    def coerce(self, value: Any) -> float:
        if isinstance(value, (int, float, np.integer, np.floating)) \
                and not isinstance(value, (bool, np.bool_)):
            return float(value)
        if isinstance(value, str) and value in self._WORDS:
            return self._WORDS[value]
        raise ValueError(f"expects a float, got {_shown(value)}")

    def describe(self) -> str:
        return "float"


class BoolType(OptionType):
    def coerce(self, value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise ValueError(f"expects a bool (true or false), got {_shown(value)}")

    def describe(self) -> str:
        return "bool"


class StrType(OptionType):
    def coerce(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        # a bare word that happened to look like a number or a bool
        if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
            return format_value(value)
        raise ValueError(f"expects a string, got {_shown(value)}")

    def describe(self) -> str:
        return "str"


class ChoiceType(OptionType):
    """``Literal[...]``: one of a fixed set of values."""

    def __init__(self, choices: tuple[Any, ...]) -> None:
        self.choices = choices

    def coerce(self, value: Any) -> Any:
        for c in self.choices:
            if type(c) is type(value) and c == value:
                return c
        for c in self.choices:   # a choice such as "8" written bare as 8
            if isinstance(c, str) and not isinstance(value, (str, list, tuple)) \
                    and format_value(value) == c:
                return c
        raise ValueError(f"expects one of {self.describe_choices()}; got {_shown(value)}")

    def describe_choices(self) -> str:
        return ", ".join(format_value(c) for c in self.choices)

    def describe(self) -> str:
        return "one of " + "|".join(format_value(c) for c in self.choices)


class TupleType(OptionType):
    """``tuple[T, ...]`` (any length) or ``tuple[T, T, ...]`` (fixed length)."""

    def __init__(self, elem: OptionType, length: int | None = None) -> None:
        self.elem, self.length = elem, length

    def coerce(self, value: Any) -> tuple[Any, ...]:
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if not isinstance(value, (list, tuple)):
            value = [value]          # a single value is a 1-tuple
        out = []
        for i, v in enumerate(value):
            try:
                out.append(self.elem.coerce(v))
            except ValueError as e:
                raise ValueError(f"expects {self.describe()}, but element {i} "
                                 f"{_shown(v)} is not {self.elem.describe()} ({e})") from None
        if self.length is not None and len(out) != self.length:
            raise ValueError(f"expects {self.describe()}, got {len(out)} element(s) "
                             f"{_shown(list(value))}")
        return tuple(out)

    def describe(self) -> str:
        n = f"{self.length} " if self.length is not None else ""
        return f"list of {n}{self.elem.describe()}"


class OptionalType(OptionType):
    """``Optional[T]``: ``none`` (or Python ``None``) or a ``T``."""

    def __init__(self, inner: OptionType) -> None:
        self.inner = inner

    def coerce(self, value: Any) -> Any:
        if value is None or value == "none":
            return None
        try:
            return self.inner.coerce(value)
        except ValueError:
            raise ValueError(f"expects {self.describe()}, got {_shown(value)}") from None

    def describe(self) -> str:
        return f"{self.inner.describe()} or none"


_SCALARS: dict[Any, OptionType] = {int: IntType(), float: FloatType(), bool: BoolType(),
                                   str: StrType()}


def option_type(hint: Any) -> OptionType:
    """The :class:`OptionType` for a (resolved) annotation; ``TypeError`` if it
    is not one of the supported forms."""
    if hint in _SCALARS:
        return _SCALARS[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        if not args or not all(isinstance(a, (str, int, float, bool)) for a in args):
            raise TypeError(f"Literal options take str, int, float or bool choices, got {hint}")
        return ChoiceType(tuple(args))
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return OptionalType(option_type(rest[0]))
        raise TypeError(f"only Optional[T] unions are supported, got {hint}")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return TupleType(_element_type(args[0], hint))
        if args and Ellipsis not in args:
            elems = {_element_type(a, hint).describe() for a in args}
            if len(elems) != 1:
                raise TypeError(f"fixed-length tuple options need one element type, got {hint}")
            return TupleType(_element_type(args[0], hint), len(args))
    shown = str(hint) if typing.get_origin(hint) else getattr(hint, "__name__", str(hint))
    raise TypeError(f"unsupported option type {shown}; use int, float, bool, str, "
                    "Literal[...], tuple[T, ...] or Optional[T]")


def _element_type(hint: Any, whole: Any) -> OptionType:
    t = option_type(hint)
    if isinstance(t, (TupleType, OptionalType)):
        raise TypeError(f"nested option type {whole} is not supported")
    return t


# ---------------------------------------------------------------------------
# Options of a pass class
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PassOption:
    """One option of a pass: its field name, type, default (``MISSING`` if it
    must be given) and one line of docs."""

    name: str
    type: OptionType
    default: Any = MISSING
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is MISSING

    def signature(self) -> str:
        """``bits: int = 8`` or ``scale: float (required)``."""
        if self.required:
            return f"{self.name}: {self.type.describe()} (required)"
        return f"{self.name}: {self.type.describe()} = {format_value(self.default)}"


def pass_options(cls: type) -> tuple[PassOption, ...]:
    """The options of a pass dataclass, in field order (cached on the class).
    Raises ``TypeError`` naming the field when an annotation is unsupported or a
    default does not fit its type."""
    cached = cls.__dict__.get("_irc_options")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    try:
        hints = typing.get_type_hints(cls)
    except Exception as e:  # NameError for an unresolvable forward reference, ...
        raise TypeError(f"cannot resolve the option annotations: "
                        f"{type(e).__name__}: {e}") from None
    out = []
    for f in dataclasses.fields(cls):
        if not f.init or not f.metadata.get("option", True):
            continue
        try:
            ty = option_type(hints.get(f.name, f.type))
        except TypeError as e:
            raise TypeError(f"option '{f.name}': {e}") from None
        default: Any = MISSING
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()  # type: ignore[operator]
        if default is not MISSING:
            try:
                default = ty.coerce(default)
            except ValueError as e:
                raise TypeError(f"option '{f.name}': the default {default!r} does not "
                                f"fit: {e}") from None
        out.append(PassOption(f.name, ty, default, str(f.metadata.get("doc", ""))))
    result = tuple(out)
    setattr(cls, "_irc_options", result)
    return result
