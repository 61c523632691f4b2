"""A sweep: named variants of params.yaml, each a DVC experiment cross-validated over every identity,
turned into one table of fold means and paired differences against a reference variant.

    python -m lab.sweep queue lab/sweeps/objectives.yaml            # every variant
    python -m lab.sweep queue lab/sweeps/objectives.yaml --only instance
    dvc queue start -j 1                                             # one worker on 2 cores
    python -m lab.sweep table lab/sweeps/objectives.yaml --json lab/records/sweeps/objectives.json

The spec (a YAML file in lab/sweeps/) names the sweep, the models whose evaluations each variant
produces, the reference variant and every variant's `-S` settings:

    name: objectives
    models: [baseline]
    reference: default
    reference_model: baseline   # optional: compare every model with this model of the reference variant
    base: {model.dropout: 0.5}  # optional: settings of every variant, so the sweep means the same later
    controls: {cosface: margin-cosface}  # optional: a variant also against another experiment (any sweep's)
    variants:
      default: {}
      published: {loss.supcon: 0, loss.instance: 1, train.sampler: random}

`queue` runs `dvc exp run --queue --name <sweep>-<variant> -S ...` with exactly those settings and
the evaluate stages of the listed models as targets (commit first: an experiment starts from HEAD
plus the workspace). `table` reads each experiment's committed evaluation files straight from its
git ref (lab.experiments), so it needs no checkout, and writes fold means, sd and paired differences
against the reference variant; a variant whose experiment is missing or incomplete is listed under
"missing" with the reason, never skipped quietly (DVC's queue is known to lose experiments), and
makes the command exit 1, so a lost experiment is never read as "no effect".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import yaml

from lab.experiments import Evaluated, baseline_of, experiment_refs, git_bytes, read_experiment
from lab.table_parts import SWEEPS
from thz.config import ConfigError
from thz.eval.compare import compare_pair
from thz.files import write_bytes, write_json
from thz.runtime import cpu_capability

# name in the table -> dotted key in the evaluate stage's metrics.json
FOLD_METRICS = {
    "identity AUC": "verification.probe_gallery.auc",
    "identity EER": "verification.probe_gallery.eer",
    "TAR@FAR 1 %": "verification.probe_gallery.tar_at_far_1pct",
    "rank-1": "verification.rank1",
    "rank-1, twin excluded": "verification.rank1_twin_excluded",
    # each test identity enrolled by a template of half its captures, probed by the other half
    "enrolled AUC": "verification.enrollment.auc",
    "enrolled TAR@FAR 1 %": "verification.enrollment.tar_at_far_1pct",
    "enrolled rank-1": "verification.enrollment.rank1",
    # the decision threshold chosen on validation identities, applied to the test identities
    "FAR at val threshold": "verification.probe_gallery.at_val_threshold.far",
    "FRR at val threshold": "verification.probe_gallery.at_val_threshold.frr",
    "triplet AUC": "verification.triplet.auc",
    "triplet accuracy": "verification.triplet_ranking_accuracy",
    "posture accuracy": "posture.accuracy",
    "SSIM": "reconstruction.predicted.ssim",
    "PSNR": "reconstruction.predicted.psnr",
    "sharpness": "reconstruction.predicted.sharpness",
    "sharpness gap": "reconstruction.predicted.sharpness_gap",
    "silhouette": "separability.silhouette",
}
# per-identity columns compared pairwise against the reference (thz.eval.compare.METRICS names them)
PAIRED = (
    "verification_auc",
    "verification_eer",
    "verification_tar_at_far_1pct",
    "enrollment_auc",
    "enrollment_rank1",
    "triplet_correct",
    "posture_correct",
    "ssim_predicted",
    "psnr_predicted",
    "sharpness_gap_predicted",
    "silhouette",
    "compactness",
    "separation",
    "davies_bouldin",
)


@dataclass(frozen=True)
class Sweep:
    name: str
    models: tuple[str, ...]
    reference: str
    variants: dict[str, dict[str, object]]
    folds: tuple[int, ...] = (0, 1, 2, 3, 4)
    notes: dict[str, str] = field(default_factory=dict)
    reference_model: str | None = None  # None: each model against itself in the reference variant
    base: dict[str, object] = field(default_factory=dict)  # settings of every variant (a variant may override)
    figures: tuple[
        str, ...
    ] = ()  # evaluate-stage figures of the first fold kept per variant (e.g. reconstruction_grid.png)
    # variant -> an experiment (of any sweep) whose reference model (or the same model) it is also
    # compared with: a variant that changes two things is held against the one that changes only the other
    controls: dict[str, str] = field(default_factory=dict)

    def experiment(self, variant: str) -> str:
        return f"{self.name}-{variant}"

    def models_of(self, variant: str) -> tuple[str, ...]:
        """The models a variant evaluates: the sweep's, plus the reference model in the reference variant."""
        extra = (self.reference_model,) if variant == self.reference and self.reference_model else ()
        return tuple(dict.fromkeys(extra + self.models))

    def targets(self, variant: str) -> list[str]:
        """The stages a variant runs: the evaluations of its models on every fold (and what they need)."""
        return [f"evaluate@{k}-{m}" for k in self.folds for m in self.models_of(variant)]

    def settings(self, variant: str) -> list[str]:
        """`-S key=value` arguments of one variant, with the folds it runs."""
        pairs = {"split.run_folds": list(self.folds), **self.base, **self.variants[variant]}
        return [f"{key}={json.dumps(v) if isinstance(v, list) else v}" for key, v in pairs.items()]


