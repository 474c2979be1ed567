"""Read an ``.ircm`` artifact's tables back (for ``irc show`` and tests).

This is a description of the file, not a loader: the C runtime is the one
program that runs artifacts, and it checks everything (docs/artifact.md).  The
reader checks enough to describe a file honestly (magic, version, bounds,
checksums) and raises :class:`ArtifactError` otherwise.  :meth:`ArtifactInfo.constant`
reads a constant back, decoding csr/bsr blobs (:mod:`irc.sparse_format`, which checks
every rule of the blob layout).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..sparse_format import SparseFormatError, decode_blob
from . import opcodes
from .lowering import ArtifactError

_DTYPE_BY_SHORT = {k.short: k for k in opcodes.DTYPES}
_DTYPE_NAMES = {v: k.short for k, v in opcodes.DTYPES.items()}
_ENCODING_NAMES = {v: k for k, v in opcodes.ENCODINGS.items()}
_OP_NAMES = {v: k for k, v in opcodes.OPS.items()}
_TARGET_NAMES = {v: k for k, v in opcodes.TARGETS.items()}


@dataclass
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    const: bool
    offset: int
    nbytes: int
    scale: float | None
    zero_point: int | None
    encoding: str = "dense"                 # dense, csr, bsr (or "?N" for an unknown code)
    encoding_params: tuple[int, ...] = ()   # csr/bsr: r, c, nnzb, index_bytes

    @property
    def encoding_label(self) -> str:
        """``dense``, ``csr`` or ``bsr<r x c>``, as the IR prints it."""
        if self.encoding == "bsr" and self.encoding_params:
            return f"bsr<{self.encoding_params[0]}x{self.encoding_params[1]}>"
        return self.encoding


@dataclass
class ArtifactInfo:
    version: tuple[int, int]
    target: str
    size: int
    arena_size: int
    tensors: list[TensorInfo] = field(default_factory=list)
    nodes: list[tuple[str, str]] = field(default_factory=list)      # (op, name)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    sections: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (offset, size)
    data: bytes = field(default=b"", repr=False)                        # the DATA section

    @property
    def constant_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors if t.const)

    def constant(self, name: str) -> np.ndarray:
        """The value of constant ``name`` (decoded when stored csr/bsr)."""
        t = next((t for t in self.tensors if t.name == name), None)
        if t is None or not t.const:
            raise ArtifactError(f"no constant tensor '{name}' in the artifact")
        dtype = _DTYPE_BY_SHORT.get(t.dtype)
        if dtype is None:
            raise ArtifactError(f"tensor '{name}': unknown dtype {t.dtype}")
        if t.offset + t.nbytes > len(self.data):
            raise ArtifactError(f"tensor '{name}': bytes [{t.offset}, +{t.nbytes}) lie outside "
                                f"DATA ({len(self.data)} bytes)")
        blob = self.data[t.offset:t.offset + t.nbytes]
        if t.encoding == "dense":
            want = int(np.prod(t.shape, dtype=np.int64)) * dtype.storage.itemsize
            if t.nbytes != want:
                raise ArtifactError(f"tensor '{name}': {t.nbytes} bytes for a dense "
                                    f"{t.dtype}{list(t.shape)} (expected {want})")
            return np.frombuffer(blob, dtype.storage.newbyteorder("<")).astype(
                dtype.storage).reshape(t.shape)
        if t.encoding not in ("csr", "bsr"):
            raise ArtifactError(f"tensor '{name}': encoding {t.encoding} is not readable")
        try:
            return decode_blob(blob, t.encoding_params, t.shape, dtype, what=f"tensor '{name}'")
        except SparseFormatError as e:
            raise ArtifactError(str(e)) from None


def read_artifact(source: str | Path | bytes) -> ArtifactInfo:
    blob = source if isinstance(source, bytes) else Path(source).read_bytes()
    where = "artifact" if isinstance(source, bytes) else str(source)

    def bad(msg: str) -> ArtifactError:
        return ArtifactError(f"{where}: {msg}")

    if len(blob) < opcodes.HEADER_SIZE or blob[:8] != opcodes.MAGIC:
        raise bad("not an irc artifact (bad magic)")
    (major, minor, _hsize, fsize, target, _req, _flags, nsec, table,
     arena) = struct.unpack_from("<HHIQIIIIQQ", blob, 8)
    if major != opcodes.FORMAT_MAJOR:
        raise bad(f"format {major}.{minor}; this irc reads {opcodes.FORMAT_MAJOR}.x")
    if fsize != len(blob):
        raise bad(f"truncated: header says {fsize} bytes, file has {len(blob)}")
    if zlib.crc32(blob[:60]) != struct.unpack_from("<I", blob, 60)[0]:
        raise bad("header checksum mismatch")
    info = ArtifactInfo((major, minor), _TARGET_NAMES.get(target, f"?{target}"), len(blob), arena)
    if table + nsec * opcodes.SECTION_ENTRY_SIZE > len(blob):
        raise bad("section table outside the file")
    sec: dict[str, bytes] = {}
    for i in range(nsec):
        kind, _f, off, size, crc, _r = struct.unpack_from("<4sIQQII", blob,
                                                          table + i * opcodes.SECTION_ENTRY_SIZE)
        name = kind.decode("ascii", "replace")
        if off + size > len(blob) or zlib.crc32(blob[off:off + size]) != crc:
            raise bad(f"section {name} is out of bounds or corrupt")
        sec[name] = blob[off:off + size]
        info.sections[name] = (off, size)
    missing = [k for k in opcodes.SECTIONS if k not in sec]
    if missing:
        raise bad(f"missing sections {missing}")
    strs = sec["STRS"]
    info.data = sec["DATA"]

    def string(ref: int) -> str:
        end = strs.index(b"\0", ref)
        return strs[ref:end].decode("utf-8", "replace")

    count, rsize = struct.unpack_from("<II", sec["TENS"], 0)
    for i in range(count):
        r = struct.unpack_from("<IBBBB6IQQfiiI4I", sec["TENS"], 8 + i * rsize)
        name, dt, rank, storage, quant = r[:5]
        dims = r[5:11]
        off, nbytes, scale, zp = r[11:15]
        enc = _ENCODING_NAMES.get(r[16], f"?{r[16]}")
        info.tensors.append(TensorInfo(string(name), _DTYPE_NAMES.get(dt, f"?{dt}"),
                                       tuple(dims[:rank]), storage == 1, off, nbytes,
                                       scale if quant == 1 else None, zp if quant == 1 else None,
                                       enc, tuple(r[17:21]) if enc != "dense" else ()))
    count, rsize = struct.unpack_from("<II", sec["NODE"], 0)
    for i in range(count):
        op, name = struct.unpack_from("<II", sec["NODE"], 8 + i * rsize)
        info.nodes.append((_OP_NAMES.get(op, f"?{op}"), string(name)))
    n_in, n_out = struct.unpack_from("<II", sec["GRPH"], 0)
    refs = struct.unpack_from(f"<{n_in + n_out}I", sec["GRPH"], 8)
    info.inputs = [info.tensors[i].name for i in refs[:n_in]]
    info.outputs = [info.tensors[i].name for i in refs[n_in:]]
    return info
