"""Result tables in README.md and docs/*.md, generated from the metrics files.

Numbers typed into prose drift from the metrics they were copied from, so every result number in
the documentation is rendered from metrics/ instead. A markdown file holds a block (markers at the
start of a line)

    <!-- table:results -->
    (anything; replaced)
    <!-- /table:results -->

and `python -m lab.tables` fills it, in place, with the table of that name (see TABLES).
`python -m lab.tables --check` only compares: it exits with status 1, naming each file and
table that differs, when a rerun of the pipeline changed a number the documents still show
(tests/test_docs_tables.py runs the same check). An unknown table name or a missing metrics file
is an error naming it (exit status 2).

Only committed metrics files (cache: false) are read, so a fresh clone can check its documents.
Folds are found from the entries present (metrics/eval/fold_K/, metrics/pixel_baseline/fold_K.json);
with several folds a value is the mean ± standard deviation over them. Performance measurements are
rendered from the JSON files the bench scripts write (lab/records/bench/), the sweeps from their
records (lab/records/sweeps/, lab.sweep_tables), and the default run is held against earlier runs
kept in lab/records/reference/ (lab.budget_tables). The tables hold numbers; what the project made
of them (kept or not, and why) is prose beside the block in the document. No torch import: this
takes well under a second.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from lab.budget_tables import TABLES as BUDGET_TABLES
from lab.sweep_tables import TABLES as SWEEP_TABLES
from lab.table_parts import (
    BENCH,
    COMPARE,
    EVAL,
    HEADLINE,
    PIXEL,
    RECORDS,
    TEST_METRICS,
    TableError,
    eval_values,
    evaluated,
    fold_words,
    folds,
    markdown,
    mean_sd,
    model_names,
    number,
    pixel_values,
    read_json,
    signed,
    value,
)
from thz.eval.compare import MODELS
from thz.eval.seed_claim import seed_claim
from thz.eval.tar_intervals import PROTOCOLS, far_label, tar_cell
from thz.files import write_text
from thz.metrics.verification import FARS

SUMMARY = "metrics/summary"  # the DVC metrics (thz.eval.summary)

# markers at the start of a line (an indented example, as in the docstring below, is left alone)
BLOCK = re.compile(r"^(<!-- table:(?P<name>[\w-]+) -->\n)(?P<body>.*?)^(<!-- /table:(?P=name) -->)", re.DOTALL | re.M)
OPENING = re.compile(r"^<!-- table:([\w-]+) -->", re.M)

# per-identity columns of metrics/compare.json shown, in order (MAE differences vanish at 3 decimals)
COMPARED = {
    "verification_auc": "verification AUC",
    "verification_eer": "EER",
    "verification_tar_at_far_1pct": "TAR@FAR 1 %",
    "triplet_correct": "published triplet accuracy",
    "posture_correct": "posture accuracy",
    "ssim_predicted": "SSIM (predicted routing)",
    "ssim_oracle": "SSIM (oracle routing)",
    "psnr_predicted": "PSNR (predicted routing)",
    "lpips_predicted": "LPIPS (predicted routing)",
    "silhouette": "silhouette by identity",
    "davies_bouldin": "Davies-Bouldin term (identity)",
}


# ---- tables ----------------------------------------------------------------------------------


def eval_caption(root: Path, ks: list[int], models: list[str]) -> str:
    identities = sum(eval_values(root, models[0], "test.identities"))
    images = sum(eval_values(root, models[0], "test.images"))
    return (
        f"Test identities, {fold_words(ks)}: {identities} identities, {images} concealed probes. "
        f"From `{EVAL}/fold_K/<model>/metrics.json`."
    )


def results(root: Path) -> str:
    """Headline test metrics, one row per model."""
    ks, models = evaluated(root)
    rows = [
        [name] + [mean_sd(eval_values(root, m, TEST_METRICS[label])) for label in HEADLINE]
        for m, name in zip(models, model_names(models), strict=True)
    ]
    return markdown(["model", *HEADLINE], rows, eval_caption(root, ks, models))


def test_metrics(root: Path) -> str:
    """Every main test metric (rows) per model (columns)."""
    ks, models = evaluated(root)
    rows = [[label] + [mean_sd(eval_values(root, m, key)) for m in models] for label, key in TEST_METRICS.items()]
    return markdown(["metric", *model_names(models)], rows, eval_caption(root, ks, models))


def comparison_table(root: Path, only: str | None = None) -> str:
    """Per-identity differences (b − a) of the pairs `b_vs_a` in compare.json (all, or `only` one)."""
    data = read_json(root, COMPARE)
    pairs = [p for p in data if "_vs_" in p and (only is None or p == only)]
    if not pairs:
        raise TableError(f"'{COMPARE}' has no {only or 'comparisons'}")
    rows = []
    for pair in pairs:
        b, a = pair.split("_vs_")
        for column in [c for c in COMPARED if c in data[pair]]:
            keys = ("difference", "ci_low", "ci_high", "wilcoxon_p", "wilcoxon_method", "wilcoxon_p_holm")
            diff, low, high, p, method, holm_p = (value(data, f"{pair}.{column}.{k}", COMPARE) for k in keys)
            significant, detectable = (
                value(data, f"{pair}.{column}.{k}", COMPARE) for k in ("significant", "detectable")
            )
            rows.append(
                [f"{b} − {a}", COMPARED[column], signed(diff), f"{signed(low)} to {signed(high)}"]
                + [f"{number(p)} ({method})", number(holm_p), number(significant), f"±{number(detectable)}"]
            )
    n = value(data, f"{pairs[0]}.identities", COMPARE)
    caption = (
        f"Mean per-identity difference over {n} test identities (all folds run), 95 % bootstrap interval "
        "resampling identities, Wilcoxon signed-rank p on the differences rounded to 10 decimals, zeros dropped: "
        f"exact when their absolute values have no ties (it cannot go below {min(1.0, 2.0 / 2**n):.2g} with {n} "
        "identities), else the normal approximation with the tie correction; Holm p: adjusted over the metrics of "
        "each comparison. Significant: the "
        "interval excludes 0 and the Holm p < 0.05. Detectable: the smallest true difference this run finds with "
        "80 % probability (paired, p < 0.05), from the spread of the per-identity differences; a smaller effect "
        f"may exist unseen. From `{COMPARE}`."
    )
    header = ["comparison", "metric", "difference", "95 % interval", "Wilcoxon p", "Holm p", "significant"]
    header.append("detectable")
    return markdown(header, rows, caption)


def comparison(root: Path) -> str:
    """Every pair of models, from the compare stage."""
    return comparison_table(root)


def distillation(root: Path) -> str:
    """Student − baseline only: did distillation help?"""
    return comparison_table(root, "student_vs_baseline")


# the verification metrics the verdict rests on, and which sign is better for each
VERDICT_METRICS = {"verification_auc": ("identity AUC", 1), "verification_tar_at_far_1pct": ("TAR at FAR 1 %", 1)}


def verdict(root: Path) -> str:
    """ "Did distillation help?" in one paragraph from compare.json: yes when the student beats the
    baseline significantly (interval and Holm p) on a verification metric and is significantly
    worse on none, no otherwise; with the numbers it rests on and the teacher's lead left."""
    data = read_json(root, COMPARE)
    pair = "student_vs_baseline"

    def get(p: str, column: str, key: str):
        return value(data, f"{p}.{column}.{key}", COMPARE)

    better, worse, parts = [], [], []
    for column, (label, sign) in VERDICT_METRICS.items():
        diff, low, high = (get(pair, column, k) for k in ("difference", "ci_low", "ci_high"))
        if get(pair, column, "significant"):
            (better if diff * sign > 0 else worse).append(label)
        parts.append(
            f"{label} {signed(diff)} (95 % interval {signed(low)} to {signed(high)}, "
            f"Holm p {number(get(pair, column, 'wilcoxon_p_holm'))})"
        )
    answer = "**Yes**" if better and not worse else "**No**"
    n = value(data, f"{pair}.identities", COMPARE)
    text = (
        f"{answer}: student − baseline {'; '.join(parts)} over {n} test identities; a true AUC difference of "
        f"±{number(get(pair, 'verification_auc', 'detectable'))} would have been found with 80 % probability."
    )
    if "teacher_vs_student" in data:
        gap = [get("teacher_vs_student", c, "difference") for c in VERDICT_METRICS]
        text += (
            f" The teacher's lead over the student, which distillation did not transfer: {signed(gap[0])} AUC, "
            f"{signed(gap[1])} TAR at FAR 1 %."
        )
    return f"{text}\n\n_Generated from `{COMPARE}` (significant: interval excludes 0 and Holm p < 0.05)._"


