"""Stage `plot_data`: the top-level `dvc plots` data, pooled over every fold run (thz.eval.plot_data):
per model, the test ROC averaged over folds, the posture confusion and the SSIM per posture of all
folds' test images, and the validation curves of training averaged over folds. A stage of its own,
not part of compare: a change to the curves alone does not re-run compare's bootstraps, and
compare's deps stay its evaluations."""

from __future__ import annotations

from thz.cli import parse_paths, run
from thz.config import load_config
from thz.eval.compare import read_evaluations
from thz.eval.plot_data import write_plot_data


def main(argv=None) -> None:
    args = parse_paths(argv, "--eval", "--train", "--out", description=__doc__)
    folds = list(load_config(args.params).split.run_folds)
    write_plot_data(args.out, read_evaluations(args.eval, folds), args.train, folds)
    print(f"plot data of {len(folds)} fold(s) in {args.out}: dvc plots show")


if __name__ == "__main__":
    run(main)
