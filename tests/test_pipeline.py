"""A real `dvc repro` of the pipeline on a tiny parameter set (tests/tiny_repo.py), in a temporary
copy of the repository. The first run (every stage but the ONNX export) is in the fast tier; the
others (the export, experiments, a folder of real-format images, cross-validation) are marked slow."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from tests.conftest import write_dataset
from tests.test_metrics_files import MAX_COLUMNS, MAX_FILES, problems, summary_shape
from tests.tiny_repo import commit_all, make_tiny_repo, run

# every stage but the export: nothing depends on it, and its torch.export tracing (about 30 s) would
# be a tenth of the fast tier; the slow tier runs it (test_the_export_stage_...)
BUT_EXPORT = ("compare", "plot_data")
NOT_EXPORTED = "export@student"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_tiny_repo(tmp_path / "repo")


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory) -> Path:
    """A tiny repository after `dvc repro` of every stage but the ONNX export (shared by the tests
    that only read it; the slow tier's export test then runs the export, the experiments test last)."""
    repo = make_tiny_repo(tmp_path_factory.mktemp("reproduced") / "repo")
    run(["dvc", "repro", *BUT_EXPORT], repo)
    return repo


def _key_paths(value, prefix="") -> set[str]:
    if not isinstance(value, dict):
        return {prefix.rstrip(".")}
    return {p for k, v in value.items() if k != "lpips_missing" for p in _key_paths(v, f"{prefix}{k}.")}


def _finite_numbers(value) -> list[float]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _finite_numbers(v)]
    if isinstance(value, list):
        return [x for v in value for x in _finite_numbers(v)]
    return [value] if isinstance(value, int | float) and not isinstance(value, bool) else []


def _last_logged(tsv: Path) -> float:
    """The last value of a DVCLive series (step, value[, timestamp])."""
    return float(tsv.read_text().splitlines()[-1].split("\t")[1])


def _trained(log: str) -> list[str]:
    """The training stages a dvc log says it ran, in order."""
    return re.findall(r"Running stage '(train_[a-z]+@\d+)'", log)


def _check_plots_page(repo: Path) -> None:
    """`dvc plots show` with the offline template: every plot on the page, no CDN script."""
    for name in ("vega", "vega-lite", "vega-embed"):
        (repo / f"{name}.min.js").write_text(f"/* stand-in for {name} */")
    libraries = [str(repo / f"{name}.min.js") for name in ("vega", "vega-lite", "vega-embed")]
    run([sys.executable, "-m", "lab.plots_template", *libraries, "--out", "offline.html"], repo)
    run(["dvc", "plots", "show", "--html-template", "offline.html", "-o", "plots_page"], repo)
    page = (repo / "plots_page" / "index.html").read_text()
    assert "/* stand-in for vega-embed */" in page and "cdn.jsdelivr" not in page
    pooled = ("test_roc", "test_roc_log_far", "test_det", "test_posture_confusion", "test_ssim_per_posture")
    pooled += ("validation_auc", "validation_ssim")
    for plot in (*pooled, "embedding_map", "contact_sheet"):
        assert plot in page, plot
    for model in ("baseline", "teacher", "student"):  # every model's line in the overlays
        assert f"{model}/validation.csv" in page and f"{model}/roc.csv" in page and f"{model}/det.csv" in page, model
    validation = pd.read_csv(repo / "metrics/plots/student/validation.csv")
    live = pd.read_csv(repo / "metrics/train/fold_0/student/plots/metrics/val/auc.tsv", sep="\t")
    assert validation.step.tolist() == live.step.tolist()  # one fold: its own curve
    assert validation.auc.tolist() == pytest.approx(live.auc.tolist())
    assert len(list((repo / "plots_page" / "static").glob("*.png"))) >= 7  # contact sheet + 2 per model


