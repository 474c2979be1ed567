"""``Session``: run an ``.ircm`` artifact in the C runtime from Python.

::

    from irc.runtime import Session
    s = Session("model.ircm", num_threads=2)
    out = s.run({"x": x})            # {output name: ndarray}

Inputs are checked against the artifact (name, dtype, shape) before they reach
C; every runtime failure raises :class:`RuntimeError_` with the runtime's own
message (file offset, node, tensor).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import IrcError
from ._irc_runtime import ffi, lib

_DTYPES = {lib.IRC_F32: np.dtype(np.float32), lib.IRC_I32: np.dtype(np.int32),
           lib.IRC_I8: np.dtype(np.int8), lib.IRC_U8: np.dtype(np.uint8),
           lib.IRC_I64: np.dtype(np.int64), lib.IRC_BOOL: np.dtype(np.bool_)}

ISAS = {"scalar": lib.IRC_ISA_SCALAR, "avx2": lib.IRC_ISA_AVX2,
        "avx512vnni": lib.IRC_ISA_AVX512VNNI, "neon": lib.IRC_ISA_NEON,
        "neondot": lib.IRC_ISA_NEON_DOT}
# Each level's ISA bits (what isa= caps the session to).
_LEVEL_BITS = {"scalar": lib.IRC_ISA_SCALAR,
               "avx2": lib.IRC_ISA_SCALAR | lib.IRC_ISA_AVX2,
               "avx512vnni": lib.IRC_ISA_SCALAR | lib.IRC_ISA_AVX2 | lib.IRC_ISA_AVX512VNNI,
               "neon": lib.IRC_ISA_SCALAR | lib.IRC_ISA_NEON,
               "neondot": lib.IRC_ISA_SCALAR | lib.IRC_ISA_NEON | lib.IRC_ISA_NEON_DOT}


class RuntimeError_(IrcError):
    """The C runtime refused an artifact or failed a run; the message is its own."""


def version() -> str:
    return ffi.string(lib.irc_version_string()).decode()


def available_isas() -> list[str]:
    """Kernel levels this build has and this CPU runs, worst first (``scalar`` first)."""
    bits = lib.irc_available_isas()
    return [name for name, bit in ISAS.items() if bits & bit]


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    scale: float | None
    zero_point: int | None


class Session:
    """An artifact loaded into the C runtime.

    ``source``: a path or the artifact's bytes.  ``num_threads``: worker threads
    (the caller counts as one).  ``isa``: cap the kernels to one level
    (``"scalar"``, ``"avx2"``, ``"avx512vnni"``, ``"neon"``, ``"neondot"``; default:
    the best the CPU has) — tests use it to compare ISAs.  ``max_arena_bytes``:
    refuse models needing more activation memory.  ``profile``: time every node of
    every run (:meth:`profile`)."""

    def __init__(self, source: str | os.PathLike[str] | bytes, num_threads: int = 1,
                 isa: str | None = None, max_arena_bytes: int | None = None,
                 profile: bool = False) -> None:
        self._s = ffi.NULL
        opts = ffi.new("irc_options *")
        lib.irc_options_init(opts)
        if not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f"num_threads must be a positive integer, got {num_threads!r}")
        opts.num_threads = num_threads
        if isa is not None:
            if isa not in _LEVEL_BITS:
                raise ValueError(f"unknown isa '{isa}' (choose from {', '.join(_LEVEL_BITS)})")
            opts.isa_mask = _LEVEL_BITS[isa]
        if max_arena_bytes is not None:
            opts.max_arena_bytes = max_arena_bytes
        opts.profile = int(bool(profile))
        out = ffi.new("irc_session **")
        st = lib.irc_session_create(opts, out)
        if st != lib.IRC_OK:
            raise RuntimeError_(f"cannot create a runtime session: "
                                f"{ffi.string(lib.irc_status_string(st)).decode()}")
        self._s = ffi.gc(out[0], lib.irc_session_destroy)
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            st = lib.irc_session_load_memory(self._s, data, len(data))
        else:
            path = os.fspath(source)
            if not os.path.exists(path):
                raise RuntimeError_(f"{path}: no such file")
            st = lib.irc_session_load_file(self._s, os.fsencode(path))
        self._check(st)
        self.inputs = [self._spec(i, True) for i in range(lib.irc_session_num_inputs(self._s))]
        self.outputs = [self._spec(i, False) for i in range(lib.irc_session_num_outputs(self._s))]
        self.isa = ffi.string(lib.irc_session_isa(self._s)).decode()
        self.arena_size = int(lib.irc_session_arena_size(self._s))
        self.num_threads = num_threads

    def _check(self, status: int) -> None:
        if status != lib.IRC_OK:
            msg = ffi.string(lib.irc_session_error(self._s)).decode("utf-8", "replace")
            kind = ffi.string(lib.irc_status_string(status)).decode()
            raise RuntimeError_(msg or kind)

    def _spec(self, i: int, is_input: bool) -> TensorSpec:
        info = ffi.new("irc_tensor_info *")
        fn = lib.irc_session_input_info if is_input else lib.irc_session_output_info
        self._check(fn(self._s, i, info))
        return TensorSpec(ffi.string(info.name).decode(), _DTYPES[info.dtype],
                          tuple(int(info.dims[d]) for d in range(info.rank)),
                          float(info.scale) if info.quantized else None,
                          int(info.zero_point) if info.quantized else None)

    def set_inputs(self, inputs: Mapping[str, Any] | Sequence[Any]) -> None:
        """Copy ``inputs`` (by name, or in order) into the session, checked against the
        artifact's names, shapes and dtypes."""
        if not isinstance(inputs, Mapping):
            items = list(inputs)
            if len(items) != len(self.inputs):
                raise ValueError(f"the model takes {len(self.inputs)} inputs, got {len(items)}")
            inputs = {spec.name: x for spec, x in zip(self.inputs, items)}
        unknown = set(inputs) - {s.name for s in self.inputs}
        if unknown:
            raise ValueError(f"unknown input(s) {sorted(unknown)}; the model takes "
                             f"{[s.name for s in self.inputs]}")
        for i, spec in enumerate(self.inputs):
            if spec.name not in inputs:
                raise ValueError(f"missing input '{spec.name}' ({spec.dtype}{list(spec.shape)})")
            x = np.asarray(inputs[spec.name])
            if x.shape != spec.shape:
                raise ValueError(f"input '{spec.name}' has shape {x.shape}, the model takes "
                                 f"{spec.shape}")
            if x.dtype != spec.dtype:
                if not np.can_cast(x.dtype, spec.dtype, "same_kind"):
                    raise ValueError(f"input '{spec.name}' is {x.dtype}, the model takes "
                                     f"{spec.dtype}")
                x = x.astype(spec.dtype)
            x = np.ascontiguousarray(x)
            self._check(lib.irc_session_set_input(self._s, i, ffi.from_buffer(x), x.nbytes))

    def invoke(self) -> None:
        """Run once on the inputs already set (what a latency benchmark times)."""
        self._check(lib.irc_session_run(self._s))

    def get_outputs(self) -> dict[str, np.ndarray]:
        """Copies of the outputs of the last run, by name."""
        out = {}
        for i, spec in enumerate(self.outputs):
            y = np.empty(spec.shape, spec.dtype)
            self._check(lib.irc_session_get_output(self._s, i, ffi.from_buffer(y), y.nbytes))
            out[spec.name] = y
        return out

    def run(self, inputs: Mapping[str, Any] | Sequence[Any]) -> dict[str, np.ndarray]:
        """Run once; ``inputs`` by name (or in order).  Returns fresh arrays by output name."""
        self.set_inputs(inputs)
        self.invoke()
        return self.get_outputs()

    def profile(self) -> list[tuple[str, str, float]]:
        """``(node, op, seconds)`` of every node in the last run (zeros unless the session
        was created with ``profile=True``)."""
        name, op, sec = ffi.new("const char **"), ffi.new("const char **"), ffi.new("double *")
        out = []
        for i in range(lib.irc_session_num_nodes(self._s)):
            self._check(lib.irc_session_node_profile(self._s, i, name, op, sec))
            out.append((ffi.string(name[0]).decode(), ffi.string(op[0]).decode(), float(sec[0])))
        return out

    def __repr__(self) -> str:
        return (f"<irc.runtime.Session isa={self.isa} inputs={[s.name for s in self.inputs]} "
                f"arena={self.arena_size}>")
