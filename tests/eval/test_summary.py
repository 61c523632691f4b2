"""The flat summary files DVC shows as metrics, from small hand-made inputs with known values."""

from __future__ import annotations

import json

import pytest

from thz.eval.report import MAIN_COLUMNS
from thz.eval.summary import (
    MODEL_METRICS,
    model_summaries,
    pair_summary,
    pixel_summary,
    read_pixel_baselines,
    write_summaries,
)


def _evaluation(auc: float, tar: float, identities: int = 4) -> dict:
    return {
        "test": {"identities": identities, "images": 10 * identities},
        "verification": {"probe_gallery": {"auc": auc, "tar_at_far_1pct": tar}},
        "posture": {"accuracy": 0.9},
    }


def _pixel(auc: float) -> dict:
    return {
        "test_identities": 4,
        "verification": {"auc": auc, "eer": 0.5, "tar_at_far_1pct": 0.01},
        "posture": {"accuracy": 0.8},
        "reconstruction": {"ssim_identity": 0.3, "ssim_ridge": 0.5},
    }


def _pair(difference: float) -> dict:
    verdict = {"difference": difference, "ci_low": difference - 0.01, "ci_high": difference + 0.01}
    verdict |= {"wilcoxon_p": 0.01, "wilcoxon_p_holm": 0.02, "significant": True, "detectable": 0.03, "b_better": True}
    return {
        "identities": 8,
        "verification_auc": verdict,
        "verification_tar_at_far_1pct": {**verdict, "significant": False},
        "ssim_predicted": verdict,
        "posture_mcnemar": {"p_value": 1.0},
    }


BY_FOLD = {
    0: {"baseline": _evaluation(0.8, 0.1), "student": _evaluation(0.9, 0.3)},
    1: {"baseline": _evaluation(0.6, 0.1), "student": _evaluation(0.7, 0.5)},
}


def test_every_model_summary_metric_is_a_main_metric_of_the_report():
    assert set(MODEL_METRICS.values()) <= {key for key, _, _ in MAIN_COLUMNS}


def test_a_model_summary_is_the_fold_mean_and_sd_with_the_identities_pooled():
    summary = model_summaries(BY_FOLD)
    assert summary["baseline"] == pytest.approx(
        {
            "identities": 8,
            "auc": 0.7,
            "auc_sd": 0.141421356,  # sd of 0.8 and 0.6, ddof 1
            "tar_far_1pct": 0.1,
            "tar_far_1pct_sd": 0.0,
            "posture_accuracy": 0.9,
            "posture_accuracy_sd": 0.0,
        }
    )
    assert summary["student"]["tar_far_1pct"] == pytest.approx(0.4)
    assert set(summary["baseline"]) == set(summary["student"])  # same keys: one column each in DVC's table


def test_the_pixel_summary_uses_the_models_keys_and_its_ridge_ssim():
    summary = pixel_summary({0: _pixel(0.5), 3: _pixel(0.6)})
    assert summary["auc"] == pytest.approx(0.55) and summary["auc_sd"] == pytest.approx(0.0707107)
    assert summary["ssim"] == 0.5 and summary["identities"] == 8
    assert set(summary) <= {"identities", *MODEL_METRICS, *(f"{k}_sd" for k in MODEL_METRICS)}  # no new columns


def test_a_pair_summary_is_the_flat_verdict_on_the_verification_metrics():
    assert pair_summary(_pair(0.05)) == pytest.approx(
        {
            "identities": 8,
            "auc_diff": 0.05,
            "auc_ci_low": 0.04,
            "auc_ci_high": 0.06,
            "auc_p_holm": 0.02,
            "auc_significant": True,
            "tar_far_1pct_diff": 0.05,
            "tar_far_1pct_ci_low": 0.04,
            "tar_far_1pct_ci_high": 0.06,
            "tar_far_1pct_p_holm": 0.02,
            "tar_far_1pct_significant": False,
        }
    )


def test_write_summaries_writes_one_flat_file_per_model_pixel_baseline_and_pair(tmp_path):
    write_summaries(tmp_path, BY_FOLD, {"student_vs_baseline": _pair(0.1)}, {0: _pixel(0.5), 1: _pixel(0.5)})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["baseline.json", "pixel_baseline.json", "student.json", "student_vs_baseline.json"]
    for path in tmp_path.iterdir():
        data = json.loads(path.read_text())
        assert all(not isinstance(v, dict | list) and "." not in k for k, v in data.items()), path.name
    assert json.loads((tmp_path / "student_vs_baseline.json").read_text())["auc_diff"] == pytest.approx(0.1)


def test_a_missing_pixel_baseline_fold_is_an_error_naming_it(tmp_path):
    (tmp_path / "fold_0.json").write_text(json.dumps(_pixel(0.5)))
    assert read_pixel_baselines(tmp_path, [0])[0]["verification"]["auc"] == 0.5
    with pytest.raises(ValueError, match="fold_2.json' not found: the pixel_baseline stage has not run"):
        read_pixel_baselines(tmp_path, [0, 2])
