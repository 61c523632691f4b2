"""The data of the top-level `dvc plots`, pooled over every fold run, as the answer is: per model,
the test ROC averaged over folds (as it is, on a log FAR axis and as a DET curve), the posture
confusion of all folds, the SSIM per posture over all test images, and the validation curves of
training averaged over folds, so that `dvc plots show` overlays the models in one plot each (one
file per model: DVC colours lines by file).

    metrics/plots/<model>/roc.csv          fpr, tpr (vertical average over folds)
    metrics/plots/<model>/det.csv          the same points with fnr, log10_fpr, probit_fpr, probit_fnr
                                           (thz.eval.curves: rates clipped to 0.01 % for the axes)
    metrics/plots/<model>/confusion.csv    actual, predicted (one row per test image of every fold)
    metrics/plots/<model>/per_posture.csv  posture, n, the per_posture.csv means over all folds' images
    metrics/plots/<model>/validation.csv   step, auc, ssim (validation, mean over folds)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from thz.config import ConfigError
from thz.eval.compare import MODELS
from thz.eval.curves import average_roc, det_table
from thz.files import atomic_directory, write_csv

VALIDATION = ("auc", "ssim")  # the validation curves plotted: identity AUC and reconstruction SSIM
LIVE_CURVES = Path("plots", "metrics", "val")  # where DVCLive writes val/<name> in a training folder


def pooled_confusion(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Every fold's (actual, predicted) rows: DVC's confusion template counts them, so the
    matrix it draws is the sum of the folds' matrices."""
    return pd.concat([t[["actual", "predicted"]] for t in tables], ignore_index=True)


def pooled_per_posture(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Per posture, each column's mean over the images of all folds: the folds' means weighted by
    their image counts `n` (a plain mean of fold means would weigh a small fold's images more)."""
    stacked = pd.concat(tables, ignore_index=True)
    columns = [c for c in stacked.columns if c not in ("posture", "n")]
    weighted = stacked[columns].mul(stacked.n, axis=0).assign(posture=stacked.posture, n=stacked.n)
    sums = weighted.groupby("posture", sort=True).sum()
    return sums[columns].div(sums.n, axis=0).assign(n=sums.n)[["n", *columns]].reset_index()


def average_curves(curves: list[pd.Series]) -> pd.Series:
    """The mean of curves indexed by step. Folds of unequal size train for different numbers of
    steps, so each is interpolated onto every step any fold validated at, within the steps all
    folds cover (equal folds: the plain mean at each step)."""
    if len(curves) == 1:
        return curves[0]
    low, high = max(c.index.min() for c in curves), min(c.index.max() for c in curves)
    grid = np.unique(np.concatenate([c.index.to_numpy() for c in curves]))
    grid = grid[(grid >= low) & (grid <= high)]
    mean = np.mean([np.interp(grid, c.index.to_numpy(), c.to_numpy()) for c in curves], axis=0)
    return pd.Series(mean, index=pd.Index(grid, name="step"), name=curves[0].name)


def read_live_curve(live_dir: Path, name: str) -> pd.Series:
    """One validation metric that DVCLive logged (val/<name>.tsv: step and the value), by step."""
    path = live_dir / LIVE_CURVES / f"{name}.tsv"
    if not path.is_file():
        raise ConfigError(f"'{path}' not found: the training stage has not run or logged val/{name}")
    table = pd.read_csv(path, sep="\t")
    return table.set_index("step")[name].sort_index()


def validation_curves(train_dir: Path, folds: list[int], model: str) -> pd.DataFrame:
    """step, then each VALIDATION metric of `model` averaged over the folds."""
    columns = [
        average_curves([read_live_curve(train_dir / f"fold_{k}" / model, name) for k in folds]) for name in VALIDATION
    ]
    return pd.concat(columns, axis=1, join="inner").rename_axis("step").reset_index()


def test_plot_tables(evaluations: dict, folds: list[int], model: str) -> dict[str, pd.DataFrame]:
    """File name -> `model`'s test table pooled over the folds (from read_evaluations' tables)."""
    tables = {
        name: [evaluations[k, model, name] for k in folds] for name in ("roc.csv", "confusion.csv", "per_posture.csv")
    }
    roc = average_roc(tables["roc.csv"])
    return {
        "roc.csv": roc,
        "det.csv": det_table(roc),
        "confusion.csv": pooled_confusion(tables["confusion.csv"]),
        "per_posture.csv": pooled_per_posture(tables["per_posture.csv"]),
    }


def write_plot_data(out: Path, evaluations: dict, train_dir: Path, folds: list[int]) -> None:
    """Every model's tables (module docstring) into `out`, replaced whole."""
    with atomic_directory(out) as tmp:
        for model in MODELS:
            for name, table in test_plot_tables(evaluations, folds, model).items():
                write_csv(tmp / model / name, table)
            write_csv(tmp / model / "validation.csv", validation_curves(train_dir, folds, model))
