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
                   cpu: str, options: Sequence[str] = ()) -> tuple[str, dict[str, np.ndarray]]:
    """Write ``graph`` as an artifact and ``feeds`` as raw files into ``workdir`` (a fresh
    directory), run the arm64 driver on them under qemu with ``cpu`` (and the driver's
    ``options``: ``--isa MASK``, ``--threads N``), and return the kernel level it chose and
    its outputs by name (typed and shaped like the graph's)."""
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
    res = run_qemu(driver, [*options, str(model), str(workdir), *files], cpu=cpu)
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


def tensor_records(blob: bytes) -> dict[str, int]:
    """Tensor name -> file offset of its TENS record."""
    secs = sections(blob)
    strs_off, strs_size, _ = secs["STRS"]
    strs = blob[strs_off:strs_off + strs_size]
    off = secs["TENS"][0]
    count, rsize = struct.unpack_from("<II", blob, off)
    out = {}
    for i in range(count):
        rec = off + 8 + i * rsize
        ref = struct.unpack_from("<I", blob, rec)[0]
        out[strs[ref:strs.index(b"\0", ref)].decode()] = rec
    return out


def encoded_tensors(blob: bytes) -> dict[str, tuple[int, int, int]]:
    """csr/bsr constants of an artifact: name -> (record offset, blob file offset, nbytes)."""
    data = sections(blob)["DATA"][0]
    out = {}
    for name, rec in tensor_records(blob).items():
        if struct.unpack_from("<I", blob, rec + 60)[0] in (1, 2):
            off, nbytes = struct.unpack_from("<QQ", blob, rec + 32)
            out[name] = (rec, data + off, nbytes)
    return out


