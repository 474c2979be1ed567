"""``irc show`` accounts bytes per layer by encoding: what pruning and sparse
encoding saved, before any entropy coding."""

from __future__ import annotations

import numpy as np

import irc
from irc.builder import Builder
from irc.cli import main


def test_show_reports_each_layer_dense_and_stored(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 32, 1, 1)).astype(np.float32)
    w[rng.random(w.shape) < 0.9] = 0                         # 10 % non-zero
    b = Builder("net")
    x = b.input("x", "f32[1,32,4,4]")
    h = b.nn.conv2d(x, w, loc="pw")
    y = b.nn.gemm(b.nn.flatten(b.nn.global_avg_pool(h)),
                  rng.standard_normal((64, 10)).astype(np.float32), loc="fc")
    g = b.finish(y)
    path = tmp_path / "m.irc"
    irc.save(irc.compile(g, "sparse-encode{only=[pw],encoding=csr,force=true}"), path)
    assert main(["show", str(path)]) == 0
    out = capsys.readouterr().out
    pw = next(line for line in out.splitlines() if line.strip().startswith("pw "))
    assert "sparse.conv2d" in pw and "f32[64,32,1,1]" in pw and " csr " in pw
    assert f"{np.count_nonzero(w) / w.size:.1%}" in pw
    # dense 64*32*4 = 8 KiB; csr of ~205 values: 65 row pointers + u8 indices + values
    assert "8.0 KiB" in pw
    stored = float(pw.split()[-2]) if pw.split()[-1] == "KiB" else None
    assert stored is not None and 1.0 < stored < 2.0
    fc = next(line for line in out.splitlines() if line.strip().startswith("fc "))
    assert "dense" in fc and "100.0%" in fc
    total = next(line for line in out.splitlines() if "all 2 layers" in line)
    assert "saved)" in total
    enc = next(line for line in out.splitlines() if "encoding csr" in line)
    assert float(enc.split()[-2]) == stored
