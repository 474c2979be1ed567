"""What training minimizes: an :class:`Objective` writes its loss into the graph.

:func:`irc.train.fit` differentiates one scalar value, ``loss``, of a *training
graph*: the model's own nodes plus the loss written as IR ops, so
:mod:`irc.autodiff` differentiates the loss like the rest.  An objective says
how to build that graph and how to feed it:

* ``build(model) -> Graph``: a copy of ``model`` (already at the training batch
  size) with a scalar float output named ``loss``; it may add inputs (targets,
  teacher outputs) and trainable constants (a distillation adapter), whose
  names it lists in ``extra_params``;
* ``feeds(batch) -> dict``: the training graph's feeds for one mini-batch, from
  ``batch`` = the model's inputs plus ``target`` (the targets as the user gave
  them: class indices, or values for regression);
* ``classifier``: whether the output the loss reads (``output``, default the
  model's first) holds class scores (fit then reports top-1 accuracy).

:class:`Supervised` is cross-entropy (with label smoothing) or MSE against the
targets; :mod:`irc.distill` adds teacher terms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np

if TYPE_CHECKING:
    from .builder import Builder
    from .ir import Graph, Value

Array = np.ndarray

#: The training graph's scalar loss and its target input.
LOSS = "loss"
TARGET = "target"

__all__ = ["LOSS", "TARGET", "Objective", "Supervised", "with_loss", "cross_entropy_ops",
           "mse_ops"]


class Objective:
    """Base class; see the module docstring."""

    classifier: bool = True
    #: the model output the loss reads (None: the first); fit's accuracy reads it too
    output: str | None = None

    @property
    def extra_params(self) -> list[str]:
        """Trainable constants ``build`` added (none here)."""
        return []

    def build(self, model: "Graph") -> "Graph":
        raise NotImplementedError

    def feeds(self, batch: Mapping[str, Array]) -> dict[str, Array]:
        raise NotImplementedError


def cross_entropy_ops(b: "Builder", logits: "Value", target: "Value",
                      name: str | None = None) -> "Value":
    """``−(1/B) Σ_b Σ_c target_bc · log_softmax(z)_bc`` as IR ops (target: [B, C]
    probabilities, e.g. one-hot)."""
    logp = b.nn.log_softmax(logits, axis=-1)
    total = b.nn.reduce_sum(b.nn.mul(logp, target), axes=[0, 1], keepdims=False)
    return b.nn.mul(total, np.float32(-1.0 / logits.type.shape[0]), name=name)


def mse_ops(b: "Builder", y: "Value", target: "Value", name: str | None = None) -> "Value":
    """``mean((y − target)²)`` as IR ops."""
    d = b.nn.sub(y, target)
    return b.nn.reduce_mean(b.nn.mul(d, d), axes=list(range(y.type.rank)), keepdims=False,
                            name=name)


def output_of(graph: "Graph", output: str | None) -> "Value":
    """``graph``'s output called ``output`` (default: the first)."""
    if output is None:
        return graph.outputs[0]
    for v in graph.outputs:
        if v.name == output:
            return v
    raise ValueError(f"graph @{graph.name} has no output {output!r} (outputs: "
                     f"{', '.join(v.name for v in graph.outputs)})")


class Supervised(Objective):
    """Cross-entropy against class indices (with label smoothing ε the target is
    ``(1 − ε)·onehot + ε/C``), or mean squared error against values."""

    def __init__(self, kind: str = "cross_entropy", *, smoothing: float = 0.0,
                 output: str | None = None) -> None:
        if kind not in ("cross_entropy", "mse"):
            raise ValueError(f"loss must be cross_entropy or mse, got {kind!r}")
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"label smoothing must be in [0, 1), got {smoothing}")
        self.kind, self.smoothing, self.output = kind, smoothing, output
        self.classifier = kind == "cross_entropy"
        self.classes = 0

    def build(self, model: "Graph") -> "Graph":
        from .builder import Builder
        from .types import TensorType
        g = model.copy()
        y = output_of(g, self.output)
        b = Builder(graph=g)
        target = b.input(TARGET, TensorType(y.type.dtype, y.type.shape))
        if self.kind == "cross_entropy":
            if y.type.rank != 2:
                raise ValueError(f"cross_entropy needs [B, C] logits, but output "
                                 f"%{y.name} is {y.type}")
            self.classes = y.type.shape[1]
            loss = cross_entropy_ops(b, y, target, name=LOSS)
        else:
            loss = mse_ops(b, y, target, name=LOSS)
        g.set_outputs([*g.outputs, loss])
        return g

    def feeds(self, batch: Mapping[str, Array]) -> dict[str, Array]:
        out = dict(batch)
        if self.kind == "cross_entropy":
            out[TARGET] = one_hot(batch[TARGET], self.classes, self.smoothing)
        else:
            out[TARGET] = np.asarray(batch[TARGET], np.float32)
        return out


def one_hot(labels: Array, classes: int, smoothing: float = 0.0) -> Array:
    """[B] class indices → [B, C] float32 targets ``(1 − ε)·onehot + ε/C``."""
    idx = np.asarray(labels).astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= classes):
        raise ValueError(f"class labels must lie in [0, {classes}), got "
                         f"{int(idx.min())}..{int(idx.max())}")
    t = np.full((len(idx), classes), smoothing / classes, np.float32)
    t[np.arange(len(idx)), idx] += np.float32(1.0 - smoothing)
    return t


def with_loss(graph: "Graph", kind: str = "cross_entropy", output: str | None = None
              ) -> "Graph":
    """A copy of ``graph`` that also computes a scalar ``loss`` from ``output``
    (default: its first output) and a new input ``target`` ([B, C] one-hot for
    cross-entropy, the output's shape for MSE), written with IR ops."""
    return Supervised(kind, output=output).build(graph)