def test_repro_runs_every_stage_but_the_export_then_has_nothing_to_do(reproduced: Path):
    repo = reproduced
    data = json.loads((repo / "metrics/data.json").read_text())
    assert data["images"] == 6 * 5 * 2 * 2 and data["identities"] == 6 and data["problems"] == 0
    split = json.loads((repo / "metrics/split.json").read_text())
    assert sorted(split["train"] + split["val"] + split["test"]) == [f"s{i:02d}" for i in range(1, 7)]
    baseline = json.loads((repo / "metrics/pixel_baseline/fold_0.json").read_text())
    numbers = _finite_numbers(baseline)
    assert numbers and all(math.isfinite(x) for x in numbers) and "auc" in baseline["verification"]
    triplets = pd.read_csv(repo / "data/split/fold_0/train.csv")
    assert list(triplets.columns) == [
        "anchor",
        "positive",
        "negative",
        "visible_concealed",
        "visible_unconcealed",
        "visible_negative",
    ]
    assert (repo / "metrics/contact_sheet.png").stat().st_size > 1000
    for variant in ("baseline", "teacher", "student"):
        live = repo / f"metrics/train/fold_0/{variant}"
        summary = json.loads((live / "metrics.json").read_text())
        model = repo / "models" / "fold_0" / variant
        assert (model / "best.pt").is_file() and (model / "last.pt").is_file()
        last = torch.load(model / "last.pt", weights_only=True)
        assert summary["step"] == summary["steps"] == last["step"] and "best/ssim" in summary, variant
        # what DVCLive logged last is the last validation of the run, as last.pt records it
        logged = {p.stem: _last_logged(p) for p in (live / "plots/metrics/val").glob("*.tsv")}
        assert logged == pytest.approx(last["metrics"]), variant
        assert math.isfinite(_last_logged(live / "plots/metrics/train/loss.tsv")), variant
    assert (live / "plots/metrics/train/distill_rkd_angle.tsv").is_file()  # the student's terms are logged
    evaluated = {
        v: json.loads((repo / f"metrics/eval/fold_0/{v}/metrics.json").read_text())
        for v in ("baseline", "teacher", "student")
    }
    keys = {v: _key_paths(m) for v, m in evaluated.items()}
    assert keys["baseline"] == keys["teacher"] == keys["student"]  # `dvc metrics diff` lines them up
    assert {"verification.probe_gallery.auc", "posture.macro_f1", "reconstruction.oracle.ssim"} <= keys["student"]
    reconstruction = evaluated["student"]["reconstruction"]
    assert ("lpips_missing" in reconstruction) != ("lpips" in reconstruction["oracle"])  # a value or a reason
    per_identity = pd.read_csv(repo / "metrics/eval/fold_0/student/per_identity.csv")
    assert sorted(per_identity.identity) == sorted(split["test"])
    compare = json.loads((repo / "metrics/compare.json").read_text())
    pairs = {"student_vs_baseline", "teacher_vs_baseline", "teacher_vs_student"}
    assert set(compare) == pairs | {"cross_validation", "tar_at_far"}
    for protocol in ("probe_gallery", "enrollment"):  # one fold: the mean is its measured TAR, or None
        for key in ("10pct", "1pct"):
            measured = evaluated["student"]["verification"][protocol].get(f"tar_at_far_{key}")
            assert compare["tar_at_far"]["student"][protocol][key]["mean"] == pytest.approx(measured), (protocol, key)
    assert compare["cross_validation"]["folds_run"] == 1 and compare["student_vs_baseline"]["identities"] == 2
    assert "wilcoxon_p" in compare["student_vs_baseline"]["verification_auc"]
    verdict = json.loads((repo / "metrics/summary/student_vs_baseline.json").read_text())
    assert verdict["auc_diff"] == compare["student_vs_baseline"]["verification_auc"]["difference"]
    assert problems(repo) == []  # no list value or dotted key in any metrics file the repro wrote
    files, widest, union = summary_shape(repo)
    assert len(files) <= MAX_FILES and widest <= 30 and union <= MAX_COLUMNS, (files, widest, union)
    assert "auc_diff" in run(["dvc", "metrics", "show"], repo)
    # DVCLive's log is not git-ignored (cache: false): a commit keeps it for `dvc exp show` on a fresh clone
    ignored = run(["git", "status", "--porcelain", "--ignored", "-uall", "metrics/train"], repo)
    assert "?? metrics/train/fold_0/student/metrics.json" in ignored and "!!" not in ignored, ignored
    page = (repo / "metrics/report/report.html").read_text()
    assert "data:image/png;base64," in page and "<script" not in page
    threshold = evaluated["student"]["verification"]["probe_gallery"]["at_val_threshold"]["threshold"]
    probe = pd.read_csv(repo / "metrics/eval/fold_0/student/per_sample.csv").path[0]
    # the checkpoint itself decides with the threshold evaluate recorded for its bytes
    verdict = run(
        [sys.executable, "-m", "thz.predict", "--model", "models/fold_0/student/best.pt", "--verify", probe, probe],
        repo,
    )
    assert f"score 1.0000, threshold {threshold:.4f}: same person" in verdict
    _check_plots_page(repo)
    again = run(["dvc", "repro", *BUT_EXPORT], repo)
    assert "Data and pipelines are up to date" in again
    assert set(json.loads(run(["dvc", "status", "--json"], repo))) == {NOT_EXPORTED}  # all else is current
    _check_lpips_weights_are_an_input(repo)


