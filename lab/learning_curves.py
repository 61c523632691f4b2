"""Learning curves of a sweep: each variant's validation identity AUC against training seconds, so a
table can say which objective gets furthest in a time budget, not only after a fixed number of epochs.

    python -m lab.learning_curves lab/sweeps/margin.yaml --model baseline \\
        --json lab/records/sweeps/margin_curves.json --png lab/records/sweeps/margin_curves.png

DVCLive logs the validation AUC (plots/metrics/val/auc.tsv: step, auc) at every validation
(`train.val_every` epochs) of a training, and its metrics.json holds the run's `train_seconds` and
`steps`. train_seconds is the wall clock around the whole of thz.train.loop.fit (stages/train.py):
validations, checkpoint writes and logging included. No per-step time is logged, so the seconds
at a step are step × train_seconds / steps: the fold's mean rate, validation included.

The files are read from each experiment's git ref (lab.experiments), as `python -m lab.sweep table`
reads the evaluations. A variant whose experiment or files are missing is listed under "missing"
with the reason and makes the command exit 1, never skipped quietly.

Per variant the record holds the seconds per fold and per epoch, the AUC at shares of the reference
variant's mean training seconds (each fold interpolated linearly between its validations; a fold
that had finished by then keeps its last value and is counted as done), the AUC at the last
validation (the last epoch), and the mean curve over folds that the figure draws.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from lab.experiments import baseline_of, experiment_refs, git_file
from lab.sweep import Sweep, read_sweep
from thz.files import atomic_path, write_json

SHARES = (0.25, 0.5, 1.0)  # of the reference variant's mean training seconds per fold
LOG = "metrics/train/fold_{fold}/{model}"  # a training's DVCLive folder
SUMMARY, VAL_AUC = "metrics.json", "plots/metrics/val/auc.tsv"
PHASES = ("epochs", "pretrain_epochs", "heads_epochs")  # budget.<model>: the training's epochs, summed


@dataclass(frozen=True)
class Curve:
    """One fold's validation AUC at each validation step, and how long its training took."""

    steps: np.ndarray
    auc: np.ndarray
    train_seconds: float
    total_steps: int
    epochs: int
    resumed: bool  # a resumed run's train_seconds counts only the part after the resume
    cpu_capability: str

    @property
    def seconds(self) -> np.ndarray:
        """Seconds at each validation, at the fold's mean rate (no per-step time is logged)."""
        return self.steps * self.train_seconds / self.total_steps

    @property
    def epoch_at(self) -> np.ndarray:
        return self.steps * self.epochs / self.total_steps


def auc_at(curve: Curve, seconds: float) -> tuple[float | None, bool]:
    """(AUC, done) at `seconds` of training: linear between validations; None before the first one
    (nothing was measured yet); once the fold had finished, its last value and done=True (a faster
    objective has its finished network by then, not a better one)."""
    times = curve.seconds
    if seconds < times[0]:
        return None, False
    if seconds >= times[-1]:
        return float(curve.auc[-1]), True
    return float(np.interp(seconds, times, curve.auc)), False


def mean_sd(values: list[float]) -> dict[str, float]:
    """Mean and sample sd (ddof 1; 0 for a single value)."""
    return {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}


# ---- reading an experiment ------------------------------------------------------------------------


def training_epochs(repo: Path, ref: str, model: str) -> int | str:
    """The epochs `model` trained for in the experiment (its params.yaml, every phase), or why not."""
    text = git_file(repo, ref, "params.yaml")
    budget = (yaml.safe_load(text) or {}).get("budget", {}).get(model) if text is not None else None
    if not isinstance(budget, dict) or "epochs" not in budget:
        return f"{ref} has no budget.{model}.epochs in params.yaml"
    return int(sum(budget.get(phase, 0) for phase in PHASES))


