"""Stage `compare`: the student against the baseline (and the teacher against both) on the test
identities, from the evaluate stage's tables: per-metric differences with bootstrap intervals
over identities, Wilcoxon and McNemar tests (metrics/compare.json), and a report that opens
offline (report.md and a self-contained report.html, with the figures)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from thz.cli import parse_paths, run
from thz.compare import compare_pair
from thz.config import load_config
from thz.data.naming import POSTURES
from thz.figures import confusion_matrices, per_posture_bars, roc_curves
from thz.files import write_json
from thz.metrics.posture import posture_metrics
from thz.report import write_report

MODELS = ("baseline", "teacher", "student")
PAIRS = (("baseline", "student"), ("baseline", "teacher"), ("student", "teacher"))  # (a, b): b - a


def main(argv=None) -> None:
    args = parse_paths(argv, "--eval", "--metrics", "--report", description=__doc__)
    cfg = load_config(args.params)
    tables = {m: args.eval / m for m in MODELS}
    metrics = {m: json.loads((d / "metrics.json").read_text()) for m, d in tables.items()}
    per_identity = {m: pd.read_csv(d / "per_identity.csv") for m, d in tables.items()}
    per_sample = {m: pd.read_csv(d / "per_sample.csv") for m, d in tables.items()}
    comparisons = {f"{b}_vs_{a}": compare_pair(a, b, per_identity, per_sample, seed=cfg.seed) for a, b in PAIRS}
    write_json(args.metrics, comparisons)

    out = args.report
    roc_curves({m: pd.read_csv(d / "roc.csv") for m, d in tables.items()}, out / "roc.png")
    confusions = {}
    for m, d in tables.items():
        c = pd.read_csv(d / "confusion.csv")
        to_index = {name: i for i, name in enumerate(POSTURES)}
        confusions[m] = np.asarray(posture_metrics(c.actual.map(to_index), c.predicted.map(to_index))["confusion"])
    confusion_matrices(confusions, out / "posture_confusion.png")
    per_posture = {m: pd.read_csv(d / "per_posture.csv") for m, d in tables.items()}
    per_posture_bars(per_posture, "ssim_predicted", out / "ssim_per_posture.png")
    per_posture_bars(per_posture, "verification_auc", out / "auc_per_posture.png")
    figures = {
        "ROC curves": "roc.png",
        "Posture confusion": "posture_confusion.png",
        "Reconstruction SSIM per posture": "ssim_per_posture.png",
        "Verification AUC per posture (probes of that posture)": "auc_per_posture.png",
    }
    for m in MODELS:
        figures[f"{m}: embeddings"] = f"../eval/{m}/embedding_map.png"
        figures[f"{m}: reconstructions"] = f"../eval/{m}/reconstruction_grid.png"
    write_report(out, metrics, comparisons, figures)
    c = comparisons["student_vs_baseline"]["verification_auc"]
    print(
        f"student - baseline verification AUC per identity {c['difference']:+.4f} "
        f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}], Wilcoxon p {c['wilcoxon_p']:.3f}; report in {out}/report.html"
    )


if __name__ == "__main__":
    run(main)
