"""The artifact writer, reader and memory plan; the Session API's errors; the CLI on
``.ircm`` files; and the format tables kept in sync between Python and C."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import irc
from irc import Builder, DType, PerTensor, TensorType
from irc.artifact import ArtifactError, build_artifact, lower_program, read_artifact
from irc.artifact import opcodes
from irc.passes.plan_memory import plan_program
from irc.runtime import RuntimeError_, Session

from rt_helpers import REPO, RUNTIME, qconv_graph, qmatmul_graph, random_feeds


# ---------------------------------------------------------------------------------------------
# format tables: Python and C agree
# ---------------------------------------------------------------------------------------------

def test_op_codes_match_ops_def():
    text = (RUNTIME / "src" / "ops.def").read_text()
    c_ops = {name: int(code) for code, name in
             re.findall(r'^IRC_OP\((\d+),\s*\w+,\s*"(\w+)"', text, re.M)}
    assert c_ops == opcodes.OPS


def test_dtype_codes_and_versions_match_the_header():
    text = (RUNTIME / "include" / "irc_runtime.h").read_text()
    for dtype, code in opcodes.DTYPES.items():
        name = {"b1": "BOOL"}.get(dtype.short, dtype.short.upper())
        assert re.search(rf"IRC_{name} = {code}\b", text), dtype
    assert f"IRC_FORMAT_VERSION_MAJOR {opcodes.FORMAT_MAJOR}" in text
    assert f"IRC_FORMAT_VERSION_MINOR {opcodes.FORMAT_MINOR}" in text


# ---------------------------------------------------------------------------------------------
# memory plan
# ---------------------------------------------------------------------------------------------

def _float_cnn():
    return irc.load(REPO / "examples" / "small_cnn.irc")


def _check_no_conflicts(program, offsets):
    """Independent check: tensors alive at the same node never share bytes unless one is
    the other's copy, or the in-place output of the node where the other dies."""
    arena = program.arena_tensors()
    end = len(program.nodes)
    first = {t: -1 for t in program.inputs}
    last = {t: -1 for t in arena}
    alias = {}
    for i, n in enumerate(program.nodes):
        for t in n.inputs:
            if t in last:
                last[t] = i
        for t in n.outputs:
            first[t] = i
            last[t] = max(last[t], i)
        if n.inputs and n.inputs[0] in last and (n.op == "copy" or n.op in opcodes.IN_PLACE):
            alias[n.outputs[0]] = n.inputs[0]
    for t in program.outputs:
        last[t] = end

    def family(t):
        out = {t}
        while t in alias:
            t = alias[t]
            out.add(t)
        return out

    size = {t: program.tensors[t].nbytes for t in arena}
    for i, a in enumerate(arena):
        for b in arena[i + 1:]:
            if first[a] > last[b] or first[b] > last[a]:
                continue
            if offsets[a] < offsets[b] + size[b] and offsets[b] < offsets[a] + size[a]:
                assert family(a) & family(b), f"{a} and {b} are live together and overlap"


@pytest.mark.parametrize("make", ["float_cnn", "qconv", "qmatmul"])
def test_plan_is_valid_and_between_bounds(make):
    rng = np.random.default_rng(0)
    g = {"float_cnn": _float_cnn, "qconv": lambda: qconv_graph(rng),
         "qmatmul": lambda: qmatmul_graph(rng, batch=(2,), const_b=False)}[make]()
    program = lower_program(irc.compile(g, "fold,noop-elim,dce"))
    plan = plan_program(program)
    _check_no_conflicts(program, plan.offsets)
    assert plan.lower_bound <= plan.arena_size <= plan.naive
    assert all(o % 64 == 0 for o in plan.offsets.values())


def test_plan_reuses_memory_along_a_chain():
    """x -> 6 relus -> y: in place, every relu writes over its input; one buffer."""
    b = Builder()
    x = b.input("x", "f32[1,1000]")
    v = x
    for _ in range(6):
        v = b.nn.exp(v)
    g = b.finish(v)
    program = lower_program(g)
    plan = plan_program(program)
    # the graph input is never overwritten, so two 4000-byte buffers (64-aligned: 4032)
    assert plan.arena_size == 2 * 4032
    assert plan.naive == 7 * 4032


def test_copies_alias_their_input():
    b = Builder()
    x = b.input("x", "f32[2,3,4]")
    y = b.nn.exp(b.nn.reshape(b.nn.exp(x), shape=[6, 4]))
    g = b.finish(y)
    program = lower_program(g)
    plan = plan_program(program)
    copy = next(n for n in program.nodes if n.op == "copy")
    assert plan.offsets[copy.inputs[0]] == plan.offsets[copy.outputs[0]]


