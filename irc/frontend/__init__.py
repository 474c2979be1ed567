"""Model importers (ONNX) into the irc IR."""

from __future__ import annotations

from .onnx_import import import_onnx, supported_ops

__all__ = ["import_onnx", "supported_ops"]
