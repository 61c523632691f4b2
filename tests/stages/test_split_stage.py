"""The split stage end to end on real files: byte-for-byte deterministic, disjoint, recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from stages import split as split_stage
from tests.conftest import data_config, write_dataset
from thz.data.scan import scan

IDENTITIES = tuple(f"p{i}" for i in range(8))


def _params(path: Path, seed: int, **split) -> Path:
    one_fold = {"n_val_identities": 2, "n_test_identities": 2, "folds": 1, "run_folds": [0]}
    path.write_text(yaml.safe_dump({"seed": seed, "split": {**one_fold, **split}}))
    return path


def _manifest(tmp_path: Path) -> Path:
    write_dataset(tmp_path / "thz", identities=IDENTITIES, visible_root=tmp_path / "vis")
    manifest = scan(data_config(tmp_path / "thz", tmp_path / "vis")).manifest
    path = tmp_path / "manifest.csv"
    manifest.to_csv(path, index=False)
    return path


def _split(tmp_path: Path, manifest: Path, name: str, seed: int, **split) -> tuple[Path, dict]:
    out, metrics = tmp_path / name, tmp_path / f"{name}.json"
    params = _params(tmp_path / f"{name}.yaml", seed, **split)
    split_stage.main(
        ["--params", str(params), "--manifest", str(manifest), "--out", str(out), "--metrics", str(metrics)]
    )
    return out, json.loads(metrics.read_text())


def test_same_seed_same_csvs_byte_for_byte(tmp_path):
    manifest = _manifest(tmp_path)
    a, rec_a = _split(tmp_path, manifest, "a", seed=1)
    b, rec_b = _split(tmp_path, manifest, "b", seed=1)
    c, rec_c = _split(tmp_path, manifest, "c", seed=2)
    files = sorted(p.relative_to(a) for p in a.rglob("*.csv"))
    assert [str(f) for f in files] == [f"fold_0/{n}.csv" for n in ("images", "test", "train", "val")]
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes()
    assert rec_a == rec_b and rec_a != rec_c


def test_parts_are_identity_disjoint_and_recorded(tmp_path):
    manifest = _manifest(tmp_path)
    out, record = _split(tmp_path, manifest, "s", seed=0)
    images = pd.read_csv(out / "fold_0" / "images.csv", dtype={"identity": str})
    parts = images.groupby("identity").split.nunique()
    assert (parts == 1).all()
    for part in ("train", "val", "test"):
        assert sorted(images[images.split == part].identity.unique()) == record[part]
        triplets = pd.read_csv(out / "fold_0" / f"{part}.csv")
        assert set(triplets.columns) >= {"anchor", "positive", "negative", "visible_concealed"}
        used = pd.concat([triplets.anchor, triplets.positive, triplets.negative])
        assert set(used) <= set(images[images.split == part].path)  # nothing leaks across parts
    assert record["n_identities"] == {"train": 4, "val": 2, "test": 2}


def test_folds_are_written_and_recorded(tmp_path, capsys):
    manifest = _manifest(tmp_path)
    out, record = _split(tmp_path, manifest, "k", seed=0, folds=3)
    assert "trains and evaluates folds [0] of 3 (split.run_folds)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["fold_0", "fold_1", "fold_2"]
    assert len(record["folds"]) == 3
    tested = sorted(i for fold in record["folds"] for i in fold["test"])
    assert tested == sorted(IDENTITIES)
    _split(tmp_path, manifest, "all", seed=0, folds=3, run_folds=[0, 1, 2])
    assert "split.run_folds" not in capsys.readouterr().out  # every fold runs: nothing to warn about
