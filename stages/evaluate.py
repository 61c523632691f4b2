"""Stage `evaluate` (one per trained model and fold): scores the model on the test identities of
its fold and writes the metrics, tables and figures into --out (see thz.eval.evaluate)."""

from __future__ import annotations

from thz.cli import parse_paths, run
from thz.config import load_config
from thz.eval.evaluate import evaluate_checkpoint, summary_line
from thz.runtime import Execution, seed_everything, set_threads


def main(argv=None) -> None:
    args = parse_paths(argv, "--model", "--images", "--out", description=__doc__)
    cfg = load_config(args.params)
    set_threads(Execution.from_env().threads)
    seed_everything(cfg.seed)
    metrics = evaluate_checkpoint(args.model, args.images, args.out, cfg)
    print(f"{args.model}: {summary_line(metrics)}")


if __name__ == "__main__":
    run(main)
