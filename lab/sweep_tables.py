"""Generated tables of the sweeps (`python -m lab.sweep table` writes lab/records/sweeps/<name>.json): every
variant's fold means and its paired difference to the reference variant, with a variant whose
experiment is missing shown as missing; and their learning curves (`python -m lab.learning_curves`
writes lab/records/sweeps/<name>_curves.json). No torch import."""

from __future__ import annotations

from pathlib import Path

from lab.table_parts import SWEEPS, TableError, markdown, number, read_json, signed, value

# per-identity column (thz.eval.compare.METRICS) -> its header in every sweep table, one place
DELTA_HEADERS = {
    "verification_auc": "Δ identity AUC",
    "verification_tar_at_far_1pct": "Δ TAR@FAR 1 %",
    "triplet_correct": "Δ triplet accuracy",
    "ssim_predicted": "Δ SSIM",
    "verification_eer": "Δ EER",
    "posture_correct": "Δ posture",
    "silhouette": "Δ silhouette",
    "davies_bouldin": "Δ Davies-Bouldin",
    "psnr_predicted": "Δ PSNR",
    "sharpness_gap_predicted": "Δ sharpness gap",
    "enrollment_auc": "Δ enrolled AUC",
    "enrollment_rank1": "Δ enrolled rank-1",
    "separation": "Δ separation",
    "compactness": "Δ compactness",
}


def _deltas(*columns: str) -> dict[str, str]:
    """The difference columns of one table: each per-identity column with its header."""
    return {column: DELTA_HEADERS[column] for column in columns}


SHOWN = ("identity AUC", "identity EER", "TAR@FAR 1 %", "rank-1", "triplet AUC", "posture accuracy", "SSIM")
DIFFERENCES = _deltas("verification_auc", "verification_tar_at_far_1pct", "triplet_correct", "ssim_predicted")


def _difference(c: dict) -> str:
    """'+0.012 [−0.004, +0.030] p 0.21', bold when significant (interval excludes 0 and p < 0.05)."""
    text = f"{signed(c['difference'])} [{signed(c['ci_low'])}, {signed(c['ci_high'])}] p {c['wilcoxon_p']:.3f}"
    return f"**{text}**" if c["significant"] else text


def _stored(root: Path, name: str, how: str) -> tuple[str, dict]:
    """A record under lab/records/sweeps and its path; missing, an error saying `how` to make it
    (`{rel}` in `how` stands for the record's path)."""
    rel = f"{SWEEPS}/{name}.json"
    if not (root / rel).is_file():
        raise TableError(f"'{rel}' not found: {how.format(rel=rel)}")
    return rel, read_json(root, rel)


def _record(root: Path, name: str) -> tuple[str, dict]:
    """A sweep's record (`python -m lab.sweep table` writes it) and its path, or how to make it."""
    how = (
        f"run the sweep (python -m lab.sweep queue lab/sweeps/{name}.yaml; dvc queue start; "
        f"python -m lab.sweep table lab/sweeps/{name}.yaml --json {{rel}})"
    )
    return _stored(root, name, how)


def sweep_folds(root: Path, name: str, variant: str, model: str) -> dict[str, dict[str, float]]:
    """One variant's fold summary for one model: label -> {mean, sd}."""
    rel, data = _record(root, name)
    return value(data, f"variants.{variant}.models.{model}.folds", rel)


