"""The built-in lowering rules of ``quant``, one per op family (see
:mod:`passes.quant_lowering` for the driver and :mod:`irc.quant_params` for the
parameter arithmetic)::

    conv2d        q.conv2d(x_q, w_q[O,..] per-channel, b_i32) -> q.requantize
    gemm/matmul   q.matmul(a_q, w_q[K,N] per-column, b_i32)   -> q.requantize
                  (or q.matmul of two activations, as in attention)
    add           q.add (TFLite's rescale-to-common-scale form)
    mul           q.mul -> q.requantize
    f(x) unary    q.lut: f evaluated on every stored value of x, quantized
    avg pools     q.avg_pool (global pools: the whole plane as one window)
    data movement the same nn op on the integers; concat first requantizes
                  operands to its output's parameters, pad fills with q(value)

Requantization multipliers are ``M_c = s_in · s_w[c] / s_out`` in double
precision, encoded by :func:`irc.fixedpoint.quantize_multiplier`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from irc.ir import Node, Value
from irc.ops.q_arith import add_multipliers
from irc.ops.q_core import channel_scales, round_to_int
from irc.quant_params import ActivationParams, quantize_bias, quantize_weights

from .quant_lowering import RULES, SAME_SCALE, UNARY, Lowering, Rule


def _activations(node: Node) -> list[Value]:
    return [v for v in node.inputs if not v.is_const]


def _has_ranges(L: Lowering, vals: list[Value]) -> bool:
    return all(v.type.dtype.is_float and L.params(v) is not None for v in vals)


def _clamp(node: Node) -> tuple[float, float] | None:
    c = node.attrs.get("clamp")
    return None if c is None else (float(c[0]), float(c[1]))


# conv2d --------------------------------------------------------------------------------

def _conv_possible(L: Lowering, n: Node) -> bool:
    x, w = n.inputs[:2]
    b_ok = len(n.inputs) < 3 or n.inputs[2].is_const
    return w.is_const and b_ok and _has_ranges(L, [x, n.output])


def _lower_weights(L: Lowering, w: np.ndarray, axis: int | None, name: str
                   ) -> tuple[Value, np.ndarray]:
    """Constant ``w`` quantized (per channel along ``axis`` when the options ask for
    it and ``axis`` is not None) and its scales, one per channel or one."""
    stored, t = quantize_weights(w, axis if L.opts.per_channel else None, L.opts.weight_bits,
                                 scales=L.weight_scales.get(name))
    assert t.quant is not None
    return L.const(stored, t, name), np.asarray(channel_scales(t.quant), np.float64)


def _lower_bias(L: Lowering, b: np.ndarray, s_x: float, s_w: np.ndarray, n: int,
                name: str) -> Value:
    b = np.broadcast_to(b.astype(np.float64).reshape(-1) if b.size > 1 else b.reshape(()),
                        (n,))
    s_w = np.broadcast_to(s_w, (n,))
    return L.const(quantize_bias(b, s_x, s_w), None, name)


def _lower_conv(L: Lowering, n: Node) -> None:
    x, w = n.inputs[:2]
    xq = L.int_of(x)
    px = L.int_params(x)
    wv, s_w = _lower_weights(L, lowered_weights(n)[0], 0, w.name)
    ins = [xq, wv]
    if len(n.inputs) == 3:
        b = n.inputs[2]
        ins.append(_lower_bias(L, b.const_value, px.scale, s_w, w.type.shape[0], b.name))
    geo = {k: n.attrs[k] for k in ("strides", "pads", "dilations", "groups", "auto_pad")}
    acc = L.g.add("q.conv2d", ins, geo, output_names=[n.output.name + ".acc"], name=n.name).output
    py = L.params(n.output)
    assert py is not None
    reals = [px.scale * float(s) / py.scale for s in np.broadcast_to(s_w, (w.type.shape[0],))]
    L.qval[id(n.output)] = L.requantize(acc, n.output, _clamp(n), reals, n.name)


RULES["nn.conv2d"] = Rule(_conv_possible, _lower_conv)


# gemm / matmul ---------------------------------------------------------------------------

def _gemm_possible(L: Lowering, n: Node) -> bool:
    a, b = n.inputs[:2]
    c_ok = len(n.inputs) < 3 or n.inputs[2].is_const
    return (b.is_const and c_ok and not n.attrs["trans_a"] and a.type.rank == 2
            and _has_ranges(L, [a, n.output]))


def lowered_weights(n: Node) -> tuple[np.ndarray, int | None]:
    """The float weights of conv2d/gemm/matmul node ``n`` laid out as its integer
    op takes them, with their output-channel axis (None: one scale per tensor):
    conv ``[O, C/g, kh, kw]`` axis 0; gemm ``alpha · B`` as ``[K, N]`` axis 1;
    matmul ``B`` (axis 1 when rank 2)."""
    w = n.inputs[1].const_value
    if n.op == "nn.conv2d":
        return w, 0
    if n.op == "nn.gemm":
        w64 = w.astype(np.float64)
        return ((w64.T if n.attrs["trans_b"] else w64) * n.attrs["alpha"]).astype(np.float32), 1
    return w, (1 if w.ndim == 2 else None)


def _lower_gemm(L: Lowering, n: Node) -> None:
    a, b = n.inputs[:2]
    w, _ = lowered_weights(n)
    _matmul_with_weights(L, n, a, w, b.name,
                         n.inputs[2].const_value * n.attrs["beta"] if len(n.inputs) == 3
                         else None)


def _matmul_with_weights(L: Lowering, n: Node, a: Value, w: np.ndarray, wname: str,
                         bias: np.ndarray | None) -> None:
    aq = L.int_of(a)
    pa = L.int_params(a)
    wv, s_w = _lower_weights(L, w, 1 if w.ndim == 2 else None, wname)
    cols = w.shape[-1]
    ins = [aq, wv]
    if bias is not None:
        ins.append(_lower_bias(L, np.asarray(bias), pa.scale, s_w, cols,
                               n.inputs[2].name if len(n.inputs) == 3 else wname + ".bias"))
    acc = L.g.add("q.matmul", ins, {}, output_names=[n.output.name + ".acc"], name=n.name).output
    py = L.params(n.output)
    assert py is not None
    reals = [pa.scale * float(s) / py.scale for s in np.broadcast_to(s_w, (cols,))]
    L.qval[id(n.output)] = L.requantize(acc, n.output, _clamp(n), reals, n.name)


def _matmul_possible(L: Lowering, n: Node) -> bool:
    a, b = n.inputs
    if a.type.rank < 2 or b.type.rank < 2:
        return False
    return _has_ranges(L, _activations(n) + [n.output])


def _lower_matmul(L: Lowering, n: Node) -> None:
    a, b = n.inputs
    if b.is_const:
        _matmul_with_weights(L, n, a, b.const_value, b.name, None)
        return
    _product(L, n, "q.matmul")


def _product(L: Lowering, n: Node, op: str) -> None:
    """``op`` (q.matmul / q.mul) of two per-tensor operands, accumulating at scale
    ``s_a · s_b``, then requantized to the result's parameters."""
    a, b = n.inputs
    aq, bq = L.int_of(a), L.int_of(b)
    pa, pb = L.int_params(a), L.int_params(b)
    acc = L.g.add(op, [aq, bq], {}, output_names=[n.output.name + ".acc"], name=n.name).output
    py = L.params(n.output)
    assert py is not None
    L.qval[id(n.output)] = L.requantize(acc, n.output, _clamp(n),
                                        [pa.scale * pb.scale / py.scale], n.name)


