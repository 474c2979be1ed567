"""calibrate, quant, bias-correct, weight-calibrate and the quantization report,
on the bundled small CNN and on hand-built graphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import irc
from irc.builder import Builder
from irc.calib_data import calib_feeds
from irc.errors import InputError, PassError, PipelineError
from irc.interpreter import random_inputs
from irc.ops import get_op
from irc.pass_manager import PassContext, run_pipeline
from irc.quant_compare import compare, quantization_report
from irc.quant_params import activation_params
from irc.textio import load_text, save_text
from irc.types import PerAxis, PerTensor

EXAMPLE = Path(__file__).parents[2] / "examples" / "small_cnn.irc"


@pytest.fixture(scope="module")
def cnn() -> irc.Graph:
    return irc.load(EXAMPLE)


@pytest.fixture(scope="module")
def calib(cnn) -> list[dict]:
    return [random_inputs(cnn, seed=s) for s in range(24)]


@pytest.fixture(scope="module")
def held_out(cnn) -> list[dict]:
    return [random_inputs(cnn, seed=1000 + s) for s in range(40)]


def ops_of(g: irc.Graph) -> list[str]:
    return [n.op for n in g.nodes]


def outputs(g, feeds):
    return np.stack([next(iter(irc.run(g, f).values())) for f in feeds])


# --- the default flow on the small CNN -------------------------------------------------------

def test_quant_lowers_every_conv_and_matmul_and_stays_close(cnn, calib, held_out):
    q = irc.compile(cnn, "calibrate,quant", calib_data=calib, verify_each=True)
    ops = ops_of(q)
    assert "nn.conv2d" not in ops and "nn.gemm" not in ops and "nn.matmul" not in ops
    assert ops.count("q.conv2d") == 5 and ops.count("q.matmul") == 1
    # exactly one boundary in (the input) and one out (before the float softmax)
    assert ops.count("q.quantize") == 1 and ops.count("q.dequantize") == 1
    for n in q.nodes:
        if n.op == "q.conv2d":
            w = n.inputs[1].type
            assert w.dtype.name == "I8" and isinstance(w.quant, PerAxis)
            assert np.abs(n.inputs[1].const_value).max() <= 127
    f, g = outputs(cnn, held_out), outputs(q, held_out)
    assert np.mean(f.argmax(1) == g.argmax(1)) >= 0.9
    assert np.abs(f - g).max() <= 0.05          # softmax probabilities


def test_quant_alone_calibrates_from_calib_data(cnn, calib):
    a = irc.compile(cnn, "quant", calib_data=calib)
    b = irc.compile(cnn, "calibrate,quant", calib_data=calib)
    assert irc.ir.structurally_equal(a, b)


def test_calibrate_records_ranges_that_survive_the_text_form(cnn, calib, tmp_path):
    c = irc.compile(cnn, "calibrate{method=percentile}", calib_data=calib)
    cal = c.attrs["calibration"]
    assert cal["method"] == "percentile" and cal["samples"] == len(calib)
    assert all(lo <= 0 <= hi and lo < hi for lo, hi in cal["ranges"].values())
    save_text(c, tmp_path / "c.irc")
    back = load_text(tmp_path / "c.irc")
    assert back.attrs["calibration"] == cal
    # calibrating and quantizing in two runs equals one pipeline
    two = irc.compile(back, "quant")
    one = irc.compile(cnn, "calibrate{method=percentile},quant", calib_data=calib)
    assert irc.ir.structurally_equal(two, one)


@pytest.mark.parametrize("method", ["minmax", "ema", "percentile", "kl", "js", "mse"])
def test_every_method_gives_a_working_integer_graph(cnn, calib, held_out, method):
    q = irc.compile(cnn, f"calibrate{{method={method}}},quant", calib_data=calib)
    f, g = outputs(cnn, held_out[:20]), outputs(q, held_out[:20])
    assert np.mean(f.argmax(1) == g.argmax(1)) >= 0.85


def test_per_tensor_and_symmetric_options(cnn, calib):
    q = irc.compile(cnn, "quant{per_channel=false,symmetric=true}", calib_data=calib)
    for n in q.nodes:
        if n.op == "q.conv2d":
            assert isinstance(n.inputs[1].type.quant, PerTensor)
        for v in n.outputs:
            if v.type.quant is not None and v.type.dtype.name == "I8":
                assert v.type.quant.zero_point == 0


def test_exclude_keeps_named_nodes_and_op_types_in_float(cnn, calib):
    first_conv = next(n for n in irc.compile(cnn, "fuse-bn").nodes if n.op == "nn.conv2d")
    q = irc.compile(cnn, f"quant{{exclude=[{first_conv.name}]}}", calib_data=calib)
    assert ops_of(q).count("nn.conv2d") == 1 and ops_of(q).count("q.conv2d") == 4
    q2 = irc.compile(cnn, "quant{exclude=[conv2d]}", calib_data=calib)
    assert "q.conv2d" not in ops_of(q2) and "q.matmul" in ops_of(q2)


def test_four_bit_weights_use_i4(cnn, calib):
    q = irc.compile(cnn, "quant{weight_bits=4}", calib_data=calib, verify_each=True)
    w = next(n.inputs[1] for n in q.nodes if n.op == "q.conv2d")
    assert w.type.dtype.name == "I4" and np.abs(w.const_value).max() <= 7


def test_option_errors():
    with pytest.raises(PipelineError, match="bits"):
        irc.pipeline.build_pipeline("quant{bits=3}")
    with pytest.raises(PassError, match="run `calibrate` first"):
        irc.compile(irc.load(EXAMPLE), "quant")


# --- mixed graphs: boundaries where needed, and no more ----------------------------------------

def _attention_like() -> irc.Graph:
    rng = np.random.default_rng(0)
    b = Builder("mixed")
    x = b.input("x", "f32[4,8]")
    h = b.nn.matmul(x, rng.standard_normal((8, 8)).astype(np.float32), name="h")
    s = b.nn.softmax(h, axis=-1, name="s")              # no integer form: stays float
    t = b.nn.matmul(s, rng.standard_normal((8, 8)).astype(np.float32), name="t")
    r = b.nn.reshape(t, shape=[32], name="r")           # follows t into the integer domain
    y = b.nn.relu(r, name="y")                          # a table, then dequantized once
    return b.finish(y)


def test_mixed_graph_boundaries():
    g = _attention_like()
    feeds = [{"x": np.random.default_rng(s).standard_normal((4, 8)).astype(np.float32)}
             for s in range(8)]
    q = irc.compile(g, "quant", calib_data=feeds, verify_each=True)
    ops = ops_of(q)
    assert "nn.softmax" in ops and ops.count("q.matmul") == 2
    # x -> q, h -> dq (softmax), s -> q, y -> dq (output): four conversions
    assert ops.count("q.quantize") == 2 and ops.count("q.dequantize") == 2
    assert "q.lut" in ops and q.outputs[0].name == "y"
    f, r = outputs(g, feeds), outputs(q, feeds)
    assert np.abs(f - r).max() <= 0.05 * np.abs(f).max()


# --- weight-only -----------------------------------------------------------------------------

def test_weight_only_per_channel_and_per_group(cnn, held_out):
    for opts, dtype in [("bits=8", "I8"), ("bits=4,group_size=8", "I4")]:
        q = irc.compile(cnn, f"quant{{weight_only=true,{opts}}}", verify_each=True)
        deq = [n for n in q.nodes if n.op == "q.dequantize"]
        assert deq and all(n.inputs[0].type.dtype.name == dtype for n in deq)
        assert "nn.conv2d" in ops_of(q)                   # compute stays float
        f, g = outputs(cnn, held_out[:10]), outputs(q, held_out[:10])
        assert np.abs(f - g).max() <= (0.01 if dtype == "I8" else 0.1)
    ctx = PassContext()
    run_pipeline(cnn.copy(), "quant{weight_only=true,group_size=7}", ctx=ctx)
    assert ctx.stats["quant"]["per-channel fallbacks"] == 6     # no layer has 7 | reduction


# --- bias correction / weight calibration / report ----------------------------------------------

def test_bias_correct_moves_channel_means_toward_float(cnn, calib):
    from irc.passes.quant_tune import lowered_layers
    from irc.quant_compare import channel_means
    ctx = PassContext(calib_data=calib)
    q = run_pipeline(cnn.copy(), "quant", ctx=ctx)
    ref = ctx.float_reference
    layers = lowered_layers(q, ref)
    axes = {L.name: L.axis for L in layers}

    def mean_gap(g):
        fm, qm = channel_means(ref, calib, axes), channel_means(g, calib, axes)
        return sum(float(np.abs(fm[k] - qm[k]).mean()) for k in axes)

    before = mean_gap(q)
    ctx2 = PassContext(calib_data=calib)
    qc = run_pipeline(cnn.copy(), "quant,bias-correct", ctx=ctx2)
    assert ctx2.stats["bias-correct"]["corrected"] > 0
    assert mean_gap(qc) < before


def test_tuning_passes_need_quant_first(cnn, calib):
    for p in ("bias-correct", "weight-calibrate"):
        with pytest.raises(PassError, match=f"after quant"):
            irc.compile(cnn, p, calib_data=calib)


def test_weight_calibrate_keeps_scales_and_matches_channel_means(cnn, calib):
    ctx = PassContext(calib_data=calib)
    q = run_pipeline(cnn.copy(), "quant{weight_bits=4,per_channel=false},weight-calibrate",
                     ctx=ctx)
    irc.verify(q)        # multipliers still encode the (unchanged) scales


def test_report_rows_are_sorted_and_sane(cnn, calib):
    q, rows = quantization_report(cnn, "quant", calib)
    assert rows and [r.sqnr_db for r in rows] == sorted(r.sqnr_db for r in rows)
    assert all(r.sqnr_db > 20 and r.cosine > 0.99 for r in rows)
    # a 2-bit model is far worse, and the report says so
    _, rows2 = quantization_report(cnn, "quant{bits=2}", calib)
    assert min(r.sqnr_db for r in rows2) < min(r.sqnr_db for r in rows) - 10


# --- calibration data forms --------------------------------------------------------------------

def test_calib_data_forms(cnn, tmp_path):
    x = np.random.default_rng(0).standard_normal((5, 1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "a.npy", x)
    np.savez(tmp_path / "b.npz", image=x[:2])
    assert len(calib_feeds(str(tmp_path / "a.npy"), cnn)) == 5
    assert len(calib_feeds(tmp_path, cnn)) == 7                  # the folder: a.npy + b.npz
    assert len(calib_feeds({"image": x}, cnn)) == 5
    assert len(calib_feeds(x[0, 0][None], cnn)) == 1             # one sample without batch
    assert len(calib_feeds([{"image": x[:1]}], cnn)) == 1
    with pytest.raises(InputError, match="unscaled|preprocess"):
        calib_feeds({"image": (x * 255).astype(np.uint8)}, cnn)
    with pytest.raises(InputError, match="lacks model input"):
        calib_feeds({"other": x}, cnn)
    with pytest.raises(InputError, match="no such file"):
        calib_feeds(str(tmp_path / "missing.npz"), cnn)


# --- quantize -> dequantize error -------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(lo=st.floats(-100, 0), width=st.floats(1e-3, 200), bits=st.sampled_from([8, 4, 2]),
       symmetric=st.booleans(), u=st.floats(0, 1))
def test_quantize_dequantize_error_is_at_most_half_a_step(lo, width, bits, symmetric, u):
    hi = lo + width
    p = activation_params(lo, hi, bits, symmetric)
    x = np.array([lo + u * width], np.float32)
    attrs = {"dtype": p.dtype, "scales": [p.scale], "zero_points": [p.zero_point], "axis": 1,
             "rounding": "half_away"}
    qv = get_op("q.quantize").run([x], attrs)[0]
    back = (qv.astype(np.float64) - p.zero_point) * p.scale
    lo_r, hi_r = min(lo, 0.0), max(hi, 0.0)
    if symmetric:
        lo_r, hi_r = -max(-lo_r, hi_r), max(-lo_r, hi_r)
    # values inside the representable range are within half a step (plus float32 slack)
    rep_lo = (p.dtype.min - p.zero_point) * p.scale
    rep_hi = (p.dtype.max - p.zero_point) * p.scale
    if rep_lo <= x[0] <= rep_hi:
        assert abs(back[0] - x[0]) <= p.scale / 2 * (1 + 1e-5) + 1e-6 * abs(x[0])
    # the range asked for is (nearly) representable: at most half a step is lost at an end
    assert rep_lo <= lo_r + p.scale and rep_hi >= hi_r - p.scale


def test_compare_flags_a_broken_layer(cnn, calib):
    ctx = PassContext(calib_data=calib)
    q = run_pipeline(cnn.copy(), "quant", ctx=ctx)
    # sabotage one conv's weights: the report must put that layer first
    conv = next(n for n in q.nodes if n.op == "q.conv2d")
    w = conv.inputs[1]
    bad = q.make_const(-w.const_value, q.fresh_name("bad"), w.type)
    q.insert_before(conv, [bad])
    conv.set_input(1, bad.output)
    rows = compare(ctx.float_reference, q, calib[:8])
    assert rows[0].name == conv.output.name.removesuffix(".acc") or rows[0].sqnr_db < 0
    assert rows[0].sqnr_db < 5


def test_cli_compile_and_report(cnn, tmp_path, capsys):
    from irc.cli import main
    x = np.concatenate([random_inputs(cnn, seed=s)["image"] for s in range(8)])
    np.savez(tmp_path / "calib.npz", image=x)
    out = tmp_path / "q.irc"
    assert main(["compile", str(EXAMPLE), "--passes", "calibrate{method=kl},quant,bias-correct",
                 "--calib-data", str(tmp_path / "calib.npz"), "-o", str(out)]) == 0
    assert "q.conv2d" in out.read_text()
    assert main(["report", str(EXAMPLE), "--calib-data", str(tmp_path / "calib.npz"),
                 "--limit", "3"]) == 0
    text = capsys.readouterr().out
    assert "SQNR" in text and "q.requantize" in text
    assert main(["report", str(EXAMPLE), "--calib-data", str(tmp_path / "nope.npz")]) == 1
    assert "--calib-data" in capsys.readouterr().err



def test_only_limits_computing_ops_but_not_data_movement():
    g = _attention_like()
    feeds = [{"x": np.random.default_rng(s).standard_normal((4, 8)).astype(np.float32)}
             for s in range(8)]
    q = irc.compile(g, "quant{only=[matmul]}", calib_data=feeds, verify_each=True)
    ops = ops_of(q)
    assert ops.count("q.matmul") == 2 and "q.lut" not in ops and "nn.relu" in ops
    reshape = next(n for n in q.nodes if n.op == "nn.reshape")
    assert reshape.output.type.quant is not None      # moved the integers


def test_tensors_holding_infinities_stay_float():
    # an attention-style mask: scores + where(mask, 0, -inf)
    b = Builder("masked")
    x = b.input("x", "f32[2,4]")
    m = b.input("m", "f32[2,4]")
    h = b.nn.matmul(x, np.eye(4, dtype=np.float32) * 2, name="h")
    bias = b.nn.log(b.nn.sub(np.float32(1), m), name="bias")    # log(0) = -inf where masked
    s = b.nn.add(h, bias, name="s")
    y = b.nn.softmax(s, axis=-1, name="y")
    g = b.finish(y)
    rng = np.random.default_rng(0)
    feeds = [{"x": rng.standard_normal((2, 4)).astype(np.float32),
              "m": np.array([[0, 0, 1, 1], [0, 1, 1, 1]], np.float32)} for _ in range(4)]
    with np.errstate(invalid="ignore"):
        c = irc.compile(g, "calibrate", calib_data=feeds)
    assert "bias" in c.attrs["calibration"]["unbounded"]
    assert "bias" not in c.attrs["calibration"]["ranges"]
    q = irc.compile(c, "quant")
    add = next(n for n in q.nodes if n.outputs[0].name == "s")
    assert add.op == "nn.add"                                   # not q.add: -inf kept


def test_flexible_ops_between_float_ops_stay_float():
    # softmax -> reshape -> softmax: an integer reshape would cost a quantize and a
    # dequantize for nothing, so the domain search must settle on float for it
    b = Builder("float_island")
    x = b.input("x", "f32[2,8]")
    h = b.nn.matmul(x, np.eye(8, dtype=np.float32), name="h")
    s = b.nn.softmax(h, axis=-1, name="s")
    r = b.nn.reshape(s, shape=[4, 4], name="r")
    y = b.nn.softmax(r, axis=-1, name="y")
    g = b.finish(y)
    feeds = [{"x": np.random.default_rng(i).standard_normal((2, 8)).astype(np.float32)}
             for i in range(4)]
    q = irc.compile(g, "quant", calib_data=feeds, verify_each=True)
    reshape = next(n for n in q.nodes if n.op == "nn.reshape")
    assert reshape.output.type.quant is None and ops_of(q).count("q.quantize") == 1


# --- uint8 activations: the same grid, stored + 128 -------------------------------------------

def _lut_pool_graph() -> irc.Graph:
    """Ops whose integer forms read the dtype: LUTs, average pools, q.add, q.mul, concat."""
    rng = np.random.default_rng(1)
    b = Builder("mix8")
    x = b.input("x", "f32[1,4,8,8]")
    c = b.nn.conv2d(x, rng.standard_normal((4, 4, 3, 3)).astype(np.float32) * 0.3,
                    pads=[1, 1, 1, 1])
    h = b.nn.hardswish(c)
    s = b.nn.sigmoid(b.nn.global_avg_pool(h))
    m = b.nn.mul(h, s)
    a = b.nn.avg_pool(b.nn.add(m, c), kernel=[2, 2], strides=[2, 2])
    y = b.nn.concat(a, b.nn.max_pool(m, kernel=[2, 2], strides=[2, 2]), axis=1)
    return b.finish(y)


@pytest.mark.parametrize("which", ["small_cnn", "lut_pool"])
def test_uint8_activations_give_identical_results(cnn, which):
    g = cnn if which == "small_cnn" else _lut_pool_graph()
    feeds = [random_inputs(g, seed=s) for s in range(6)]
    signed = irc.compile(g, "calibrate,quant{activations=int8}", calib_data=feeds)
    unsigned = irc.compile(g, "calibrate,quant{activations=uint8}", calib_data=feeds)
    auto_x86 = irc.compile(g, "calibrate,quant", calib_data=feeds, target="x86_64")
    auto_arm = irc.compile(g, "calibrate,quant", calib_data=feeds, target="arm64")
    dtypes = lambda q: {str(n.outputs[0].type.dtype) for n in q.nodes  # noqa: E731
                        if n.op in ("q.quantize", "q.requantize", "q.lut", "q.add")}
    assert dtypes(unsigned) == dtypes(auto_x86) == {"u8"}
    assert dtypes(signed) == dtypes(auto_arm) == {"i8"}
    for f in feeds:
        want = next(iter(irc.run(signed, f).values()))
        for q in (unsigned, auto_x86):
            assert np.array_equal(next(iter(irc.run(q, f).values())), want)


def test_uint8_activations_need_eight_bits(cnn, calib):
    with pytest.raises(PassError, match="bits=8"):
        irc.compile(cnn, "calibrate,quant{bits=4,activations=uint8}", calib_data=calib)