def sweep_table(
    root: Path, name: str, model: str, shown: tuple[str, ...] = SHOWN, differences: dict[str, str] = DIFFERENCES
) -> str:
    rel, data = _record(root, name)
    if any(model not in e["models"] for e in data["variants"].values()):
        raise TableError(f"'{rel}' has no model '{model}'")
    header = ["variant", *shown, *differences.values()]
    rows = []
    order = [v for v in data.get("order", sorted(data["variants"])) if v in data["variants"]]
    for variant, entry in ((v, data["variants"][v]) for v in order):
        m = entry["models"][model]
        cells = [f"{v['mean']:.3f} ± {v['sd']:.3f}" if (v := m["folds"].get(label)) else "–" for label in shown]
        diffs = m.get("vs_reference", {})
        is_reference = variant == data["reference"] and model == (data.get("reference_model") or model)
        cells += [_difference(diffs[c]) if c in diffs else ("reference" if is_reference else "–") for c in differences]
        rows.append([f"`{variant}`", *cells])
    for variant, reason in data["missing"].items():
        rows.append([f"`{variant}`", "**missing**: " + reason.replace("|", "/"), *[""] * (len(header) - 2)])
    notes = "".join(f"`{v}`: {data['variants'][v]['note']}; " for v in order if data["variants"][v].get("note"))
    n = max((e["models"][model]["identities"] for e in data["variants"].values()), default=0)  # 0: none finished
    against = f"the {data.get('reference_model') or model} of `{data['reference']}`"
    caption = (
        f"The {model}, each variant a DVC experiment cross-validated over folds {', '.join(map(str, data['folds']))} "
        f"({number(n)} test identities); columns: mean ± sd over folds. Δ: the variant's {model} minus {against}, "
        "per identity, 95 % bootstrap interval and Wilcoxon p, bold when significant. Identity level: every "
        "concealed test image against every unconcealed one; triplet: the published protocol (own twin against "
        f"another identity in the same posture). {notes}From `{rel}` (`python -m lab.sweep table {data['spec']} "
        f"--json {rel}`), CPU {data['cpu_capability']}, {data['date']}."
    )
    if len(data.get("baselines", [])) > 1:
        caption += f" The experiments ran on {len(data['baselines'])} commits: " + ", ".join(
            b[:7] for b in data["baselines"]
        )
        caption += "."
    return markdown(header, rows, caption)


def control_table(root: Path, name: str, model: str, differences: dict[str, str] = DIFFERENCES) -> str:
    """The variants a sweep also holds against a control experiment (the spec's `controls`): one row
    each, the paired differences of its `model` to the control's model; a control not found: missing."""
    rel, data = _record(root, name)
    rows = []
    for variant in data.get("order", sorted(data["variants"])):
        c = data["variants"].get(variant, {}).get("models", {}).get(model, {}).get("vs_control")
        if c is None:
            continue
        against = f"{c['model']} of `{c['experiment']}`" + (f" ({c['baseline'][:7]})" if "baseline" in c else "")
        if "missing" in c:
            cells = ["**missing**: " + c["missing"].replace("|", "/"), *[""] * (len(differences) - 1)]
        else:
            cells = [_difference(c["differences"][k]) if k in c["differences"] else "–" for k in differences]
        rows.append([f"`{variant}`", against, *cells])
    if not rows:
        raise TableError(f"'{rel}' holds no {model} against a control (the spec's `controls`)")
    n = max(e["models"][model]["identities"] for e in data["variants"].values() if model in e["models"])
    caption = (
        f"Δ: the variant's {model} minus the control experiment's model, per identity ({number(n)} test identities, "
        "folds " + ", ".join(map(str, data["folds"])) + "), 95 % bootstrap interval and Wilcoxon p, bold when "
        f"significant. From `{rel}` (`python -m lab.sweep table {data['spec']} --json {rel}`)."
    )
    return markdown(["variant", "control", *differences.values()], rows, caption)


def sweep_figures(root: Path, name: str, model: str, figure: str, link_from: str = "") -> str:
    """The variants' copies of one evaluate-stage figure (fold 0), one row each, as markdown images
    (paths relative to the document at `link_from`, e.g. "../" for docs/)."""
    rel, data = _record(root, name)
    rows = []
    for variant in data.get("order", sorted(data["variants"])):
        paths = [p for p in data.get("figures", {}).get(variant, {}).get(model, []) if p.endswith(figure)]
        if variant in data["missing"] or not paths:
            rows.append([f"`{variant}`", "**missing**"])
            continue
        if not (root / paths[0]).is_file():
            raise TableError(f"'{paths[0]}' (listed in '{rel}') not found")
        rows.append([f"`{variant}`", f"![{variant}]({link_from}{paths[0]})"])
    title = figure.removesuffix(".png").replace("_", " ")
    caption = (
        f"The {model}'s {title} of fold {data['folds'][0]}, each variant from its "
        f"experiment (copied by `python -m lab.sweep table {data['spec']} --json {rel}`)."
    )
    return markdown(["variant", title], rows, caption)


def _auc_cell(value: dict) -> str:
    """Mean ± sd of a validation AUC, with how many folds had finished training by then ('–': a fold
    had not validated yet)."""
    if value.get("mean") is None:
        return "–"
    done = f" ({value['done']} done)" if value.get("done") else ""
    return f"{value['mean']:.3f} ± {value['sd']:.3f}{done}"


