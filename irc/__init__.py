"""irc: a compiler that makes neural networks small and fast enough for phones.

Public API::

    g = irc.load("model.irc")                     # .irc text form (+ .npz sidecar)
    g = irc.compile(g, "fold,dce,fuse-bn")        # run a pass pipeline
    outs = irc.run(g, {"x": x})                   # reference interpreter
    irc.save(g, "out.irc")

    from irc.train import fit                     # training on the IR (docs/training.md):
    fit(g, {"x": x_train}, y_train, epochs=5)     # also irc.distill, irc.prune_schedule

    @irc.register_pass                            # a user's own pass
    @dataclass(frozen=True)
    class MyPass(irc.Pass): ...
"""

from __future__ import annotations

from typing import Any, Mapping

from .builder import Builder
from .dtypes import DType
from .errors import IrcError
from .interpreter import Interpreter, run
from .io import load, save
from .ir import Graph, Node, Value
from .pass_manager import Pass, PassContext, register_pass
from .types import Encoding, PerAxis, PerTensor, TensorType
from .verifier import verify

__version__ = "0.1.0"


def compile(graph: Graph, passes: str | list[Pass], target: str = "generic",
            calib_data: Any = None, *, seed: int = 0, verify_each: bool = False,
            time_passes: bool = False, print_ir_after: Any = None,
            statistics: bool = False, copy: bool = True,
            options: Mapping[str, Any] | None = None) -> Graph:
    """Run the pipeline ``passes`` (e.g. ``"fold,dce,fuse-bn"``) over ``graph``.

    The input graph is left untouched unless ``copy=False``.  ``verify_each``
    verifies before and after every pass; ``time_passes``/``statistics`` print
    tables to stderr; ``options`` (e.g. ``{"trace_rewrites": True}``) land in
    ``PassContext.options`` for passes to read.
    """
    from .pass_manager import PassContext as _Ctx
    from .pass_manager import run_pipeline
    g = graph.copy() if copy else graph
    ctx = _Ctx(target=target, calib_data=calib_data, seed=seed)
    ctx.options.update(options or {})
    result = run_pipeline(g, passes, verify_each=verify_each, time_passes=time_passes,
                          print_ir_after=print_ir_after, statistics=statistics, ctx=ctx)
    result.attrs["target"] = target     # the artifact writer records it
    return result


def _load_builtin_passes() -> None:
    import importlib
    importlib.import_module("irc.passes")   # registers the built-in passes (passes/)


_load_builtin_passes()

__all__ = [
    "Builder", "DType", "Encoding", "Graph", "Interpreter", "IrcError", "Node", "Pass",
    "PassContext", "PerAxis", "PerTensor", "TensorType", "Value", "compile", "load",
    "register_pass", "run", "save", "verify", "__version__",
]