RULES["nn.gemm"] = Rule(_gemm_possible, _lower_gemm)
RULES["nn.matmul"] = Rule(_matmul_possible, _lower_matmul)


# add / mul ---------------------------------------------------------------------------------

def _binary_possible(L: Lowering, n: Node) -> bool:
    return _has_ranges(L, _activations(n) + [n.output]) and bool(_activations(n))


def _lower_add(L: Lowering, n: Node) -> None:
    a, b = n.inputs
    qa, qb = L.int_of(a), L.int_of(b)
    pa, pb = L.int_params(a), L.int_params(b)
    py = L.params(n.output)
    assert py is not None
    attrs = L.scaling_attrs(py, add_multipliers(pa.scale, pb.scale, py.scale, 20), _clamp(n),
                            per_channel=False)      # [M_a, M_b, M_y]
    L.qval[id(n.output)] = L.g.add("q.add", [qa, qb], attrs, output_names=[n.output.name],
                                   name=n.name).output


def _lower_mul(L: Lowering, n: Node) -> None:
    _product(L, n, "q.mul")


RULES["nn.add"] = Rule(_binary_possible, _lower_add)
RULES["nn.mul"] = Rule(_binary_possible, _lower_mul)


# unary functions as tables -----------------------------------------------------------------

def _lut_possible(L: Lowering, n: Node) -> bool:
    return n.op != "nn.identity" and len(n.inputs) == 1 and _has_ranges(L, [n.inputs[0],
                                                                             n.output])


