"""Core ops that belong to no dialect: ``const``."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..types import TensorType, check_array_fits
from ._registry import ArrayAttr, Attr, OpDef, register_op


@register_op
class Const(OpDef):
    """A constant tensor.  Its payload is a read-only numpy array (the value's
    meaning); the result type's ``encoding`` says how the artifact stores it."""

    name = "const"
    attrs = (Attr("value", ArrayAttr(), doc="the constant's array"),)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        return TensorType.of(attrs["value"])

    def compute(self, inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
        return attrs["value"]

    def verify(self, node: Any) -> Iterable[str]:
        ty = node.outputs[0].type
        why = check_array_fits(node.attrs["value"], ty)
        if why:
            yield f"constant payload {why}"
        from ..encodings import check_encoding
        why = check_encoding(node.attrs["value"], ty)
        if why:
            yield why
