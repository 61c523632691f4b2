"""The distillation objective in the training loop: weighted sum of the parts, switched-off terms
never computed, frozen teacher bit-identical, joint teacher trained, anchors-only distillation,
the student checkpoint loading into the baseline class, resume with the projection, and THz-only
prediction that opens no visible file."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

import thz.losses.objective as objective_module
from lab.random_pairs import make_pairset
from tests.conftest import data_config, record_opened_files, write_dataset
from tests.pairsets import TINY_MODEL, fit_with, start_run, tiny_config, with_visible
from thz.checkpoint import load_checkpoint, load_model
from thz.config import PUBLISHED_VISIBLE, ConfigError, DistillConfig, TeacherConfig
from thz.data.dataset import VisibleFormat, load_pairs
from thz.data.scan import scan
from thz.data.splits import IdentitySplit, assign_parts
from thz.losses.margin import MARGIN_METRICS
from thz.losses.objective import DISTILL_TERMS, DistillationObjective, MultiTaskObjective, TeacherCentres
from thz.models import MultiTaskNet, build_model
from thz.train.loop import train_step, validate
from thz.train.variants import build_objective

TEACHER = TeacherConfig(heads=4, **PUBLISHED_VISIBLE)


@pytest.fixture(scope="module")
def train_set():
    return with_visible(make_pairset(identities=4, postures=5, samples=1, seed=0))


@pytest.fixture(scope="module")
def val_set():
    return make_pairset(identities=2, postures=5, samples=1, seed=1)  # THz only, as the student validates


def build(distill: DistillConfig | None = None, seed: int = 0, metric: str = "supcon", centres: int | None = 4):
    """Student, teacher and objective on the tiny network; with a margin-softmax `metric`, both have
    identity logits over the train set's 4 identities (the teacher's centres: `centres` of them)."""
    distill = distill or DistillConfig()
    cfg = dataclasses.replace(tiny_config(seed=seed), distill=distill)
    cfg = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, metric=metric))
    torch.manual_seed(seed)
    teacher = build_model(cfg.model, TEACHER)
    student = build_model(cfg.model)
    margin = metric in MARGIN_METRICS
    task = MultiTaskObjective(student, cfg.loss, identities=4 if margin else 0)
    teacher_centres = None
    if margin and centres is not None:
        dim = teacher.embedding.mlp[-1].out_features
        teacher_centres = TeacherCentres(torch.randn(centres, dim, generator=torch.Generator().manual_seed(9)), 1)
    return cfg, student, teacher, DistillationObjective(task, teacher, distill, teacher_centres)


def snapshot(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before, module) -> list[str]:
    return [k for k, v in module.state_dict().items() if not torch.equal(before[k], v)]


def step(cfg, student, objective, batch, n_steps=1):
    run = start_run(objective, cfg)
    student.train()
    for s in range(n_steps):
        parts = train_step(objective, dict(batch), s, 1e-2, run)
    return parts


def test_loss_is_task_loss_plus_weighted_distillation_terms(train_set):
    terms = {"feature": 0.7, "logit": 0.3, "rkd_distance": 1.5, "rkd_angle": 2.5, "identity_centre": 0.4}
    terms |= {"contrastive": 0.6, "similarity": 0.8}
    cfg, student, _, objective = build(DistillConfig(**terms))
    student.train()
    torch.manual_seed(0)
    parts = objective(train_set.batch(torch.arange(8)))
    for name in terms:
        assert parts[f"distill_{name}"] > 0, name
    distill = sum(w * parts[f"distill_{name}"] for name, w in terms.items())
    torch.testing.assert_close(parts["distill"], distill)
    task = cfg.loss.supcon * parts["supcon"] + cfg.loss.posture * parts["posture"] + cfg.loss.recon * parts["recon"]
    torch.testing.assert_close(parts["loss"], task + distill)


ALL_ON = DistillConfig(contrastive=0.5, similarity=0.5, identity_logit=0.5)  # the default and identity-level terms


@pytest.mark.parametrize("off", list(DISTILL_TERMS))
def test_a_zero_weight_switches_its_term_off_and_skips_its_computation(train_set, monkeypatch, off):
    functions = {
        "feature": "feature_distillation",
        "logit": "logit_distillation",
        "rkd_distance": "rkd_distance",
        "rkd_angle": "rkd_angle",
        "identity_centre": "identity_centre_distillation",
        "contrastive": "contrastive_distillation",
        "similarity": "similarity_distillation",
        "identity_logit": "identity_logit_distillation",
    }

    def must_not_run(*args, **kwargs):
        raise AssertionError(f"{off} was computed with weight 0")

    monkeypatch.setattr(objective_module, functions[off], must_not_run)
    _, student, _, objective = build(dataclasses.replace(ALL_ON, **{off: 0.0}), metric="cosface")
    if off == "identity_logit":  # the teacher's centres are not even kept
        assert objective.teacher_centres is None and "teacher_centres" not in objective.networks()
    if off == "feature":
        assert objective.projector is None and "projector" not in objective.extra_modules()
    if off == "contrastive":  # no projection head built: no parameter, no draw from the generator
        assert objective.contrastive_head is None and "contrastive_head" not in objective.extra_modules()
    parts = objective(train_set.batch(torch.arange(8)))
    assert f"distill_{off}" not in parts and "distill" in parts


def test_identity_logit_distillation_enters_the_loss_at_its_weight(train_set):
    off = dict.fromkeys(DISTILL_TERMS, 0.0)
    cfg, student, _, objective = build(DistillConfig(**(off | {"identity_logit": 0.7})), metric="cosface")
    student.train()
    torch.manual_seed(0)
    parts = objective(train_set.batch(torch.arange(8)))
    assert parts["distill_identity_logit"] > 0 and set(k for k in parts if k.startswith("distill_")) == {
        "distill_identity_logit"
    }
    torch.testing.assert_close(parts["distill"], 0.7 * parts["distill_identity_logit"])
    parts["loss"].backward()  # the student's centres learn from it, the teacher's stay fixed
    assert objective.task.margin.centres.grad.abs().sum() > 0
    assert not objective.teacher_centres.centres.requires_grad


@pytest.mark.parametrize(
    "metric, centres, message",
    [
        ("supcon", 4, "loss.metric must be one of"),
        ("cosface", None, "train the teacher with a margin-softmax"),
        ("cosface", 3, "for 3 identities, the student 4"),
    ],
)
def test_identity_logit_distillation_refuses_what_has_no_identity_logits(metric, centres, message):
    with pytest.raises(ValueError, match=message):
        build(DistillConfig(identity_logit=0.5), metric=metric, centres=centres)


def test_the_student_takes_the_teachers_identity_centres_from_its_checkpoint(tmp_path, train_set):
    """build_objective as stage train_student calls it: a CosFace teacher's best.pt carries the centres
    the student's identity-logit term needs; a SupCon teacher's does not, and the error names the file."""
    images = pd.DataFrame({"identity": [f"id{i}" for i in range(4)], "split": "train"})
    val = with_visible(make_pairset(identities=2, postures=5, samples=1, seed=1))
    for metric in ("cosface", "supcon"):
        cfg = dataclasses.replace(tiny_config(), teacher=TEACHER)
        cfg = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, metric=metric))
        teacher = build_objective("teacher", cfg, images, None)
        fit_with(teacher, train_set, val, cfg, tmp_path / metric, variant="teacher")
        student_cfg = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, metric="cosface"))
        student_cfg = dataclasses.replace(student_cfg, distill=DistillConfig(identity_logit=0.5))
        if metric == "supcon":
            with pytest.raises(ConfigError, match=r"supcon/best.pt: .*train the teacher with a margin-softmax"):
                build_objective("student", student_cfg, images, None, tmp_path / metric / "best.pt")
            continue
        student = build_objective("student", student_cfg, images, None, tmp_path / metric / "best.pt")
        saved = load_checkpoint(tmp_path / metric / "best.pt")["identity_centres"]["centres"]
        assert torch.equal(student.teacher_centres.centres, saved) and student.teacher_centres.identities == 4


def test_all_weights_zero_with_a_frozen_teacher_never_runs_the_teacher(train_set):
    off = DistillConfig(**dict.fromkeys(DISTILL_TERMS, 0.0))
    _, student, teacher, objective = build(off)
    teacher.register_forward_hook(lambda *a: pytest.fail("the teacher ran"))
    parts = objective(train_set.batch(torch.arange(8)))
    task = MultiTaskObjective(student, objective.task.cfg)
    assert set(parts) == set(task(train_set.batch(torch.arange(8))))


def test_the_training_data_carries_what_the_teacher_reads_only_when_the_teacher_runs():
    _, student, teacher, objective = build()
    assert objective.reads == teacher.inputs and objective.reads.visible is not None
    assert MultiTaskObjective(student, objective.task.cfg).reads.visible is None  # the student itself: THz only
    _, student, _, idle = build(DistillConfig(**dict.fromkeys(DISTILL_TERMS, 0.0)))
    assert not idle.needs_teacher and idle.reads == student.inputs


def test_frozen_teacher_stays_bit_identical_and_the_student_and_projection_learn(train_set):
    cfg, student, teacher, objective = build(DistillConfig(freeze_teacher=True))
    teacher.train()  # whatever mode it arrives in, the objective runs it in eval mode
    before_teacher, before_student = snapshot(teacher), snapshot(student)
    before_projection = snapshot(objective.projector)
    step(cfg, student, objective, train_set.batch(torch.arange(8)), n_steps=2)
    assert changed(before_teacher, teacher) == []  # weights AND BatchNorm statistics
    assert all(not p.requires_grad and p.grad is None for p in teacher.parameters())
    assert changed(before_student, student) and changed(before_projection, objective.projector)


def test_joint_training_updates_the_teacher_with_its_own_task_loss(train_set):
    cfg, student, teacher, objective = build(DistillConfig(freeze_teacher=False, teacher_task_weight=0.5))
    assert "teacher" in objective.extra_modules()
    before = snapshot(teacher)
    parts = step(cfg, student, objective, train_set.batch(torch.arange(8)))
    assert parts["teacher_loss"] > 0
    assert parts["loss"] == pytest.approx(
        parts["supcon"] + parts["posture"] + parts["recon"] + parts["distill"] + 0.5 * parts["teacher_loss"], rel=1e-5
    )
    assert changed(before, teacher)


def test_distillation_does_not_push_gradients_into_a_joint_teacher(train_set):
    """Teacher outputs are detached in every distillation term: only its task loss trains it."""
    _, student, teacher, objective = build(DistillConfig(freeze_teacher=False))
    student.train()
    parts = objective(train_set.batch(torch.arange(8)))
    grads = torch.autograd.grad(parts["distill"], list(teacher.parameters()), allow_unused=True)
    assert all(g is None or g.abs().sum() == 0 for g in grads)


@pytest.mark.parametrize(("full", "rows"), [(True, 16), (False, 8)])
def test_full_triplet_distils_on_every_image_or_anchors_only(train_set, full, rows):
    _, student, teacher, objective = build(DistillConfig(full_triplet=full))
    seen = []
    teacher.encoder.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape[0]))
    objective(train_set.batch(torch.arange(8)))
    assert seen == [rows]


def test_student_fit_writes_a_checkpoint_that_loads_into_the_baseline_class(tmp_path, train_set, val_set):
    cfg, student, _, objective = build()
    result = fit_with(objective, train_set, val_set, cfg, tmp_path)
    assert result.steps == 10
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["modalities"] == ["thz"]
    baseline = build_model(cfg.model)
    baseline.load_state_dict(best["model"], strict=True)  # exactly the baseline architecture
    loaded, _ = load_model(tmp_path / "best.pt")
    assert isinstance(loaded, MultiTaskNet) and loaded.modalities == ("thz",)
    last = load_checkpoint(tmp_path / "last.pt")
    assert set(last["extra"]) == {"projector"}  # the projection is saved for resume, not in the student


def test_student_resume_equals_the_uninterrupted_run(tmp_path, train_set, val_set):
    cfg, student, _, objective = build()
    fit_with(objective, train_set, val_set, cfg, tmp_path / "a")

    class Stop(Exception):
        pass

    def interrupt(at):
        if at == 5:
            raise Stop

    cfg_b, student_b, _, objective_b = build()
    with pytest.raises(Stop):
        fit_with(objective_b, train_set, val_set, cfg_b, tmp_path / "b", on_checkpoint=interrupt)
    _, student_c, _, objective_c = build()
    fit_with(objective_c, train_set, val_set, cfg_b, tmp_path / "b", resume=True)
    a, c = load_checkpoint(tmp_path / "a/last.pt"), load_checkpoint(tmp_path / "b/last.pt")
    for key in a["model"]:
        assert torch.equal(a["model"][key], c["model"][key]), key
    for key in a["extra"]["projector"]:
        assert torch.equal(a["extra"]["projector"][key], c["extra"]["projector"][key]), key


def test_student_prediction_opens_no_visible_file(tmp_path, monkeypatch):
    """Prediction with a trained student, from PNG files, in a project whose visible images exist:
    every file opened is a THz file (the student cannot even accept a visible image)."""
    thz, visible = tmp_path / "thz", tmp_path / "visible"
    write_dataset(thz, identities=("a", "b", "c", "d", "e", "f"), size=64, visible_root=visible)
    images = assign_parts(
        scan(data_config(thz, visible, image_size=64)).manifest, IdentitySplit(("a", "b"), ("c", "d"), ("e", "f"))
    )
    cfg, student, _, objective = build()
    train = load_pairs(images, "train", 64, visible=VisibleFormat())
    fit_with(objective, train, load_pairs(images, "val", 64), cfg, tmp_path / "student")

    opened = record_opened_files(monkeypatch)
    model, _ = load_model(tmp_path / "student/best.pt")
    test = load_pairs(images, "test", 64)
    metrics = validate(MultiTaskObjective(model, cfg.loss), test)
    assert {"auc", "ssim", "posture_acc"} <= set(metrics) and all(math.isfinite(v) for v in metrics.values())
    assert opened and all(Path(p).is_relative_to(thz) for p in opened), opened
    with pytest.raises(ValueError, match="THz-only network"):
        model(test.batch(torch.arange(2))["input"], visible=torch.rand(2, 1, 64, 64))


def test_joint_teacher_without_distillation_terms_trains_on_its_task_loss(train_set):
    off = DistillConfig(freeze_teacher=False, feature=0, logit=0, rkd_distance=0, rkd_angle=0, identity_centre=0)
    cfg, student, teacher, objective = build(off)
    parts = step(cfg, student, objective, train_set.batch(torch.arange(8)))
    assert parts["distill"] == 0.0 and parts["teacher_loss"] > 0


def test_the_distillation_teacher_must_see_visible_images():
    cfg = tiny_config()
    thz_only = build_model(TINY_MODEL)
    with pytest.raises(ValueError, match="visible\\+THz"):
        DistillationObjective(MultiTaskObjective(build_model(cfg.model), cfg.loss), thz_only, DistillConfig())


def test_fit_puts_the_frozen_teacher_in_the_students_memory_layout(tmp_path, train_set, val_set):
    cfg, student, teacher, objective = build()
    assert cfg.train.channels_last
    fit_with(objective, train_set, val_set, cfg, tmp_path)
    weights = [m.weight for m in teacher.modules() if isinstance(m, torch.nn.Conv2d)]
    assert weights and all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
