"""Constant encodings: which kinds exist and what each accepts.

An encoding (:class:`irc.types.Encoding`) is part of a constant's type and says
how its bytes are stored; it never changes what the constant means.  The IR
keeps every constant's *decoded* array, so the interpreter and every analysis
see plain arrays; an encoding kind says whether an array can be stored that way
(``check``) and, once the artifact writer exists, how to encode it.

Registered: ``dense``, and the sparse ``csr`` and ``bsr<r x c>`` (the blob
layout is :mod:`irc.sparse_format`; docs/artifact.md).  ``bitpack``,
``codebook<k>`` and ``huffman`` register here as the issues that need them land.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .types import Encoding, TensorType


@dataclass(frozen=True)
class EncodingKind:
    """A registered encoding kind.

    ``params``: how many integer parameters it takes (``bsr<4x4>`` takes 2);
    ``wraps``: whether it takes an inner encoding (``huffman(codebook<32>)``);
    ``check``: why an array of a type cannot be stored this way, or None.
    """

    name: str
    params: int = 0
    wraps: bool = False
    check: Callable[[np.ndarray, TensorType, Encoding], str | None] | None = None
    doc: str = ""


_KINDS: dict[str, EncodingKind] = {}


def register_encoding(kind: EncodingKind) -> EncodingKind:
    if kind.name in _KINDS:
        raise ValueError(f"encoding '{kind.name}' is already registered")
    _KINDS[kind.name] = kind
    return kind


def unregister_encoding(name: str) -> None:
    """Remove an encoding kind (for tests and plugins that clean up after themselves)."""
    if name == "dense":
        raise ValueError("the dense encoding cannot be unregistered")
    _KINDS.pop(name, None)


def encoding_kinds() -> dict[str, EncodingKind]:
    return dict(_KINDS)


def validate_encoding(enc: Encoding) -> str | None:
    """Why ``enc`` is not a well-formed encoding, or None."""
    kind = _KINDS.get(enc.kind)
    if kind is None:
        return (f"unknown encoding '{enc.kind}' (known: {', '.join(sorted(_KINDS))})")
    if len(enc.params) != kind.params:
        return f"encoding '{enc.kind}' takes {kind.params} parameter(s), got {len(enc.params)}"
    if enc.inner is not None:
        if not kind.wraps:
            return f"encoding '{enc.kind}' does not wrap another encoding"
        return validate_encoding(enc.inner)
    return None


def check_encoding(array: np.ndarray, ty: TensorType) -> str | None:
    """Why ``array`` cannot be stored with ``ty.encoding``, or None."""
    why = validate_encoding(ty.encoding)
    if why:
        return why
    enc: Encoding | None = ty.encoding
    while enc is not None:
        kind = _KINDS[enc.kind]
        if kind.check is not None:
            why = kind.check(array, ty, enc)
            if why:
                return f"encoding {ty.encoding}: {why}"
        enc = enc.inner
    return None


register_encoding(EncodingKind("dense", doc="every element stored at the dtype's bit width"))


#: Largest block side of ``bsr<r x c>`` (docs/artifact.md).
MAX_BLOCK = 64


def _check_sparse(array: np.ndarray, ty: TensorType, enc: Encoding) -> str | None:
    """A sparse constant stores only its non-zero blocks, so an element it does
    not store must mean 0: quantized tensors need zero point 0."""
    if ty.rank < 1:
        return "a sparse constant needs rank >= 1 (rows = its first axis)"
    if ty.dtype.bits < 8:
        return f"sub-byte {ty.dtype} cannot be stored sparse"
    q = ty.quant
    if q is not None:
        zps = getattr(q, "zero_points", None) or (q.zero_point,)  # type: ignore[union-attr]
        if any(zps):
            return "a quantized sparse constant needs zero point 0 (an unstored element is 0)"
    if enc.kind == "bsr" and not all(1 <= p <= MAX_BLOCK for p in enc.params):
        return f"block sides must be 1..{MAX_BLOCK}, got {enc}"
    return None


register_encoding(EncodingKind("csr", check=_check_sparse,
                               doc="compressed sparse rows: row pointers, column indices "
                                   "(narrowest integer), non-zero values"))
register_encoding(EncodingKind("bsr", params=2, check=_check_sparse,
                               doc="block sparse rows, blocks of r x c (rows x reduction): "
                                   "only blocks holding a non-zero are stored"))
