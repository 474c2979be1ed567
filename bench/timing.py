"""Timing helpers shared by the runtime benchmarks.

* :func:`sampler` — seconds per call of a function, over enough calls to last ``min_time``;
* :func:`isolated` — the same, measured in a fresh process per round, alternating the
  configurations.  Multi-threaded runs need it on this 2-core VM: a library's idle worker
  threads keep spinning for tens of milliseconds after a run (onnxruntime's, irc's for a
  fraction of a millisecond), so two libraries interleaved in one process steal each
  other's cores and both look slower than they are.

    python bench/timing.py WORKER irc|ort MODEL FEEDS.npz THREADS SAMPLES MIN_TIME

is the worker: it loads MODEL (an ``.ircm`` for irc, an ``.onnx`` for onnxruntime) with
THREADS threads, binds the inputs of FEEDS.npz once, and prints the per-call seconds of
SAMPLES samples as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def sampler(fn: Callable[[], Any], min_time: float = 2e-3) -> Callable[[], float]:
    """A function returning the seconds per call of ``fn``, averaged over enough calls
    to last ``min_time``."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    calls = max(1, int(min_time / once))

    def sample() -> float:
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - t) / calls
    return sample


def irc_call(model: str | bytes, feeds: Mapping[str, np.ndarray], threads: int
             ) -> Callable[[], None]:
    from irc.runtime import Session
    s = Session(model, num_threads=threads)
    s.set_inputs(feeds)
    return s.invoke


def ort_call(model: str | bytes, feeds: Mapping[str, np.ndarray], threads: int
             ) -> Callable[[], None]:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    binding = sess.io_binding()
    for k, v in feeds.items():
        binding.bind_cpu_input(k, np.ascontiguousarray(v))
    for o in sess.get_outputs():
        binding.bind_output(o.name)
    return lambda: sess.run_with_iobinding(binding)


CALLS = {"irc": irc_call, "ort": ort_call}


def isolated(configs: Mapping[str, tuple[str, str, int]], feeds: Mapping[str, np.ndarray],
             rounds: int = 3, samples: int = 5, min_time: float = 2e-3,
             workdir: Path | None = None) -> dict[str, float]:
    """Median seconds per call for each ``name: (lib, model path, threads)``, each round
    measured in a fresh process, the configurations alternating round by round."""
    import tempfile
    d = Path(workdir or tempfile.mkdtemp(prefix="irc-timing-"))
    feeds_path = d / "feeds.npz"
    np.savez(feeds_path, **{k: np.ascontiguousarray(v) for k, v in feeds.items()})
    times: dict[str, list[float]] = {k: [] for k in configs}
    for _ in range(rounds):
        for name, (lib, model, threads) in configs.items():
            out = subprocess.run([sys.executable, __file__, "WORKER", lib, str(model),
                                  str(feeds_path), str(threads), str(samples), str(min_time)],
                                 capture_output=True, text=True)
            if out.returncode:
                raise RuntimeError(f"timing worker {name} failed:\n{out.stderr[-2000:]}")
            times[name] += json.loads(out.stdout)
    return {k: float(np.median(v)) for k, v in times.items()}


def _worker(lib: str, model: str, feeds_path: str, threads: int, samples: int,
            min_time: float) -> None:
    feeds = dict(np.load(feeds_path))
    s = sampler(CALLS[lib](model, feeds, threads), min_time)
    print(json.dumps([s() for _ in range(samples)]))


if __name__ == "__main__" and len(sys.argv) == 8 and sys.argv[1] == "WORKER":
    _worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]),
            float(sys.argv[7]))
