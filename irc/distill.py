"""Knowledge distillation: a student learns from a trained teacher's outputs and features.

:class:`Distillation` is an :class:`irc.objectives.Objective`: it writes the
whole loss into the student's training graph as IR ops, so :mod:`irc.autodiff`
differentiates it like the model, and :func:`irc.train.fit` trains with it
unchanged.  :func:`distill` is ``fit`` with that objective.

::

    from irc.distill import distill
    from irc.train import Adam, cosine
    hist = distill(student, teacher, {"input": x}, y, epochs=10, batch_size=64,
                   temperature=4.0, alpha=1.0,
                   hints=[("s.relu2", "t.relu3")],          # FitNets
                   attention=[("s.relu2", "t.relu3")],      # attention transfer
                   optimizer=Adam(lr=3e-3, schedule=cosine(10 * len(y) // 64)))

The loss
--------

For a batch of B samples with student logits o_S and teacher logits o_T
(both [B, C]) and labels y::

    L = H(o_S, y)                                          hard term
      + α · T² · H(τ(o_T), τ(o_S))                         soft term (Hinton et al. 2015)
      + hint_weight · Σ_(s,t) MSE(adapter_s(F_S), F_T)     hints (FitNets, Romero et al. 2015)
      + (β / 2) · Σ_(s,t) AT(F_S, F_T)                     attention transfer (Zagoruyko &
                                                           Komodakis 2017), β = attention_weight

* ``H(o, y) = −(1/B) Σ_b Σ_c q_bc · log_softmax(o)_bc`` with q the one-hot
  labels, label-smoothed by ε = ``smoothing``: ``q = (1 − ε)·onehot + ε/C``
  (:func:`irc.objectives.cross_entropy_ops`).
* ``τ(o) = softmax(o / T)``, T = ``temperature``; the soft term is the same
  cross-entropy against the teacher's softened distribution (it differs from
  KL(τ(o_T) ‖ τ(o_S)) by the teacher's entropy, a constant).  The T² factor keeps
  its gradient, ``∂/∂o_S = α·(T/B)·(τ(o_S) − τ(o_T))``, at the hard term's scale
  whatever T (:func:`irc.train.soft_cross_entropy` is the numpy reference).
  α (``alpha``, default 1) weighs it against the hard term, which keeps weight 1;
  ``alpha=0`` is plain supervised training plus whatever hint/attention terms.
* Hints: ``MSE(a, b) = mean((a − b)²)`` over all B·C·H·W elements
  (:func:`irc.objectives.mse_ops`).  The *adapter* (FitNets' regressor) maps the
  student's C_S channels to the teacher's C_T: a 1×1 convolution with weight
  [C_T, C_S, 1, 1] and bias [C_T] for [B, C, H, W] features, a linear map
  ([C_S, C_T] weight, gemm) for [B, D] features.  It is a new trainable constant
  of the training graph (listed in ``extra_params``, so ``fit`` trains it with the
  student), initialized to the identity when C_S = C_T and to N(0, 1/C_S)
  otherwise (bias 0).  Student and teacher features must have the same spatial
  size (hint layers of the same resolution).  The adapters live only in the
  training graph: ``fit`` writes the student's own parameters back, not them
  (:meth:`Distillation.adapters` returns their trained values).
* Attention transfer: the attention map of a feature map F [B, C, H, W] is
  ``Q = Σ_c F_c²`` ([B, H, W]; p = 2 in the paper), L2-normalized per sample,
  ``q = Q / sqrt(‖Q‖² + 1e−12)`` (norm over the H·W positions), and::

      AT(F_S, F_T) = (1 / (B·H·W)) · Σ_b ‖q_S,b − q_T,b‖²

  i.e. the mean over the batch *and the positions* of the squared difference.
  That is the normalization of the authors' code (``(at(x) − at(y)).pow(2).mean()``,
  with the loss ``β/2 · Σ at_loss``), under which the paper's β = 1000 is the
  default here.  (The paper writes the unsquared ‖q_S − q_T‖₂ and says that
  β = 10³ is "divided by number of elements in attention map and batch size",
  which is what the mean does; its code squares the difference, as here.  The
  mean over positions makes β independent of the map size; per sample,
  ‖q_S − q_T‖² lies in [0, 2] for non-negative maps.)  The sum over channels
  could be a mean (the code's ``pow(2).mean(1)``): the normalization cancels
  the difference.  Student and teacher maps need the same spatial size; their
  channel counts may differ.

Options
-------

``teacher``
    the trained teacher graph, any batch size; its first output (or
    ``teacher_output``) is its [B, C] logits.
``temperature`` (T, default 4), ``alpha`` (α, default 1)
    Hinton's term.  Hinton et al. found T of 2.5–4 best for a very small student
    (above 8 for larger ones) and "a considerably lower weight" on the hard term,
    i.e. α above 1; ``bench/distill.py`` picks α on a validation split (9 of 1,
    3, 9 there, all three within 0.2 pt).
``hints``, ``hint_weight`` (default 1)
    (student value, teacher value) pairs of feature maps [B, C, H, W] of the same
    H×W, or of features [B, D]; the weight of the summed MSEs.
``attention``, ``attention_weight`` (β, default 1000)
    (student value, teacher value) pairs of feature maps of the same H×W.
``smoothing`` (ε, default 0)
    label smoothing of the hard term.
``output``
    the student's logits output (default: its first output).
``cache_teacher`` (default False)
    see below.
``seed``
    the random initialization of adapters between different channel counts.

The teacher runs in the reference interpreter, without gradients, in eval mode
(batch norms with their running statistics): :meth:`Distillation.feeds` runs a
copy of it, rebatched to the training batch (:func:`irc.rebatch.with_batch`),
that also outputs τ(o_T), the hinted teacher features and the teacher's
attention maps (written with the same IR ops as the student's), and feeds them
to new inputs of the training graph.  Teacher and student must take the same
inputs (names, per-sample shapes and dtypes).  ``cache_teacher=True`` keeps the
teacher's results per training sample (keyed by a hash of its input bytes), so
the teacher runs once per sample rather than once per epoch: it helps when the
teacher is much larger than the student and the data fits in memory (every
hinted feature of every sample is kept; augmented samples are new keys).

The loss terms are also outputs of the training graph: ``distill.hard``,
``distill.soft``, ``distill.hint.<student value>``, ``distill.attention.<student
value>`` (unweighted; a student value used twice gets ``.<teacher value>``
appended; :attr:`Distillation.terms` maps each to its name in the graph).

Measured (``python bench/distill.py --repeats 3``, 13–16 min on two shared
cores): on Fashion-MNIST, a 9 k-parameter CNN trained on 5,000 images for 40
epochs reaches 86.21 % test top-1 alone and 88.33 % with Hinton's term (T = 4,
α = 9 picked on a validation split; α = 1 gives 88.14 %) from a 459 k-parameter
teacher (92.28 %, trained on 55,000 images): +2.12 pt, and +1.52 / +1.86 pt
with two other student seeds.  Hints or attention transfer on top change it by
less than 0.1 pt.  The same student trained alone on the teacher's 55,000
images for 3 epochs reaches 89.25 %.

Every mistake in the setup — an unknown value name, features whose shapes do
not fit, a teacher whose logits are not [B, C] like the student's, inputs that
differ — is a :class:`DistillError` (a ``ValueError``) naming the value and the
fix.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from .errors import IrcError
from .objectives import LOSS, TARGET, Objective, cross_entropy_ops, mse_ops, one_hot, output_of

if TYPE_CHECKING:
    from .builder import Builder
    from .ir import Graph, Value
    from .train import History

Array = np.ndarray

__all__ = ["Distillation", "DistillError", "attention_map_ops", "distill"]

#: ε added to ‖Q‖² before the square root in the attention map's normalization.
ATTENTION_EPS = 1e-12


class DistillError(IrcError, ValueError):
    """A distillation setup that cannot work: unknown value names, shapes that do
    not fit, a teacher that does not match the student."""


def attention_map_ops(b: "Builder", f: "Value", name: str | None = None) -> "Value":
    """The L2-normalized attention map of ``f`` [B, C, *spatial] as IR ops:
    ``Q = Σ_c f_c²``, ``q = Q / sqrt(Σ_spatial Q² + ε)`` → [B, *spatial]."""
    spatial = list(range(1, f.type.rank - 1))
    q = b.nn.reduce_sum(b.nn.mul(f, f), axes=[1], keepdims=False)
    norm2 = b.nn.reduce_sum(b.nn.mul(q, q), axes=spatial, keepdims=True)
    return b.nn.div(q, b.nn.sqrt(b.nn.add(norm2, np.float32(ATTENTION_EPS))), name=name)


def _shape(v: "Value") -> str:
    return "[" + ", ".join(str(d) for d in v.type.shape) + "]"


def _find(graph: "Graph", name: str, what: str) -> "Value":
    """``graph``'s (non-constant) value ``name``, or a DistillError listing the
    candidates: the feature values (rank >= 2) its nodes compute."""
    for v in graph.values():
        if v.name == name and not v.is_const:
            return v
    cands = [v.name for n in graph.nodes if n.op != "const" for v in n.outputs
             if v.type.dtype.is_float and v.type.rank >= 2]
    shown = ", ".join(cands[:16]) + (" ..." if len(cands) > 16 else "")
    raise DistillError(f"{what} graph @{graph.name} has no value {name!r} (its features: "
                       f"{shown or 'none'}); name a value of that graph as `irc show` "
                       "prints it")


class Distillation(Objective):
    """Hard labels + Hinton's soft targets + FitNets hints + attention transfer,
    written into the training graph; see the module docstring for the loss.

    ``teacher``: a trained graph with the student's inputs and [B, C] logits as its
    first output (or ``teacher_output``); ``output``: the student's logits output
    (default: its first).  ``hints`` / ``attention``: pairs (student value name,
    teacher value name).  ``seed``: the adapters' initialization."""

    classifier = True

    def __init__(self, teacher: "Graph", *, temperature: float = 4.0, alpha: float = 1.0,
                 hints: Sequence[tuple[str, str]] = (), hint_weight: float = 1.0,
                 attention: Sequence[tuple[str, str]] = (), attention_weight: float = 1000.0,
                 smoothing: float = 0.0, output: str | None = None,
                 teacher_output: str | None = None, cache_teacher: bool = False,
                 seed: int = 0) -> None:
        if temperature <= 0:
            raise DistillError(f"temperature must be > 0, got {temperature}")
        for what, w in (("alpha", alpha), ("hint_weight", hint_weight),
                        ("attention_weight", attention_weight)):
            if w < 0:
                raise DistillError(f"{what} must be >= 0, got {w}")
        if not 0.0 <= smoothing < 1.0:
            raise DistillError(f"label smoothing must be in [0, 1), got {smoothing}")
        for what, pairs in (("hints", hints), ("attention", attention)):
            for p in pairs:
                if not (isinstance(p, (tuple, list)) and len(p) == 2
                        and all(isinstance(s, str) for s in p)):
                    raise DistillError(f"{what} takes (student value, teacher value) name "
                                       f"pairs, got {p!r}")
        self.teacher = teacher
        self.temperature, self.alpha = float(temperature), float(alpha)
        self.hints = [tuple(p) for p in hints]
        self.attention = [tuple(p) for p in attention]
        self.hint_weight, self.attention_weight = float(hint_weight), float(attention_weight)
        self.smoothing, self.output, self.teacher_output = smoothing, output, teacher_output
        self.cache_teacher, self.seed = cache_teacher, seed
        self.classes = 0
        #: the last training graph ``build`` returned (fit writes the trained values in)
        self.graph: "Graph | None" = None
        #: loss term → its value's name in the training graph
        self.terms: dict[str, str] = {}
        self._adapters: dict[str, list[str]] = {}
        self._teacher_run: "Graph | None" = None
        self._feed_map: list[tuple[str, str]] = []   # (teacher-run output, training input)
        self._cache: dict[bytes, list[Array]] = {}

    # -- the Objective protocol -----------------------------------------------------------

    @property
    def extra_params(self) -> list[str]:
        """The hint adapters' weights and biases (after ``build``)."""
        return [p for names in self._adapters.values() for p in names]

    def build(self, model: "Graph") -> "Graph":
        from .builder import Builder
        from .rebatch import batch_size
        from .types import TensorType
        g = model.copy()
        b = Builder(graph=g)
        logits = output_of(g, self.output)
        if logits.type.rank != 2 or not logits.type.dtype.is_float:
            raise DistillError(f"distillation needs float [B, C] logits, but the student's "
                               f"output %{logits.name} is {logits.type} (pick the logits "
                               "with output=...)")
        n, self.classes = logits.type.shape
        teacher, t_logits = self._teacher_graph(g, batch_size(g))
        tb = Builder(graph=teacher)
        hints = [self._pair("hint", g, teacher, s, t) for s, t in self.hints]
        attention = [self._pair("attention", g, teacher, s, t) for s, t in self.attention]
        f32 = logits.type.dtype
        outs: list["Value"] = []
        feed: list[tuple["Value", str]] = []

        def teacher_input(v: "Value", hint: str) -> "Value":
            """A new input of the training graph fed with teacher-run value ``v``."""
            x = b.input(g.fresh_name(hint), TensorType(v.type.dtype, v.type.shape))
            outs.append(v)
            feed.append((v, x.name))
            return x

        # Hinton: τ(o_T) from the teacher; T²·H(τ(o_T), τ(o_S)) here
        inv_t = np.float32(1.0 / self.temperature)
        p_t = teacher_input(tb.nn.softmax(tb.nn.mul(t_logits, inv_t), axis=-1,
                                          name=teacher.fresh_name("distill.teacher_probs")),
                            "distill.teacher_probs")
        target = b.input(TARGET, TensorType(f32, (n, self.classes)))
        terms = {"hard": cross_entropy_ops(b, logits, target, name=g.fresh_name("distill.hard"))}
        soft = cross_entropy_ops(b, b.nn.mul(logits, inv_t), p_t)
        terms["soft"] = b.nn.mul(soft, np.float32(self.temperature ** 2),
                                 name=g.fresh_name("distill.soft"))
        weighted = [terms["hard"], b.nn.mul(terms["soft"], np.float32(self.alpha))]

        self._adapters = {}
        rng = np.random.default_rng(self.seed)
        def key_of(kind: str, fs: "Value", ft: "Value") -> str:
            """``kind.<student value>``, or with the teacher's too when that is taken."""
            key = f"{kind}.{fs.name}"
            return f"{key}.{ft.name}" if key in terms else key

        for fs, ft in hints:
            t_name = ft.name
            key = key_of("hint", fs, ft)
            adapted = self._adapter(b, fs, ft.type.shape[1], rng, key[len("hint."):])
            terms[key] = mse_ops(b, adapted, teacher_input(ft, f"distill.teacher.{t_name}"),
                                 name=g.fresh_name(f"distill.{key}"))
            weighted.append(b.nn.mul(terms[key], np.float32(self.hint_weight)))
        for fs, ft in attention:
            t_name = ft.name
            q_t = teacher_input(attention_map_ops(tb, ft, name=teacher.fresh_name(
                f"distill.attention_map.{t_name}")), f"distill.teacher_attention.{t_name}")
            d = b.nn.sub(attention_map_ops(b, fs), q_t)
            key = key_of("attention", fs, ft)
            terms[key] = b.nn.reduce_mean(b.nn.mul(d, d), axes=list(range(d.type.rank)),
                                          keepdims=False, name=g.fresh_name(f"distill.{key}"))
            weighted.append(b.nn.mul(terms[key], np.float32(self.attention_weight / 2)))

        loss = weighted[0]                 # hard + soft at least: the last add is the loss
        for i, w in enumerate(weighted[1:], 1):
            loss = b.nn.add(loss, w, name=LOSS if i == len(weighted) - 1 else None)
        g.set_outputs([*g.outputs, *terms.values(), loss])
        teacher.set_outputs(outs)
        self.terms = {k: v.name for k, v in terms.items()}
        self._feed_map = [(v.name, x) for v, x in feed]
        self._teacher_run, self._cache, self.graph = teacher, {}, g
        return g

    def feeds(self, batch: Mapping[str, Array]) -> dict[str, Array]:
        if self._teacher_run is None:
            raise DistillError("Distillation.feeds before build: fit calls build first")
        out = {k: v for k, v in batch.items() if k != TARGET}
        out[TARGET] = one_hot(batch[TARGET], self.classes, self.smoothing)
        t_out = self.teacher_outputs({v.name: batch[v.name] for v in self._teacher_run.inputs})
        for (t_name, x_name) in self._feed_map:
            out[x_name] = t_out[t_name]
        return out

    # -- helpers ------------------------------------------------------------------------

    def adapters(self) -> dict[str, dict[str, Array]]:
        """The hint adapters' current (after ``fit``: trained) arrays, by student
        value: ``{"s.relu2": {"distill.adapter.s.relu2.w": ..., "...b": ...}}``
        (``"<student value>.<teacher value>"`` for a student value hinted twice)."""
        if self.graph is None:
            return {}
        return {s: {p: self.graph.value(p).const_value for p in names}
                for s, names in self._adapters.items()}

    def teacher_outputs(self, inputs: Mapping[str, Array]) -> dict[str, Array]:
        """The teacher run's outputs (τ(o_T), hinted features, attention maps) for
        one training batch of model inputs."""
        from .interpreter import run
        graph = self._teacher_run
        assert graph is not None
        if not self.cache_teacher:
            return run(graph, inputs)
        names = [v.name for v in graph.outputs]
        n = len(next(iter(inputs.values())))
        keys = []
        for i in range(n):
            h = hashlib.blake2b(digest_size=16)
            for v in graph.inputs:
                h.update(np.ascontiguousarray(inputs[v.name][i]).tobytes())
            keys.append(h.digest())
        if any(k not in self._cache for k in keys):
            res = run(graph, inputs)
            for i, k in enumerate(keys):
                self._cache[k] = [res[name][i] for name in names]
        return {name: np.stack([self._cache[k][j] for k in keys])
                for j, name in enumerate(names)}

    def _teacher_graph(self, student: "Graph", n: int) -> "tuple[Graph, Value]":
        """A copy of the teacher at batch ``n`` (its outputs are set by ``build``),
        and its logits; checks that it fits the student."""
        from .rebatch import with_batch
        s_in = {v.name: v for v in student.inputs if v.name != TARGET}
        t_in = {v.name: v for v in self.teacher.inputs}
        if set(s_in) != set(t_in):
            only_s, only_t = sorted(set(s_in) - set(t_in)), sorted(set(t_in) - set(s_in))
            raise DistillError(
                "teacher and student must take the same inputs: "
                + "; ".join(p for p in (
                    f"only the student takes {', '.join(only_s)}" if only_s else "",
                    f"only the teacher takes {', '.join(only_t)}" if only_t else "") if p)
                + " (rename the inputs so they agree)")
        for name, sv in s_in.items():
            tv = t_in[name]
            if sv.type.dtype != tv.type.dtype or sv.type.shape[1:] != tv.type.shape[1:]:
                raise DistillError(
                    f"input {name!r}: the student takes {sv.type}, the teacher {tv.type}; "
                    "they must agree except in the batch dimension (feed both the same "
                    "samples)")
        t = with_batch(self.teacher, n)
        if t is self.teacher:
            t = self.teacher.copy()
        try:
            t_logits = output_of(t, self.teacher_output)
        except ValueError as e:
            raise DistillError(str(e) + " (teacher_output=...)") from None
        s_logits = output_of(student, self.output)
        if t_logits.type.shape != s_logits.type.shape:
            raise DistillError(
                f"the teacher's output %{t_logits.name} is {_shape(t_logits)} at batch {n}, "
                f"the student's logits %{s_logits.name} {_shape(s_logits)}; distillation "
                "needs [B, C] logits over the same C classes from both (pick them with "
                "output=... / teacher_output=...)")
        return t, t_logits

    @staticmethod
    def _pair(what: str, student: "Graph", teacher: "Graph", s_name: str, t_name: str
              ) -> "tuple[Value, Value]":
        """The student's and the teacher's values of a hint or attention pair,
        checked to fit each other."""
        pair = f"{what} ({s_name!r}, {t_name!r})"
        fs = _find(student, s_name, f"{pair}: the student")
        ft = _find(teacher, t_name, f"{pair}: the teacher")
        if what == "attention":
            if fs.type.rank < 3 or ft.type.rank < 3:
                raise DistillError(f"{pair}: attention maps need [B, C, H, W] feature maps; "
                                   f"the student's is {_shape(fs)}, the teacher's {_shape(ft)} "
                                   "(name convolution outputs)")
        elif fs.type.rank not in (2, 4) or ft.type.rank != fs.type.rank:
            raise DistillError(f"{pair}: hints match [B, C, H, W] feature maps (1×1 conv "
                               f"adapter) or [B, D] features (linear adapter) of equal rank; "
                               f"the student's is {_shape(fs)}, the teacher's {_shape(ft)}")
        if not fs.type.dtype.is_float or not ft.type.dtype.is_float:
            raise DistillError(f"{pair}: features must be float, got {fs.type} and {ft.type}")
        if fs.type.shape[2:] != ft.type.shape[2:]:
            raise DistillError(
                f"{pair}: spatial sizes differ: the student's %{fs.name} is {_shape(fs)}, "
                f"the teacher's %{ft.name} {_shape(ft)}; pair layers of the same resolution "
                "(or pool the larger one in its graph)")
        return fs, ft

    def _adapter(self, b: "Builder", fs: "Value", c_t: int, rng: np.random.Generator,
                 key: str) -> "Value":
        """FitNets' regressor from ``fs``'s C_S channels to ``c_t``: identity when
        C_S = C_T, else N(0, 1/C_S); zero bias.  Listed under ``key``."""
        g = b.graph
        c_s = fs.type.shape[1]
        w = (np.eye(c_t, c_s) if c_s == c_t
             else rng.standard_normal((c_t, c_s)) / np.sqrt(c_s)).astype(np.float32)
        prefix = f"distill.adapter.{key}"
        bias = b.const(np.zeros(c_t, np.float32), g.fresh_name(prefix + ".b"))
        if fs.type.rank == 4:
            wv = b.const(w[:, :, None, None], g.fresh_name(prefix + ".w"))
            out = b.nn.conv2d(fs, wv, bias)
        else:
            wv = b.const(np.ascontiguousarray(w.T), g.fresh_name(prefix + ".w"))
            out = b.nn.gemm(fs, wv, bias)
        self._adapters[key] = [wv.name, bias.name]
        return out


