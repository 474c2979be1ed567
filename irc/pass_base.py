"""Passes, the context they run in, and the pass registry.

A pass is a small frozen dataclass whose fields are its options, with a
kebab-case ``name`` and one entry point, ``run``; ``requires`` and ``ensures``
are optional pre- and postconditions::

    @register_pass
    @dataclass(frozen=True)
    class FuseBatchNorm(Pass):
        '''Fold nn.batch_norm into a preceding nn.conv2d / nn.gemm.'''

        name: ClassVar[str] = "fuse-bn"
        max_iterations: int = field(default=10, metadata={"doc": "rewrite rounds"})

        def run(self, graph: Graph, ctx: PassContext) -> Graph:
            ...
            ctx.count("rewrites", n)      # per-pass statistic; n > 0 marks the graph modified
            return graph

The first line of the docstring is the pass's summary in ``irc passes``.
Options are typed by their annotations (see :mod:`irc.pass_options`); values
are coerced and checked when the pass is built, from a pipeline string or from
Python (``FuseBatchNorm(max_iterations=3)``).  To check more than the type,
override ``__post_init__``, call ``super().__post_init__()`` and raise
:class:`~irc.errors.PipelineError`.

Built-in passes (the ``irc.passes`` package) and plugins (entry points in the
``irc.passes`` group) are loaded once, lazily, the first time :func:`get_pass`
or :func:`all_passes` is called.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import logging
import re
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, TextIO, TypeVar

import numpy as np

from .errors import PassError, PipelineError, PluginError
from .pass_options import PassOption, format_value, pass_options

if TYPE_CHECKING:
    from .ir import Graph

__all__ = [
    "Pass", "PassContext", "PassPreconditionError", "PassPostconditionError", "Fixpoint",
    "fixpoint", "register_pass", "unregister_pass", "get_pass", "all_passes", "pass_source",
    "describe_pass", "registry_snapshot", "RESERVED_NAMES",
]

logger = logging.getLogger("irc.passes")


class PassPreconditionError(PassError):
    """Raised by ``Pass.requires`` when the graph or context does not meet what
    the pass needs (say what is missing and how to provide it)."""


class PassPostconditionError(PassError):
    """Raised by ``Pass.ensures`` when a pass did not establish what it promises."""


# ---------------------------------------------------------------------------
# The context
# ---------------------------------------------------------------------------

@dataclass(eq=False)
class PassContext:
    """What a pass may read besides the graph, and where it reports.

    ``stats`` maps a pass's label (its name, or ``name#k`` when the pipeline runs
    that pass more than once) to its counters: ``{"fuse-bn": {"rewrites": 3}}``.

    ``rng`` is a fresh numpy Generator for each pass, seeded from ``seed`` and
    the pass's label, so a pass's random choices do not depend on which passes
    ran before it.

    ``modified`` is, while a pass runs, whether it changed the graph (set by
    :meth:`mark_modified` or any positive :meth:`count`); after a pipeline, whether
    any pass did.
    """

    target: str = "generic"
    calib_data: Any = None
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, dict[str, int | float]] = field(default_factory=dict)
    modified: bool = False
    #: where :meth:`log` also writes ``[pass] message`` lines (e.g. ``sys.stderr``)
    log_stream: TextIO | None = None
    #: label of the pass now running (None between passes)
    current_pass: str | None = None
    #: the float graph the last ``quant`` lowered (bias-correct, weight-calibrate
    #: and the quantization report compare against it by value name)
    float_reference: Any = None
    _rng: np.random.Generator | None = field(default=None, init=False, repr=False,
                                             compare=False)

    @property
    def rng(self) -> np.random.Generator:
        if self._rng is None:
            key = () if self.current_pass is None else (zlib.crc32(self.current_pass.encode()),)
            self._rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=key))
        return self._rng

    @property
    def statistics(self) -> dict[str, dict[str, int | float]]:
        """Alias of ``stats``."""
        return self.stats

    def count(self, key: str, n: int | float = 1, *, modified: bool = True) -> None:
        """Add ``n`` to the current pass's counter ``key`` (``"rewrites"``,
        ``"bytes-saved"``...).  A positive count marks the graph modified unless
        ``modified=False`` (for counters that only observe, such as ``"nodes"``)."""
        label = self.current_pass or "(no pass)"
        counters = self.stats.setdefault(label, {})
        counters[key] = counters.get(key, 0) + n
        if n > 0 and modified:
            self.modified = True

    def mark_modified(self) -> None:
        """Say that the running pass changed the graph."""
        self.modified = True

    def log(self, msg: str) -> None:
        """A debug message from the running pass: to ``log_stream`` when set, and
        always to the logger ``irc.passes`` at level DEBUG."""
        label = self.current_pass or "(no pass)"
        if self.log_stream is not None:
            self.log_stream.write(f"[{label}] {msg}\n")
        logger.debug("%s: %s", label, msg)

    # -- used by the pass manager ------------------------------------------------
    def _begin_pass(self, label: str) -> None:
        self.current_pass = label
        self.modified = False
        self._rng = None

    def _end_pass(self) -> None:
        self.current_pass = None
        self._rng = None


# ---------------------------------------------------------------------------
# Pass
# ---------------------------------------------------------------------------

class Pass:
    """Base class of passes; see the module docstring.  Subclasses are frozen
    dataclasses (their fields are the options) with a class-level ``name``."""

    name: ClassVar[str] = ""

    # -- to override -------------------------------------------------------------
    def requires(self, graph: "Graph", ctx: PassContext) -> None:
        """Precondition: raise :class:`PassPreconditionError` when the pass cannot run."""

    def run(self, graph: "Graph", ctx: PassContext) -> "Graph":
        """Transform ``graph`` (in place, or build a new one) and return the result."""
        raise NotImplementedError(f"pass {type(self).__qualname__} does not define run()")

    def ensures(self, graph: "Graph", ctx: PassContext) -> None:
        """Postcondition on the result: raise :class:`PassPostconditionError`."""

    # -- options -----------------------------------------------------------------
    def __post_init__(self) -> None:
        """Coerce and check every option (``PipelineError`` naming the option)."""
        for opt in type(self).options():
            value = getattr(self, opt.name)
            try:
                coerced = opt.type.coerce(value)
            except ValueError as e:
                raise PipelineError(f"pass '{self.name}': option '{opt.name}' {e}") from None
            if coerced is not value:
                object.__setattr__(self, opt.name, coerced)

    @classmethod
    def options(cls) -> tuple[PassOption, ...]:
        """The pass's options in field order."""
        try:
            return pass_options(cls)
        except TypeError as e:
            raise PluginError(f"pass '{cls.name}' ({_qualname(cls)}): {e}") from None

    @classmethod
    def summary(cls) -> str:
        """The first line of the docstring."""
        doc = (cls.__doc__ or "").strip()
        if not doc or doc.startswith(cls.__name__ + "("):   # dataclass's generated doc
            return ""
        return doc.splitlines()[0].strip()

    @classmethod
    def description(cls) -> str:
        """The whole docstring, dedented."""
        import inspect
        doc = inspect.getdoc(cls) or ""
        return "" if doc.startswith(cls.__name__ + "(") else doc

    def non_default_options(self) -> dict[str, Any]:
        """Options whose values differ from their defaults, in field order."""
        out = {}
        for opt in type(self).options():
            v = getattr(self, opt.name)
            if opt.required or not _same(v, opt.default):
                out[opt.name] = v
        return out

    def __str__(self) -> str:
        """The pass in canonical pipeline form: ``quant{bits=4,per_channel=true}``."""
        opts = self.non_default_options()
        if not opts:
            return self.name
        return self.name + "{" + ",".join(f"{k}={format_value(v)}" for k, v in opts.items()) + "}"

    def __call__(self, graph: "Graph", ctx: PassContext | None = None) -> "Graph":
        """Run this pass alone, with the manager's checks and error wrapping."""
        from .pass_manager import PassManager
        return PassManager([self]).run(graph, ctx if ctx is not None else PassContext())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return type(a) is type(b) and bool(a == b)


