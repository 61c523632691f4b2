"""DVC experiments read straight from their git refs (refs/exps/...): which exist, the commit each ran
on, and the evaluate stage's files of one model in one of them. No checkout is needed, so a sweep's
table can be made while the workspace holds something else."""

from __future__ import annotations

import io
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from thz.eval.compare import pool_folds


def baseline_of(ref: str) -> str:
    """The commit an experiment ran on: DVC names its refs refs/exps/<2 hex>/<38 hex>/<name>."""
    parts = ref.split("/")
    return parts[2] + parts[3] if len(parts) >= 5 else "?"


def experiment_refs(repo: Path) -> dict[str, str]:
    """Experiment name -> its newest git ref (refs/exps/.../<name>; by commit date, ties broken by
    the order git lists them)."""
    out = subprocess.run(
        ["git", "for-each-ref", "--sort=committerdate", "--format=%(refname)", "refs/exps"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {ref.rsplit("/", 1)[-1]: ref for ref in out if ref.count("/") >= 3}  # later (newer) refs win


def git_file(repo: Path, ref: str, path: str) -> str | None:
    result = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=repo, capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else None


def git_bytes(repo: Path, ref: str, path: str) -> bytes | None:
    result = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=repo, capture_output=True)
    return result.stdout if result.returncode == 0 else None


@dataclass
class Evaluated:
    """One variant's evaluations of one model, over the sweep's folds."""

    metrics: dict[int, dict]
    per_identity: pd.DataFrame
    per_sample: pd.DataFrame


def read_experiment(repo: Path, ref: str, model: str, folds: tuple[int, ...]) -> Evaluated | str:
    """The evaluate stage's files of `model` in experiment `ref`, or the reason they cannot be read."""
    metrics, identities, samples = {}, {}, {}
    for k in folds:
        base = f"metrics/eval/fold_{k}/{model}"
        texts = {
            name: git_file(repo, ref, f"{base}/{name}")
            for name in ("metrics.json", "per_identity.csv", "per_sample.csv")
        }
        missing = [name for name, text in texts.items() if text is None]
        if missing:
            return f"{ref} has no {base}/{missing[0]}"
        metrics[k] = json.loads(texts["metrics.json"])
        identities[k] = pd.read_csv(io.StringIO(texts["per_identity.csv"]))
        samples[k] = pd.read_csv(io.StringIO(texts["per_sample.csv"]))
    return Evaluated(metrics, pool_folds(identities, "identity"), pool_folds(samples, "path"))
