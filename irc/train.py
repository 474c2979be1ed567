"""The pieces of a training loop on the IR: batches, losses, optimizers, schedules.

Training (issue 7) runs on irc's own graphs with numpy: the forward pass and the
gradients come from :mod:`irc.autodiff`; this module holds what surrounds them.
Everything works on float32 arrays keyed by parameter name (a graph's float
constants), so an optimizer never needs to know the graph.

* :class:`Batches` — mini-batches of named numpy arrays, reshuffled every epoch
  from a seed (the same seed gives the same order on every machine);
* losses return ``(value, d value / d prediction)``: :func:`cross_entropy`
  (mean over the batch, optional label smoothing), :func:`mse`,
  :func:`soft_cross_entropy` (Hinton's distillation term, with temperature);
* optimizers update parameters in place: :class:`SGD` (momentum, Nesterov,
  L2 weight decay) and :class:`Adam` (decoupled weight decay: AdamW);
* schedules map a step to a learning-rate factor: :func:`constant`,
  :func:`step_decay`, :func:`cosine` (with linear warm-up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Mapping

import numpy as np

if TYPE_CHECKING:
    from .ir import Graph

Array = np.ndarray
Params = dict[str, Array]
Schedule = Callable[[int], float]


# ---------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------

@dataclass
class Batches:
    """Mini-batches of ``arrays`` (all with the same first dimension).

    Iterating yields one epoch of ``{name: array[batch]}``; with ``shuffle`` each
    epoch draws a fresh permutation from ``seed`` and the epoch number, so runs
    are reproducible and independent of how many epochs came before.
    ``drop_last`` drops a final short batch (static-shape graphs need it)."""

    arrays: Mapping[str, Array]
    batch_size: int
    shuffle: bool = True
    seed: int = 0
    drop_last: bool = True
    epoch: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        sizes = {k: len(v) for k, v in self.arrays.items()}
        if not sizes:
            raise ValueError("Batches needs at least one array")
        if len(set(sizes.values())) != 1:
            raise ValueError(f"arrays differ in length: {sizes}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        self.size = next(iter(sizes.values()))
        if self.drop_last and self.size < self.batch_size:
            raise ValueError(f"{self.size} samples make no batch of {self.batch_size} "
                             "(lower batch_size or set drop_last=False)")

    def __len__(self) -> int:
        full, rest = divmod(self.size, self.batch_size)
        return full + (0 if self.drop_last or not rest else 1)

    def __iter__(self) -> Iterator[dict[str, Array]]:
        order = (np.random.default_rng([self.seed, self.epoch]).permutation(self.size)
                 if self.shuffle else np.arange(self.size))
        self.epoch += 1
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            yield {k: np.ascontiguousarray(v[idx]) for k, v in self.arrays.items()}


# ---------------------------------------------------------------------------------------------
# Losses: (value, gradient with respect to the prediction)
# ---------------------------------------------------------------------------------------------

def log_softmax(z: Array, axis: int = -1) -> Array:
    """log softmax, stable: z − max − log Σ exp(z − max)."""
    z = z.astype(np.float64)
    m = z.max(axis=axis, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))


def cross_entropy(logits: Array, labels: Array, smoothing: float = 0.0
                  ) -> tuple[float, Array]:
    """Mean cross-entropy of ``logits`` [B, C] against integer ``labels`` [B].

    With label smoothing ε the target is q = (1 − ε)·onehot + ε/C, and
    L = −(1/B) Σ_b Σ_c q_bc · log p_bc,   dL/dz = (p − q) / B."""
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"cross_entropy takes logits [B, C] and labels [B], got "
                         f"{list(logits.shape)} and {list(labels.shape)}")
    b, c = logits.shape
    logp = log_softmax(logits)
    q = np.full((b, c), smoothing / c)
    q[np.arange(b), labels.astype(np.int64)] += 1.0 - smoothing
    loss = float(-(q * logp).sum() / b)
    return loss, ((np.exp(logp) - q) / b).astype(np.float32)


def soft_cross_entropy(student: Array, teacher: Array, temperature: float = 1.0
                       ) -> tuple[float, Array]:
    """Hinton's distillation term H(τ(o_T), τ(o_S)) with τ(o) = softmax(o / T), times
    T² so its gradient keeps the hard loss's scale:

    L = −(T²/B) Σ p_T · log p_S,   dL/do_S = (T/B)·(p_S − p_T)."""
    if student.shape != teacher.shape or student.ndim != 2:
        raise ValueError(f"soft_cross_entropy takes two [B, C] logits, got "
                         f"{list(student.shape)} and {list(teacher.shape)}")
    t = float(temperature)
    b = student.shape[0]
    log_ps = log_softmax(student / t)
    p_t = np.exp(log_softmax(teacher / t))
    loss = float(-(t * t) * (p_t * log_ps).sum() / b)
    return loss, (t * (np.exp(log_ps) - p_t) / b).astype(np.float32)


def mse(pred: Array, target: Array) -> tuple[float, Array]:
    """Mean squared error: L = mean((y − t)²),   dL/dy = 2(y − t) / n."""
    if pred.shape != target.shape:
        raise ValueError(f"mse: prediction {list(pred.shape)} and target "
                         f"{list(target.shape)} differ")
    d = pred.astype(np.float64) - target
    return float((d * d).mean()), (2.0 * d / d.size).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Learning-rate schedules: step -> factor of the base learning rate
# ---------------------------------------------------------------------------------------------

def constant() -> Schedule:
    return lambda step: 1.0


def step_decay(every: int, gamma: float = 0.1) -> Schedule:
    """γ^⌊step / every⌋."""
    if every < 1:
        raise ValueError(f"step_decay: every must be >= 1, got {every}")
    return lambda step: gamma ** (step // every)


def cosine(total: int, warmup: int = 0, floor: float = 0.0) -> Schedule:
    """Linear warm-up over ``warmup`` steps, then half a cosine from 1 down to
    ``floor`` at ``total``: f = floor + (1 − floor)·(1 + cos(π·t)) / 2."""
    if total < 1 or not 0 <= warmup < total:
        raise ValueError(f"cosine: need 0 <= warmup < total, got warmup={warmup}, "
                         f"total={total}")

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = min(1.0, (step - warmup) / max(1, total - warmup))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
    return factor


# ---------------------------------------------------------------------------------------------
# Optimizers: update parameters in place from their gradients
# ---------------------------------------------------------------------------------------------

class Optimizer:
    """Base class: ``step(params, grads)`` updates ``params`` in place; the
    learning rate at each step is ``lr · schedule(step)``."""

    def __init__(self, lr: float, schedule: Schedule | None = None,
                 weight_decay: float = 0.0) -> None:
        if lr <= 0 or weight_decay < 0:
            raise ValueError(f"need lr > 0 and weight_decay >= 0, got {lr}, {weight_decay}")
        self.lr, self.weight_decay = lr, weight_decay
        self.schedule = schedule or constant()
        self.steps = 0
        self.state: dict[str, dict[str, Array]] = {}

    @property
    def current_lr(self) -> float:
        return self.lr * self.schedule(self.steps)

    def step(self, params: Params, grads: Mapping[str, Array]) -> None:
        lr = self.current_lr
        for name, g in grads.items():
            p = params[name]
            if g.shape != p.shape:
                raise ValueError(f"gradient of {name} is {list(g.shape)}, the parameter "
                                 f"{list(p.shape)}")
            self._update(name, p, g.astype(np.float32, copy=False), lr)
        self.steps += 1

    def _update(self, name: str, p: Array, g: Array, lr: float) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """SGD with momentum μ and L2 weight decay λ:
    g' = g + λp,  v = μv + g',  p −= lr·(g' + μv if nesterov else v)."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9, nesterov: bool = False,
                 weight_decay: float = 0.0, schedule: Schedule | None = None) -> None:
        super().__init__(lr, schedule, weight_decay)
        self.momentum, self.nesterov = momentum, nesterov

    def _update(self, name: str, p: Array, g: Array, lr: float) -> None:
        if self.weight_decay:
            g = g + np.float32(self.weight_decay) * p
        if not self.momentum:
            p -= np.float32(lr) * g
            return
        v = self.state.setdefault(name, {}).setdefault("v", np.zeros_like(p))
        v *= np.float32(self.momentum)
        v += g
        p -= np.float32(lr) * (g + np.float32(self.momentum) * v if self.nesterov else v)


