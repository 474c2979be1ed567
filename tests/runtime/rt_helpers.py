"""Shared helpers of the runtime tests: building the C driver, artifact corruption,
quantized test graphs."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from irc import Builder, DType, PerAxis, PerTensor, TensorType
from irc.artifact import opcodes
from irc.fixedpoint import quantize_multiplier

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "runtime"
DRIVER = Path(__file__).resolve().parent / "c" / "run_artifact.c"
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
            "-fno-omit-frame-pointer", "-g")


def runtime_sources() -> list[Path]:
    return sorted((RUNTIME / "src").glob("*.c")) + sorted((RUNTIME / "src" / "kernels").glob("*.c"))


def build_driver(out: Path, flags: Sequence[str] = (), cc: str = "gcc") -> Path:
    """Compile run_artifact.c with the whole runtime into ``out``."""
    cmd = [cc, "-O1", "-std=c99", "-ffp-contract=off", "-DIRC_THREADS=1", "-pthread",
           f"-I{RUNTIME / 'include'}", *flags, str(DRIVER), *map(str, runtime_sources()),
           "-o", str(out), "-lm", "-lpthread"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"driver build failed:\n{' '.join(cmd)}\n{res.stderr[-4000:]}")
    return out


def have_cc() -> bool:
    return shutil.which("gcc") is not None


def build_arm64_driver(out: Path) -> Path:
    """run_artifact.c with the whole runtime, cross-built for aarch64."""
    from arm64 import build_arm64
    return build_arm64([DRIVER, *runtime_sources()], out, ["-DIRC_THREADS=1", "-pthread"])


def run_under_qemu(driver: Path, graph, feeds: dict[str, np.ndarray], workdir: Path,
                   cpu: str) -> tuple[str, dict[str, np.ndarray]]:
    """Write ``graph`` as an artifact and ``feeds`` as raw files into ``workdir`` (a fresh
    directory), run the arm64 driver on them under qemu with ``cpu``, and return the kernel
    level it chose and its outputs by name (typed and shaped like the graph's)."""
    from arm64 import run_qemu
    from irc.artifact import build_artifact
    workdir.mkdir()
    model = workdir / "model.ircm"
    model.write_bytes(build_artifact(graph))
    files = []
    for v in graph.inputs:
        path = workdir / f"input{len(files)}.bin"
        path.write_bytes(np.ascontiguousarray(feeds[v.name]).tobytes())
        files.append(str(path))
    res = run_qemu(driver, [str(model), str(workdir), *files], cpu=cpu)
    assert res.returncode == 0, res.describe()
    outs = {}
    for k, v in enumerate(graph.outputs):
        t = v.type
        outs[v.name] = np.fromfile(workdir / f"output{k}.bin",
                                   dtype=t.dtype.storage).reshape(t.shape)
    return res.stdout.strip(), outs


# ---------------------------------------------------------------------------------------------
# Artifact surgery for fuzzing: corrupt, then (optionally) fix the checksums so the
# corruption reaches the deeper checks instead of stopping at a CRC.
# ---------------------------------------------------------------------------------------------

def sections(blob: bytes) -> dict[str, tuple[int, int, int]]:
    """kind -> (offset, size, table entry offset)."""
    nsec, table = struct.unpack_from("<IQ", blob, 36)
    out = {}
    for i in range(nsec):
        e = table + i * opcodes.SECTION_ENTRY_SIZE
        kind, _, off, size = struct.unpack_from("<4sIQQ", blob, e)
        out[kind.decode()] = (off, size, e)
    return out


def fix_checksums(blob: bytearray) -> bytearray:
    """Recompute every section CRC (where the table is still readable) and the header's."""
    try:
        for off, size, e in sections(bytes(blob)).values():
            if off + size <= len(blob):
                struct.pack_into("<I", blob, e + 24, zlib.crc32(bytes(blob[off:off + size])))
    except (struct.error, OverflowError, ValueError):
        pass
    struct.pack_into("<I", blob, 60, zlib.crc32(bytes(blob[:60])))
    return blob


_INTERESTING = (0, 1, 2, 3, 7, 8, 63, 64, 255, 256, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000,
                0xFFFFFFFE, 0xFFFFFFFF)


def corruptions(blob: bytes, n: int, seed: int = 0) -> Iterator[bytes]:
    """``n`` corrupted variants of ``blob``: random byte flips (checksums left wrong, and
    fixed), interesting 32-bit values written over words of the header, section table and
    every section but DATA (checksums fixed), and over parameter words (checksums fixed) so
    each op's own checks are exercised."""
    rng = np.random.default_rng(seed)
    secs = sections(blob)
    meta = [(0, 64), (struct.unpack_from("<Q", blob, 40)[0],
                      len(secs) * opcodes.SECTION_ENTRY_SIZE)]
    meta += [(off, size) for k, (off, size, _) in secs.items() if k != "DATA"]
    prms = secs["PRMS"][:2]
    for i in range(n):
        b = bytearray(blob)
        kind = i % 4
        if kind == 0:   # raw flips, checksums wrong
            for _ in range(rng.integers(1, 9)):
                b[rng.integers(len(b))] ^= 1 << rng.integers(8)
            yield bytes(b)
            continue
        if kind == 3 and prms[1] > 4:
            off, size = prms
        else:
            off, size = meta[rng.integers(len(meta))]
        for _ in range(rng.integers(1, 4)):
            if size < 4:
                break
            at = off + 4 * rng.integers(size // 4)
            v = _INTERESTING[rng.integers(len(_INTERESTING))] if rng.random() < 0.7 else \
                int(rng.integers(0, 1 << 32))
            if kind == 2:
                v = (struct.unpack_from("<I", b, at)[0] + int(rng.integers(-3, 4))) & 0xFFFFFFFF
            struct.pack_into("<I", b, at, v)
        yield bytes(fix_checksums(b))


def write_pack(blobs: Sequence[bytes], path: Path) -> Path:
    with open(path, "wb") as f:
        for blob in blobs:
            f.write(struct.pack("<Q", len(blob)))
            f.write(blob)
    return path


# ---------------------------------------------------------------------------------------------
# Quantized test graphs
# ---------------------------------------------------------------------------------------------

def int_range(dtype: DType) -> tuple[int, int]:
    return int(dtype.min), int(dtype.max)


def random_int(rng: np.random.Generator, dtype: DType, shape: Sequence[int]) -> np.ndarray:
    lo, hi = int_range(dtype)
    return rng.integers(lo, hi + 1, tuple(shape)).astype(dtype.storage)


def qconv_graph(rng: np.random.Generator, *, N: int = 1, C: int = 3, OC: int = 8, H: int = 9,
                W: int = 7, KH: int = 3, KW: int = 3, stride: tuple[int, int] = (1, 1),
                pads: tuple[int, int, int, int] = (1, 1, 1, 1), dil: tuple[int, int] = (1, 1),
                groups: int = 1, xdt: DType = DType.I8, ydt: DType | None = DType.I8,
                wdt: DType = DType.I8, per_channel: bool = True, bias: bool = True,
                clamp: tuple[int, int] | None = None, lut: DType | None = None):
    """x → q.conv2d → q.requantize (fixed point) → y, or the int32 accumulator when
    ``ydt`` is None; ``lut``: then a random q.lut giving that dtype (the runtime fuses it).
    Random weights, scales and zero points."""
    b = Builder()
    zx = int(rng.integers(*int_range(xdt)))
    sx = float(rng.uniform(0.01, 0.1))
    x = b.input("x", TensorType(xdt, (N, C, H, W), PerTensor(sx, zx)))
    wz = 0 if wdt is DType.I8 else 128
    wq = (rng.integers(-127, 128, (OC, C // groups, KH, KW)) + wz).astype(wdt.storage)
    ws = rng.uniform(0.001, 0.02, OC) if per_channel else np.full(1, rng.uniform(0.001, 0.02))
    wquant = PerAxis(0, tuple(map(float, ws)), (wz,) * OC) if per_channel else \
        PerTensor(float(ws[0]), wz)
    w = b.const(wq, type=TensorType(wdt, wq.shape, wquant))
    ops = [x, w]
    if bias:
        ops.append(b.const(rng.integers(-5000, 5000, OC).astype(np.int32)))
    acc = b.q.conv2d(*ops, strides=list(stride), pads=list(pads), dilations=list(dil),
                     groups=groups)
    if ydt is None:
        return b.finish(acc)
    y = _requantize(b, rng, acc, [sx * float(s) for s in ws], ydt, clamp)
    if lut is not None:
        table = rng.integers(*int_range(lut), endpoint=True, size=256)
        y = b.q.lut(y, dtype=lut, scale=0.05, zero_point=int(rng.integers(*int_range(lut))),
                    table=[int(v) for v in table])
    return b.finish(y)


def _requantize(b: Builder, rng: np.random.Generator, acc, acc_scales: list[float], ydt: DType,
                clamp: tuple[int, int] | None):
    sy = float(np.median(acc_scales)) * float(rng.uniform(20, 200))
    zy = int(rng.integers(*int_range(ydt)))
    pairs = [quantize_multiplier(s / sy) for s in acc_scales]
    kw = {"clamp": list(clamp)} if clamp else {}
    return b.q.requantize(acc, dtype=ydt, scale=sy, zero_point=zy, method="fixed_point",
                          multipliers=[m for m, _ in pairs], shifts=[s for _, s in pairs], **kw)


def qmatmul_graph(rng: np.random.Generator, *, M: int = 5, K: int = 13, N: int = 7,
                  batch: tuple[int, ...] = (), b_batch: tuple[int, ...] | None = None,
                  adt: DType = DType.I8, bdt: DType = DType.I8, const_b: bool = True,
                  ydt: DType | None = DType.I8, per_channel: bool = True, bias: bool = True):
    """a → q.matmul(b) → q.requantize → y (``const_b``: weights; else a second input)."""
    bld = Builder()
    za = int(rng.integers(*int_range(adt)))
    sa = float(rng.uniform(0.01, 0.1))
    a = bld.input("a", TensorType(adt, tuple(batch) + (M, K), PerTensor(sa, za)))
    bb = tuple(batch) if b_batch is None else tuple(b_batch)
    inputs = {"a": a}
    if const_b:
        wz = 0 if bdt is DType.I8 else 128
        wq = (rng.integers(-127, 128, bb + (K, N)) + wz).astype(bdt.storage)
        ws = rng.uniform(0.001, 0.02, N) if per_channel else np.full(1, rng.uniform(0.001, 0.02))
        q = PerAxis(len(bb) + 1, tuple(map(float, ws)), (wz,) * N) if per_channel else \
            PerTensor(float(ws[0]), wz)
        bv = bld.const(wq, type=TensorType(bdt, wq.shape, q))
        scales = [sa * float(s) for s in ws]
    else:
        zb = int(rng.integers(*int_range(bdt)))
        sb = float(rng.uniform(0.01, 0.1))
        bv = bld.input("b", TensorType(bdt, bb + (K, N), PerTensor(sb, zb)))
        inputs["b"] = bv
        scales = [sa * sb]
    ops = [a, bv]
    if bias:
        ops.append(bld.const(rng.integers(-5000, 5000, N).astype(np.int32)))
    acc = bld.q.matmul(*ops)
    if ydt is None:
        return bld.finish(acc)
    return bld.finish(_requantize(bld, rng, acc, scales, ydt, None))


def random_feeds(rng: np.random.Generator, graph) -> dict[str, np.ndarray]:
    feeds = {}
    for v in graph.inputs:
        t = v.type
        if t.dtype.is_int:
            feeds[v.name] = random_int(rng, t.dtype, t.shape)
        else:
            feeds[v.name] = rng.standard_normal(t.shape).astype(t.dtype.storage)
    return feeds


def env_isas() -> list[str]:
    from irc.runtime import available_isas
    only = os.environ.get("IRC_TEST_ISAS")
    isas = available_isas()
    return [i for i in isas if not only or i in only.split(",")]
