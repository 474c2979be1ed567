"""Train the small Fashion-MNIST CNN that the int8 PTQ benchmark quantizes.

    apt-get install dataset-fashion-mnist     # the IDX files, in /usr/share/datasets/fashion-mnist
    python examples/train_fashion_cnn.py [--epochs 7]

Writes, deterministically (seeded, 2 threads, CPU):

* ``examples/fashion_cnn.onnx`` -- input ``input`` float32 [N,1,28,28], pixels
  scaled to [0,1] (``uint8 / 255``, no mean/std normalization), output
  ``logits`` [N,10] (class order of the dataset: T-shirt/top, Trouser, Pullover,
  Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot).  TorchScript exporter
  (``dynamo=False``), opset 13, dynamic batch axis.  Batch norms are kept as
  ``BatchNormalization`` nodes (``TrainingMode.PRESERVE`` skips the exporter's
  Conv+BN fusion) so a quantizer has to fold them itself.
* ``examples/fashion_eval.npz`` -- a small subset for fast tests:
  ``test_images`` uint8 [500,28,28] and ``test_labels`` uint8 [500] (the first
  500 test images), ``calib_images`` uint8 [200,28,28] (200 seeded training
  images, for calibration).

The net exercises what an int8 quantizer must handle: Conv+BatchNorm+ReLU
blocks, max pooling, a depthwise conv in a residual add, Flatten, Linear+ReLU,
Linear.  It reaches 92.58% top-1 on the 10k test set (torch and onnxruntime
alike; the script checks they agree) in about 3.5 minutes on 2 cores, and
re-creates both files byte for byte.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

EXAMPLES = Path(__file__).resolve().parent
sys.path.insert(0, str(EXAMPLES.parent / "bench"))
from ptq_models import FASHION_DIR, load_fashion_mnist  # noqa: E402

SEED = 0


def conv_bn_relu(cin: int, cout: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU())


class FashionCNN(nn.Module):
    """[N,1,28,28] -> conv32 -> pool -> conv48 -> (+ depthwise48) -> pool -> fc64 -> fc10."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv_bn_relu(1, 32), nn.MaxPool2d(2))
        self.conv3 = conv_bn_relu(32, 48)
        self.dw = conv_bn_relu(48, 48, groups=48)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(48 * 7 * 7, 64), nn.ReLU(),
                                  nn.Dropout(0.3), nn.Linear(64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv3(self.stem(x))
        return self.head(self.pool(h + self.dw(h)))


def to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 [N,28,28] -> float32 [N,1,28,28] in [0,1]."""
    return torch.from_numpy(images.astype(np.float32)[:, None] / 255.0)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(1) == labels).mean() * 100)


def predict(net: nn.Module, x: torch.Tensor, batch: int = 1000) -> np.ndarray:
    net.eval()
    with torch.no_grad():
        return torch.cat([net(x[i:i + batch]) for i in range(0, len(x), batch)]).numpy()


def train(net: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, batch: int) -> None:
    """AdamW with a one-cycle schedule; random horizontal flips (clothes are
    left-right symmetric enough) as the only augmentation."""
    gen = torch.Generator().manual_seed(SEED)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * (len(x) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    for epoch in range(epochs):
        net.train()
        t0, total = time.perf_counter(), 0.0
        perm = torch.randperm(len(x), generator=gen)
        for i in range(len(x) // batch):
            idx = perm[i * batch:(i + 1) * batch]
            xb = x[idx]
            flip = torch.rand(len(xb), generator=gen) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            loss = loss_fn(net(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        print(f"epoch {epoch + 1}/{epochs}: loss {total / (len(x) // batch):.4f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)


def export(net: nn.Module, path: Path) -> None:
    net.eval()
    tmp = path.with_name(path.name + ".tmp")
    with torch.no_grad():
        torch.onnx.export(net, (torch.zeros(1, 1, 28, 28),), str(tmp), dynamo=False,
                          opset_version=13, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                          training=torch.onnx.TrainingMode.PRESERVE)
    os.replace(tmp, path)


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
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    train_x, train_y = load_fashion_mnist("train")
    test_x, test_y = load_fashion_mnist("test")

    net = FashionCNN()
    train(net, to_input(train_x), torch.from_numpy(train_y.astype(np.int64)), args.epochs,
          args.batch)
    acc_torch = accuracy(predict(net, to_input(test_x)), test_y)

    onnx_path = args.out_dir / "fashion_cnn.onnx"
    export(net, onnx_path)
    import onnxruntime as ort
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    acc_ort = accuracy(sess.run(["logits"], {"input": to_input(test_x).numpy()})[0], test_y)
    print(f"test top-1: torch {acc_torch:.2f}%, onnxruntime {acc_ort:.2f}% "
          f"({onnx_path}, {onnx_path.stat().st_size / 1e3:.0f} kB)")
    if abs(acc_torch - acc_ort) > 0.02:
        print("train_fashion_cnn: onnxruntime disagrees with torch", file=sys.stderr)
        return 1

    calib = np.random.default_rng(SEED).choice(len(train_x), 200, replace=False)
    npz = args.out_dir / "fashion_eval.npz"
    np.savez_compressed(npz, test_images=test_x[:500], test_labels=test_y[:500],
                        calib_images=train_x[np.sort(calib)])
    print(f"wrote {npz} ({npz.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
