"""Per-identity accept counts on a ladder of thresholds: by hand, and on the whole set equal to
tar_at_far at every reported FAR, so a bootstrap over identities starts from the measured value."""

from __future__ import annotations

import numpy as np
import pytest

from thz.metrics.accepts import COLUMNS, accept_counts, allowed_impostors, ladder, tar_from_counts
from thz.metrics.verification import FARS, tar_at_far


def test_allowed_impostors_is_the_most_a_far_accepts():
    assert allowed_impostors(14700, 0.01) == 147 and allowed_impostors(14700, 0.001) == 14
    assert allowed_impostors(240, 0.01) == 2 and allowed_impostors(100, 0.1) == 10
    assert allowed_impostors(9, 0.1) == 0  # one accepted impostor is already 11 %
    assert all(k / n <= far < (k + 1) / n for n in (7, 240, 999, 14700) for far in FARS.values()
               for k in [allowed_impostors(n, far)])  # fmt: skip


def test_the_ladder_by_hand():
    impostors = np.arange(10.0)  # 9 is the highest
    rungs = ladder(impostors, per_decade=1)
    # k = 0 (above 9: none through), the log ladder 1 and 10 (only k < 10 kept), FAR 10 % -> k = 1
    assert rungs.tolist() == [9.0, 8.0]
    assert ladder(impostors).tolist() == [9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0]  # every k up to 9
    assert len(ladder(np.array([]))) == 0


def test_accept_counts_by_hand():
    scores = np.array([[0.9, 0.5, 0.2], [0.4, 0.8, 0.6], [0.7, 0.1, 0.3]])
    owner = np.array(["a", "b", "a"])
    genuine = owner[:, None] == np.array(["a", "b", "a"])[None, :]
    table = accept_counts(scores, genuine, owner, np.array([0.65, 0.35]))
    a = table[table.identity == "a"].set_index("rung")
    # a's genuine: 0.9, 0.2, 0.7, 0.3; a's impostors: 0.5, 0.1
    assert a.genuine_accepted.tolist() == [2, 2] and a.impostors_accepted.tolist() == [0, 1]
    assert (a.genuine == 4).all() and (a.impostors == 2).all()
    b = table[table.identity == "b"].set_index("rung")  # genuine 0.8; impostors 0.4, 0.6
    assert b.genuine_accepted.tolist() == [1, 1] and b.impostors_accepted.tolist() == [0, 2]
    assert table.threshold.tolist() == [0.65, 0.35, 0.65, 0.35]


@pytest.mark.parametrize("seed", range(4))
def test_on_the_whole_set_the_counts_give_tar_at_far_exactly(seed):
    rng = np.random.default_rng(seed)
    identities = rng.integers(3, 7)
    owner = np.repeat([f"p{i}" for i in range(identities)], rng.integers(20, 60, identities))
    gallery = np.repeat([f"p{i}" for i in range(identities)], 25)
    genuine = owner[:, None] == gallery[None, :]
    scores = rng.normal(0, 1, genuine.shape) + 1.5 * genuine + rng.normal(0, 0.5, (len(owner), 1))
    table = accept_counts(scores, genuine, owner, ladder(scores[~genuine]))
    summed = table.groupby("rung")[["genuine_accepted", "impostors_accepted"]].sum()
    totals = table.groupby("identity")[["genuine", "impostors"]].first().sum()
    for far in FARS.values():
        tar = tar_from_counts(summed.genuine_accepted, summed.impostors_accepted, totals.genuine, totals.impostors, far)
        assert tar == pytest.approx(tar_at_far(scores.ravel(), genuine.ravel(), far), abs=1e-12), far


def test_a_resample_is_read_at_the_rung_above_its_own_threshold():
    # rungs accept 0, 2 and 5 impostors of 10; FAR 30 % would allow 3: the rung accepting 2 counts
    genuine_accepted, impostors_accepted = np.array([4, 6, 9]), np.array([0, 2, 5])
    assert tar_from_counts(genuine_accepted, impostors_accepted, 10, 10, 0.3) == pytest.approx(0.6)
    assert tar_from_counts(genuine_accepted, impostors_accepted, 10, 10, 0.0) == pytest.approx(0.4)
    # a batch of resamples (R, T) at once
    batch = tar_from_counts(np.stack([genuine_accepted] * 2), np.stack([impostors_accepted, 2 * impostors_accepted]),
                            np.array([10, 10]), np.array([10, 20]), 0.25)  # fmt: skip
    assert batch.tolist() == pytest.approx([0.6, 0.6])


def test_resamples_read_at_the_rung_above_lose_little_against_their_exact_tar():
    """Identities drawn with replacement: TAR at FAR from the summed counts against tar_at_far on
    the drawn identities' own scores. The identities differ little, so the resamples' spread is
    narrow; the mean loss stays under 3 % of its 95 % range (a ladder of 50 per decade loses 5-6 %)."""
    rng = np.random.default_rng(5)
    owner, gallery = np.repeat([f"p{i}" for i in range(4)], 30), np.repeat([f"p{i}" for i in range(4)], 40)
    genuine = owner[:, None] == gallery[None, :]
    scores = rng.normal(0, 1, genuine.shape) + genuine * np.repeat([0.9, 1.0, 1.1, 1.2], 30)[:, None]
    table = accept_counts(scores, genuine, owner, ladder(scores[~genuine]))
    counts = {c: table.pivot(index="identity", columns="rung", values=c).to_numpy() for c in COLUMNS[3:5]}
    totals = table.groupby("identity")[["genuine", "impostors"]].first().to_numpy()
    draws = rng.integers(0, 4, size=(150, 4))
    for far in (0.1, 0.01):
        exact, read = [], []
        for drawn in draws:
            rows = np.concatenate([np.flatnonzero(owner == f"p{i}") for i in drawn])
            exact.append(tar_at_far(scores[rows].ravel(), genuine[rows].ravel(), far))
            w = np.bincount(drawn, minlength=4)
            read.append(
                tar_from_counts(w @ counts["genuine_accepted"], w @ counts["impostors_accepted"], *(w @ totals), far)
            )
        exact, read = np.array(exact), np.array(read)
        assert (read <= exact + 1e-12).all()  # never above: the rung above the resample's threshold
        spread = np.subtract(*np.quantile(exact, [0.975, 0.025]))
        assert np.mean(exact - read) < 0.03 * spread, far