def seed_claim_sentence(root: Path) -> str:
    """Whether the seed paper's separability claim holds, in words (thz.eval.seed_claim, as the report says it)."""
    data = read_json(root, COMPARE)
    text = seed_claim(value(data, "student_vs_baseline", COMPARE))
    return f"{text}\n\n_Generated from `{COMPARE}` by `thz.eval.seed_claim`._"


def mcnemar(root: Path) -> str:
    """Posture correctness image by image (exact McNemar test) for every pair."""
    data = read_json(root, COMPARE)
    rows = []
    for pair in [p for p in data if "_vs_" in p]:
        b, a = pair.split("_vs_")
        keys = (f"{b}_only_correct", f"{a}_only_correct", "images", "p_value", "significant")
        rows.append([f"{b} vs {a}"] + [number(value(data, f"{pair}.posture_mcnemar.{k}", COMPARE)) for k in keys])
    header = ["first vs second", "right only by the first", "right only by the second", "images", "exact p"]
    return markdown([*header, "significant"], rows, f"Posture of each concealed test image. From `{COMPARE}`.")


def tar_at_far(root: Path) -> str:
    """TAR at FAR 10 %, 1 % and 0.1 % per model and protocol, with intervals, from the compare stage."""
    data = read_json(root, COMPARE)
    present = value(data, "tar_at_far", COMPARE)
    models = [m for m in MODELS if m in present] + sorted(set(present) - set(MODELS))
    rows = [
        [name, label]
        + [tar_cell(value(data, f"tar_at_far.{m}.{protocol}.{key}", COMPARE), far) for key, far in FARS.items()]
        for m, name in zip(models, model_names(models), strict=True)
        for protocol, label in PROTOCOLS.items()
    ]
    n = value(data, f"tar_at_far.{models[0]}.probe_gallery.1pct.identities", COMPARE)
    folds_run = value(data, "cross_validation.folds_run", COMPARE)
    caption = (
        f"True accept rate at each false accept rate: mean over the {folds_run} folds run, 95 % bootstrap interval "
        f"resampling the {n} test identities within their fold (each resample's threshold set by its own impostor "
        "scores). Image level: every concealed probe against every unconcealed "
        "gallery image; enrollment: against each identity's template. Not measurable: a FAR below 1 / the impostor "
        f"comparisons of a fold, where no number is given. From `{COMPARE}`."
    )
    return markdown(["model", "protocol", *(f"FAR {far_label(far)}" for far in FARS.values())], rows, caption)


