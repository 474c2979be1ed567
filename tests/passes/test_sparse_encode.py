"""sparse-encode: which products it rewrites, what the cost model decides, and that
the rewritten graph computes exactly what the dense one did."""

from __future__ import annotations

import numpy as np
import pytest

import irc
from irc.builder import Builder
from irc.errors import IrcError
from irc.sparse_cost import block_density, break_even, choose_block


def _pruned(rng: np.random.Generator, shape: tuple[int, ...], sparsity: float) -> np.ndarray:
    w = rng.standard_normal(shape).astype(np.float32)
    w[rng.random(shape) < sparsity] = 0
    return w


def _float_graph(sparsity: float, seed: int = 0, rows: int = 16) -> irc.Graph:
    """1x1 conv, a 3x3 conv (never sparse), and a gemm over ``rows`` rows (the
    pixels of the conv's output)."""
    rng = np.random.default_rng(seed)
    b = Builder("net")
    x = b.input("x", "f32[2,16,5,5]")
    h = b.nn.conv2d(x, _pruned(rng, (32, 16, 1, 1), sparsity), np.zeros(32, np.float32),
                    clamp=(0.0, 6.0), loc="pw")
    h = b.nn.conv2d(h, _pruned(rng, (32, 32, 3, 3), sparsity), pads=[1, 1, 1, 1], loc="k3")
    h = b.nn.reshape(b.nn.transpose(h, perm=[0, 2, 3, 1]), shape=[50, 32])
    h = b.nn.slice(h, starts=[0], ends=[rows], axes=[0])
    y = b.nn.gemm(h, _pruned(rng, (32, 10), sparsity), np.ones(10, np.float32), loc="fc")
    return b.finish(y)


def _feeds(seed: int = 1) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(seed).standard_normal((2, 16, 5, 5)).astype(np.float32)}


def test_matrix_vector_products_need_much_sparser_weights_unless_size_is_the_objective(
        ) -> None:
    g = _float_graph(0.9, rows=1)             # a batch-1 classifier: M = 1
    s = irc.compile(g, "sparse-encode", target="x86_64")
    assert "sparse.matmul" not in _ops(s) and "sparse.conv2d" in _ops(s)
    s = irc.compile(g, "sparse-encode{objective=size}", target="x86_64")
    assert "sparse.matmul" in _ops(s)
    dense = irc.compile(_float_graph(0.0, rows=1), "sparse-encode{objective=size}")
    assert "sparse.matmul" not in _ops(dense)  # a dense blob is never smaller


def _ops(g: irc.Graph) -> list[str]:
    return [n.op for n in g.nodes if n.op != "const"]


def test_very_sparse_products_are_encoded_and_compute_the_same() -> None:
    g = _float_graph(0.95)
    s = irc.compile(g, "sparse-encode", target="x86_64")
    assert _ops(s).count("sparse.conv2d") == 1 and _ops(s).count("sparse.matmul") == 1
    assert "nn.conv2d" in _ops(s)            # the 3x3 conv stays dense
    assert not any(n.op == "nn.gemm" for n in s.nodes)
    encoded = [n.output.type.encoding for n in s.nodes
               if n.op == "const" and not n.output.type.encoding.is_dense]
    assert len(encoded) == 2
    np.testing.assert_allclose(list(irc.run(s, _feeds()).values())[0],
                               list(irc.run(g, _feeds()).values())[0], rtol=1e-5, atol=1e-6)


def test_dense_weights_stay_dense_unless_forced() -> None:
    g = _float_graph(0.0)
    assert "sparse.conv2d" not in _ops(irc.compile(g, "sparse-encode", target="x86_64"))
    forced = irc.compile(g, "sparse-encode{force=true}", target="x86_64")
    assert "sparse.conv2d" in _ops(forced) and "sparse.matmul" in _ops(forced)


