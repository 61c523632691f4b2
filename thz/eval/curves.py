"""The test ROC averaged over folds, and the two views the field reads it in, for the report's
figures and the top-level plots alike: the ROC on a log false-accept axis, and the DET curve (false
reject against false accept rate, both as normal deviates, where two normal score distributions
give a straight line and the low-FAR end is spread out).

A rate of 0 or 1 has no place on these axes (its log or normal deviate is infinite), so the
transformed columns clip the rates to [LOWEST_RATE, 1 - LOWEST_RATE]: FAR 0 and FRR 0 are drawn at
the axes' edge, 0.01 %. The fold average keeps no FAR below it either (average_roc's grid starts
there); with one fold the curve is the fold's own, whose lowest FARs are clipped alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

LOWEST_RATE = 1e-4


def average_roc(rocs: list[pd.DataFrame], points: int = 400) -> pd.DataFrame:
    """Vertical average of ROC curves (mean true accept rate at each false accept rate), on a grid
    dense at low FAR, from LOWEST_RATE up; one curve is returned unchanged. Where a curve rises
    vertically (several rates at one FAR) its highest rate counts, so the interpolation is well
    defined."""
    if len(rocs) == 1:
        return rocs[0][["fpr", "tpr"]]
    low = np.logspace(np.log10(LOWEST_RATE), 0, points // 2)
    grid = np.unique(np.concatenate([[0.0], low, np.linspace(0, 1, points // 2 + 1)]))
    curves = [r.groupby("fpr").tpr.max() for r in rocs]
    tpr = np.mean([np.interp(grid, c.index.to_numpy(), c.to_numpy()) for c in curves], axis=0)
    return pd.DataFrame({"fpr": grid, "tpr": tpr})


def det_table(roc: pd.DataFrame) -> pd.DataFrame:
    """The points of a ROC (fpr, tpr) as the log-FAR ROC and the DET curve plot them: fpr, tpr,
    fnr (1 - tpr, the false reject rate), log10_fpr, and probit_fpr, probit_fnr (the rates'
    normal deviates: -1.28 is 10 %, -2.33 is 1 %, -3.09 is 0.1 %), transformed rates clipped to
    [LOWEST_RATE, 1 - LOWEST_RATE]."""
    fpr, tpr = roc.fpr.to_numpy(float), roc.tpr.to_numpy(float)
    fnr = 1 - tpr
    return pd.DataFrame(
        {
            "fpr": fpr,
            "tpr": tpr,
            "fnr": fnr,
            "log10_fpr": np.log10(np.clip(fpr, LOWEST_RATE, 1)),
            "probit_fpr": probit(fpr),
            "probit_fnr": probit(fnr),
        }
    )


def probit(rates) -> np.ndarray:
    """The normal deviates of `rates`, clipped to [LOWEST_RATE, 1 - LOWEST_RATE] first."""
    return norm.ppf(np.clip(np.asarray(rates, float), LOWEST_RATE, 1 - LOWEST_RATE))
