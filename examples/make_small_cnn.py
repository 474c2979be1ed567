"""Generate the bundled demo model ``examples/small_cnn.irc`` (+ ``.npz``).

A small image classifier in the shape of a MobileNet-style block stack — 3×3
conv → batch norm → ReLU6, depthwise 3×3 → BN → ReLU, pointwise 1×1 → BN, a
residual add, global average pooling and a dense softmax head — with seeded
random weights.  It is what a freshly exported model looks like before irc
cleans it up: unfused batch norms, separate activations, identity and reshape
no-ops, constant subexpressions.

    python examples/make_small_cnn.py        # rewrites examples/small_cnn.irc
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import irc
from irc.builder import Builder


def conv_bn(b: Builder, x, rng, cin: int, cout: int, k: int, *, groups: int = 1,  # type: ignore[no-untyped-def]
            stride: int = 1, name: str):
    w = rng.standard_normal((cout, cin // groups, k, k)).astype(np.float32)
    w *= np.sqrt(2.0 / (cin // groups * k * k)).astype(np.float32)
    p = k // 2
    y = b.nn.conv2d(x, b.const(w, f"{name}.w"), strides=(stride, stride), pads=(p, p, p, p),
                    groups=groups, loc=name)
    gamma = (1 + 0.1 * rng.standard_normal(cout)).astype(np.float32)
    beta = (0.1 * rng.standard_normal(cout)).astype(np.float32)
    mean = (0.1 * rng.standard_normal(cout)).astype(np.float32)
    var = (1 + 0.2 * rng.random(cout)).astype(np.float32)
    return b.nn.batch_norm(y, b.const(gamma, f"{name}.gamma"), b.const(beta, f"{name}.beta"),
                           b.const(mean, f"{name}.mean"), b.const(var, f"{name}.var"),
                           loc=f"{name}.bn")


def build() -> irc.Graph:
    rng = np.random.default_rng(2026)
    b = Builder("small_cnn")
    x = b.input("image", "f32[1,1,28,28]")
    # input normalization written as an exporter would: (x - mean) / std with std = 2 * 0.15
    std = b.nn.mul(b.const(np.float32(0.15)), b.const(np.float32(2.0)))
    h = b.nn.div(b.nn.sub(x, b.const(np.float32(0.3))), std)
    h = b.nn.relu6(conv_bn(b, h, rng, 1, 16, 3, stride=2, name="stem"))          # 16x14x14
    for i, c in enumerate((16, 32)):
        cin = h.type.shape[1]
        d = b.nn.relu(conv_bn(b, h, rng, cin, cin, 3, groups=cin, name=f"block{i}.dw"))
        d = b.nn.identity(d)
        p = conv_bn(b, d, rng, cin, c, 1, name=f"block{i}.pw")
        if c == cin:
            p = b.nn.add(p, h)
        h = b.nn.relu(p)
    h = b.nn.global_avg_pool(h)
    h = b.nn.reshape(b.nn.flatten(h), shape=(1, 32))
    w = (rng.standard_normal((10, 32)) * 0.3).astype(np.float32)
    logits = b.nn.gemm(h, b.const(w, "fc.w"), b.const(np.zeros(10, np.float32), "fc.b"),
                       trans_b=True, loc="fc")
    probs = b.nn.softmax(logits, name="probs")
    return b.finish(probs)


if __name__ == "__main__":
    out = Path(__file__).with_name("small_cnn.irc")
    irc.save(build(), out)
    print(f"wrote {out}")