class Adam(Optimizer):
    """Adam (Kingma & Ba) with decoupled weight decay (AdamW, Loshchilov & Hutter):
    m = β₁m + (1−β₁)g,  v = β₂v + (1−β₂)g²,  m̂ = m/(1−β₁ᵗ),  v̂ = v/(1−β₂ᵗ),
    p −= lr·(m̂ / (√v̂ + ε) + λp)."""

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0,
                 schedule: Schedule | None = None) -> None:
        super().__init__(lr, schedule, weight_decay)
        self.b1, self.b2 = betas
        self.eps = eps

    def _update(self, name: str, p: Array, g: Array, lr: float) -> None:
        st = self.state.setdefault(name, {})
        m = st.setdefault("m", np.zeros_like(p))
        v = st.setdefault("v", np.zeros_like(p))
        t = self.steps + 1
        m *= np.float32(self.b1)
        m += np.float32(1 - self.b1) * g
        v *= np.float32(self.b2)
        v += np.float32(1 - self.b2) * g * g
        m_hat = m / np.float32(1 - self.b1 ** t)
        v_hat = v / np.float32(1 - self.b2 ** t)
        update = m_hat / (np.sqrt(v_hat) + np.float32(self.eps))
        if self.weight_decay:
            update += np.float32(self.weight_decay) * p
        p -= np.float32(lr) * update