def read_fold(repo: Path, ref: str, model: str, fold: int, epochs: int) -> Curve | str:
    """One fold's DVCLive validation AUC and time, or the reason they cannot be read."""
    base = LOG.format(fold=fold, model=model)
    texts = {name: git_file(repo, ref, f"{base}/{name}") for name in (SUMMARY, VAL_AUC)}
    absent = [name for name, text in texts.items() if text is None]
    if absent:
        return f"{ref} has no {base}/{absent[0]}"
    summary = json.loads(texts[SUMMARY])
    if "train_seconds" not in summary or "steps" not in summary:
        return f"{ref}: {base}/{SUMMARY} has no train_seconds or steps (the training did not finish)"
    log = pd.read_csv(io.StringIO(texts[VAL_AUC]), sep="\t")
    if log.empty:
        return f"{ref}: {base}/{VAL_AUC} has no validation"
    return Curve(
        steps=log["step"].to_numpy(float),
        auc=log["auc"].to_numpy(float),
        train_seconds=float(summary["train_seconds"]),
        total_steps=int(summary["steps"]),
        epochs=epochs,
        resumed=bool(summary.get("execution", {}).get("resume", 0)),
        cpu_capability=str(summary.get("cpu_capability", "?")),
    )


def read_curves(repo: Path, ref: str, model: str, folds: tuple[int, ...]) -> dict[int, Curve] | str:
    """Every fold's curve of `model` in experiment `ref`, or the reason the first missing one is missing."""
    epochs = training_epochs(repo, ref, model)
    if isinstance(epochs, str):
        return epochs
    curves = {}
    for fold in folds:
        curve = read_fold(repo, ref, model, fold, epochs)
        if isinstance(curve, str):
            return curve
        curves[fold] = curve
    return curves


# ---- one variant ------------------------------------------------------------------------------------


def at_seconds(curves: dict[int, Curve], seconds: float) -> dict:
    """Mean ± sd over folds of the AUC at `seconds`, and how many folds had finished by then; no
    mean when a fold had not yet validated."""
    got = [auc_at(curve, seconds) for curve in curves.values()]
    done = sum(finished for _, finished in got)
    if any(value is None for value, _ in got):
        return {"mean": None, "sd": None, "done": done}
    return {**mean_sd([value for value, _ in got]), "done": done}


def mean_curve(curves: dict[int, Curve]) -> list[dict] | str:
    """The curve over folds at each validation step: mean seconds, mean ± sd AUC (the figure's line);
    the folds must have validated at the same steps."""
    first = next(iter(curves.values()))
    if any(not np.array_equal(c.steps, first.steps) for c in curves.values()):
        return "its folds validated at different steps: no mean curve"
    return [
        {
            "step": int(step),
            "epoch": float(first.epoch_at[i]),
            "seconds": float(np.mean([c.seconds[i] for c in curves.values()])),
            "auc": mean_sd([float(c.auc[i]) for c in curves.values()]),
        }
        for i, step in enumerate(first.steps)
    ]


def variant_entry(curves: dict[int, Curve], budgets: list[dict], note: str) -> dict:
    """A variant's times, its AUC at each budget (share, seconds) and at its last validation."""
    return {
        "note": note,
        "epochs": sorted({c.epochs for c in curves.values()}),
        "steps": sorted({c.total_steps for c in curves.values()}),
        "train_seconds": mean_sd([c.train_seconds for c in curves.values()]),
        "seconds_per_epoch": mean_sd([c.train_seconds / c.epochs for c in curves.values()]),
        "resumed_folds": [k for k, c in curves.items() if c.resumed],
        "at_shares": [{"share": b["share"], **at_seconds(curves, b["seconds"])} for b in budgets],
        "last": mean_sd([float(c.auc[-1]) for c in curves.values()]),
        "curve": mean_curve(curves),
    }


# ---- the sweep ---------------------------------------------------------------------------------------


