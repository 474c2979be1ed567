"""qconv2d and qmatmul in the C runtime: identical bytes to the interpreter on every
kernel level this machine has (and with two threads), over random geometry."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import irc
from irc import DType
from irc.artifact import build_artifact
from irc.runtime import Session

from rt_helpers import env_isas, qconv_graph, qmatmul_graph, random_feeds

ISAS = env_isas()
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def assert_same_everywhere(graph, seed: int) -> None:
    rng = np.random.default_rng(seed)
    feeds = random_feeds(rng, graph)
    ref = irc.run(graph, feeds)
    blob = build_artifact(graph)
    for isa in ISAS:
        for threads in (1, 2):
            out = Session(blob, isa=isa, num_threads=threads).run(feeds)
            for name, want in ref.items():
                got = out[name]
                assert got.dtype == want.dtype and got.shape == want.shape
                if not np.array_equal(got, want):
                    diff = np.argwhere(got != want)
                    raise AssertionError(f"{isa} x{threads}: {len(diff)} of {want.size} differ, "
                                         f"first at {tuple(diff[0])}: {got[tuple(diff[0])]} vs "
                                         f"{want[tuple(diff[0])]}")


int8 = st.sampled_from([DType.I8, DType.U8])


@st.composite
def conv_cases(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    depthwise = draw(st.booleans())
    cg = draw(st.integers(1, 5))
    C = cg * groups
    OC = draw(st.integers(1, 4)) * groups
    if depthwise:
        C = OC = groups = draw(st.integers(1, 20))
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    H = draw(st.integers((KH - 1) * dil[0] + 1, 14))
    W = draw(st.integers((KW - 1) * dil[1] + 1, 14))
    return dict(N=draw(st.integers(1, 2)), C=C, OC=OC, H=H, W=W, KH=KH, KW=KW,
                stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                pads=tuple(draw(st.integers(0, 2)) for _ in range(4)), dil=dil, groups=groups,
                xdt=draw(int8), ydt=draw(st.sampled_from([DType.I8, DType.U8, None])),
                wdt=draw(int8), per_channel=draw(st.booleans()), bias=draw(st.booleans()))


@SETTINGS
@given(conv_cases(), st.integers(0, 2**31))
def test_qconv2d_bit_exact(case, seed):
    assert_same_everywhere(qconv_graph(np.random.default_rng(seed), **case), seed)


@st.composite
def matmul_cases(draw):
    const_b = draw(st.booleans())
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    b_batch = batch if const_b and draw(st.booleans()) is False else batch
    if const_b and draw(st.booleans()):
        b_batch = ()
    return dict(M=draw(st.integers(1, 40)), K=draw(st.integers(1, 70)), N=draw(st.integers(1, 70)),
                batch=batch, b_batch=b_batch, adt=draw(int8), bdt=draw(int8), const_b=const_b,
                ydt=draw(st.sampled_from([DType.I8, DType.U8, None])),
                per_channel=draw(st.booleans()), bias=draw(st.booleans()))


@SETTINGS
@given(matmul_cases(), st.integers(0, 2**31))
def test_qmatmul_bit_exact(case, seed):
    assert_same_everywhere(qmatmul_graph(np.random.default_rng(seed), **case), seed)


@pytest.mark.parametrize("shape", [(1, 768, 768), (49, 300, 70), (3, 5, 129)])
def test_qmatmul_large_tiles(shape):
    M, K, N = shape
    assert_same_everywhere(qmatmul_graph(np.random.default_rng(1), M=M, K=K, N=N), 1)


def test_pointwise_conv_on_a_large_plane():
    g = qconv_graph(np.random.default_rng(2), C=16, OC=24, H=48, W=40, KH=1, KW=1,
                    pads=(0, 0, 0, 0))
    assert_same_everywhere(g, 2)


def test_clamped_requantization():
    g = qconv_graph(np.random.default_rng(3), clamp=(-128 + 40, 90))
    assert_same_everywhere(g, 3)


@pytest.mark.parametrize("xdt", [DType.I8, DType.U8])
def test_pointwise_conv_on_a_1x1_image_runs_as_fully_connected(xdt):
    """Squeeze-excite and head convs (1×1 kernels on 1×1 images) take the FC path."""
    g = qconv_graph(np.random.default_rng(4), C=67, OC=130, H=1, W=1, KH=1, KW=1,
                    pads=(0, 0, 0, 0), xdt=xdt, ydt=DType.U8)
    assert_same_everywhere(g, 4)
    g = qconv_graph(np.random.default_rng(5), N=2, C=8, OC=5, H=1, W=1, KH=1, KW=1,
                    pads=(0, 0, 0, 0), ydt=None)
    assert_same_everywhere(g, 5)


@SETTINGS
@given(conv_cases(), st.sampled_from([DType.I8, DType.U8]), st.integers(0, 2**31))
def test_qconv2d_with_a_fused_table(case, lut, seed):
    """q.conv2d → q.requantize → q.lut runs as one qconv2d that applies the table to each
    output block (GEMM, pointwise, 1×1-image and depthwise paths)."""
    from irc.artifact import read_artifact
    case = dict(case, ydt=case["ydt"] or DType.I8)
    g = qconv_graph(np.random.default_rng(seed), lut=lut, **case)
    assert [op for op, _ in read_artifact(build_artifact(g)).nodes] == ["qconv2d"]
    assert_same_everywhere(g, seed)


@pytest.mark.parametrize("kind", ["depthwise", "pointwise", "image1x1", "grouped"])
def test_fused_table_on_every_conv_path(kind):
    rng = np.random.default_rng(9)
    case = {"depthwise": dict(C=12, OC=12, groups=12, stride=(2, 2), H=15, W=17),
            "pointwise": dict(C=16, OC=20, KH=1, KW=1, pads=(0, 0, 0, 0), H=12, W=13),
            "image1x1": dict(C=40, OC=24, KH=1, KW=1, pads=(0, 0, 0, 0), H=1, W=1),
            "grouped": dict(C=6, OC=9, groups=3)}[kind]
    for lut in (DType.I8, DType.U8):
        g = qconv_graph(rng, lut=lut, xdt=DType.U8, **case)
        assert_same_everywhere(g, 9)


def test_large_convs_split_across_threads():
    """Big enough to be split between two threads (small ones run on one): depthwise by
    channels, GEMM by columns, with and without a fused table."""
    rng = np.random.default_rng(10)
    for case in (dict(C=32, OC=32, groups=32, H=40, W=44),
                 dict(C=24, OC=40, H=30, W=30, lut=DType.U8),
                 dict(C=16, OC=16, groups=16, H=64, W=48, stride=(2, 2), lut=DType.I8)):
        assert_same_everywhere(qconv_graph(rng, **case), 10)


@pytest.mark.parametrize("case", [dict(stride=(1, 1)), dict(stride=(2, 1)),
                                  dict(stride=(1, 1), dil=(2, 1), pads=(2, 1, 2, 1)),
                                  dict(stride=(3, 1), KH=2, KW=1, pads=(0, 0, 1, 0)),
                                  dict(stride=(1, 1), KH=1, KW=3, pads=(0, 1, 0, 1))])
def test_im2col_rows_as_long_as_the_input(case):
    """Output rows as long as the input's (stride 1 across, 'same' padding): im2col copies
    each tap as one shifted block and pads the edges."""
    g = qconv_graph(np.random.default_rng(11), C=5, OC=7, H=13, W=11, **case)
    assert_same_everywhere(g, 11)
