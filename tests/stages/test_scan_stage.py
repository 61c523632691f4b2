"""The scan stage end to end: a lenient scan that leaves no usable image stops with one message."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from stages import scan as scan_stage
from tests.conftest import write_png
from thz.cli import run
from thz.data.problems import DataError


def _argv(tmp_path: Path, data: dict) -> list[str]:
    params = tmp_path / "params.yaml"
    data = {"source": "folder", "visible_dir": "", "image_size": 16, **data}
    params.write_text(yaml.safe_dump({"data": data, "model": {"reduction": "pool"}}))
    outs = {flag: tmp_path / "out" / name for flag, name in (
        ("--manifest", "manifest.csv"), ("--summary", "summary.csv"), ("--problems", "problems.csv"),
        ("--sheet", "sheet.png"), ("--metrics", "data.json"),
    )}  # fmt: skip
    return ["--params", str(params), *(str(x) for pair in outs.items() for x in pair)]


def test_a_lenient_scan_that_rejects_every_image_stops_naming_data_dir(tmp_path, capsys):
    root = tmp_path / "thz"
    write_png(root / "a_b1b_1.png", size=20)
    write_png(root / "a_n1n_1.png", size=20)
    (root / "notes.txt").write_text("notes")
    argv = _argv(tmp_path, {"dir": str(root), "strict": False})
    with pytest.raises(DataError) as info:
        scan_stage.main(argv)
    problems_csv = tmp_path / "out" / "problems.csv"
    assert f"data.dir: no usable image left in '{root}'" in str(info.value)
    assert f"(3 problem(s), listed in {problems_csv})" in str(info.value)
    assert len(pd.read_csv(problems_csv)) == 3  # the list it points to is written
    assert not (tmp_path / "out" / "manifest.csv").exists()  # no empty manifest for later stages
    with pytest.raises(SystemExit) as stop:
        run(lambda: scan_stage.main(argv))
    assert stop.value.code == 2
    assert "error: data.dir: no usable image left" in capsys.readouterr().err
