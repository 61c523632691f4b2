"""Sweeps: the spec, experiments read from real git refs (refs/exps/...), the paired table, and a
lost experiment reported as missing rather than skipped."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lab.sweep import copy_figures, read_sweep, summarise
from lab.sweep_tables import control_table, sweep_table, twin_weight_table
from lab.table_parts import TableError
from thz.config import ConfigError

SPEC = """
name: s
models: [baseline]
reference: default
folds: [0, 1]
variants:
  default: {}
  better: {loss.instance: 1.0}
  lost: {loss.temperature: 0.2}
notes:
  better: the twin term added
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def write_evaluations(repo: Path, auc_shift: float, model: str = "baseline") -> None:
    """Two folds of 4 identities x 3 images each, one model's evaluate-stage files."""
    rng = np.random.default_rng(0)
    for k in (0, 1):
        folder = repo / f"metrics/eval/fold_{k}/{model}"
        folder.mkdir(parents=True, exist_ok=True)
        ids = [f"id{k}{i}" for i in range(4)]
        auc = rng.uniform(0.5, 0.8, 4) + auc_shift + 0.01 * np.arange(4)  # noisy, every identity shifted
        pd.DataFrame(
            {
                "identity": ids,
                "verification_auc": auc,
                "verification_eer": 1 - auc,
                "verification_tar_at_far_1pct": auc / 4,
                "triplet_correct": np.full(4, 0.8),
                "posture_correct": np.ones(4),
                "ssim_predicted": np.full(4, 0.6),
            }
        ).to_csv(folder / "per_identity.csv", index=False)
        pd.DataFrame({"path": [f"{i}_{j}.png" for i in ids for j in range(3)], "posture_correct": [True] * 12}).to_csv(
            folder / "per_sample.csv", index=False
        )
        metrics = {
            "verification": {"probe_gallery": {"auc": float(auc.mean()), "eer": 0.3, "tar_at_far_1pct": 0.1}},
            "posture": {"accuracy": 1.0},
            "reconstruction": {"predicted": {"ssim": 0.6}},
        }
        (folder / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture
def repo(tmp_path) -> Path:
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "t@t")
    git(tmp_path, "config", "user.name", "t")
    (tmp_path / "spec.yaml").write_text(SPEC)
    for name, shift in (("s-default", 0.0), ("s-better", 0.1)):
        write_evaluations(tmp_path, shift)
        git(tmp_path, "add", "-A")
        git(tmp_path, "commit", "-qm", name)
        git(tmp_path, "update-ref", f"refs/exps/ab/cdef0123/{name}", "HEAD")
    return tmp_path


def test_spec_settings_and_targets(repo):
    sweep = read_sweep(repo / "spec.yaml")
    assert sweep.settings("better") == ["split.run_folds=[0, 1]", "loss.instance=1.0"]
    assert sweep.targets("better") == ["evaluate@0-baseline", "evaluate@1-baseline"]
    assert sweep.experiment("lost") == "s-lost"
    (repo / "based.yaml").write_text(
        SPEC.replace("variants:", "base: {model.dropout: 0.5, loss.instance: 0.0}\nvariants:")
    )
    based = read_sweep(repo / "based.yaml")
    assert based.settings("better") == ["split.run_folds=[0, 1]", "model.dropout=0.5", "loss.instance=1.0"]


def test_summary_pairs_each_variant_with_the_reference_and_names_the_missing(repo):
    result = summarise(read_sweep(repo / "spec.yaml"), repo)
    assert set(result["variants"]) == {"default", "better"}
    assert "no experiment named 's-lost'" in result["missing"]["lost"]
    better = result["variants"]["better"]["models"]["baseline"]
    assert better["identities"] == 8
    auc = better["vs_reference"]["verification_auc"]
    assert auc["difference"] == pytest.approx(0.1) and auc["ci_low"] == pytest.approx(0.1)
    assert better["vs_reference"]["verification_eer"]["difference"] == pytest.approx(-0.1)
    assert better["vs_reference"]["ssim_predicted"]["difference"] == 0.0
    assert (
        better["folds"]["identity AUC"]["mean"]
        > result["variants"]["default"]["models"]["baseline"]["folds"]["identity AUC"]["mean"]
    )
    assert "triplet AUC" not in better["folds"]  # not in these metrics files: left out, not invented
    assert "vs_reference" not in result["variants"]["default"]["models"]["baseline"]


