"""Graphs that chain many of the runtime's integer elementwise, pooling and data-movement
ops (tests/runtime/test_ops_hostile.py corrupts their artifacts; test_ops_arm64.py runs
them under qemu), and feeds for them."""

from __future__ import annotations

import numpy as np

from irc import Builder, DType, PerAxis, PerTensor, TensorType
from irc.fixedpoint import quantize_multiplier
from irc.ops.q_arith import add_multipliers


def int8_chain():
    """quantize → requantize → qadd (broadcast) → qmul+requantize → qlut → qavgpool →
    maxpool → dequantize → globalpool, plus a per-axis requantize and dequantize."""
    b = Builder()
    x = b.input("x", TensorType(DType.F32, (1, 3, 6, 5)))
    q = b.q.quantize(x, dtype=DType.U8, scales=[0.05], zero_points=[120])
    m, s = quantize_multiplier(0.05 / 0.07)
    r = b.q.requantize(q, dtype=DType.I8, scale=0.07, zero_point=-3, method="fixed_point",
                       multipliers=[m], shifts=[s])
    c = b.const(np.arange(5, dtype=np.int8), type=TensorType(DType.I8, (5,), PerTensor(0.1, 1)))
    pairs = [quantize_multiplier(v) for v in add_multipliers(0.07, 0.1, 0.09, 20)]
    a = b.q.add(r, c, dtype=DType.I8, scale=0.09, zero_point=2, left_shift=20,
                multipliers=[p[0] for p in pairs], shifts=[p[1] for p in pairs], clamp=[-100, 100])
    prod = b.q.mul(a, r)
    mm, ms = quantize_multiplier(float(np.float32(0.09) * np.float32(0.07)) / 0.2)
    p = b.q.requantize(prod, dtype=DType.U8, scale=0.2, zero_point=128, method="fixed_point",
                       multipliers=[mm], shifts=[ms])
    lut = b.q.lut(p, dtype=DType.U8, scale=0.2, zero_point=128, table=list(range(255, -1, -1)))
    ap = b.q.avg_pool(lut, kernel=[3, 2], strides=[1, 2], pads=[1, 0, 1, 1], ceil_mode=True)
    mp = b.nn.max_pool(ap, kernel=[2, 2], strides=[1, 1], pads=[1, 1, 0, 0], dilations=[1, 2])
    d = b.q.dequantize(mp)
    gp = b.nn.global_avg_pool(d)
    acc = b.input("acc", TensorType(DType.I32, (2, 3, 4), PerAxis(1, (1e-4, 2e-4, 3e-4),
                                                                     (0, 0, 0))))
    pm = [quantize_multiplier(v / 0.01) for v in (1e-4, 2e-4, 3e-4)]
    rq = b.q.requantize(acc, dtype=DType.I8, scale=0.01, zero_point=0, method="fixed_point",
                        multipliers=[v[0] for v in pm], shifts=[v[1] for v in pm])
    rf = b.q.requantize(acc, dtype=DType.U8, scale=0.01, zero_point=7, method="float32",
                        rounding="half_even")
    return b.finish(gp, rq, rf, b.q.dequantize(acc))


def data_chain():
    """reshape, transpose, concat, split, slice, pad, gather, expand, cast; f32 pools."""
    b = Builder()
    x = b.input("x", TensorType(DType.F32, (2, 3, 4, 5)))
    t = b.nn.transpose(x, perm=[0, 2, 3, 1])
    cat = b.nn.concat(t, t, axis=3)
    s0, s1 = b.nn.split(cat, axis=3, sizes=[2, 4])
    sl = b.nn.slice(s1, starts=[3, -1], ends=[0, -6], axes=[1, 2], steps=[-1, -2])
    pd = b.nn.pad(sl, pads=[0, 1, 0, 2, 1, 0, 1, 0], value=-1.0)
    idx = b.input("idx", TensorType(DType.I64, (2, 2)))
    ga = b.nn.gather(pd, idx, axis=2)
    ex = b.nn.expand(b.nn.reshape(s0, shape=[2, 4, 5, 2, 1]), shape=[3, 1, 1, 1, 1, 4])
    ca = b.nn.cast(ex, to=DType.I8)
    ap = b.nn.avg_pool(x, kernel=[2, 3], strides=[2, 1], pads=[1, 1, 0, 1],
                       count_include_pad=True, ceil_mode=True)
    mp = b.nn.max_pool(x, kernel=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    gm = b.nn.global_max_pool(b.nn.cast(x, to=DType.U8))
    return b.finish(ga, ca, ap, mp, gm)


def chain_feeds(rng: np.random.Generator, graph) -> dict[str, np.ndarray]:
    """Random inputs of either chain (gather indices in range, accumulators of conv size)."""
    feeds = {}
    for v in graph.inputs:
        t = v.type
        if v.name == "idx":
            feeds[v.name] = rng.integers(-4, 4, t.shape).astype(np.int64)   # axis of 4
        elif t.dtype is DType.I32:
            feeds[v.name] = rng.integers(-300000, 300000, t.shape).astype(np.int32)
        else:
            feeds[v.name] = (rng.standard_normal(t.shape) * 4).astype(np.float32)
    return feeds
