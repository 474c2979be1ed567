"""Knowledge distillation on Fashion-MNIST: a thin CNN student alone and taught by a larger CNN.

    python bench/distill.py [--quick] [--repeats 3] [--train 5000] [--epochs 40]
                            [--teacher-epochs 3]

Prints a markdown table: test top-1 on the 10k Fashion-MNIST test images (Debian's
``dataset-fashion-mnist``), validation top-1, epochs and seconds for the teacher
and for each student row.

The setup (fixed before looking at any test number):

* data: pixels / 255.  A seeded permutation of the 60k training images gives a
  5,000-image *validation* split (for the choice of α below, and reported), the
  student's *transfer set* (``--train`` images, default 5,000: the limited-data
  regime where distillation pays in the literature), and the rest.
* teacher: conv 32@3×3 → BN → ReLU → max-pool → conv 64@3×3 → BN → ReLU →
  max-pool → conv 64@3×3 → BN → ReLU → FC 128 → ReLU → FC 10 (≈ 0.5 M
  parameters), trained with :func:`irc.train.fit` (Adam 3e-3, cosine schedule,
  batch norms on batch statistics) on every training image outside the
  validation split (55,000), for ``--teacher-epochs``.
* student: conv 8@3×3 → ReLU → max-pool → conv 16@3×3 → ReLU → max-pool → FC 10
  (≈ 9 k parameters), trained on the transfer set only, every row with the same
  seed, initial weights, batch order, epochs and optimizer (Adam 3e-3, cosine
  schedule, batch 64):

  - *alone*: cross-entropy on the labels;
  - *+ KD*: Hinton's soft targets, T = 4, ``L = CE + α·T²·H(τ(o_T), τ(o_S))``;
    α from {1, 3, 9}, picked by validation top-1 (the test set is not looked at);
  - *+ KD + hints*: also FitNets hints (1×1-conv adapters, hint weight 1) from
    both student stages to the teacher's stages of the same resolution (14×14
    after the first pool, 7×7 after the second);
  - *+ KD + AT*: Hinton's term plus attention transfer (β = 1000, the paper's)
    on the same pairs of stages.

  A reference row trains the same student alone on the teacher's images for
  the teacher's epochs: what the labels of the full data give without a teacher.

Result (``--repeats 3``, 13 min here): student alone 86.21 %, + KD 88.33 %
(+2.12 pt; +1.52 and +1.86 pt with two other student seeds), hints and AT
within 0.1 pt of KD alone; teacher 92.28 %; the student alone on the teacher's
55,000 images 89.25 %.

The teacher's outputs are cached per training sample (``cache_teacher``): it is
deterministic in eval mode, so it runs once per image rather than once per epoch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import irc  # noqa: E402
from irc.builder import Builder  # noqa: E402
from irc.distill import distill  # noqa: E402
from irc.train import Adam, History, cosine, evaluate, fit  # noqa: E402
from ptq_models import load_fashion_mnist  # noqa: E402

BATCH = 64
LR = 3e-3
VAL = 5000
# the student's stage outputs and the teacher's of the same resolution (14×14, 7×7)
PAIRS = [("s.stage1", "t.stage1"), ("s.stage2", "t.stage2")]


class _Net:
    """Builder helpers: He-initialized convolutions and FCs from one seeded stream."""

    def __init__(self, name: str, batch: int, seed: int) -> None:
        self.b = Builder(name)
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.x = self.b.input("input", f"f32[{batch},1,28,28]")
        self.k = 0

    def _p(self, arr: np.ndarray, what: str) -> Any:
        return self.b.const(arr.astype(np.float32), f"{self.name}.{what}{self.k}")

    def conv(self, h: Any, c_in: int, c_out: int, bn: bool, name: str | None = None) -> Any:
        self.k += 1
        w = self.rng.standard_normal((c_out, c_in, 3, 3)) * np.sqrt(2.0 / (9 * c_in))
        h = self.b.nn.conv2d(h, self._p(w, "conv"), self._p(np.zeros(c_out), "convb"),
                             pads=[1, 1, 1, 1])
        if bn:
            ones, zeros = np.ones(c_out), np.zeros(c_out)
            h = self.b.nn.batch_norm(h, self._p(ones, "bns"), self._p(zeros, "bnb"),
                                     self._p(zeros, "bnm"), self._p(ones, "bnv"))
        return self.b.nn.relu(h, name=name)

    def pool(self, h: Any, name: str | None = None) -> Any:
        return self.b.nn.max_pool(h, kernel=[2, 2], strides=[2, 2], name=name)

    def fc(self, h: Any, n_in: int, n_out: int, relu: bool, name: str | None = None) -> Any:
        self.k += 1
        w = self.rng.standard_normal((n_in, n_out)) * np.sqrt((2.0 if relu else 1.0) / n_in)
        y = self.b.nn.gemm(h, self._p(w, "fc"), self._p(np.zeros(n_out), "fcb"),
                           name=None if relu else name)
        return self.b.nn.relu(y, name=name) if relu else y


def teacher_net(batch: int, seed: int = 1) -> irc.Graph:
    n = _Net("t", batch, seed)
    h = n.pool(n.conv(n.x, 1, 32, bn=True), name="t.stage1")                  # 14×14
    h = n.pool(n.conv(h, 32, 64, bn=True), name="t.stage2")                   # 7×7
    h = n.b.nn.flatten(n.conv(h, 64, 64, bn=True))
    h = n.fc(h, 64 * 49, 128, relu=True)
    return n.b.finish(n.fc(h, 128, 10, relu=False, name="t.logits"))


def student_net(batch: int, seed: int = 2) -> irc.Graph:
    n = _Net("s", batch, seed)
    h = n.pool(n.conv(n.x, 1, 8, bn=False), name="s.stage1")                  # 14×14
    h = n.pool(n.conv(h, 8, 16, bn=False), name="s.stage2")                   # 7×7
    return n.b.finish(n.fc(n.b.nn.flatten(h), 16 * 49, 10, relu=False, name="s.logits"))


def n_params(g: irc.Graph) -> int:
    from irc.autodiff import trainable_params
    return sum(g.value(p).type.size for p in trainable_params(g))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run (~2 min; its numbers are not the result): 2,000 "
                         "transfer images, 10 student epochs, 1 teacher epoch on 15,000 "
                         "images, 2,000 test images, α = 1 without search")
    ap.add_argument("--train", type=int, default=5000, help="transfer-set size")
    ap.add_argument("--epochs", type=int, default=40, help="epochs of every student row")
    ap.add_argument("--teacher-epochs", type=int, default=3)
    ap.add_argument("--temperature", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1,
                    help="also train 'alone' and '+ KD' with N − 1 other student seeds "
                         "(same split and teacher; ~2 min each)")
    args = ap.parse_args()
    teacher_limit, test_limit, alphas = 0, 0, [1.0, 3.0, 9.0]
    if args.quick:
        args.train, args.epochs, args.teacher_epochs = 2000, 10, 1
        teacher_limit, test_limit, alphas = 15000, 2000, [1.0]
    t_start = time.perf_counter()

    xall, yall = load_fashion_mnist("train")
    xte, yte = load_fashion_mnist("test")
    xall = (xall.astype(np.float32) / 255.0)[:, None]
    xte = (xte.astype(np.float32) / 255.0)[:, None]
    if test_limit:
        xte, yte = xte[:test_limit], yte[:test_limit]
    perm = np.random.default_rng(args.seed).permutation(len(yall))
    val_idx, rest = perm[:VAL], perm[VAL:]
    tr_idx = rest[:args.train]                       # the student's transfer set
    t_idx = rest[:teacher_limit] if teacher_limit else rest
    xval, yval = xall[val_idx], yall[val_idx]
    xtr, ytr = xall[tr_idx], yall[tr_idx]
    test = ({"input": xte}, yte)
    val = ({"input": xval}, yval)
    rows: list[tuple[str, float, float, int, float]] = []
    repeats: list[tuple[str, float, float, int, float]] = []

    def score(g: irc.Graph) -> tuple[float, float]:
        return (100 * evaluate(g, *test, progress_label=None),
                100 * evaluate(g, *val, progress_label=None))

    # the teacher
    teacher = teacher_net(BATCH)
    steps = args.teacher_epochs * (len(t_idx) // BATCH)
    t0 = time.perf_counter()
    fit(teacher, {"input": xall[t_idx]}, yall[t_idx], epochs=args.teacher_epochs,
        batch_size=BATCH, optimizer=Adam(lr=LR, schedule=cosine(steps)), seed=args.seed,
        progress_label="teacher")
    t_secs = time.perf_counter() - t0
    rows.append((f"teacher ({n_params(teacher) / 1e3:.0f} k params, {len(t_idx)} images)",
                 *score(teacher), args.teacher_epochs, t_secs))
    print(f"teacher: test {rows[-1][1]:.2f} %, val {rows[-1][2]:.2f} %, {t_secs:.0f} s",
          file=sys.stderr)

    def student_run(label: str, train: Callable[..., History], x: np.ndarray = xtr,
                    y: np.ndarray = ytr, epochs: int = args.epochs, repeat: int = 0) -> float:
        """Train a fresh student; ``repeat`` r > 0: initial weights from seed 100 + r
        and batch order from seed r, into ``repeats`` instead of ``rows``."""
        g = student_net(BATCH, seed=100 + repeat) if repeat else student_net(BATCH)
        opt = Adam(lr=LR, schedule=cosine(epochs * (len(y) // BATCH)))
        t0 = time.perf_counter()
        train(g, {"input": x}, y, epochs=epochs, batch_size=BATCH, optimizer=opt,
              seed=repeat or args.seed, progress_label=label)
        secs = time.perf_counter() - t0
        te, va = score(g)
        (repeats if repeat else rows).append((label, te, va, epochs, secs))
        print(f"{label}: test {te:.2f} %, val {va:.2f} %, {secs:.0f} s", file=sys.stderr)
        return va

    def kd(alpha: float, **kw: Any) -> Callable[..., History]:
        def train(g: irc.Graph, inputs: Any, targets: Any, **fit_kw: Any) -> History:
            return distill(g, teacher, inputs, targets, temperature=args.temperature,
                           alpha=alpha, cache_teacher=True, **kw, **fit_kw)
        return train

    student_run(f"student alone ({n_params(student_net(BATCH)) / 1e3:.1f} k params)", fit)
    # α by validation top-1; the rows not chosen stay in the table, marked
    vals = {a: student_run(f"+ KD (T = {args.temperature:g}, α = {a:g})", kd(a))
            for a in alphas}
    alpha = max(vals, key=lambda a: vals[a])
    student_run(f"+ KD (α = {alpha:g}) + hints (weight 1)", kd(alpha, hints=PAIRS))
    student_run(f"+ KD (α = {alpha:g}) + AT (β = 1000)", kd(alpha, attention=PAIRS))
    student_run(f"(reference) student alone on the teacher's {len(t_idx)} images", fit,
                xall[t_idx], yall[t_idx], args.teacher_epochs)
    for r in range(1, args.repeats):
        student_run(f"repeat {r}: student alone", fit, repeat=r)
        student_run(f"repeat {r}: + KD (α = {alpha:g})", kd(alpha), repeat=r)
    total = time.perf_counter() - t_start

    print(f"\nFashion-MNIST; student transfer set: {len(ytr)} training images; teacher: "
          f"{len(t_idx)} images; validation: {VAL} held-out training images (α = {alpha:g} "
          f"picked on it among {', '.join(f'{a:g}' for a in alphas)}); test: "
          f"{len(yte)} test images.  Adam {LR:g}, cosine schedule, batch {BATCH}, seed "
          f"{args.seed}.  Total {total / 60:.1f} min.\n")
    print("| model | test top-1 % | vs. student alone | val top-1 % | epochs | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    base = rows[1][1]
    for i, (label, te, va, ep, secs) in enumerate(rows):
        delta = f"{te - base:+.2f} pt" if 2 <= i < len(rows) - 1 else ""
        print(f"| {label} | {te:.2f} | {delta} | {va:.2f} | {ep} | {secs:.0f} |")
    if repeats:
        kd_row = next(r for r in rows if r[0].startswith(f"+ KD (T = {args.temperature:g}, "
                                                          f"α = {alpha:g})"))
        gaps = [kd_row[1] - base] + [repeats[i + 1][1] - repeats[i][1]
                                     for i in range(0, len(repeats), 2)]
        print(f"\nOther student seeds (initial weights 100 + r, batch order r), test top-1 %:\n")
        print("| student seed | alone | + KD (α = " + f"{alpha:g}) | gap |")
        print("|---|---:|---:|---:|")
        print(f"| 0 (the table's) | {base:.2f} | {kd_row[1]:.2f} | {gaps[0]:+.2f} pt |")
        for i in range(0, len(repeats), 2):
            print(f"| {i // 2 + 1} | {repeats[i][1]:.2f} | {repeats[i + 1][1]:.2f} | "
                  f"{gaps[i // 2 + 1]:+.2f} pt |")
        print(f"\nmean gap over {len(gaps)} seeds: {np.mean(gaps):+.2f} pt "
              f"(min {min(gaps):+.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
