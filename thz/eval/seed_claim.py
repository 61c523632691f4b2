"""The seed paper's claim about its distilled student, checked in words against compare's paired
tests: better inter-class separation and reduced intra-class compactness (a larger spread within
each identity) at similar task performance. One sentence, for the report and the docs alike.

Each part counts only when significant (interval excludes 0 and Holm-adjusted p < 0.05): the
separation of identity centres up, the compactness (mean distance to the own centre, lower is
tighter) up, and none of the task metrics significantly worse.
"""

from __future__ import annotations

# per-identity column of compare -> its name in the sentence (higher is better for each)
TASK = {"verification_auc": "identity AUC", "posture_correct": "posture accuracy", "ssim_predicted": "SSIM"}
NEEDED = ("separation", "compactness", *TASK)  # the comparison's columns the sentence rests on


def _effect(row: dict) -> str:
    return (
        f"{row['difference']:+.3f} (95 % interval {row['ci_low']:+.3f} to {row['ci_high']:+.3f}, "
        f"Holm p {row['wilcoxon_p_holm']:.3f})"
    )


def _up(row: dict) -> bool:
    return bool(row["significant"]) and row["difference"] > 0


def seed_claim(student_vs_baseline: dict) -> str:
    """Whether the claim holds for compare's student-against-baseline result (per-identity column
    -> its paired test), part by part, with the numbers it rests on."""
    pair = student_vs_baseline
    missing = [c for c in NEEDED if c not in pair]
    if missing:
        raise KeyError(f"the student-against-baseline comparison lacks {missing}")
    separation, spread = _up(pair["separation"]), _up(pair["compactness"])
    worse = [name for column, name in TASK.items() if pair[column]["significant"] and pair[column]["difference"] < 0]
    held = [separation, spread, not worse]
    verdict = "holds" if all(held) else "does not hold" if not any(held[:2]) else "holds in part"
    kept = f"significantly worse: {', '.join(worse)}" if worse else "no task metric significantly worse"
    return (
        f"The seed paper's claim (the student separates identities better, with a larger spread within "
        f"each, at similar task performance) {verdict} here: separation of identity centres "
        f"{_effect(pair['separation'])}, {'up' if separation else 'not significantly up'}; spread within "
        f"identities (compactness) {_effect(pair['compactness'])}, {'up' if spread else 'not significantly up'}; "
        f"{kept}."
    )
