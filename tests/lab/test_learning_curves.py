"""Learning curves (lab/learning_curves.py): the AUC at given training seconds on hand-made curves,
trainings read from real git refs with a lost experiment or a lost file reported as missing, and
the table and figure made from the record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lab.learning_curves import Curve, at_seconds, auc_at, main, summarise_curves
from lab.sweep import read_sweep
from lab.sweep_tables import curves_table
from lab.table_parts import TableError
from tests.lab.test_sweep import git

SPEC = """
name: s
models: [baseline]
reference: default
folds: [0, 1]
variants:
  default: {}
  better: {loss.metric: cosface}
  lost: {loss.metric: arcface}
"""


def curve(auc: list[float], train_seconds: float, steps: tuple[float, ...] = (2, 4)) -> Curve:
    """A fold validated at `steps` of 4 steps (2 epochs) that took `train_seconds`."""
    return Curve(np.array(steps, float), np.array(auc), train_seconds, 4, 2, False, "AVX2")


def test_auc_between_validations_is_interpolated_on_the_seconds_axis():
    fold = curve([0.6, 0.8], 40)  # validations at 20 s and 40 s
    assert auc_at(fold, 10) == (None, False)  # nothing measured yet
    assert auc_at(fold, 20) == (0.6, False)
    assert auc_at(fold, 25) == (pytest.approx(0.65), False)
    assert auc_at(fold, 40) == (0.8, True)  # finished: its last value from then on
    assert auc_at(fold, 1000) == (0.8, True)


def test_the_mean_over_folds_counts_the_finished_and_needs_every_fold_validated():
    folds = {0: curve([0.6, 0.8], 40), 1: curve([0.7, 0.9], 60)}  # validations at 20, 40 s and 30, 60 s
    at_50 = at_seconds(folds, 50)  # fold 0 finished (0.8); fold 1 two thirds from 0.7 to 0.9
    assert at_50["mean"] == pytest.approx((0.8 + 0.7 + 0.2 * 20 / 30) / 2) and at_50["done"] == 1
    assert at_seconds(folds, 25) == {"mean": None, "sd": None, "done": 0}  # fold 1 first validates at 30 s


def write_training(repo: Path, fold: int, auc: list[float], train_seconds: float) -> None:
    """One fold's DVCLive log of the baseline: validations at steps 2 and 4 of 4."""
    folder = repo / f"metrics/train/fold_{fold}/baseline"
    (folder / "plots/metrics/val").mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{step}\t{value}\n" for step, value in zip((2, 4), auc, strict=True))
    (folder / "plots/metrics/val/auc.tsv").write_text("step\tauc\n" + rows)
    summary = {"train_seconds": train_seconds, "steps": 4, "cpu_capability": "AVX2", "execution": {"resume": 0}}
    (folder / "metrics.json").write_text(json.dumps(summary))


def commit_experiment(repo: Path, name: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", name)
    git(repo, "update-ref", f"refs/exps/ab/cdef0123/{name}", "HEAD")


@pytest.fixture
def repo(tmp_path) -> Path:
    """Experiments s-default (folds validated at 20, 40 s and 30, 60 s) and s-better, which lost fold 1's
    validation log; s-lost never ran."""
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "t@t")
    git(tmp_path, "config", "user.name", "t")
    (tmp_path / "spec.yaml").write_text(SPEC)
    (tmp_path / "params.yaml").write_text("budget:\n  baseline: {epochs: 2, pretrain_epochs: 0, heads_epochs: 0}\n")
    write_training(tmp_path, 0, [0.6, 0.8], 40)
    write_training(tmp_path, 1, [0.7, 0.9], 60)
    commit_experiment(tmp_path, "s-default")
    git(tmp_path, "rm", "-q", "metrics/train/fold_1/baseline/plots/metrics/val/auc.tsv")
    commit_experiment(tmp_path, "s-better")
    return tmp_path


def test_the_budgets_are_shares_of_the_reference_time_and_the_missing_are_named(repo):
    record = summarise_curves(read_sweep(repo / "spec.yaml"), "baseline", repo, shares=(0.5, 1.0))
    assert record["budgets"] == [{"share": 0.5, "seconds": 25.0}, {"share": 1.0, "seconds": 50.0}]
    default = record["variants"]["default"]
    assert default["train_seconds"] == {"mean": 50.0, "sd": pytest.approx(np.std([40, 60], ddof=1))}
    assert default["seconds_per_epoch"]["mean"] == 25.0 and default["epochs"] == [2]
    assert default["at_shares"][0]["mean"] is None  # fold 1 first validates at 30 s
    assert default["at_shares"][1]["mean"] == pytest.approx((0.8 + 0.7 + 0.2 * 20 / 30) / 2)
    assert default["last"]["mean"] == pytest.approx(0.85)
    assert [row["seconds"] for row in default["curve"]] == [25.0, 50.0]
    assert set(record["variants"]) == {"default"}  # never a variant with a fold left out
    assert "fold_1/baseline/plots/metrics/val/auc.tsv" in record["missing"]["better"]
    assert "no experiment named 's-lost'" in record["missing"]["lost"]
    assert record["cpu_capability"] == "AVX2"


def test_without_the_reference_there_are_no_budgets(repo):
    (repo / "spec.yaml").write_text(SPEC.replace("reference: default", "reference: lost"))
    record = summarise_curves(read_sweep(repo / "spec.yaml"), "baseline", repo)
    assert record["budgets"] == [] and record["variants"]["default"]["at_shares"] == []


def test_the_table_and_figure_from_the_command(repo, monkeypatch):
    monkeypatch.chdir(repo)
    rel = "lab/records/sweeps/s_curves.json"
    with pytest.raises(TableError, match="not found"):
        curves_table(repo, "s_curves")
    assert main(["spec.yaml", "--json", rel, "--png", "curves.png"]) == 1  # a variant is missing
    assert (repo / "curves.png").read_bytes().startswith(b"\x89PNG")
    text = curves_table(repo, "s_curves")
    assert "| val AUC at 50 % of `default`'s time (25 s) | val AUC at 100 % of `default`'s time (50 s) |" in text
    assert "| `default` | 2 | 50 ± 14 | 25.0 ± 7.1 | – | – | 0.817 ± 0.024 (1 done) | 0.850 ± 0.071 |" in text
    assert "| `better` | **missing**: " in text and "| `lost` | **missing**: no experiment named 's-lost'" in text
    assert "--png curves.png" in text and "CPU AVX2" in text