def pixel_baseline(root: Path) -> str:
    """What raw pixels achieve on the test identities (the floor every network must clear)."""

    def v(key: str) -> str:
        return mean_sd(pixel_values(root, key))

    rows = [
        ["verification, all pairs", "PCA (32, whitened) + cosine",
         f"AUC {v('verification.auc')}, EER {v('verification.eer')}, TAR@FAR 1 % {v('verification.tar_at_far_1pct')}"],
        ["verification, same-posture pairs only", "same",
         f"AUC {v('verification_same_posture.auc')}, EER {v('verification_same_posture.eer')}"],
        ["posture (concealed images)", "logistic regression on pixels",
         f"accuracy {v('posture.accuracy')}, macro-F1 {v('posture.macro_f1')}"],
        ["reconstruction", "the input as output", f"SSIM {v('reconstruction.ssim_identity')}"],
        ["reconstruction", "PCA (64) + ridge regression", f"SSIM {v('reconstruction.ssim_ridge')}"],
    ]  # fmt: skip
    identities, images = (sum(pixel_values(root, k)) for k in ("test_identities", "test_images"))
    caption = (
        f"Test identities, {fold_words(folds(root, PIXEL, '.json'))}: {identities} identities, {images} images "
        f"(probes and gallery). From `{PIXEL}/fold_K.json`."
    )
    return markdown(["task", "method", "result"], rows, caption)


def floors(root: Path) -> str:
    """The networks against the pixel floor, task by task."""
    ks, models = evaluated(root)
    tasks = (  # label, key in the pixel-baseline file, key in the evaluate stage's file
        ("verification AUC", "verification.auc", "verification.probe_gallery.auc"),
        ("EER", "verification.eer", "verification.probe_gallery.eer"),
        ("posture accuracy", "posture.accuracy", "posture.accuracy"),
        ("SSIM (predicted routing; floor: PCA ridge)", "reconstruction.ssim_ridge", "reconstruction.predicted.ssim"),
    )
    rows = [
        [label, mean_sd(pixel_values(root, pixel_key))] + [mean_sd(eval_values(root, m, key)) for m in models]
        for label, pixel_key, key in tasks
    ]
    caption = (
        f"Test identities; networks {fold_words(ks)}, pixel floor {fold_words(folds(root, PIXEL, '.json'))}. "
        f"From `{EVAL}/fold_K/<model>/metrics.json` and `{PIXEL}/fold_K.json`."
    )
    return markdown(["task", "pixel floor", *model_names(models)], rows, caption)


