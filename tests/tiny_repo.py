"""A copy of this repository on a tiny parameter set (one epoch of a width-8 model on 32 px images
of 6 simulated identities, the student alone exported), for tests that run real DVC commands in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "simulate": {"identities": 6, "samples": 2, "image_size": 32, "visible_size": 32},
    "data": {"image_size": 32},
    "split": {"n_val_identities": 2, "n_test_identities": 2, "folds": 1, "run_folds": [0]},
    "model": {"width": 8, "embedding_hidden": 32, "embedding_dim": 16, "reduction": "pool"},
    "loss": {"lpips": 0.0},
    # fp32: precision auto picks bf16 only on CPUs with native bf16; tests compute the same everywhere
    "train": {"identities_per_batch": 2, "images_per_identity": 2, "warmup_epochs": 0.5, "precision": "fp32"},
    "budget": {"baseline": {"epochs": 1}, "teacher": {"epochs": 1}, "student": {"epochs": 1}},
}
# one ONNX export is enough in the tiny copy: each takes about 20 s (torch.export tracing)
EXPORTED = ("    foreach: [baseline, student]", "    foreach: [student]")


def dvc_env(**extra: str) -> dict[str, str]:
    """This environment for DVC and the stages, plus `extra` (e.g. THZ_RESUME="1")."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1", **extra)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]  # stages' `python`
    return env


def run(args, cwd: Path, **env: str) -> str:
    """Run a command in `cwd` (with `env` added to its environment); fail the test with its output
    unless it exits 0."""
    proc = subprocess.run(args, cwd=cwd, env=dvc_env(**env), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def commit_all(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", message], repo)


def _update(values: dict, changes: dict) -> None:
    """`values` with `changes` in place, section by section at any depth."""
    for key, value in changes.items():
        if isinstance(value, dict):
            _update(values[key], value)
        else:
            values[key] = value


def make_tiny_repo(dest: Path) -> Path:
    """The committed project files (git ls-files) copied into a fresh git repository at `dest`,
    without dvc.lock and metrics (as a fresh clone before its first repro), on the TINY params."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    for rel in ("dvc.lock", "metrics"):
        target = dest / rel
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    _update(params, TINY)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    pipeline = (dest / "dvc.yaml").read_text()
    assert pipeline.count(EXPORTED[0]) == 1, "dvc.yaml's export foreach changed: update tests/tiny_repo.py"
    (dest / "dvc.yaml").write_text(pipeline.replace(*EXPORTED))
    run(["git", "init", "-q"], dest)
    commit_all(dest, "tiny")
    return dest