def curves_table(root: Path, name: str) -> str:
    """Validation identity AUC against training time (`python -m lab.learning_curves` writes the record):
    per variant its seconds, the AUC at shares of the reference variant's time and at the last epoch."""
    rel, data = _stored(root, name, "python -m lab.learning_curves SPEC --json {rel} (its docstring)")
    reference = data["reference"]
    budgets = [
        f"val AUC at {b['share'] * 100:.0f} % of `{reference}`'s time ({b['seconds']:.0f} s)" for b in data["budgets"]
    ]
    header = ["variant", "epochs", "seconds per fold", "seconds per epoch", *budgets, "val AUC, last epoch"]
    rows = []
    for variant in [v for v in data["order"] if v in data["variants"]]:
        entry = data["variants"][variant]
        rows.append(
            [f"`{variant}`", ", ".join(map(str, entry["epochs"]))]
            + [
                f"{entry[k]['mean']:.{d}f} ± {entry[k]['sd']:.{d}f}"
                for k, d in (("train_seconds", 0), ("seconds_per_epoch", 1))
            ]
            + [_auc_cell(cell) for cell in entry["at_shares"]]
            + [_auc_cell(entry["last"])]
        )
    for variant, reason in data["missing"].items():
        rows.append([f"`{variant}`", "**missing**: " + reason.replace("|", "/"), *[""] * (len(header) - 2)])
    command = f"python -m lab.learning_curves {data['spec']} --model {data['model']} --json {rel}"
    figure = f" --png {data['png']}" if data.get("png") else ""
    caption = (
        f"The {data['model']}'s identity AUC on each fold's validation identities (every concealed image against "
        "every unconcealed one), logged by DVCLive at every validation, against training seconds; each variant a "
        f"DVC experiment over folds {', '.join(map(str, data['folds']))}, mean ± sd over folds. Seconds at a "
        "validation: its step × train_seconds / steps of the fold's log, the fold's mean rate over its whole "
        "training, validations and checkpoint writes included (no per-step time is logged). At a share of "
        f"`{reference}`'s mean seconds per fold: each fold interpolated linearly between its validations; (n done): "
        "n folds had finished training by then and keep their last value; –: a fold had not validated yet. "
        f"Last epoch: the last validation. From `{rel}` (`{command}{figure}`), CPU {data['cpu_capability']}, "
        f"{data['date']}."
    )
    resumed = [v for v in data["variants"] if data["variants"][v]["resumed_folds"]]
    if resumed:
        caption += f" Resumed trainings (their seconds count only the part after the resume): {', '.join(resumed)}."
    return markdown(header, rows, caption)


DISTILLATION_SHOWN = ("identity AUC", "TAR@FAR 1 %", "triplet AUC", "posture accuracy", "SSIM", "silhouette")
DISTILLATION_DIFFERENCES = _deltas(
    "verification_auc", "verification_eer", "posture_correct", "ssim_predicted", "silhouette", "davies_bouldin"
)

# the distillation issue's study: task performance, and the seed paper's separability claim part by part
IDENTITY_DISTILLATION_SHOWN = ("identity AUC", "TAR@FAR 1 %", "enrolled AUC", "posture accuracy", "SSIM")
IDENTITY_DISTILLATION_DIFFERENCES = _deltas(
    "verification_auc",
    "verification_tar_at_far_1pct",
    "enrollment_auc",
    "posture_correct",
    "ssim_predicted",
    "separation",
    "compactness",
)

ADVERSARIAL_SHOWN = ("SSIM", "PSNR", "sharpness", "sharpness gap", "identity AUC", "posture accuracy")
ADVERSARIAL_DIFFERENCES = _deltas("ssim_predicted", "psnr_predicted", "sharpness_gap_predicted", "verification_auc")
TEACHER_SHOWN = (
    "identity AUC",
    "identity EER",
    "TAR@FAR 1 %",
    "FAR at val threshold",  # against the EER: does the validation threshold transfer to new people?
    "FRR at val threshold",
    "posture accuracy",
    "SSIM",
)
TEACHER_DIFFERENCES = _deltas("verification_auc", "verification_eer", "verification_tar_at_far_1pct", "ssim_predicted")

MARGIN_SHOWN = (
    "identity AUC",
    "TAR@FAR 1 %",
    "rank-1, twin excluded",
    "enrolled AUC",
    "enrolled TAR@FAR 1 %",
    "enrolled rank-1",
    "posture accuracy",
    "SSIM",
)
MARGIN_DIFFERENCES = _deltas(
    "verification_auc",
    "verification_tar_at_far_1pct",
    "enrollment_auc",
    "enrollment_rank1",
    "posture_correct",
    "ssim_predicted",
)

