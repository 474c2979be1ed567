"""Tensor types: element type, static shape, quantization parameters, encoding.

A :class:`TensorType` says everything about what a tensor *means* and how a
constant is *stored*:

* ``dtype`` and ``shape`` (static; ``()`` is a scalar);
* ``quant``: optional quantization parameters.  A quantized tensor with stored
  integer ``q`` represents the real value ``scale * (q - zero_point)``, either
  with one (scale, zero_point) for the whole tensor (:class:`PerTensor`) or one
  per slice along ``axis`` (:class:`PerAxis`);
* ``encoding``: how a constant's bytes are stored (``dense``, later ``csr``,
  ``bsr<4x4>``, ``huffman(codebook<32>)``...).  An encoding never changes what
  a constant means.

Text form (see :mod:`irc.printer`)::

    f32[1,3,224,224]
    i8[1,16,28,28]<0.05,-3>                       per-tensor scale, zero point
    i8[16,3,3,3]<axis=0,[0.1,0.2,...],[0,0,...]>  per-axis
    f32[64,64]#bsr<4x4>                           encoded constant
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Union

import numpy as np

from .dtypes import DType, as_dtype


@dataclass(frozen=True)
class PerTensor:
    """One ``(scale, zero_point)`` for the whole tensor: ``real = scale * (q - zp)``."""

    scale: float
    zero_point: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", float(self.scale))
        object.__setattr__(self, "zero_point", int(self.zero_point))
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"quantization scale must be finite and > 0, got {self.scale}")


@dataclass(frozen=True)
class PerAxis:
    """One ``(scale, zero_point)`` per index of ``axis``."""

    axis: int
    scales: tuple[float, ...]
    zero_points: tuple[int, ...]

    def __post_init__(self) -> None:
        scales = tuple(float(s) for s in self.scales)
        zps = tuple(int(z) for z in self.zero_points)
        object.__setattr__(self, "axis", int(self.axis))
        object.__setattr__(self, "scales", scales)
        object.__setattr__(self, "zero_points", zps)
        if len(scales) != len(zps):
            raise ValueError(
                f"per-axis quantization has {len(scales)} scales but {len(zps)} zero points")
        if not scales:
            raise ValueError("per-axis quantization needs at least one scale")
        bad = [s for s in scales if not (math.isfinite(s) and s > 0)]
        if bad:
            raise ValueError(f"quantization scales must be finite and > 0, got {bad[0]}")


QuantParams = Union[PerTensor, PerAxis]


@dataclass(frozen=True)
class Encoding:
    """How a constant is stored: a kind, integer parameters, and an optional inner encoding.

    ``Encoding("bsr", (4, 4))`` prints ``bsr<4x4>``; ``Encoding("huffman",
    inner=Encoding("codebook", (32,)))`` prints ``huffman(codebook<32>)``.
    Which kinds exist, and what they accept, is kept in :mod:`irc.encodings`.
    """

    kind: str = "dense"
    params: tuple[int, ...] = ()
    inner: "Encoding | None" = None

    @property
    def is_dense(self) -> bool:
        return self.kind == "dense" and self.inner is None

    def __str__(self) -> str:
        s = self.kind
        if self.params:
            sep = "x" if self.kind == "bsr" else ","
            s += "<" + sep.join(str(p) for p in self.params) + ">"
        if self.inner is not None:
            s += f"({self.inner})"
        return s


DENSE = Encoding()


@dataclass(frozen=True)
class TensorType:
    """The type of a value: ``dtype[shape]<quant>#encoding``."""

    dtype: DType
    shape: tuple[int, ...]
    quant: QuantParams | None = None
    encoding: Encoding = field(default=DENSE)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", as_dtype(self.dtype))
        shape = tuple(int(d) for d in self.shape)
        if any(d < 0 for d in shape):
            raise ValueError(f"shape {list(shape)} has a negative dimension")
        object.__setattr__(self, "shape", shape)
        if isinstance(self.quant, PerAxis):
            ax = self.quant.axis
            if not -len(shape) <= ax < len(shape):
                raise ValueError(f"per-axis quantization axis {ax} is out of range for "
                                 f"rank {len(shape)}")
            n = shape[ax]
            if len(self.quant.scales) not in (n,):
                raise ValueError(f"per-axis quantization along axis {ax} needs {n} scales, "
                                 f"got {len(self.quant.scales)}")

    # -- convenience -----------------------------------------------------------
    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of the dense tensor at its dtype's bit width (sub-byte types packed)."""
        return (self.size * self.dtype.bits + 7) // 8

    def with_(self, **changes: object) -> "TensorType":
        """A copy with some fields replaced: ``t.with_(shape=(1, 4), quant=None)``."""
        fields = {"dtype": self.dtype, "shape": self.shape, "quant": self.quant,
                  "encoding": self.encoding}
        fields.update(changes)
        return TensorType(**fields)  # type: ignore[arg-type]

    def __str__(self) -> str:
        from .printer import format_type  # the one place text syntax lives
        return format_type(self)

    @staticmethod
    def of(array: np.ndarray, dtype: DType | str | None = None) -> "TensorType":
        """The dense, unquantized type of a numpy array."""
        return TensorType(as_dtype(dtype) if dtype is not None else DType.from_numpy(array.dtype),
                          tuple(array.shape))


def tensor_type(spec: "TensorType | str") -> TensorType:
    """Accept a TensorType or its text form (``"f32[1,3,224,224]"``)."""
    if isinstance(spec, TensorType):
        return spec
    from .parser import parse_type
    return parse_type(spec)


def check_array_fits(array: np.ndarray, ty: TensorType) -> str | None:
    """Why ``array`` cannot be a value of type ``ty``, or None if it can."""
    if tuple(array.shape) != ty.shape:
        return f"shape {list(array.shape)} does not match type shape {list(ty.shape)}"
    if array.dtype != ty.dtype.storage:
        return f"numpy dtype {array.dtype} does not store {ty.dtype} (expected {ty.dtype.storage})"
    if ty.dtype.is_int and ty.dtype.bits < 8 and array.size:
        lo, hi = int(array.min()), int(array.max())
        if lo < ty.dtype.min or hi > ty.dtype.max:
            return (f"values [{lo}, {hi}] exceed the range [{ty.dtype.min}, {ty.dtype.max}] "
                    f"of {ty.dtype}")
    return None
