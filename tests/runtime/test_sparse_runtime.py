"""qspmm and spmm in the C runtime (csr / bsr<r x c> weights, format 1.1): identical
bytes to the interpreter for int8 and within 1e-4·√K for float, on every kernel level
this machine has and with two threads; the artifact's encoded constants read back; the
loader's and the ops' refusals name what is at fault."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import irc
from irc import Builder, DType, PerTensor, TensorType
from irc.artifact import ArtifactError, build_artifact, lower_program, read_artifact
from irc.runtime import RuntimeError_, Session
from irc.sparse_format import encode_blob

from rt_helpers import (env_isas, fix_checksums, random_feeds, sections, sparse_encoding,
                        sparse_fgraph, sparse_float_tolerance, sparse_qgraph, tensor_records)

ISAS = env_isas()
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
ENCODINGS = ["csr", (1, 4), (4, 1), (4, 4), (8, 1), (2, 2), (3, 5)]
DENSITIES = [0.0, 0.05, 0.3, 0.7, 1.0]


def check_everywhere(graph, seed: int, threads=(1, 2)) -> None:
    rng = np.random.default_rng(seed)
    feeds = random_feeds(rng, graph)
    ref = irc.run(graph, feeds)
    blob = build_artifact(graph)
    tol = None
    for isa in ISAS:
        for t in threads:
            out = Session(blob, isa=isa, num_threads=t).run(feeds)
            for name, want in ref.items():
                got = out[name]
                where = f"{isa} x{t}"
                assert got.dtype == want.dtype and got.shape == want.shape, where
                if want.dtype.kind == "f":
                    if tol is None:
                        tol = sparse_float_tolerance(graph, feeds)
                    bad = np.abs(got.astype(np.float64) - want) > tol
                    assert not bad.any(), (f"{where}: {bad.sum()} of {want.size} outside "
                                           f"1e-4·√K, first at {tuple(np.argwhere(bad)[0])}")
                elif not np.array_equal(got, want):
                    diff = np.argwhere(got != want)
                    raise AssertionError(f"{where}: {len(diff)} of {want.size} differ, first at "
                                         f"{tuple(diff[0])}: {got[tuple(diff[0])]} vs "
                                         f"{want[tuple(diff[0])]}")


@st.composite
def cases(draw, q8: bool):
    layout = draw(st.sampled_from([0, 1]))
    case = dict(layout=layout, N=draw(st.integers(1, 40)), K=draw(st.integers(1, 70)),
                enc=draw(st.sampled_from(ENCODINGS)), density=draw(st.sampled_from(DENSITIES)),
                bias=draw(st.booleans()), empty_rows=draw(st.booleans()))
    if layout == 0:
        case.update(B=draw(st.integers(1, 3)), H=draw(st.integers(1, 6)),
                    W=draw(st.integers(1, 6)))
    else:
        case.update(M=draw(st.sampled_from([1, 1, 2, 3, 7, 16, 33])),
                    batch=tuple(draw(st.lists(st.integers(1, 3), max_size=2))))
    if q8:
        case.update(xdt=draw(st.sampled_from([DType.I8, DType.U8])),
                    ydt=draw(st.sampled_from([DType.I8, DType.U8, None])),
                    per_channel=draw(st.booleans()))
        if case["ydt"] is not None and draw(st.booleans()):
            lo, hi = int(case["ydt"].min), int(case["ydt"].max)
            case["clamp"] = (lo + 20, hi - 30)
    elif draw(st.booleans()):
        case["clamp"] = (-0.5, 1.5)
    return case


@SETTINGS
@given(cases(q8=True), st.integers(0, 2**31))
def test_qspmm_bit_exact(case, seed):
    check_everywhere(sparse_qgraph(np.random.default_rng(seed), **case), seed)


@SETTINGS
@given(cases(q8=False), st.integers(0, 2**31))
def test_spmm_within_tolerance(case, seed):
    check_everywhere(sparse_fgraph(np.random.default_rng(seed), **case), seed)


@pytest.mark.parametrize("enc", ENCODINGS)
@pytest.mark.parametrize("layout", [0, 1])
def test_all_zero_and_all_dense_weights(enc, layout):
    for density in (0.0, 1.0):
        rng = np.random.default_rng(7)
        g = sparse_qgraph(rng, layout=layout, N=13, K=11, enc=enc, density=density,
                          xdt=DType.U8, M=3, batch=(2,), B=2)
        check_everywhere(g, 1, threads=(1,))


@pytest.mark.parametrize("q8", [True, False])
@pytest.mark.parametrize("shape", ["pixels", "tokens", "few_columns"])
def test_big_layers_split_over_threads(q8, shape):
    """Above 2^18 multiply-adds the work is split: over columns when there are many (a
    1x1 conv's pixels, a fully connected layer's tokens), over row blocks when few (a
    fully connected layer at batch 1)."""
    rng = np.random.default_rng(11)
    kw = {"pixels": dict(layout=0, B=2, H=16, W=20),
          "tokens": dict(layout=1, M=50, batch=(3,)),
          "few_columns": dict(layout=1, M=12)}[shape]
    g = (sparse_qgraph if q8 else sparse_fgraph)(rng, N=300, K=257, enc=(4, 1), density=0.5,
                                                 **kw)
    check_everywhere(g, 3, threads=(1, 2, 3))


# ---------------------------------------------------------------------------------------------
# the artifact: encoded constants written, read back, refused where the runtime cannot take them
# ---------------------------------------------------------------------------------------------

def test_encoded_weights_are_written_and_read_back():
    rng = np.random.default_rng(5)
    g = sparse_qgraph(rng, layout=1, N=20, K=300, enc=(4, 4), density=0.2, M=2)
    w = next(n for n in g.nodes if n.op == "sparse.qmatmul").inputs[1]
    info = read_artifact(build_artifact(g))
    assert info.version == (1, 1)
    t = next(t for t in info.tensors if t.name == w.name)
    assert t.encoding_label == "bsr<4x4>" and t.encoding_params[0:2] == (4, 4)
    blob, params = encode_blob(w.const_value, 4, 4)
    assert t.nbytes == len(blob) < w.const_value.nbytes and list(t.encoding_params) == params
    np.testing.assert_array_equal(info.constant(w.name), w.const_value)
    bias = next(n for n in g.nodes if n.op == "sparse.qmatmul").inputs[2]
    np.testing.assert_array_equal(info.constant(bias.name), bias.const_value)     # dense
    assert [op for op, _ in info.nodes] == ["qspmm"]               # requantize fused


def test_an_encoded_constant_read_by_a_dense_op_gets_a_dense_twin():
    rng = np.random.default_rng(2)
    b = Builder()
    x = b.input("x", TensorType(DType.F32, (3, 6)))
    wv = np.where(rng.random((5, 6)) < 0.4, rng.standard_normal((5, 6)), 0).astype(np.float32)
    w = b.const(wv, type=TensorType(DType.F32, (5, 6), None, sparse_encoding((1, 2))))
    y = b.sparse.matmul(x, w)
    g = b.finish(y, w)                 # w as an output: the runtime copies it (densely)
    prog = lower_program(g)
    spmm = next(n for n in prog.nodes if n.op == "spmm")
    other = next(n for n in prog.nodes if n.op == "copy")
    assert prog.tensors[spmm.inputs[1]].encoding is not None
    assert all(prog.tensors[t].encoding is None for t in other.inputs)
    feeds = {"x": rng.standard_normal((3, 6)).astype(np.float32)}
    ref = irc.run(g, feeds)
    out = Session(build_artifact(g)).run(feeds)
    got, want = list(out.values()), list(ref.values())     # (the copy of w is renamed)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(got[1], want[1])


# ---------------------------------------------------------------------------------------------
# the loader's refusals name the tensor (targeted blob corruptions, checksums fixed)
# ---------------------------------------------------------------------------------------------

def _loaded_error(blob: bytes) -> str:
    with pytest.raises(RuntimeError_) as e:
        Session(bytes(fix_checksums(bytearray(blob))))
    return str(e.value)


def test_loader_rejects_corrupted_blobs_naming_the_tensor():
    rng = np.random.default_rng(4)
    g = sparse_qgraph(rng, layout=1, N=9, K=20, enc=(2, 3), density=0.6, M=2)
    w = next(n for n in g.nodes if n.op == "sparse.qmatmul").inputs[1]
    good = build_artifact(g)
    Session(good)
    rec = tensor_records(good)[w.name]
    data_off = sections(good)["DATA"][0]
    offset, nbytes = struct.unpack_from("<QQ", good, rec + 32)
    r, c, nnzb, ib = struct.unpack_from("<4I", good, rec + 64)
    assert (r, c, ib) == (2, 3, 1) and nnzb > 2
    br = -(-9 // 2)
    at = data_off + offset
    tag = f"'{w.name}'"

    def word(pos, value, fmt="<I"):
        b = bytearray(good)
        struct.pack_into(fmt, b, pos, value)
        return b

    cases = {
        "row_ptr[0]": word(at, 1),
        "row_ptr": word(at + 4 * 2, 0xFFFF),                          # past nnzb / decreasing
        "nnzb": word(at + 4 * br, nnzb - 1),                          # last row pointer
        "col_idx": word(at + 4 * (br + 1), 7, "<B"),                  # BC = 7: not below
        "strictly increasing": word(at + 4 * (br + 1) + 1,
                                    good[at + 4 * (br + 1)], "<B"),   # a repeated column
        "padding": word(at + 4 * (br + 1) + nnzb, 1, "<B"),
        "block": word(rec + 64, 0),                                   # r = 0
        "csr has 1x1 blocks": word(rec + 60, 1),                       # bsr 2x3 called csr
        "index_bytes": word(rec + 76, 3),
        "cannot hold": None,
        "takes": word(rec + 40, nbytes + 64, "<Q"),
        "grid": word(rec + 72, 1000),
        "not supported": word(rec + 60, 4),                           # codebook: not yet
    }
    # an index width too narrow for BC − 1 needs BC > 256
    wide = sparse_qgraph(rng, layout=1, N=2, K=300, enc="csr", density=0.5, M=1)
    ww = next(n for n in wide.nodes if n.op == "sparse.qmatmul").inputs[1]
    wb = build_artifact(wide)
    wrec = tensor_records(wb)[ww.name]
    assert struct.unpack_from("<I", wb, wrec + 76)[0] == 2
    b = bytearray(wb)
    struct.pack_into("<I", b, wrec + 76, 1)
    cases["cannot hold"] = b
    for what, blob in cases.items():
        msg = _loaded_error(blob)
        name = tag if what != "cannot hold" else f"'{ww.name}'"
        assert name in msg and (what in msg or what == "row_ptr" and "row_ptr" in msg), \
            f"{what}: {msg}"
    # an edge block's element outside the matrix (K = 20 = 6·3 + 2: column 20 of block 6)
    bsr = sparse_qgraph(rng, layout=1, N=4, K=20, enc=(2, 3), density=1.0, M=1)
    bw = next(n for n in bsr.nodes if n.op == "sparse.qmatmul").inputs[1]
    bb = build_artifact(bsr)
    brec = tensor_records(bb)[bw.name]
    boff, bn = struct.unpack_from("<QQ", bb, brec + 32)
    _, _, bnnzb, bib = struct.unpack_from("<4I", bb, brec + 64)
    v = -(-(4 * 3 + bib * bnnzb) // 64) * 64
    block6 = sections(bb)["DATA"][0] + boff + v + 6 * 6        # block (0, 6): 2 x 3 int8
    b = bytearray(bb)
    b[block6 + 2] = 5                                           # element (0, 2): column 20
    assert "outside the 4 x 20 matrix" in _loaded_error(b)


def test_only_sparse_weights_may_be_encoded():
    """An encoded constant read by any other op (here a copy) is refused by the loader,
    naming it: every other op reads its constants dense."""
    from irc.artifact.lowering import RtNode, RtTensor
    from irc.artifact.writer import serialize
    from irc.passes.plan_memory import plan_program
    rng = np.random.default_rng(8)
    g = sparse_qgraph(rng, layout=1, N=6, K=8, density=0.5, M=2)
    prog = lower_program(g)
    w = prog.nodes[0].inputs[1]
    assert prog.tensors[w].encoding is not None
    prog.tensors["w.copy"] = RtTensor("w.copy", DType.I8, prog.tensors[w].shape)
    prog.nodes.append(RtNode("copy", "w.copy", [w], ["w.copy"]))
    prog.outputs.append("w.copy")
    plan = plan_program(prog)
    blob = serialize(prog, plan.offsets, plan.arena_size)
    with pytest.raises(RuntimeError_, match=f"reads the bsr constant '{w}'|reads the csr "
                                            f"constant '{w}'"):
        Session(blob)


def test_qspmm_refuses_what_it_cannot_compute():
    rng = np.random.default_rng(9)
    g = sparse_qgraph(rng, layout=0, N=6, K=8, density=0.5, B=1, H=2, W=2)
    blob = build_artifact(g)
    secs = sections(blob)
    prms_off = secs["PRMS"][0]
    b = bytearray(blob)
    struct.pack_into("<i", b, prms_off + 4, 2)                   # layout 2
    assert "layout 2" in _loaded_error(bytes(b))
    # a weight zero point other than 0
    node = next(n for n in g.nodes if n.op == "sparse.qconv2d")
    rec = tensor_records(blob)[node.inputs[1].name]
    b = bytearray(blob)
    struct.pack_into("<B", b, rec + 7, 1)                        # per tensor ...
    struct.pack_into("<f", b, rec + 48, 0.01)
    struct.pack_into("<i", b, rec + 52, 3)                       # ... zero point 3
    assert "zero point 0" in _loaded_error(bytes(b))


def test_cli_show_and_run_an_encoded_artifact(tmp_path):
    import subprocess
    import sys
    rng = np.random.default_rng(6)
    g = sparse_fgraph(rng, layout=0, N=8, K=16, enc=(4, 1), density=0.3, B=1, H=4, W=4)
    path = tmp_path / "s.ircm"
    irc.save(g, path)
    res = subprocess.run([sys.executable, "-m", "irc.cli", "show", str(path)],
                         capture_output=True, text=True)
    assert res.returncode == 0 and "spmm" in res.stdout, res.stderr


@pytest.mark.parametrize("pipeline", [
    "fuse-bn,prune{sparsity=0.7,pattern=block4x1},sparse-encode{force=true}",
    "calibrate,quant,prune{sparsity=0.7,pattern=block4x4},sparse-encode{force=true}",
    "prune{sparsity=0.8},calibrate,quant,sparse-encode{force=true}",
])
def test_pruned_and_sparse_encoded_model_runs_in_c(pipeline):
    """The demo CNN through prune and sparse-encode (1x1 convs and the classifier become
    sparse.*) as an artifact: the runtime gives the interpreter's result on every level
    (the integer layers bit for bit; the float softmax tail within 1e-6)."""
    from irc.interpreter import random_inputs
    from rt_helpers import REPO
    g = irc.load(REPO / "examples" / "small_cnn.irc")
    calib = {k: np.concatenate([random_inputs(g, seed=s)[k] for s in range(8)])
             for k in random_inputs(g, seed=0)}
    q = irc.compile(g, pipeline, calib_data=calib)
    ops = {n.op for n in q.nodes}
    assert {"sparse.conv2d", "sparse.qconv2d"} & ops and {"sparse.matmul", "sparse.qmatmul"} & ops
    blob = build_artifact(q)
    assert any(t.encoding != "dense" for t in read_artifact(blob).tensors)
    for seed in range(2):
        feeds = random_inputs(q, seed=seed)
        ref = irc.run(q, feeds)
        for isa in ISAS:
            out = Session(blob, isa=isa, num_threads=2).run(feeds)
            for name, want in ref.items():
                np.testing.assert_allclose(out[name], want, rtol=0, atol=1e-6, err_msg=isa)