@pytest.mark.slow
def test_the_export_stage_writes_an_onnx_model_that_decides_as_its_checkpoint(reproduced: Path):
    repo = reproduced
    out = run(["dvc", "repro"], repo)
    assert re.findall(r"Running stage '([^']+)'", out) == [NOT_EXPORTED], out  # nothing else re-runs
    card = json.loads((repo / "models/fold_0/student.json").read_text())  # exported, checked inside the stage
    assert (repo / "models/fold_0/student.onnx").stat().st_size > 10_000
    assert card["parity"]["posture_agreement"] == 1.0 and card["parity"]["images"] == 2 * 5 * 2
    evaluated = json.loads((repo / "metrics/eval/fold_0/student/metrics.json").read_text())
    threshold = evaluated["verification"]["probe_gallery"]["at_val_threshold"]["threshold"]
    assert card["threshold"]["value"] == threshold
    assert not (repo / "models/fold_0/baseline.onnx").exists()  # the tiny copy exports the student only
    probe = pd.read_csv(repo / "metrics/eval/fold_0/student/per_sample.csv").path[0]
    verdict = run(
        [sys.executable, "-m", "thz.predict", "--onnx", "models/fold_0/student.onnx", "--verify", probe, probe], repo
    )
    assert f"score 1.0000, threshold {threshold:.4f}: same person" in verdict
    assert "Data and pipelines are up to date" in run(["dvc", "repro"], repo)


def _check_lpips_weights_are_an_input(repo: Path) -> None:
    """LPIPS's VGG16 file in data/weights changes what training and evaluation compute, so adding
    it re-runs exactly those stages (then it is removed again: the repository is shared)."""
    weights = repo / "data" / "weights" / "vgg16-397923af.pth"
    weights.write_bytes(b"stand-in: dvc status hashes the bytes, it does not load them")
    try:
        changed = json.loads(run(["dvc", "status", "--json"], repo))
    finally:
        weights.unlink()
    assert set(changed) == {
        NOT_EXPORTED,  # never run in the fast tier's copy
        "train_baseline@0",
        "train_teacher@0",
        "train_student@0",
        *(f"evaluate@0-{m}" for m in ("baseline", "teacher", "student")),
    }, changed
    assert {"changed deps": {"data/weights": "modified"}} in changed["train_student@0"]


@pytest.mark.slow
def test_an_experiment_reruns_only_the_stages_whose_params_changed(reproduced: Path):
    commit_all(reproduced, "reproduced")  # the results in git, as after `make repro` and a commit
    exp = run(["dvc", "exp", "run", "-S", "distill.rkd_angle=0"], reproduced)
    assert _trained(exp) == ["train_student@0"], exp
    _check_metrics_diff_fits_a_screen(reproduced)
    exp = run(["dvc", "exp", "run", "-S", "budget.student.epochs=2"], reproduced)  # its budget, no other model's
    assert _trained(exp) == ["train_student@0"], exp


