"""Files: the sidecar ``.npz`` format and the atomic writes behind ``save_text``."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from irc.errors import InputError, ParseError
from irc.io import AtomicFiles, atomic_write, atomic_write_bytes
from irc.ir import Graph, diff_graphs
from irc.textio import SIDECAR_MARKER, load_text, save_text

TEXT = "graph @g() {\n  %c = const @w : f32[2,3]\n  return %c\n}\n"


def const_graph(names: list[str]) -> Graph:
    """One large (sidecar-sized) constant per name, each with distinct values."""
    g = Graph("g")
    outs = [g.add_const(np.arange(20, dtype=np.float32) + 100 * i, name)
            for i, name in enumerate(names)]
    g.set_outputs(outs)
    return g


def leftovers(d: Path) -> list[str]:
    return sorted(f for f in os.listdir(d) if f.startswith("."))


# ---------------------------------------------------------------------------
# Sidecar keys
# ---------------------------------------------------------------------------

# Keys np.savez(f, **arrays) takes as its own parameters (file, allow_pickle)
# or names positional arrays with (arr_0); w and w.npy, which np.load resolves
# to the same member.
AWKWARD = ["file", "allow_pickle", "args", "kwds", "arr_0", "w", "w.npy", "x.npy.npy"]


def test_any_sidecar_key_round_trips_through_files(tmp_path: Path) -> None:
    g = const_graph(AWKWARD)
    path = tmp_path / "model.irc"
    save_text(g, path)
    text = path.read_text()
    for name in AWKWARD:
        assert f"const @{name} : f32[20]" in text
    assert diff_graphs(load_text(path), g) is None
    assert leftovers(tmp_path) == []


def test_the_sidecar_is_an_ordinary_npz(tmp_path: Path) -> None:
    save_text(const_graph(["file", "allow_pickle", "w"]), tmp_path / "model.irc")
    with np.load(tmp_path / "model.npz", allow_pickle=False) as z:
        assert sorted(z.files) == sorted(["file", "allow_pickle", "w", SIDECAR_MARKER])
        assert z["allow_pickle"].tolist() == (np.arange(20) + 100).tolist()
        assert int(z[SIDECAR_MARKER]) == 1


def test_a_sidecar_written_by_numpy_loads(tmp_path: Path) -> None:
    (tmp_path / "m.irc").write_text(TEXT)
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.savez_compressed(tmp_path / "m.npz", w=w, **{SIDECAR_MARKER: np.array(1)})
    assert load_text(tmp_path / "m.irc").value("c").const_value.tolist() == w.tolist()


def write_sidecar(path: Path, **arrays: np.ndarray) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for key, arr in {**arrays, SIDECAR_MARKER: np.array(1)}.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr)
            zf.writestr(key + ".npy", buf.getvalue())


@pytest.mark.parametrize("arr, why", [
    (np.zeros((3, 2), np.float32), "shape [3, 2] does not match type shape [2, 3]"),
    (np.zeros((2, 3), np.float64), "numpy dtype float64 does not store f32"),
    (np.zeros((2, 3), np.int32), "numpy dtype int32 does not store f32"),
])
def test_a_sidecar_array_that_does_not_fit_is_a_parse_error(tmp_path: Path, arr: np.ndarray,
                                                              why: str) -> None:
    (tmp_path / "m.irc").write_text(TEXT)
    write_sidecar(tmp_path / "m.npz", w=arr)
    with pytest.raises(ParseError) as info:
        load_text(tmp_path / "m.irc")
    msg = str(info.value)
    assert msg.startswith(f"{tmp_path / 'm.irc'}:2:14: sidecar array 'w' in "
                          f"{tmp_path / 'm.npz'} does not fit f32[2,3]: "), msg
    assert why in msg


def test_a_sidecar_header_claiming_terabytes_is_refused_before_allocating(
        tmp_path: Path) -> None:
    (tmp_path / "m.irc").write_text(TEXT)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
    with zipfile.ZipFile(tmp_path / "m.npz", "w") as zf:
        zf.writestr("w.npy", buf.getvalue() + b"\0" * 24)
        marker = io.BytesIO()
        np.lib.format.write_array(marker, np.array(1))
        zf.writestr(SIDECAR_MARKER + ".npy", marker.getvalue())
    with pytest.raises(InputError, match=r"m\.npz: cannot read array 'w': its header claims "
                                         r"4000000000000 bytes"):
        load_text(tmp_path / "m.irc")


def test_a_sidecar_holding_objects_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m.irc").write_text(TEXT)
    np.savez(tmp_path / "m.npz", w=np.array([{"a": 1}], dtype=object),
             **{SIDECAR_MARKER: np.array(1)})
    with pytest.raises(InputError, match="cannot read array 'w': it holds Python objects"):
        load_text(tmp_path / "m.irc")


# ---------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------

def test_atomic_write_bytes_syncs_and_leaves_no_temp_file(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    target = tmp_path / "out.npy"
    atomic_write_bytes(target, b"one")          # the CLI's call: (Path, bytes)
    atomic_write_bytes(str(target), b"two")     # str paths work too
    assert target.read_bytes() == b"two"
    assert len(synced) >= 2                      # the file data, every time
    assert os.listdir(tmp_path) == ["out.npy"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask   # not mkstemp's 0o600


def test_atomic_write_leaves_the_target_alone_when_the_block_fails(tmp_path: Path) -> None:
    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(target, "w", encoding="utf-8") as f:
            f.write("new")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["t.txt"]


def test_atomic_files_all_land_or_none(tmp_path: Path) -> None:
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"old a")
    with AtomicFiles() as files:
        files.open(a).write(b"new a")
        with files.open(b) as f:   # closing early is fine
            f.write(b"new b")
        assert a.read_bytes() == b"old a" and not b.exists()   # nothing lands before the end
    assert (a.read_bytes(), b.read_bytes()) == (b"new a", b"new b")
    # the second rename fails (its target is a directory): the first is undone
    b.unlink()
    b.mkdir()
    with pytest.raises(OSError):
        with AtomicFiles() as files:
            files.open(a).write(b"newer a")
            files.open(b).write(b"newer b")
    assert a.read_bytes() == b"new a"
    assert sorted(os.listdir(tmp_path)) == ["a.bin", "b.bin"]
    # a target that did not exist before is removed again
    c = tmp_path / "c.bin"
    with pytest.raises(OSError):
        with AtomicFiles() as files:
            files.open(c).write(b"c")
            files.open(b).write(b"b")
    assert sorted(os.listdir(tmp_path)) == ["a.bin", "b.bin"]


def test_save_text_that_fails_changes_neither_file(tmp_path: Path) -> None:
    path = tmp_path / "model.irc"
    save_text(const_graph(["w"]), path)
    before = (tmp_path / "model.npz").read_bytes()
    path.unlink()
    path.mkdir()   # the text cannot land, after the sidecar was renamed into place
    with pytest.raises(OSError):
        save_text(const_graph(["w", "v"]), path)
    assert (tmp_path / "model.npz").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.irc", "model.npz"]
