"""The default teacher (privileged with the uncovered photo, in colour at twice the THz size), end
to end from PNG files: trained by the stage code, reloaded, distilled into a student (which loads
the visible images in the teacher's format, not its own), evaluated; and the student it makes
still predicts from THz files alone."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import yaml

from stages.train import main as train_stage
from tests.conftest import data_config, record_opened_files, write_dataset
from tests.pairsets import tiny_config
from thz.checkpoint import load_model
from thz.config import PUBLISHED_VISIBLE, TeacherConfig, config_to_dict
from thz.data.scan import scan
from thz.data.splits import IdentitySplit, assign_parts
from thz.eval.evaluate import evaluate_checkpoint


def test_privileged_colour_teacher_trains_distils_and_evaluates_and_its_student_reads_thz_only(
    tmp_path: Path, monkeypatch
):
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
        teacher=TeacherConfig(heads=4),  # the default: colour, 2x, the uncovered photo
    )
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(config_to_dict(cfg)))

    monkeypatch.chdir(tmp_path)  # the stage's DVCLive logs (--live) away from this repository
    stage = ["--params", str(params), "--images", str(images_csv)]
    train_stage(["--variant", "teacher", *stage, "--out", str(tmp_path / "teacher"), "--live", str(tmp_path / "live")])
    teacher, teacher_cfg = load_model(tmp_path / "teacher/best.pt")
    assert (teacher.inputs.visible.channels, teacher.inputs.visible.scale) == (3, 2)
    assert teacher.inputs.visible.source == "unconcealed"
    assert teacher_cfg.teacher.visible_colour and teacher_cfg.teacher.visible_scale == 2

    # the student's own params say nothing of the teacher's format: it comes from the checkpoint
    published = TeacherConfig(heads=4, **PUBLISHED_VISIBLE)
    params.write_text(yaml.safe_dump(config_to_dict(dataclasses.replace(cfg, teacher=published))))
    student_out = ["--out", str(tmp_path / "student"), "--live", str(tmp_path / "live_student")]
    train_stage(["--variant", "student", *stage, *student_out, "--teacher", str(tmp_path / "teacher/best.pt")])
    student, _ = load_model(tmp_path / "student/best.pt")
    assert student.inputs.visible is None

    metrics = evaluate_checkpoint(tmp_path / "teacher/best.pt", images_csv, tmp_path / "eval", cfg)
    assert math.isfinite(metrics["verification"]["probe_gallery"]["auc"])
    assert json.loads((tmp_path / "eval/metrics.json").read_text()) == metrics

    opened = record_opened_files(monkeypatch)  # the student's evaluation, next to existing photos
    student_metrics = evaluate_checkpoint(tmp_path / "student/best.pt", images_csv, tmp_path / "eval_student", cfg)
    assert math.isfinite(student_metrics["verification"]["probe_gallery"]["auc"])
    images = [f for f in opened if f.endswith(".png")]
    assert images and all(Path(f).is_relative_to(thz) for f in images), [f for f in images if "visible" in f][:3]
