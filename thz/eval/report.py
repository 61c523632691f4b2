"""The human-readable comparison report: one main table, plain-language verdicts, the figures.

Written twice: report.md (figures as image files beside it) and report.html, a single file with
the figures embedded as base64 PNGs and no script, so it opens offline in any browser.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd

from thz.data.naming import POSTURES
from thz.eval.compare import ALPHA, MODELS, POWER, Comparison, describe, smallest_wilcoxon_p
from thz.eval.curves import LOWEST_RATE, average_roc, det_table
from thz.eval.figures import confusion_matrices, det_curves, per_posture_bars, roc_curves
from thz.eval.seed_claim import NEEDED, seed_claim
from thz.eval.tar_intervals import tar_section
from thz.files import write_csv, write_text
from thz.metrics.grouping import group_means
from thz.metrics.posture import posture_metrics

# (key in compare.json's cross_validation, label, path in an evaluate metrics.json)
MAIN_COLUMNS = (
    ("auc", "verification AUC", ("verification", "probe_gallery", "auc")),
    ("eer", "EER", ("verification", "probe_gallery", "eer")),
    ("tar_at_far_1pct", "TAR@FAR 1 %", ("verification", "probe_gallery", "tar_at_far_1pct")),
    ("tar_at_far_10pct", "TAR@FAR 10 %", ("verification", "probe_gallery", "tar_at_far_10pct")),
    (
        "accuracy_at_val_threshold",
        "accuracy at val threshold",
        ("verification", "probe_gallery", "at_val_threshold", "accuracy"),
    ),
    ("rank1", "rank-1", ("verification", "rank1")),
    ("triplet_ranking_accuracy", "triplet ranking (published)", ("verification", "triplet_ranking_accuracy")),
    ("posture_accuracy", "posture accuracy", ("posture", "accuracy")),
    ("posture_macro_f1", "posture macro-F1", ("posture", "macro_f1")),
    ("ssim_predicted", "SSIM predicted", ("reconstruction", "predicted", "ssim")),
    ("ssim_oracle", "SSIM oracle", ("reconstruction", "oracle", "ssim")),
    ("psnr_predicted", "PSNR predicted", ("reconstruction", "predicted", "psnr")),
    ("lpips_predicted", "LPIPS predicted", ("reconstruction", "predicted", "lpips")),
    ("silhouette", "silhouette (identity)", ("separability", "silhouette")),
    ("compactness", "compactness", ("separability", "compactness")),
    ("separation_mean", "separation (mean)", ("separability", "separation_mean")),
    ("separation_to_compactness", "separation / compactness", ("separability", "separation_to_compactness")),
)


def _get(metrics: dict, keys: tuple[str, ...]):
    for key in keys:
        if not isinstance(metrics, dict) or key not in metrics:
            return None
        metrics = metrics[key]
    return metrics


def main_table(metrics: dict[str, dict]) -> pd.DataFrame:
    """Rows: metrics; columns: models. A metric a model lacks (LPIPS without weights) shows as missing."""
    rows = {label: {m: _get(v, keys) for m, v in metrics.items()} for _, label, keys in MAIN_COLUMNS}
    return pd.DataFrame(rows).T


def fold_summary(
    metrics_by_fold: dict[int, dict[str, dict]], columns: tuple = MAIN_COLUMNS
) -> dict[str, dict[str, dict[str, float]]]:
    """Per model and main metric (`columns`: (key, label, path) as MAIN_COLUMNS): mean, standard
    deviation (ddof 1; 0 for one fold), min and max over the folds. Metrics a model lacks in every
    fold are left out."""
    models = list(next(iter(metrics_by_fold.values())))
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for m in models:
        summary[m] = {}
        for key, _, path in columns:
            values = np.array([v for f in metrics_by_fold.values() if (v := _get(f[m], path)) is not None], float)
            if len(values):
                summary[m][key] = {
                    "mean": float(values.mean()),
                    "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                    "min": float(values.min()),
                    "max": float(values.max()),
                }
    return summary


def _cell(value) -> str:
    return "missing" if value is None or pd.isna(value) else f"{value:.4f}"


def _markdown_table(table: pd.DataFrame, spread: pd.DataFrame | None = None, corner: str = "metric") -> str:
    header = f"| {corner} | " + " | ".join(str(c) for c in table.columns) + " |"
    lines = [header, "|" + " --- |" * (len(table.columns) + 1)]
    for label, row in table.iterrows():
        cells = [_cell(v) for v in row]
        if spread is not None:
            cells = [
                c if c == "missing" else f"{c} ± {_cell(spread.loc[label, m])}"
                for c, m in zip(cells, table.columns, strict=True)
            ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _summary_tables(summary: dict[str, dict[str, dict[str, float]]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    labels = {key: label for key, label, _ in MAIN_COLUMNS}
    mean = pd.DataFrame({m: {labels[k]: v["mean"] for k, v in s.items()} for m, s in summary.items()})
    std = pd.DataFrame({m: {labels[k]: v["std"] for k, v in s.items()} for m, s in summary.items()})
    order = [label for _, label, _ in MAIN_COLUMNS]
    return mean.reindex(order), std.reindex(order)


def build_markdown(
    metrics_by_fold: dict[int, dict[str, dict]],
    comparisons: dict[str, dict],
    figures: dict[str, str],
    folds_total: int | None = None,
    tar_at_far: dict[str, dict] | None = None,
) -> str:
    """`metrics_by_fold`: fold -> model -> evaluate metrics.json; `comparisons`: "b_vs_a" ->
    compare_pair result on the identities of every fold; `figures`: caption -> path relative to
    the report; `folds_total`: split.folds (for saying how many folds were left out); `tar_at_far`:
    tar_at_far_by_model's result, for the TAR-at-FAR table."""
    n = min(c["identities"] for c in comparisons.values()) if comparisons else 0
    folds = sorted(metrics_by_fold)
    folds_total = folds_total or len(folds)
    first = metrics_by_fold[folds[0]]
    lpips = next((m.get("reconstruction", {}).get("lpips_missing") for m in first.values()), None)
    parts = [
        "# Test-set comparison of the trained models",
        "",
        "Identity-disjoint test identities; verification is concealed probe against unconcealed gallery over all "
        "pairs, with the decision threshold chosen on the validation identities. Differences are b - a, averaged "
        "over identities, with 95 % bootstrap intervals resampling identities and Wilcoxon signed-rank tests on "
        "per-identity values, Holm-adjusted over the metrics of each comparison; posture is also compared image by "
        "image (exact McNemar). A difference is called significant when the interval excludes 0 and the adjusted "
        "p < 0.05.",
        "",
    ]
    if len(folds) == 1:
        parts += [_markdown_table(main_table(first)), ""]
    else:
        mean, std = _summary_tables(fold_summary(metrics_by_fold))
        parts += [
            f"Cross-validation over {len(folds)} folds (each tests its own identities, never seen in its training or "
            "model selection): mean ± standard deviation over the folds. The comparisons below pool the "
            f"per-identity values of all {len(folds)} folds (means over identities, so they can differ a little from "
            "the means over folds here); the bootstrap resamples identities within their fold. Each fold is one "
            "training run, so the intervals describe these trained models on more identities, not the spread "
            "between retrainings, which the fold-to-fold standard deviation shows.",
            "",
            _markdown_table(mean, std),
            "",
            "Verification AUC per fold:",
            "",
            _markdown_table(
                pd.DataFrame({m: {k: _get(metrics_by_fold[k][m], MAIN_COLUMNS[0][2]) for k in folds} for m in first}),
                corner="fold",
            ),
            "",
        ]
    if len(folds) < folds_total:
        left = sorted(set(range(folds_total)) - set(folds))
        parts += [
            f"Only fold(s) {folds} of {folds_total} were run (`split.run_folds`); folds {left} are not evaluated, "
            "so their identities are missing from every figure and test.",
            "",
        ]
    if lpips:
        parts += [f"LPIPS is missing: {lpips}", ""]
    if tar_at_far:
        parts += tar_section(tar_at_far)
    parts += [power_statement(n, len(folds), comparisons.get("student_vs_baseline")), ""]
    for name, comparison in comparisons.items():
        b, a = name.split("_vs_")
        title = "Did distillation help? " if (a, b) == ("baseline", "student") else ""
        parts += [f"## {title}{b} against {a}", "", *describe(a, b, comparison), ""]
        if (a, b) == ("baseline", "student") and all(c in comparison for c in NEEDED):
            parts += [seed_claim(comparison), ""]
    parts += ["## Figures", ""]
    for caption, path in figures.items():
        parts += [f"### {caption}", "", f"![{caption}]({path})", ""]
    return "\n".join(parts)


