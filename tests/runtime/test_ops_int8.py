"""The C runtime's integer elementwise ops (quantize, dequantize, requantize, qadd, qmul,
qlut) against the interpreter: one-op graphs written with irc.artifact and run by
irc.runtime.Session on every kernel level this machine has (and two threads), identical
bytes for integer results, float32 results within 1e-6 relative (they are exact in
practice).  Shapes, dtypes, zero points, scales and broadcasting come from hypothesis."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import irc
from irc import Builder, DType, PerAxis, PerTensor, TensorType
from irc.artifact import build_artifact
from irc.artifact.reader import read_artifact
from irc.fixedpoint import quantize_multiplier
from irc.ops.q_arith import add_multipliers
from irc.runtime import Session

from rt_helpers import env_isas, fix_checksums, int_range, random_int, sections

ISAS = env_isas()
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INT8 = [DType.I8, DType.U8]


def assert_runtime_matches(graph, feeds, rtol: float = 0.0, atol: float = 0.0) -> None:
    """Every ISA level, 1 and 2 threads: the runtime's outputs equal the interpreter's
    (float outputs within rtol/atol when either is given)."""
    ref = irc.run(graph, feeds)
    blob = build_artifact(graph)
    for isa in ISAS:
        for threads in (1, 2):
            out = Session(blob, isa=isa, num_threads=threads).run(feeds)
            for name, want in ref.items():
                got = out[name]
                assert got.dtype == want.dtype and got.shape == want.shape, (isa, name)
                if (rtol or atol) and want.dtype.kind == "f":
                    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True,
                                               err_msg=f"{isa} x{threads}")
                    continue
                if not np.array_equal(got, want, equal_nan=want.dtype.kind == "f"):
                    bad = np.argwhere(got != want)
                    raise AssertionError(f"{isa} x{threads} {name}: {len(bad)} of {want.size} "
                                         f"differ, first at {tuple(bad[0])}: {got[tuple(bad[0])]} "
                                         f"vs {want[tuple(bad[0])]}")


def q8(dtype: DType, shape, rng, scale=None, zp=None) -> TensorType:
    lo, hi = int_range(dtype)
    return TensorType(dtype, tuple(shape),
                      PerTensor(float(rng.uniform(0.005, 0.2)) if scale is None else scale,
                                int(rng.integers(lo, hi + 1)) if zp is None else zp))


shapes = st.lists(st.integers(1, 9), min_size=0, max_size=4).map(tuple)
seeds = st.integers(0, 2**31)


def clamp_of(rng, dtype: DType) -> list[int]:
    lo, hi = int_range(dtype)
    if rng.random() < 0.6:
        return []
    a, b = sorted(rng.integers(lo, hi + 1, 2))
    return [int(a), int(b)]


# --- quantize / dequantize ---------------------------------------------------------------------

@SETTINGS
@given(shapes, st.sampled_from(INT8), st.sampled_from(["half_away", "half_even"]), seeds)
def test_quantize(shape, dtype, rounding, seed):
    rng = np.random.default_rng(seed)
    b = Builder()
    x = b.input("x", TensorType(DType.F32, shape))
    scale = float(rng.choice([0.5, 0.25, rng.uniform(0.001, 0.3)]))
    lo, hi = int_range(dtype)
    zp = int(rng.integers(lo, hi + 1))
    g = b.finish(b.q.quantize(x, dtype=dtype, scales=[scale], zero_points=[zp], rounding=rounding))
    xv = (rng.standard_normal(shape) * rng.choice([0.1, 3.0, 60.0])).astype(np.float32)
    if xv.size:     # ties (x / s exactly k + 1/2 for the power-of-two scales), and the specials
        flat = xv.reshape(-1)
        specials = np.array([0.25, -0.25, 0.75, -0.75, 1.25, np.nan, np.inf, -np.inf, 1e30, -0.0],
                            np.float32)
        k = min(flat.size, specials.size)
        flat[rng.choice(flat.size, k, replace=False)] = specials[:k]
    assert_runtime_matches(g, {"x": xv})


@SETTINGS
@given(shapes, st.sampled_from(INT8 + [DType.I32]), seeds)
def test_dequantize_per_tensor(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    b = Builder()
    t = q8(dtype, shape, rng) if dtype is not DType.I32 else \
        TensorType(dtype, shape, PerTensor(float(rng.uniform(1e-5, 0.1)), int(rng.integers(-9, 9))))
    g = b.finish(b.q.dequantize(b.input("x", t)))
    xv = random_int(rng, dtype, shape) if dtype is not DType.I32 else \
        rng.integers(-2**31, 2**31, shape, dtype=np.int64).astype(np.int32)
    assert_runtime_matches(g, {"x": xv}, rtol=1e-6)


@SETTINGS
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple), st.sampled_from(INT8),
       seeds)
def test_dequantize_per_axis(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    axis = int(rng.integers(len(shape)))
    lo, hi = int_range(dtype)
    n = shape[axis]
    q = PerAxis(axis, tuple(float(s) for s in rng.uniform(0.001, 0.1, n)),
                tuple(int(z) for z in rng.integers(lo, hi + 1, n)))
    b = Builder()
    g = b.finish(b.q.dequantize(b.input("x", TensorType(dtype, shape, q))))
    assert_runtime_matches(g, {"x": random_int(rng, dtype, shape)}, rtol=1e-6)


# --- requantize -----------------------------------------------------------------------------------

def _requant_attrs(rng, in_scales, ydt, method, rounding="half_away"):
    sy = float(np.median(in_scales)) * float(rng.choice([rng.uniform(0.2, 300), 2.0 ** -20,
                                                          2.0 ** 12]))
    lo, hi = int_range(ydt)
    attrs = dict(dtype=ydt, scale=sy, zero_point=int(rng.integers(lo, hi + 1)), method=method,
                 rounding=rounding, clamp=clamp_of(rng, ydt))
    if method == "fixed_point":
        pairs = [quantize_multiplier(s / sy) for s in in_scales]
        attrs.update(multipliers=[m for m, _ in pairs], shifts=[s for _, s in pairs])
    return attrs


@SETTINGS
@given(shapes, st.sampled_from(INT8 + [DType.I32]), st.sampled_from(INT8),
       st.sampled_from(["fixed_point", "float32"]), st.sampled_from(["half_away", "half_even"]),
       seeds)
def test_requantize_per_tensor(shape, xdt, ydt, method, rounding, seed):
    rng = np.random.default_rng(seed)
    if xdt is DType.I32:
        sx = float(rng.uniform(1e-6, 1e-3))
        t = TensorType(xdt, shape, PerTensor(sx, int(rng.choice([0, rng.integers(-99, 99)]))))
        xv = np.where(rng.random(shape) < 0.1, rng.integers(-2**31, 2**31, shape),
                      rng.integers(-200000, 200000, shape)).astype(np.int32)
    else:
        t = q8(xdt, shape, rng)
        sx = t.quant.scale
        xv = random_int(rng, xdt, shape)
    b = Builder()
    g = b.finish(b.q.requantize(b.input("x", t), **_requant_attrs(rng, [sx], ydt, method,
                                                                  rounding)))
    assert_runtime_matches(g, {"x": xv})


@SETTINGS
@given(st.lists(st.integers(1, 7), min_size=1, max_size=4).map(tuple), st.sampled_from(INT8),
       st.sampled_from(["fixed_point", "float32"]), st.booleans(), seeds)
def test_requantize_per_axis(shape, ydt, method, one_channel, seed):
    """An i32 accumulator with per-channel scales (what q.conv2d gives) along any axis."""
    rng = np.random.default_rng(seed)
    axis = int(rng.integers(len(shape)))
    n = shape[axis]
    scales = rng.uniform(1e-5, 1e-3, n)
    if one_channel:
        scales[:] = scales[0]
    t = TensorType(DType.I32, shape, PerAxis(axis, tuple(map(float, scales)), (0,) * n))
    attrs = _requant_attrs(rng, list(map(float, scales)), ydt, method)
    if one_channel and method == "fixed_point":
        attrs.update(multipliers=attrs["multipliers"][:1], shifts=attrs["shifts"][:1])
    b = Builder()
    g = b.finish(b.q.requantize(b.input("x", t), **attrs))
    xv = rng.integers(-300000, 300000, shape).astype(np.int32)
    assert_runtime_matches(g, {"x": xv})


def test_requantize_large_tensor_threads():
    """A per-tensor run long enough to be split between threads."""
    rng = np.random.default_rng(5)
    t = q8(DType.U8, (3, 70000), rng)
    b = Builder()
    g = b.finish(b.q.requantize(b.input("x", t),
                                **_requant_attrs(rng, [t.quant.scale], DType.I8, "fixed_point")))
    assert_runtime_matches(g, {"x": random_int(rng, DType.U8, (3, 70000))})


# --- qadd / qmul / qlut --------------------------------------------------------------------------

@st.composite
def broadcast_pairs(draw):
    """Two shapes that broadcast (numpy rules), of ranks 0..4."""
    out = draw(st.lists(st.integers(1, 6), min_size=0, max_size=4))
    a = [d if draw(st.integers(0, 3)) else 1 for d in out]
    b = [d if draw(st.integers(0, 3)) else 1 for d in out]
    a = a[draw(st.integers(0, len(a))):] if draw(st.booleans()) else a
    b = b[draw(st.integers(0, len(b))):] if draw(st.booleans()) else b
    return tuple(a), tuple(b)


@SETTINGS
@given(broadcast_pairs(), st.sampled_from(INT8), st.sampled_from(INT8), st.sampled_from(INT8),
       st.sampled_from([20, 20, 0, 7, 24]), seeds)
def test_qadd(shapes_ab, adt, bdt, ydt, left_shift, seed):
    rng = np.random.default_rng(seed)
    (sa_shape, sb_shape) = shapes_ab
    ta, tb = q8(adt, sa_shape, rng), q8(bdt, sb_shape, rng)
    sy = float(rng.uniform(0.01, 0.4))
    reals = add_multipliers(ta.quant.scale, tb.quant.scale, sy, left_shift)
    pairs = [quantize_multiplier(r) for r in reals]
    lo, hi = int_range(ydt)
    b = Builder()
    y = b.q.add(b.input("a", ta), b.input("b", tb), dtype=ydt, scale=sy,
                zero_point=int(rng.integers(lo, hi + 1)), left_shift=left_shift,
                multipliers=[m for m, _ in pairs], shifts=[s for _, s in pairs],
                clamp=clamp_of(rng, ydt))
    g = b.finish(y)
    assert_runtime_matches(g, {"a": random_int(rng, adt, sa_shape),
                               "b": random_int(rng, bdt, sb_shape)})


@SETTINGS
@given(broadcast_pairs(), st.sampled_from(INT8), st.sampled_from(INT8),
       st.sampled_from(INT8 + [None]), seeds)
def test_qmul(shapes_ab, adt, bdt, ydt, seed):
    """q.mul alone (an i32 result) and fused with its q.requantize (one qmul node)."""
    rng = np.random.default_rng(seed)
    sa_shape, sb_shape = shapes_ab
    ta, tb = q8(adt, sa_shape, rng), q8(bdt, sb_shape, rng)
    b = Builder()
    acc = b.q.mul(b.input("a", ta), b.input("b", tb))
    if ydt is not None:
        s_acc = float(np.float32(ta.quant.scale) * np.float32(tb.quant.scale))
        acc = b.q.requantize(acc, **_requant_attrs(rng, [s_acc], ydt, "fixed_point"))
    g = b.finish(acc)
    assert_runtime_matches(g, {"a": random_int(rng, adt, sa_shape),
                               "b": random_int(rng, bdt, sb_shape)})


@SETTINGS
@given(shapes, st.sampled_from(INT8), st.sampled_from(INT8), seeds)
def test_qlut(shape, xdt, ydt, seed):
    rng = np.random.default_rng(seed)
    lo, hi = int_range(ydt)
    table = [int(v) for v in rng.integers(lo, hi + 1, 256)]
    b = Builder()
    y = b.q.lut(b.input("x", q8(xdt, shape, rng)), dtype=ydt, scale=0.05,
                zero_point=int(rng.integers(lo, hi + 1)), table=table)
    g = b.finish(y)
    assert_runtime_matches(g, {"x": random_int(rng, xdt, shape)})


def test_chain_in_place():
    """requantize → lut → add → requantize, where the memory plan lets the outputs of lut,
    add and the last requantize take their dying inputs' buffers (ops marked in place)."""
    rng = np.random.default_rng(9)
    shape = (2, 3, 17, 5)
    t = q8(DType.I8, shape, rng)
    b = Builder()
    x = b.input("x", t)
    r = b.q.requantize(x, **_requant_attrs(rng, [t.quant.scale], DType.I8, "fixed_point"))
    table = [int(v) for v in rng.integers(-128, 128, 256)]
    lut = b.q.lut(r, dtype=DType.I8, scale=0.05, zero_point=3, table=table)
    reals = add_multipliers(0.05, t.quant.scale, 0.07, 20)
    pairs = [quantize_multiplier(v) for v in reals]
    a = b.q.add(lut, x, dtype=DType.I8, scale=0.07, zero_point=-5, left_shift=20,
                multipliers=[m for m, _ in pairs], shifts=[s for _, s in pairs])
    y = b.q.requantize(a, **_requant_attrs(rng, [0.07], DType.U8, "fixed_point"))
    g = irc.compile(b.finish(y), "plan-memory")
    offsets = {t.name: t.offset for t in read_artifact(build_artifact(g)).tensors if not t.const}
    names = [n.outputs[0].name for n in g.nodes if n.op != "const"]
    assert len({offsets[n] for n in names[1:]}) == 1, offsets   # all in one buffer
    assert_runtime_matches(g, {"x": random_int(rng, DType.I8, shape)})