def test_plan_memory_pass_is_used_by_the_writer_and_pinned_for_the_quantized_demo():
    g = irc.load(REPO / "examples" / "fashion_cnn.onnx", input_shapes={"input": (1, 1, 28, 28)})
    calib = np.load(REPO / "examples" / "fashion_eval.npz")["calib_images"][:32, None] / 255.0
    q = irc.compile(g, "calibrate,quant,plan-memory", calib_data={"input": calib.astype("f4")})
    plan = q.attrs["memory_plan"]
    info = read_artifact(build_artifact(q))
    assert info.arena_size == plan["arena_size"]
    # pinned (STYLE §14): a change in lowering or planning shows up here first
    assert plan["arena_size"] == 34496
    assert plan["lower_bound"] <= plan["arena_size"] < plan["naive"]


# ---------------------------------------------------------------------------------------------
# writer and reader
# ---------------------------------------------------------------------------------------------

def test_reader_describes_what_the_writer_wrote(tmp_path):
    g = qconv_graph(np.random.default_rng(1))
    path = tmp_path / "m.ircm"
    irc.save(g, path)
    info = read_artifact(path)
    assert info.version == (1, 1) and info.size == path.stat().st_size
    assert info.inputs == ["x"] and len(info.outputs) == 1
    assert [op for op, _ in info.nodes] == ["qconv2d"]          # requantize fused
    x = next(t for t in info.tensors if t.name == "x")
    assert x.dtype == "i8" and x.shape == (1, 3, 9, 7) and not x.const
    assert x.scale == pytest.approx(g.inputs[0].type.quant.scale)
    blob = path.read_bytes()
    assert blob[:8] == opcodes.MAGIC
    for off, _ in info.sections.values():
        assert off % 8 == 0
    assert info.sections["DATA"][0] % 64 == 0
    assert all(t.offset % 64 == 0 for t in info.tensors if t.const)


def test_target_is_recorded(tmp_path):
    g = qconv_graph(np.random.default_rng(1))
    assert read_artifact(build_artifact(g, "arm64")).target == "arm64"
    q = irc.compile(g, "dce", target="x86_64")
    assert read_artifact(build_artifact(q)).target == "x86_64"
    with pytest.raises(ArtifactError, match="unknown target"):
        build_artifact(g, "riscv")


def test_unsupported_ops_are_listed_by_name():
    b = Builder()
    x = b.input("x", "f32[1,3,8,8]")
    y = b.nn.lrn(x, size=3)
    with pytest.raises(ArtifactError, match=r"nn\.lrn \(1: %"):
        build_artifact(b.finish(y))


def test_asymmetric_weights_are_refused_with_the_fix():
    rng = np.random.default_rng(0)
    b = Builder()
    x = b.input("x", TensorType(DType.I8, (1, 4), PerTensor(0.1, 0)))
    w = b.const(rng.integers(-5, 5, (4, 3)).astype(np.int8),
                type=TensorType(DType.I8, (4, 3), PerTensor(0.1, 3)))
    g = b.finish(b.q.matmul(x, w))
    with pytest.raises(ArtifactError, match="symmetric"):
        build_artifact(g)


def test_write_is_atomic(tmp_path):
    path = tmp_path / "m.ircm"
    path.write_bytes(b"old")
    b = Builder()
    x = b.input("x", "f32[1,3,8,8]")
    with pytest.raises(ArtifactError):
        irc.save(b.finish(b.nn.lrn(x, size=3)), path)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.ircm"]


# ---------------------------------------------------------------------------------------------
# Session
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def conv_session_blob():
    return build_artifact(qconv_graph(np.random.default_rng(4)))


def test_session_describes_inputs_and_outputs(conv_session_blob):
    s = Session(conv_session_blob)
    assert [(i.name, i.dtype, i.shape) for i in s.inputs] == [("x", np.dtype(np.int8),
                                                               (1, 3, 9, 7))]
    assert s.outputs[0].dtype == np.int8 and s.outputs[0].scale > 0
    assert s.arena_size > 0 and s.isa in ("scalar", "avx2", "avx512vnni", "neon", "neondot")
    assert "Session" in repr(s)


def test_session_input_errors_name_the_input(conv_session_blob):
    s = Session(conv_session_blob)
    with pytest.raises(ValueError, match="missing input 'x'"):
        s.run({})
    with pytest.raises(ValueError, match="shape"):
        s.run({"x": np.zeros((1, 3, 9, 8), np.int8)})
    with pytest.raises(ValueError, match="unknown input"):
        s.run({"x": np.zeros((1, 3, 9, 7), np.int8), "y": 1})
    with pytest.raises(ValueError, match="float32"):
        s.run({"x": np.zeros((1, 3, 9, 7), np.float32)})
    with pytest.raises(ValueError, match="unknown isa"):
        Session(conv_session_blob, isa="sse9")
    with pytest.raises(ValueError, match="num_threads"):
        Session(conv_session_blob, num_threads=0)


