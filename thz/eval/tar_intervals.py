"""TAR at FAR 10 %, 1 % and 0.1 % per model and protocol, as the field reports it: the mean over the
folds run, with a 95 % bootstrap interval over the test identities.

Each resample draws every fold's identities with replacement within that fold (as compare's other
intervals do), sums the drawn identities' accept counts (the evaluate stage's accepts.csv,
thz.metrics.accepts), reads the fold's TAR at the FAR from them, so the threshold moves with the
impostor scores of the identities drawn, and means the folds. A FAR that some fold's impostor
comparisons cannot resolve (fewer than 1 / FAR, thz.metrics.verification.resolves) leaves the mean
not measurable: None, never a number, with the fewest impostor comparisons of a fold to say why.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from thz.eval.compare import MODELS
from thz.metrics.accepts import tar_from_counts
from thz.metrics.stats import percentile_interval, resample_within
from thz.metrics.verification import FARS, resolves

# accepts.csv's protocols (metrics.json's verification.<key>): probes against what, in words
PROTOCOLS = {"probe_gallery": "image level (every gallery image)", "enrollment": "enrollment (templates)"}
LEVEL = 0.95


class FoldCounts(NamedTuple):
    """One fold's accept counts of one protocol, identities (I) by rungs (T)."""

    genuine_accepted: np.ndarray  # (I, T)
    impostors_accepted: np.ndarray  # (I, T)
    genuine: np.ndarray  # (I,)
    impostors: np.ndarray  # (I,)

    def tar(self, far: float, weights: np.ndarray | None = None) -> np.ndarray:
        """TAR at `far` of the identities counted `weights` times ((R, I); None: each once): (R,) or ()."""
        if weights is None:
            return tar_from_counts(*(c.sum(axis=0) for c in self), far)
        return tar_from_counts(*(weights @ c for c in self), far)


def fold_counts(accepts: pd.DataFrame, protocol: str) -> FoldCounts:
    """One protocol's rows of one fold's accepts.csv as arrays (no rows: no identities)."""
    rows = accepts[accepts.protocol == protocol]
    by_identity = rows.groupby("identity", sort=True)
    return FoldCounts(
        rows.pivot(index="identity", columns="rung", values="genuine_accepted").to_numpy(float),
        rows.pivot(index="identity", columns="rung", values="impostors_accepted").to_numpy(float),
        by_identity.genuine.first().to_numpy(float),
        by_identity.impostors.first().to_numpy(float),
    )


def tar_interval(folds: list[FoldCounts], far: float, n_resamples: int = 10_000, seed: int = 0) -> dict:
    """Mean over `folds` of the TAR at `far`, its bootstrap interval over identities (LEVEL),
    the identities pooled and the fewest impostor comparisons of a fold; mean and interval None
    where a fold cannot resolve `far` (or none has identities)."""
    fewest = int(min((c.impostors.sum() for c in folds), default=0))
    identities = sum(len(c.genuine) for c in folds)
    result = {"mean": None, "ci_low": None, "ci_high": None, "identities": identities, "fewest_impostors": fewest}
    if not identities or not all(len(c.genuine) and resolves(int(c.impostors.sum()), far) for c in folds):
        return result
    strata = np.concatenate([np.full(len(c.genuine), k) for k, c in enumerate(folds)])
    drawn = resample_within(strata, n_resamples, seed)  # (R, identities), fold by fold in order
    replicates, start = [], 0
    for c in folds:
        local = drawn[:, start : start + len(c.genuine)] - start  # this fold's identities, drawn in it
        weights = (local[..., None] == np.arange(len(c.genuine))).sum(axis=1)  # (R, I): times each is drawn
        replicates.append(c.tar(far, weights))
        start += len(c.genuine)
    low, high = percentile_interval(np.mean(replicates, axis=0), LEVEL)
    mean = float(np.mean([c.tar(far) for c in folds]))
    return result | {"mean": mean, "ci_low": low, "ci_high": high}


def tar_at_far(per_fold: list[pd.DataFrame], n_resamples: int = 10_000, seed: int = 0) -> dict[str, dict]:
    """One model's {protocol: {FAR key (FARS): tar_interval}} from its accepts.csv of every fold run."""
    return {
        protocol: {
            name: tar_interval([fold_counts(t, protocol) for t in per_fold], far, n_resamples, seed)
            for name, far in FARS.items()
        }
        for protocol in PROTOCOLS
    }


def tar_at_far_by_model(evaluations: dict, folds: list[int], seed: int) -> dict[str, dict]:
    """{model: tar_at_far} from read_evaluations' accepts.csv of every fold run."""
    return {m: tar_at_far([evaluations[k, m, "accepts.csv"] for k in folds], seed=seed) for m in MODELS}


def far_label(far: float) -> str:
    """0.001 -> '0.1 %'."""
    return f"{100 * far:g} %"


def tar_cell(entry: dict, far: float) -> str:
    """One table cell of tar_interval's result: 'mean (low to high)', three decimals, or, where the
    impostor comparisons cannot resolve `far`, 'not measurable' and why."""
    if entry["mean"] is None:
        needed = math.ceil(1 / far)
        return f"not measurable ({entry['fewest_impostors']} impostor comparisons in a fold, {needed} needed)"
    return f"{entry['mean']:.3f} ({entry['ci_low']:.3f} to {entry['ci_high']:.3f})"


def tar_section(tar_at_far: dict[str, dict]) -> list[str]:
    """The report's TAR-at-FAR section from tar_at_far_by_model's result (model -> protocol -> FAR
    key -> tar_interval's result): a row per model and protocol, a column per FAR."""
    lines = [
        "## TAR at FAR",
        "",
        "True accept rate at a false accept rate, mean over the folds run, with a 95 % bootstrap interval "
        "resampling identities within their fold (each resample's threshold set by its own impostor scores). "
        "A FAR below 1 / the impostor comparisons of a fold is not measurable: no number is given.",
        "",
        "| model | protocol | " + " | ".join(f"FAR {far_label(far)}" for far in FARS.values()) + " |",
        "|" + " --- |" * (2 + len(FARS)),
    ]
    for model, by_protocol in tar_at_far.items():
        for protocol, label in PROTOCOLS.items():
            cells = [tar_cell(by_protocol[protocol][key], far) for key, far in FARS.items()]
            lines.append(f"| {model} | {label} | " + " | ".join(cells) + " |")
    return [*lines, ""]