@pytest.mark.parametrize("op", ["quantize", "requantize"])
def test_rejects_bad_parameters(op):
    """Parameter words outside the documented ranges are refused at load, naming the node."""
    rng = np.random.default_rng(1)
    b = Builder()
    if op == "quantize":
        y = b.q.quantize(b.input("x", TensorType(DType.F32, (4,))), dtype=DType.I8,
                         scales=[0.1], zero_points=[0])
    else:
        t = q8(DType.I8, (4,), rng)
        y = b.q.requantize(b.input("x", t), **_requant_attrs(rng, [t.quant.scale], DType.I8,
                                                            "fixed_point"))
    blob = bytearray(build_artifact(b.finish(y)))
    off, _, _ = sections(bytes(blob))["PRMS"]
    struct.pack_into("<i", blob, off + 4, 7)        # rounding / method word → 7
    with pytest.raises(Exception, match=op):
        Session(bytes(fix_checksums(blob)))


@pytest.mark.parametrize("chain", ["int8_chain", "data_chain"])
def test_op_chains(chain):
    """Many of the ops in one graph (op_chains.py), planned memory included."""
    import op_chains
    g = getattr(op_chains, chain)()
    feeds = op_chains.chain_feeds(np.random.default_rng(4), g)
    assert_runtime_matches(irc.compile(g, "plan-memory"), feeds, rtol=1e-6, atol=1e-6)