# ---------------------------------------------------------------------------
# Fixed points
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Fixpoint(Pass):
    """Run a sub-pipeline repeatedly until no pass in it modifies the graph.

    Written ``fixpoint(fold,dce){max_iterations=5}`` in a pipeline string, or
    :func:`fixpoint` from Python.  The pass manager runs the inner passes itself
    (each one instrumented, timed and counted as usual) and records
    ``{"iterations": k}`` in the fixpoint's statistics, plus ``"not-converged": 1``
    when ``max_iterations`` rounds still changed the graph.
    """

    name: ClassVar[str] = "fixpoint"
    passes: tuple[Pass, ...] = field(default=(), metadata={"option": False})
    max_iterations: int = field(default=10, metadata={"doc": "stop after this many rounds"})

    def __post_init__(self) -> None:
        super().__post_init__()
        passes = tuple(self.passes)
        for p in passes:
            if not isinstance(p, Pass):
                raise PipelineError(f"fixpoint: {p!r} is not a pass instance")
        if not passes:
            raise PipelineError("fixpoint needs at least one pass: fixpoint(fold,dce)")
        object.__setattr__(self, "passes", passes)
        if self.max_iterations < 1:
            raise PipelineError(f"pass 'fixpoint': option 'max_iterations' must be >= 1, "
                                f"got {self.max_iterations}")

    def run(self, graph: "Graph", ctx: PassContext) -> "Graph":
        from .pass_manager import PassManager
        return PassManager([self]).run(graph, ctx)

    def __str__(self) -> str:
        inner = ",".join(str(p) for p in self.passes)
        opts = self.non_default_options()
        tail = "{" + ",".join(f"{k}={format_value(v)}" for k, v in opts.items()) + "}" \
            if opts else ""
        return f"fixpoint({inner}){tail}"