def test_an_experiment_without_a_fold_is_missing_with_the_file_named(repo):
    git(repo, "rm", "-q", "-r", "metrics/eval/fold_1")
    git(repo, "commit", "-qm", "lost a fold")
    git(repo, "update-ref", "refs/exps/ab/cdef0123/s-lost", "HEAD")
    result = summarise(read_sweep(repo / "spec.yaml"), repo)
    assert "metrics/eval/fold_1/baseline/metrics.json" in result["missing"]["lost"]


def test_table_shows_every_variant_and_the_missing_one(repo):
    result = summarise(read_sweep(repo / "spec.yaml"), repo)
    result.update(spec="spec.yaml", cpu_capability="AVX2", date="2026-11-30")
    (repo / "lab/records/sweeps").mkdir(parents=True)
    (repo / "lab/records/sweeps/s.json").write_text(json.dumps(result))
    text = sweep_table(repo, "s", "baseline")
    assert "| `default` |" in text and "| `better` |" in text and "`lost` | **missing**" in text
    assert "**+0.100 [+0.100, +0.100]" in text  # a significant difference is bold
    assert "`better`: the twin term added" in text
    with pytest.raises(TableError, match="no model 'student'"):
        sweep_table(repo, "s", "student")
    # a sweep with nothing finished yet is a table of missing rows, not an error
    nothing = {**result, "variants": {}, "missing": {"default": "no experiment named 's-default'"}}
    (repo / "lab/records/sweeps/s.json").write_text(json.dumps(nothing))
    assert "`default` | **missing**: no experiment named 's-default'" in sweep_table(repo, "s", "baseline")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("name: s\nmodels: [baseline]\n", "missing 'reference'"),
        (SPEC.replace("reference: default", "reference: x"), "'x'"),
        (SPEC + "controls: {nobody: s-default}\n", r"controls name variants that do not exist: \['nobody'\]"),
    ],
)
def test_a_bad_spec_names_the_file_and_the_key(tmp_path, text, match):
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError, match=match):
        read_sweep(tmp_path / "bad.yaml")


def test_a_reference_model_is_evaluated_in_the_reference_variant_only_and_compared_with(repo):
    """The distillation sweep: every variant's student against the reference variant's baseline."""
    text = SPEC.replace("reference: default", "reference: default\nreference_model: teacher")
    (repo / "spec.yaml").write_text(text)
    sweep = read_sweep(repo / "spec.yaml")
    assert sweep.models_of("default") == ("teacher", "baseline") and sweep.models_of("better") == ("baseline",)
    assert "evaluate@1-teacher" in sweep.targets("default") and "evaluate@1-teacher" not in sweep.targets("better")
    # the reference variant has no teacher evaluations in this repo: it is reported missing, by file
    result = summarise(sweep, repo)
    assert "fold_0/teacher/metrics.json" in result["missing"]["default"]
    assert "vs_reference" not in result["variants"]["better"]["models"]["baseline"]  # nothing to compare with
    # now with the teacher evaluated in the reference variant (0.05 below its baseline)
    git(repo, "checkout", "-q", "refs/exps/ab/cdef0123/s-default")
    write_evaluations(repo, -0.05, model="teacher")
    git(repo, "add", "-A")
    subprocess.run(
        ["git", "commit", "-qm", "teacher too"],
        cwd=repo,
        check=True,
        env={**os.environ, "GIT_COMMITTER_DATE": "2099-01-01T00:00:00"},  # newer beyond doubt
    )
    git(repo, "update-ref", "refs/exps/aa/cdef0000/s-default", "HEAD")  # sorts first by name: the date decides
    result = summarise(sweep, repo)
    assert set(result["missing"]) == {"lost"}
    for variant, shift in (("default", 0.05), ("better", 0.15)):
        auc = result["variants"][variant]["models"]["baseline"]["vs_reference"]["verification_auc"]
        assert auc["difference"] == pytest.approx(shift)