def _check_metrics_diff_fits_a_screen(repo: Path, folds: int = 5, screen: int = 60) -> None:
    """`dvc metrics diff` after a change to one distillation weight: the summary files' rows and a
    few per retrained fold (DVCLive's summary), so that at the default's five folds it stays within a
    screen, the student-minus-baseline verdict among them."""
    diff, _ = json.JSONDecoder().raw_decode(run(["dvc", "metrics", "diff", "--json"], repo))
    per_fold = {path: len(rows) for path, rows in diff.items() if path.startswith("metrics/train/")}
    summary = sum(len(rows) for path, rows in diff.items() if not path.startswith("metrics/train/"))
    assert set(per_fold) == {"metrics/train/fold_0/student/metrics.json"}, diff.keys()
    assert summary + folds * max(per_fold.values()) <= screen, diff
    assert "auc_diff" in diff["metrics/summary/student_vs_baseline.json"], diff


@pytest.mark.slow
def test_repro_on_a_folder_of_real_format_images(repo: Path, tmp_path: Path):
    folder = tmp_path / "real"
    write_dataset(folder / "thz", identities=("p1", "p2", "p3", "p4", "p5", "p6"), size=32, nested=True)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"].update(source="folder", dir=str(folder / "thz"))
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = run(["dvc", "repro", "train_baseline@0"], repo)  # THz only: the teacher needs visible images
    assert "simulation skipped" in out
    assert sorted(p.name for p in (repo / "data/simulated/thz").iterdir()) == [".skipped", ".written-by-simulate"]
    manifest = pd.read_csv(repo / "data/manifest.csv", dtype=str)
    assert len(manifest) == 6 * 5 * 2 * 2 and set(manifest.identity) == {f"p{i}" for i in range(1, 7)}
    assert manifest.visible.isna().all()  # the simulated visible folder is empty in this mode
    assert "val" in pd.read_csv(repo / "data/split/fold_0/images.csv").split.unique()


@pytest.mark.slow
def test_cross_validation_trains_and_evaluates_every_fold_and_pools_them(repo: Path):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["split"].update(folds=3, run_folds=[0, 1, 2])
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    log = run(["dvc", "repro"], repo)
    assert sorted(_trained(log)) == sorted(
        f"train_{v}@{k}" for v in ("baseline", "teacher", "student") for k in range(3)
    )
    split = json.loads((repo / "metrics/split.json").read_text())
    tested = [sorted(fold["test"]) for fold in split["folds"]]
    for k, identities in enumerate(tested):
        per_identity = pd.read_csv(repo / f"metrics/eval/fold_{k}/student/per_identity.csv")
        assert sorted(per_identity.identity) == identities  # each fold is scored on its own test identities
    compare = json.loads((repo / "metrics/compare.json").read_text())
    assert compare["student_vs_baseline"]["identities"] == 6  # every identity, pooled over the folds
    cv = compare["cross_validation"]
    assert cv["folds"] == cv["folds_run"] == 3
    aucs = [json.loads((repo / f"metrics/eval/fold_{k}/student/metrics.json").read_text()) for k in range(3)]
    aucs = [m["verification"]["probe_gallery"]["auc"] for m in aucs]
    assert cv["student"]["auc"]["mean"] == pytest.approx(sum(aucs) / 3)
    assert cv["student"]["auc"]["min"] == pytest.approx(min(aucs))
    pooled = pd.read_csv(repo / "metrics/report/per_identity.csv")
    assert pooled.groupby("model").identity.apply(sorted).tolist() == [[f"s{i:02d}" for i in range(1, 7)]] * 3
    assert "Cross-validation over 3 folds" in (repo / "metrics/report/report.md").read_text()
