"""``load`` and ``save`` by file extension.

Formats: ``.irc`` (text form plus a sidecar ``.npz`` for large constants),
``.onnx`` (read: :mod:`irc.frontend.onnx_import`; write, float graphs at opset
17: :mod:`irc.frontend.onnx_export`), ``.ircm`` (write: :mod:`irc.artifact`;
the C runtime reads it, ``irc.runtime.Session``).

Every file irc writes goes through :class:`AtomicFiles` (or its one-file forms
:func:`atomic_write` and :func:`atomic_write_bytes`): a temporary file in the
target's directory, fsync, rename.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping, Sequence

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
    if ".onnx" not in _LOADERS:
        def load_onnx(p: Path, input_shapes: Mapping[str, Sequence[int]] | None = None,
                      **kw: Any) -> Graph:
            from .frontend.onnx_import import import_onnx
            return import_onnx(p, input_shapes)
        register_format(".onnx", loader=load_onnx)
    if ".ircm" not in _SAVERS:
        def save_ircm(g: Graph, p: Path) -> None:
            from .artifact import write_artifact
            write_artifact(g, p)        # atomic_write_bytes inside
        register_format(".ircm", saver=save_ircm)
    if ".onnx" not in _SAVERS:
        def save_onnx(g: Graph, p: Path) -> None:
            from .frontend.onnx_export import save_onnx as export_and_write
            export_and_write(g, p)      # serialized, then atomic_write_bytes
        register_format(".onnx", saver=save_onnx)


def load(path: str | os.PathLike[str],
         input_shapes: Mapping[str, Sequence[int]] | None = None) -> Graph:
    """Read a model; the extension picks the format (``.irc``, ``.onnx``)."""
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


# ---------------------------------------------------------------------------
# Atomic writes: the one implementation (textio and the CLI use it)
# ---------------------------------------------------------------------------

# The process umask, for the mode of new files (mkstemp creates 0o600).  It can
# only be read by setting it, so read it once, at import.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


class AtomicFiles:
    """Write several files so that they all land or none does.

    ::

        with AtomicFiles() as files:
            with files.open("model.npz", "wb") as f:
                f.write(sidecar_bytes)
            files.open("model.irc", "w", encoding="utf-8").write(text)

    :meth:`open` creates a temporary file next to its target (``mkstemp`` in the
    same directory, so the final rename never crosses file systems) with the
    permissions a new file would get (``0o666 & ~umask``).  On a clean exit from
    the ``with`` block every temporary file is flushed and fsync-ed, then each
    is renamed onto its target with ``os.replace`` in the order the files were
    opened, and the directories are fsync-ed.  If the block raises, or writing,
    syncing or any rename fails, every temporary file is removed and the
    targets already replaced in this commit are put back (an existing target is
    hard-linked aside before it is replaced, where the file system has hard
    links; a new one is removed), so on an error the targets are as they were.

    Each rename is atomic on its own; the group is atomic with respect to
    errors, not to a crash between two renames (a POSIX file system has no
    multi-file rename).  Open the files in an order where a partial commit is
    the lesser harm: :func:`irc.textio.save_text` renames the sidecar before
    the text that refers to it.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[str, Path, IO[Any]]] = []   # (temp, target, file)
        self._done = False

    def open(self, path: str | os.PathLike[str], mode: str = "wb", *,
             encoding: str | None = None, newline: str | None = None) -> IO[Any]:
        """A new file object whose contents replace ``path`` when the group commits.

        ``mode`` is ``"wb"`` or ``"w"`` (text; give ``encoding``).  Closing the
        file early is fine; it is synced at commit either way."""
        if self._done:
            raise RuntimeError("AtomicFiles: open() after the group was committed or aborted")
        if mode not in ("w", "wb"):
            raise ValueError(f"AtomicFiles.open: mode must be 'w' or 'wb', not {mode!r}")
        target = Path(path)
        if any(os.path.abspath(t) == os.path.abspath(target) for _, t, _ in self._pending):
            raise ValueError(f"AtomicFiles: {target} is opened twice")
        directory = target.parent if str(target.parent) else Path(".")
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
        try:
            os.chmod(tmp, 0o666 & ~_UMASK)
            f = os.fdopen(fd, mode, encoding=encoding, newline=newline)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        self._pending.append((tmp, target, f))
        return f

    def __enter__(self) -> "AtomicFiles":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def abort(self) -> None:
        """Discard every temporary file; no target is touched."""
        self._done = True
        for tmp, _, f in self._pending:
            with contextlib.suppress(OSError):
                f.close()
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self._pending = []

    def commit(self) -> None:
        """Sync every temporary file, then rename each onto its target (see the class doc)."""
        if self._done:
            raise RuntimeError("AtomicFiles: the group was already committed or aborted")
        try:
            for tmp, _, f in self._pending:
                _sync_and_close(tmp, f)
        except BaseException:
            self.abort()
            raise
        self._done = True
        replaced: list[tuple[Path, str | None, bool]] = []   # (target, backup, existed)
        try:
            for tmp, target, _ in self._pending:
                existed = os.path.lexists(target)
                backup = _link_aside(target) if existed else None
                try:
                    os.replace(tmp, target)
                except BaseException:
                    if backup is not None:
                        with contextlib.suppress(OSError):
                            os.unlink(backup)
                    raise
                replaced.append((target, backup, existed))
        except BaseException:
            for target, backup, existed in reversed(replaced):   # best effort: put back
                with contextlib.suppress(OSError):
                    if backup is not None:
                        os.replace(backup, target)
                    elif not existed:
                        os.unlink(target)
            for tmp, _, _ in self._pending:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            self._pending = []
            raise
        for _, backup, _ in replaced:
            if backup is not None:
                with contextlib.suppress(OSError):
                    os.unlink(backup)
        for directory in {os.path.dirname(os.path.abspath(t)) for _, t, _ in self._pending}:
            _fsync_dir(directory)
        self._pending = []


def _sync_and_close(tmp: str, f: IO[Any]) -> None:
    if f.closed:   # closed by the caller: reopen to sync what it wrote
        fd = os.open(tmp, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return
    f.flush()
    os.fsync(f.fileno())
    f.close()


def _link_aside(target: Path) -> str | None:
    """A hard link to the current ``target`` under a fresh hidden name (None if the
    file system cannot link: then a failed commit cannot restore this target)."""
    for _ in range(100):
        backup = str(target.with_name(f".{target.name}.{secrets.token_hex(6)}.bak"))
        try:
            os.link(target, backup, follow_symlinks=False)   # a symlink is kept as one
            return backup
        except FileExistsError:
            continue
        except (OSError, NotImplementedError):
            return None
    return None


def _fsync_dir(directory: str) -> None:
    """Make the renames in ``directory`` durable (a no-op where directories cannot
    be opened, e.g. on Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb", *,
                 encoding: str | None = None, newline: str | None = None) -> Iterator[IO[Any]]:
    """``with atomic_write(p) as f: ...``: ``p`` gets what was written to ``f``
    (temp file, fsync, rename) if the block succeeds, and is untouched otherwise."""
    with AtomicFiles() as files:
        yield files.open(path, mode, encoding=encoding, newline=newline)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably (see :class:`AtomicFiles`)."""
    with atomic_write(path, "wb") as f:
        f.write(data)
