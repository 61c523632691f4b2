"""The budget tables (lab/budget_tables.py): the default run held against a reference run per
model and metric, with the verdict against the fold-to-fold spread; bench records rendered; a
missing file is an error naming it; the lever tables hold measurements, and what became of each
lever is prose beside its table in docs/performance.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lab import budget_tables
from lab.table_parts import TableError


def _metrics(auc: float, eer: float = 0.3) -> dict:
    return {
        "verification": {"probe_gallery": {"auc": auc, "eer": eer}},
        "posture": {"accuracy": 0.95},
        "reconstruction": {"predicted": {"ssim": 0.6}},
    }


def _write(root: Path, rel: str, data: dict) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Default run: baseline AUC 0.70 and 0.80 over two folds (sd 0.0707); reference: one fold."""
    for fold, auc in ((0, 0.70), (1, 0.80)):
        _write(tmp_path, f"metrics/eval/fold_{fold}/baseline/metrics.json", _metrics(auc))
    return tmp_path


def test_held_against_a_single_reference_flags_a_drop_beyond_the_spread(root):
    _write(root, f"{budget_tables.SINGLE_FOLD}/baseline/metrics.json", _metrics(0.90, eer=0.2))
    text = budget_tables.cv_vs_single_fold(root)
    # AUC: 0.75 against 0.90, worse by 0.15 > sd 0.071; EER 0.30 against 0.20 (lower is better): worse by 0.1 > 0
    assert "| baseline | verification AUC | 0.750 ± 0.071 | 0.900 | -0.150 | yes |" in text
    assert "| baseline | EER | 0.300 ± 0.000 | 0.200 | +0.100 | yes |" in text
    assert "| baseline | posture accuracy | 0.950 ± 0.000 | 0.950 | 0.000 | no |" in text


def test_held_against_per_fold_reference_within_the_spread(root):
    """bf16 against fp32: two kept reference runs that differ in precision only (not the default
    run, which may have moved on since)."""
    for fold, (bf16, fp32) in enumerate(((0.70, 0.72), (0.80, 0.79))):
        _write(root, f"{budget_tables.BF16}/fold_{fold}/baseline/metrics.json", _metrics(bf16))
        _write(root, f"{budget_tables.FP32}/fold_{fold}/baseline/metrics.json", _metrics(fp32))
        _write(root, f"metrics/eval/fold_{fold}/baseline/metrics.json", _metrics(0.99))  # not read
    text = budget_tables.bf16_vs_fp32(root)
    assert "| baseline | verification AUC | 0.750 ± 0.071 | 0.755 ± 0.049 | -0.005 | no |" in text


def test_a_missing_reference_or_a_single_fold_default_is_an_error_naming_it(root, tmp_path):
    with pytest.raises(TableError, match="single_fold_60_epochs/baseline/metrics.json' not found"):
        budget_tables.cv_vs_single_fold(root)
    other = tmp_path / "one"
    _write(other, "metrics/eval/fold_0/baseline/metrics.json", _metrics(0.7))
    with pytest.raises(TableError, match="1 fold"):
        budget_tables.cv_vs_single_fold(other)


def test_budget_rows_name_their_settings(tmp_path):
    run = {"steps": 112, "train_seconds": 34.3, "precision": "bfloat16", "auc": 0.54, "eer": 0.47}
    run.update(tar_at_far_1pct=0.02, posture_accuracy=0.99, ssim=0.58)
    record = {"variant": "baseline", "fold": 0, "machine": {"cpu_capability": "AVX2", "native_bf16": False}}
    record["results"] = [{"epochs": 8, "settings": [], **run}, {"epochs": 8, "settings": ["train.lr=0.003"], **run}]
    _write(tmp_path, budget_tables.BUDGET, record)
    text = budget_tables.budget(tmp_path)
    assert "| 8 | defaults | 112 | 34 | bfloat16 | 0.540 | 0.470 | 0.020 | 0.990 | 0.580 |" in text
    assert "| 8 | `train.lr=0.003` | 112 |" in text and "CPU capability AVX2, native bf16 no" in text


ROOT = Path(__file__).resolve().parents[2]


def _prose_after(block: str) -> str:
    """The text of docs/performance.md between a generated block and the next block or heading."""
    after = (ROOT / "docs/performance.md").read_text().split(f"<!-- /table:{block} -->", 1)[1]
    return re.split(r"^(?:<!-- table:|#)", after, maxsplit=1, flags=re.M)[0]


def test_the_lever_tables_hold_measurements_and_the_verdicts_stand_beside_them():
    levers = budget_tables.levers(ROOT)
    assert levers.splitlines()[0] == "| lever | measured |"
    prose = _prose_after("levers")
    for row in levers.splitlines()[2:]:
        if row.startswith("| "):
            lever = row.split(" | ")[0].removeprefix("| ")
            assert f"- **{lever}**: " in prose, f"no verdict for lever '{lever}' after the levers table"
    steps = budget_tables.training_levers(ROOT)
    assert "kept" not in steps.splitlines()[0]
    record = json.loads((ROOT / budget_tables.TRAINING_STEP).read_text())["results"]
    named = {r["setting"] for r in record} | {r["variant"] for r in record} - {"baseline", "teacher", "student"}
    prose = _prose_after("training_levers")
    assert all(f"- **{name}**" in prose for name in named), named
