"""Generated tables about the default budget: the cross-validated default held against earlier
reference runs, and the recorded speed measurements (lab/bench/) that chose it.

A reference run is a folder of the evaluate stage's metrics.json files kept under lab/records/reference/
(`<model>/metrics.json` for one fold, `fold_K/<model>/metrics.json` for several); the speed tables
read the JSON files the bench scripts write with --json into lab/records/bench/. The tables hold the
measurements only: what became of each lever (kept or not, and why) is prose beside the table in
docs/performance.md. No torch import.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from lab.sweep_tables import sweep_folds
from lab.table_parts import (
    BENCH,
    REFERENCE,
    SWEEPS,
    TEST_METRICS,
    TableError,
    eval_values,
    evaluated,
    markdown,
    mean_sd,
    model_names,
    number,
    read_json,
    signed,
    value,
)

SINGLE_FOLD = f"{REFERENCE}/single_fold_60_epochs"
FP32 = f"{REFERENCE}/cv_fp32"
BF16 = f"{REFERENCE}/cv_bf16_dropout_0.5"  # the bf16 run cv_fp32 repeats in fp32
TRAINING_STEP, BUDGET = f"{BENCH}/training_step.json", f"{BENCH}/budget.json"
REPRO, REPRO_FP32 = f"{BENCH}/repro.json", f"{BENCH}/repro_fp32.json"
# the cross-validated budget curve: variants of the verification sweep (docs/studies.md, verification)
SWEEP_BUDGET, BUDGET_VARIANTS = "verification", {"default": 14, "epochs_24": 24, "epochs_30": 30}
# the teacher's shorter and cheaper variants against the default teacher (teacher sweep, docs/studies.md)
SWEEP_TEACHER, TEACHER_DEFAULT = "teacher", "unconcealed_colour_128"
# the quality a budget must keep: label in TEST_METRICS -> True when higher is better
HELD = {"verification AUC": True, "EER": False, "posture accuracy": True, "SSIM (predicted routing)": True}


def reference_values(root: Path, folder: str, model: str, key: str) -> list[float]:
    """One metric of one model in a reference run: one value, or one per fold."""
    fold_dirs = sorted((root / folder).glob("fold_*"), key=lambda p: int(p.name.split("_")[1]))
    files = [f"{folder}/{d.name}/{model}/metrics.json" for d in fold_dirs] or [f"{folder}/{model}/metrics.json"]
    return [value(read_json(root, rel), key, rel) for rel in files]


def held_against(
    root: Path, folder: str, label: str, ours_folder: str | None = None, ours_label: str = "default"
) -> str:
    """The default run (metrics/eval, mean ± sd over its folds) against a reference run, per model
    and held metric: the difference of the means and whether the default is worse by more than
    its fold-to-fold standard deviation."""
    ks, models = evaluated(root)
    if len(ks) < 2:
        raise TableError(f"metrics/eval has {len(ks)} fold(s): this table needs the cross-validated default run")
    rows = []
    for model, name in zip(models, model_names(models), strict=True):
        for metric, higher in HELD.items():
            if ours_folder is None:
                ours = eval_values(root, model, TEST_METRICS[metric])
            else:
                ours = reference_values(root, ours_folder, model, TEST_METRICS[metric])
            theirs = reference_values(root, folder, model, TEST_METRICS[metric])
            mean, sd = statistics.mean(ours), statistics.stdev(ours)
            worse_by = (statistics.mean(theirs) - mean) * (1 if higher else -1)
            rows.append(
                [name, metric, mean_sd(ours), mean_sd(theirs), signed(mean - statistics.mean(theirs))]
                + ["yes" if worse_by > sd else "no"]
            )
    header = ["model", "metric", f"{ours_label} ({len(ks)} folds)", label, "difference", "worse by more than the sd"]
    source = "`metrics/eval/fold_K/<model>/metrics.json`" if ours_folder is None else f"`{ours_folder}/`"
    caption = (
        f"Test identities. {ours_label.capitalize()}: {source}, mean ± sd over folds "
        f"{', '.join(map(str, ks))}; {label}: `{folder}/` (each reference's `source.json` says how it was made)."
    )
    return markdown(header, rows, caption)


def cv_vs_single_fold(root: Path) -> str:
    return held_against(root, SINGLE_FOLD, "previous default: one fold, 60 epochs")


def bf16_vs_fp32(root: Path) -> str:
    """Two runs that differ in precision only (both at the dropout of their day, 0.5)."""
    return held_against(root, FP32, "the same in fp32", ours_folder=BF16, ours_label="bf16")


def _machine(d: dict, rel: str) -> str:
    m = value(d, "machine", rel)
    return f"CPU capability {m['cpu_capability']}, native bf16 {'yes' if m['native_bf16'] else 'no'}"


def training_levers(root: Path) -> str:
    """Step time of each variant per precision/compilation (lab/bench/training_step.py)."""
    d = read_json(root, TRAINING_STEP)
    machine = value(d, "machine", TRAINING_STEP)
    fp32, bf16 = machine["matmul_fp32_gflops"], machine["matmul_bf16_gflops"]
    peak = {"fp32": fp32, "bf16": bf16, "compile": fp32}  # compile runs in fp32
    rows = [
        [
            r["variant"],
            r["setting"],
            f"{r['median_step_s']:.3f}",
            f"{r['images_per_s']:.0f}",
            f"{r['achieved_gflops']:.0f} of {peak[r['setting']]:.0f}",
            f"{r['warmup_overhead_s']:.0f}",
        ]
        for r in value(d, "results", TRAINING_STEP)
    ]
    header = ["variant", "setting", "step (s)", "THz images/s", "GFLOP/s of matmul peak", "first steps (s)"]
    caption = (
        f"The real training step (batch 8 x 4 pairs), median after warm-up, each alone in a fresh process; "
        f"{_machine(d, TRAINING_STEP)}, {machine['threads']} threads, idle. From `{TRAINING_STEP}` "
        "(`python -m lab.bench.training_step --json ...`)."
    )
    return markdown(header, rows, caption)


def budget(root: Path) -> str:
    """Test quality against the number of epochs (lab/bench/budget.py)."""
    d = read_json(root, BUDGET)
    rows = [
        [str(r["epochs"]), ", ".join(f"`{s}`" for s in r["settings"]) or "defaults", str(r["steps"])]
        + [f"{r['train_seconds']:.0f}", r["precision"]]
        + [number(r[k]) for k in ("auc", "eer", "tar_at_far_1pct", "posture_accuracy", "ssim")]
        for r in value(d, "results", BUDGET)
    ]
    header = ["epochs", "settings", "steps", "train s", "precision", "AUC", "EER", "TAR@FAR 1 %", "posture", "SSIM"]
    caption = (
        f"The {d['variant']} trained on fold {d['fold']} for each budget, scored on that fold's test identities; "
        f"{_machine(d, BUDGET)}, idle. From `{BUDGET}` (`python -m lab.bench.budget --json ...`)."
    )
    return markdown(header, rows, caption)


def repro_time(root: Path) -> str:
    """Wall-clock minutes of the default `dvc repro` by kind of stage (lab/bench/repro_time.py)."""
    runs = [(rel, read_json(root, rel)) for rel in (REPRO, REPRO_FP32) if (root / rel).is_file()]
    if not runs:
        raise TableError(f"'{REPRO}' not found: run `python -m lab.bench.repro_time --json {REPRO}` on a fresh clone")
    kinds = list(dict.fromkeys(k for _, d in runs for k in d["seconds_by_kind"]))
    names = [f"{'/'.join(d['precision'])} ({d['cpu_capability']})" for _, d in runs]
    rows = [[kind] + [f"{d['seconds_by_kind'].get(kind, 0) / 60:.1f}" for _, d in runs] for kind in kinds] + [
        ["**total**"] + [f"**{d['total_seconds'] / 60:.1f}**" for _, d in runs]
    ]
    commits = ", ".join(f"`{rel}` at commit {d.get('commit', 'not recorded')}" for rel, d in runs)
    caption = (
        "Minutes of wall-clock time per kind of stage of the default `dvc repro` on a fresh clone (venv installed), "
        f"2 cores, idle. From {commits} (`python -m lab.bench.repro_time --json ...`); a column measured on an "
        "earlier default ran that default's stages."
    )
    return markdown(["stages", *names], rows, caption)


TABLES = {
    "cv_vs_single_fold": cv_vs_single_fold,
    "bf16_vs_fp32": bf16_vs_fp32,
    "training_levers": training_levers,
    "budget": budget,
    "repro_time": repro_time,
}


def _step(d: dict, variant: str, setting: str) -> float:
    found = [r["median_step_s"] for r in d["results"] if r["variant"] == variant and r["setting"] == setting]
    if not found:
        raise TableError(f"'{TRAINING_STEP}' has no {variant} step in setting {setting}")
    return found[0]


def _budget_row(d: dict, epochs: int, settings: tuple[str, ...] = ()) -> dict:
    for r in d["results"]:
        if r["epochs"] == epochs and tuple(r["settings"]) == settings:
            return r
    raise TableError(f"'{BUDGET}' has no run of {epochs} epochs with settings {list(settings)}")


def _cv_budget(root: Path) -> str:
    """Baseline identity AUC and SSIM over 5 folds at each budget the verification sweep ran."""
    parts = []
    for variant, epochs in BUDGET_VARIANTS.items():
        folds = sweep_folds(root, SWEEP_BUDGET, variant, "baseline")
        parts.append(f"{number(folds['identity AUC']['mean'])} / {number(folds['SSIM']['mean'])} at {epochs} epochs")
    return f"baseline identity AUC / SSIM, mean of 5 folds: {', '.join(parts)}"


def _teacher_variant(root: Path, variant: str) -> str:
    """The teacher's identity AUC, TAR@FAR 1 % and posture accuracy (5-fold means) in a teacher-sweep
    variant against the default teacher's."""

    def shown(name: str) -> str:
        folds = sweep_folds(root, SWEEP_TEACHER, name, "teacher")
        return "/".join(number(folds[k]["mean"]) for k in ("identity AUC", "TAR@FAR 1 %", "posture accuracy"))

    return f"teacher identity AUC / TAR@FAR 1 % / posture: {shown(variant)} against {shown(TEACHER_DEFAULT)}"


