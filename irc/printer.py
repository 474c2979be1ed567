"""Text form printer (skeleton: types only; the full printer lands with the grammar)."""

from __future__ import annotations

from .types import PerAxis, PerTensor, TensorType


def format_float(x: float) -> str:
    """Shortest text that parses back to exactly ``x`` (``inf``, ``-inf``, ``nan`` too)."""
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


def format_type(t: TensorType) -> str:
    s = f"{t.dtype}[{','.join(str(d) for d in t.shape)}]"
    q = t.quant
    if isinstance(q, PerTensor):
        s += f"<{format_float(q.scale)},{q.zero_point}>"
    elif isinstance(q, PerAxis):
        s += (f"<axis={q.axis},[{','.join(format_float(x) for x in q.scales)}],"
              f"[{','.join(str(z) for z in q.zero_points)}]>")
    if not t.encoding.is_dense:
        s += f"#{t.encoding}"
    return s


def print_graph(graph: "object") -> str:
    raise NotImplementedError