def test_session_rejects_bad_files_with_the_runtimes_message(tmp_path, conv_session_blob):
    with pytest.raises(RuntimeError_, match="bad magic"):
        Session(b"not an artifact at all, but long enough to have a header" * 2)
    with pytest.raises(RuntimeError_, match="truncated"):
        Session(conv_session_blob[:-10])
    bad = bytearray(conv_session_blob)
    bad[-1] ^= 0xFF
    with pytest.raises(RuntimeError_, match="checksum"):
        Session(bytes(bad))
    with pytest.raises(RuntimeError_, match="no such file"):
        Session(tmp_path / "missing.ircm")
    p = tmp_path / "m.ircm"
    p.write_bytes(conv_session_blob[:100])
    with pytest.raises(RuntimeError_, match=re.escape(str(p))):
        Session(p)
    with pytest.raises(RuntimeError_, match="max_arena_bytes"):
        Session(conv_session_blob, max_arena_bytes=64)


def test_inputs_survive_runs():
    """Inputs keep their values across runs (the planner never reuses their bytes): an app
    may set them once and run many times."""
    b = Builder()
    x = b.input("x", "f32[64]")
    v = x
    for _ in range(4):
        v = b.nn.exp(b.nn.neg(v))       # plenty of intermediates that could reuse x's bytes
    g = b.finish(v)
    s = Session(build_artifact(g))
    feeds = {"x": np.linspace(-1, 1, 64, dtype=np.float32)}
    s.set_inputs(feeds)
    runs = []
    for _ in range(3):
        s.invoke()
        runs.append(s.get_outputs())
    want = irc.run(g, feeds)[g.outputs[0].name]
    for r in runs:
        np.testing.assert_allclose(r[g.outputs[0].name], want, rtol=1e-6)


def test_session_runs_repeatedly_with_fresh_outputs(conv_session_blob):
    g = qconv_graph(np.random.default_rng(4))
    s = Session(conv_session_blob)
    rng = np.random.default_rng(0)
    for _ in range(3):
        feeds = random_feeds(rng, g)
        out = s.run(feeds)
        ref = irc.run(g, feeds)
        assert all(np.array_equal(out[k], ref[k]) for k in ref)


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "irc.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)


def test_cli_compile_show_and_run_an_artifact(tmp_path):
    g = qconv_graph(np.random.default_rng(6))
    src = tmp_path / "conv.irc"
    irc.save(g, src)
    out = tmp_path / "conv.ircm"
    res = _cli("compile", src, "--passes", "dce", "--target", "arm64", "-o", out)
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stderr and out.exists()
    show = _cli("show", out)
    assert show.returncode == 0 and "target arm64" in show.stdout and "qconv2d" in show.stdout
    x = random_feeds(np.random.default_rng(0), g)["x"]
    np.save(tmp_path / "x.npy", x)
    run = _cli("run", out, "--input", f"x={tmp_path / 'x.npy'}", "--output-dir", tmp_path / "o",
               "--threads", "2")
    assert run.returncode == 0, run.stderr
    name = g.outputs[0].name
    got = np.load(tmp_path / "o" / f"{name}.npy")
    assert np.array_equal(got, irc.run(g, {"x": x})[name])
    prof = _cli("run", out, "--random-inputs", "--profile", "3")
    assert prof.returncode == 0, prof.stderr
    assert "median of 3 runs" in prof.stderr and "qconv2d" in prof.stderr


def test_cli_show_reports_the_arena_of_a_graph(tmp_path):
    res = _cli("show", REPO / "examples" / "small_cnn.irc")
    assert res.returncode == 0
    assert re.search(r"arena: .* planned \(plan-memory\), .* naive sum of intermediates, "
                     r".* lower bound", res.stdout)


def test_cli_errors_on_artifacts_are_one_line(tmp_path):
    bad = tmp_path / "bad.ircm"
    bad.write_bytes(b"\x89IRCM\r\n\x1a" + b"\0" * 100)
    res = _cli("run", bad, "--random-inputs")
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert str(bad) in res.stderr
    res = _cli("show", bad)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    g = qconv_graph(np.random.default_rng(6))
    ok = tmp_path / "ok.ircm"
    irc.save(g, ok)
    res = _cli("run", ok, "--input", f"y={tmp_path / 'nope.npy'}")
    assert res.returncode != 0 and "nope.npy" in res.stderr
    res = _cli("show", ok, "--ir")
    assert res.returncode != 0 and "no IR text" in res.stderr


