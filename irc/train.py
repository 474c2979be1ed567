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

import contextlib
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping

import numpy as np

from .objectives import with_loss  # noqa: F401  (re-exported: irc.train.with_loss)
from .progress import progress

if TYPE_CHECKING:
    from .ir import Graph
    from .objectives import Objective

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
# The loop
# ---------------------------------------------------------------------------------------------

@dataclass
class History:
    """Per epoch: mean training loss, training top-1 (classifiers), validation
    top-1 (with ``eval_data``), and seconds."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def best_val(self) -> float | None:
        return max(self.val_accuracy) if self.val_accuracy else None


def _blas_one_thread() -> contextlib.AbstractContextManager[object]:
    """One BLAS thread: a training step's matrices are small, and OpenBLAS's
    threads made a LeNet step 1.5–5× slower here (docs/training.md, "Speed")."""
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:                                       # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _objective(loss: "str | Objective", smoothing: float) -> "Objective":
    from .objectives import Objective, Supervised
    if isinstance(loss, Objective):
        return loss
    return Supervised(loss, smoothing=smoothing)


class BatchNormStats:
    """Running statistics of the training graph's batch norms, in training mode.

    Each ``nn.batch_norm`` normalizes with its batch's statistics; after each step
    the running ones move toward them (PyTorch's convention, momentum m = 0.1)::

        mean ← (1 − m)·mean + m·mean_batch,   var ← (1 − m)·var + m·var_batch·n/(n − 1)

    (unbiased batch variance, n values per channel).  The operands x of the batch
    norms become extra outputs of the training graph so the step returns them."""

    def __init__(self, train: "Graph", momentum: float = 0.1) -> None:
        self.momentum = momentum
        self.nodes = [n for n in train.nodes if n.op == "nn.batch_norm"]
        for n in self.nodes:
            n.attrs["training"] = True
        seen = {id(v) for v in train.outputs}
        extra = [n.inputs[0] for n in self.nodes if id(n.inputs[0]) not in seen]
        train.set_outputs([*train.outputs, *dict.fromkeys(extra)])

    def update(self, train: "Graph", outputs: Mapping[str, Array]) -> None:
        from .autodiff import write_back
        m = self.momentum
        new: dict[str, Array] = {}
        for n in self.nodes:
            x = np.asarray(outputs[n.inputs[0].name], np.float64)
            axes = (0,) + tuple(range(2, x.ndim))
            count = x.size // x.shape[1]
            mean, var = n.inputs[3], n.inputs[4]
            mu = x.mean(axis=axes)
            unbiased = x.var(axis=axes) * count / max(count - 1, 1)
            new[mean.name] = (1 - m) * new.get(mean.name, mean.const_value) + m * mu
            new[var.name] = (1 - m) * new.get(var.name, var.const_value) + m * unbiased
        write_back(train, new)

    def names(self) -> list[str]:
        return [v.name for n in self.nodes for v in n.inputs[3:5]]


def _write_checkpoint(graph: "Graph", path: str | os.PathLike[str]) -> None:
    from .io import save
    save(graph, path)


def fit(graph: "Graph", inputs: Mapping[str, Array], targets: Array, *, epochs: int = 1,
        batch_size: int = 64, optimizer: Optimizer | None = None,
        loss: "str | Objective" = "cross_entropy", smoothing: float = 0.0,
        params: Iterable[str] | None = None, bn: str = "train", seed: int = 0,
        eval_data: tuple[Mapping[str, Array], Array] | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        on_step: Callable[["Graph", int], None] | None = None,
        augment: Callable[[dict[str, Array], np.random.Generator], dict[str, Array]]
        | None = None,
        on_epoch: Callable[[int, History], None] | None = None,
        progress_label: str | None = "train") -> History:
    """Train ``graph``'s float constants in place.

    ``inputs``: name → array with the samples along axis 0; ``targets``: class
    indices (cross-entropy) or values (mse), one per sample.  ``loss``:
    ``"cross_entropy"`` (with label ``smoothing``), ``"mse"``, or an
    :class:`irc.objectives.Objective` (e.g. :class:`irc.distill.Distillation`).
    The graph is trained at ``batch_size`` whatever batch it was imported with
    (:func:`irc.rebatch.with_batch`); a final short batch is dropped each epoch.

    ``params``: the constants to train (default: every trainable one,
    :func:`irc.autodiff.trainable_params`).  ``bn``: ``"train"`` normalizes each
    batch norm with its batch's statistics and updates the running ones
    (:class:`BatchNormStats`); ``"freeze"`` keeps them fixed (eval mode), as for
    fine-tuning with small batches.  ``eval_data=(inputs, labels)``: top-1 on it
    after every epoch (:func:`evaluate`).  ``checkpoint``: after every epoch the
    graph is saved there (``.irc`` or ``.onnx``, atomically) — with
    ``eval_data``, only when validation accuracy improved.  ``on_step(train_graph,
    step)`` runs after every update (:func:`irc.sparsity.apply_masks` holds
    pruned weights at zero; :mod:`irc.prune_schedule`).  ``augment(batch, rng)``
    returns a transformed copy of each mini-batch (random flips, crops...), with
    a generator seeded from ``seed``.  ``on_epoch(epoch, history)`` runs after each
    epoch (logging; the graph already holds that epoch's parameters).

    Returns the :class:`History`; the trained values are written back into
    ``graph`` (parameters and running statistics)."""
    import time

    from .autodiff import forward_backward, trainable_params, write_back
    from .objectives import LOSS, TARGET, output_of
    from .rebatch import with_batch
    if bn not in ("train", "freeze"):
        raise ValueError(f"fit: bn must be 'train' or 'freeze', got {bn!r}")
    if epochs < 1:
        raise ValueError(f"fit: epochs must be >= 1, got {epochs}")
    missing = [v.name for v in graph.inputs if v.name not in inputs]
    if missing:
        raise ValueError(f"fit: no data for the graph's input(s) {', '.join(missing)} "
                         f"(got {', '.join(inputs) or 'none'})")
    obj = _objective(loss, smoothing)
    train = obj.build(with_batch(graph, batch_size))
    stats = BatchNormStats(train) if bn == "train" else None
    model_params = trainable_params(graph) if params is None else list(params)
    for p in model_params:
        if not graph.has_name(p):
            raise ValueError(f"fit: graph @{graph.name} has no constant {p!r} to train")
    names = model_params + [p for p in obj.extra_params if p not in model_params]
    values = {p: np.array(train.value(p).const_value, np.float32) for p in names}
    opt = optimizer or SGD(lr=0.01, momentum=0.9)
    pred_name = output_of(graph, obj.output).name
    data = Batches({**{v.name: inputs[v.name] for v in graph.inputs},
                    TARGET: np.asarray(targets)}, batch_size, seed=seed)
    hist = History()
    best = -1.0
    aug_rng = np.random.default_rng([seed, 1])

    def finish_into(g: "Graph") -> None:
        write_back(g, {p: values[p] for p in model_params})
        if stats is not None:
            write_back(g, {n: train.value(n).const_value for n in stats.names()})

    with _blas_one_thread():
        for epoch in range(epochs):
            t0 = time.perf_counter()
            losses: list[float] = []
            hits = seen = 0
            label = f"{progress_label} {epoch + 1}/{epochs}" if progress_label else None

            def status() -> str:
                acc = f" acc {hits / seen:.3f}" if seen else ""
                return f"loss {np.mean(losses[-50:]):.4f}{acc}" if losses else ""
            batches = progress(data, label, len(data), status=status) if label else data
            for batch in batches:
                if augment is not None:
                    batch = augment(batch, aug_rng)
                outs, grads = forward_backward(train, obj.feeds(batch), names, loss=LOSS)
                opt.step(values, grads)
                write_back(train, values)
                if stats is not None:
                    stats.update(train, outs)
                losses.append(float(outs[LOSS]))
                if obj.classifier:
                    pred = np.asarray(outs[pred_name]).argmax(-1)
                    hits += int((pred == batch[TARGET]).sum())
                    seen += len(pred)
                if on_step is not None:
                    on_step(train, opt.steps)
                    values = {p: np.array(train.value(p).const_value, np.float32)
                              for p in names}
            hist.loss.append(float(np.mean(losses)))
            if seen:
                hist.accuracy.append(hits / seen)
            finish_into(graph)
            if any(n.op == "qat.fake_quant" for n in graph.nodes):
                from .passes.fake_quant import refresh     # QAT: grids follow the scales
                refresh(graph)
                refresh(train)
            if eval_data is not None:
                hist.val_accuracy.append(evaluate(graph, *eval_data, output=obj.output,
                                                  progress_label=None))
            hist.seconds.append(time.perf_counter() - t0)
            if checkpoint is not None and (eval_data is None or hist.val_accuracy[-1] > best):
                _write_checkpoint(graph, checkpoint)
            if hist.val_accuracy:
                best = max(best, hist.val_accuracy[-1])
            if on_epoch is not None:
                on_epoch(epoch, hist)
    return hist


def predict(graph: "Graph", inputs: Mapping[str, Array], *, batch_size: int = 256,
            output: str | None = None, progress_label: str | None = None) -> Array:
    """``graph``'s output (default: the first) for every sample of ``inputs``, run
    in the reference interpreter ``batch_size`` samples at a time."""
    from .interpreter import run
    from .objectives import output_of
    from .rebatch import with_batch
    name = output_of(graph, output).name
    n = len(next(iter(inputs.values())))
    starts = range(0, n, batch_size)
    outs = []
    shaped: dict[int, "Graph"] = {}
    for s in (progress(starts, progress_label, len(starts)) if progress_label else starts):
        k = min(batch_size, n - s)
        g = shaped.get(k) or shaped.setdefault(k, with_batch(graph, k))
        outs.append(run(g, {v.name: inputs[v.name][s:s + k] for v in graph.inputs})[name])
    return np.concatenate(outs)


def evaluate(graph: "Graph", inputs: Mapping[str, Array], labels: Array, *,
             batch_size: int = 256, output: str | None = None,
             progress_label: str | None = "eval") -> float:
    """Top-1 accuracy of classifier ``graph`` on ``inputs`` against ``labels``."""
    logits = predict(graph, inputs, batch_size=batch_size, output=output,
                     progress_label=progress_label)
    return float((logits.argmax(-1) == np.asarray(labels)).mean())