def distill(student: "Graph", teacher: "Graph", inputs: Mapping[str, Array], targets: Array,
            *, temperature: float = 4.0, alpha: float = 1.0,
            hints: Sequence[tuple[str, str]] = (), hint_weight: float = 1.0,
            attention: Sequence[tuple[str, str]] = (), attention_weight: float = 1000.0,
            smoothing: float = 0.0, output: str | None = None,
            teacher_output: str | None = None, cache_teacher: bool = False,
            **fit_kwargs: Any) -> "History":
    """Train ``student`` in place against ``teacher`` and the labels ``targets``
    with :class:`Distillation` (options as there) and :func:`irc.train.fit`
    (every other keyword: epochs, batch_size, optimizer, eval_data...).  Returns
    fit's :class:`~irc.train.History`."""
    from .train import fit
    if "loss" in fit_kwargs:
        raise DistillError("distill sets fit's loss itself (the Distillation objective); "
                           "call irc.train.fit(loss=Distillation(...)) to pass your own")
    obj = Distillation(teacher, temperature=temperature, alpha=alpha, hints=hints,
                       hint_weight=hint_weight, attention=attention,
                       attention_weight=attention_weight, smoothing=smoothing, output=output,
                       teacher_output=teacher_output, cache_teacher=cache_teacher)
    return fit(student, inputs, targets, loss=obj, **fit_kwargs)
