from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.imports import ROOT
from thz.config import ConfigError
from thz.eval.compare import MODELS
from thz.eval.plot_data import (
    average_curves,
    pooled_confusion,
    pooled_per_posture,
    read_live_curve,
    write_plot_data,
)


def test_pooled_confusion_keeps_every_folds_rows_so_counts_add_up():
    one = pd.DataFrame({"actual": ["front", "left"], "predicted": ["front", "front"], "extra": [1, 2]})
    two = pd.DataFrame({"actual": ["front"], "predicted": ["front"]})
    pooled = pooled_confusion([one, two])
    assert list(pooled.columns) == ["actual", "predicted"]
    assert pooled.value_counts().to_dict() == {("front", "front"): 2, ("left", "front"): 1}


def test_pooled_per_posture_is_the_mean_over_all_folds_images():
    one = pd.DataFrame({"posture": ["down", "front"], "n": [1, 2], "ssim_predicted": [0.2, 0.5]})
    two = pd.DataFrame({"posture": ["down", "front"], "n": [3, 2], "ssim_predicted": [0.6, 0.7]})
    pooled = pooled_per_posture([one, two]).set_index("posture")
    assert pooled.n.to_dict() == {"down": 4, "front": 4}
    assert pooled.ssim_predicted.loc["down"] == pytest.approx((0.2 + 3 * 0.6) / 4)  # not (0.2 + 0.6) / 2
    assert pooled.ssim_predicted.loc["front"] == pytest.approx(0.6)
    assert list(pooled_per_posture([one]).columns) == ["posture", "n", "ssim_predicted"]


def test_average_curves_means_folds_at_each_step_within_the_steps_all_cover():
    one = pd.Series([0.5, 0.7, 0.9], index=[10, 20, 30], name="auc")
    two = pd.Series([0.7, 0.9], index=[10, 20], name="auc")  # a smaller fold: fewer steps
    mean = average_curves([one, two])
    assert mean.to_dict() == pytest.approx({10: 0.6, 20: 0.8})
    shifted = pd.Series([0.6, 1.0], index=[10, 30], name="auc")  # validated at other steps
    assert average_curves([one, shifted]).to_dict() == pytest.approx({10: 0.55, 20: 0.75, 30: 0.95})
    assert average_curves([one]).equals(one)


def _live_curve(folder, name, steps, values):
    path = folder / "plots" / "metrics" / "val" / f"{name}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"step": steps, name: values}).to_csv(path, sep="\t", index=False)


def test_read_live_curve_reads_dvclive_tsv_and_names_a_missing_one(tmp_path):
    _live_curve(tmp_path, "auc", [20, 10], [0.8, 0.6])
    assert read_live_curve(tmp_path, "auc").to_dict() == {10: 0.6, 20: 0.8}
    with pytest.raises(ConfigError, match="ssim.tsv"):
        read_live_curve(tmp_path, "ssim")


def _write_toy_plot_data(tmp_path) -> Path:
    """write_plot_data on two toy folds of every model; returns the plots folder."""
    roc = {
        0: pd.DataFrame({"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 1.0, 1.0]}),
        1: pd.DataFrame({"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]}),
    }
    tables = {
        "roc.csv": roc,
        "confusion.csv": {k: pd.DataFrame({"actual": ["up"], "predicted": ["up"]}) for k in (0, 1)},
        "per_posture.csv": {
            k: pd.DataFrame({"posture": ["up"], "n": [1], "ssim_predicted": [0.1 + k]}) for k in (0, 1)
        },
    }
    evaluations = {(k, m, name): tables[name][k] for k in (0, 1) for m in MODELS for name in tables}
    for k in (0, 1):
        for m in MODELS:
            _live_curve(tmp_path / "train" / f"fold_{k}" / m, "auc", [5, 10], [0.5 + k / 10, 0.7])
            _live_curve(tmp_path / "train" / f"fold_{k}" / m, "ssim", [5, 10], [0.3, 0.4 + k / 10])
    write_plot_data(tmp_path / "plots", evaluations, tmp_path / "train", [0, 1])
    return tmp_path / "plots"


def test_write_plot_data_writes_every_models_pooled_tables(tmp_path):
    plots = _write_toy_plot_data(tmp_path)
    for m in MODELS:
        folder = plots / m
        assert sorted(p.name for p in folder.iterdir()) == [
            "confusion.csv",
            "det.csv",
            "per_posture.csv",
            "roc.csv",
            "validation.csv",
        ]
        validation = pd.read_csv(folder / "validation.csv")
        assert list(validation.columns) == ["step", "auc", "ssim"] and validation.step.tolist() == [5, 10]
        assert validation.auc.tolist() == pytest.approx([0.55, 0.7]) and validation.ssim.tolist() == pytest.approx(
            [0.3, 0.45]
        )
        assert len(pd.read_csv(folder / "confusion.csv")) == 2
        assert pd.read_csv(folder / "per_posture.csv").ssim_predicted[0] == pytest.approx(0.6)
        mean = pd.read_csv(folder / "roc.csv").set_index("fpr").tpr
        assert mean.loc[0.5] == pytest.approx(0.75)
        det = pd.read_csv(folder / "det.csv").set_index("fpr")  # the same averaged points, transformed
        assert det.tpr.to_dict() == pytest.approx(mean.to_dict())
        assert det.probit_fnr.loc[0.5] == pytest.approx(-0.6745, abs=1e-4)  # FRR 0.25: Phi^-1(0.25)
        assert det.log10_fpr.loc[0.5] == pytest.approx(np.log10(0.5))


def test_every_top_level_plot_reads_a_file_and_columns_plot_data_writes(tmp_path):
    """dvc.yaml's top-level plots name files in plot_data's output folder, by model, and columns
    that write_plot_data writes in them."""
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    out = dvc_yaml["stages"]["plot_data"]["outs"][0]
    out = Path(next(iter(out)) if isinstance(out, dict) else out)
    plots = _write_toy_plot_data(tmp_path)
    for entry in dvc_yaml["plots"]:
        ((name, plot),) = entry.items()
        files = plot["y"]
        assert sorted(Path(f).parent.name for f in files) == sorted(MODELS), name  # one line per model
        for file, column in files.items():
            written = pd.read_csv(plots / Path(file).relative_to(out))
            assert {plot["x"], column} <= set(written.columns), (name, file)
