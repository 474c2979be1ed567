"""``irc train`` and ``irc distill``: the training loop from the command line.

Both read training samples from an ``.npz`` holding one array per model input
(samples on axis 0; a one-input model may use any array name) and the targets
under ``labels`` (``--labels-key``), run :func:`irc.train.fit` — with the
:class:`irc.distill.Distillation` objective for ``distill``, and a
:class:`irc.prune_schedule.PruneSchedule` with ``--prune`` — and write the
trained graph to ``-o`` (``.irc`` or ``.onnx``; a ``fake-quant`` graph is
lowered afterwards by ``irc compile OUT --passes quant``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputError

if TYPE_CHECKING:
    from .ir import Graph
    from .objectives import Objective
    from .train import History


def _load_samples(path: str, graph: "Graph", labels_key: str, option: str
                  ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    if not Path(path).exists():
        raise InputError(f"{option} {path}: no such file")
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as e:
        raise InputError(f"{option} {path}: not a numpy .npz file ({e})") from None
    if not hasattr(z, "files"):
        raise InputError(f"{option} {path}: an .npz is needed (the inputs and a "
                         f"'{labels_key}' array), not an .npy")
    if labels_key not in z.files:
        raise InputError(f"{option} {path}: no '{labels_key}' array of targets (arrays: "
                         f"{', '.join(z.files)}); name it so or pass --labels-key")
    rest = [k for k in z.files if k != labels_key]
    names = [v.name for v in graph.inputs]
    if len(names) == 1 and names[0] not in rest and len(rest) == 1:
        feeds = {names[0]: z[rest[0]]}
    else:
        missing = [n for n in names if n not in rest]
        if missing:
            raise InputError(f"{option} {path}: no array for the model input(s) "
                             f"{', '.join(missing)} (arrays: {', '.join(rest)})")
        feeds = {n: z[n] for n in names}
    for n, arr in feeds.items():
        want = graph.value(n).type
        if arr.shape[1:] != want.shape[1:]:
            raise InputError(f"{option} {path}: array for input {n} has samples of shape "
                             f"{list(arr.shape[1:])}, the model takes {list(want.shape[1:])}")
        feeds[n] = arr.astype(want.dtype.storage, copy=False)
    return feeds, z[labels_key]


def _optimizer(args: argparse.Namespace, steps: int) -> Any:
    from .train import SGD, Adam, constant, cosine, step_decay
    if args.schedule == "cosine":
        sched = cosine(max(steps, 1), warmup=min(args.warmup, max(steps - 1, 0)))
    elif args.schedule == "step":
        sched = step_decay(max(1, steps // 3), 0.1)
    else:
        sched = constant()
    if args.optimizer == "sgd":
        return SGD(lr=args.lr or 0.01, momentum=args.momentum,
                   weight_decay=args.weight_decay, schedule=sched)
    return Adam(lr=args.lr or 1e-3, weight_decay=args.weight_decay, schedule=sched)


def _train(args: argparse.Namespace, objective: "Objective | str") -> int:
    import irc
    from .train import fit
    from .cli import _check_data_path, _input_shapes, _load_plugins
    for opt, path in (("--data", args.data), ("--eval-data", args.eval_data),
                      ("--calib-data", args.calib_data)):
        _check_data_path(opt, path)
    out = Path(args.output)
    if out.suffix.lower() not in (".irc", ".onnx"):
        raise InputError(f"-o {out}: write the trained graph as .irc or .onnx "
                         "(compile it to .ircm afterwards)")
    _load_plugins(args)
    graph = irc.load(args.model, input_shapes=_input_shapes(args.input_shape))
    irc.verify(graph)
    if args.passes:
        graph = irc.compile(graph, args.passes, calib_data=args.calib_data)
    inputs, targets = _load_samples(args.data, graph, args.labels_key, "--data")
    eval_data = _load_samples(args.eval_data, graph, args.labels_key, "--eval-data") \
        if args.eval_data else None
    steps = args.epochs * (len(targets) // args.batch_size)
    if steps < 1:
        raise InputError(f"--data {args.data}: {len(targets)} samples make no batch of "
                         f"{args.batch_size} (lower --batch-size)")
    opt = _optimizer(args, steps)
    kw: dict[str, Any] = dict(epochs=args.epochs, batch_size=args.batch_size, optimizer=opt,
                              loss=objective, smoothing=args.smoothing, bn=args.bn,
                              seed=args.seed, eval_data=eval_data, checkpoint=args.checkpoint,
                              on_epoch=_print_epoch)
    try:
        if args.prune:
            from .pass_manager import parse_pipeline
            from .prune_schedule import prune_and_fine_tune
            try:
                (_, popts), = parse_pipeline(f"prune{{{args.prune}}}")
            except Exception as e:
                raise InputError(f"--prune {args.prune}: {e} (write options as in "
                                 "prune{...}, e.g. --prune sparsity=0.9,pattern=block1x4)"
                                 ) from None
            hist = prune_and_fine_tune(graph, inputs, targets, **popts, **kw)
        else:
            hist = fit(graph, inputs, targets, **kw)
    except ValueError as e:
        raise InputError(str(e)) from None
    irc.save(graph, out)
    best = f" (best eval top-1 {hist.best_val:.4f})" if hist.best_val is not None else ""
    print(f"wrote {out}{best}", file=sys.stderr)
    return 0


def _print_epoch(i: int, hist: "History") -> None:
    parts = [f"epoch {i + 1}: loss {hist.loss[i]:.4f}"]
    if hist.accuracy:
        parts.append(f"train top-1 {hist.accuracy[i]:.4f}")
    if hist.val_accuracy:
        parts.append(f"eval top-1 {hist.val_accuracy[i]:.4f}")
    parts.append(f"{hist.seconds[i]:.0f} s")
    print(", ".join(parts), flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    if args.loss not in ("cross_entropy", "mse"):
        raise InputError(f"--loss {args.loss}: cross_entropy or mse")
    return _train(args, args.loss)


def _pairs(specs: list[str] | None, option: str) -> list[tuple[str, str]]:
    out = []
    for s in specs or ():
        a, sep, b = s.partition("=")
        if not sep or not a or not b:
            raise InputError(f"{option} {s}: write STUDENT_VALUE=TEACHER_VALUE")
        out.append((a, b))
    return out


def cmd_distill(args: argparse.Namespace) -> int:
    import irc
    from .cli import _input_shapes
    from .distill import Distillation
    teacher = irc.load(args.teacher, input_shapes=_input_shapes(args.input_shape))
    irc.verify(teacher)
    try:
        obj = Distillation(teacher, temperature=args.temperature, alpha=args.alpha,
                           hints=_pairs(args.hint, "--hint"), hint_weight=args.hint_weight,
                           attention=_pairs(args.attention, "--attention"),
                           attention_weight=args.attention_weight, smoothing=args.smoothing)
    except ValueError as e:
        raise InputError(str(e)) from None
    return _train(args, obj)


def _training_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, metavar="FILE.npz",
                   help="training samples: one array per model input (samples on axis 0) "
                        "and the targets under 'labels'")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="the trained model (.irc, or .onnx for float graphs)")
    p.add_argument("--eval-data", metavar="FILE.npz",
                   help="held-out samples, same layout: top-1 after every epoch")
    p.add_argument("--labels-key", default="labels", metavar="NAME",
                   help="name of the targets array in the .npz files (default labels)")
    p.add_argument("--passes", "-p", metavar="PIPELINE",
                   help="passes to run before training, e.g. 'fake-quant{bits=4}' for "
                        "quantization-aware training (needs --calib-data)")
    p.add_argument("--calib-data", metavar="FILE|DIR",
                   help="calibration samples for --passes (calibrate, fake-quant)")
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=5, help="passes over --data (default 5)")
    g.add_argument("--batch-size", type=int, default=64, metavar="B",
                   help="samples per step (default 64; any batch the model was imported with)")
    g.add_argument("--optimizer", choices=["adam", "sgd"], default="adam",
                   help="adam (AdamW, default) or sgd (momentum)")
    g.add_argument("--lr", type=float, metavar="LR",
                   help="base learning rate (default 1e-3 adam, 0.01 sgd)")
    g.add_argument("--momentum", type=float, default=0.9, help="sgd momentum (default 0.9)")
    g.add_argument("--weight-decay", type=float, default=0.0, metavar="WD",
                   help="decoupled (adam) / L2 (sgd) weight decay (default 0)")
    g.add_argument("--schedule", choices=["cosine", "constant", "step"], default="cosine",
                   help="learning-rate schedule over the run (default cosine)")
    g.add_argument("--warmup", type=int, default=0, metavar="STEPS",
                   help="cosine: linear warm-up steps (default 0)")
    g.add_argument("--smoothing", type=float, default=0.0,
                   help="label smoothing for cross-entropy (default 0)")
    g.add_argument("--bn", choices=["train", "freeze"], default="train",
                   help="batch norms: batch statistics + running updates (train, default) "
                        "or frozen running statistics (freeze)")
    g.add_argument("--prune", metavar="OPTIONS",
                   help="prune gradually while training, with prune's options: "
                        "--prune sparsity=0.9,pattern=block1x4 (schedule: docs/training.md)")
    g.add_argument("--checkpoint", metavar="PATH",
                   help="save the model after every epoch (with --eval-data: when it improves)")
    g.add_argument("--seed", type=int, default=0, help="shuffling seed (default 0)")
    g.add_argument("--load", action="append", metavar="FILE.py",
                   help="load user passes from a Python file (repeatable)")


def add_parsers(sub: Any, add_input_shape: Any) -> None:
    """Add ``train`` and ``distill`` to the CLI's subcommands."""
    t = sub.add_parser(
        "train", help="train a model's parameters on labelled samples (QAT, prune + fine-tune)",
        description="Train MODEL's float parameters on --data with irc's own training loop "
        "(reverse-mode autodiff over the IR, numpy) and write the trained graph.  "
        "--passes 'fake-quant{bits=4}' trains quantization-aware; --prune prunes gradually "
        "while training (docs/training.md).",
        epilog="examples: irc train m.onnx --data train.npz --eval-data test.npz --epochs 5 "
        "-o m.irc;  irc train m.onnx --passes 'fake-quant{bits=4}' --calib-data c.npz "
        "--data train.npz --lr 2e-4 --epochs 2 -o m.qat.irc && irc compile m.qat.irc "
        "--passes 'quant{bits=4}' -o m.ircm")
    t.add_argument("model", help="model to train (.onnx, .irc)")
    t.add_argument("--loss", default="cross_entropy", choices=["cross_entropy", "mse"],
                   help="cross_entropy against class indices (default) or mse against values")
    _training_options(t)
    add_input_shape(t)
    t.set_defaults(func=cmd_train)

    d = sub.add_parser(
        "distill", help="train a student model against a teacher (knowledge distillation)",
        description="Train STUDENT on --data with the loss H(o_S, y) + alpha*T^2*"
        "H(softmax(o_T/T), softmax(o_S/T)) (Hinton), plus FitNets hints through learned 1x1 "
        "adapters (--hint) and attention transfer (--attention); the teacher runs in the "
        "interpreter.",
        epilog="example: irc distill small.onnx --teacher big.onnx --data train.npz "
        "--temperature 4 --hint /s/conv2=/t/conv3 -o small.kd.irc")
    d.add_argument("model", help="the student model (.onnx, .irc)")
    d.add_argument("--teacher", required=True, metavar="MODEL",
                   help="the trained teacher (same inputs, [B, C] logits)")
    d.add_argument("--temperature", type=float, default=4.0, metavar="T",
                   help="softmax temperature of the soft targets (default 4)")
    d.add_argument("--alpha", type=float, default=1.0,
                   help="weight of the soft-target term (default 1)")
    d.add_argument("--hint", action="append", metavar="S=T",
                   help="FitNets hint: student value S regresses teacher value T through a "
                        "learned 1x1 adapter (repeatable)")
    d.add_argument("--hint-weight", type=float, default=1.0, help="weight of the hint terms")
    d.add_argument("--attention", action="append", metavar="S=T",
                   help="attention transfer between feature maps S and T (repeatable)")
    d.add_argument("--attention-weight", type=float, default=1000.0,
                   help="weight of the attention terms (default 1000, as Zagoruyko & "
                        "Komodakis)")
    _training_options(d)
    add_input_shape(d)
    d.set_defaults(func=cmd_distill)


__all__ = ["add_parsers", "cmd_train", "cmd_distill"]
