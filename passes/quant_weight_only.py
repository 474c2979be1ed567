"""Weight-only quantization (``quant{weight_only=true}``): weights stored in few
bits, dequantized to float at run time; activations stay float, so no
calibration data is needed."""

from __future__ import annotations

from typing import Callable

import numpy as np

from irc.ir import Graph, Node
from irc.pass_manager import PassContext
from irc.quant_params import quantize_weights

from .quant_lowering import ANCHORS


def weight_only(graph: Graph, bits: int, group_size: int, exclude: Callable[[Node], bool],
                ctx: PassContext) -> Graph:
    """Store the weights of conv2d/gemm/matmul as ``bits``-bit integers dequantized
    at run time: per output channel, or per group of ``group_size`` consecutive
    weights along the reduction axis (the weight is then kept as a
    ``[channels · groups, group_size]`` integer tensor, dequantized per row and
    reshaped back).  A layer whose reduction size is not a multiple of
    ``group_size`` gets one scale per channel (counted and logged)."""
    for n in list(graph.nodes):
        if n.op not in ANCHORS or exclude(n) or len(n.inputs) < 2 or not n.inputs[1].is_const:
            continue
        w = n.inputs[1]
        arr = w.const_value
        if arr.ndim < 2 or not w.type.dtype.is_float:
            continue
        # the output-channel axis: conv O of [O, C, kh, kw]; gemm N of [N, K] (trans_b) or
        # [K, N]; matmul the last axis of [.., K, N]
        out_axis = 0 if n.op == "nn.conv2d" or (n.op == "nn.gemm" and n.attrs["trans_b"]) \
            else arr.ndim - 1
        moved = np.moveaxis(arr, out_axis, 0)
        rows = moved.reshape(moved.shape[0], -1)                       # [channels, reduction]
        if group_size and rows.shape[1] % group_size == 0:
            rows = rows.reshape(-1, group_size)
        elif group_size:      # e.g. a 3x3 stem conv over 1 channel: 9 weights per channel
            ctx.log(f"weight %{w.name} of {n.short()}: reduction size {rows.shape[1]} is not "
                    f"a multiple of group_size={group_size}; one scale per channel instead")
            ctx.count("per-channel fallbacks", modified=False)
        stored, t = quantize_weights(rows, 0, bits)
        anchor = n
        qc = graph.make_const(stored, graph.fresh_name(w.name + ".q"), t)
        dq = graph.make_node("q.dequantize", [qc.output], {"to": w.type.dtype},
                             output_names=[w.name + ".dq"])
        new_nodes = [qc, dq]
        val = dq.output
        if rows.shape != arr.shape or out_axis != 0:
            r = graph.make_node("nn.reshape", [val], {"shape": list(moved.shape)},
                                output_names=[w.name + ".rows"])
            new_nodes.append(r)
            val = r.output
            if out_axis != 0:
                perm = list(range(1, arr.ndim))
                perm.insert(out_axis, 0)
                tr = graph.make_node("nn.transpose", [val], {"perm": perm},
                                     output_names=[w.name + ".w"])
                new_nodes.append(tr)
                val = tr.output
        graph.insert_before(anchor, new_nodes)
        n.set_input(1, val)
        ctx.count("weights")
        ctx.count("bytes saved", arr.nbytes - stored.size * bits // 8, modified=False)
    return graph
