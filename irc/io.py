"""``load`` and ``save`` by file extension.

Formats: ``.irc`` (text form plus a sidecar ``.npz`` for large constants).
ONNX import/export and the ``.ircm`` artifact register here as they land.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Mapping, Sequence

from .errors import InputError
from .ir import Graph

Loader = Callable[..., Graph]
Saver = Callable[[Graph, Path], None]

_LOADERS: dict[str, Loader] = {}
_SAVERS: dict[str, Saver] = {}


def register_format(ext: str, loader: Loader | None = None, saver: Saver | None = None) -> None:
    """Register a loader and/or saver for a file extension such as ``.onnx``."""
    if loader is not None:
        _LOADERS[ext] = loader
    if saver is not None:
        _SAVERS[ext] = saver


def _ensure_builtin_formats() -> None:
    if ".irc" not in _LOADERS:
        from . import textio
        register_format(".irc", lambda p, **kw: textio.load_text(p),
                        lambda g, p: textio.save_text(g, p))


def load(path: str | os.PathLike[str],
         input_shapes: Mapping[str, Sequence[int]] | None = None) -> Graph:
    """Read a model; the extension picks the format (``.irc`` now)."""
    _ensure_builtin_formats()
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in _LOADERS:
        raise InputError(f"{p}: unsupported model format '{ext or p.name}' "
                         f"(irc reads: {', '.join(sorted(_LOADERS))})")
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if input_shapes and ext == ".irc":
        raise InputError(f"{p}: --input-shape applies to imported models; an .irc graph "
                         "already has static shapes")
    return _LOADERS[ext](p, input_shapes=input_shapes)


def save(graph: Graph, path: str | os.PathLike[str]) -> None:
    """Write a graph; the extension picks the format.  Writes are atomic."""
    _ensure_builtin_formats()
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in _SAVERS:
        raise InputError(f"{p}: cannot write format '{ext or p.name}' "
                         f"(irc writes: {', '.join(sorted(_SAVERS))})")
    if p.parent and not p.parent.exists():
        raise InputError(f"{p}: directory {p.parent} does not exist")
    _SAVERS[ext](graph, p)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory + rename."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
