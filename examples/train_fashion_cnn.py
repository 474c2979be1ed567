"""Train the bundled Fashion-MNIST CNN with irc's own training loop.

    apt-get install dataset-fashion-mnist     # the IDX files, in /usr/share/datasets/fashion-mnist
    python examples/train_fashion_cnn.py [--epochs 7]

The network is built as an irc graph (:class:`irc.builder.Builder`) and trained
by :func:`irc.train.fit` — reverse-mode autodiff over the IR in numpy, batch
norms in training mode with running statistics — then written, deterministically
(seeded), as:

* ``examples/fashion_cnn.onnx`` -- input ``input`` float32 [N,1,28,28], pixels
  scaled to [0,1] (``uint8 / 255``, no mean/std normalization), output
  ``logits`` [N,10] (class order of the dataset: T-shirt/top, Trouser, Pullover,
  Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot).  irc's ONNX exporter,
  the batch axis made symbolic (``N``).  Batch norms stay ``BatchNormalization``
  nodes, so a quantizer has to fold them itself; node and value names are the
  ones PyTorch's exporter gave this architecture (``/head/head.1/Gemm``...).
* ``examples/fashion_eval.npz`` -- a small subset for fast tests:
  ``test_images`` uint8 [500,28,28] and ``test_labels`` uint8 [500] (the first
  500 test images), ``calib_images`` uint8 [200,28,28] (200 seeded training
  images, for calibration).

The net exercises what an int8 quantizer must handle: Conv+BatchNorm+ReLU
blocks, max pooling, a depthwise conv in a residual add, Flatten, Gemm+ReLU,
Gemm.  Training: AdamW (lr 3e-3, weight decay 1e-4) with a cosine schedule and
warm-up, label smoothing 0.05, random horizontal flips, batch 128.  The script
checks that onnxruntime agrees with irc's interpreter on the exported file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parent
sys.path.insert(0, str(EXAMPLES.parent / "bench"))
import irc  # noqa: E402
import irc.rebatch  # noqa: E402
from irc.builder import Builder  # noqa: E402
from irc.train import Adam, cosine, evaluate, fit, predict  # noqa: E402
from ptq_models import FASHION_DIR, load_fashion_mnist  # noqa: E402

SEED = 0


def fashion_cnn(batch: int, seed: int = SEED) -> irc.Graph:
    """[N,1,28,28] -> conv32 -> pool -> conv48 -> (+ depthwise48) -> pool -> fc64 -> fc10,
    He-initialized, batch norms at identity."""
    rng = np.random.default_rng(seed)
    b = Builder("fashion_cnn")
    x = b.input("input", f"f32[{batch},1,28,28]")

    def he(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[1:]))).astype(np.float32)

    def conv_bn_relu(h, cin: int, cout: int, block: str, prefix: str, groups: int = 1):  # type: ignore[no-untyped-def]
        w = b.const(he(cout, cin // groups, 3, 3), f"{prefix}.0.weight")
        h = b.nn.conv2d(h, w, pads=(1, 1, 1, 1), groups=groups,
                        name=f"{block}.0/Conv_output_0",
                        loc=f"{block}.0/Conv")
        one, zero = np.ones(cout, np.float32), np.zeros(cout, np.float32)
        h = b.nn.batch_norm(h, b.const(one, f"{prefix}.1.weight"), b.const(zero, f"{prefix}.1.bias"),
                            b.const(zero, f"{prefix}.1.running_mean"),
                            b.const(one, f"{prefix}.1.running_var"), epsilon=1e-5,
                            name=f"{block}.1/BatchNormalization_output_0",
                            loc=f"{block}.1/BatchNormalization")
        return b.nn.relu(h, name=f"{block}.2/Relu_output_0", loc=f"{block}.2/Relu")

    h = conv_bn_relu(x, 1, 32, "/stem/stem.0/stem.0", "stem.0")
    h = b.nn.max_pool(h, kernel=(2, 2), strides=(2, 2), name="/stem/stem.1/MaxPool_output_0",
                      loc="/stem/stem.1/MaxPool")
    h = conv_bn_relu(h, 32, 48, "/conv3/conv3", "conv3")
    d = conv_bn_relu(h, 48, 48, "/dw/dw", "dw", groups=48)
    h = b.nn.add(h, d, name="/Add_output_0", loc="/Add")
    h = b.nn.max_pool(h, kernel=(2, 2), strides=(2, 2), name="/pool/MaxPool_output_0",
                      loc="/pool/MaxPool")
    h = b.nn.flatten(h, name="/head/head.0/Flatten_output_0", loc="/head/head.0/Flatten")
    bound1, bound2 = 1 / np.sqrt(2352), 1 / np.sqrt(64)
    h = b.nn.gemm(h, b.const(he(64, 2352), "head.1.weight"),
                  b.const(rng.uniform(-bound1, bound1, 64).astype(np.float32), "head.1.bias"),
                  trans_b=True, name="/head/head.1/Gemm_output_0", loc="/head/head.1/Gemm")
    h = b.nn.relu(h, name="/head/head.2/Relu_output_0", loc="/head/head.2/Relu")
    w2 = (rng.standard_normal((10, 64)) * np.sqrt(1.0 / 64)).astype(np.float32)
    return b.finish(b.nn.gemm(h, b.const(w2, "head.4.weight"),
                              b.const(rng.uniform(-bound2, bound2, 10).astype(np.float32),
                                      "head.4.bias"),
                              trans_b=True, name="logits", loc="/head/head.4/Gemm"))


def flip(batch: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random horizontal flips (clothes are left-right symmetric enough)."""
    x = batch["input"]
    mask = rng.random(len(x)) < 0.5
    out = dict(batch)
    out["input"] = np.where(mask[:, None, None, None], x[..., ::-1], x)
    return out