# ---------------------------------------------------------------------------------------------
# The loss in the graph, and the loop
# ---------------------------------------------------------------------------------------------

LOSS = "loss"
TARGET = "target"


def with_loss(graph: "Graph", kind: str = "cross_entropy", output: str | None = None
              ) -> "Graph":
    """A copy of ``graph`` that also computes a scalar ``loss`` from ``output``
    (default: its first output) and a new input ``target``, written with IR ops
    so :mod:`irc.autodiff` differentiates it like the rest:

    * ``cross_entropy``: target is one-hot [B, C];
      loss = −(1/B) Σ_b Σ_c target_bc · log_softmax(z)_bc
    * ``mse``: target has the output's shape; loss = mean((y − target)²)
    """
    from .builder import Builder
    from .types import TensorType
    g = graph.copy()
    y = g.outputs[0] if output is None else next(
        (v for v in g.outputs if v.name == output), None)
    if y is None:
        raise ValueError(f"with_loss: graph @{graph.name} has no output {output!r}")
    if kind not in ("cross_entropy", "mse"):
        raise ValueError(f"with_loss: loss must be cross_entropy or mse, got {kind!r}")
    b = Builder(graph=g)
    target = b.input(TARGET, TensorType(y.type.dtype, y.type.shape))
    axes = list(range(y.type.rank))
    if kind == "cross_entropy":
        if y.type.rank != 2:
            raise ValueError(f"with_loss: cross_entropy needs [B, C] logits, got {y.type}")
        logp = b.nn.log_softmax(y, axis=-1)
        total = b.nn.reduce_sum(b.nn.mul(logp, target), axes=axes, keepdims=False)
        loss = b.nn.mul(total, np.float32(-1.0 / y.type.shape[0]), name=LOSS)
    else:
        d = b.nn.sub(y, target)
        loss = b.nn.reduce_mean(b.nn.mul(d, d), axes=axes, keepdims=False, name=LOSS)
    g.set_outputs([*g.outputs, loss])
    return g


@dataclass
class History:
    """Per-epoch training loss and (when evaluated) accuracy."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)


def fit(graph: "Graph", inputs: Mapping[str, Array], targets: Array, *, epochs: int = 1,
        batch_size: int = 64, optimizer: Optimizer | None = None,
        loss: str = "cross_entropy", seed: int = 0,
        on_step: Callable[["Graph", int], None] | None = None,
        progress_label: str | None = "train") -> History:
    """Train ``graph``'s float constants in place on ``inputs`` (name → array with
    the samples along axis 0) and ``targets`` (class indices for cross-entropy,
    values for mse), mini-batch by mini-batch; the graph's input shapes fix the
    batch size's samples per step.  ``on_step(graph, step)`` runs after every
    update (e.g. :func:`irc.sparsity.apply_masks` to hold pruned weights at zero).
    Returns the mean loss (and training accuracy for classifiers) per epoch."""
    from .autodiff import forward_backward, trainable_params, write_back
    from .progress import progress
    batch = graph.inputs[0].type.shape[0]
    if batch != batch_size:
        raise ValueError(f"fit: the graph's batch is {batch} but batch_size is {batch_size}; "
                         "import the model with input shapes of that batch")
    train = with_loss(graph, loss)
    params = [p for p in trainable_params(train) if graph.has_name(p)]   # not the loss's
    values = {p: np.array(train.value(p).const_value, np.float32) for p in params}
    opt = optimizer or SGD(lr=0.01, momentum=0.9)
    classes = graph.outputs[0].type.shape[-1]
    data = Batches({**inputs, TARGET: np.asarray(targets)}, batch_size, seed=seed)
    hist = History()
    for epoch in range(epochs):
        losses, hits, seen = [], 0, 0
        label = f"{progress_label} {epoch + 1}/{epochs}" if progress_label else None
        batches = progress(data, label, len(data)) if label else data
        for feeds in batches:
            t = feeds[TARGET]
            if loss == "cross_entropy":
                feeds[TARGET] = np.eye(classes, dtype=np.float32)[t.astype(np.int64)]
            outs, grads = forward_backward(train, feeds, params, loss=LOSS)
            opt.step(values, grads)
            write_back(train, values)
            losses.append(float(outs[LOSS]))
            if loss == "cross_entropy":
                pred = np.asarray(outs[graph.outputs[0].name]).argmax(-1)
                hits += int((pred == t).sum())
                seen += len(t)
            if on_step is not None:
                on_step(train, opt.steps)
                values = {p: np.array(train.value(p).const_value, np.float32)
                          for p in params}
        hist.loss.append(float(np.mean(losses)))
        if seen:
            hist.accuracy.append(hits / seen)
    write_back(graph, {p: values[p] for p in params if graph.has_name(p)})
    return hist
