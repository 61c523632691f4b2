"""The few flat files DVC shows as metrics (metrics/summary/): what `dvc metrics show`, `dvc metrics
diff` and `dvc exp show` print, one row per file.

DVC puts every metrics file's keys into one table (the union of their columns) and compares one
file across revisions, never two files of one revision. So the per-fold detail (metrics/eval/,
metrics/compare.json) stays plain output, and the summary holds, with the same keys in every file:
- per model (and the pixel baseline): the mean and sd over the folds run of the headline metrics,
  `<metric>` and `<metric>_sd`, with the test identities pooled over the folds;
- per pair of models (`<b>_vs_<a>`): the verdict of compare's per-identity test on the verification
  metrics, `<metric>_diff` (b - a), `_ci_low`, `_ci_high`, `_p_holm` (Wilcoxon, Holm-adjusted over
  the comparison's metrics) and `_significant`.
Keys are flat, without dots (DVC reads a dot as nesting), and no value is a list.
"""

from __future__ import annotations

import json
from pathlib import Path

from thz.config import ConfigError
from thz.eval.report import fold_summary
from thz.files import write_json

# summary key -> key of report.MAIN_COLUMNS (its path in an evaluate metrics.json)
MODEL_METRICS = {
    "auc": "auc",
    "eer": "eer",
    "tar_far_1pct": "tar_at_far_1pct",
    "triplet_accuracy": "triplet_ranking_accuracy",
    "posture_accuracy": "posture_accuracy",
    "ssim": "ssim_predicted",
    "psnr": "psnr_predicted",
    "separation": "separation_mean",
    "compactness": "compactness",
    "silhouette": "silhouette",
}
# summary key -> path in a pixel_baseline fold_K.json (its SSIM: the PCA ridge reconstruction, the floor)
PIXEL_METRICS = {
    "auc": ("verification", "auc"),
    "eer": ("verification", "eer"),
    "tar_far_1pct": ("verification", "tar_at_far_1pct"),
    "posture_accuracy": ("posture", "accuracy"),
    "ssim": ("reconstruction", "ssim_ridge"),
}
# summary key -> per-identity column compared by thz.eval.compare (the verdict of a pair)
VERDICT_METRICS = {"auc": "verification_auc", "tar_far_1pct": "verification_tar_at_far_1pct"}
PIXEL = "pixel_baseline"


def _mean_sd(name: str, spread: dict[str, float]) -> dict[str, float]:
    return {name: spread["mean"], f"{name}_sd": spread["std"]}


def model_summaries(metrics_by_fold: dict[int, dict[str, dict]]) -> dict[str, dict]:
    """model -> {metric: fold mean, metric_sd: fold sd, identities: test identities of all folds}.
    A metric a model lacks in every fold is left out (as in fold_summary)."""
    spread = fold_summary(metrics_by_fold)
    out = {}
    for model, by_key in spread.items():
        flat = {"identities": sum(f[model]["test"]["identities"] for f in metrics_by_fold.values())}
        for name, key in MODEL_METRICS.items():
            if key in by_key:
                flat.update(_mean_sd(name, by_key[key]))
        out[model] = flat
    return out


def pixel_summary(pixel_by_fold: dict[int, dict]) -> dict[str, float]:
    """The pixel baseline's headline metrics under the models' keys (mean and sd over its folds)."""
    columns = tuple((name, name, path) for name, path in PIXEL_METRICS.items())
    spread = fold_summary({k: {PIXEL: v} for k, v in pixel_by_fold.items()}, columns)[PIXEL]
    flat = {"identities": sum(f["test_identities"] for f in pixel_by_fold.values())}
    for name in PIXEL_METRICS:
        flat.update(_mean_sd(name, spread[name]))
    return flat


def pair_summary(pair: dict) -> dict:
    """compare_pair's verdict on the verification metrics, flat: b - a, its interval, p, significant."""
    flat = {"identities": pair["identities"]}
    for name, column in VERDICT_METRICS.items():
        c = pair[column]
        flat.update(
            {
                f"{name}_diff": c["difference"],
                f"{name}_ci_low": c["ci_low"],
                f"{name}_ci_high": c["ci_high"],
                f"{name}_p_holm": c["wilcoxon_p_holm"],
                f"{name}_significant": c["significant"],
            }
        )
    return flat


def read_pixel_baselines(folder: Path, folds: list[int]) -> dict[int, dict]:
    """fold -> the pixel_baseline stage's fold_K.json, for every fold run."""
    missing = [folder / f"fold_{k}.json" for k in folds if not (folder / f"fold_{k}.json").is_file()]
    if missing:
        raise ConfigError(f"'{missing[0]}' not found: the pixel_baseline stage has not run")
    return {k: json.loads((folder / f"fold_{k}.json").read_text()) for k in folds}


def write_summaries(out: Path, metrics_by_fold: dict, pairs: dict[str, dict], pixel_by_fold: dict) -> None:
    """One flat file per model, for the pixel baseline and per compared pair, in `out`."""
    files = {**model_summaries(metrics_by_fold), PIXEL: pixel_summary(pixel_by_fold)}
    files.update({name: pair_summary(pair) for name, pair in pairs.items()})
    for name, data in files.items():
        write_json(out / f"{name}.json", data)