def sparse_corruptions(blob: bytes, n: int, seed: int = 0) -> Iterator[tuple[str, bytes]]:
    """``n`` variants of ``blob`` with one of its csr/bsr constants damaged where only the
    sparse checks can notice — its encoding code and parameters, nbytes, row pointers,
    column indices, the padding before the values, the values (edge blocks included) —
    checksums fixed.  Yields (tensor name, bytes)."""
    rng = np.random.default_rng(seed)
    enc = encoded_tensors(blob)
    names = sorted(enc)
    for i in range(n):
        name = names[int(rng.integers(len(names)))]
        rec, at, nbytes = enc[name]
        b = bytearray(blob)
        dims = [d for d in struct.unpack_from("<6I", blob, rec + 8) if d]
        r, c, nnzb, ib = struct.unpack_from("<4I", blob, rec + 64)
        br = -(-dims[0] // r)
        col0 = at + 4 * (br + 1)
        v = -(-(4 * (br + 1) + ib * nnzb) // 64) * 64
        kind = i % 6

        def poke(pos: int, fmt: str = "<I") -> None:
            old = struct.unpack_from(fmt, b, pos)[0]
            size = struct.calcsize(fmt)
            if rng.random() < 0.5:
                new = old + int(rng.integers(-2, 3))
            else:
                new = _INTERESTING[rng.integers(len(_INTERESTING))]
            struct.pack_into(fmt, b, pos, new % (1 << (8 * size)))

        if kind == 0:      # the record: nbytes, encoding, r, c, nnzb, index_bytes
            poke(rec + int(rng.choice([40, 60, 64, 68, 72, 76])))
        elif kind == 1:    # a row pointer
            poke(at + 4 * int(rng.integers(br + 1)))
        elif kind == 2 and nnzb:     # a column index
            poke(col0 + ib * int(rng.integers(nnzb)), {1: "<B", 2: "<H", 4: "<I"}[ib])
        elif kind == 3 and v > col0 - at + ib * nnzb:   # the padding before the values
            b[col0 + ib * nnzb + int(rng.integers(v - (col0 - at) - ib * nnzb))] = \
                int(rng.integers(1, 256))
        elif kind == 4 and nbytes > v:   # a value byte (outside R x C in edge blocks: refused)
            b[at + v + int(rng.integers(nbytes - v))] ^= int(rng.integers(1, 256))
        else:              # a few random bytes anywhere in the blob
            for _ in range(int(rng.integers(1, 4))):
                b[at + int(rng.integers(nbytes))] ^= 1 << int(rng.integers(8))
        yield name, bytes(fix_checksums(b))


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


# ---------------------------------------------------------------------------------------------
# Sparse test graphs (sparse.* ops with csr / bsr<r x c> weights; docs/artifact.md 29, 68)
# ---------------------------------------------------------------------------------------------

def sparse_encoding(enc: str | tuple[int, int]):
    """``"csr"`` or ``(r, c)`` as an :class:`irc.types.Encoding`."""
    from irc.types import Encoding
    return Encoding("csr") if enc == "csr" else Encoding("bsr", tuple(enc))


def sparse_weights(rng: np.random.Generator, N: int, K: int, enc: str | tuple[int, int],
                   density: float, dtype: DType = DType.I8, empty_rows: bool = False) -> np.ndarray:
    """[N, K] weights with about ``density`` of their r x c blocks stored, each stored block
    itself partly pruned (so blocks hold zeros), optionally with whole rows zero."""
    r, c = (1, 1) if enc == "csr" else enc
    br, bc = -(-N // r), -(-K // c)
    keep = np.kron(rng.random((br, bc)) < density, np.ones((r, c), bool))[:N, :K]
    keep &= rng.random((N, K)) < 0.8 if (r, c) != (1, 1) else True
    if empty_rows and N > 1:
        keep[rng.random(N) < 0.3] = False
    if dtype is DType.F32:
        vals = rng.standard_normal((N, K)).astype(np.float32)
    else:
        vals = rng.integers(-127, 128, (N, K)).astype(np.int8)
    return np.where(keep, vals, 0).astype(vals.dtype)


def sparse_qgraph(rng: np.random.Generator, *, layout: int, N: int, K: int,
                  enc: str | tuple[int, int] = "csr", density: float = 0.3, B: int = 1,
                  H: int = 3, W: int = 4, M: int = 5, batch: tuple[int, ...] = (),
                  xdt: DType = DType.I8, ydt: DType | None = DType.I8, per_channel: bool = True,
                  bias: bool = True, empty_rows: bool = False,
                  clamp: tuple[int, int] | None = None):
    """x → sparse.qconv2d (layout 0: x [B,K,H,W], w [N,K,1,1]) or sparse.qmatmul (layout 1:
    x [*batch,M,K], w [N,K]) → q.requantize (fixed point) → y; the i32 accumulator when
    ``ydt`` is None.  Random weights, scales and zero points."""
    b = Builder()
    zx = int(rng.integers(*int_range(xdt)))
    sx = float(rng.uniform(0.01, 0.1))
    xshape = (B, K, H, W) if layout == 0 else tuple(batch) + (M, K)
    x = b.input("x", TensorType(xdt, xshape, PerTensor(sx, zx)))
    wq = sparse_weights(rng, N, K, enc, density, DType.I8, empty_rows)
    if layout == 0:
        wq = wq.reshape(N, K, 1, 1)
    ws = rng.uniform(0.001, 0.02, N) if per_channel else np.full(1, rng.uniform(0.001, 0.02))
    wquant = PerAxis(0, tuple(map(float, ws)), (0,) * N) if per_channel else \
        PerTensor(float(ws[0]), 0)
    w = b.const(wq, type=TensorType(DType.I8, wq.shape, wquant, sparse_encoding(enc)))
    ops = [x, w]
    if bias:
        ops.append(b.const(rng.integers(-5000, 5000, N).astype(np.int32)))
    acc = (b.sparse.qconv2d if layout == 0 else b.sparse.qmatmul)(*ops)
    if ydt is None:
        return b.finish(acc)
    return b.finish(_requantize(b, rng, acc, [sx * float(s) for s in ws], ydt, clamp))


def sparse_fgraph(rng: np.random.Generator, *, layout: int, N: int, K: int,
                  enc: str | tuple[int, int] = "csr", density: float = 0.3, B: int = 1,
                  H: int = 3, W: int = 4, M: int = 5, batch: tuple[int, ...] = (),
                  bias: bool = True, empty_rows: bool = False,
                  clamp: tuple[float, float] | None = None):
    """x → sparse.conv2d (layout 0) or sparse.matmul (layout 1) in float32."""
    b = Builder()
    xshape = (B, K, H, W) if layout == 0 else tuple(batch) + (M, K)
    x = b.input("x", TensorType(DType.F32, xshape))
    wv = sparse_weights(rng, N, K, enc, density, DType.F32, empty_rows)
    if layout == 0:
        wv = wv.reshape(N, K, 1, 1)
    w = b.const(wv, type=TensorType(DType.F32, wv.shape, None, sparse_encoding(enc)))
    ops = [x, w]
    if bias:
        ops.append(b.const(rng.standard_normal(N).astype(np.float32)))
    kw = {"clamp": list(clamp)} if clamp else {}
    return b.finish((b.sparse.conv2d if layout == 0 else b.sparse.matmul)(*ops, **kw))


def sparse_float_tolerance(graph, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """Per output element 1e-4·√K·(Σ_k |w·x| + |bias|): the float contract of docs/artifact.md
    (1e-4·√K relative to the size of the terms summed)."""
    node = next(n for n in graph.nodes if n.op.startswith("sparse."))
    w = np.abs(node.inputs[1].const_value.astype(np.float64))
    N, K = w.shape[0], int(np.prod(w.shape[1:]))
    w = w.reshape(N, K)
    x = np.abs(feeds["x"].astype(np.float64))
    if node.op == "sparse.conv2d":
        terms = np.einsum("nk,bkp->bnp", w, x.reshape(x.shape[0], K, -1)).reshape(
            (x.shape[0], N) + x.shape[2:])
    else:
        terms = x @ w.T
    if len(node.inputs) > 2:
        bias = np.abs(node.inputs[2].const_value.astype(np.float64))
        terms = terms + (bias[:, None, None] if node.op == "sparse.conv2d" else bias)
    return 1e-4 * np.sqrt(K) * terms + 1e-30