def read_sweep(path: Path) -> Sweep:
    """The spec at `path`, checked: a clear error names the file and the key."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"sweep spec '{path}' cannot be read: {err}") from err
    for key in ("name", "models", "reference", "variants"):
        if not isinstance(raw, dict) or key not in raw:
            raise ConfigError(f"sweep spec '{path}': missing '{key}' (expected name, models, reference, variants)")
    variants = {str(k): dict(v or {}) for k, v in raw["variants"].items()}
    if raw["reference"] not in variants:
        raise ConfigError(
            f"sweep spec '{path}': reference '{raw['reference']}' is not one of the variants {list(variants)}"
        )
    return Sweep(
        name=str(raw["name"]),
        models=tuple(raw["models"]),
        reference=str(raw["reference"]),
        variants=variants,
        folds=tuple(raw.get("folds", (0, 1, 2, 3, 4))),
        notes={str(k): str(v) for k, v in (raw.get("notes") or {}).items()},
        reference_model=raw.get("reference_model"),
        base=dict(raw.get("base") or {}),
        figures=tuple(raw.get("figures") or ()),
        controls=_controls(path, raw.get("controls") or {}, variants),
    )


def _controls(path: Path, raw: dict, variants: dict) -> dict[str, str]:
    unknown = sorted(set(map(str, raw)) - set(variants))
    if unknown:
        raise ConfigError(f"sweep spec '{path}': controls name variants that do not exist: {unknown}")
    return {str(k): str(v) for k, v in raw.items()}


def figure_path(sweep: Sweep, variant: str, model: str, figure: str) -> str:
    """Where `table` keeps a variant's figure: lab/records/sweeps/<sweep>/<variant>/<model>_fold<k>_<figure>."""
    return f"{SWEEPS}/{sweep.name}/{variant}/{model}_fold{sweep.folds[0]}_{figure}"


def copy_figures(
    sweep: Sweep, repo: Path, variants: list[str], refs: dict[str, str] | None = None
) -> dict[str, dict[str, list[str]]]:
    """The spec's figures of the first fold, from each finished variant's experiment ref into the
    working tree (so that docs can show them side by side); variant -> model -> paths written.
    `refs`: experiment_refs(repo), when the caller has them."""
    refs = experiment_refs(repo) if refs is None else refs
    written: dict[str, dict[str, list[str]]] = {}
    for variant in variants:
        for model in sweep.models_of(variant):
            for figure in sweep.figures:
                data = git_bytes(
                    repo, refs[sweep.experiment(variant)], f"metrics/eval/fold_{sweep.folds[0]}/{model}/{figure}"
                )
                if data is None:
                    continue
                write_bytes(repo / figure_path(sweep, variant, model, figure), data)
                written.setdefault(variant, {}).setdefault(model, []).append(figure_path(sweep, variant, model, figure))
    return written


def _dotted(data: dict, key: str) -> float | None:
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return float(data)


def fold_summary(evaluated: Evaluated) -> dict[str, dict[str, float]]:
    """Mean and sample sd over folds of each FOLD_METRICS value (a metric the evaluation lacks is left out)."""
    out = {}
    for label, key in FOLD_METRICS.items():
        values = [_dotted(m, key) for m in evaluated.metrics.values()]
        if any(v is None for v in values):
            continue
        out[label] = {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}
    return out


