"""Time one forward + backward step of a LeNet-5-sized CNN through irc.autodiff.

    python bench/autodiff_step.py [--batch 64] [--steps 30]

conv 6@5×5 (pad 2, ReLU fused as clamp) → max-pool 2 → conv 16@5×5 (ReLU) →
max-pool 2 → flatten → gemm 120 (ReLU) → gemm 84 (ReLU) → gemm 10 → log-softmax
cross-entropy, on random data; prints milliseconds per step and the implied
seconds per 60k-image epoch, with BLAS limited to one thread and unlimited
(small matrices: extra BLAS threads can cost more than they give).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from irc.autodiff import forward_backward
from irc.builder import Builder
from irc.ir import Graph


def lenet(batch: int, seed: int = 0) -> Graph:
    r = np.random.default_rng(seed)

    def he(*shape: int) -> np.ndarray:
        return (r.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[1:]))).astype(np.float32)

    def zeros(n: int) -> np.ndarray:
        return np.zeros(n, np.float32)

    relu = {"clamp": (0.0, float("inf"))}
    b = Builder("lenet")
    x = b.input("x", f"f32[{batch},1,28,28]")
    onehot = b.input("onehot", f"f32[{batch},10]")
    h = b.nn.conv2d(x, b.const(he(6, 1, 5, 5), "c1.w"), b.const(zeros(6), "c1.b"),
                    pads=(2, 2, 2, 2), **relu)
    h = b.nn.max_pool(h, kernel=(2, 2), strides=(2, 2))
    h = b.nn.conv2d(h, b.const(he(16, 6, 5, 5), "c2.w"), b.const(zeros(16), "c2.b"), **relu)
    h = b.nn.flatten(b.nn.max_pool(h, kernel=(2, 2), strides=(2, 2)))
    for i, (n_out, n_in) in enumerate([(120, 400), (84, 120), (10, 84)]):
        h = b.nn.gemm(h, b.const(he(n_out, n_in), f"f{i + 1}.w"), b.const(zeros(n_out),
                      f"f{i + 1}.b"), trans_b=True, **(relu if i < 2 else {}))
    nll = b.nn.neg(b.nn.reduce_sum(b.nn.mul(onehot, b.nn.log_softmax(h, axis=1)), axes=(1,),
                                   keepdims=False))
    return b.finish(b.nn.reduce_mean(nll, axes=(0,), keepdims=False, name="loss"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    g = lenet(args.batch)
    r = np.random.default_rng(1)
    feeds = {"x": r.standard_normal((args.batch, 1, 28, 28)).astype(np.float32),
             "onehot": np.eye(10, dtype=np.float32)[r.integers(0, 10, args.batch)]}
    for threads in (1, None):
        with threadpool_limits(limits=threads, user_api="blas"):
            for _ in range(3):
                forward_backward(g, feeds, loss="loss")
            t = time.perf_counter()
            for _ in range(args.steps):
                forward_backward(g, feeds, loss="loss")
            dt = (time.perf_counter() - t) / args.steps
        label = "1 BLAS thread " if threads == 1 else "default threads"
        print(f"{label}: {dt * 1e3:6.1f} ms/step of {args.batch}; "
              f"{dt * 60000 / args.batch:5.1f} s per 60k-image epoch")


if __name__ == "__main__":
    main()
