"""The seed paper's separability claim in words: each part from the paired test's significance and
sign, known answers on hand-made comparisons."""

from __future__ import annotations

import pytest

from thz.eval.seed_claim import TASK, seed_claim


def row(difference: float, significant: bool) -> dict:
    return {
        "difference": difference,
        "ci_low": difference - 0.01,
        "ci_high": difference + 0.01,
        "wilcoxon_p_holm": 0.001 if significant else 0.5,
        "significant": significant,
    }


def comparison(separation=(0.0, False), compactness=(0.0, False), **task) -> dict:
    out = {"separation": row(*separation), "compactness": row(*compactness)}
    return out | {column: row(*task.get(column, (0.0, False))) for column in TASK}


@pytest.mark.parametrize(
    "pair, verdict",
    [
        (comparison((0.1, True), (0.05, True)), "holds here"),
        (comparison((0.1, True), (0.05, False)), "holds in part"),
        (comparison((-0.01, False), (0.03, True)), "holds in part"),  # what the default run shows
        (comparison((0.1, False), (-0.05, True)), "does not hold"),  # tighter, not more spread
        (comparison((-0.1, True), (0.05, False)), "does not hold"),
        (comparison((0.1, True), (0.05, True), verification_auc=(-0.02, True)), "holds in part"),
    ],
)
def test_the_verdict_follows_significance_and_sign_of_each_part(pair, verdict):
    assert f") {verdict}" in seed_claim(pair)


def test_a_significantly_worse_task_metric_is_named_and_an_insignificant_one_is_not():
    text = seed_claim(
        comparison((0.1, True), (0.05, True), posture_correct=(-0.02, True), ssim_predicted=(-0.5, False))
    )
    assert "significantly worse: posture accuracy" in text and "SSIM" not in text
    assert "no task metric significantly worse" in seed_claim(comparison(verification_auc=(0.02, True)))


def test_the_numbers_it_rests_on_are_in_the_sentence():
    text = seed_claim(comparison((0.123, True), (-0.045, True)))
    assert "+0.123 (95 % interval +0.113 to +0.133, Holm p 0.001), up" in text
    assert "-0.045 (95 % interval -0.055 to -0.035, Holm p 0.001), not significantly up" in text


def test_a_comparison_without_separability_is_refused_by_name():
    pair = comparison()
    del pair["compactness"]
    with pytest.raises(KeyError, match="compactness"):
        seed_claim(pair)