def data(root: Path) -> str:
    """What the scan stage read."""
    rel = "metrics/data.json"
    d = read_json(root, rel)
    keys = ("images", "concealed", "unconcealed", "identities", "exact_pairs", "with_visible", "problems")
    row = [number(value(d, k, rel)) for k in keys]
    return markdown([k.replace("_", " ") for k in keys], [row], f"From `{rel}` (written by `scan`).")


def split(root: Path) -> str:
    """Identities and images per part of the first fold."""
    rel = "metrics/split.json"
    d = read_json(root, rel)
    rows = [
        [part, number(value(d, f"n_identities.{part}", rel)), number(value(d, f"n_images.{part}", rel))]
        + [", ".join(value(d, part, rel))]
        for part in ("train", "val", "test")
    ]
    n = len(d.get("folds", [None]))
    where = "the only fold" if n == 1 else f"fold 0 of {n}; every fold's parts are under `folds`"
    return markdown(["part", "identities", "images", "names"], rows, f"From `{rel}` ({where}).")


def deploy_latency(root: Path) -> str:
    """A recorded measurement, not a pipeline result (python -m lab.bench.deploy --json ...)."""
    rel = f"{BENCH}/deploy.json"
    d = read_json(root, rel)
    batches = sorted(value(d, "engines", rel)[0]["ms_per_image"], key=int)
    names = {"torch-sparse": "PyTorch eager (one expert per image)", "torch-dense": "PyTorch, exported graph"}
    names["onnxruntime"] = "ONNX Runtime, exported graph"
    rows = [
        [
            names.get(e["engine"], e["engine"]),
            *(f"{e['ms_per_image'][b]:.2f}" for b in batches),
            f"{e['peak_rss_gb']:.2f}",
        ]
        for e in d["engines"]
    ]
    header = ["engine", *(f"ms per image, batch {b}" for b in batches), "peak memory (GB)"]
    caption = (
        f"{d['setting']} network; medians of {d['repeats']} after warm-up, each engine alone in its own process, "
        f"on a 2-core CPU with capability {d['cpu_capability']}, idle, {d['date']}. From `{rel}` "
        f"(`python -m lab.bench.deploy --json {rel}`)."
    )
    return markdown(header, rows, caption)


def visible_identity(root: Path) -> str:
    """The raw photos' identity floor (python -m lab.bench.visible_identity --json ...)."""
    rel = f"{BENCH}/visible_identity.json"
    d = read_json(root, rel)
    names = {
        "concealed_vs_unconcealed": "concealed photos against the unconcealed ones (the published teacher's pairing)",
        "concealed_vs_concealed": "concealed photos against each other",
        "unconcealed_vs_unconcealed": "unconcealed photos against each other (what the privileged teacher sees)",
    }
    rows = [[names.get(k, k), f"{v['mean']:.3f} ± {v['sd']:.3f}"] for k, v in value(d, "auc", rel).items()]
    caption = (
        f"Identity-level AUC of {d['bins_per_channel']}-bin RGB colour histograms matched by cosine similarity, test "
        f"identities of folds {', '.join(k.removeprefix('fold_') for k in d['folds'])} (mean ± sd over folds), "
        f"no learning. From `{rel}` (`python -m lab.bench.visible_identity --json {rel}`), {d['date']}."
    )
    return markdown(["photos", "AUC"], rows, caption)


def dvc_metrics_show(root: Path) -> str:
    """The real output of `dvc metrics show --md` on the summary files (DVC run in `root`): what a
    user sees, regenerated like every other table instead of pasted."""
    files = sorted(str(p.relative_to(root)) for p in (root / SUMMARY).glob("*.json"))
    if not files:
        raise TableError(f"no metrics files in '{SUMMARY}' (dvc repro compare writes them)")
    dvc = Path(sys.executable).with_name("dvc")
    command = [str(dvc) if dvc.is_file() else "dvc", "metrics", "show", "--md", *files]
    run = subprocess.run(command, cwd=root, capture_output=True, text=True, env=os.environ | {"DVC_NO_ANALYTICS": "1"})
    if run.returncode != 0:
        raise TableError(f"`dvc metrics show` failed in {root}: {run.stderr.strip() or run.stdout.strip()}")
    return (
        f"{run.stdout.strip()}\n\n_Output of `dvc metrics show --md {SUMMARY}/*.json`: a row per model, the pixel "
        "baseline and each pair of models (the pair rows hold the verdict: second model minus first)._"
    )