def fixpoint(passes: Any, max_iterations: int = 10) -> Fixpoint:
    """A :class:`Fixpoint` over ``passes`` (Pass instances or a pipeline string)."""
    if isinstance(passes, str) or any(not isinstance(p, Pass) for p in passes):
        from .pipeline import build_pipeline
        passes = build_pipeline(passes)
    return Fixpoint(passes=tuple(passes), max_iterations=max_iterations)


# ---------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------

_REGISTRY: dict[str, type[Pass]] = {}
_SOURCES: dict[str, str] = {}
#: names the pipeline grammar gives a meaning of its own
RESERVED_NAMES = frozenset({"fixpoint"})
_NAME_RE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*\Z")
#: where passes being registered now come from ("entry point ... of distribution ...")
_loading_from: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "irc_pass_source", default=None)
_plugins_loaded = False

P = TypeVar("P", bound=type)


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_pass(cls: P) -> P:
    """Class decorator: register a pass under its ``name``.  Put it above
    ``@dataclass(frozen=True)``.  Raises :class:`PluginError` when the class is
    not a frozen dataclass subclassing :class:`Pass`, its name is not kebab-case,
    an option type is unsupported, or another pass already has the name (naming
    both definitions)."""
    if not isinstance(cls, type) or not issubclass(cls, Pass):
        raise PluginError(f"register_pass: {cls!r} is not a subclass of irc.pass_manager.Pass")
    where = _qualname(cls)
    if "__dataclass_fields__" not in cls.__dict__:
        raise PluginError(f"register_pass: {where} is not a dataclass; decorate it with "
                          "@register_pass above @dataclass(frozen=True)")
    if not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        raise PluginError(f"register_pass: {where} must be a frozen dataclass "
                          "(@dataclass(frozen=True)): passes are immutable values")
    name = cls.__dict__.get("name")
    if not isinstance(name, str) or not name:
        raise PluginError(f"register_pass: {where} has no name; add "
                          'name: ClassVar[str] = "my-pass"')
    if not _NAME_RE.match(name):
        raise PluginError(f"register_pass: {where} has name {name!r}; pass names are "
                          "kebab-case: lower-case letters, digits and single dashes")
    if name in RESERVED_NAMES:
        raise PluginError(f"register_pass: {where}: the name {name!r} is reserved by the "
                          "pipeline grammar")
    cls.options()   # checks every option annotation and default now, not at first use
    source = where
    origin = _loading_from.get()
    if origin:
        source += f" (from {origin})"
    old = _REGISTRY.get(name)
    if old is not None and old is not cls and _qualname(old) != where:
        raise PluginError(f"pass name '{name}' is registered twice: by {_SOURCES[name]} "
                          f"and by {source}; rename one of them")
    _REGISTRY[name] = cls
    _SOURCES[name] = source
    return cls


