"""The comparison of two evaluated models on constructed tables with a known effect and with none,
and the report written from it (self-contained HTML that opens offline)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import write_png
from thz.data.problems import DataError
from thz.eval.compare import compare_pair, describe, pool_folds, smallest_wilcoxon_p
from thz.eval.report import build_markdown, fold_summary, main_table, power_statement, write_report


def tables(shift: float, n_ids: int = 12, seed: int = 0, noise: float = 0.0):
    """Per-identity and per-sample tables of models a and b; b = a + shift on AUC and SSIM, lower EER."""
    rng = np.random.default_rng(seed)
    ids = [f"p{i:02d}" for i in range(n_ids)]
    auc = rng.uniform(0.6, 0.9, n_ids)
    a = pd.DataFrame({"identity": ids, "verification_auc": auc, "verification_eer": 1 - auc, "ssim_predicted": auc})
    b = a.copy()
    delta = shift + rng.normal(0, noise, n_ids) if noise else shift
    b["verification_auc"] += delta
    b["ssim_predicted"] += delta
    b["verification_eer"] -= delta
    paths = [f"{i}_{k}.png" for i in ids for k in range(3)]
    correct_a = np.arange(len(paths)) % 4 != 0
    sa = pd.DataFrame({"path": paths, "posture_correct": correct_a})
    sb = pd.DataFrame({"path": paths, "posture_correct": np.ones(len(paths), bool) if shift > 0 else correct_a})
    return {"a": a, "b": b}, {"a": sa, "b": sb}


def test_a_clear_improvement_is_significant_in_every_test():
    per_identity, per_sample = tables(shift=0.05)
    c = compare_pair("a", "b", per_identity, per_sample, n_resamples=2000)
    assert c["identities"] == 12
    for column in ("verification_auc", "ssim_predicted", "verification_eer"):
        assert c[column]["significant"] and c[column]["b_better"], column
    assert c["verification_auc"]["difference"] == pytest.approx(0.05)
    assert c["verification_eer"]["difference"] == pytest.approx(-0.05)  # lower is better, and b is better
    assert c["posture_mcnemar"]["b_only_correct"] == 9 and c["posture_mcnemar"]["significant"]
    lines = describe("a", "b", c)
    assert any("verification AUC" in line and "**significant**: b is better" in line for line in lines)


def test_no_effect_is_not_significant():
    per_identity, per_sample = tables(shift=0.0, noise=0.02, seed=3)
    c = compare_pair("a", "b", per_identity, per_sample, n_resamples=2000)
    assert not c["verification_auc"]["significant"]
    assert c["verification_auc"]["ci_low"] < 0 < c["verification_auc"]["ci_high"]
    assert c["posture_mcnemar"]["p_value"] == 1.0


def test_few_identities_can_never_be_significant_and_the_report_says_so():
    per_identity, per_sample = tables(shift=0.05, n_ids=3)
    c = compare_pair("a", "b", per_identity, per_sample, n_resamples=2000)
    assert smallest_wilcoxon_p(3) == 0.25 and not c["verification_auc"]["significant"]
    assert any("does not confirm it" in line for line in describe("a", "b", c))
    metrics = {m: {"verification": {"probe_gallery": {"auc": 0.8}}, "reconstruction": {}} for m in ("a", "b")}
    markdown = build_markdown({0: metrics}, {"b_vs_a": c}, {})
    assert "cannot give p below 0.250" in markdown and "no per-identity difference can be significant" in markdown


def test_comparison_needs_shared_identities():
    per_identity, per_sample = tables(shift=0.05)
    per_identity["b"] = per_identity["b"].assign(identity=[f"q{i}" for i in range(12)])
    with pytest.raises(ValueError, match="share 0 evaluated identities"):
        compare_pair("a", "b", per_identity, per_sample)


def test_main_table_shows_missing_metrics():
    metrics = {
        "baseline": {"reconstruction": {"predicted": {"ssim": 0.6}}},
        "student": {"reconstruction": {"predicted": {"ssim": 0.7, "lpips": 0.2}}},
    }
    table = main_table(metrics)
    assert table.loc["SSIM predicted"].tolist() == [0.6, 0.7]
    assert pd.isna(table.loc["LPIPS predicted", "baseline"])
    assert "| LPIPS predicted | missing | 0.2000 |" in build_markdown({0: metrics}, {}, {})


def test_html_report_is_self_contained(tmp_path):
    per_identity, per_sample = tables(shift=0.05)
    write_png(tmp_path / "figs" / "roc.png", size=8, mode="RGB")
    metrics = {"baseline": {"reconstruction": {"lpips_missing": "no weights"}}, "student": {"reconstruction": {}}}
    per_identity_named = {"baseline": per_identity["a"], "student": per_identity["b"]}
    per_sample_named = {"baseline": per_sample["a"], "student": per_sample["b"]}
    comparisons = {"student_vs_baseline": compare_pair("baseline", "student", per_identity_named, per_sample_named)}
    measured = {"mean": 0.5, "ci_low": 0.4, "ci_high": 0.6, "identities": 12, "fewest_impostors": 240}
    unresolved = measured | {"mean": None, "ci_low": None, "ci_high": None}
    by_far = {"10pct": measured, "1pct": measured, "0p1pct": unresolved}
    tar = {m: {"probe_gallery": by_far, "enrollment": by_far} for m in ("baseline", "student")}
    write_report(tmp_path / "figs", {0: metrics}, comparisons, {"ROC curves": "roc.png"}, tar_at_far=tar)
    page = (tmp_path / "figs" / "report.html").read_text()
    assert "<h2>TAR at FAR</h2>" in page and "<td>0.500 (0.400 to 0.600)</td>" in page
    assert "<td>not measurable (240 impostor comparisons in a fold, 1000 needed)</td>" in page
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert "http" not in page and "<script" not in page  # nothing to fetch: it opens offline
    assert "<b>significant</b>: student is better" in page and "<table>" in page
    markdown = (tmp_path / "figs" / "report.md").read_text()
    assert "## Did distillation help? student against baseline" in markdown and "![ROC curves](roc.png)" in markdown
    assert "LPIPS is missing: no weights" in markdown


def _fold_metrics(auc: float, ssim: float) -> dict:
    return {"verification": {"probe_gallery": {"auc": auc}}, "reconstruction": {"predicted": {"ssim": ssim}}}


def test_fold_summary_gives_mean_and_spread_over_folds():
    by_fold = {
        k: {"baseline": _fold_metrics(auc, 0.6), "student": _fold_metrics(auc + 0.1, 0.5)}
        for k, auc in enumerate((0.6, 0.7, 0.8))
    }
    summary = fold_summary(by_fold)
    assert summary["baseline"]["auc"] == pytest.approx({"mean": 0.7, "std": 0.1, "min": 0.6, "max": 0.8})
    assert summary["student"]["auc"]["mean"] == pytest.approx(0.8)
    assert summary["student"]["ssim_predicted"] == pytest.approx({"mean": 0.5, "std": 0.0, "min": 0.5, "max": 0.5})
    assert "lpips_predicted" not in summary["student"]  # missing in every fold: left out, not zero
    assert fold_summary({0: by_fold[0]})["baseline"]["auc"]["std"] == 0.0  # one fold: no spread
    markdown = build_markdown(by_fold, {}, {}, folds_total=4)
    assert "Cross-validation over 3 folds" in markdown
    assert "| verification AUC | 0.7000 ± 0.1000 | 0.8000 ± 0.1000 |" in markdown
    assert "| 2 | 0.8000 | 0.9000 |" in markdown  # the per-fold AUC table
    assert "Only fold(s) [0, 1, 2] of 4 were run" in markdown and "folds [3] are not evaluated" in markdown


def test_pooling_folds_stacks_them_and_refuses_an_identity_tested_twice():
    per_identity, _ = tables(shift=0.0, n_ids=4)
    first, second = per_identity["a"].iloc[:2], per_identity["a"].iloc[2:]
    pooled = pool_folds({0: first, 3: second}, "identity")
    assert len(pooled) == 4 and pooled.fold.tolist() == [0, 0, 3, 3]
    with pytest.raises(DataError, match=r"identity 'p00' is evaluated in folds \[0, 1\]"):
        pool_folds({0: first, 1: per_identity["a"]}, "identity")


def test_pooled_folds_give_the_paired_tests_their_power():
    """Three identities per fold can never be significant; five folds of them pooled can."""
    per_identity, per_sample = tables(shift=0.05, n_ids=15)
    folds = {k: slice(3 * k, 3 * k + 3) for k in range(5)}
    alone = compare_pair("a", "b", {m: t.iloc[folds[0]] for m, t in per_identity.items()}, per_sample, n_resamples=500)
    pooled = {m: pool_folds({k: t.iloc[f] for k, f in folds.items()}, "identity") for m, t in per_identity.items()}
    together = compare_pair("a", "b", pooled, per_sample, n_resamples=500)
    assert not alone["verification_auc"]["significant"] and together["verification_auc"]["significant"]
    assert together["identities"] == 15
    # the smallest detectable difference shrinks with the identities pooled (about 1 / sqrt(n))
    per_identity, per_sample = tables(shift=0.05, n_ids=15, noise=0.03)
    alone = compare_pair("a", "b", {m: t.iloc[folds[0]] for m, t in per_identity.items()}, per_sample, n_resamples=200)
    pooled = {m: pool_folds({k: t.iloc[f] for k, f in folds.items()}, "identity") for m, t in per_identity.items()}
    together = compare_pair("a", "b", pooled, per_sample, n_resamples=200)
    detectable = together["verification_auc"]["detectable"]
    assert detectable < alone["verification_auc"]["detectable"]
    assert 0.01 < detectable < 0.04  # (t[0.975] + t[0.8]) * 0.03 / sqrt(15) = 0.023 for the true noise sd
    words = power_statement(15, 5, together)
    assert "pool 15 test identities from 5 fold(s)" in words
    assert f"{together['verification_auc']['detectable']:.3f} or more would have been detected" in words
