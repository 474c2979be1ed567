"""The csr/bsr blob codec (irc.sparse_format; docs/artifact.md, "Sparse encodings"):
round trips over shapes, block sizes, densities and dtypes; edge blocks; empty and
all-zero matrices; every column-index width; and every rule the decoder checks."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irc.sparse_format import (SparseFormatError, decode_blob, encode_blob, index_bytes_for,
                               stored_nbytes)
from irc.types import Encoding

DTYPES = [np.float32, np.int8, np.uint8, np.int32]


def sparse_matrix(rng: np.random.Generator, shape, density: float, dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.floating):
        v = rng.standard_normal(shape).astype(dtype)
    else:
        info = np.iinfo(dtype)
        v = rng.integers(max(info.min, -1000), min(info.max, 1000) + 1, shape).astype(dtype)
    return np.where(rng.random(shape) < density, v, 0).astype(dtype)


def parse(blob: bytes, params, rows: int, cols: int):
    """row_ptr, col_idx and the values offset of a blob (independently of the decoder)."""
    r, c, nnzb, ib = params
    br, bc = -(-rows // r), -(-cols // c)
    row_ptr = np.frombuffer(blob, "<u4", br + 1)
    col = np.frombuffer(blob, {1: "<u1", 2: "<u2", 4: "<u4"}[ib], nnzb, 4 * (br + 1))
    v = -(-(4 * (br + 1) + ib * nnzb) // 64) * 64
    return row_ptr, col, v


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=4), st.integers(1, 9), st.integers(1, 9),
       st.sampled_from([0.0, 0.05, 0.3, 0.7, 1.0]), st.sampled_from(DTYPES),
       st.integers(0, 2**31))
def test_round_trip(shape, r, c, density, dtype, seed):
    rng = np.random.default_rng(seed)
    a = sparse_matrix(rng, tuple(shape), density, dtype)
    rows = shape[0]
    cols = int(np.prod(shape[1:]))
    blob, params = encode_blob(a.reshape(rows, cols), r, c)
    assert params[:2] == [r, c]
    assert decode_blob(blob, params, shape, a.dtype).dtype == a.dtype
    np.testing.assert_array_equal(decode_blob(blob, params, shape, a.dtype), a)
    enc = Encoding("bsr", (r, c)) if (r, c) != (1, 1) else Encoding("csr")
    assert stored_nbytes(a, enc) == len(blob)
    # the layout rules, checked without the decoder
    row_ptr, col, v = parse(blob, params, rows, cols)
    br, bc = -(-rows // r), -(-cols // c)
    padded = np.zeros((br * r, bc * c), a.dtype)
    padded[:rows, :cols] = a.reshape(rows, cols)
    holds = (padded.reshape(br, r, bc, c) != 0).any(axis=(1, 3))
    assert params[2] == holds.sum() == row_ptr[-1] and row_ptr[0] == 0
    assert params[3] == index_bytes_for(bc)
    for i in range(br):
        assert list(col[row_ptr[i]:row_ptr[i + 1]]) == list(np.nonzero(holds[i])[0])
    assert v % 64 == 0 and not any(blob[4 * (br + 1) + params[3] * params[2]:v])
    assert len(blob) == v + params[2] * r * c * a.dtype.itemsize


def test_edge_blocks_are_zero_padded():
    a = np.arange(1, 5 * 7 + 1, dtype=np.int8).reshape(5, 7)
    blob, params = encode_blob(a, 4, 4)             # 2 x 2 blocks, the last row/column partial
    assert params == [4, 4, 4, 1]
    _, _, v = parse(blob, params, 5, 7)
    vals = np.frombuffer(blob, np.int8, 4 * 16, v).reshape(4, 4, 4)
    np.testing.assert_array_equal(vals[3][:1, :3], a[4:, 4:])       # block (1, 1)
    assert not vals[3][1:].any() and not vals[3][:, 3:].any()
    np.testing.assert_array_equal(decode_blob(blob, params, (5, 7), np.int8), a)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0,), (4, 6), (3, 2, 2)])
def test_empty_and_all_zero(shape):
    a = np.zeros(shape, np.float32)
    for r, c in [(1, 1), (4, 1), (2, 3)]:
        rows = shape[0]
        blob, params = encode_blob(a.reshape(rows, -1) if a.size or rows else
                                   a.reshape(rows, int(np.prod(shape[1:]))), r, c)
        assert params[2] == 0
        assert len(blob) == -(-4 * (-(-rows // r) + 1) // 64) * 64      # row_ptr only
        np.testing.assert_array_equal(decode_blob(blob, params, shape, np.float32), a)


def test_zero_and_nan():
    a = np.array([[-0.0, 0.0, np.nan, 1.0]], np.float32)
    blob, params = encode_blob(a, 1, 1)
    assert params[2] == 2                          # NaN is stored, −0.0 is not
    out = decode_blob(blob, params, a.shape, np.float32)
    assert np.isnan(out[0, 2]) and out[0, 3] == 1 and not out[0, :2].any()


@pytest.mark.parametrize("bc, width", [(1, 1), (256, 1), (257, 2), (65536, 2), (65537, 4)])
def test_every_index_width(bc, width):
    a = np.zeros((2, bc), np.int8)
    a[0, -1] = 5
    a[1, 0] = -3
    a[1, bc // 2] = 7
    blob, params = encode_blob(a, 1, 1)
    assert params[3] == width == index_bytes_for(bc)
    np.testing.assert_array_equal(decode_blob(blob, params, a.shape, np.int8), a)
    # with 2-column blocks the grid halves: the width follows BC - 1
    blob2, params2 = encode_blob(a, 1, 2)
    assert params2[3] == index_bytes_for(-(-bc // 2))
    np.testing.assert_array_equal(decode_blob(blob2, params2, a.shape, np.int8), a)


def _rewidth(blob: bytes, params, rows: int, cols: int, width: int) -> tuple[bytes, list[int]]:
    """The same matrix with ``width``-byte column indices (the reader accepts any width that
    holds BC - 1)."""
    r, c, nnzb, ib = params
    row_ptr, col, v = parse(blob, params, rows, cols)
    head = row_ptr.tobytes() + col.astype(f"<u{width}").tobytes()
    nv = -(-len(head) // 64) * 64
    return head + bytes(nv - len(head)) + blob[v:], [r, c, nnzb, width]


def test_wider_indices_are_accepted():
    a = sparse_matrix(np.random.default_rng(3), (9, 40), 0.3, np.float32)
    blob, params = encode_blob(a, 2, 3)
    for width in (2, 4):
        b2, p2 = _rewidth(blob, params, 9, 40, width)
        np.testing.assert_array_equal(decode_blob(b2, p2, a.shape, np.float32), a)


# ---------------------------------------------------------------------------------------------
# every rule of the format is checked, with a message saying which
# ---------------------------------------------------------------------------------------------

A = np.array([[0, 1, 0, 2, 0], [0, 0, 0, 0, 0], [3, 0, 0, 0, 4]], np.int8)   # R = 3, C = 5


def _case():
    blob, params = encode_blob(A, 1, 1)
    assert params == [1, 1, 4, 1]
    return bytearray(blob), list(params)


def _expect(blob, params, match, shape=A.shape, dtype=np.int8):
    with pytest.raises(SparseFormatError, match=match) as e:
        decode_blob(bytes(blob), params, shape, dtype, what="tensor 'w'")
    assert "tensor 'w'" in str(e.value)


def test_rejects_bad_parameters():
    blob, params = _case()
    _expect(blob, params[:3], "4 encoding parameters")
    _expect(blob, [0, 1, 4, 1], "outside 1..64")
    _expect(blob, [1, 65, 4, 1], "outside 1..64")
    _expect(blob, [1, 1, 4, 3], "index_bytes is 3")
    _expect(blob, [1, 1, 16, 1], "nnzb = 16 is outside")
    _expect(blob, [1, 1, 3, 1], "take exactly")           # size no longer matches
    _expect(blob + b"\0", params, "take exactly")
    _expect(blob[:-1], params, "take exactly")
    wide = np.zeros((1, 300), np.int8)
    wide[0, 299] = 1
    wb, wp = encode_blob(wide, 1, 1)
    assert wp[3] == 2
    b1, _ = _rewidth(wb, wp, 1, 300, 2)
    _expect(b1, [1, 1, 1, 1], "cannot hold block column 299", shape=(1, 300))


def test_rejects_bad_row_pointers():
    blob, params = _case()                    # row_ptr = [0, 2, 2, 4]
    b = bytearray(blob)
    struct.pack_into("<I", b, 0, 1)
    _expect(b, params, r"row_ptr\[0\] is 1")
    b = bytearray(blob)
    struct.pack_into("<I", b, 8, 1)           # [0, 2, 1, 4]
    _expect(b, params, "row_ptr decreases at block row 1")
    b = bytearray(blob)
    struct.pack_into("<I", b, 12, 3)          # [0, 2, 2, 3]
    _expect(b, params, r"row_ptr\[3\] is 3, must equal nnzb = 4")


def test_rejects_bad_column_indices():
    blob, params = _case()                    # col_idx = [1, 3, 0, 4] at byte 16
    b = bytearray(blob)
    b[17] = 5
    _expect(b, params, r"col_idx\[1\] = 5 is not below BC = 5")
    b = bytearray(blob)
    b[17] = 1                                 # [1, 1, ...]: not strictly increasing
    _expect(b, params, "not strictly increasing in block row 0")
    b = bytearray(blob)
    b[16], b[17] = 3, 1                       # decreasing
    _expect(b, params, "not strictly increasing")
    b = bytearray(blob)
    b[18], b[19] = 4, 0                       # row 2 decreasing
    _expect(b, params, "block row 2")


def test_rejects_nonzero_padding_and_elements_outside_the_matrix():
    blob, params = _case()
    b = bytearray(blob)
    b[20] = 1                                 # between col_idx and the values (V = 64)
    _expect(b, params, "padding bytes")
    a = np.ones((3, 5), np.int8)
    blob, params = encode_blob(a, 2, 2)       # edge blocks in row 1 and column 2
    r, c, nnzb, ib = params
    _, _, v = parse(blob, params, 3, 5)
    last = bytearray(blob)
    last[v + (nnzb - 1) * 4 + 3] = 9          # block (1, 2) element (1, 1): row 3, col 5
    _expect(last, params, "outside the 3x5 matrix", shape=(3, 5))