def _dvc_view(root: Path, view: str, what: str) -> str:
    """One command of lab/records/dvc_views.json with its output as it was printed."""
    rel = f"{RECORDS}/dvc_views.json"
    d = read_json(root, rel)
    entry = value(d, view, rel)
    return (
        f"{entry['output']}\n\n_Output of `{entry['command']}` ({what}), captured by `python -m lab.dvc_views "
        f"--exp {d['experiment']} --json {rel}` on commit {d['commit'][:7]}, {d['date']}._"
    )


def dvc_metrics_diff(root: Path) -> str:
    """`dvc metrics diff` between a commit and its experiment with one distillation weight changed."""
    return _dvc_view(root, "metrics_diff", "the summary rows the experiment changed")


def dvc_exp_show(root: Path) -> str:
    """`dvc exp show`, the verdict columns of HEAD and that experiment."""
    return _dvc_view(root, "exp_show", "the commit and the experiment, the student-minus-baseline verdict columns")


TABLES: dict[str, Callable[[Path], str]] = {
    "results": results,
    "test_metrics": test_metrics,
    "comparison": comparison,
    "distillation": distillation,
    "verdict": verdict,
    "seed_claim": seed_claim_sentence,
    "mcnemar": mcnemar,
    "tar_at_far": tar_at_far,
    "pixel_baseline": pixel_baseline,
    "floors": floors,
    "data": data,
    "split": split,
    "deploy_latency": deploy_latency,
    "visible_identity": visible_identity,
    "dvc_metrics_show": dvc_metrics_show,
    "dvc_metrics_diff": dvc_metrics_diff,
    "dvc_exp_show": dvc_exp_show,
    **BUDGET_TABLES,
    **SWEEP_TABLES,
}


# ---- blocks ----------------------------------------------------------------------------------


def table(name: str, root: Path) -> str:
    if name not in TABLES:
        raise TableError(f"unknown table '{name}'; the tables are: {', '.join(TABLES)}")
    return TABLES[name](root)


def _blocks(text: str, where: str) -> list[re.Match]:
    blocks = list(BLOCK.finditer(text))
    unclosed = sorted(set(OPENING.findall(text)) - {m["name"] for m in blocks})
    if unclosed:
        raise TableError(f"{where}: '<!-- table:{unclosed[0]} -->' has no '<!-- /table:{unclosed[0]} -->' after it")
    return blocks


def _body(name: str, root: Path) -> str:
    return f"\n{table(name, root)}\n\n"


def render(text: str, root: Path = Path("."), where: str = "markdown") -> str:
    """`text` with every table block refilled from the metrics files under `root`."""
    _blocks(text, where)
    return BLOCK.sub(lambda m: m.group(1) + _body(m["name"], root) + m.group(4), text)


def stale(text: str, root: Path = Path("."), where: str = "markdown") -> list[str]:
    """Names of the blocks in `text` whose contents differ from a fresh rendering."""
    return [m["name"] for m in _blocks(text, where) if m["body"] != _body(m["name"], root)]


def documents(root: Path) -> list[Path]:
    """README.md and docs/*.md under `root`."""
    return [p for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))] if p.is_file()]


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def check(root: Path, paths: list[Path] | None = None) -> list[str]:
    """One line per stale block: 'FILE: table 'NAME' differs from the metrics files'."""
    found = []
    for path in paths or documents(root):
        where = _shown(path, root)
        found += [f"{where}: table '{t}' differs from the metrics files" for t in stale(path.read_text(), root, where)]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a table is stale")
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root holding metrics/")
    parser.add_argument("files", nargs="*", type=Path, help="markdown files (default: README.md and docs/*.md)")
    args = parser.parse_args(argv)
    paths = args.files or documents(args.root)
    try:
        if args.check:
            differences = check(args.root, paths)
            for line in differences:
                print(line, file=sys.stderr)
            if differences:
                print("regenerate them with `python -m lab.tables`", file=sys.stderr)
            return 1 if differences else 0
        texts = {path: path.read_text() for path in paths}
        rendered = {path: render(text, args.root, _shown(path, args.root)) for path, text in texts.items()}
        for path, new in rendered.items():  # written only when every file rendered
            if new != texts[path]:
                write_text(path, new)
                print(f"updated {_shown(path, args.root)}")
    except TableError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
