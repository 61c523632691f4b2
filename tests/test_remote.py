"""Sharing data and models through a DVC remote (a local folder standing in for S3, SSH or a shared
drive): push from one clone, pull into another, and there `dvc repro` has nothing to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_repo import commit_all, make_tiny_repo, run

pytestmark = pytest.mark.slow


def test_push_then_pull_into_another_clone_leaves_nothing_to_reproduce(tmp_path: Path):
    origin = make_tiny_repo(tmp_path / "origin")
    run(["dvc", "remote", "add", "-d", "shared", str(tmp_path / "remote")], origin)
    run(["dvc", "repro"], origin)
    commit_all(origin, "results")
    run(["dvc", "push"], origin)

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    assert not (clone / "models").exists()  # git carries the pipeline and the metrics, not the models
    run(["dvc", "pull"], clone)
    for model in ("baseline", "teacher", "student"):
        best = Path("models/fold_0") / model / "best.pt"
        assert (clone / best).read_bytes() == (origin / best).read_bytes(), best
    assert sorted(p.name for p in (clone / "data/simulated/thz").iterdir()) == sorted(
        p.name for p in (origin / "data/simulated/thz").iterdir()
    )
    assert "Data and pipelines are up to date" in run(["dvc", "repro"], clone)
