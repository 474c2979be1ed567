"""Element types of tensors.

Every dtype has a short name used in the text form (``f32``, ``i8``, ``b1``...),
a bit width, and a numpy *storage* dtype.  Sub-byte integer types (i4, u4, b1)
are stored one element per byte in numpy; their value range is what the bit
width allows, and packing them is the business of encodings and the artifact
writer, not of the IR.
"""

from __future__ import annotations

import enum

import numpy as np


class DType(enum.Enum):
    """A tensor element type.  ``DType.F32.name_`` is ``"f32"``."""

    F64 = ("f64", 64, "float64", True, True)
    F32 = ("f32", 32, "float32", True, True)
    F16 = ("f16", 16, "float16", True, True)
    I64 = ("i64", 64, "int64", False, True)
    I32 = ("i32", 32, "int32", False, True)
    I16 = ("i16", 16, "int16", False, True)
    I8 = ("i8", 8, "int8", False, True)
    U8 = ("u8", 8, "uint8", False, False)
    I4 = ("i4", 4, "int8", False, True)
    U4 = ("u4", 4, "uint8", False, False)
    I2 = ("i2", 2, "int8", False, True)
    U2 = ("u2", 2, "uint8", False, False)
    B1 = ("b1", 1, "bool", False, False)

    def __init__(self, short: str, bits: int, storage: str, is_float: bool, signed: bool) -> None:
        self.short = short
        self.bits = bits
        self.storage = np.dtype(storage)
        self.is_float = is_float
        self.signed = signed

    def __str__(self) -> str:
        return self.short

    def __repr__(self) -> str:
        return f"DType.{self.name}"

    @property
    def is_int(self) -> bool:
        return not self.is_float and self is not DType.B1

    @property
    def is_bool(self) -> bool:
        return self is DType.B1

    @property
    def min(self) -> int | float:
        """Smallest representable value (``-inf`` for floats)."""
        if self.is_float:
            return float("-inf")
        if self is DType.B1:
            return 0
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int | float:
        """Largest representable value (``inf`` for floats)."""
        if self.is_float:
            return float("inf")
        if self is DType.B1:
            return 1
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @staticmethod
    def parse(name: str) -> "DType":
        """``DType.parse("i8") is DType.I8``; raises ``ValueError`` naming the choices."""
        try:
            return _BY_SHORT[name]
        except KeyError:
            raise ValueError(
                f"unknown dtype {name!r}; expected one of {', '.join(_BY_SHORT)}") from None

    @staticmethod
    def from_numpy(dt: np.dtype | type) -> "DType":
        """The dtype whose storage is exactly ``dt`` (full-width types only)."""
        dt = np.dtype(dt)
        for d in (DType.F64, DType.F32, DType.F16, DType.I64, DType.I32, DType.I16,
                  DType.I8, DType.U8, DType.B1):
            if d.storage == dt:
                return d
        raise ValueError(f"numpy dtype {dt} has no irc dtype")


_BY_SHORT: dict[str, DType] = {d.short: d for d in DType}


def as_dtype(x: DType | str | np.dtype | type) -> DType:
    """Accept a DType, its short name, or a numpy dtype."""
    if isinstance(x, DType):
        return x
    if isinstance(x, str) and x in _BY_SHORT:
        return _BY_SHORT[x]
    return DType.from_numpy(np.dtype(x))


def wrap_int(values: np.ndarray, dtype: DType) -> np.ndarray:
    """Integers reduced modulo ``2**bits`` into ``dtype``'s range (two's
    complement for signed types), stored in its numpy storage type.

    Integer arithmetic wraps at every width, as numpy's int8 does; for the
    sub-byte types (i4, u4, i2, u2) whose storage is a whole byte, this is the
    step that makes an 8-bit result a valid 4-bit one.
    """
    if not dtype.is_int:
        raise ValueError(f"wrap_int needs an integer dtype, got {dtype}")
    v = np.asarray(values).astype(np.int64) & ((1 << dtype.bits) - 1)
    if dtype.signed:
        v = np.where(v >= 1 << (dtype.bits - 1), v - (1 << dtype.bits), v)
    return np.asarray(v, dtype=dtype.storage)
