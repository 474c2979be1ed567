"""irc.prune_schedule: iterative pruning during fit(), on scikit-learn's bundled
8x8 digits (as tests/ir/test_train_fit.py)."""

from __future__ import annotations

import numpy as np
import pytest

import irc
from irc import sparsity as sp
from irc.builder import Builder
from irc.prune_schedule import PruneSchedule, gradual_nm_mask, prune_and_fine_tune
from irc.train import Adam, evaluate, fit

B = 50


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    idx = np.random.default_rng(0).permutation(len(d.target))
    x, y = (d.data[idx] / 16).astype(np.float32), d.target[idx]
    return x[:1500], y[:1500], x[1500:], y[1500:]


def _mlp(seed: int = 0) -> irc.Graph:
    """64 -> 64 -> 32 -> 10; with the prune defaults only fc2 (W[32][64]) is pruned."""
    rng = np.random.default_rng(seed)
    b = Builder("mlp")
    h = b.input("x", f"f32[{B},64]")
    for i, (k, n) in enumerate([(64, 64), (64, 32), (32, 10)]):
        w = (rng.standard_normal((k, n)) * np.sqrt(2 / k)).astype(np.float32)
        h = b.nn.gemm(h, b.const(w, f"fc{i + 1}.w"), b.const(np.zeros(n, np.float32),
                                                            f"fc{i + 1}.b"),
                      name="logits" if i == 2 else None)
        if i < 2:
            h = b.nn.relu(h)
    return b.finish(h)


@pytest.fixture(scope="module")
def trained() -> irc.Graph:
    xtr, ytr, _, _ = _digits()
    g = _mlp()
    fit(g, {"x": xtr}, ytr, epochs=6, batch_size=B, optimizer=Adam(lr=3e-3),
        progress_label=None)
    return g


def _acc(g: irc.Graph) -> float:
    _, _, xte, yte = _digits()
    return evaluate(g, {"x": xte}, yte, progress_label=None)


def _zeros(g: irc.Graph, name: str) -> float:
    w = g.value(name).const_value
    return 1.0 - np.count_nonzero(w) / w.size


def test_sparsity_follows_the_polynomial_schedule_and_pruned_weights_stay_zero(
        trained: irc.Graph) -> None:
    xtr, ytr, _, _ = _digits()
    g = trained.copy()
    t0, t1, si, sf, power = 5, 65, 0.1, 0.8, 3.0
    sched = PruneSchedule(sf, begin_step=t0, end_step=t1, frequency=10, initial_sparsity=si,
                          power=power, keep_first=False)
    weights = ["fc1.w", "fc2.w"]                 # keep_last leaves fc3 dense
    measured: dict[int, dict[str, float]] = {}
    held: list[int] = []

    def hook(train: irc.Graph, step: int) -> None:
        before = {k: m.copy() for k, m in sched.masks.items()}
        sched(train, step)
        for k, keep in before.items():           # what was pruned stays pruned, exactly 0
            held.append(int(np.count_nonzero(train.value(k).const_value[~keep])))
        measured[step] = {k: _zeros(train, k) for k in weights}
    fit(g, {"x": xtr}, ytr, epochs=3, batch_size=B, optimizer=Adam(lr=1e-3), on_step=hook,
        progress_label=None)                     # 90 steps
    assert [e.step for e in sched.events] == [5, 15, 25, 35, 45, 55, 65]
    assert held and not any(held)

    def formula(t: int) -> float:
        p = min(1.0, max(0.0, (t - t0) / (t1 - t0)))
        return sf + (si - sf) * (1 - p) ** power
    last = 0.0
    for t in range(1, 91):
        if t in {e.step for e in sched.events}:
            last = formula(t)
        for k in weights:                         # to within one weight, and flat in between
            size = int(np.prod(g.value(k).type.shape))
            assert measured[t][k] == pytest.approx(last, abs=0.5 / size + 1e-9), (t, k)
    assert measured[90]["fc1.w"] == pytest.approx(sf, abs=1e-3)
    assert _zeros(g, "fc3.w") == 0.0
    # the user's graph: trained values written back by fit, masks recorded by finish
    assert not sp.masks(g)
    stats = sched.finish(g)
    assert [s.weight for s in stats] == weights
    for k, keep in sp.masks(g).items():
        assert not g.value(k).const_value[~keep].any()
        assert keep.mean() == pytest.approx(1 - sf, abs=1e-3)


def test_masks_survive_save_and_load_and_fine_tuning_beats_one_shot(
        trained: irc.Graph, tmp_path) -> None:  # type: ignore[no-untyped-def]
    xtr, ytr, _, _ = _digits()
    s = 0.9
    dense = _acc(trained)
    one_shot = irc.compile(trained, f"prune{{sparsity={s},keep_first=false}}")
    g = trained.copy()
    hist = prune_and_fine_tune(g, {"x": xtr}, ytr, sparsity=s, epochs=4, batch_size=B,
                               keep_first=False, optimizer=Adam(lr=1e-3),
                               progress_label=None)
    assert len(hist.loss) == 4
    ft, base = _acc(g), _acc(one_shot)
    assert dense > 0.93
    assert ft > base + 0.2 and ft > 0.88, (dense, base, ft)    # measured: 0.97, 0.57, 0.90
    recs = sp.records(g)
    assert sorted(recs) == ["fc1.w", "fc2.w"]
    assert all(r.pattern == "unstructured" and r.sparsity == pytest.approx(s, abs=1e-3)
               for r in recs.values())
    path = tmp_path / "pruned.irc"
    irc.save(g, path)
    back = irc.load(path)
    again = sp.masks(back)
    assert sorted(again) == sorted(recs)
    for k, r in recs.items():
        np.testing.assert_array_equal(again[k], r.mask)
        np.testing.assert_array_equal(back.value(k).const_value, g.value(k).const_value)
    assert _acc(back) == pytest.approx(ft)


