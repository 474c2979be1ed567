"""The blob of the ``csr`` and ``bsr<r x c>`` encodings (docs/artifact.md, "Sparse
encodings: csr (1) and bsr (2), format 1.1").

A sparse constant of shape ``[d0, d1, ...]`` is the matrix ``W[R][C]`` with
``R = d0`` rows and ``C = d1·d2·…`` columns (row-major flattening; ``[d0]`` is
``d0`` rows of one column).  It is cut into ``r × c`` blocks (``csr`` is ``bsr``
with ``r = c = 1``) on a grid of ``BR = ⌈R/r⌉`` block rows and ``BC = ⌈C/c⌉``
block columns, and only blocks holding a non-zero are stored::

    0                        row_ptr  u32[BR + 1]    row_ptr[0] = 0, non-decreasing, = nnzb at BR
    4·(BR + 1)               col_idx  nnzb × index_bytes (narrowest of 1/2/4 holding BC − 1),
                                      strictly increasing within a block row, each < BC
    V = align64(4·(BR + 1) + index_bytes·nnzb)   (zero bytes before V)
    V                        values   nnzb blocks of r·c elements, each block row-major;
                                      elements of edge blocks outside R × C are 0

``nbytes = V + nnzb·r·c·elem`` exactly.  The encoding parameters (tensor record
words 64..79) are ``[r, c, nnzb, index_bytes]``.  Everything is little-endian.

:func:`encode_blob` writes it, :func:`decode_blob` checks every rule above and
reads it back, :func:`stored_nbytes` says how many bytes a constant takes in an
artifact under a given encoding (``irc show``'s size accounting).  The C reader
is ``runtime/src/loader.c`` (``check_sparse``).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .dtypes import DType, as_dtype
from .errors import IrcError
from .types import Encoding

ALIGN = 64
MAX_BLOCK = 64


class SparseFormatError(IrcError):
    """A csr/bsr blob or its parameters break docs/artifact.md's rules."""


def index_bytes_for(bc: int) -> int:
    """The narrowest column-index width (1, 2 or 4 bytes) that holds ``bc − 1``."""
    top = bc - 1
    if top < 1 << 8:
        return 1
    if top < 1 << 16:
        return 2
    if top < 1 << 32:
        return 4
    raise SparseFormatError(f"{bc} block columns do not fit 32-bit column indices")


