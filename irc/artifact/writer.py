"""Write a graph as an ``.ircm`` artifact (docs/artifact.md, format 1.1).

:func:`build_artifact` cleans a copy of the graph (constant folding, no-op and
dead-code elimination), lowers it to the runtime's program
(:mod:`irc.artifact.lowering`), takes the memory plan from ``plan-memory`` (or
computes it), and lays out the sections.  :func:`write_artifact` writes the
bytes atomically.
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import Sequence

import numpy as np

from ..io import atomic_write_bytes
from ..ir import Graph
from ..sparse_format import encode_blob, sparse_params
from ..types import PerAxis, PerTensor
from . import opcodes
from .lowering import ArtifactError, Program, lower_program

CLEANUP = "fold,noop-elim,dce"


def _pad(buf: bytearray, align: int) -> None:
    buf.extend(b"\0" * (-len(buf) % align))


class _Strings:
    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self.index: dict[str, int] = {"": 0}

    def ref(self, s: str) -> int:
        if s not in self.index:
            self.index[s] = len(self.data)
            self.data += s.encode("utf-8") + b"\0"
        return self.index[s]


def prepare_graph(graph: Graph) -> Graph:
    """A cleaned copy of ``graph`` ready for lowering."""
    import irc
    return irc.compile(graph, CLEANUP, target=graph.attrs.get("target", "generic"))


def program_and_plan(graph: Graph, clean: bool = True) -> tuple[Program, "object"]:
    """The runtime program of ``graph`` and its memory plan (the one ``plan-memory``
    stored, when it still matches; else a fresh one)."""
    from ..passes.plan_memory import MemoryPlan, check_plan, fingerprint, plan_program
    g = prepare_graph(graph) if clean else graph
    program = lower_program(g)
    stored = graph.attrs.get("memory_plan")
    if stored and tuple(tuple(f) for f in stored.get("fingerprint", ())) == fingerprint(program) \
            and check_plan(program, stored["offsets"], stored["arena_size"]) is None:
        plan = MemoryPlan(dict(stored["offsets"]), stored["arena_size"], stored["naive"],
                          stored["lower_bound"], fingerprint(program))
    else:
        plan = plan_program(program)
    return program, plan


def build_artifact(graph: Graph, target: str | None = None) -> bytes:
    """The ``.ircm`` bytes of ``graph`` for ``target`` (default: the graph's
    ``attrs["target"]``, else ``generic``)."""
    target = target or graph.attrs.get("target", "generic")
    if target not in opcodes.TARGETS:
        raise ArtifactError(f"unknown target '{target}' (choose from "
                            f"{', '.join(opcodes.TARGETS)})")
    program, plan = program_and_plan(graph)
    return serialize(program, plan.offsets, plan.arena_size, target)  # type: ignore[attr-defined]


def serialize(program: Program, offsets: dict[str, int], arena_size: int,
              target: str = "generic") -> bytes:
    """Lay out the sections of ``program`` with the arena ``offsets``."""
    strings = _Strings()
    names = list(program.tensors)
    index = {n: i for i, n in enumerate(names)}

    # DATA: constants, each 64-aligned (the section itself starts 64-aligned in the file)
    # (csr/bsr constants: their blob, with encoding code and parameters [r, c, nnzb, index_bytes])
    data = bytearray()
    const_offset: dict[str, int] = {}
    stored: dict[str, tuple[int, int, list[int]]] = {}     # name -> (nbytes, encoding, params)
    for n in names:
        t = program.tensors[n]
        if t.const is None:
            continue
        _pad(data, opcodes.ALIGN)
        const_offset[n] = len(data)
        rc = sparse_params(t.encoding) if t.encoding is not None else None
        if rc is None:
            blob = np.ascontiguousarray(t.const, dtype=t.dtype.storage.newbyteorder("<")).tobytes()
            stored[n] = (len(blob), 0, [0, 0, 0, 0])
        else:
            if len(t.shape) < 1:
                raise ArtifactError(f"tensor %{n}: a {t.encoding} constant needs rank >= 1")
            blob, params = encode_blob(t.const.reshape(t.shape[0], -1), *rc)
            stored[n] = (len(blob), opcodes.ENCODINGS[t.encoding.kind], params)  # type: ignore
        data += blob

    tens = bytearray(struct.pack("<II", len(names), opcodes.TENSOR_RECORD_SIZE))
    for n in names:
        t = program.tensors[n]
        if len(t.shape) > 6:
            raise ArtifactError(f"tensor %{n} has rank {len(t.shape)}; the runtime takes up to 6")
        if any(d < 1 for d in t.shape):
            raise ArtifactError(f"tensor %{n} has an empty dimension {t.shape}")
        dims = list(t.shape) + [0] * (6 - len(t.shape))
        quant, scale, zp, axis = 0, 0.0, 0, 0
        if isinstance(t.quant, PerTensor):
            quant, scale, zp = 1, t.quant.scale, t.quant.zero_point
        elif isinstance(t.quant, PerAxis):
            quant, axis = 2, t.quant.axis
        nbytes, enc, enc_params = t.nbytes, 0, [0, 0, 0, 0]
        if t.const is not None:
            storage, off = 1, const_offset[n]
            nbytes, enc, enc_params = stored[n]
        else:
            if n not in offsets:
                raise ArtifactError(f"tensor %{n} has no arena offset (stale memory plan)")
            storage, off = 0, offsets[n]
        tens += struct.pack("<IBBBB6IQQfiiI4I", strings.ref(n), opcodes.DTYPES[t.dtype],
                            len(t.shape), storage, quant, *dims, off, nbytes, scale, zp, axis,
                            enc, *enc_params)

    args: list[int] = []
    params: list[int] = []
    node_recs = bytearray(struct.pack("<II", len(program.nodes), opcodes.NODE_RECORD_SIZE))
    for node in program.nodes:
        first_arg, first_param = len(args), len(params)
        args += [opcodes.NONE if t is None else index[t] for t in node.inputs]
        args += [index[t] for t in node.outputs]
        for p in node.params:
            if not -(1 << 31) <= p < (1 << 31):
                raise ArtifactError(f"node %{node.name} ({node.op}): parameter {p} does not fit "
                                    "in 32 bits")
        params += node.params
        node_recs += struct.pack("<IIIHHIIII", opcodes.OPS[node.op], strings.ref(node.name),
                                 first_arg, len(node.inputs), len(node.outputs), first_param,
                                 len(node.params), 0, 0)
    args_sec = struct.pack(f"<I{len(args)}I", len(args), *args)
    prms_sec = struct.pack(f"<I{len(params)}i", len(params), *params)
    grph = struct.pack(f"<II{len(program.inputs) + len(program.outputs)}I", len(program.inputs),
                       len(program.outputs), *[index[t] for t in program.inputs + program.outputs])

    sections = [("STRS", bytes(strings.data)), ("TENS", bytes(tens)), ("NODE", bytes(node_recs)),
                ("ARGS", args_sec), ("PRMS", prms_sec), ("GRPH", grph), ("DATA", bytes(data))]
    table_offset = opcodes.HEADER_SIZE
    body = bytearray()
    pos = table_offset + opcodes.SECTION_ENTRY_SIZE * len(sections)
    entries = []
    for kind, payload in sections:
        align = opcodes.ALIGN if kind == "DATA" else 8
        gap = -pos % align
        body += b"\0" * gap
        pos += gap
        entries.append(struct.pack("<4sIQQII", kind.encode(), 0, pos, len(payload),
                                   zlib.crc32(payload), 0))
        body += payload
        pos += len(payload)
    file_size = pos
    header = bytearray(struct.pack("<8sHHIQIIIIQQI", opcodes.MAGIC, opcodes.FORMAT_MAJOR,
                                   opcodes.FORMAT_MINOR, opcodes.HEADER_SIZE, file_size,
                                   opcodes.TARGETS[target], 0, 0, len(sections), table_offset,
                                   arena_size, 0))
    header += struct.pack("<I", zlib.crc32(bytes(header)))
    assert len(header) == opcodes.HEADER_SIZE
    return bytes(header) + b"".join(entries) + bytes(body)


def write_artifact(graph: Graph, path: str | os.PathLike[str], target: str | None = None) -> int:
    """Write ``graph`` to ``path`` as an ``.ircm`` artifact (atomically); returns its size."""
    blob = build_artifact(graph, target)
    atomic_write_bytes(path, blob)
    return len(blob)


__all__: Sequence[str] = ("build_artifact", "serialize", "write_artifact", "program_and_plan",
                          "prepare_graph")
