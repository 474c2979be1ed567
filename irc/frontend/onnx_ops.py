"""Converters of ONNX ops onto the ``nn.*`` set: the registry's entry point.

The converters live in one module per family: :mod:`.onnx_ops_nn`
(arithmetic, activations, linear algebra, convolution, pooling, normalization,
reductions), :mod:`.onnx_ops_shape` (shape and data movement, constants, the
shape-arithmetic ops that only ever fold) and :mod:`.onnx_ops_logic`
(comparisons, logic, Where, IsNaN/IsInf, GatherElements, LRN).  Importing
this module registers them all.
"""

from __future__ import annotations

from . import onnx_ops_nn, onnx_ops_shape  # noqa: F401  (register the converters)
from . import onnx_ops_logic  # noqa: F401  (comparisons, logic, Where, LRN...)
from . import onnx_ops_quant  # noqa: F401  (QuantizeLinear, QLinearConv... onto q.*)
