"""The nn.* op set's names, operands and attribute spellings/defaults are a
contract other code (importer, passes, runtime) depends on; this pins it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from irc.ops import REQUIRED, all_ops, get_op

INF = math.inf
CLAMP = (-INF, INF)
WINDOW = {"strides": (1, 1), "pads": (0, 0, 0, 0), "auto_pad": "explicit"}

# op -> (operand signature, {attribute: default})
CONTRACT = {
    "nn.conv2d": ("x w b?", {**WINDOW, "dilations": (1, 1), "groups": 1, "clamp": CLAMP}),
    "nn.conv_transpose2d": ("x w b?", {"strides": (1, 1), "pads": (0, 0, 0, 0),
                                       "dilations": (1, 1), "groups": 1,
                                       "output_padding": (0, 0), "clamp": CLAMP}),
    "nn.matmul": ("a b", {"clamp": CLAMP}),
    "nn.gemm": ("a b c?", {"alpha": 1.0, "beta": 1.0, "trans_a": False, "trans_b": False,
                           "clamp": CLAMP}),
    "nn.batch_norm": ("x scale bias mean var", {"epsilon": 1e-5, "training": False}),
    "nn.layer_norm": ("x scale bias?", {"axis": -1, "epsilon": 1e-5}),
    "nn.erf": ("x", {}), "nn.sigmoid": ("x", {}), "nn.tanh": ("x", {}), "nn.relu6": ("x", {}),
    "nn.leaky_relu": ("x", {"alpha": 0.01}),
    "nn.prelu": ("x slope", {}),
    "nn.hardsigmoid": ("x", {"alpha": 0.2, "beta": 0.5}),
    "nn.hardswish": ("x", {}),
    "nn.gelu": ("x", {"approximate": "none"}),
    "nn.softmax": ("x", {"axis": -1}),
    "nn.log_softmax": ("x", {"axis": -1}),
    "nn.identity": ("x", {}),
    "nn.max_pool": ("x", {"kernel": REQUIRED, **WINDOW, "dilations": (1, 1),
                          "ceil_mode": False}),
    "nn.avg_pool": ("x", {"kernel": REQUIRED, **WINDOW, "ceil_mode": False,
                          "count_include_pad": False}),
    "nn.global_avg_pool": ("x", {}),
    "nn.global_max_pool": ("x", {}),
    "nn.reshape": ("x", {"shape": REQUIRED}),
    "nn.flatten": ("x", {"axis": 1}),
    "nn.transpose": ("x", {"perm": ()}),
    "nn.concat": ("xs...", {"axis": REQUIRED}),
    "nn.split": ("x", {"axis": 0, "sizes": REQUIRED}),
    "nn.slice": ("x", {"starts": REQUIRED, "ends": REQUIRED, "axes": (), "steps": ()}),
    "nn.squeeze": ("x", {"axes": ()}),
    "nn.unsqueeze": ("x", {"axes": REQUIRED}),
    "nn.pad": ("x", {"pads": REQUIRED, "mode": "constant", "value": 0.0}),
    "nn.gather": ("x indices", {"axis": 0}),
    "nn.expand": ("x", {"shape": REQUIRED}),
    "nn.cast": ("x", {"to": REQUIRED}),
    "nn.reduce_mean": ("x", {"axes": (), "keepdims": True}),
    "nn.reduce_sum": ("x", {"axes": (), "keepdims": True}),
    "nn.reduce_max": ("x", {"axes": (), "keepdims": True}),
    "nn.resize": ("x", {"mode": "nearest", "scales": (), "sizes": (),
                        "coordinate_transformation_mode": "half_pixel",
                        "nearest_mode": "round_prefer_floor"}),
}

ENUMS = {
    ("nn.conv2d", "auto_pad"): ("explicit", "same_upper", "same_lower", "valid"),
    ("nn.max_pool", "auto_pad"): ("explicit", "same_upper", "same_lower", "valid"),
    ("nn.avg_pool", "auto_pad"): ("explicit", "same_upper", "same_lower", "valid"),
    ("nn.gelu", "approximate"): ("none", "tanh"),
    ("nn.pad", "mode"): ("constant", "reflect", "edge"),
    ("nn.resize", "mode"): ("nearest", "linear"),
    ("nn.resize", "coordinate_transformation_mode"):
        ("half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"),
    ("nn.resize", "nearest_mode"): ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"),
}


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_op_signature(name):
    op = get_op(name)
    sig, attrs = CONTRACT[name]
    assert " ".join(op._operand_sig()) == sig
    assert {a.name: a.default for a in op.attrs} == attrs


@pytest.mark.parametrize("key", sorted(ENUMS))
def test_enum_choices(key):
    op, attr = key
    assert get_op(op).attr_map[attr].kind.choices == ENUMS[key]


@pytest.mark.parametrize("name", sorted(n for n in all_ops() if n.startswith("nn.")))
def test_every_nn_op_is_documented_and_complete(name):
    op = get_op(name)
    assert op.doc, f"{name} has no docstring stating its math"
    for a in op.attrs:
        assert a.doc, f"{name}.{a.name} has no one-line doc"
        assert a.name == a.name.lower() and " " not in a.name
        if not a.required:   # defaults are normalized values of their own kind
            assert a.kind.coerce(a.default) == a.default or (
                isinstance(a.default, tuple) and np.array_equal(a.kind.coerce(a.default),
                                                                a.default))
    assert type(op).infer is not type(op).__mro__[-2].infer
    assert type(op).compute is not type(op).__mro__[-2].compute
