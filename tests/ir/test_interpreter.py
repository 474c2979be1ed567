"""The reference interpreter: results, input checking, freeing, errors with node context."""

from __future__ import annotations

import numpy as np
import pytest

from irc.builder import Builder
from irc.dtypes import DType
from irc.errors import InputError, InterpreterError
from irc.interpreter import Interpreter, random_inputs, run
from irc.types import TensorType

F32 = DType.F32


def graph():  # type: ignore[no-untyped-def]
    b = Builder("i")
    x = b.input("x", TensorType(F32, (2, 3)))
    a = b.nn.add(x, np.arange(3, dtype=np.float32))
    y = b.nn.relu(a, name="y")
    z = b.nn.mul(a, a, name="z")
    return b.finish(y, z)


def test_runs_and_names_outputs() -> None:
    x = np.array([[-5, 0, 1], [1, -1, -3]], np.float32)
    out = run(graph(), {"x": x})
    a = x + np.arange(3)
    assert list(out) == ["y", "z"]
    np.testing.assert_array_equal(out["y"], np.maximum(a, 0))
    np.testing.assert_array_equal(out["z"], a * a)
    assert out["y"].dtype == np.float32


def test_input_errors() -> None:
    g = graph()
    with pytest.raises(InputError, match="missing x.*expected: x"):
        run(g, {})
    with pytest.raises(InputError, match=r"input 'x' has shape \[3\], expected \[2, 3\]"):
        run(g, {"x": np.zeros(3, np.float32)})
    with pytest.raises(InputError, match="unknown y"):
        run(g, {"x": np.zeros((2, 3), np.float32), "y": 1})
    with pytest.raises(InputError, match="dtype complex128"):
        run(g, {"x": np.zeros((2, 3), complex)})
    # float64 converts to f32 (same kind)
    run(g, {"x": np.zeros((2, 3))})


def test_values_are_freed_after_last_use() -> None:
    g = graph()
    interp = Interpreter(g)
    freed = {v.name for vs in interp._free_after for v in vs}
    assert "x" in freed and "0" in freed        # input and constant die after nn.add
    assert "y" not in freed and "z" not in freed


def test_error_names_the_node() -> None:
    g = graph()

    class Boom(Interpreter):
        def run_node(self, node, args):  # type: ignore[no-untyped-def]
            if node.op == "nn.mul":
                raise ZeroDivisionError("kaboom")
            return super().run_node(node, args)

    with pytest.raises(InterpreterError, match=r"while executing %z = nn.mul\(%1, %1\) \[node 3\]: "
                                               "ZeroDivisionError: kaboom"):
        Boom(g).run(random_inputs(g))


def test_random_inputs_match_types() -> None:
    b = Builder("r")
    b.input("f", TensorType(F32, (2,)))
    b.input("q", TensorType(DType.I4, (100,)))
    b.input("m", TensorType(DType.B1, (3,)))
    ins = random_inputs(b.graph, seed=1)
    assert ins["f"].dtype == np.float32
    assert ins["q"].min() >= -8 and ins["q"].max() <= 7
    assert ins["m"].dtype == np.bool_


def test_sub_byte_integer_results_wrap_and_fold_agrees() -> None:
    import irc
    b = Builder("w")
    x = b.input("x", TensorType(DType.I4, (3,)))
    c = b.const(np.array([7, 1, -8], np.int8), type=TensorType(DType.I4, (3,)))
    g = b.finish(b.nn.add(x, c, name="y"))
    out = run(g, {"x": np.array([1, 7, -1], np.int8)})["y"]
    np.testing.assert_array_equal(out, [-8, -8, 7])          # modulo 16, two's complement
    # folding the same add over constants gives the same wrapped values
    b2 = Builder("f")
    k = b2.const(np.array([1, 7, -1], np.int8), type=TensorType(DType.I4, (3,)))
    c2 = b2.const(np.array([7, 1, -8], np.int8), type=TensorType(DType.I4, (3,)))
    g2 = irc.compile(b2.finish(b2.nn.add(k, c2, name="y")), "fold", verify_each=True)
    np.testing.assert_array_equal(g2.nodes[-1].attrs["value"], [-8, -8, 7])


def test_result_dtype_mismatch_is_reported() -> None:
    g = graph()

    class Sloppy(Interpreter):
        def run_node(self, node, args):  # type: ignore[no-untyped-def]
            return [r.astype(np.float64) for r in super().run_node(node, args)]

    with pytest.raises(InterpreterError, match="is a float64 array but its type says f32"):
        Sloppy(g).run(random_inputs(g))