def found_curves(sweep: Sweep, model: str, repo: Path) -> tuple[dict[str, dict[int, Curve]], dict[str, str], dict]:
    """(variant -> fold -> curve, variant -> why it is missing, the experiment refs)."""
    refs = experiment_refs(repo)
    found, missing = {}, {}
    for variant in sweep.variants:
        name = sweep.experiment(variant)
        if name not in refs:
            missing[variant] = f"no experiment named '{name}' (queue it: python -m lab.sweep queue ...)"
            continue
        got = read_curves(repo, refs[name], model, sweep.folds)
        if isinstance(got, str):
            missing[variant] = got
        elif isinstance(reason := mean_curve(got), str):
            missing[variant] = f"{refs[name]}: {reason}"
        else:
            found[variant] = got
    return found, missing, refs


def budgets_of(reference: dict[int, Curve] | None, shares: tuple[float, ...]) -> list[dict]:
    """Each share with its seconds: that share of the reference's mean training seconds per fold (no
    budgets when the reference is missing: there is no time to share)."""
    if reference is None:
        return []
    full = float(np.mean([c.train_seconds for c in reference.values()]))
    return [{"share": share, "seconds": share * full} for share in shares]


def summarise_curves(sweep: Sweep, model: str, repo: Path, shares: tuple[float, ...] = SHARES) -> dict:
    """Every variant's learning curve of `model` summarised (variant_entry), the missing with the reason."""
    found, missing, refs = found_curves(sweep, model, repo)
    budgets = budgets_of(found.get(sweep.reference), shares)
    variants = {v: variant_entry(found[v], budgets, sweep.notes.get(v, "")) for v in sweep.variants if v in found}
    capabilities = sorted({c.cpu_capability for curves in found.values() for c in curves.values()})
    return {
        "sweep": sweep.name,
        "model": model,
        "reference": sweep.reference,
        "folds": list(sweep.folds),
        "order": list(sweep.variants),  # the spec's order (JSON files are written with sorted keys)
        "budgets": budgets,
        "variants": variants,
        "missing": missing,
        "cpu_capability": ", ".join(capabilities),  # from the trainings' own metrics.json
        "baselines": sorted({baseline_of(refs[sweep.experiment(v)]) for v in found}),
    }


# ---- the figure --------------------------------------------------------------------------------------


def plot(record: dict, path: Path) -> None:
    """Mean validation AUC (± sd band) against mean training seconds, one line per variant, with the
    budgets as dotted verticals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for variant in [v for v in record["order"] if v in record["variants"]]:
        curve = record["variants"][variant]["curve"]
        seconds = [row["seconds"] for row in curve]
        mean = np.array([row["auc"]["mean"] for row in curve])
        sd = np.array([row["auc"]["sd"] for row in curve])
        (line,) = ax.plot(seconds, mean, marker="o", markersize=3, label=variant)
        ax.fill_between(seconds, mean - sd, mean + sd, color=line.get_color(), alpha=0.12)
    for budget in record["budgets"]:
        ax.axvline(budget["seconds"], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("training seconds (mean over folds; validation included)")
    ax.set_ylabel("validation identity AUC (mean ± sd over folds)")
    ax.set_title(f"{record['sweep']}: the {record['model']}, folds {', '.join(map(str, record['folds']))}")
    ax.grid(alpha=0.3)
    ax.legend()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


# ---- the command -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", type=Path)
    parser.add_argument("--model", help="the model whose trainings are read (default: the sweep's first)")
    parser.add_argument("--json", type=Path, required=True, help="the record to write")
    parser.add_argument("--png", type=Path, help="also draw the curves here")
    args = parser.parse_args(argv)
    sweep = read_sweep(args.spec)
    record = summarise_curves(sweep, args.model or sweep.models[0], Path("."))
    record.update(date=date.today().isoformat(), spec=str(args.spec), png=str(args.png) if args.png else None)
    write_json(args.json, record)
    if args.png:
        plot(record, args.png)
    for variant, reason in record["missing"].items():
        print(f"MISSING {variant}: {reason}", file=sys.stderr)
    print(f"{len(record['variants'])} of {len(sweep.variants)} variants in {args.json}")
    return 1 if record["missing"] else 0


if __name__ == "__main__":
    sys.exit(main())
