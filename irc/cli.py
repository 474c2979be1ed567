"""The ``irc`` command line.

    irc compile MODEL --passes PIPELINE -o OUT   run a pass pipeline, write OUT
    irc run MODEL --input NAME=FILE.npy ...      run a model, print/write outputs
    irc show MODEL                               summary: ops, parameters, bytes
    irc passes                                   every pass with its options
    irc ops                                      every op with its operands and attributes

Errors print as one or two lines on stderr with a non-zero exit; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any, TYPE_CHECKING, Sequence

import numpy as np

from . import __version__
from .errors import InputError, IrcError

if TYPE_CHECKING:
    from .ir import Graph


# ---------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------

def _load_plugins(args: argparse.Namespace) -> None:
    from .plugins import load_pass_file
    for path in args.load or ():
        load_pass_file(path)


def _input_shapes(specs: Sequence[str] | None) -> dict[str, tuple[int, ...]] | None:
    """``--input-shape NAME=D0,D1,...`` (repeatable) as a name -> shape dict;
    ``NAME=`` is a scalar."""
    if not specs:
        return None
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in specs:
        name, sep, dims = spec.rpartition("=")
        try:
            if not sep or not name:
                raise ValueError
            shape = tuple(int(d) for d in dims.split(",")) if dims.strip() else ()
            if any(d < 0 for d in shape):
                raise ValueError
        except ValueError:
            raise InputError(f"--input-shape {spec}: write NAME=D0,D1,... with non-negative "
                             "integer dims, e.g. --input-shape x=1,3,224,224") from None
        if name in shapes:
            raise InputError(f"--input-shape: {name} is given twice")
        shapes[name] = shape
    return shapes


def cmd_compile(args: argparse.Namespace) -> int:
    import irc
    _check_data_path("--calib-data", args.calib_data)
    _load_plugins(args)
    graph = irc.load(args.model, input_shapes=_input_shapes(args.input_shape))
    irc.verify(graph)
    out = Path(args.output)
    print_after = None
    if args.print_ir_after:
        print_after = "all" if "all" in args.print_ir_after else set(args.print_ir_after)
    options = {}
    if args.trace_rewrites:
        import logging
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
        logger = logging.getLogger("irc.passes")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        options["trace_rewrites"] = True
    result = irc.compile(graph, args.passes, target=args.target, seed=args.seed,
                         calib_data=args.calib_data,
                         verify_each=args.verify_each, time_passes=args.time_passes,
                         print_ir_after=print_after, statistics=args.statistics, copy=False,
                         options=options)
    irc.verify(result)
    irc.save(result, out)
    size = out.stat().st_size
    print(f"wrote {out} ({len(result.nodes)} nodes, {_fmt_bytes(size)})", file=sys.stderr)
    return 0


def _parse_inputs(specs: Sequence[str], graph_inputs: list[str]) -> dict[str, np.ndarray]:
    feeds: dict[str, np.ndarray] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            path = spec
            if path.endswith(".npz"):
                with _open_array(path) as z:
                    feeds.update({k: z[k] for k in z.files})
                continue
            if len(graph_inputs) != 1:
                raise InputError(f"--input {spec}: write NAME=FILE.npy (the model has inputs "
                                 f"{', '.join(graph_inputs)})")
            name = graph_inputs[0]
        feeds[name] = _open_array(path)
    return feeds


def _open_array(path: str):  # type: ignore[no-untyped-def]
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:
        raise InputError(f"{path}: not a numpy .npy/.npz file ({e})") from None


def _safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "output"


def _run_artifact(args: argparse.Namespace) -> dict[str, np.ndarray]:
    """``irc run model.ircm``: the C runtime."""
    if args.input_shape:
        raise InputError(f"{args.model}: an artifact has static shapes; drop --input-shape")
    from .runtime import Session
    session = Session(args.model, num_threads=args.threads, isa=args.isa,
                      profile=bool(args.profile))
    names = [s.name for s in session.inputs]
    if args.random_inputs:
        rng = np.random.default_rng(args.seed)
        feeds = {}
        for spec in session.inputs:
            if spec.dtype.kind in "iu":
                info = np.iinfo(spec.dtype)
                feeds[spec.name] = rng.integers(info.min, info.max + 1, spec.shape).astype(spec.dtype)
            else:
                feeds[spec.name] = rng.standard_normal(spec.shape).astype(spec.dtype)
    else:
        if not args.input:
            raise InputError(f"{args.model}: give --input NAME=FILE.npy for each input "
                             f"({', '.join(names)}) or --random-inputs")
        feeds = _parse_inputs(args.input, names)
    try:
        outputs = session.run(feeds)
    except ValueError as e:
        raise InputError(f"{args.model}: {e}") from None
    if args.profile:
        _print_profile(session, args.profile)
    return outputs


def _print_profile(session: Any, repeats: int) -> None:
    """``irc run --profile N``: per runtime op and slowest nodes, medians of N runs."""
    import statistics
    runs = []
    for _ in range(repeats):
        session.invoke()
        runs.append(session.profile())
    nodes = [(name, op, statistics.median(r[i][2] for r in runs))
             for i, (name, op, _) in enumerate(runs[0])]
    total = sum(t for _, _, t in nodes)
    by_op: dict[str, list[float]] = {}
    for _, op, t in nodes:
        by_op.setdefault(op, []).append(t)
    print(f"profile ({session.isa}, {session.num_threads} thread(s), median of {repeats} runs): "
          f"{total * 1e3:.3f} ms", file=sys.stderr)
    for op, ts in sorted(by_op.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {op:<12} {sum(ts) * 1e3:9.3f} ms  {100 * sum(ts) / total:5.1f}%  "
              f"{len(ts)} node(s)", file=sys.stderr)
    print("  slowest nodes:", file=sys.stderr)
    for name, op, t in sorted(nodes, key=lambda n: -n[2])[:5]:
        print(f"    {t * 1e6:9.1f} us  {op:<11} {name}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    import irc
    from .interpreter import random_inputs
    if Path(args.model).suffix.lower() == ".ircm":
        outputs = _run_artifact(args)
    else:
        if args.isa or args.threads != 1 or args.profile:
            raise InputError("--isa, --threads and --profile apply to .ircm artifacts (the C "
                             "runtime)")
        graph = irc.load(args.model, input_shapes=_input_shapes(args.input_shape))
        irc.verify(graph)
        names = [v.name for v in graph.inputs]
        if args.random_inputs:
            feeds = random_inputs(graph, seed=args.seed)
        else:
            if not args.input:
                raise InputError(f"{args.model}: give --input NAME=FILE.npy for each input "
                                 f"({', '.join(names)}) or --random-inputs")
            feeds = _parse_inputs(args.input, names)
        outputs = irc.run(graph, feeds)
    files = {name: _safe_filename(name) + ".npy" for name in outputs}
    if args.output_dir:
        clash = [n for n in outputs if list(files.values()).count(files[n]) > 1]
        if clash:
            raise InputError(f"outputs {', '.join(clash)} map to the same file name in "
                             f"{args.output_dir}; rename them in the model")
        from .io import atomic_write_bytes
        import io as _io
        d = Path(args.output_dir)
        if d.exists() and not d.is_dir():
            raise InputError(f"--output-dir {d}: exists and is not a directory")
        d.mkdir(parents=True, exist_ok=True)
        for name, arr in outputs.items():
            buf = _io.BytesIO()
            np.save(buf, arr, allow_pickle=False)
            atomic_write_bytes(d / files[name], buf.getvalue())
    for name, arr in outputs.items():
        flat = arr.reshape(-1)
        head = np.array2string(flat[:6], precision=5, separator=", ")
        more = " ..." if flat.size > 6 else ""
        where = f" -> {Path(args.output_dir) / files[name]}" if args.output_dir else ""
        print(f"{name}: {arr.dtype}{list(arr.shape)} {head}{more}{where}")
    return 0


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def summary(graph: "Graph") -> str:
    """The table ``irc show`` prints: interface, ops, parameters and bytes."""
    from .sparse_format import stored_nbytes
    lines = [f"graph @{graph.name}: {len(graph.nodes)} nodes"]
    for v in graph.inputs:
        lines.append(f"  input  %{v.name}: {v.type}")
    for v in graph.outputs:
        lines.append(f"  output %{v.name}: {v.type}")
    ops = Counter(n.op for n in graph.nodes if n.op != "const")
    consts = [n for n in graph.nodes if n.op == "const"]
    lines.append("")
    lines.append(f"  {'op':<28} {'count':>7}")
    for op, k in sorted(ops.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {op:<28} {k:>7}")
    params = sum(n.output.type.size for n in consts)
    by_enc: Counter[str] = Counter()
    by_dtype: Counter[str] = Counter()
    for n in consts:
        t = n.output.type
        stored = stored_nbytes(n.attrs["value"], t.encoding)
        by_enc[str(t.encoding)] += stored
        by_dtype[str(t.dtype)] += stored
    total = sum(by_enc.values())
    lines.append("")
    lines.append(f"  constants: {len(consts)}, parameters: {params:,}, bytes: {_fmt_bytes(total)}")
    for d, b in sorted(by_dtype.items(), key=lambda kv: -kv[1]):
        lines.append(f"    {d:<8} {_fmt_bytes(b):>12}")
    for e, b in sorted(by_enc.items(), key=lambda kv: -kv[1]):
        lines.append(f"    encoding {e:<12} {_fmt_bytes(b):>12}")
    lines.extend(layer_bytes(graph))
    return "\n".join(lines)


#: ops whose operand 1 is a layer's weight
_WEIGHTED = ("nn.conv2d", "nn.conv_transpose2d", "nn.matmul", "nn.gemm", "q.conv2d",
             "q.matmul", "sparse.conv2d", "sparse.matmul", "sparse.qconv2d", "sparse.qmatmul")


def layer_bytes(graph: "Graph") -> list[str]:
    """``irc show``'s per-layer table: each layer's weight, its encoding, the share
    of non-zeros, and its bytes dense and as stored — what pruning and sparse
    encoding saved before any entropy coding."""
    from .sparse_format import stored_nbytes
    rows = []
    for node in graph.nodes:
        if node.op not in _WEIGHTED or len(node.inputs) < 2 or not node.inputs[1].is_const:
            continue
        w = node.inputs[1]
        arr = w.const_value
        t = w.type
        dense = t.size * max(t.dtype.bits, 8) // 8
        nz = float(np.count_nonzero(arr)) / max(arr.size, 1)
        shape = f"{t.dtype}[{','.join(str(d) for d in t.shape)}]"
        rows.append((node.name or node.outputs[0].name, node.op, shape,
                     str(t.encoding), nz, dense, stored_nbytes(arr, t.encoding)))
    if not rows:
        return []
    out = ["", f"  {'layer':<28} {'op':<16} {'weight':<22} {'encoding':<10} {'non-zero':>8} "
               f"{'dense':>10} {'stored':>10}"]
    for name, op, shape, enc, nz, dense, stored in rows:
        out.append(f"  {name[:28]:<28} {op:<16} {shape[:22]:<22} {enc:<10} {nz:>8.1%} "
                   f"{_fmt_bytes(dense):>10} {_fmt_bytes(stored):>10}")
    dense = sum(r[5] for r in rows)
    stored = sum(r[6] for r in rows)
    out.append(f"  {'all ' + str(len(rows)) + ' layers':<28} {'':<16} {'':<22} {'':<10} "
               f"{'':>8} {_fmt_bytes(dense):>10} {_fmt_bytes(stored):>10}"
               f"  ({1 - stored / max(dense, 1):.0%} saved)")
    return out


def memory_summary(graph: "Graph") -> str:
    """The arena line of ``irc show``: the planned arena next to the naive sum of every
    intermediate and the lower bound (the most bytes live at once)."""
    from .artifact import ArtifactError, program_and_plan
    try:
        _, plan = program_and_plan(graph)
    except ArtifactError as e:
        return f"  arena: not plannable for the runtime ({e})"
    return (f"  arena: {_fmt_bytes(plan.arena_size)} planned (plan-memory), "  # type: ignore
            f"{_fmt_bytes(plan.naive)} naive sum of intermediates, "  # type: ignore
            f"{_fmt_bytes(plan.lower_bound)} lower bound")  # type: ignore


def artifact_summary(path: str) -> str:
    """``irc show model.ircm``."""
    from .artifact import read_artifact
    info = read_artifact(path)
    lines = [f"{path}: .ircm format {info.version[0]}.{info.version[1]}, target "
             f"{info.target}, {_fmt_bytes(info.size)}"]
    byname = {t.name: t for t in info.tensors}
    for kind, names in (("input ", info.inputs), ("output", info.outputs)):
        for n in names:
            t = byname[n]
            q = f"<{t.scale:g},{t.zero_point}>" if t.scale is not None else ""
            lines.append(f"  {kind} {n}: {t.dtype}{list(t.shape)}{q}")
    lines.append(f"  arena: {_fmt_bytes(info.arena_size)}, constants: "
                 f"{_fmt_bytes(info.constant_bytes)} in "
                 f"{sum(t.const for t in info.tensors)} tensors")
    lines.append("")
    lines.append(f"  {'runtime op':<16} {'count':>7}")
    for op, k in sorted(Counter(op for op, _ in info.nodes).items(),
                        key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {op:<16} {k:>7}")
    return "\n".join(lines)


def cmd_show(args: argparse.Namespace) -> int:
    import irc
    from .printer import print_graph
    if Path(args.model).suffix.lower() == ".ircm":
        if args.ir or args.generic or args.input_shape:
            raise InputError(f"{args.model}: an artifact has no IR text; --ir, --generic and "
                             "--input-shape apply to .irc/.onnx models")
        print(artifact_summary(args.model))
        return 0
    graph = irc.load(args.model, input_shapes=_input_shapes(args.input_shape))
    if args.ir or args.generic:
        text = print_graph(graph, generic=args.generic)
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        irc.verify(graph)
        print(summary(graph))
        print(memory_summary(graph))
    return 0


def _check_data_path(option: str, path: str | None) -> None:
    """Fail before any work when a data file named on the command line is missing."""
    if path is not None and not Path(path).exists():
        raise InputError(f"{option} {path}: no such file or directory")


def cmd_report(args: argparse.Namespace) -> int:
    import irc
    _check_data_path("--calib-data", args.calib_data)
    _check_data_path("--eval-data", args.eval_data)
    _load_plugins(args)
    graph = irc.load(args.model, input_shapes=_input_shapes(args.input_shape))
    irc.verify(graph)
    if args.sensitivity:
        return _report_sensitivity(args, graph)
    from .quant_compare import format_report, quantization_report
    if args.calib_data is None:
        raise InputError("irc report needs --calib-data (quantization report), or "
                         "--sensitivity --eval-data FILE (pruning sensitivity)")
    passes = args.passes or "quant"
    q, rows = quantization_report(graph, passes, args.calib_data, args.eval_data,
                                  num_samples=args.num_samples)
    quantized = sum(1 for n in q.nodes if n.op.startswith("q.") and n.op != "q.quantize"
                    and n.op != "q.dequantize")
    print(f"{args.model}: {passes} -> {quantized} integer ops; error of each quantized "
          f"tensor against float, worst first (SQNR: higher is better)")
    print(format_report(rows, args.limit))
    if args.limit and len(rows) > args.limit:
        print(f"... {len(rows) - args.limit} more (--limit 0 shows all)")
    return 0


def _report_sensitivity(args: argparse.Namespace, graph: "Graph") -> int:
    """``irc report --sensitivity``: per-layer pruning sweep and a proposal."""
    import irc
    from .sensitivity import DEFAULT_SPARSITIES, analyze
    if args.eval_data is None:
        raise InputError("--sensitivity needs --eval-data FILE.npz (the model's inputs, "
                         "optionally a 'labels' array)")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise InputError("--plot needs matplotlib (pip install matplotlib); drop --plot "
                             "to get the table alone") from None
    try:
        levels = tuple(float(x) for x in args.sparsities.split(",")) if args.sparsities \
            else DEFAULT_SPARSITIES
    except ValueError:
        raise InputError(f"--sparsities {args.sparsities}: write comma-separated fractions, "
                         "e.g. 0.5,0.7,0.9") from None
    if args.passes:
        graph = irc.compile(graph, args.passes, calib_data=args.calib_data)
    try:
        report = analyze(graph, args.eval_data, budget=args.budget, pattern=args.pattern,
                         sparsities=levels, scope=args.scope or (), exclude=args.exclude or (),
                         keep_first=not args.all_layers, keep_last=not args.all_layers,
                         num_samples=args.num_samples, prefix=args.passes or "")
    except ValueError as e:
        raise InputError(str(e)) from None
    print(f"{args.model}: " + report.summary())
    if args.plot:
        report.plot(args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def cmd_passes(args: argparse.Namespace) -> int:
    from .pass_manager import describe_passes
    _load_plugins(args)
    print(describe_passes(verbose=args.verbose))
    return 0


def _first_sentence(doc: str, limit: int = 100) -> str:
    """The first sentence of a docstring's first paragraph, on one line."""
    para = " ".join(doc.split("\n\n")[0].split())
    end = para.find(". ")
    if 0 < end < limit:
        return para[:end + 1]
    return para if len(para) <= limit else para[:limit - 1] + "…"


