"""The op registry: one definition site per op.

An op is a subclass of :class:`OpDef` decorated with :func:`register_op`.  The
class holds everything about the op's meaning — operands, typed attributes with
defaults, the shape/type rule (``infer``), extra verification (``verify``), the
numpy reference semantics (``compute``) and, for trainable ops, a VJP — so a
user who adds an op touches one file::

    @register_op
    class Relu(OpDef):
        '''max(x, 0)'''
        name = "nn.relu"
        operands = (Operand("x"),)

        def infer(self, types, attrs):
            return float_like(types[0])

        def compute(self, inputs, attrs):
            return np.maximum(inputs[0], 0)

Per-pass behaviour (how an op quantizes, prunes, fuses...) is attached to the op
with :func:`op_hook`, never written as ``if op == ...`` chains inside passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Sequence

import numpy as np

from ..dtypes import DType, as_dtype
from ..errors import OpError, TypeInferenceError
from ..types import PerTensor, TensorType

if TYPE_CHECKING:
    from ..ir import Node


# ---------------------------------------------------------------------------
# Attribute kinds: each validates and normalizes a value, and describes itself.
# Normalized values are immutable: ints, floats, bools, strs, DTypes, tuples.
# ---------------------------------------------------------------------------

class AttrKind:
    """Base of attribute kinds.  ``coerce`` returns the normalized value or raises
    ``ValueError`` with a message saying what was expected."""

    def coerce(self, value: Any) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


def _range_msg(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f" in [{lo}, {hi}]"
    if lo is not None:
        return f" >= {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


@dataclass(frozen=True)
class Int(AttrKind):
    min: int | None = None
    max: int | None = None

    def coerce(self, value: Any) -> int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            if isinstance(value, (float, np.floating)) and float(value).is_integer():
                value = int(value)
            else:
                raise ValueError(f"expected an integer{_range_msg(self.min, self.max)}, "
                                 f"got {value!r}")
        v = int(value)
        if (self.min is not None and v < self.min) or (self.max is not None and v > self.max):
            raise ValueError(f"expected an integer{_range_msg(self.min, self.max)}, got {v}")
        return v

    def describe(self) -> str:
        return "int" + _range_msg(self.min, self.max)


@dataclass(frozen=True)
class OptionalInt(AttrKind):
    """An integer, or ``none`` for "not given" (normalized to Python None, the
    pass options' ``Optional[int]`` convention): ``axis = none`` is per tensor.
    Use None as the default; the text form omits it (defaults are not printed)
    and reads a bare ``none`` back."""

    min: int | None = None
    max: int | None = None

    def coerce(self, value: Any) -> int | None:
        if value is None or (isinstance(value, str) and value == "none"):
            return None
        try:
            return Int(self.min, self.max).coerce(value)
        except ValueError:
            raise ValueError(f"expected an integer{_range_msg(self.min, self.max)} or none, "
                             f"got {value!r}") from None

    def describe(self) -> str:
        return "int" + _range_msg(self.min, self.max) + " or none"


@dataclass(frozen=True)
class Float(AttrKind):
    min: float | None = None
    max: float | None = None

    def coerce(self, value: Any) -> float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(
                value, (int, float, np.integer, np.floating)):
            raise ValueError(f"expected a number{_range_msg(self.min, self.max)}, got {value!r}")
        v = float(value)
        if (self.min is not None and v < self.min) or (self.max is not None and v > self.max):
            raise ValueError(f"expected a number{_range_msg(self.min, self.max)}, got {v}")
        return v

    def describe(self) -> str:
        return "float" + _range_msg(self.min, self.max)


@dataclass(frozen=True)
class Bool(AttrKind):
    def coerce(self, value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, (int, np.integer)) and value in (0, 1):
            return bool(value)
        raise ValueError(f"expected true or false, got {value!r}")

    def describe(self) -> str:
        return "bool"


@dataclass(frozen=True)
class Str(AttrKind):
    def coerce(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value

    def describe(self) -> str:
        return "string"


class Enum(AttrKind):
    """One of a fixed set of identifiers (printed bare: ``mode = nearest``)."""

    def __init__(self, *choices: str) -> None:
        self.choices = tuple(choices)

    def coerce(self, value: Any) -> str:
        if value not in self.choices:
            raise ValueError(f"expected one of {', '.join(self.choices)}; got {value!r}")
        return str(value)

    def describe(self) -> str:
        return "one of " + "|".join(self.choices)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Enum) and other.choices == self.choices

    def __hash__(self) -> int:
        return hash(self.choices)


@dataclass(frozen=True)
class Ints(AttrKind):
    """A list of integers, optionally of fixed length and bounded elements."""

    length: int | None = None
    min: int | None = None
    max: int | None = None

    def coerce(self, value: Any) -> tuple[int, ...]:
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"expected a list of integers, got {value!r}")
        elem = Int(self.min, self.max)
        try:
            out = tuple(elem.coerce(v) for v in value)
        except ValueError as e:
            raise ValueError(f"in list {list(value)!r}: {e}") from None
        if self.length is not None and len(out) != self.length:
            raise ValueError(f"expected {self.length} integers, got {len(out)}")
        return out

    def describe(self) -> str:
        n = f"{self.length} " if self.length is not None else ""
        return f"list of {n}ints" + _range_msg(self.min, self.max)


@dataclass(frozen=True)
class Floats(AttrKind):
    length: int | None = None

    def coerce(self, value: Any) -> tuple[float, ...]:
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"expected a list of numbers, got {value!r}")
        out = tuple(Float().coerce(v) for v in value)
        if self.length is not None and len(out) != self.length:
            raise ValueError(f"expected {self.length} numbers, got {len(out)}")
        return out

    def describe(self) -> str:
        n = f"{self.length} " if self.length is not None else ""
        return f"list of {n}floats"


@dataclass(frozen=True)
class DTypeAttr(AttrKind):
    """An element type, printed bare (``to = i8``)."""

    def coerce(self, value: Any) -> DType:
        try:
            return as_dtype(value)
        except (ValueError, TypeError):
            raise ValueError(f"expected a dtype name such as f32 or i8, got {value!r}") from None

    def describe(self) -> str:
        return "dtype"


@dataclass(frozen=True)
class ArrayAttr(AttrKind):
    """A numpy array (the payload of ``const``)."""

    def coerce(self, value: Any) -> np.ndarray:
        arr = np.asarray(value)
        if arr.flags.writeable:
            arr = arr.copy()
            arr.setflags(write=False)
        return arr

    def describe(self) -> str:
        return "tensor"


REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "<required>"})()


@dataclass(frozen=True)
class Attr:
    """An attribute: name, kind, default (``REQUIRED`` if none) and one line of docs."""

    name: str
    kind: AttrKind
    default: Any = REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Operand:
    """An operand slot.  ``optional`` slots may only trail; a ``variadic`` slot
    takes zero or more values (``min_count`` at least).  ``encodings`` lists the
    constant encodings the op accepts here (``"*"`` for any).  ``differentiable``
    is False for a float operand training does not reach through the op's VJP
    (running statistics), or a callable ``attrs -> bool`` when the node's
    (normalized) attributes decide (``qat.fake_quant``'s ``scale`` is learned
    only when ``grad_scale > 0``): :func:`irc.autodiff.trainable_params` skips
    constants read only at operands for which :meth:`is_differentiable` is
    False."""

    name: str
    optional: bool = False
    variadic: bool = False
    min_count: int = 1
    encodings: tuple[str, ...] = ("dense",)
    doc: str = ""
    differentiable: bool | Callable[[dict[str, Any]], bool] = True

    def is_differentiable(self, attrs: dict[str, Any]) -> bool:
        """``differentiable``, evaluated with a node's attributes when it is a callable."""
        d = self.differentiable
        return bool(d(attrs)) if callable(d) else bool(d)


# ---------------------------------------------------------------------------
# OpDef
# ---------------------------------------------------------------------------

class OpDef:
    """Base class of op definitions; subclasses set the class attributes and
    override ``infer`` and ``compute`` (and optionally ``verify`` and ``vjp``)."""

    name: ClassVar[str] = ""
    operands: ClassVar[tuple[Operand, ...]] = ()
    attrs: ClassVar[tuple[Attr, ...]] = ()
    #: pure ops have no side effects: dead-code elimination and folding may drop or
    #: evaluate them.
    pure: ClassVar[bool] = True

    # -- to override -------------------------------------------------------------
    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType | list[TensorType]:
        """Result types from operand types and (normalized) attributes.  Raise
        ``ValueError`` with a clear message when they do not fit."""
        raise NotImplementedError(f"{self.name} has no type rule")

    def compute(self, inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray | list[np.ndarray]:
        """Reference numpy semantics: arrays in, arrays out."""
        raise NotImplementedError(f"{self.name} has no reference semantics")

    def verify(self, node: "Node") -> Iterable[str]:
        """Extra op-specific checks beyond the type rule; yield problem strings."""
        return ()

    #: ``vjp(inputs, attrs, outputs, grad_outputs) -> grad_inputs`` for trainable ops
    #: (a staticmethod or a method): given the forward operands and results and
    #: ``ȳ = ∂L/∂y`` per result (zeros for a result the loss does not read), the
    #: list of ``∂L/∂x`` per operand, each in its operand's shape and dtype, or
    #: None where the operand is not differentiable (integers, running
    #: statistics).  It must not write into its arguments.  A VJP that also takes
    #: ``needs=`` (one bool per operand) may skip, returning None, the gradients
    #: the caller marks False.  :mod:`irc.autodiff` calls it;
    #: :func:`irc.gradcheck.check_op_vjp` tests it.
    vjp: ClassVar[Callable[..., list[np.ndarray | None]] | None] = None

    # -- derived -----------------------------------------------------------------
    @property
    def doc(self) -> str:
        return (type(self).__doc__ or "").strip()

    @property
    def attr_map(self) -> dict[str, Attr]:
        return {a.name: a for a in self.attrs}

    def operand_count_error(self, n: int) -> str | None:
        """Why ``n`` operands do not fit this op's operand list, or None."""
        fixed = [o for o in self.operands if not o.optional and not o.variadic]
        optional = [o for o in self.operands if o.optional]
        variadic = [o for o in self.operands if o.variadic]
        lo = len(fixed) + sum(o.min_count for o in variadic)
        hi = math.inf if variadic else len(fixed) + len(optional)
        if lo <= n <= hi:
            return None
        names = ", ".join(self._operand_sig())
        want = f"{lo}" if lo == hi else (f"at least {lo}" if hi == math.inf else f"{lo} to {hi}")
        return f"{self.name} takes {want} operand(s) ({names}), got {n}"

    def _operand_sig(self) -> list[str]:
        out = []
        for o in self.operands:
            out.append(o.name + ("?" if o.optional else "...") if (o.optional or o.variadic)
                       else o.name)
        return out

    def operand_for(self, index: int, count: int) -> Operand:
        """The operand slot that operand ``index`` (of ``count``) falls in."""
        fixed_before = 0
        for slot in self.operands:
            if slot.variadic:
                n_after = len(self.operands) - self.operands.index(slot) - 1
                if index < count - n_after:
                    return slot
                fixed_before = count - n_after
                continue
            if index == fixed_before:
                return slot
            fixed_before += 1
        return self.operands[-1]

    def normalize_attrs(self, attrs: dict[str, Any], where: str = "") -> dict[str, Any]:
        """Check attribute names and values, fill defaults, return normalized values."""
        where = where or self.name
        known = self.attr_map
        out: dict[str, Any] = {}
        for k, v in attrs.items():
            spec = known.get(k)
            if spec is None:
                choices = ", ".join(known) or "none"
                raise OpError(f"{where}: unknown attribute '{k}' (attributes of {self.name}: "
                              f"{choices})")
            try:
                out[k] = spec.kind.coerce(v)
            except ValueError as e:
                raise OpError(f"{where}: attribute '{k}': {e}") from None
        for spec in self.attrs:
            if spec.name not in out:
                if spec.required:
                    raise OpError(f"{where}: missing required attribute '{spec.name}' "
                                  f"({spec.kind.describe()})")
                out[spec.name] = spec.default
        return out

    def infer_types(self, types: Sequence[TensorType], attrs: dict[str, Any],
                    where: str = "") -> list[TensorType]:
        """Run the type rule with operand-count checking and a clear error."""
        where = where or self.name
        err = self.operand_count_error(len(types))
        if err:
            raise TypeInferenceError(f"{where}: {err}")
        try:
            res = self.infer(list(types), attrs)
        except (ValueError, IndexError, KeyError, TypeError, ArithmeticError) as e:
            shown = ", ".join(str(t) for t in types)
            raise TypeInferenceError(f"{where}: {e} (operand types: {shown})") from None
        return [res] if isinstance(res, TensorType) else list(res)

    #: Ops whose meaning depends on their operands' types — the quantization
    #: parameters of ``q.*`` operands — set this and get them as a third argument:
    #: ``compute(inputs, attrs, types)``.
    typed_compute: ClassVar[bool] = False

    def run(self, inputs: list[np.ndarray], attrs: dict[str, Any],
            types: Sequence[TensorType] | None = None) -> list[np.ndarray]:
        """``compute`` with the result always a list (``types``: the operand types,
        required by ``typed_compute`` ops)."""
        if self.typed_compute:
            if types is None:
                raise ValueError(f"{self.name} reads its operands' types; pass types=")
            res = self.compute(inputs, attrs, list(types))  # type: ignore[call-arg]
        else:
            res = self.compute(inputs, attrs)
        return list(res) if isinstance(res, (list, tuple)) else [res]

    def hook(self, name: str) -> Callable[..., Any] | None:
        """The per-pass hook ``name`` attached to this op, if any."""
        return _HOOKS.get((self.name, name))

    def __repr__(self) -> str:
        return f"<op {self.name}>"


_REGISTRY: dict[str, OpDef] = {}
_HOOKS: dict[tuple[str, str], Callable[..., Any]] = {}


def register_op(cls: type[OpDef]) -> type[OpDef]:
    """Class decorator: instantiate and register an op definition by its ``name``."""
    if not cls.name or "." not in cls.name and cls.name != "const":
        raise OpError(f"{cls.__qualname__}: op name must be 'namespace.op', got {cls.name!r}")
    if cls.name in _REGISTRY:
        raise OpError(f"op {cls.name} is already registered by "
                      f"{type(_REGISTRY[cls.name]).__module__}")
    seen_optional = False
    for o in cls.operands:
        if o.optional:
            seen_optional = True
        elif seen_optional and not o.optional:
            raise OpError(f"{cls.name}: optional operands must trail")
    # defaults are stored normalized, exactly as a given value would be
    normalized = []
    for a in cls.attrs:
        if not a.required:
            try:
                a = Attr(a.name, a.kind, a.kind.coerce(a.default), a.doc)
            except ValueError as e:
                raise OpError(f"{cls.name}: default of attribute '{a.name}': {e}") from None
        normalized.append(a)
    cls.attrs = tuple(normalized)
    _REGISTRY[cls.name] = cls()
    return cls


def op_hook(op: str, hook: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator attaching a per-pass hook to an op: ``@op_hook("nn.conv2d", "quantize")``."""
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        key = (op, hook)
        if key in _HOOKS:
            raise OpError(f"hook '{hook}' of {op} is already registered")
        _HOOKS[key] = fn
        return fn
    return deco


def get_op(name: str) -> OpDef:
    """The op definition called ``name``; the error suggests close names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        import difflib
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise OpError(f"unknown op '{name}'{hint} (`irc ops` lists every op)") from None


def has_op(name: str) -> bool:
    return name in _REGISTRY


def all_ops() -> dict[str, OpDef]:
    """Every registered op by name (a copy)."""
    return dict(sorted(_REGISTRY.items()))


# ---------------------------------------------------------------------------
# Helpers for type rules
# ---------------------------------------------------------------------------

def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """numpy broadcasting of static shapes; ``ValueError`` naming the shapes."""
    try:
        return tuple(np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        raise ValueError("shapes " + ", ".join(str(list(s)) for s in shapes)
                         + " do not broadcast") from None


def float_like(t: TensorType, shape: Sequence[int] | None = None) -> TensorType:
    """A dense, unquantized result type with ``t``'s dtype (and optionally a new shape)."""
    return TensorType(t.dtype, tuple(t.shape if shape is None else shape))


def same_scale(t: TensorType, shape: Sequence[int] | None = None) -> TensorType:
    """The result type of a data-movement op (reshape, slice, pad, max pool...)
    on ``t``: its dtype, a new shape, and — when ``t`` is quantized per tensor —
    the same quantization parameters, since moving stored integers around does
    not change what they mean.  Per-axis parameters are dropped (the axis may
    not survive the move); ops that can follow the axis do so themselves."""
    quant = t.quant if isinstance(t.quant, PerTensor) else None
    return TensorType(t.dtype, tuple(t.shape if shape is None else shape), quant)


def require_float(t: TensorType, what: str = "operand") -> None:
    if not t.dtype.is_float:
        raise ValueError(f"{what} must be a float tensor, got {t.dtype}")


def require_same_dtype(types: Sequence[TensorType]) -> DType:
    dts = {t.dtype for t in types}
    if len(dts) != 1:
        raise ValueError("operands must share one dtype, got "
                         + ", ".join(str(t.dtype) for t in types))
    return types[0].dtype


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < rank:
        raise ValueError(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank

