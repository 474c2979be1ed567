"""Reading and writing ``.irc`` files: the text form plus a sidecar ``.npz``.

``save_text(g, "model.irc")`` writes the text form to ``model.irc`` and, when
some constant is too large to print inline, those arrays to ``model.npz`` next
to it (``np.savez``, keyed by the ``@key`` references in the text, plus an
``__irc_sidecar__`` entry that marks the file as irc's).  Both files are written
to temporary files in the same directory and renamed into place, sidecar
first, so a crash never leaves a half-written file.  An existing ``model.npz``
that is not an irc sidecar (calibration data, say) is never overwritten, and a
stale irc sidecar is removed when the new text needs none.

``load_text("model.irc")`` parses the text with the sidecar if it exists; a
reference to a missing sidecar or key is a :class:`~irc.errors.ParseError`
naming both files.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from .errors import InputError, ParseError
from .ir import Graph
from .parser import parse_graph
from .printer import print_graph

__all__ = ["SIDECAR_MARKER", "load_text", "save_text", "sidecar_path"]

#: The entry that marks an ``.npz`` as an irc sidecar (its value: the format version).
SIDECAR_MARKER = "__irc_sidecar__"
_SIDECAR_VERSION = 1

_UMASK = os.umask(0)
os.umask(_UMASK)


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """The sidecar of ``model.irc``: ``model.npz`` in the same directory."""
    return Path(path).with_suffix(".npz")


def _is_sidecar(npz: Path) -> bool:
    try:
        with np.load(npz, allow_pickle=False) as z:
            return SIDECAR_MARKER in z.files
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return False


def _temp(directory: Path, name: str) -> tuple[int, str]:
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    os.chmod(tmp, 0o666 & ~_UMASK)
    return fd, tmp


def save_text(graph: Graph, path: str | os.PathLike[str], *, generic: bool = False) -> None:
    """Write ``graph`` to ``path`` (text) and, if needed, its sidecar ``.npz``, atomically."""
    p = Path(path)
    if p.suffix.lower() == ".npz":
        raise InputError(f"{p}: the text form goes to an .irc file; .npz is its sidecar")
    arrays: dict[str, np.ndarray] = {}
    text = print_graph(graph, sidecar=arrays, generic=generic)
    npz = sidecar_path(p)
    if arrays and npz.exists() and not _is_sidecar(npz):
        raise InputError(f"{p}: refusing to overwrite {npz}, which is not an irc sidecar "
                         f"(it has no '{SIDECAR_MARKER}' entry); move it away or save the "
                         "graph under another name")
    directory = p.parent if str(p.parent) else Path(".")
    tmp_npz = tmp_irc = None
    try:
        if arrays:
            fd, tmp_npz = _temp(directory, npz.name)
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays, **{SIDECAR_MARKER: np.array(_SIDECAR_VERSION)})
                f.flush()
                os.fsync(f.fileno())
        fd, tmp_irc = _temp(directory, p.name)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if tmp_npz is not None:
            os.replace(tmp_npz, npz)
            tmp_npz = None
        os.replace(tmp_irc, p)
        tmp_irc = None
    finally:
        for tmp in (tmp_npz, tmp_irc):
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
    if not arrays and npz.exists() and _is_sidecar(npz):
        npz.unlink()   # stale: written for an earlier version of this graph


class _Sidecar(Mapping[str, np.ndarray]):
    """An open ``.npz`` without its marker entry; read errors name the file."""

    def __init__(self, z: Any, path: Path) -> None:
        self._z, self._path = z, path
        self._keys = [k for k in z.files if k != SIDECAR_MARKER]

    def __getitem__(self, key: str) -> np.ndarray:
        if key == SIDECAR_MARKER or key not in self._z.files:
            raise KeyError(key)
        try:
            return self._z[key]
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise InputError(f"{self._path}: cannot read array '{key}': {e}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def load_text(path: str | os.PathLike[str]) -> Graph:
    """Read an ``.irc`` file and its sidecar ``.npz`` (if present)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except UnicodeDecodeError as e:
        raise ParseError(f"not UTF-8 text ({e.reason} at byte {e.start})", file=str(p)) from None
    npz = sidecar_path(p)
    if not npz.exists():
        return parse_graph(text, filename=str(p), sidecar_file=str(npz))
    try:
        z = np.load(npz, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise InputError(f"{npz}: cannot read the sidecar of {p}: {e}") from None
    with z:
        return parse_graph(text, sidecar=_Sidecar(z, npz), filename=str(p),
                           sidecar_file=str(npz))