def cmd_ops(args: argparse.Namespace) -> int:
    from .ops import all_ops
    for name, op in all_ops().items():
        if args.prefix and not name.startswith(args.prefix):
            continue
        sig = ", ".join(o.name + ("?" if o.optional else "...") if (o.optional or o.variadic)
                        else o.name for o in op.operands)
        first = _first_sentence(op.doc)
        print(f"{name}({sig})  {first}")
        if args.verbose:
            for a in op.attrs:
                default = "" if a.required else f" = {a.default!r}"
                print(f"    {a.name}: {a.kind.describe()}{default}  {a.doc}")
    return 0


# ---------------------------------------------------------------------------
# argument parsing
# ---------------------------------------------------------------------------

def _add_input_shape(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-shape", action="append", metavar="NAME=D0,D1,..",
                   help="static shape of an imported model's input (repeatable); needed "
                   "for ONNX inputs with symbolic dims")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="irc", description="irc: compile neural networks to be small and fast on phones.",
        epilog="Run 'irc COMMAND --help' for a command's options.")
    p.add_argument("--version", action="version", version=f"irc {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    _add = sub.add_parser

    def add_parser(name: str, **kw):  # type: ignore[no-untyped-def]
        return _add(name, parents=[common], **kw)
    sub.add_parser = add_parser  # type: ignore[method-assign]

    c = sub.add_parser("compile", help="run a pass pipeline over a model and write the result",
                       description="Run a pass pipeline over MODEL and write OUT; OUT's "
                       "extension picks the format: .irc (text form), .onnx (float, or QDQ "
                       "for quantized graphs) or .ircm (the artifact the C runtime runs).",
                       epilog="example: irc compile model.onnx --passes "
                       "calibrate,quant --calib-data calib.npz --target arm64 -o model.ircm")
    c.add_argument("model", help="input model (.irc, .onnx)")
    c.add_argument("--passes", "-p", required=True, metavar="PIPELINE",
                   help="comma-separated passes with options, e.g. "
                   "'fold,dce,fuse-bn' or 'fold{max_elements=1000}' ('irc passes' lists them)")
    c.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output file (.irc, .onnx, .ircm)")
    c.add_argument("--target", default="generic", choices=["generic", "x86_64", "arm64"],
                   help="target ISA the passes compile for; recorded in an .ircm, which runs "
                        "on any CPU (default: generic)")
    c.add_argument("--load", action="append", metavar="FILE.py",
                   help="load user passes from a Python file (repeatable)")
    c.add_argument("--calib-data", metavar="FILE|DIR",
                   help="calibration samples for calibrate/quant: .npz (one array per input, "
                        "samples on axis 0), .npy (one-input models) or a folder of them")
    c.add_argument("--verify-each", action="store_true", help="verify the IR after every pass")
    c.add_argument("--time-passes", action="store_true", help="print time per pass")
    c.add_argument("--statistics", action="store_true", help="print per-pass statistics")
    c.add_argument("--print-ir-after", action="append", metavar="PASS|all",
                   help="print the IR after the named pass, or after all (repeatable)")
    c.add_argument("--trace-rewrites", action="store_true",
                   help="log which rewrite rules fired where, and why others did not")
    c.add_argument("--seed", type=int, default=0, help="random seed for passes (default 0)")
    _add_input_shape(c)
    c.set_defaults(func=cmd_compile)

    r = sub.add_parser("run", help="run a model: .ircm in the C runtime, else the interpreter",
                       description="Run MODEL on inputs and print (and optionally save) "
                       "its outputs.  An .ircm artifact runs in the C runtime; .irc and "
                       ".onnx models run in the reference interpreter.",
                       epilog="example: irc run model.ircm --input x=x.npy --output-dir out/")
    r.add_argument("model", help="model (.ircm, .irc, .onnx)")
    r.add_argument("--threads", type=int, default=1, metavar="N",
                   help=".ircm: worker threads of the C runtime (default 1)")
    r.add_argument("--profile", type=int, nargs="?", const=20, default=0, metavar="N",
                   help=".ircm: time every node over N runs (default 20) and print the "
                        "time per runtime op and the slowest nodes")
    r.add_argument("--isa", choices=["scalar", "avx2", "avx512vnni", "neon", "neondot"],
                   help=".ircm: cap the runtime's kernels to this level (default: the best "
                        "the CPU has)")
    r.add_argument("--input", "-i", action="append", metavar="NAME=FILE.npy",
                   help="an input array (repeatable); FILE.npz supplies inputs by name")
    r.add_argument("--random-inputs", action="store_true",
                   help="feed random inputs of the right shapes instead")
    r.add_argument("--output-dir", "-o", metavar="DIR", help="write DIR/<output>.npy")
    r.add_argument("--seed", type=int, default=0, help="seed for --random-inputs")
    _add_input_shape(r)
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("show", help="summarize a model, or print its IR",
                       description="Print a summary (ops, parameters, bytes by dtype and "
                       "encoding, the planned activation arena), or the IR text with --ir.  "
                       "For an .ircm artifact: its target, tensors, arena and runtime ops.")
    s.add_argument("model", help="model (.irc, .onnx, .ircm)")
    s.add_argument("--ir", action="store_true", help="print the IR text form")
    s.add_argument("--generic", action="store_true", help="print the IR in generic form")
    _add_input_shape(s)
    s.set_defaults(func=cmd_show)

    rp = sub.add_parser("report", help="per-layer quantization error, or pruning sensitivity",
                        description="Quantize MODEL with --passes and print, for every "
                        "quantized tensor, its SQNR and cosine similarity against the float "
                        "model on --eval-data (default: the calibration data), worst first: "
                        "the layers to keep in float with quant{exclude=[...]}.  With "
                        "--sensitivity: prune each layer alone at several sparsities, measure "
                        "on --eval-data, and propose per-layer sparsities within --budget "
                        "(docs/sparsity.md).",
                        epilog="examples: irc report m.onnx --calib-data c.npz;  irc report "
                        "m.onnx --sensitivity --eval-data eval.npz --pattern block4x1 "
                        "--budget 0.5 --plot sens.png")
    rp.add_argument("model", help="model (.irc, .onnx)")
    rp.add_argument("--calib-data", metavar="FILE|DIR",
                    help="calibration samples (.npz/.npy or a folder of them); required for "
                    "the quantization report")
    rp.add_argument("--eval-data", metavar="FILE|DIR", help="samples to measure on "
                    "(default: the calibration data); --sensitivity: an .npz of the model's "
                    "inputs, with a 'labels' array for top-1 accuracy")
    rp.add_argument("--passes", "-p", metavar="PIPELINE",
                    help="quantization pipeline (default: quant); with --sensitivity, passes "
                    "run before the sweep (e.g. calibrate,quant to prune the int8 model)")
    rp.add_argument("--num-samples", type=int, metavar="N", help="measure on at most N samples")
    rp.add_argument("--limit", type=int, default=30, metavar="N",
                    help="show the N worst tensors (default 30; 0 = all)")
    rp.add_argument("--load", action="append", metavar="FILE.py",
                    help="also load user passes from a Python file")
    sens = rp.add_argument_group("pruning sensitivity")
    sens.add_argument("--sensitivity", action="store_true",
                      help="sweep per-layer sparsity on --eval-data and propose sparsities")
    sens.add_argument("--pattern", default="unstructured", metavar="P",
                      help="unstructured (default), 2:4, block4x1, ... (as prune{pattern=})")
    sens.add_argument("--budget", type=float, default=1.0, metavar="B",
                      help="accuracy drop allowed, in points (default 1.0)")
    sens.add_argument("--sparsities", metavar="S,S,..",
                      help="sparsities to sweep (default 0.3,0.5,0.7,0.8,0.9,0.95)")
    sens.add_argument("--scope", action="append", metavar="GLOB",
                      help="only layers matching (repeatable; as prune{scope=})")
    sens.add_argument("--exclude", action="append", metavar="GLOB",
                      help="skip layers matching (repeatable)")
    sens.add_argument("--all-layers", action="store_true",
                      help="also sweep the first and last prunable layers")
    sens.add_argument("--plot", metavar="FILE.png",
                      help="draw accuracy vs sparsity per layer (needs matplotlib)")
    _add_input_shape(rp)
    rp.set_defaults(func=cmd_report)

    from .cli_train import add_parsers as add_training_parsers
    add_training_parsers(sub, _add_input_shape)

    ps = sub.add_parser("passes", help="list every registered pass with its options")
    ps.add_argument("--load", action="append", metavar="FILE.py",
                    help="also load user passes from a Python file")
    ps.add_argument("-v", "--verbose", action="store_true", help="full docs of each pass")
    ps.set_defaults(func=cmd_passes)

    o = sub.add_parser("ops", help="list every registered op")
    o.add_argument("prefix", nargs="?", default="", help="only ops starting with this")
    o.add_argument("-v", "--verbose", action="store_true", help="show attributes")
    o.set_defaults(func=cmd_ops)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except IrcError as e:
        if args.debug:
            raise
        print(f"irc: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:     # `irc ops | head`: the reader left; not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as e:        # unreadable input, unwritable output, a directory...
        if args.debug:
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"irc: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except MemoryError:
        if args.debug:
            raise
        print("irc: error: out of memory (is a tensor in the model absurdly large?)",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("irc: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug in irc: say so, briefly
        if args.debug:
            raise
        print(f"irc: internal error: {type(e).__name__}: {e}\n"
              "  (this is a bug in irc; rerun with --debug for the traceback)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
