"""Loading passes from outside irc: user files and installed plugins.

* ``irc compile --load mypass.py`` / :func:`load_pass_file`: import a Python file
  so its ``@register_pass`` classes register.
* Installed distributions declare entry points in the ``irc.passes`` group::

      [project.entry-points."irc.passes"]
      example = "irc_example_plugin"              # a module: importing it registers
      single = "my_pkg.passes:MyPass"             # or one Pass class

  :func:`load_entry_point_passes` loads them all; :func:`irc.pass_manager.get_pass`
  and :func:`~irc.pass_manager.all_passes` call it once, lazily.

Every failure is a :class:`~irc.errors.PluginError` naming the file (and line)
or the distribution and entry point; two passes with one name are an error
naming both definitions, never a silent override.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import PluginError
from .pass_base import _REGISTRY, Pass, register_pass, registering_from

__all__ = ["ENTRY_POINT_GROUP", "load_pass_file", "load_entry_point_passes",
           "load_builtin_passes"]

ENTRY_POINT_GROUP = "irc.passes"

#: resolved path -> passes the file registered (a file is imported once)
_LOADED_FILES: dict[Path, list[type[Pass]]] = {}


def _new_passes(before: dict[str, type[Pass]]) -> list[type[Pass]]:
    return [cls for name, cls in _REGISTRY.items() if before.get(name) is not cls]


def _restore(before: dict[str, type[Pass]]) -> None:
    from .pass_base import _SOURCES
    for name in list(_REGISTRY):
        if name not in before:
            del _REGISTRY[name]
            _SOURCES.pop(name, None)


def _error_line(e: BaseException, filename: str) -> int | None:
    """The last line of ``filename`` in ``e``'s traceback."""
    line = None
    for frame in traceback.extract_tb(e.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    return line


def load_pass_file(path: str | Path) -> list[type[Pass]]:
    """Import the Python file ``path`` so the passes it defines register; returns
    them.  Loading one file twice imports it once.  A missing file, a syntax
    error or an exception while importing is a :class:`PluginError` naming the
    file (and line); passes the file registered before failing are dropped."""
    p = Path(path)
    if not p.exists():
        raise PluginError(f"pass file {path}: no such file")
    if not p.is_file():
        raise PluginError(f"pass file {path}: not a file")
    resolved = p.resolve()
    if resolved in _LOADED_FILES:
        return list(_LOADED_FILES[resolved])
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    stem = re.sub(r"\W", "_", resolved.stem)
    modname = f"_irc_user_passes_{stem}_{digest}"
    spec = importlib.util.spec_from_file_location(modname, resolved)
    if spec is None or spec.loader is None:
        raise PluginError(f"pass file {path}: cannot be imported as Python (use a .py file)")
    module = importlib.util.module_from_spec(spec)
    before = dict(_REGISTRY)
    sys.modules[modname] = module      # dataclasses look the module up while building
    try:
        with registering_from(f"file {path}"):
            spec.loader.exec_module(module)
    except SyntaxError as e:
        _undo(modname, before)
        where = f"{path}:{e.lineno}" if e.lineno else str(path)
        raise PluginError(f"{where}: syntax error in pass file: {e.msg}") from e
    except PluginError as e:
        _undo(modname, before)
        raise PluginError(f"while loading pass file {path}: {e}") from e
    except Exception as e:
        _undo(modname, before)
        line = _error_line(e, str(resolved))
        where = f"{path}:{line}" if line else str(path)
        raise PluginError(f"{where}: error while loading pass file: "
                          f"{type(e).__name__}: {e}") from e
    found = _new_passes(before)
    _LOADED_FILES[resolved] = found
    return list(found)


def _undo(modname: str, before: dict[str, type[Pass]]) -> None:
    sys.modules.pop(modname, None)
    _restore(before)


def _describe(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    dist_name = getattr(dist, "name", None) or "an unknown distribution"
    return f"entry point '{ep.name} = {ep.value}' of distribution '{dist_name}'"


def load_entry_point_passes(group: str = ENTRY_POINT_GROUP) -> list[type[Pass]]:
    """Load every entry point in ``group``: each names a module (importing it
    registers its passes) or a Pass class (registered here).  Returns the passes
    that were newly registered.  Idempotent: loading again registers nothing
    new.  A broken plugin or a name clash is a :class:`PluginError` naming the
    distribution and entry point."""
    before = dict(_REGISTRY)
    for ep in importlib.metadata.entry_points(group=group):
        origin = _describe(ep)
        with registering_from(origin):
            try:
                obj = ep.load()
            except PluginError as e:
                raise PluginError(f"irc pass plugin {origin}: {e}") from e
            except Exception as e:
                raise PluginError(f"irc pass plugin {origin} failed to load: "
                                  f"{type(e).__name__}: {e} (fix or uninstall the plugin)") from e
            _register_object(obj, origin)
    return _new_passes(before)


def _register_object(obj: Any, origin: str) -> None:
    if isinstance(obj, ModuleType):
        return                       # importing it registered its passes
    if isinstance(obj, type) and issubclass(obj, Pass):
        if _REGISTRY.get(obj.name) is obj:
            return
        try:
            register_pass(obj)
        except PluginError as e:
            raise PluginError(f"irc pass plugin {origin}: {e}") from e
        return
    raise PluginError(f"irc pass plugin {origin} refers to {obj!r}, which is neither a module "
                      "nor a subclass of irc.pass_manager.Pass")


def load_builtin_passes() -> None:
    """Import the built-in passes (the ``irc.passes`` package registers them
    all on import).  Nothing happens when irc runs from a tree where the
    package is not importable."""
    try:
        importlib.import_module("irc.passes")
    except ModuleNotFoundError as e:
        if e.name not in ("irc.passes", "irc"):
            raise

