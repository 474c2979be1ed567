"""Numbers the artifact and the runtime agree on (docs/artifact.md).

The op table mirrors ``runtime/src/ops.def``; ``tests/runtime/test_format_sync.py``
parses that file and fails if the two differ.
"""

from __future__ import annotations

from ..dtypes import DType

FORMAT_MAJOR = 1
FORMAT_MINOR = 1
MAGIC = b"\x89IRCM\r\n\x1a"
HEADER_SIZE = 64
SECTION_ENTRY_SIZE = 32
TENSOR_RECORD_SIZE = 80
NODE_RECORD_SIZE = 32
ALIGN = 64
NONE = 0xFFFFFFFF

OPS: dict[str, int] = {
    # data movement
    "copy": 1, "transpose": 2, "concat": 3, "split": 4, "slice": 5, "pad": 6, "gather": 7,
    "expand": 8, "cast": 9,
    # integer
    "quantize": 20, "dequantize": 21, "requantize": 22, "qconv2d": 23, "qmatmul": 24,
    "qadd": 25, "qmul": 26, "qlut": 27, "qavgpool": 28, "qspmm": 29,
    # pooling
    "maxpool": 40, "avgpool": 41, "globalpool": 42,
    # float32
    "conv2d": 60, "matmul": 61, "binary": 62, "unary": 63, "where": 64, "softmax": 65,
    "layernorm": 66, "reduce": 67, "spmm": 68,
}

DTYPES: dict[DType, int] = {DType.F32: 1, DType.I32: 2, DType.I8: 3, DType.U8: 4, DType.I64: 5,
                            DType.B1: 6}

TARGETS: dict[str, int] = {"generic": 0, "x86_64": 1, "arm64": 2}

# Constant encodings (tensor record word 60); 3-5 are reserved for bitpack, codebook, huffman.
ENCODINGS: dict[str, int] = {"dense": 0, "csr": 1, "bsr": 2}

SECTIONS = ("STRS", "TENS", "NODE", "ARGS", "PRMS", "GRPH", "DATA")

# ``binary`` and ``unary`` sub-opcodes, by IR op.
BINARY: dict[str, int] = {
    "nn.add": 0, "nn.sub": 1, "nn.mul": 2, "nn.div": 3, "nn.pow": 4, "nn.max": 5, "nn.min": 6,
    "nn.equal": 7, "nn.less": 8, "nn.less_equal": 9, "nn.greater": 10, "nn.greater_equal": 11,
    "nn.and": 12, "nn.or": 13, "nn.xor": 14, "nn.prelu": 15,
}
UNARY: dict[str, int] = {
    "nn.relu": 0, "nn.clip": 1, "nn.sigmoid": 2, "nn.tanh": 3, "nn.hardswish": 4,
    "nn.hardsigmoid": 5, "nn.leaky_relu": 6, "nn.erf": 7, "gelu_exact": 8, "gelu_tanh": 9,
    "nn.sqrt": 10, "nn.exp": 11, "nn.log": 12, "nn.neg": 13, "nn.abs": 14, "nn.not": 15,
    "nn.is_nan": 16, "nn.is_inf": 17, "reciprocal": 18,
}
REDUCE: dict[str, int] = {"nn.reduce_sum": 0, "nn.reduce_mean": 1, "nn.reduce_max": 2}

# Ops whose output may take its (dying) first input's buffer (docs/artifact.md, "in place").
IN_PLACE = {"copy", "requantize", "qadd", "qlut", "binary", "unary"}