TWIN_WEIGHT_SHOWN = {"identity_auc": "identity AUC", "tar_at_far_1pct": "TAR@FAR 1 %", "triplet_auc": "triplet AUC"}
TWIN_WEIGHT_SHOWN |= {"rank1": "rank-1"}


def twin_weight_table(
    root: Path, published: tuple[str, str] = ("verification", "published_epochs_24"), name: str = "twin_weight"
) -> str:
    """A two-head network scored again at every twin weight (lab/bench/twin_weight.py), validation and test
    identities, with the published objective trained here (a sweep variant) beneath for comparison."""
    rel, data = _stored(root, name, "python -m lab.bench.twin_weight --repo DIR --json {rel} (its docstring)")
    cell = lambda v: f"{v['mean']:.3f} ± {v['sd']:.3f}"  # noqa: E731
    rows = []
    for w in sorted(data["weights"]["test"], key=float):  # JSON keys come back sorted as text
        test, val = data["weights"]["test"][w], data["weights"]["val"][w]
        label = {"0": "0 (identity head alone)", "1e+06": "10⁶ (twin head alone)"}.get(w, w)
        cells = [cell(test[m]) for m in TWIN_WEIGHT_SHOWN] + [cell(val[m]) for m in ("identity_auc", "triplet_auc")]
        rows.append([label, *cells])
    ref = sweep_folds(root, *published, "baseline")
    shown = ("identity AUC", "TAR@FAR 1 %", "triplet AUC", "rank-1")
    rows.append([f"published objective (`{published[1]}`)", *(cell(ref[k]) for k in shown), "–", "–"])
    header = ["twin weight w", *TWIN_WEIGHT_SHOWN.values(), "val identity AUC", "val triplet AUC"]
    caption = (
        f"The {data['model']} of `{data['source']}` (folds {', '.join(map(str, data['folds']))}, mean ± sd over "
        "folds), scored at (cos_identity + w cos_twin) / (1 + w) with no retraining; test identities, then the "
        f"validation identities a weight would be chosen on. Last row: the published objective trained here, from "
        f"`{SWEEPS}/{published[0]}.json`. "
        f"From `{rel}` (`python -m lab.bench.twin_weight`), {data['date']}."
    )
    return markdown(header, rows, caption)


TABLES = {
    "twin_weight": twin_weight_table,
    "twin_head": lambda root: sweep_table(root, "twin_head", "baseline"),
    "objectives": lambda root: sweep_table(root, "objectives", "baseline"),
    "margin": lambda root: sweep_table(root, "margin", "baseline", MARGIN_SHOWN, MARGIN_DIFFERENCES),
    "margin_curves": lambda root: curves_table(root, "margin_curves"),
    "convergence": lambda root: sweep_table(root, "convergence", "baseline", MARGIN_SHOWN, MARGIN_DIFFERENCES),
    "convergence_curves": lambda root: curves_table(root, "convergence_curves"),
    **{
        f"flip_{model}": (lambda root, model=model: sweep_table(root, "flip", model, MARGIN_SHOWN, MARGIN_DIFFERENCES))
        for model in ("baseline", "teacher", "student")
    },
    "verification_round_2": lambda root: sweep_table(root, "verification", "baseline"),
    "distillation_terms": lambda root: sweep_table(
        root, "distillation", "student", DISTILLATION_SHOWN, DISTILLATION_DIFFERENCES
    ),
    "distillation_privileged": lambda root: sweep_table(
        root, "distillation_privileged", "student", DISTILLATION_SHOWN, DISTILLATION_DIFFERENCES
    ),
    "identity_distillation_student": lambda root: sweep_table(
        root, "identity_distillation", "student", IDENTITY_DISTILLATION_SHOWN, IDENTITY_DISTILLATION_DIFFERENCES
    ),
    "identity_distillation_controls": lambda root: control_table(
        root, "identity_distillation", "student", IDENTITY_DISTILLATION_DIFFERENCES
    ),
    "adversarial": lambda root: sweep_table(
        root, "adversarial", "baseline", ADVERSARIAL_SHOWN, ADVERSARIAL_DIFFERENCES
    ),
    "adversarial_grids": lambda root: sweep_figures(  # shown in docs/studies.md
        root, "adversarial", "baseline", "reconstruction_grid.png", link_from="../"
    ),
    "teacher_study": lambda root: sweep_table(root, "teacher", "teacher", TEACHER_SHOWN, TEACHER_DIFFERENCES),
}
