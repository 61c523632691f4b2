"""Stage `compare`: the student against the baseline (and the teacher against both) on the test
identities of every fold run, from the evaluate stage's tables (thz.eval.compare): differences
with bootstrap intervals over identities, Wilcoxon and McNemar tests, the folds' mean and spread,
each model's TAR at FAR with its interval (metrics/compare.json), a report that opens offline
(thz.eval.report), and the flat files DVC shows as metrics, one per model, for the pixel baseline
and per pair (thz.eval.summary)."""

from __future__ import annotations

from thz.cli import parse_paths, run
from thz.config import load_config
from thz.eval.compare import compare_models, read_evaluations
from thz.eval.report import fold_summary, write_report_folder
from thz.eval.summary import read_pixel_baselines, write_summaries
from thz.eval.tar_intervals import tar_at_far_by_model
from thz.files import write_json


def main(argv=None) -> None:
    args = parse_paths(argv, "--eval", "--pixel", "--metrics", "--summary", "--report", description=__doc__)
    cfg = load_config(args.params)
    folds = list(cfg.split.run_folds)
    evaluations = read_evaluations(args.eval, folds)
    pixel = read_pixel_baselines(args.pixel, folds)
    comparison = compare_models(evaluations, folds, seed=cfg.seed)
    cross_validation = {"folds": cfg.split.folds, "folds_run": len(folds), **fold_summary(comparison.metrics)}
    tar_at_far = tar_at_far_by_model(evaluations, folds, seed=cfg.seed)
    write_json(args.metrics, {**comparison.pairs, "cross_validation": cross_validation, "tar_at_far": tar_at_far})
    write_summaries(args.summary, comparison.metrics, comparison.pairs, pixel)
    write_report_folder(args.report, evaluations, comparison, cfg.split.folds, tar_at_far)
    c, n = comparison.pairs["student_vs_baseline"]["verification_auc"], comparison.pairs["student_vs_baseline"]
    print(
        f"student - baseline verification AUC per identity {c['difference']:+.4f} "
        f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}], Wilcoxon p {c['wilcoxon_p']:.3f} "
        f"({n['identities']} identities, {len(folds)} fold(s)); report in {args.report}/report.html"
    )


if __name__ == "__main__":
    run(main)
