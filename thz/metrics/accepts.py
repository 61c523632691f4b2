"""Per-identity accept counts on a ladder of thresholds: what a bootstrap over identities needs to
recompute TAR at FAR without every pair score, the threshold moving with each resample (the
impostor scores of the identities drawn set it, as they set the measured one).

An identity's comparisons are its probes' rows (against every gallery image, or every enrolled
template). The ladder's thresholds are impostor scores of the whole set: the one above which k
impostors are accepted, for k on a log ladder (PER_DECADE steps per decade, so every k up to about
PER_DECADE / 2.3) and the k of each reported FAR. On the whole set, TAR at FAR from the counts is
then exactly thz.metrics.verification.tar_at_far; a resample whose own threshold falls between
two rungs is read at the rung above it, its TAR low by at most one rung (about a factor
10^(1/PER_DECADE) in FAR; tests/metrics/test_accepts.py holds the mean loss to a few percent of
the bootstrap interval's width).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from thz.metrics.verification import FARS

PER_DECADE = 200  # a rung every 1.2 % in FAR (every 4.7 % at 50 lowered resamples visibly at FAR 10 %)
COLUMNS = ("identity", "rung", "threshold", "genuine_accepted", "impostors_accepted", "genuine", "impostors")


def allowed_impostors(impostors: int, far: float) -> int:
    """The most of `impostors` comparisons a FAR of `far` accepts, by the float division of
    sklearn's ROC (k / impostors <= far), so that the rungs meet tar_at_far's points exactly."""
    k = math.floor(far * impostors)
    while (k + 1) / impostors <= far:
        k += 1
    while k > 0 and k / impostors > far:
        k -= 1
    return k


def ladder(impostor_scores: np.ndarray, per_decade: int = PER_DECADE) -> np.ndarray:
    """Thresholds, descending, each an impostor score: accepting the scores strictly above the
    (k+1)-th highest lets at most k of `impostor_scores` through; k = 0, the log ladder up to all
    impostors but one, and the k of each reported FAR (FARS). Empty without impostors."""
    ordered = np.sort(np.asarray(impostor_scores, float))[::-1]
    n = len(ordered)
    if n == 0:
        return ordered
    steps = np.rint(np.logspace(0, np.log10(n), int(np.ceil(per_decade * np.log10(n))) + 1)).astype(int)
    ranks = np.unique(np.concatenate([[0], steps, [allowed_impostors(n, far) for far in FARS.values()]]))
    return ordered[ranks[ranks < n]]


def _above(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    ordered = np.sort(values)
    return len(ordered) - np.searchsorted(ordered, thresholds, side="right")


def accept_counts(scores: np.ndarray, genuine: np.ndarray, owner: np.ndarray, thresholds: np.ndarray) -> pd.DataFrame:
    """Per identity of `owner` (whose probe made each row of `scores`, (P, G) with `genuine`
    (P, G) bool) and rung of `thresholds`: its genuine and impostor comparisons scoring strictly
    above the threshold, and its totals (COLUMNS; the threshold itself to 6 decimals)."""
    tables, shown = [], np.round(thresholds, 6)  # for reading; the counts use the exact scores
    for name in sorted(set(owner)):
        mine, same = scores[owner == name], genuine[owner == name]
        counts = {
            "genuine_accepted": _above(mine[same], thresholds),
            "impostors_accepted": _above(mine[~same], thresholds),
            "genuine": int(same.sum()),
            "impostors": int((~same).sum()),
        }
        tables.append(
            pd.DataFrame({"identity": name, "rung": np.arange(len(thresholds)), "threshold": shown, **counts})
        )
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=list(COLUMNS))


def tar_from_counts(genuine_accepted, impostors_accepted, genuine, impostors, far: float) -> np.ndarray:
    """TAR at `far` from counts summed over identities: `genuine_accepted` and
    `impostors_accepted` (..., T) per rung, `genuine` and `impostors` (...) the totals; the highest
    rate among the rungs whose false accept rate is at most `far` (rung 0 always is). Returns (...)."""
    genuine_accepted, impostors_accepted = np.asarray(genuine_accepted, float), np.asarray(impostors_accepted, float)
    impostors, genuine = np.asarray(impostors, float)[..., None], np.asarray(genuine, float)[..., None]
    within = impostors_accepted / np.maximum(impostors, 1) <= far
    return np.where(within, genuine_accepted / np.maximum(genuine, 1), 0.0).max(axis=-1)
