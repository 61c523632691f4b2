"""The simulate stage, run by DVC, never deletes a user's images put under its output folders."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import write_dataset
from tests.tiny_repo import dvc_env, make_tiny_repo


@pytest.fixture
def folder_repo(tmp_path: Path) -> Path:
    repo = make_tiny_repo(tmp_path / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"]["source"] = "folder"  # data.dir and data.visible_dir left at their defaults
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return repo


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where", ["thz", "visible"])
def test_dvc_repro_simulate_keeps_a_users_images_in_its_output_folders(folder_repo: Path, where: str):
    own = folder_repo / "data/simulated" / where
    write_dataset(own, identities=("p1", "p2"), size=32)
    before = _snapshot(own)
    proc = subprocess.run(
        ["dvc", "repro", "simulate"], cwd=folder_repo, env=dvc_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert f"data/simulated/{where}: holds {len(before)} entries the simulate stage did not write" in proc.stderr
    assert "Keep your own images outside data/simulated/" in proc.stderr
    assert _snapshot(own) == before


def test_simulate_refuses_a_data_dir_inside_its_outputs(folder_repo: Path):
    proc = subprocess.run(
        ["python", "-m", "stages.simulate"]
        + ["--thz-out", "data/simulated/thz", "--visible-out", "data/simulated/visible"],
        cwd=folder_repo,
        env=dvc_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "data.dir: data/simulated/thz lies inside data/simulated/thz" in proc.stderr
    assert not any((folder_repo / "data/simulated" / name).exists() for name in ("thz", "visible"))