def summarise(sweep: Sweep, repo: Path, seed: int = 0) -> dict:
    """Every variant's fold summary and its paired comparison with the reference, per model; missing
    variants with the reason."""
    refs = experiment_refs(repo)
    found: dict[tuple[str, str], Evaluated] = {}
    missing: dict[str, str] = {}
    for variant in sweep.variants:
        name = sweep.experiment(variant)
        if name not in refs:
            missing[variant] = f"no experiment named '{name}' (queue it: python -m lab.sweep queue ...)"
            continue
        for model in sweep.models_of(variant):
            got = read_experiment(repo, refs[name], model, sweep.folds)
            if isinstance(got, str):
                missing[variant] = got
                break
            found[variant, model] = got
    result = {
        "sweep": sweep.name,
        "reference": sweep.reference,
        "reference_model": sweep.reference_model,
        "folds": list(sweep.folds),
        "order": list(sweep.variants),  # the spec's order (JSON files are written with sorted keys)
        "variants": {},
        "missing": missing,
        # the commits the experiments ran on: more than one means code may differ between variants
        "baselines": sorted({baseline_of(refs[sweep.experiment(v)]) for v in sweep.variants if v not in missing}),
    }
    for variant, settings in sweep.variants.items():
        if variant in missing:
            continue
        entry = {
            "settings": {**sweep.base, **settings},
            "note": sweep.notes.get(variant, ""),
            "baseline": baseline_of(refs[sweep.experiment(variant)]),
            "models": {},
        }
        for model in sweep.models_of(variant):
            evaluated = found[variant, model]
            model_entry = {"folds": fold_summary(evaluated), "identities": int(len(evaluated.per_identity))}
            against = (sweep.reference, sweep.reference_model or model)
            if (variant, model) != against and against in found:
                model_entry["vs_reference"] = _paired(found[against], evaluated, seed)
            if variant in sweep.controls:
                model_entry["vs_control"] = _against_control(
                    repo, refs, sweep.controls[variant], sweep.reference_model or model, sweep.folds, evaluated, seed
                )
            entry["models"][model] = model_entry
        result["variants"][variant] = entry
    return result


def _against_control(
    repo: Path,
    refs: dict[str, str],
    experiment: str,
    model: str,
    folds: tuple[int, ...],
    evaluated: Evaluated,
    seed: int,
) -> dict:
    """A variant's paired differences against `model` of another experiment; missing: the reason."""
    head = {"experiment": experiment, "model": model}
    if experiment not in refs:
        return {**head, "missing": f"no experiment named '{experiment}'"}
    control = read_experiment(repo, refs[experiment], model, folds)
    if isinstance(control, str):
        return {**head, "missing": control}
    return {**head, "baseline": baseline_of(refs[experiment]), "differences": _paired(control, evaluated, seed)}


def _paired(reference: Evaluated, variant: Evaluated, seed: int) -> dict:
    """The variant minus the reference per identity (thz.eval.compare), the PAIRED columns."""
    tables = {"reference": reference.per_identity, "variant": variant.per_identity}
    samples = {"reference": reference.per_sample, "variant": variant.per_sample}
    pair = compare_pair("reference", "variant", tables, samples, seed=seed)
    return {c: pair[c] for c in PAIRED if c in pair}


# ---- the command ---------------------------------------------------------------------------------


def queue(spec: Path, only: list[str]) -> None:
    sweep = read_sweep(spec)
    unknown = sorted(set(only) - set(sweep.variants))
    if unknown:
        raise SystemExit(f"--only: {unknown} not in {spec} (variants: {list(sweep.variants)})")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    done = experiment_refs(Path("."))
    for variant in only or sweep.variants:
        if sweep.experiment(variant) in done:
            print(
                f"skipped {sweep.experiment(variant)}: it exists ({done[sweep.experiment(variant)]}); "
                "`dvc exp remove` it to run it again",
                flush=True,
            )
            continue
        args = ["dvc", "exp", "run", "--queue", "--name", sweep.experiment(variant)]
        for setting in sweep.settings(variant):
            args += ["-S", setting]
        subprocess.run(args + sweep.targets(variant), check=True, env=env)
        print(f"queued {sweep.experiment(variant)}: {' '.join(sweep.settings(variant))}", flush=True)


def table(spec: Path, out: Path) -> int:
    sweep = read_sweep(spec)
    result = summarise(sweep, Path("."))
    result["figures"] = copy_figures(sweep, Path("."), [v for v in sweep.variants if v in result["variants"]])
    result.update(date=date.today().isoformat(), cpu_capability=cpu_capability(), spec=str(spec))
    write_json(out, result)
    for variant, reason in result["missing"].items():
        print(f"MISSING {variant}: {reason}", file=sys.stderr)
    lost_controls = [
        f"{variant} ({model}): control {c['experiment']}: {c['missing']}"
        for variant, entry in result["variants"].items()
        for model, m in entry["models"].items()
        if "missing" in (c := m.get("vs_control", {}))
    ]
    for line in lost_controls:
        print(f"MISSING control of {line}", file=sys.stderr)
    print(f"{len(result['variants'])} of {len(sweep.variants)} variants in {out}")
    return 1 if result["missing"] or lost_controls else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("queue")
    q.add_argument("spec", type=Path)
    q.add_argument("--only", nargs="*", default=[])
    t = sub.add_parser("table")
    t.add_argument("spec", type=Path)
    t.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "queue":
        queue(args.spec, args.only)
        return 0
    return table(args.spec, args.json)


if __name__ == "__main__":
    sys.exit(main())
