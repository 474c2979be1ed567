"""examples/c: the embedding example builds against libircrt alone (make, and CMake)
and classifies a Fashion-MNIST image like the interpreter does, on x86 and on arm64
under qemu."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

import irc
from irc.artifact import build_artifact

from arm64 import cross_available, run_qemu
from rt_helpers import REPO

EXAMPLE = REPO / "examples" / "c"
pytestmark = pytest.mark.skipif(shutil.which("make") is None or shutil.which("gcc") is None,
                                reason="needs make and gcc")


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    """The quantized Fashion-MNIST CNN as an artifact, a test image, and the class the
    interpreter gives it."""
    d = tmp_path_factory.mktemp("fashion")
    data = np.load(REPO / "examples" / "fashion_eval.npz")
    g = irc.load(REPO / "examples" / "fashion_cnn.onnx", input_shapes={"input": (1, 1, 28, 28)})
    calib = (data["calib_images"][:32, None] / 255.0).astype(np.float32)
    q = irc.compile(g, "calibrate,quant", calib_data={"input": calib})
    (d / "model.ircm").write_bytes(build_artifact(q))
    x = (data["test_images"][3:4, None] / 255.0).astype("<f4")
    x.tofile(d / "input.bin")
    logits = irc.run(q, {"input": x})[q.outputs[0].name]
    return d, int(np.argmax(logits))


def _make(*args):
    res = subprocess.run(["make", "-s", "-C", str(EXAMPLE), *args], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]


def test_host_build_classifies(fashion):
    d, want = fashion
    _make()
    res = subprocess.run([str(EXAMPLE / "classify"), str(d / "model.ircm"), str(d / "input.bin"),
                          "--repeat", "3"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"class {want} ")


def test_bad_input_file_is_a_clear_error(fashion, tmp_path):
    d, _ = fashion
    _make()
    short = tmp_path / "short.bin"
    short.write_bytes(b"\0" * 10)
    res = subprocess.run([str(EXAMPLE / "classify"), str(d / "model.ircm"), str(short)],
                         capture_output=True, text=True)
    assert res.returncode == 1 and "3136 bytes" in res.stderr


@pytest.mark.skipif(not cross_available(), reason="arm64 cross tools missing")
@pytest.mark.parametrize("cpu", ["cortex-a76", "cortex-a53"])
def test_arm64_build_classifies_under_qemu(fashion, cpu):
    d, want = fashion
    _make("CROSS=aarch64")
    res = run_qemu(EXAMPLE / "classify-aarch64", [str(d / "model.ircm"), str(d / "input.bin")],
                   cpu=cpu)
    assert res.returncode == 0, res.describe()
    assert res.stdout.startswith(f"class {want} ")
    assert ("neondot" if cpu == "cortex-a76" else "kernels neon,") in res.stdout


@pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake")
def test_cmake_build(fashion, tmp_path):
    d, want = fashion
    build = tmp_path / "build"
    for cmd in (["cmake", "-S", str(EXAMPLE), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release"],
                ["cmake", "--build", str(build), "-j", "2"]):
        res = subprocess.run(cmd, capture_output=True, text=True)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    res = subprocess.run([str(build / "classify"), str(d / "model.ircm"), str(d / "input.bin")],
                         capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith(f"class {want} ")
