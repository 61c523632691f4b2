"""The pieces every generated table is made of: where the metrics files are, how a value is read from
them (a missing file or key is a TableError naming it) and how numbers are written. No torch import."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

from thz.eval.compare import MODELS

DECIMALS = 3
# MODELS: table order; other evaluated models follow, sorted
MODEL_NAMES = {"teacher": "teacher (THz + visible)", "student": "student (THz only)"}
EVAL, PIXEL, COMPARE = "metrics/eval", "metrics/pixel_baseline", "metrics/compare.json"  # DVC stage outputs
# the lab's own records, made by hand (not by a stage): bench scripts' --json, sweep tables, earlier runs
RECORDS = "lab/records"
BENCH, SWEEPS, REFERENCE = f"{RECORDS}/bench", f"{RECORDS}/sweeps", f"{RECORDS}/reference"

# label -> dotted key in metrics/eval/fold_K/<model>/metrics.json
TEST_METRICS = {
    "verification AUC": "verification.probe_gallery.auc",
    "EER": "verification.probe_gallery.eer",
    "TAR@FAR 1 %": "verification.probe_gallery.tar_at_far_1pct",
    "TAR@FAR 10 %": "verification.probe_gallery.tar_at_far_10pct",
    "accuracy at the val threshold": "verification.probe_gallery.at_val_threshold.accuracy",
    "rank-1": "verification.rank1",
    "triplet ranking accuracy (published)": "verification.triplet_ranking_accuracy",
    "concealed vs concealed AUC": "verification.concealed_concealed.auc",
    "posture accuracy": "posture.accuracy",
    "posture macro-F1": "posture.macro_f1",
    "SSIM (predicted routing)": "reconstruction.predicted.ssim",
    "SSIM (oracle routing)": "reconstruction.oracle.ssim",
    "PSNR, dB (predicted routing)": "reconstruction.predicted.psnr",
    "MAE (predicted routing)": "reconstruction.predicted.mae",
    "silhouette by identity": "separability.silhouette",
    "compactness (lower is tighter)": "separability.compactness",
    "separation of centres (mean)": "separability.separation_mean",
    "separation / compactness": "separability.separation_to_compactness",
}
HEADLINE = ("verification AUC", "EER", "TAR@FAR 1 %", "rank-1", "posture accuracy", "SSIM (predicted routing)")


class TableError(ValueError):
    """A table cannot be rendered (unknown name, missing or malformed metrics file); the message names it."""


# ---- reading ---------------------------------------------------------------------------------


def read_json(root: Path, rel: str) -> dict:
    if not (root / rel).is_file():
        raise TableError(f"'{rel}' not found: run the pipeline (`dvc repro`) or fetch its outputs (`dvc pull`)")
    try:
        return json.loads((root / rel).read_text())
    except json.JSONDecodeError as err:
        raise TableError(f"'{rel}' is not valid JSON: {err}") from err


def value(data: dict, key: str, rel: str):
    """data[a][b][c] for key 'a.b.c'; a missing key is an error naming the file and the key."""
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            raise TableError(f"'{rel}' has no '{key}'")
        data = data[part]
    return data


def folds(root: Path, folder: str, suffix: str = "") -> list[int]:
    """The fold numbers K of the `fold_K<suffix>` entries of a folder, ascending."""
    names = (re.fullmatch(rf"fold_(\d+){re.escape(suffix)}", p.name) for p in (root / folder).glob("fold_*"))
    found = sorted(int(m.group(1)) for m in names if m)
    if not found:
        raise TableError(f"no 'fold_K{suffix}' in '{folder}': run the pipeline (`dvc repro`) or `dvc pull`")
    return found


def evaluated(root: Path) -> tuple[list[int], list[str]]:
    """Folds and models of metrics/eval (models in MODELS order, then others sorted)."""
    ks = folds(root, EVAL)
    present = {p.name for k in ks for p in (root / EVAL / f"fold_{k}").iterdir() if p.is_dir()}
    return ks, [m for m in MODELS if m in present] + sorted(present - set(MODELS))


def eval_values(root: Path, model: str, key: str) -> list:
    """One metric of one model in every evaluated fold (a fold without the model is an error)."""
    files = [f"{EVAL}/fold_{k}/{model}/metrics.json" for k in evaluated(root)[0]]
    return [value(read_json(root, rel), key, rel) for rel in files]


def pixel_values(root: Path, key: str) -> list:
    """One pixel-baseline metric in every fold file present."""
    files = [f"{PIXEL}/fold_{k}.json" for k in folds(root, PIXEL, ".json")]
    return [value(read_json(root, rel), key, rel) for rel in files]


# ---- formatting ------------------------------------------------------------------------------


def number(x) -> str:
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    return f"{0.0 if abs(x) < 0.5 * 10**-DECIMALS else x:.{DECIMALS}f}"  # never '-0.000'


def signed(x: float) -> str:
    """A difference: explicit sign, except for zero."""
    text = number(x)
    return text if float(text) == 0 else f"{x:+.{DECIMALS}f}"


def mean_sd(values: list[float]) -> str:
    """The value of one fold, or the mean ± standard deviation (ddof 1) over several."""
    if len(values) == 1:
        return number(values[0])
    return f"{number(statistics.mean(values))} ± {number(statistics.stdev(values))}"


def markdown(header: list[str], rows: list[list[str]], caption: str) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + f"\n\n_{caption}_"


def fold_words(ks: list[int]) -> str:
    return f"fold {ks[0]}" if len(ks) == 1 else f"mean ± sd over folds {', '.join(map(str, ks))}"


def model_names(models: list[str]) -> list[str]:
    return [MODEL_NAMES.get(m, m) for m in models]