def test_a_variant_held_against_a_control_experiment_gets_its_own_paired_row(repo):
    """A variant that changes two things is held against another sweep's experiment that changes only
    one: its differences to that experiment, per identity; a control not found is named missing."""
    write_evaluations(repo, 0.03)  # another sweep's experiment, 0.07 below `better`
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "control")
    git(repo, "update-ref", "refs/exps/ab/cdef0123/other-control", "HEAD")
    (repo / "spec.yaml").write_text(SPEC + "controls: {better: other-control, default: other-lost}\n")
    result = summarise(read_sweep(repo / "spec.yaml"), repo)
    control = result["variants"]["better"]["models"]["baseline"]["vs_control"]
    assert control["experiment"] == "other-control" and control["model"] == "baseline"
    assert control["differences"]["verification_auc"]["difference"] == pytest.approx(0.07)
    assert result["variants"]["better"]["models"]["baseline"]["vs_reference"]["verification_auc"][
        "difference"
    ] == pytest.approx(0.1)  # the reference comparison is untouched
    assert (
        "no experiment named 'other-lost'"
        in result["variants"]["default"]["models"]["baseline"]["vs_control"]["missing"]
    )
    result.update(spec="spec.yaml", cpu_capability="AVX2", date="2026-12-03")
    (repo / "lab/records/sweeps").mkdir(parents=True)
    (repo / "lab/records/sweeps/s.json").write_text(json.dumps(result))
    text = control_table(repo, "s", "baseline")
    assert "| `better` | baseline of `other-control` (" in text and "| **+0.070 [+0.070, +0.070]" in text
    assert "| `default` | baseline of `other-lost` | **missing**: no experiment named 'other-lost'" in text
    (repo / "spec.yaml").write_text(SPEC)
    plain = summarise(read_sweep(repo / "spec.yaml"), repo)
    (repo / "lab/records/sweeps/s.json").write_text(json.dumps({**plain, "spec": "spec.yaml"}))
    with pytest.raises(TableError, match="no baseline against a control"):
        control_table(repo, "s", "baseline")


def test_figures_of_the_first_fold_are_copied_from_each_experiment(tmp_path):
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "t@t")
    git(tmp_path, "config", "user.name", "t")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.replace("folds: [0, 1]", "folds: [0, 1]\nfigures: [reconstruction_grid.png]"))
    grids = {}
    for name in ("s-default", "s-better"):
        write_evaluations(tmp_path, 0.0)
        grids[name] = b"\x89PNG\r\n\x1a\n" + name.encode() + bytes(range(256))  # binary, not text
        (tmp_path / "metrics/eval/fold_0/baseline/reconstruction_grid.png").write_bytes(grids[name])
        git(tmp_path, "add", "-A")
        git(tmp_path, "commit", "-qm", name)
        git(tmp_path, "update-ref", f"refs/exps/ab/cdef0123/{name}", "HEAD")
    sweep = read_sweep(spec)
    written = copy_figures(sweep, tmp_path, ["default", "better"])
    grid = "baseline_fold0_reconstruction_grid.png"
    assert written == {v: {"baseline": [f"lab/records/sweeps/s/{v}/{grid}"]} for v in ("default", "better")}
    for variant in ("default", "better"):
        assert (tmp_path / written[variant]["baseline"][0]).read_bytes() == grids[f"s-{variant}"]


def test_the_twin_weight_table_orders_weights_by_value_and_ends_with_the_published_objective(tmp_path):
    with pytest.raises(TableError, match="twin_weight.json' not found"):
        twin_weight_table(tmp_path)
    row = lambda x: {m: {"mean": x, "sd": 0.01} for m in ("identity_auc", "tar_at_far_1pct", "triplet_auc", "rank1")}  # noqa: E731
    weights = {w: row(x) for w, x in (("0", 0.8), ("0.5", 0.7), ("1e+06", 0.6), ("2", 0.65))}
    record = {"model": "baseline", "source": "twin_head-x", "folds": [0, 1], "date": "2026-11-30"}
    (tmp_path / "lab/records/sweeps").mkdir(parents=True)
    (tmp_path / "lab/records/sweeps/tw.json").write_text(
        json.dumps({**record, "weights": {"val": weights, "test": weights}})
    )
    published = {"identity AUC": 0.55, "TAR@FAR 1 %": 0.05, "triplet AUC": 0.995, "rank-1": 0.96}
    folds = {k: {"mean": v, "sd": 0.0} for k, v in published.items()}
    sweep = {"variants": {"pub": {"models": {"baseline": {"folds": folds}}}}}
    (tmp_path / "lab/records/sweeps/v.json").write_text(json.dumps(sweep))
    lines = twin_weight_table(tmp_path, ("v", "pub"), "tw").splitlines()
    labels = [line.split(" | ")[0] for line in lines[2:7]]
    assert labels == [
        "| 0 (identity head alone)",
        "| 0.5",
        "| 2",
        "| 10⁶ (twin head alone)",
        "| published objective (`pub`)",
    ]
    assert "| 0.995 ± 0.000 |" in lines[6] and lines[3].count("0.700 ± 0.010") == 6  # 4 test and 2 val columns