def _lower_lut(L: Lowering, n: Node) -> None:
    x = n.inputs[0]
    xq = L.int_of(x)
    px = L.int_params(x)
    py = L.params(n.output)
    assert py is not None
    grid = np.arange(int(px.dtype.min), int(px.dtype.max) + 1, dtype=np.int64)
    real = ((grid - px.zero_point).astype(np.float32) * np.float32(px.scale))
    with np.errstate(all="ignore"):
        y = n.opdef.run([real.astype(n.output.type.dtype.storage)], dict(n.attrs))[0]
        v = np.asarray(y, np.float64) / py.scale
    v = np.where(np.isnan(v), 0.0, round_to_int(v, "half_away")) + py.zero_point
    table = np.clip(v, py.dtype.min, py.dtype.max).astype(np.int64)
    attrs = {"dtype": py.dtype, "scale": py.scale, "zero_point": py.zero_point,
             "table": table.tolist()}
    L.qval[id(n.output)] = L.g.add("q.lut", [xq], attrs, output_names=[n.output.name],
                                   name=n.name).output


RULES[UNARY] = Rule(_lut_possible, _lower_lut)


# pools ----------------------------------------------------------------------------------------

def _x_possible(L: Lowering, n: Node) -> bool:
    return _has_ranges(L, [n.inputs[0]])


def _lower_avg_pool(L: Lowering, n: Node) -> None:
    xq = L.int_of(n.inputs[0])
    if n.op == "nn.global_avg_pool":
        attrs: dict[str, Any] = {"kernel": list(n.inputs[0].type.shape[2:])}
    else:
        attrs = {k: n.attrs[k] for k in ("kernel", "strides", "pads", "ceil_mode",
                                         "count_include_pad", "auto_pad")}
    L.qval[id(n.output)] = L.g.add("q.avg_pool", [xq], attrs, output_names=[n.output.name],
                                   name=n.name).output


for _op in ("nn.avg_pool", "nn.global_avg_pool"):
    RULES[_op] = Rule(lambda L, n: _x_possible(L, n) and n.inputs[0].type.rank == 4,
                      _lower_avg_pool)


# data movement -------------------------------------------------------------------------------

def _same_scale_possible(L: Lowering, n: Node) -> bool:
    moved = n.inputs if n.op == "nn.concat" else n.inputs[:1]
    if any(v.is_const for v in moved):
        return False
    if n.op == "nn.concat" and L.params(n.output) is None:
        return False
    return _has_ranges(L, list(moved))


def _lower_same_scale(L: Lowering, n: Node) -> None:
    attrs = dict(n.attrs)
    if n.op == "nn.concat":
        py = L.params(n.output)
        assert py is not None
        ins = [_rescaled(L, v, py) for v in n.inputs]
    else:
        ins = [L.int_of(n.inputs[0])] + [L.float_of(v) for v in n.inputs[1:]]
        if n.op == "nn.pad":
            attrs["value"] = float(L.int_params(n.inputs[0]).quantize_real(attrs["value"]))
    node = L.g.add(n.op, ins, attrs, output_names=[v.name for v in n.outputs], name=n.name)
    for old, new in zip(n.outputs, node.outputs):
        L.qval[id(old)] = new


def _rescaled(L: Lowering, v: Value, p: ActivationParams) -> Value:
    """``v`` as an integer tensor with parameters ``p`` (requantized if needed)."""
    q = L.int_of(v, p if id(v) not in L.qval and not v.is_const else None)
    pv = L.int_params(v)
    if (pv.scale, pv.zero_point, pv.dtype) == (p.scale, p.zero_point, p.dtype):
        return q
    attrs = dict(L.scaling_attrs(p, [pv.scale / p.scale]), method="fixed_point")
    return L.g.add("q.requantize", [q], attrs, output_names=[v.name + ".rq"]).output


for _op in SAME_SCALE:
    RULES[_op] = Rule(_same_scale_possible, _lower_same_scale)
