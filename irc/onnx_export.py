"""``from irc.onnx_export import export_onnx``: the ONNX exporter, which lives in
:mod:`irc.frontend.onnx_export`."""

from __future__ import annotations

from .frontend.onnx_export import export_onnx, exportable_ops, exporter

__all__ = ["export_onnx", "exportable_ops", "exporter"]
