"""Calibration data: from what users have to the feeds a graph takes.

Accepted forms (``irc.compile(..., calib_data=...)``, ``--calib-data``):

* a ``.npz`` file — one array per graph input, named like the input (a model
  with one input may use any name); samples stacked on axis 0;
* a ``.npy`` file — the stacked samples of a one-input model;
* a folder of ``.npz``/``.npy`` files, read in name order, each as above;
* in Python: a mapping ``{input: stacked array}``, one array (one-input
  models), or any iterable of feed dicts ``{input: array}`` used as they are.

Stacked samples are cut into feeds of the graph's static batch size: for an
input ``f32[B, ...]``, arrays ``[N, ...]`` give ``N // B`` feeds (a remainder
smaller than ``B`` is dropped, and said so); an array without the batch axis
is one sample when ``B == 1``.  Values are cast to the input's dtype when the
kind (float / integer) agrees; an integer array for a float input is refused,
since it is almost always unscaled image data.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from .errors import InputError
from .ir import Graph, Value

Feed = dict[str, np.ndarray]


class CalibData:
    """A re-iterable sequence of feeds for ``graph`` (``len`` = number of feeds)."""

    def __init__(self, feeds: list[Feed], source: str) -> None:
        self.feeds = feeds
        self.source = source

    def __iter__(self) -> Iterator[Feed]:
        return iter(self.feeds)

    def __len__(self) -> int:
        return len(self.feeds)

    def head(self, n: int | None) -> "CalibData":
        """The first ``n`` feeds (all when ``n`` is None)."""
        return self if n is None else CalibData(self.feeds[:n], self.source)


def calib_feeds(data: Any, graph: Graph) -> CalibData:
    """Normalize ``data`` (any accepted form) into feeds for ``graph``."""
    if isinstance(data, CalibData):
        return data
    if data is None:
        raise InputError("no calibration data: give --calib-data FILE (.npz/.npy or a folder "
                         "of them), or calib_data= in Python")
    if isinstance(data, (str, os.PathLike)):
        return _from_path(Path(data), graph)
    if isinstance(data, np.ndarray):
        return CalibData(_cut(_one_input_mapping(graph, data, "the array"), graph), "array")
    if isinstance(data, Mapping):
        return CalibData(_cut(dict(data), graph), "mapping")
    feeds = []
    for k, feed in enumerate(data):
        if not isinstance(feed, Mapping):
            raise InputError(f"calibration feed {k} is a {type(feed).__name__}, expected a "
                             "dict {input name: array}")
        feeds.append(_check_feed(dict(feed), graph, f"feed {k}"))
    if not feeds:
        raise InputError("the calibration data holds no samples")
    return CalibData(feeds, "iterable")


def _from_path(path: Path, graph: Graph) -> CalibData:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".npz", ".npy"))
        if not files:
            raise InputError(f"{path}: the folder holds no .npz or .npy files")
        feeds = [f for p in files for f in _from_file(p, graph)]
    else:
        feeds = _from_file(path, graph)
    if not feeds:
        raise InputError(f"{path}: no calibration samples")
    return CalibData(feeds, str(path))


def _from_file(path: Path, graph: Graph) -> list[Feed]:
    if path.suffix not in (".npz", ".npy"):
        raise InputError(f"{path}: calibration data must be .npz or .npy (or a folder of them)")
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read calibration data: {e}") from None
    if isinstance(loaded, np.ndarray):
        arrays = _one_input_mapping(graph, loaded, str(path))
    else:
        with loaded:
            arrays = {k: loaded[k] for k in loaded.files}
        if len(graph.inputs) == 1 and len(arrays) == 1:
            arrays = {graph.inputs[0].name: next(iter(arrays.values()))}
    try:
        return _cut(arrays, graph)
    except InputError as e:
        raise InputError(f"{path}: {e}") from None


def _one_input_mapping(graph: Graph, arr: np.ndarray, what: str) -> dict[str, np.ndarray]:
    if len(graph.inputs) != 1:
        names = ", ".join(v.name for v in graph.inputs)
        raise InputError(f"{what} is a single array, but the model has {len(graph.inputs)} "
                         f"inputs ({names}); use an .npz with one array per input")
    return {graph.inputs[0].name: arr}


def _cut(arrays: dict[str, np.ndarray], graph: Graph) -> list[Feed]:
    """Split stacked arrays into feeds of the graph's batch size."""
    _check_names(arrays, graph)
    counts = {}
    for v in graph.inputs:
        a = np.asarray(arrays[v.name])
        shape = v.type.shape
        if a.shape == shape[1:] and shape[:1] == (1,):
            a = a[None]
        if a.ndim != len(shape) or a.shape[1:] != shape[1:] or not shape:
            raise InputError(f"input '{v.name}' is {v.type}, but its calibration array has "
                             f"shape {list(a.shape)}; stack samples on axis 0")
        arrays[v.name] = _cast(a, v, f"input '{v.name}'")
        counts[v.name] = a.shape[0] // max(shape[0], 1)
    n = min(counts.values())
    if len(set(counts.values())) > 1:
        raise InputError(f"the inputs have different numbers of samples: {counts}")
    if n == 0:
        raise InputError("fewer calibration samples than the model's batch size "
                         f"({', '.join(f'{v.name}: {v.type}' for v in graph.inputs)})")
    for v in graph.inputs:
        extra = arrays[v.name].shape[0] - n * max(v.type.shape[0], 1)
        if extra:
            warnings.warn(f"calibration: dropping the last {extra} sample(s) of input "
                          f"'{v.name}' (not a whole batch of {v.type.shape[0]})", stacklevel=3)
    feeds = []
    for i in range(n):
        feeds.append({v.name: arrays[v.name][i * v.type.shape[0]:(i + 1) * v.type.shape[0]]
                      for v in graph.inputs})
    return feeds


def _check_names(arrays: Mapping[str, Any], graph: Graph) -> None:
    want = {v.name for v in graph.inputs}
    missing, extra = want - set(arrays), set(arrays) - want
    if missing:
        raise InputError(f"calibration data lacks model input(s) {sorted(missing)}"
                         + (f" (it has {sorted(extra)})" if extra else ""))


def _check_feed(feed: Feed, graph: Graph, what: str) -> Feed:
    _check_names(feed, graph)
    out = {}
    for v in graph.inputs:
        a = np.asarray(feed[v.name])
        if a.shape != v.type.shape:
            raise InputError(f"calibration {what}: input '{v.name}' is {v.type}, got shape "
                             f"{list(a.shape)}")
        out[v.name] = _cast(a, v, f"calibration {what}: input '{v.name}'")
    return out


def _cast(a: np.ndarray, v: Value, what: str) -> np.ndarray:
    want = v.type.dtype.storage
    if a.dtype == want:
        return a
    if v.type.dtype.is_float and a.dtype.kind not in "f":
        raise InputError(f"{what} is {v.type.dtype} but the calibration data is {a.dtype}; "
                         "preprocess it (e.g. scale images to floats) before calibrating")
    return a.astype(want)
