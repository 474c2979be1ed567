"""Helpers shared by the nn.* op tests (tests/ir/test_ops_*.py).

::

    from ophelpers import F32, T, infer, make_rand, run   # tests/ir is on sys.path under pytest

* ``run(op, *arrays, **attrs)`` computes through the op definition and checks the
  result against the op's own type rule;
* ``infer(op, *types, **attrs)`` builds a one-node graph and returns the result type(s);
* ``T(dtype, *shape)`` / ``F32(*shape)`` spell tensor types;
* ``make_rand(seed)`` gives a file its own ``rand(*shape, dtype=np.float32)``.
"""

from __future__ import annotations

import numpy as np

from irc.builder import Builder
from irc.dtypes import DType
from irc.ops import get_op
from irc.types import TensorType


def check_results(label, outs, types):
    """Compute gave one array per result type, each of the promised shape and dtype."""
    assert len(outs) == len(types)
    for o, t in zip(outs, types):
        assert o.shape == t.shape, f"{label}: compute gives {o.shape}, type rule {t.shape}"
        assert o.dtype == t.dtype.storage, f"{label}: compute gives {o.dtype}, type {t}"


def run(op_name, *inputs, **attrs):
    """Compute through the op definition, checking the result against its type rule."""
    op = get_op(op_name)
    arrays = [np.asarray(a) for a in inputs]
    norm = op.normalize_attrs(attrs)
    types = op.infer_types([TensorType.of(a) for a in arrays], norm)
    outs = op.run(arrays, norm)
    check_results(op_name, outs, types)
    return outs[0] if len(outs) == 1 else outs


def infer(op_name, *types, **attrs):
    """The result type (a tuple of them for a multi-result op) of ``op_name`` on ``types``."""
    b = Builder()
    vals = [b.input(f"in{i}", t) for i, t in enumerate(types)]
    out = b.op(op_name, *vals, **attrs)
    return tuple(v.type for v in out) if isinstance(out, tuple) else out.type


def T(dtype, *shape):
    return TensorType(dtype, shape)


def F32(*shape):
    return T(DType.F32, *shape)


def make_rand(seed=0):
    """``rand(*shape, dtype=np.float32)``: standard-normal arrays from a generator of the
    caller's own, so one file's data does not depend on which other files ran first."""
    rng = np.random.default_rng(seed)

    def rand(*shape, dtype=np.float32):
        return rng.standard_normal(shape).astype(dtype)

    return rand
