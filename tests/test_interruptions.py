"""Interrupted stages, on the real stage in a tiny copy of the repository: in training, Ctrl-C ends
with one line saying how to resume, and that resume and `dvc commit` version exactly the weights of
an uninterrupted run and leave every other stage up to date (resuming is no param); a kill -9
followed by the same resume leaves no stray file in the DVC output; a kill -9 of an evaluation
leaves its output folder as the previous evaluation or the new one, whole."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from tests.tiny_repo import dvc_env, make_tiny_repo, run
from thz.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

STAGE = [sys.executable, "-m", "stages.train", "--variant", "baseline", "--images", "data/split/fold_0/images.csv"]
OUT = ["--out", "models/fold_0/baseline", "--live", "metrics/train/fold_0/baseline"]


def _repo(tmp_path: Path, name: str, epochs: int = 1, **train) -> Path:
    """A tiny repository after `dvc repro split`, the baseline's budget `epochs` (the tiny one's by
    default), `train` in train.*."""
    repo = make_tiny_repo(tmp_path / name)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["budget"]["baseline"]["epochs"] = epochs
    params["train"].update(train)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro", "split"], repo)
    return repo


def _start(repo: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*STAGE, *OUT], cwd=repo, env=dvc_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.is_file():
        assert proc.poll() is None, f"the stage ended before writing {path}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_ctrl_c_ends_with_one_line_saying_where_the_checkpoint_is_and_how_to_resume(tmp_path):
    repo = _repo(tmp_path, "repo", epochs=200)
    proc = _start(repo)
    _wait_for(repo / "models/fold_0/baseline/last.pt", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "interrupted: the last checkpoint is models/fold_0/baseline/last.pt; to continue from it, run " in err
    assert "`THZ_RESUME=1 python -m stages.train --variant baseline --images" in err
    assert ", then `dvc commit` the stage\n" in err  # the end of the line (the progress bar closes after it)


def _lock_out(repo: Path, stage: str, path: str) -> str:
    """The hash dvc.lock records for one output of one stage."""
    outs = yaml.safe_load((repo / "dvc.lock").read_text())["stages"][stage]["outs"]
    return next(o["md5"] for o in outs if o["path"] == path)


def test_ctrl_c_under_dvc_repro_then_the_resume_it_advises_changes_no_other_stage(tmp_path):
    """After a whole `dvc repro`, train_baseline@0 runs again under DVC and gets a Ctrl-C (SIGINT to
    the terminal's process group). Resumed with the command its message gives and `dvc commit`ed,
    the weights are the uninterrupted run's (the same hash in dvc.lock) and no other training or
    evaluation is invalidated: the resume is no param. Only plot_data redraws the curves."""
    repo = _repo(tmp_path, "repo", epochs=4, val_every=0.5)
    run(["dvc", "repro"], repo)
    weights = _lock_out(repo, "train_baseline@0", "models/fold_0/baseline")
    out = repo / "models/fold_0/baseline"
    shutil.rmtree(out)  # as `dvc repro` removes it first: the next last.pt is the new run's
    proc = subprocess.Popen(
        ["dvc", "repro", "-f", "-s", "train_baseline@0"],
        cwd=repo,
        env=dvc_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    _wait_for(out / "last.pt", proc)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    log, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, f"the training finished before the Ctrl-C: {log}"
    command = re.search(r"to continue from it, run `([^`]+)`, then `dvc commit` the stage", log)
    assert command, log
    resumed = run(["bash", "-c", command.group(1)], repo)
    assert "resuming from models/fold_0/baseline/last.pt at step" in resumed
    run(["dvc", "commit", "-f", "train_baseline@0"], repo)

    assert _lock_out(repo, "train_baseline@0", "models/fold_0/baseline") == weights
    summary = json.loads((repo / "metrics/train/fold_0/baseline/metrics.json").read_text())
    assert summary["execution"]["resume"] == 1 and summary["execution"]["nproc"] == 1  # how it ran
    # the training log records the resume, so plot_data (it reads the logs) is the one stage to
    # redo, in seconds; no training or evaluation runs again
    assert set(json.loads(run(["dvc", "status", "--json"], repo))) == {"plot_data"}
    assert re.findall(r"Running stage '([^']+)'", run(["dvc", "repro"], repo)) == ["plot_data"]
    assert "Data and pipelines are up to date." in run(["dvc", "status"], repo)


def test_kill_9_then_resume_and_dvc_commit_versions_the_weights_of_an_uninterrupted_run(tmp_path):
    train = {"epochs": 6, "val_every": 0.5}
    whole = _repo(tmp_path, "whole", **train)
    run(["dvc", "repro", "train_baseline@0"], whole)

    repo = _repo(tmp_path, "killed", **train)
    out = repo / "models/fold_0/baseline"
    proc = _start(repo)
    _wait_for(out / "last.pt", proc)
    time.sleep(random.uniform(0.0, 1.5))  # a random step after the first checkpoint
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the run finished before the kill")
    (out / ".last.pt.hb3k2_a1.tmp").write_bytes(b"half a checkpoint")  # what a kill during a write leaves

    resumed = run([*STAGE, *OUT], repo, THZ_RESUME="1")
    assert "resuming from models/fold_0/baseline/last.pt at step" in resumed
    assert "removed models/fold_0/baseline/.last.pt.hb3k2_a1.tmp" in resumed
    run(["dvc", "commit", "-f", "train_baseline@0"], repo)

    for name in ("best.pt", "last.pt"):  # the same weights, step and validation metrics
        a, b = (load_checkpoint(folder / name) for folder in (whole / "models/fold_0/baseline", out))
        assert a["step"] == b["step"] and a["metrics"] == b["metrics"], name
        assert a["model"].keys() == b["model"].keys()
        assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"]), name
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["train_baseline@0"]["outs"]
    assert next(o for o in lock if o["path"] == "models/fold_0/baseline")["nfiles"] == 2  # no stray file versioned


EVALUATE = [sys.executable, "-m", "stages.evaluate", "--model", "models/fold_0/baseline/best.pt", "--images"]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _evaluate(repo: Path, images: str, out: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*EVALUATE, images, "--out", out], cwd=repo, env=dvc_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _wait_for_writing(out: Path, proc: subprocess.Popen) -> float:
    """Wait until the stage starts writing (a new entry in `out` or beside it); when it did."""

    def entries():
        return [sorted(os.listdir(folder)) if folder.is_dir() else None for folder in (out, out.parent)]

    before = entries()
    while entries() == before and proc.poll() is None:
        time.sleep(0.002)
    return time.monotonic()


def test_kill_9_during_evaluate_leaves_the_previous_evaluation_or_the_new_one_whole(tmp_path):
    repo = _repo(tmp_path, "repo")
    run(["dvc", "repro", "train_baseline@0"], repo)
    images = "data/split/fold_0/images.csv"
    frame = pd.read_csv(repo / images, dtype=str, keep_default_na=False)
    frame["split"] = frame.split.map({"val": "test", "test": "val"}).fillna(frame.split)
    frame.to_csv(repo / "swapped.csv", index=False)  # other test identities: every result differs
    out = repo / "metrics/eval/fold_0/baseline"
    (repo / "reference").mkdir()
    timing = {}
    for name, source in (("previous", "swapped.csv"), ("new", images)):
        proc = _evaluate(repo, source, f"reference/{name}")
        started = _wait_for_writing(repo / "reference" / name, proc)
        assert proc.wait(timeout=600) == 0, proc.communicate()
        timing[name] = time.monotonic() - started
    previous, new = _files(repo / "reference/previous"), _files(repo / "reference/new")
    assert previous.keys() == new.keys() and sum(previous[k] != new[k] for k in new) >= len(new) - 1

    rng, window, outcomes = random.Random(8), max(timing.values()) * 1.2, []
    for _ in range(6):
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(repo / "reference/previous", out)
        proc = _evaluate(repo, images, str(out.relative_to(repo)))
        writing = _wait_for_writing(out, proc)
        time.sleep(max(0.0, writing + rng.uniform(0.0, window) - time.monotonic()))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        seen = _files(out)
        assert seen in (previous, new), f"killed {time.monotonic() - writing:.2f} s into writing: {sorted(seen)}"
        outcomes.append("previous" if seen == previous else "new")
    print(f"writing took {timing} s; after each kill: {outcomes}")
    assert run([*EVALUATE, images, "--out", str(out.relative_to(repo))], repo)
    assert _files(out) == new and not list(out.parent.glob(".*.tmp"))  # the next run cleared what kills left
