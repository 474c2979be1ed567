"""Typed exceptions for every user-facing failure.

Each error carries a message that names the thing at fault (file, node, op,
option) and, where one exists, the fix.  The CLI prints ``str(err)`` and exits
non-zero; a traceback is shown only with ``--debug``.
"""

from __future__ import annotations


class IrcError(Exception):
    """Base class of every error irc reports to a user."""


class IRError(IrcError):
    """A graph was built or edited inconsistently (bad operand, duplicate name...)."""


class OpError(IrcError):
    """An op is unknown, or its operands/attributes do not fit its definition."""


class TypeInferenceError(OpError):
    """An op's shape/type rule rejected its operand types or attributes."""


class VerifyError(IrcError):
    """The verifier found one or more problems; ``problems`` lists them all."""

    def __init__(self, problems: list[str], graph_name: str = "") -> None:
        self.problems = list(problems)
        head = f"graph @{graph_name}: " if graph_name else ""
        if len(problems) == 1:
            msg = f"{head}verification failed: {problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in problems[:20])
            more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
            msg = f"{head}verification failed with {len(problems)} problems:\n{lines}{more}"
        super().__init__(msg)


class ParseError(IrcError):
    """Text-form input could not be parsed; names file, line and column."""

    def __init__(self, message: str, *, file: str | None = None,
                 line: int | None = None, column: int | None = None) -> None:
        self.file, self.line, self.column = file, line, column
        where = file or "<string>"
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {message}")


class PipelineError(IrcError):
    """A pipeline string names an unknown pass or option, or has a bad value."""


class PassError(IrcError):
    """A pass failed; the message names the pass and the passes run before it."""


class InterpreterError(IrcError):
    """Executing a graph failed; the message names the node being executed."""


class InputError(IrcError):
    """User-supplied inputs (arrays, files, shapes) do not match the graph."""


class PluginError(IrcError):
    """A user pass file or entry point could not be loaded, or clashes with a name."""


class ModelImportError(IrcError):
    """A model file (ONNX...) could not be imported: unsupported ops (all listed
    at once, with their nodes), unsupported attribute values (naming node and
    attribute), symbolic input shapes without ``--input-shape``, malformed files."""


class ModelExportError(IrcError):
    """A graph could not be exported (to ONNX...): every op, node and type that
    has no exported form is listed at once, with the reason."""
