"""``calib.observe``: where calibration watches a tensor.

The ``calibrate`` pass inserts one per observed tensor, runs the graph, and
removes them again; the interpreter computes the identity, and the pass's
interpreter hook feeds the operand to the observer named by ``tensor``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..types import TensorType
from ._registry import Attr, OpDef, Operand, Str, register_op


@register_op
class Observe(OpDef):
    """y = x, recording x for the observer of ``tensor`` (not removable as dead code)."""

    name = "calib.observe"
    operands = (Operand("x"),)
    attrs = (Attr("tensor", Str(), doc="name of the observed value"),)
    pure: ClassVar[bool] = False

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        return types[0]

    def compute(self, inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
        return inputs[0]
