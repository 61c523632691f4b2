"""A teacher that reads its visible images in colour at twice the THz size, end to end from PNG
files: trained by the stage code, reloaded, distilled into a student (which loads the visible
images in the teacher's format, not its own) and evaluated."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import yaml

from tests.conftest import data_config, write_dataset
from tests.pairsets import tiny_config
from thz.checkpoint import load_model
from thz.config import TeacherConfig, config_to_dict
from thz.data.scan import scan
from thz.data.splits import IdentitySplit, assign_parts
from thz.eval.evaluate import evaluate_checkpoint
from thz.train.variants import train_variant


def test_colour_teacher_at_twice_the_size_trains_distils_and_evaluates(tmp_path: Path):
    thz, visible = tmp_path / "thz", tmp_path / "visible"
    write_dataset(thz, identities=("a", "b", "c", "d", "e", "f"), size=64, visible_root=visible)  # visible: 128 px RGB
    images = assign_parts(
        scan(data_config(thz, visible, image_size=64)).manifest, IdentitySplit(("a", "b"), ("c", "d"), ("e", "f"))
    )
    images_csv = tmp_path / "images.csv"
    images.to_csv(images_csv, index=False)
    cfg = tiny_config(epochs=1)
    cfg = dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, dir=str(thz), visible_dir=str(visible)),
        teacher=TeacherConfig(heads=4, epochs=1, visible_colour=True, visible_scale=2),
    )
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(config_to_dict(cfg)))

    train_variant("teacher", params, images_csv, tmp_path / "teacher", None)
    teacher, teacher_cfg = load_model(tmp_path / "teacher/best.pt")
    assert (teacher.visible_format.channels, teacher.visible_format.scale) == (3, 2)
    assert teacher_cfg.teacher.visible_colour and teacher_cfg.teacher.visible_scale == 2

    # the student's own params say nothing of the teacher's format: it comes from the checkpoint
    params.write_text(yaml.safe_dump(config_to_dict(dataclasses.replace(cfg, teacher=TeacherConfig(heads=4)))))
    train_variant("student", params, images_csv, tmp_path / "student", None, teacher=tmp_path / "teacher/best.pt")
    student, _ = load_model(tmp_path / "student/best.pt")
    assert student.visible_format is None

    metrics = evaluate_checkpoint(tmp_path / "teacher/best.pt", images_csv, tmp_path / "eval", cfg)
    assert math.isfinite(metrics["verification"]["probe_gallery"]["auc"])
    assert json.loads((tmp_path / "eval/metrics.json").read_text()) == metrics
