"""Reading and writing ``.irc`` files: the text form plus a sidecar ``.npz``.

``save_text(g, "model.irc")`` writes the text form to ``model.irc`` and, when
some constant is too large to print inline, those arrays to ``model.npz`` next
to it, keyed by the ``@key`` references in the text, plus an
``__irc_sidecar__`` entry that marks the file as irc's.  Both files are written
through :class:`irc.io.AtomicFiles` (temporary files in the same directory,
fsync, renamed into place, sidecar first), so a failed save changes neither
file.  An existing ``model.npz`` that is not an irc sidecar (calibration data,
say) is never overwritten, and a stale irc sidecar is removed when the new text
needs none.

The sidecar is an ordinary ``.npz`` (``np.load`` reads it): a stored zip
archive with one ``.npy`` member per array, ``<key>.npy``.  irc writes and reads
the members itself rather than through ``np.savez``/``np.load``, because
``np.savez(f, **arrays)`` takes keys as keyword arguments (a key ``file`` or
``allow_pickle`` collides with its parameters) and ``np.load`` resolves ``w``
and ``w.npy`` to the same member.  Here a key is the member name minus exactly
one ``.npy``, whatever it is.

``load_text("model.irc")`` parses the text with the sidecar if it exists; a
reference to a missing sidecar or key, or an array that does not fit its type,
is a :class:`~irc.errors.ParseError` naming both files; an unreadable sidecar
is an :class:`~irc.errors.InputError`.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path
from typing import IO, Iterator, Mapping

import numpy as np

from .errors import InputError, ParseError
from .io import AtomicFiles
from .ir import Graph
from .parser import parse_graph
from .printer import print_graph

__all__ = ["SIDECAR_MARKER", "load_text", "save_text", "sidecar_path"]

#: The entry that marks an ``.npz`` as an irc sidecar (its value: the format version).
SIDECAR_MARKER = "__irc_sidecar__"
_SIDECAR_VERSION = 1
_NPY = ".npy"
# what a damaged or foreign zip can raise (RuntimeError: encrypted; NotImplementedError:
# an unsupported compression method)
_ZIP_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, RuntimeError,
               NotImplementedError)


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """The sidecar of ``model.irc``: ``model.npz`` in the same directory."""
    return Path(path).with_suffix(".npz")


def _is_sidecar(npz: Path) -> bool:
    try:
        with zipfile.ZipFile(npz) as zf:
            return SIDECAR_MARKER + _NPY in zf.namelist()
    except _ZIP_ERRORS:
        return False


def _write_npz(f: IO[bytes], arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to the binary file ``f`` as an ``.npz`` (a stored zip of
    ``<key>.npy`` members, as ``np.savez`` writes): any str key works."""
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(key + _NPY, date_time=(1980, 1, 1, 0, 0, 0))
            if info.filename != key + _NPY:   # zipfile cuts names at NUL, maps os.sep
                raise ValueError(f"an .npz cannot hold an array under the key {key!r}")
            info.compress_type = zipfile.ZIP_STORED
            with zf.open(info, mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=False)


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
    with AtomicFiles() as files:   # sidecar first: it lands before the text that uses it
        if arrays:
            _write_npz(files.open(npz, "wb"),
                      {**arrays, SIDECAR_MARKER: np.array(_SIDECAR_VERSION)})
        files.open(p, "w", encoding="utf-8", newline="\n").write(text)
    if not arrays and npz.exists() and _is_sidecar(npz):
        npz.unlink()   # stale: written for an earlier version of this graph


class _Sidecar(Mapping[str, np.ndarray]):
    """An open sidecar ``.npz``, keyed by member name minus ``.npy``, without its
    marker entry.  Arrays are read on lookup; read errors name the file and key."""

    def __init__(self, zf: zipfile.ZipFile, path: Path) -> None:
        self._zf, self._path = zf, path
        self._members = {name[:-len(_NPY)]: name for name in zf.namelist()
                         if name.endswith(_NPY) and name != SIDECAR_MARKER + _NPY}

    def __getitem__(self, key: str) -> np.ndarray:
        name = self._members[key]   # KeyError: the parser reports the missing key
        try:
            return self._read(name)
        except _ZIP_ERRORS as e:
            raise InputError(f"{self._path}: cannot read array '{key}': {e}") from None

    def _read(self, name: str) -> np.ndarray:
        """One ``.npy`` member, checking its header against the member's size
        before allocating (a corrupt header cannot ask for terabytes)."""
        info = self._zf.getinfo(name)
        fmt = np.lib.format
        with self._zf.open(info) as m:
            version = fmt.read_magic(m)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(m)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(m)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
            if dtype.hasobject:
                raise ValueError("it holds Python objects (irc sidecars hold numbers only)")
            nbytes = math.prod(shape) * dtype.itemsize
            if nbytes > info.file_size:
                raise ValueError(f"its header claims {nbytes} bytes of data "
                                 f"({list(shape)} x {dtype}), but the member has "
                                 f"{info.file_size} bytes")
            data = m.read(nbytes)
        if len(data) != nbytes:
            raise ValueError(f"truncated: {len(data)} of {nbytes} bytes of data")
        arr = np.frombuffer(data, dtype=dtype)
        return arr.reshape(shape, order="F" if fortran else "C")

    def __iter__(self) -> Iterator[str]:
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)


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
        zf = zipfile.ZipFile(npz)
    except _ZIP_ERRORS as e:
        raise InputError(f"{npz}: cannot read the sidecar of {p}: {e}") from None
    with zf:
        return parse_graph(text, sidecar=_Sidecar(zf, npz), filename=str(p),
                           sidecar_file=str(npz))