def unregister_pass(name: str) -> None:
    """Forget a registered pass (no error if there is none)."""
    _REGISTRY.pop(name, None)
    _SOURCES.pop(name, None)


@contextlib.contextmanager
def registering_from(origin: str) -> Iterator[None]:
    """Record ``origin`` (a file, an entry point) as the source of passes
    registered inside the block; used by :mod:`irc.plugins`."""
    token = _loading_from.set(origin)
    try:
        yield
    finally:
        _loading_from.reset(token)


def _ensure_loaded() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True   # set first: a plugin may itself call get_pass()
    try:
        from .plugins import load_builtin_passes, load_entry_point_passes
        load_builtin_passes()
        load_entry_point_passes()
    except BaseException:
        _plugins_loaded = False
        raise


def get_pass(name: str) -> type[Pass]:
    """The pass class registered as ``name`` (``_`` is read as ``-``); an unknown
    name raises :class:`PipelineError` listing every pass and a close match."""
    _ensure_loaded()
    cls = _REGISTRY.get(name) or _REGISTRY.get(name.replace("_", "-"))
    if cls is None:
        raise PipelineError(unknown_pass_message(name))
    return cls


def unknown_pass_message(name: str) -> str:
    names = sorted(_REGISTRY)
    close = difflib.get_close_matches(name.replace("_", "-"), names, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    listing = ", ".join(names) if names else "(none are registered)"
    return f"unknown pass '{name}'{hint} Registered passes: {listing}"


def all_passes() -> dict[str, type[Pass]]:
    """Every registered pass by name, sorted (a copy)."""
    _ensure_loaded()
    return dict(sorted(_REGISTRY.items()))


def pass_source(name: str) -> str:
    """Where the pass ``name`` was defined: ``module.Class (from entry point ...)``."""
    return _SOURCES[name]


def describe_pass(cls: type[Pass], width: int = 0) -> str:
    """A pass and its options, as ``irc passes`` shows them (``width`` pads the
    name so summaries line up)::

        fuse-bn  Fold nn.batch_norm into a preceding nn.conv2d / nn.gemm.
            max_iterations: int = 10  -- rewrite rounds
    """
    title = "fixpoint(...)" if cls is Fixpoint else cls.name
    lines = [f"{title.ljust(width)}  {cls.summary()}".rstrip()]
    for opt in cls.options():
        doc = f"  -- {opt.doc}" if opt.doc else ""
        lines.append(f"    {opt.signature()}{doc}")
    return "\n".join(lines)


@contextlib.contextmanager
def registry_snapshot() -> Iterator[None]:
    """Restore the registry (and the plugins-loaded flag) on exit: for tests
    that register throw-away passes."""
    global _plugins_loaded
    saved = dict(_REGISTRY), dict(_SOURCES), _plugins_loaded
    try:
        yield
    finally:
        _REGISTRY.clear()
        _REGISTRY.update(saved[0])
        _SOURCES.clear()
        _SOURCES.update(saved[1])
        _plugins_loaded = saved[2]


def _mark_plugins_loaded(value: bool = True) -> None:
    """Tests: pretend built-ins and entry points are (or are not) loaded."""
    global _plugins_loaded
    _plugins_loaded = value

