"""The README's distillation verdict (lab.tables.verdict) follows compare.json: yes only when the
student beats the baseline significantly on a verification metric and is significantly worse on none."""

from __future__ import annotations

import json

import pytest

from lab.tables import verdict


def _compare(tmp_path, auc: tuple[float, bool], tar: tuple[float, bool]):
    def row(diff, significant):
        return {
            "difference": diff,
            "ci_low": diff - 0.01,
            "ci_high": diff + 0.01,
            "significant": significant,
            "wilcoxon_p_holm": 0.01 if significant else 0.5,
            "detectable": 0.02,
        }

    pair = {"identities": 20, "verification_auc": row(*auc), "verification_tar_at_far_1pct": row(*tar)}
    path = tmp_path / "metrics" / "compare.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"student_vs_baseline": pair}))
    return tmp_path


@pytest.mark.parametrize(
    ("auc", "tar", "answer"),
    [
        ((0.03, True), (0.01, False), "**Yes**"),
        ((0.03, False), (0.05, False), "**No**"),  # larger but not significant
        ((0.03, True), (-0.05, True), "**No**"),  # better on one, significantly worse on the other
        ((-0.03, True), (0.0, False), "**No**"),
    ],
)
def test_the_answer_follows_significance_and_direction(tmp_path, auc, tar, answer):
    text = verdict(_compare(tmp_path, auc, tar))
    assert text.startswith(answer + ":")
    assert f"identity AUC {auc[0]:+.3f}" in text and "over 20 test identities" in text