def test_max_density_overrides_the_cost_model() -> None:
    g = _float_graph(0.5)
    assert "sparse.conv2d" not in _ops(irc.compile(g, "sparse-encode{max_density=0.3}"))
    assert "sparse.conv2d" in _ops(irc.compile(g, "sparse-encode{max_density=0.7}"))


def test_fixed_block_and_csr_options() -> None:
    g = _float_graph(0.9)
    s = irc.compile(g, "sparse-encode{encoding=bsr,block=4x1,force=true}")
    encs = {str(n.output.type.encoding) for n in s.nodes if n.op == "const"}
    assert "bsr<4x1>" in encs
    s = irc.compile(g, "sparse-encode{encoding=csr,force=true}")
    assert "csr" in {str(n.output.type.encoding) for n in s.nodes if n.op == "const"}
    with pytest.raises(IrcError, match="block=RxC"):
        irc.compile(g, "sparse-encode{encoding=bsr}")
    with pytest.raises(IrcError, match="block must be RxC"):
        irc.compile(g, "sparse-encode{block=4by1}")


def test_only_and_exclude_select_layers_by_name() -> None:
    g = _float_graph(0.95)
    s = irc.compile(g, "sparse-encode{exclude=[fc]}", target="x86_64")
    assert "sparse.matmul" not in _ops(s) and "sparse.conv2d" in _ops(s)
    s = irc.compile(g, "sparse-encode{only=[fc]}", target="x86_64")
    assert "sparse.matmul" in _ops(s) and "sparse.conv2d" not in _ops(s)


def test_the_block_the_prune_pass_recorded_is_used() -> None:
    g = _float_graph(0.9)
    w = next(n for n in g.nodes if n.op == "nn.conv2d").inputs[1]
    g.attrs["prune"] = {w.name: {"pattern": "block8x1", "sparsity": 0.9}}
    s = irc.compile(g, "sparse-encode{force=true}", target="x86_64")
    conv = next(n for n in s.nodes if n.op == "sparse.conv2d")
    assert str(conv.inputs[1].type.encoding) == "bsr<8x1>"


def test_quantized_products_become_integer_sparse_ops_bit_exactly() -> None:
    g = _float_graph(0.95)
    calib = [{"x": np.random.default_rng(s).standard_normal((2, 16, 5, 5)).astype(np.float32)}
             for s in range(4)]
    q = irc.compile(g, "calibrate,quant", calib_data=calib, target="x86_64")
    s = irc.compile(q, "sparse-encode", target="x86_64")
    ops = _ops(s)
    assert "sparse.qconv2d" in ops and "sparse.qmatmul" in ops and "q.conv2d" in ops
    for a, b in zip(irc.run(s, _feeds()).values(), irc.run(q, _feeds()).values()):
        assert np.array_equal(a, b)


def test_block_density_counts_whole_stored_blocks() -> None:
    m = np.zeros((8, 8), np.float32)
    m[0, 0] = 1
    m[5, 7] = 1
    assert block_density(m, 1, 1) == 2 / 64
    assert block_density(m, 4, 4) == 2 * 16 / 64
    assert block_density(m, 8, 1) == 2 * 8 / 64
    assert block_density(np.zeros((3, 5)), 2, 2) == 0.0
    edge = np.ones((3, 5), np.float32)          # edge blocks count whole
    assert block_density(edge, 2, 2) == 6 * 4 / 15


def test_choose_block_prefers_the_shape_with_most_margin() -> None:
    rng = np.random.default_rng(0)
    rows = np.repeat(rng.random((16, 64)) < 0.1, 8, axis=0)     # 8x1 structure
    mat = np.where(rows, 1.0, 0.0)
    best = choose_block(mat, "f32", "x86_64")
    assert best is not None and best.block == (8, 1) and best.wins
    assert break_even("x86_64", "f32", (8, 1)) == best.break_even
    # an unmeasured shape borrows the measured shape with the same rows
    assert break_even("x86_64", "f32", (8, 2)) == break_even("x86_64", "f32", (8, 1))