def matrix_dims(shape: Sequence[int]) -> tuple[int, int]:
    """``(R, C)`` of the 2-D view of a tensor of ``shape``: rows = ``shape[0]``,
    columns = the product of the rest."""
    if len(shape) < 1:
        raise SparseFormatError("a sparse tensor needs rank >= 1 (rows = its first axis)")
    return int(shape[0]), int(math.prod(int(d) for d in shape[1:]))


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _layout(rows: int, cols: int, r: int, c: int, nnzb: int, ib: int,
            elem: int) -> tuple[int, int, int, int]:
    """``(BR, BC, V, nbytes)`` of a blob."""
    br, bc = -(-rows // r), -(-cols // c)
    v = _align(4 * (br + 1) + ib * nnzb)
    return br, bc, v, v + nnzb * r * c * elem


def _block_params(r: int, c: int) -> None:
    for name, v in (("r", r), ("c", c)):
        if not (isinstance(v, (int, np.integer)) and 1 <= v <= MAX_BLOCK):
            raise SparseFormatError(f"block {name} = {v!r} is outside 1..{MAX_BLOCK}")


def _blocks(matrix: np.ndarray, r: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    """The zero-padded matrix as blocks ``[BR, BC, r, c]`` and the mask of blocks holding
    a non-zero ``[BR, BC]``."""
    rows, cols = matrix.shape
    br, bc = -(-rows // r), -(-cols // c)
    padded = np.zeros((br * r, bc * c), matrix.dtype)
    padded[:rows, :cols] = matrix
    blocks = padded.reshape(br, r, bc, c).transpose(0, 2, 1, 3)
    return blocks, (blocks != 0).any(axis=(2, 3))


def block_mask(matrix2d: np.ndarray, r: int, c: int) -> np.ndarray:
    """Which ``r × c`` blocks of the 2-D matrix hold a non-zero (``[BR, BC]`` bools;
    edge blocks are zero-padded): the blocks a csr/bsr blob stores."""
    return _blocks(matrix2d, r, c)[1]


def encode_blob(matrix2d: np.ndarray, r: int, c: int) -> tuple[bytes, list[int]]:
    """The blob of ``matrix2d`` (2-D, its dtype is the element type) with ``r × c``
    blocks, and its encoding parameters ``[r, c, nnzb, index_bytes]``.  Stores the
    blocks holding any non-zero (NaN counts as non-zero; −0.0 does not)."""
    m = np.asarray(matrix2d)
    if m.ndim != 2:
        raise SparseFormatError(f"encode_blob takes a 2-D matrix, got shape {list(m.shape)}")
    _block_params(r, c)
    rows, cols = m.shape
    blocks, mask = _blocks(m, r, c)
    br, bc = mask.shape
    ib = index_bytes_for(bc)
    counts = mask.sum(axis=1)
    row_ptr = np.zeros(br + 1, "<u4")
    np.cumsum(counts, out=row_ptr[1:])
    _, col = np.nonzero(mask)                      # row-major: sorted within each block row
    nnzb = int(col.size)
    _, _, v, nbytes = _layout(rows, cols, r, c, nnzb, ib, m.dtype.itemsize)
    out = bytearray(nbytes)
    out[:4 * (br + 1)] = row_ptr.tobytes()
    at = 4 * (br + 1)
    out[at:at + ib * nnzb] = col.astype(f"<u{ib}").tobytes()
    vals = np.ascontiguousarray(blocks[mask], dtype=m.dtype.newbyteorder("<"))
    out[v:] = vals.tobytes()
    return bytes(out), [int(r), int(c), nnzb, ib]


def _fail(what: str, msg: str) -> SparseFormatError:
    return SparseFormatError(f"{what}: {msg}" if what else msg)


def decode_blob(blob: bytes, params: Sequence[int], shape: Sequence[int],
                dtype: DType | np.dtype | str, what: str = "") -> np.ndarray:
    """The dense array of ``shape`` that ``blob`` encodes.  Checks every rule of the
    format (docs/artifact.md) and raises :class:`SparseFormatError` naming ``what``
    (e.g. the tensor) and the broken rule."""
    if isinstance(dtype, DType):
        storage = dtype.storage
    else:
        try:
            storage = as_dtype(dtype).storage
        except (TypeError, ValueError):
            storage = np.dtype(dtype)
    storage = np.dtype(storage).newbyteorder("<")
    params = [int(p) for p in params]
    if len(params) != 4:
        raise _fail(what, f"expected 4 encoding parameters [r, c, nnzb, index_bytes], got "
                          f"{params}")
    r, c, nnzb, ib = params
    try:
        _block_params(r, c)
    except SparseFormatError as e:
        raise _fail(what, str(e)) from None
    rows, cols = matrix_dims(shape)
    br, bc = -(-rows // r), -(-cols // c)
    if ib not in (1, 2, 4):
        raise _fail(what, f"index_bytes is {ib}, must be 1, 2 or 4")
    if bc > 0 and bc - 1 >= 1 << (8 * ib):
        raise _fail(what, f"{ib}-byte column indices cannot hold block column {bc - 1}")
    if not 0 <= nnzb <= br * bc:
        raise _fail(what, f"nnzb = {nnzb} is outside 0..{br * bc} (BR·BC for {br}×{bc} "
                          "block rows × columns)")
    _, _, v, nbytes = _layout(rows, cols, r, c, nnzb, ib, storage.itemsize)
    if len(blob) != nbytes:
        raise _fail(what, f"the blob has {len(blob)} bytes; {r}x{c} blocks, nnzb = {nnzb}, "
                          f"{ib}-byte indices on a {rows}x{cols} matrix take exactly {nbytes}")
    row_ptr = np.frombuffer(blob, "<u4", br + 1, 0).astype(np.int64)
    if row_ptr[0] != 0:
        raise _fail(what, f"row_ptr[0] is {row_ptr[0]}, must be 0")
    if np.any(np.diff(row_ptr) < 0):
        i = int(np.argmax(np.diff(row_ptr) < 0))
        raise _fail(what, f"row_ptr decreases at block row {i} ({row_ptr[i]} -> "
                          f"{row_ptr[i + 1]})")
    if row_ptr[-1] != nnzb:
        raise _fail(what, f"row_ptr[{br}] is {row_ptr[-1]}, must equal nnzb = {nnzb}")
    at = 4 * (br + 1)
    col = np.frombuffer(blob, f"<u{ib}", nnzb, at).astype(np.int64)
    if nnzb and col.max() >= bc:
        e = int(np.argmax(col >= bc))
        raise _fail(what, f"col_idx[{e}] = {col[e]} is not below BC = {bc}")
    row_of = np.repeat(np.arange(br), np.diff(row_ptr))
    same_row = row_of[1:] == row_of[:-1]
    bad = same_row & (col[1:] <= col[:-1])
    if np.any(bad):
        e = int(np.argmax(bad)) + 1
        raise _fail(what, f"col_idx is not strictly increasing in block row {row_of[e]} "
                          f"(entry {e}: {col[e - 1]} then {col[e]})")
    if any(blob[at + ib * nnzb:v]):
        raise _fail(what, "padding bytes before the values are not zero")
    vals = np.frombuffer(blob, storage, nnzb * r * c, v).reshape(nnzb, r, c)
    padded = np.zeros((br, bc, r, c), storage.newbyteorder("="))
    padded[row_of, col] = vals
    dense = padded.transpose(0, 2, 1, 3).reshape(br * r, bc * c)
    if np.any(dense[rows:]) or np.any(dense[:, cols:]):
        raise _fail(what, f"an edge block holds a non-zero element outside the {rows}x{cols} "
                          "matrix")
    return np.ascontiguousarray(dense[:rows, :cols]).reshape(tuple(int(d) for d in shape))


def sparse_params(encoding: Encoding) -> tuple[int, int] | None:
    """``(r, c)`` of a ``csr`` / ``bsr<r x c>`` encoding, or None for any other."""
    if encoding.inner is not None:
        return None
    if encoding.kind == "csr":
        return 1, 1
    if encoding.kind == "bsr" and len(encoding.params) == 2:
        return int(encoding.params[0]), int(encoding.params[1])
    return None


def stored_nbytes(array: np.ndarray, encoding: Encoding | None) -> int:
    """Bytes ``array`` takes in an artifact stored with ``encoding`` (dense: every
    element at its storage width; csr/bsr: the blob).  Other encodings are not
    stored by the artifact writer yet: :class:`SparseFormatError`."""
    a = np.asarray(array)
    if encoding is None or encoding.is_dense:
        return int(a.nbytes)
    rc = sparse_params(encoding)
    if rc is None:
        raise SparseFormatError(f"the artifact cannot store encoding {encoding} yet "
                                "(dense, csr and bsr<r x c> only)")
    r, c = rc
    _block_params(r, c)
    rows, cols = matrix_dims(a.shape)
    mask = block_mask(a.reshape(rows, cols), r, c)
    nnzb = int(mask.sum())
    ib = index_bytes_for(mask.shape[1])
    return _layout(rows, cols, r, c, nnzb, ib, a.dtype.itemsize)[3]


__all__ = ["SparseFormatError", "block_mask", "decode_blob", "encode_blob", "index_bytes_for", "matrix_dims",
           "sparse_params", "stored_nbytes"]
