"""Compile-time benchmark: parse, verify, fold+dce and print a large graph.

    python bench/bench_compile_time.py [--nodes 10000] [--repeat 5] [--json out.json]

Builds a graph of ``--nodes`` nodes (chains of constant subexpressions that
``fold`` evaluates, live elementwise ops on the input, and dead branches that
``dce`` removes), prints it to text once, then times each phase over
``--repeat`` runs and reports medians (this machine is noisy).  The target from
issue 2 is parse + verify + fold,dce + print in under 10 s on one core.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

import irc
from irc.builder import Builder
from irc.parser import parse_graph
from irc.printer import print_graph


def make_graph(n_nodes: int, width: int = 16) -> irc.Graph:
    """A graph of about ``n_nodes`` nodes: per block of 10 nodes, a foldable
    constant chain (4), live ops on the running value (3) and a dead branch (3)."""
    rng = np.random.default_rng(0)
    b = Builder("big")
    h = b.input("x", f"f32[1,{width}]")
    blocks = max(1, n_nodes // 10)
    for i in range(blocks):
        c = b.const(rng.standard_normal(width).astype(np.float32), name=f"c{i}")
        k = b.const(np.float32(0.5), name=f"k{i}")
        folded = b.nn.mul(b.nn.neg(c), k)                       # folds to one const
        h = b.nn.relu(b.nn.add(h, folded))                      # live
        dead = b.nn.exp(b.nn.mul(h, folded))                    # dead: never used
        b.nn.neg(dead)
        h = b.nn.tanh(h) if i % 2 else b.nn.sigmoid(h)          # live
    return b.finish(h)


def timed(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args()

    graph = make_graph(args.nodes)
    sidecar: dict[str, np.ndarray] = {}
    text = print_graph(graph, sidecar=sidecar)
    n = len(graph.nodes)

    t_parse, parsed = timed(lambda: parse_graph(text, sidecar=sidecar), args.repeat)
    t_verify, _ = timed(lambda: irc.verify(parsed), args.repeat)
    t_passes, result = timed(lambda: irc.compile(parsed, "fold,dce"), args.repeat)
    t_print, _ = timed(lambda: print_graph(result, sidecar={}), args.repeat)  # type: ignore[arg-type]
    total = t_parse + t_verify + t_passes + t_print

    rows = [("parse", t_parse), ("verify", t_verify), ("fold,dce", t_passes),
            ("print", t_print), ("total", total)]
    print(f"graph: {n} nodes, {len(text) / 1e6:.1f} MB of text; after fold,dce: "
          f"{len(result.nodes)} nodes; median of {args.repeat} runs, one core")  # type: ignore[union-attr]
    print(f"{'phase':<10} {'seconds':>9} {'us/node':>9}")
    for name, t in rows:
        print(f"{name:<10} {t:>9.3f} {t / n * 1e6:>9.1f}")
    print(f"target: total < 10 s -> {'met' if total < 10 else 'MISSED'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"nodes": n, "repeat": args.repeat,
                       "seconds": {k: v for k, v in rows}}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
