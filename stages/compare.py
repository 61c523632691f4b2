"""Stage `compare`: the student against the baseline (and the teacher against both) on the test
identities of every fold run, from the evaluate stage's tables: per-metric differences with
bootstrap intervals over identities, Wilcoxon and McNemar tests, the folds' mean and spread
(metrics/compare.json), and a report that opens offline (report.md and a self-contained
report.html, with the figures)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from thz.cli import parse_paths, run
from thz.config import ConfigError, load_config
from thz.data.naming import POSTURES
from thz.eval.compare import average_roc, compare_pair, pool_folds
from thz.eval.figures import confusion_matrices, per_posture_bars, roc_curves
from thz.eval.report import fold_summary, write_report
from thz.files import write_csv, write_json
from thz.metrics.grouping import group_means
from thz.metrics.posture import posture_metrics

MODELS = ("baseline", "teacher", "student")
PAIRS = (("baseline", "student"), ("baseline", "teacher"), ("student", "teacher"))  # (a, b): b - a
TABLES = ("metrics.json", "per_identity.csv", "per_sample.csv", "per_posture.csv", "roc.csv", "confusion.csv")


def _read(eval_dir: Path, fold: int, model: str, name: str):
    path = eval_dir / f"fold_{fold}" / model / name
    if not path.is_file():
        raise ConfigError(f"'{path}' not found: the evaluate stage has not run (dvc repro evaluate@{fold}-{model})")
    return json.loads(path.read_text()) if name.endswith(".json") else pd.read_csv(path)


def main(argv=None) -> None:
    args = parse_paths(argv, "--eval", "--metrics", "--report", description=__doc__)
    cfg = load_config(args.params)
    folds = list(cfg.split.run_folds)
    read = {(k, m, name): _read(args.eval, k, m, name) for k in folds for m in MODELS for name in TABLES}
    metrics = {k: {m: read[k, m, "metrics.json"] for m in MODELS} for k in folds}
    per_identity = {m: pool_folds({k: read[k, m, "per_identity.csv"] for k in folds}, "identity") for m in MODELS}
    per_sample = {m: pool_folds({k: read[k, m, "per_sample.csv"] for k in folds}, "path") for m in MODELS}
    comparisons = {f"{b}_vs_{a}": compare_pair(a, b, per_identity, per_sample, seed=cfg.seed) for a, b in PAIRS}
    cross_validation = {"folds": cfg.split.folds, "folds_run": len(folds), **fold_summary(metrics)}
    write_json(args.metrics, {**comparisons, "cross_validation": cross_validation})

    out = args.report
    write_csv(
        out / "per_identity.csv",
        pd.concat([t.assign(model=m) for m, t in per_identity.items()], ignore_index=True),
    )
    title = "Test ROC" if len(folds) == 1 else f"Test ROC, mean over {len(folds)} folds"
    roc_curves({m: average_roc([read[k, m, "roc.csv"] for k in folds]) for m in MODELS}, out / "roc.png", title)
    to_index = {name: i for i, name in enumerate(POSTURES)}
    confusions = {}
    for m in MODELS:
        c = pd.concat([read[k, m, "confusion.csv"] for k in folds], ignore_index=True)
        confusions[m] = np.asarray(posture_metrics(c.actual.map(to_index), c.predicted.map(to_index))["confusion"])
    confusion_matrices(confusions, out / "posture_confusion.png")
    averaged = [c for c in read[folds[0], MODELS[0], "per_posture.csv"].columns if c not in ("posture", "n")]
    per_posture = {m: group_means(t, "posture", averaged) for m, t in per_sample.items()}
    per_posture_bars(per_posture, "ssim_predicted", out / "ssim_per_posture.png")
    per_posture_bars(per_posture, "verification_auc", out / "auc_per_posture.png")
    every = "" if len(folds) == 1 else f", all {len(folds)} folds"
    figures = {
        f"ROC curves{every}": "roc.png",
        f"Posture confusion{every}": "posture_confusion.png",
        f"Reconstruction SSIM per posture{every}": "ssim_per_posture.png",
        f"Verification AUC per posture (probes of that posture){every}": "auc_per_posture.png",
    }
    shown = folds[0]
    for m in MODELS:
        figures[f"{m}: embeddings (fold {shown})"] = f"../eval/fold_{shown}/{m}/embedding_map.png"
        figures[f"{m}: reconstructions (fold {shown})"] = f"../eval/fold_{shown}/{m}/reconstruction_grid.png"
    write_report(out, metrics, comparisons, figures, cfg.split.folds)
    c = comparisons["student_vs_baseline"]["verification_auc"]
    print(
        f"student - baseline verification AUC per identity {c['difference']:+.4f} "
        f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}], Wilcoxon p {c['wilcoxon_p']:.3f} "
        f"({comparisons['student_vs_baseline']['identities']} identities, {len(folds)} fold(s)); "
        f"report in {out}/report.html"
    )


if __name__ == "__main__":
    run(main)
