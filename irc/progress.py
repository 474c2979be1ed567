"""A minimal progress bar for long loops (calibration, evaluation, training).

Draws ``label: 37/200 [00:04<00:17]`` on stderr, redrawn in place, only when
stderr is a terminal (or ``force=True``), so logs and tests stay clean.  Set
``IRC_PROGRESS=0`` to silence it, ``IRC_PROGRESS=1`` to force it.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable, Iterable, Iterator, TextIO, TypeVar

T = TypeVar("T")


def _enabled(stream: TextIO, force: bool | None) -> bool:
    env = os.environ.get("IRC_PROGRESS")
    if env is not None:
        return env not in ("0", "", "false")
    if force is not None:
        return force
    return bool(getattr(stream, "isatty", lambda: False)())


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m:02d}:{s:02d}"


def progress(items: Iterable[T], label: str, total: int | None = None, *,
             stream: TextIO | None = None, force: bool | None = None,
             unit: str = "", status: Callable[[], str] | None = None) -> Iterator[T]:
    """Yield ``items`` while drawing a progress line (at most ~10 redraws/s);
    ``status()`` adds live text after it (a training loss, an accuracy)."""
    out = stream or sys.stderr
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if not _enabled(out, force):
        yield from items
        return
    start = last = time.monotonic()
    done = 0
    suffix = f" {unit}" if unit else ""

    def draw(final: bool = False) -> None:
        el = time.monotonic() - start
        if total:
            eta = el / done * (total - done) if done else 0.0
            out.write(f"\r{label}: {done}/{total}{suffix} [{_clock(el)}<{_clock(eta)}]")
        else:
            out.write(f"\r{label}: {done}{suffix} [{_clock(el)}]")
        if status is not None:
            out.write(f" {status()}\033[K")
        if final:
            out.write("\n")
        out.flush()

    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= 0.1:
            last = now
            draw()
    draw(final=True)