def power_statement(identities: int, folds: int, student_vs_baseline: dict | None) -> str:
    """In plain words: how many identities the comparisons pool, and the smallest difference in
    verification AUC between student and baseline this run could have detected."""
    floor = smallest_wilcoxon_p(identities)
    text = f"The comparisons pool {identities} test identities from {folds} fold(s). "
    if floor >= ALPHA:
        return text + (
            f"With so few the signed-rank test cannot give p below {floor:.3f}: no per-identity difference can be "
            "significant here; use more identities or `split.folds`."
        )
    text += f"The signed-rank test can reach p = {floor:.2g}. "
    auc = (student_vs_baseline or {}).get("verification_auc")
    if auc is not None:
        text += (
            f"A true difference in verification AUC between student and baseline of {auc['detectable']:.3f} or more "
            f"would have been detected with {POWER:.0%} probability (paired, at p < {ALPHA}); smaller ones may pass "
            "unseen, so a 'not significant' below means 'no effect that large', not 'no effect'."
        )
    return text


def markdown_to_html(markdown: str, base: Path) -> str:
    """The report's own small markdown subset (headings, paragraphs, lists, tables, images) as one
    HTML page; images are read from `base` and embedded."""
    out, table_open, list_open = [], False, False
    for line in markdown.splitlines():
        if not line.startswith("|") and table_open:
            out.append("</table>")
            table_open = False
        if not line.startswith("- ") and list_open:
            out.append("</ul>")
            list_open = False
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if all(set(c) <= {"-", " "} for c in cells):
                continue
            tag = "th" if not table_open else "td"
            if not table_open:
                out.append("<table>")
                table_open = True
            out.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>")
        elif line.startswith("!["):
            caption, path = line[2:].split("](")
            data = base64.b64encode((base / path.rstrip(")")).read_bytes()).decode()
            out.append(f'<img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">')
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif line.startswith("- "):
            if not list_open:
                out.append("<ul>")
                list_open = True
            out.append(f"<li>{_inline(line[2:])}</li>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    if table_open:
        out.append("</table>")
    if list_open:
        out.append("</ul>")
    style = (
        "body{font-family:sans-serif;max-width:1000px;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}img{max-width:100%}"
    )
    head = f"<head><meta charset='utf-8'><title>thz report</title><style>{style}</style></head>"
    return f"<!DOCTYPE html><html>{head}<body>{''.join(out)}</body></html>"


def _inline(text: str) -> str:
    escaped = html.escape(text)
    parts = escaped.split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


def write_report(
    out_dir: Path,
    metrics_by_fold: dict[int, dict[str, dict]],
    comparisons: dict[str, dict],
    figures: dict[str, str],
    folds_total: int | None = None,
    tar_at_far: dict[str, dict] | None = None,
) -> None:
    markdown = build_markdown(metrics_by_fold, comparisons, figures, folds_total, tar_at_far)
    write_text(out_dir / "report.md", markdown)
    write_text(out_dir / "report.html", markdown_to_html(markdown, out_dir))


def write_report_folder(
    out: Path, evaluations: dict, comparison: Comparison, folds_total: int, tar_at_far: dict[str, dict]
) -> None:
    """The compare stage's report folder: the pooled per-identity table, the figures over all
    folds run, report.md and the self-contained report.html (`tar_at_far`: tar_at_far_by_model's)."""
    folds = comparison.folds
    write_csv(
        out / "per_identity.csv",
        pd.concat([t.assign(model=m) for m, t in comparison.per_identity.items()], ignore_index=True),
    )
    mean = "" if len(folds) == 1 else f", mean over {len(folds)} folds"
    rocs = {m: average_roc([evaluations[k, m, "roc.csv"] for k in folds]) for m in MODELS}
    roc_curves(rocs, out / "roc.png", f"Test ROC{mean}", LOWEST_RATE)
    det_curves({m: det_table(r) for m, r in rocs.items()}, out / "det.png", f"Test DET{mean}", LOWEST_RATE)
    to_index = {name: i for i, name in enumerate(POSTURES)}
    confusions = {}
    for m in MODELS:
        c = pd.concat([evaluations[k, m, "confusion.csv"] for k in folds], ignore_index=True)
        confusions[m] = np.asarray(posture_metrics(c.actual.map(to_index), c.predicted.map(to_index))["confusion"])
    confusion_matrices(confusions, out / "posture_confusion.png")
    averaged = [c for c in evaluations[folds[0], MODELS[0], "per_posture.csv"].columns if c not in ("posture", "n")]
    per_posture = {m: group_means(t, "posture", averaged) for m, t in comparison.per_sample.items()}
    per_posture_bars(per_posture, "ssim_predicted", out / "ssim_per_posture.png")
    per_posture_bars(per_posture, "verification_auc", out / "auc_per_posture.png")
    every = "" if len(folds) == 1 else f", all {len(folds)} folds"
    figures = {
        f"ROC curves, linear and log false accept rate{every}": "roc.png",
        f"DET curves (normal-deviate axes){every}": "det.png",
        f"Posture confusion{every}": "posture_confusion.png",
        f"Reconstruction SSIM per posture{every}": "ssim_per_posture.png",
        f"Verification AUC per posture (probes of that posture){every}": "auc_per_posture.png",
    }
    shown = folds[0]
    for m in MODELS:
        figures[f"{m}: embeddings (fold {shown})"] = f"../eval/fold_{shown}/{m}/embedding_map.png"
        figures[f"{m}: reconstructions (fold {shown})"] = f"../eval/fold_{shown}/{m}/reconstruction_grid.png"
    write_report(out, comparison.metrics, comparison.pairs, figures, folds_total, tar_at_far)