def _blocks_uniform(keep2d: np.ndarray, r: int, c: int) -> bool:
    R, C = keep2d.shape
    pad = np.zeros((-(-R // r) * r, -(-C // c) * c), bool)
    pad[:R, :C] = keep2d
    blocks = pad.reshape(pad.shape[0] // r, r, pad.shape[1] // c, c)
    # a partial edge block counts its cells inside the matrix only
    inside = np.zeros_like(pad)
    inside[:R, :C] = True
    inside = inside.reshape(blocks.shape)
    anyk = (blocks & inside).any(axis=(1, 3))
    allk = (blocks | ~inside).all(axis=(1, 3))
    return bool((anyk == allk).all())


@pytest.mark.parametrize("pattern,s", [("unstructured", 0.85), ("2:4", None),
                                       ("block1x4", 0.75), ("block4x1", 0.75),
                                       ("channel", 0.5)])
def test_every_pattern_ends_in_a_valid_pattern(trained: irc.Graph, pattern: str,
                                               s: float | None) -> None:
    xtr, ytr, _, _ = _digits()
    g = trained.copy()
    steps: list[int] = []

    def check_nm(train: irc.Graph, step: int) -> None:   # ≥ 2 of every 4 kept at every step
        if pattern == "2:4":
            for k in ("fc1.w", "fc2.w"):
                w2 = train.value(k).const_value.T        # gemm b [K, N] -> W[N][K]
                assert ((w2.reshape(w2.shape[0], -1, 4) != 0).sum(-1) >= 2).all()
        steps.append(step)
    prune_and_fine_tune(g, {"x": xtr[:750]}, ytr[:750], sparsity=s, pattern=pattern,
                        epochs=2, batch_size=B, keep_first=False, optimizer=Adam(lr=1e-3),
                        on_step=check_nm, progress_label=None)
    assert len(steps) == 30
    recs = sp.records(g)
    assert sorted(recs) == ["fc1.w", "fc2.w"]
    for k, rec in recs.items():
        w = g.value(k).const_value
        assert rec.pattern == pattern
        assert not w[~rec.mask].any()
        W, keep = w.T, rec.mask.T                        # the 2-D view: rows = outputs
        if pattern == "2:4":
            np.testing.assert_array_equal(keep.reshape(keep.shape[0], -1, 4).sum(-1), 2)
        elif pattern == "channel":
            rows = keep.all(axis=1)
            assert (rows | ~keep.any(axis=1)).all()      # whole rows kept or pruned
            assert int((~rows).sum()) == int(np.floor(s * W.shape[0] + 0.5))
        else:
            r, c = (1, 1) if pattern == "unstructured" else \
                sp.block_shape(pattern)  # type: ignore[misc]
            assert _blocks_uniform(keep, r, c)
            assert 1 - keep.mean() == pytest.approx(s, abs=r * c / keep.size)
    assert _acc(g) > 0.8


def test_gradual_nm_mask_keeps_n_per_group_and_ends_at_the_nm_mask() -> None:
    mag = np.abs(np.random.default_rng(3).standard_normal((6, 10)))   # last group: 2 columns
    for s in (0.0, 0.1, 0.25, 0.4):
        keep = gradual_nm_mask(mag, 2, 4, s)
        pad = np.ones((6, 12), bool)
        pad[:, :10] = keep
        assert (pad.reshape(6, 3, 4).sum(-1) >= 2).all()
        assert (~keep).sum() == min(round(s * 60), 6 * 2 * 2)
    np.testing.assert_array_equal(gradual_nm_mask(mag, 2, 4, 0.5), sp.nm_mask(mag, 2, 4))


def test_bad_options_raise_value_errors() -> None:
    bad = [
        (dict(pattern="diagonal"), "unknown sparsity pattern"),
        (dict(sparsity=1.0), r"sparsity must be in \[0, 1\)"),
        (dict(sparsity=0.9, pattern="2:4"), "fixes the sparsity at 0.5"),
        (dict(pattern="2:4", threshold="global"), "threshold=global has no meaning"),
        (dict(pattern="channel", criterion="activation"), "criterion=activation"),
        (dict(criterion="activation"), "applies to pattern=channel only"),
        (dict(begin_step=10, end_step=5), "end_step .* must be >= begin_step"),
        (dict(frequency=0), "frequency must be >= 1"),
        (dict(sparsity=0.5, initial_sparsity=0.6), "must not exceed the final sparsity"),
        (dict(layers=["fc1"]), "write GLOB:SPARSITY"),
        (dict(threshold="everywhere"), "threshold"),
    ]
    for kwargs, msg in bad:
        with pytest.raises(ValueError, match=msg):
            PruneSchedule(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no masks yet"):
        PruneSchedule(0.5).finish(_mlp())
    with pytest.raises(ValueError, match="make no training step"):
        prune_and_fine_tune(_mlp(), {"x": np.zeros((10, 64), np.float32)}, np.zeros(10),
                            batch_size=B)
