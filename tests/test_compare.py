"""The comparison of two evaluated models on constructed tables with a known effect and with none,
and the report written from it (self-contained HTML that opens offline)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import write_png
from thz.compare import compare_pair, describe, smallest_wilcoxon_p
from thz.report import build_markdown, main_table, write_report


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
    assert any("rank test does not confirm" in line for line in describe("a", "b", c))
    metrics = {m: {"verification": {"probe_gallery": {"auc": 0.8}}, "reconstruction": {}} for m in ("a", "b")}
    markdown = build_markdown(metrics, {"b_vs_a": c}, {})
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
    assert "| LPIPS predicted | missing | 0.2000 |" in build_markdown(metrics, {}, {})


def test_html_report_is_self_contained(tmp_path):
    per_identity, per_sample = tables(shift=0.05)
    write_png(tmp_path / "figs" / "roc.png", size=8, mode="RGB")
    metrics = {"baseline": {"reconstruction": {"lpips_missing": "no weights"}}, "student": {"reconstruction": {}}}
    per_identity_named = {"baseline": per_identity["a"], "student": per_identity["b"]}
    per_sample_named = {"baseline": per_sample["a"], "student": per_sample["b"]}
    comparisons = {"student_vs_baseline": compare_pair("baseline", "student", per_identity_named, per_sample_named)}
    write_report(tmp_path / "figs", metrics, comparisons, {"ROC curves": "roc.png"})
    page = (tmp_path / "figs" / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert "http" not in page and "<script" not in page  # nothing to fetch: it opens offline
    assert "<b>significant</b>: student is better" in page and "<table>" in page
    markdown = (tmp_path / "figs" / "report.md").read_text()
    assert "## Did distillation help? student against baseline" in markdown and "![ROC curves](roc.png)" in markdown
    assert "LPIPS is missing: no weights" in markdown
