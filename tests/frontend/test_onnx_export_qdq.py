"""QDQ export of quantized irc graphs, run in onnxruntime.

Every ``q.*`` op (and integer data movement) in small hand-built graphs, and the
small CNN quantized by irc's own ``calibrate,quant`` (per channel, per tensor,
symmetric), are exported, run in onnxruntime (graph optimizations on, so its
QDQ fusion into QLinearConv & co. is what runs) and compared with the
interpreter in *steps* of the result's scale.

What "faithful" means here: ONNX's QuantizeLinear rounds half to even and
onnxruntime requantizes with a float32 multiplier; irc rounds half away from
zero and requantizes by gemmlowp's fixed-point double rounding, whose
intermediate keeps only ``-shift`` fractional bits — so about ``2^-(|shift|+1)``
of the results of a requantization with a small right shift land one step
apart.  Each op is therefore held to: every element within one step, and at
least 99 % exactly equal (per op on these inputs; the small CNN's stem conv,
with ``shift = -4``, is held to 98 % and the whole net's pooled rate to 99 %).
End to end, differences compound through the layers, so the CNN's logits are
held to 3 steps and its argmax to irc's on every sample.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import irc  # noqa: E402
from irc.builder import Builder  # noqa: E402
from irc.errors import ModelExportError  # noqa: E402
from irc.fixedpoint import quantize_multiplier  # noqa: E402
from irc.ir import Graph, Node  # noqa: E402
from irc.ops.q_arith import add_multipliers  # noqa: E402
from irc.onnx_export import export_onnx  # noqa: E402
from irc.quant_params import quantize_weights  # noqa: E402
from irc.types import TensorType  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
rng = np.random.default_rng(3)


@pytest.fixture(autouse=True)
def _seeded():
    """The same weights and tables for a test whatever runs before it."""
    global rng
    rng = np.random.default_rng(3)


# --- helpers ---------------------------------------------------------------------------------------

def session(m, optimize: bool = True, optimized_path: str | None = None):
    so = ort.SessionOptions()
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    elif optimized_path:      # (EXTENDED: the QDQ fusions, without hardware-specific layouts)
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        so.optimized_model_filepath = optimized_path
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    return lambda feeds: dict(zip(names, s.run(None, feeds)))


def steps(got: np.ndarray, want: np.ndarray, step: float = 1.0) -> np.ndarray:
    """|got − want| in steps (stored units for integers, ``step`` for floats)."""
    assert got.shape == want.shape and got.dtype == want.dtype
    d = np.abs(got.astype(np.float64) - want.astype(np.float64)) / step
    return np.rint(d) if got.dtype.kind in "iu" else d


def check(g: Graph, feeds_list, opset: int = 17, min_exact: float = 0.99,
          step: dict[str, float] | None = None, max_steps: float = 1.0) -> dict[str, float]:
    """Export ``g``, run it in onnxruntime on every feed dict, and hold each
    output to ``max_steps`` and a fraction ``min_exact`` of exact elements;
    returns the exact rate per output."""
    m = export_onnx(g, opset)
    run = session(m)
    diffs: dict[str, list[np.ndarray]] = {v.name: [] for v in g.outputs}
    for feeds in feeds_list:
        want, got = irc.run(g, feeds), run(feeds)
        for k in diffs:
            diffs[k].append(steps(got[k], want[k], (step or {}).get(k, 1.0)).ravel())
    rates = {}
    for k, ds in diffs.items():
        d = np.concatenate(ds)
        assert d.max() <= max_steps + 1e-3, f"{k}: off by {d.max()} steps"
        rates[k] = float((d < 1e-3).mean())
        assert rates[k] >= min_exact, f"{k}: only {rates[k]:.4f} exact"
    return rates


def ints(shape, dtype="i8"):
    info = np.iinfo(np.dtype({"i8": np.int8, "u8": np.uint8}[dtype]))
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(info.dtype)


def qtype(dtype: str, shape, scale: float, zp: int) -> str:
    return f"{dtype}[{','.join(map(str, shape))}]<{scale},{zp}>"


def rq_attrs(in_scales, scale: float, zp: int, dtype: str = "i8", clamp=()) -> dict:
    """q.requantize attributes (fixed point, irc's own form) from the input's scales."""
    pairs = [quantize_multiplier(s / scale) for s in in_scales]
    return dict(dtype=dtype, scale=scale, zero_point=zp, method="fixed_point",
                multipliers=[m for m, _ in pairs], shifts=[s for _, s in pairs],
                clamp=list(clamp))


def weights(shape, axis):
    stored, t = quantize_weights(rng.standard_normal(shape).astype(np.float32), axis)
    return stored, t


def onnx_ops(m) -> list[str]:
    return [n.op_type for n in m.graph.node]


def feeds_of(g: Graph, n: int = 4):
    return [irc.interpreter.random_inputs(g, seed) for seed in range(n)]


# --- quantize, dequantize, reinterpret ---------------------------------------------------------

@pytest.mark.parametrize("rounding", ["half_even", "half_away"])
@pytest.mark.parametrize("dtype,zp", [("i8", -3), ("u8", 128)])
def test_quantize_ties(rounding, dtype, zp):
    """ONNX QuantizeLinear rounds half to even: irc's half_even is exact, its
    half_away default differs by one step exactly on the ties."""
    b = Builder("quant")
    x = b.input("x", "f32[2,64]")
    b.output(b.q.quantize(x, dtype=dtype, scales=(0.5,), zero_points=(zp,), rounding=rounding,
                          name="y"))
    g = b.finish()
    ties = (np.arange(-32, 32, dtype=np.float32) + 0.5) * 0.5      # x / s = k + 0.5
    feeds = [{"x": np.stack([ties, rng.standard_normal(64).astype(np.float32) * 20])}]
    m = export_onnx(g)
    assert onnx_ops(m) == ["QuantizeLinear"]
    want, got = irc.run(g, feeds[0])["y"], session(m)(feeds[0])["y"]
    d = steps(got, want)
    assert d.max() <= 1
    if rounding == "half_even":
        assert not d.any()
    else:
        assert d[0].sum() > 0 and not d[1].any()      # (saturated ties agree)


def test_quantize_per_axis_and_f16_input():
    b = Builder("qaxis")
    x = b.input("x", "f16[2,3,4]")
    b.output(b.q.quantize(x, dtype="i8", scales=(0.02, 0.05, 0.1), zero_points=(0, 3, -7),
                          axis=1, rounding="half_even", name="y"))
    g = b.finish()
    check(g, feeds_of(g), opset=13, min_exact=1.0)


@pytest.mark.parametrize("to", ["f32", "f16"])
def test_dequantize_per_tensor_and_per_axis(to):
    b = Builder("deq")
    a = b.input("a", qtype("u8", (2, 8), 0.25, 131))
    w = b.const(ints((4, 3)), "w", type=TensorType.of(np.zeros((4, 3), np.int8)).with_(
        quant=weights((4, 3), 0)[1].quant))
    b.output(b.q.dequantize(a, to=to, name="ya"), b.q.dequantize(w, to=to, name="yw"))
    g = b.finish()
    rates = check(g, feeds_of(g), min_exact=1.0)
    assert rates == {"ya": 1.0, "yw": 1.0}


def test_reinterpret_then_dequantize_uses_the_new_parameters():
    b = Builder("re")
    x = b.input("x", "u8[16]")
    r = b.q.reinterpret(x, scales=(0.1,), zero_points=(100,), name="r")
    b.output(b.q.dequantize(r, name="y"), r)
    g = b.finish()
    m = export_onnx(g)
    assert onnx_ops(m) == ["Identity", "DequantizeLinear"]
    check(g, feeds_of(g), min_exact=1.0)


# --- conv, matmul, mul with requantize -----------------------------------------------------------

@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("geo", [dict(pads=(1, 1, 1, 1)),
                                 dict(strides=(2, 2), pads=(0, 1, 1, 0)),
                                 dict(groups=4, pads=(1, 1, 1, 1))])
@pytest.mark.parametrize("bias,clamp", [(True, ()), (True, (-100, 90)), (False, (-128, 50))])
def test_conv2d_requantize(per_channel, geo, bias, clamp):
    cin, cout, g_ = 16, 8, geo.get("groups", 1)
    sx = 0.05
    wq, wt = weights((cout, cin // g_, 3, 3), 0 if per_channel else None)
    s_acc = [np.float32(sx) * np.float32(s) for s in (wt.quant.scales if per_channel
                                                       else [wt.quant.scale])]
    b = Builder("qconv")
    x = b.input("x", qtype("i8", (1, cin, 9, 9), sx, 5))
    ins = [x, b.const(wq, "w", type=wt)]
    if bias:
        ins.append(b.const(rng.integers(-2000, 2000, cout).astype(np.int32), "b"))
    acc = b.q.conv2d(*ins, name="acc", loc="conv", **geo)
    y = b.q.requantize(acc, name="y", loc="conv", **rq_attrs(s_acc, 0.5, -3, clamp=clamp))
    g = b.finish(y)
    m = export_onnx(g)
    lo, hi = clamp or (-128, 127)
    want_ops = ["DequantizeLinear"] * (3 if bias else 2) + ["Conv"] + \
        (["Clip"] if (lo, hi) != (-128, 127) else []) + ["QuantizeLinear"]
    assert onnx_ops(m) == want_ops
    assert m.graph.node[len(want_ops) - 2 - (want_ops[-2] == "Clip")].name == "conv"
    check(g, feeds_of(g))


def test_conv_qdq_is_fused_by_onnxruntime(tmp_path):
    """f32 → Q → [DQ, DQ(w), DQ(b) → Conv → Q] → DQ: onnxruntime fuses the
    bracket into QLinearConv (on x86 after turning the int8 Q→DQ pairs around
    it into uint8 ones, which it does where a Q has one reader)."""
    wq, wt = weights((8, 16, 3, 3), 0)
    b = Builder("fuse")
    x = b.q.quantize(b.input("x", "f32[1,16,8,8]"), dtype="i8", scales=(0.05,),
                     zero_points=(3,))
    acc = b.q.conv2d(x, b.const(wq, "w", type=wt),
                     b.const(np.arange(8, dtype=np.int32) * 50, "b"), pads=(1, 1, 1, 1))
    y = b.q.requantize(acc, **rq_attrs([0.05 * s for s in wt.quant.scales], 0.5, -10))
    g = b.finish(b.q.dequantize(y, name="y"))
    opt = str(tmp_path / "opt.onnx")
    session(export_onnx(g), optimized_path=opt)
    assert "QLinearConv" in onnx_ops(onnx.load(opt))
    check(g, feeds_of(g), step={"y": 0.5})


@pytest.mark.parametrize("per_column,bias", [(True, True), (False, False)])
def test_matmul_requantize_with_weights(per_column, bias):
    wq, wt = weights((32, 10), 1 if per_column else None)
    sa = 0.04
    s_acc = [sa * s for s in (wt.quant.scales if per_column else [wt.quant.scale])]
    b = Builder("qmm")
    a = b.input("a", qtype("i8", (3, 32), sa, -10))
    ins = [a, b.const(wq, "w", type=wt)] + \
        ([b.const(rng.integers(-500, 500, 10).astype(np.int32), "bias")] if bias else [])
    g = b.finish(b.q.requantize(b.q.matmul(*ins), name="y", **rq_attrs(s_acc, 0.1, 7)))
    assert onnx_ops(export_onnx(g)) == ["DequantizeLinear", "DequantizeLinear", "MatMul"] + (
        ["DequantizeLinear", "Add"] if bias else []) + ["QuantizeLinear"]
    check(g, feeds_of(g, 8))


def test_matmul_and_mul_of_two_activations():
    sa, sb = 0.03, 0.02
    b = Builder("act")
    a = b.input("a", qtype("i8", (2, 4, 16), sa, 3))
    c = b.input("c", qtype("u8", (2, 16, 5), sb, 120))
    mm = b.q.requantize(b.q.matmul(a, c), name="mm", **rq_attrs([sa * sb], 0.05, 0))
    d = b.input("d", qtype("i8", (2, 4, 5), 0.04, -2))
    e = b.input("e", qtype("i8", (1, 5), 0.07, 9))
    prod = b.q.requantize(b.q.mul(d, e), name="prod", **rq_attrs([0.04 * 0.07], 0.35, 1))
    g = b.finish(mm, prod)
    check(g, feeds_of(g, 8))


def test_requantize_rescales_a_narrow_tensor():
    b = Builder("rescale")
    x = b.input("x", qtype("i8", (4, 64), 0.1, -5))
    g = b.finish(b.q.requantize(x, name="y", **rq_attrs([0.1], 0.037, 130, dtype="u8")),
                 b.q.requantize(x, name="z", dtype="i8", scale=0.3, zero_point=0,
                                rounding="half_even"))
    assert onnx_ops(export_onnx(g)) == ["DequantizeLinear", "QuantizeLinear", "QuantizeLinear"]
    check(g, feeds_of(g))


def test_accumulator_read_as_integers_and_as_reals():
    """An accumulator that no q.requantize narrows: its int32 integers (a graph
    output) come from its real value, Round(real / s); its q.dequantize is that
    real value."""
    wq, wt = weights((4, 8, 1, 1), 0)
    b = Builder("acc")
    x = b.input("x", qtype("i8", (1, 8, 3, 3), 0.05, 2))
    acc = b.q.conv2d(x, b.const(wq, "w", type=wt), name="acc")
    g = b.finish(acc, b.q.dequantize(acc, name="real"))
    m = export_onnx(g)
    assert [o.name for o in m.graph.output] == ["acc", "real"]
    assert m.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.INT32
    assert onnx_ops(m) == ["DequantizeLinear", "DequantizeLinear", "Conv", "Identity", "Div",
                           "Round", "Cast"]
    for feeds in feeds_of(g):
        want, got = irc.run(g, feeds), session(m)(feeds)
        np.testing.assert_array_equal(got["acc"], want["acc"])
        np.testing.assert_allclose(got["real"], want["real"], rtol=1e-5, atol=1e-6)


# --- add, avg_pool, lut --------------------------------------------------------------------------

@pytest.mark.parametrize("clamp,tail", [((), []), ((-128, 60), ["Clip"]), ((-20, 127), ["Relu"]),
                                        ((-30, 100), ["Clip"])])
def test_add(clamp, tail):
    sa, sb, sy = 0.0513, 0.0771, 0.1037       # (no exact ties: they round apart, by design)
    pairs = [quantize_multiplier(r) for r in add_multipliers(sa, sb, sy, 20)]
    b = Builder("qadd")
    a = b.input("a", qtype("i8", (2, 8, 4, 4), sa, -7))
    c = b.input("c", qtype("i8", (1, 8, 1, 4), sb, 12))
    g = b.finish(b.q.add(a, c, dtype="i8", scale=sy, zero_point=-20, name="y",
                         multipliers=[m for m, _ in pairs], shifts=[s for _, s in pairs],
                         clamp=list(clamp)))
    ops = onnx_ops(export_onnx(g))
    assert ops[2] == "Add" and ops[-1] == "QuantizeLinear"
    assert ops[3:-1] == tail        # the clamp in real units: [s (lo - z), s (hi - z)]
    check(g, feeds_of(g))


@pytest.mark.parametrize("attrs", [dict(kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1)),
                                   dict(kernel=(3, 3), pads=(1, 1, 1, 1), count_include_pad=True),
                                   dict(kernel=(7, 7))])
def test_avg_pool(attrs):
    """Means of a few integers tie often (a sum of 2 over 4 taps): irc rounds
    them away from zero, ONNX to even.  Every other element is exact."""
    z = -100
    b = Builder("qpool")
    x = b.input("x", qtype("i8", (1, 4, 7, 7), 0.1, z))
    g = b.finish(b.q.avg_pool(x, name="y", **attrs))
    m = export_onnx(g)
    assert onnx_ops(m) == ["DequantizeLinear", "AveragePool", "QuantizeLinear"]
    bf = Builder("mean")                       # the exact mean of x − z, to find the ties
    fg = bf.finish(bf.nn.avg_pool(bf.input("c", "f32[1,4,7,7]"), name="mean", **attrs))
    for feeds in feeds_of(g, 8):
        mean = irc.run(fg, {"c": feeds["x"].astype(np.float32) - z})["mean"]
        ties = (2 * mean) % 2 == 1
        d = steps(session(m)(feeds)["y"], irc.run(g, feeds)["y"])
        assert d.max() <= 1 and not d[~ties].any()


@pytest.mark.parametrize("dtype", ["i8", "u8"])
def test_lut_is_a_gather_on_the_table(dtype):
    table = rng.integers(-128, 127, 256, endpoint=True)
    b = Builder("lut")
    x = b.input("x", qtype(dtype, (3, 100), 0.1, 0))
    g = b.finish(b.q.lut(x, dtype="i8", scale=0.02, zero_point=0, table=table.tolist(),
                         name="y"))
    assert onnx_ops(export_onnx(g)) == ["Cast", "Gather"]
    feeds = [{"x": np.arange(-128, 172).astype(np.int16).astype(x.type.dtype.storage)
              .reshape(3, 100)}] + feeds_of(g)      # every stored value of x
    check(g, feeds, min_exact=1.0)


# --- integer data movement --------------------------------------------------------------------------

def test_data_movement_stays_on_the_integers():
    b = Builder("move")
    x = b.input("x", qtype("i8", (1, 4, 6, 6), 0.1, -9))
    y = b.input("y", qtype("i8", (1, 2, 3, 3), 0.1, -9))
    p = b.nn.max_pool(x, kernel=(2, 2), strides=(2, 2), name="pool")
    c = b.nn.concat(p, y, axis=1, name="cat")
    padded = b.nn.pad(c, pads=(0, 0, 1, 1, 0, 0, 1, 1), value=-9.0, name="pad")   # stored zp
    t = b.nn.transpose(padded, perm=(0, 2, 3, 1), name="t")
    s = b.nn.slice(t, starts=(1,), ends=(4,), axes=(1,), name="s")
    r = b.nn.reshape(s, shape=(3, -1), name="r")
    g = b.finish(b.nn.flatten(r, axis=1, name="f"),
                 b.q.dequantize(padded, name="real"))
    m = export_onnx(g)
    assert onnx_ops(m).count("DequantizeLinear") == 1
    check(g, feeds_of(g), min_exact=1.0)


def test_one_dequantize_per_tensor_shared_by_its_readers():
    sx = 0.05
    wq, wt = weights((4, 4, 1, 1), 0)
    s_acc = [sx * s for s in wt.quant.scales]
    b = Builder("share")
    x = b.input("x", qtype("i8", (1, 4, 5, 5), sx, 0))
    w = b.const(wq, "w", type=wt)
    y1 = b.q.requantize(b.q.conv2d(x, w), name="y1", **rq_attrs(s_acc, 0.1, 0))
    y2 = b.q.avg_pool(x, kernel=(5, 5), name="y2")
    g = b.finish(y1, y2, b.q.dequantize(x, name="xr"))
    m = export_onnx(g)
    dq_of = [n.input[0] for n in m.graph.node if n.op_type == "DequantizeLinear"]
    assert sorted(dq_of) == ["w", "x"]                       # x: one, for three readers
    assert ["x/dq"] == [n.input[0] for n in m.graph.node if n.output[0] == "xr"]
    check(g, feeds_of(g), step={"xr": 1e-6})


# --- the small CNN quantized by irc --------------------------------------------------------------

PIPELINES = {"per_channel": "calibrate,quant", "per_tensor": "calibrate,quant{per_channel=false}",
             "symmetric": "calibrate,quant{symmetric=true}"}


@pytest.fixture(scope="module")
def small_cnn():
    return irc.load(str(ROOT / "examples" / "small_cnn.irc"))


def quantized(g: Graph, key: str) -> Graph:
    calib = [irc.interpreter.random_inputs(g, seed=s) for s in range(16)]
    return irc.compile(g, PIPELINES[key], calib_data=calib)


def one_node_graph(n: Node) -> Graph:
    b = Builder("one")
    ins = [b.const(v.const_value, v.name, type=v.type) if v.is_const else b.input(v.name, v.type)
           for v in n.inputs]
    return b.finish(b.op(n.op, *ins, name=n.outputs[0].name, **dict(n.attrs)))


@pytest.mark.parametrize("key", list(PIPELINES))
def test_small_cnn_end_to_end(small_cnn, key, tmp_path):
    """irc.save → onnxruntime: the same class on every sample; the int8 logits
    within 3 steps (per-op differences of one step compound through 6 layers)."""
    q = quantized(small_cnn, key)
    logits = next(n for n in q.nodes if n.op == "q.dequantize").inputs[0]
    q.set_outputs(list(q.outputs) + [logits])
    path = tmp_path / "cnn.onnx"
    irc.save(q, str(path))
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    run = session(m)
    d, agree, n = [], 0, 40
    for seed in range(100, 100 + n):
        feeds = irc.interpreter.random_inputs(small_cnn, seed)
        want, got = irc.run(q, feeds), run(feeds)
        d.append(steps(got[logits.name], want[logits.name]))
        agree += int(got["probs"].argmax() == want["probs"].argmax())
    d = np.concatenate(d)
    assert agree == n
    assert d.max() <= 3 and (d == 0).mean() >= 0.8, ((d == 0).mean(), d.max())


@pytest.mark.parametrize("key", list(PIPELINES))
def test_small_cnn_per_op_on_irc_activations(small_cnn, key):
    """Each quantized node of the CNN exported alone and fed irc's own
    activations: every element within one step, ≥ 99 % exact over the net
    (≥ 97 % for each node; the stem conv requantizes with shift -4)."""
    q = quantized(small_cnn, key)
    nodes = [n for n in q.nodes if n.op.startswith("q.") or n.op.startswith("nn.")
             and any(v.type.quant for v in n.inputs)]
    q.set_outputs([n.outputs[0] for n in q.nodes if n.op != "const"])
    samples = []
    for seed in range(100, 106):
        feeds = irc.interpreter.random_inputs(small_cnn, seed)
        samples.append({**irc.run(q, feeds), **feeds})
    exact = total = 0
    for n in nodes:
        one = one_node_graph(n)
        run = session(export_onnx(one))
        out = one.outputs[0]
        step = 1.0 if out.type.dtype.is_int else 1e-6      # (q.dequantize: exact)
        d = np.concatenate([steps(run({v.name: s[v.name] for v in one.inputs})[out.name],
                                  s[out.name], step).ravel() for s in samples])
        assert d.max() <= 1, f"{n.short()}: off by {d.max()} steps"
        assert (d == 0).mean() >= 0.97, f"{n.short()}: {(d == 0).mean():.4f} exact"
        exact += int((d == 0).sum())
        total += d.size
    assert exact / total >= 0.99


def test_weight_only_graph_exports(small_cnn):
    g = irc.compile(small_cnn, "quant{weight_only=true}")
    m = export_onnx(g)
    assert "DequantizeLinear" in onnx_ops(m)
    feeds = irc.interpreter.random_inputs(small_cnn, 0)
    np.testing.assert_allclose(session(m)(feeds)["probs"], irc.run(g, feeds)["probs"],
                               rtol=1e-4, atol=1e-5)


# --- what is refused ---------------------------------------------------------------------------------

def test_sub_byte_types_are_refused_naming_the_tensors(small_cnn):
    calib = [irc.interpreter.random_inputs(small_cnn, seed=s) for s in range(4)]
    q = irc.compile(small_cnn, "calibrate,quant{weight_bits=4}", calib_data=calib)
    with pytest.raises(ModelExportError) as e:
        export_onnx(q)
    lines = str(e.value).splitlines()
    assert lines[0].endswith("(opset 17): 6 tensor(s) have no ONNX form:")
    assert lines[1].startswith("  - tensor x6: %stem.w_1, %block0.dw.w_1, ")
    assert "quantized sub-byte i4 tensors are not exported" in lines[1]
    assert lines[1].endswith("quantize with bits=8 (and weight_bits=8)")


def test_per_axis_needs_opset_13(small_cnn):
    q = quantized(small_cnn, "per_channel")
    with pytest.raises(ModelExportError, match=r"opset 10 is not supported"):
        export_onnx(q, 10)
    with pytest.raises(ModelExportError) as e:
        export_onnx(q, 12)
    assert ("  - const x6: %stem.w_1, %block0.dw.w_1, %block0.pw.w_1, %block1.dw.w_1, "
            "%block1.pw.w_1, %fc.w: per-axis quantized tensors (QuantizeLinear/DequantizeLinear "
            "take an axis from opset 13: export with opset >= 13, or quantize with "
            "per_channel=false)") in str(e.value).splitlines()
    export_onnx(q, 13)
    pt = quantized(small_cnn, "per_tensor")          # per tensor: opset 11 is fine
    check(pt, feeds_of(small_cnn, 2), opset=11, min_exact=0.0, max_steps=0.2)