def export(g: irc.Graph, path: Path) -> None:
    """irc's ONNX exporter, then the batch axis of the input and output made ``N``."""
    import onnx
    tmp = path.with_name(path.name + ".tmp.onnx")
    irc.save(irc.rebatch.with_batch(g, 1), tmp)
    m = onnx.load(str(tmp))
    for v in list(m.graph.input) + list(m.graph.output):
        v.type.tensor_type.shape.dim[0].dim_param = "N"
    del m.graph.value_info[:]
    onnx.checker.check_model(m)
    onnx.save(m, str(tmp))
    tmp.replace(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=7)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--out-dir", type=Path, default=EXAMPLES)
    args = ap.parse_args()
    if not FASHION_DIR.is_dir():
        print(f"train_fashion_cnn: {FASHION_DIR} is missing (apt-get install "
              "dataset-fashion-mnist)", file=sys.stderr)
        return 1
    train_x, train_y = load_fashion_mnist("train")
    test_x, test_y = load_fashion_mnist("test")
    xtr = (train_x[:, None] / 255.0).astype(np.float32)
    xte = (test_x[:, None] / 255.0).astype(np.float32)

    g = fashion_cnn(args.batch)
    steps = args.epochs * (len(train_y) // args.batch)
    t0 = time.perf_counter()
    hist = fit(g, {"input": xtr}, train_y, epochs=args.epochs, batch_size=args.batch,
               optimizer=Adam(lr=3e-3, weight_decay=1e-4,
                              schedule=cosine(steps, warmup=steps // 10)),
               smoothing=0.05, augment=flip, seed=SEED)
    for i, (loss, acc) in enumerate(zip(hist.loss, hist.accuracy)):
        print(f"epoch {i + 1}/{args.epochs}: loss {loss:.4f}, train top-1 {acc:.4f} "
              f"({hist.seconds[i]:.0f} s)")
    acc_irc = evaluate(g, {"input": xte}, test_y) * 100

    onnx_path = args.out_dir / "fashion_cnn.onnx"
    export(g, onnx_path)
    import onnxruntime as ort
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    logits = sess.run(["logits"], {"input": xte})[0]
    acc_ort = float((logits.argmax(1) == test_y).mean() * 100)
    print(f"test top-1: irc {acc_irc:.2f}%, onnxruntime {acc_ort:.2f}% ({onnx_path}, "
          f"{onnx_path.stat().st_size / 1e3:.0f} kB; trained in {time.perf_counter() - t0:.0f} s)")
    ref = predict(irc.load(onnx_path, input_shapes={"input": (256, 1, 28, 28)}),
                  {"input": xte[:512]})
    if abs(acc_irc - acc_ort) > 0.02 or not np.allclose(ref, logits[:512], atol=1e-3):
        print("train_fashion_cnn: onnxruntime disagrees with irc", file=sys.stderr)
        return 1

    calib = np.random.default_rng(SEED).choice(len(train_x), 200, replace=False)
    npz = args.out_dir / "fashion_eval.npz"
    np.savez_compressed(npz, test_images=test_x[:500], test_labels=test_y[:500],
                        calib_images=train_x[np.sort(calib)])
    print(f"wrote {npz} ({npz.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
