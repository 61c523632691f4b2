"""TAR at FAR over folds with a bootstrap interval over identities, on toy folds of known scores:
the mean is the folds' measured TAR, the interval is seeded, holds the mean and widens with fewer
identities, and a FAR the impostor comparisons cannot resolve is not measurable, never a number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from thz.eval.tar_intervals import PROTOCOLS, fold_counts, tar_at_far, tar_cell, tar_interval, tar_section
from thz.metrics.accepts import accept_counts, ladder
from thz.metrics.verification import FARS
from thz.metrics.verification import tar_at_far as measured_tar


def toy_fold(seed: int, identities: int, probes: int = 20, gallery: int = 15) -> tuple[pd.DataFrame, float]:
    """One fold's accepts.csv rows (probe_gallery only) and its measured TAR at FAR 1 %: genuine
    scores shifted per identity, evenly from 1 to 3 (some identities are easier, as real ones are,
    and alike spread for any number of identities)."""
    rng = np.random.default_rng(seed)
    names = np.array([f"f{seed}_{i:02d}" for i in range(identities)])
    owner, in_gallery = np.repeat(names, probes), np.repeat(names, gallery)
    genuine = owner[:, None] == in_gallery[None, :]
    ease = np.repeat(rng.permutation(np.linspace(1.0, 3.0, identities)), probes)[:, None]
    scores = rng.normal(0, 1, genuine.shape) + genuine * ease
    table = accept_counts(scores, genuine, owner, ladder(scores[~genuine])).assign(protocol="probe_gallery")
    return table, measured_tar(scores.ravel(), genuine.ravel(), 0.01)


def test_the_mean_is_the_folds_measured_tar_and_the_interval_holds_it():
    folds = [toy_fold(seed, identities=6) for seed in (1, 2, 3)]
    result = tar_at_far([table for table, _ in folds], n_resamples=2000, seed=0)
    one = result["probe_gallery"]["1pct"]
    assert one["mean"] == pytest.approx(np.mean([tar for _, tar in folds]), abs=1e-12)
    assert one["identities"] == 18 and one["fewest_impostors"] == 6 * 20 * 75
    for entry in result["probe_gallery"].values():
        assert entry["ci_low"] <= entry["mean"] <= entry["ci_high"]
        assert entry["ci_high"] - entry["ci_low"] > 0
    assert set(result) == set(PROTOCOLS)


def test_the_interval_is_seeded():
    tables = [toy_fold(seed, identities=5)[0] for seed in (4, 5)]
    first = tar_at_far(tables, n_resamples=500, seed=7)
    assert tar_at_far(tables, n_resamples=500, seed=7) == first
    assert tar_at_far(tables, n_resamples=500, seed=8)["probe_gallery"]["10pct"] != first["probe_gallery"]["10pct"]


def test_the_interval_widens_with_fewer_identities():
    def width(identities: int) -> float:
        counts = [fold_counts(toy_fold(seed, identities)[0], "probe_gallery") for seed in (10, 11)]
        entry = tar_interval(counts, FARS["10pct"], n_resamples=2000, seed=0)
        return entry["ci_high"] - entry["ci_low"]

    assert width(3) > 1.5 * width(16)  # about sqrt(16 / 3) = 2.3 times as wide


def test_a_far_the_impostor_comparisons_cannot_resolve_is_not_measurable():
    small, _ = toy_fold(20, identities=3, probes=10, gallery=10)  # 3 * 10 * 20 = 600 impostor comparisons
    large, _ = toy_fold(21, identities=4)
    result = tar_at_far([small, large], n_resamples=200)["probe_gallery"]
    assert result["0p1pct"]["mean"] is None and result["0p1pct"]["ci_low"] is None
    assert result["0p1pct"]["fewest_impostors"] == 600
    assert result["1pct"]["mean"] is not None  # 600 resolve 1 %
    assert tar_cell(result["0p1pct"], 0.001) == "not measurable (600 impostor comparisons in a fold, 1000 needed)"
    assert tar_cell({"mean": 0.5, "ci_low": 0.25, "ci_high": 0.75}, 0.01) == "0.500 (0.250 to 0.750)"
    absent = tar_at_far([small, large], n_resamples=200)["enrollment"]  # no enrollment rows at all
    assert all(entry["mean"] is None and entry["identities"] == 0 for entry in absent.values())


def test_the_report_section_has_a_row_per_model_and_protocol():
    tables = [toy_fold(seed, identities=3, probes=10, gallery=10)[0] for seed in (30, 31)]
    result = tar_at_far(tables, n_resamples=200)
    lines = tar_section({"baseline": result, "student": result})
    assert "| model | protocol | FAR 10 % | FAR 1 % | FAR 0.1 % |" in lines
    rows = [line for line in lines if line.startswith(("| baseline", "| student"))]
    assert len(rows) == 4 and rows[0].startswith("| baseline | image level (every gallery image) | 0.")
    assert rows[0].endswith("| not measurable (600 impostor comparisons in a fold, 1000 needed) |")
    assert rows[1].count("not measurable (0 impostor comparisons") == 3  # no enrollment rows
