"""``quant``: lower a calibrated float graph to integer ``q.*`` ops.

Default scheme: TFLite's int8 spec (:mod:`irc.quant_params`) — weights int8
symmetric per output channel, activations int8 asymmetric per tensor, bias
int32 in accumulator units, requantization by fixed-point multiplier and shift
(:mod:`irc.fixedpoint`), fused ReLU/ReLU6/clip as the requantization's clamp.
Which nodes go integer, and where the float/integer boundaries go, is
:mod:`passes.quant_lowering`'s; how each op lowers, :mod:`passes.quant_rules`.

Ranges come from a preceding ``calibrate`` pass, or, when the graph has none,
from running calibration here on ``PassContext.calib_data`` — so
``irc compile m.onnx --passes quant --calib-data c.npz`` is the whole default
flow.  The float graph it lowered stays in ``PassContext.float_reference`` for
``bias-correct``, ``weight-calibrate`` and the quantization report.

``weight_only = true`` instead stores the weights of conv2d/gemm/matmul as
``bits``-bit integers (per output channel, or per group of ``group_size``
along the reduction axis) dequantized to float at run time; no calibration
(:mod:`passes.quant_weight_only`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, Optional

from irc.errors import PassError
from irc.ir import Graph
from irc.pass_manager import Pass, PassContext, register_pass
from irc.quant_params import int_dtype

from . import quant_rules  # noqa: F401  (registers the built-in rules)
from .calibrate import PREPARE, Method, calibrate_ranges, prepare, recorded_ranges
from .fake_quant import OP as FAKE_QUANT
from .fake_quant import absorb
from .quant_lowering import Lowering, Options
from .quant_weight_only import weight_only


@register_pass
@dataclass(frozen=True)
class Quantize(Pass):
    """Lower float ops to integer q.* ops (TFLite int8 scheme by default)."""

    name: ClassVar[str] = "quant"

    bits: int = field(default=8, metadata={"doc": "activation (and default weight) bit width: "
                                                  "8, 4 or 2"})
    weight_bits: Optional[int] = field(default=None, metadata={
        "doc": "weight bit width (none = bits)"})
    per_channel: bool = field(default=True, metadata={
        "doc": "weights: one scale per output channel (false: per tensor)"})
    symmetric: bool = field(default=False, metadata={
        "doc": "activations: symmetric (zero point 0) instead of asymmetric"})
    activations: Literal["auto", "int8", "uint8"] = field(default="auto", metadata={
        "doc": "8-bit activation storage: int8, or uint8 (the same values + 128: the native "
               "operand of x86's u8×s8 kernels); auto = uint8 for --target x86_64, else int8"})
    exclude: tuple[str, ...] = field(default=(), metadata={
        "doc": "keep in float: node names, value names or op types (nn.softmax, softmax); "
               "glob patterns allowed"})
    only: tuple[str, ...] = field(default=(), metadata={
        "doc": "quantize only these computing ops (patterns as for exclude, e.g. "
               "[matmul, gemm] as onnxruntime's op_types_to_quantize); data movement follows"})
    weight_only: bool = field(default=False, metadata={
        "doc": "only store weights in `bits` bits, dequantized to float at run time"})
    group_size: int = field(default=0, metadata={
        "doc": "weight_only: one scale per group of this many weights along the reduction "
               "axis (0: per output channel)"})
    method: Method = field(default="minmax", metadata={
        "doc": "calibration method when the graph has no recorded ranges"})
    prepare: bool = field(default=True, metadata={
        "doc": "first fold constants and fuse batch norms/activations (" + PREPARE + ")"})

    def __post_init__(self) -> None:
        super().__post_init__()
        int_dtype(self.bits)
        if self.weight_bits is not None:
            int_dtype(self.weight_bits)
        if self.group_size < 0:
            raise ValueError(f"group_size must be >= 0, got {self.group_size}")

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        unsigned = self.activations == "uint8" or (
            self.activations == "auto" and ctx.target == "x86_64" and self.bits == 8)
        if unsigned and self.bits != 8:
            raise PassError(f"quant{{activations=uint8}} needs bits=8, not {self.bits}")
        opts = Options(self.bits, self.weight_bits or self.bits, self.per_channel,
                       self.symmetric, unsigned)
        trained = None
        if any(n.op == FAKE_QUANT for n in graph.nodes):
            if self.weight_only:
                raise PassError("quant{weight_only=true} cannot lower a fake-quant "
                                "(quantization-aware) graph; use quant with the options "
                                "fake-quant had")
            trained = absorb(graph)
            self._check_scheme(trained.scheme, opts)
            ctx.log(f"lowering a trained fake-quant graph: {len(trained.ranges)} activation "
                    f"grids, {len(trained.weight_scales)} weight grids kept")
        if self.prepare:
            graph = prepare(graph, ctx)
        if self.weight_only:
            lw = Lowering(graph, {}, opts, self.exclude, self.only)
            return weight_only(graph, opts.weight_bits, self.group_size, lw.excluded, ctx)
        ranges = recorded_ranges(graph)
        if trained is not None:
            ranges.update(trained.ranges)
        if not ranges:
            if ctx.calib_data is None:
                raise PassError("quant needs activation ranges: run `calibrate` first, or give "
                                "calibration data (--calib-data FILE / calib_data=), or use "
                                "quant{weight_only=true}")
            cal = calibrate_ranges(graph, ctx.calib_data, self.method, bits=self.bits,
                                   symmetric=self.symmetric)
            ranges = cal.ranges
            ctx.log(f"calibrated {len(ranges)} tensors on {cal.samples} samples ({self.method})")
        ctx.float_reference = graph.copy()
        lowering = Lowering(graph, ranges, opts, self.exclude, self.only,
                            trained.weight_scales if trained is not None else None)
        out = lowering.run()
        for k, v in lowering.stats.items():
            ctx.count(k, v)
        return out

    @staticmethod
    def _check_scheme(scheme: dict[str, object], opts: Options) -> None:
        """A fake-quant graph lowers only with the scheme it was trained for."""
        asked = {"bits": opts.bits, "weight_bits": opts.weight_bits,
                 "per_channel": opts.per_channel, "symmetric": opts.symmetric}
        diff = [f"{k}={scheme[k]} (quant has {v})" for k, v in asked.items()
                if k in scheme and scheme[k] != v]
        if diff:
            raise PassError("quant: this graph was trained with fake-quant " + ", ".join(diff)
                            + "; lower it with the same options")
