"""``from irc.onnx_import import import_onnx``: the ONNX importer, which lives in
:mod:`irc.frontend.onnx_import`."""

from __future__ import annotations

from .frontend.onnx_import import converter, import_onnx, supported_ops

__all__ = ["converter", "import_onnx", "supported_ops"]