def levers(root: Path) -> str:
    """Every lever measured for the 30-minute default, what was measured of it (from the bench
    files and the sweeps' records); what became of each is prose beside the table (docs/performance.md)."""
    steps, runs = read_json(root, TRAINING_STEP), read_json(root, BUDGET)
    repro = read_json(root, REPRO)
    speedups = ", ".join(
        f"{v} {_step(steps, v, 'fp32') / _step(steps, v, 'bf16'):.2f}x" for v in ("baseline", "teacher", "student")
    )
    compiled = [r for r in steps["results"] if r["setting"] == "compile"]
    compile_gain = ", ".join(
        f"{r['variant']} {_step(steps, r['variant'], 'fp32') / r['median_step_s']:.2f}x" for r in compiled
    )
    overhead = max((r["warmup_overhead_s"] for r in compiled), default=0.0)
    curve = ", ".join(
        f"{number(r['auc'])} at {r['epochs']} epochs ({r['train_seconds']:.0f} s)"
        for r in (_budget_row(runs, e) for e in (8, 14, 30))
    )
    rising = _budget_row(runs, 30)["auc"] - _budget_row(runs, 14)["auc"]
    shapes = "; ".join(
        f"`{', '.join(r['settings'])}`: AUC {number(r['auc'])}, SSIM {number(r['ssim'])}, {r['train_seconds']:.0f} s"
        for r in runs["results"]
        if r["settings"]
    )
    default = _budget_row(runs, 14)
    shapes = f"defaults: AUC {number(default['auc'])}, SSIM {number(default['ssim'])}; " + shapes
    export = [s for k, s in repro["stage_seconds"].items() if k.startswith("export@")]
    export_text = f"{len(export)} exports of {statistics.mean(export):.0f} s each" if export else "not timed"
    teacher_share = _step(steps, "student", "fp32") / _step(steps, "baseline", "fp32")
    every_image = _step(steps, "student_every_image", "fp32")
    rows = [
        ["bf16 autocast", f"step time fp32 / bf16: {speedups}"],
        ["`torch.compile`", f"speed-up {compile_gain}; first steps up to {overhead:.0f} s longer"],
        ["training budget", _cv_budget(root)],
        ["training budget, first curve", f"baseline test AUC on fold 0 (latent dropout 0.5): {curve}"],
        ["early stopping", f"AUC still changes by {signed(rising)} from 14 to 30 epochs"],
        ["other settings at 14 epochs", shapes],
        ["export of every fold", export_text + " now, for the first fold only"],
        ["validation every 2 epochs", "half the validation passes and checkpoint writes"],
        ["frozen teacher in the student", f"step {teacher_share:.2f}x the baseline's (fp32)"],
        [
            "distillation on the concealed inputs only",
            f"student step (fp32) {_step(steps, 'student', 'fp32'):.3f} s against {every_image:.3f} s on every image",
        ],
        ["teacher for 6 epochs instead of 10", _teacher_variant(root, f"{TEACHER_DEFAULT}_epochs_6")],
        ["teacher's colour photo at 64 px instead of 128", _teacher_variant(root, "unconcealed_colour_64")],
    ]
    caption = (
        f"From `{TRAINING_STEP}`, `{BUDGET}`, `{SWEEPS}/{SWEEP_BUDGET}.json`, `{SWEEPS}/{SWEEP_TEACHER}.json` and "
        f"`{REPRO}` ({_machine(steps, TRAINING_STEP)}); each measured alone on an idle 2-core machine. "
        "What became of each: docs/performance.md."
    )
    return markdown(["lever", "measured"], rows, caption)


TABLES["levers"] = levers
