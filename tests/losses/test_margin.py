"""Margin-based softmax objectives against hand-written computations on tiny batches: the margin
only on the true class, the sub-center max, margin 0 as a normalised softmax, and the objective
that trains and saves the identity centres."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from tests.pairsets import TINY_MODEL
from thz.config import DistillConfig, LossConfig, TeacherConfig
from thz.losses.margin import MarginSoftmax, margin_logits
from thz.losses.objective import DistillationObjective, MultiTaskObjective
from thz.models import build_model

COS = torch.tensor([[0.8, 0.1, -0.3], [0.2, 0.5, 0.9]])
LABELS = torch.tensor([0, 2])


def test_cosface_subtracts_the_margin_from_the_true_cosine_only():
    logits = margin_logits(COS, LABELS, "cosface", scale=10.0, margin=0.35)
    expected = 10.0 * torch.tensor([[0.8 - 0.35, 0.1, -0.3], [0.2, 0.5, 0.9 - 0.35]])
    torch.testing.assert_close(logits, expected)


def test_arcface_adds_the_angle_to_the_true_class_only():
    logits = margin_logits(COS, LABELS, "arcface", scale=10.0, margin=0.5)
    true = [math.cos(math.acos(0.8) + 0.5), math.cos(math.acos(0.9) + 0.5)]
    expected = 10.0 * torch.tensor([[true[0], 0.1, -0.3], [0.2, 0.5, true[1]]])
    torch.testing.assert_close(logits, expected)


def test_arcface_past_pi_keeps_falling_linearly():
    """theta + m > pi would turn cos back up; insightface's rule continues with cos - m sin(m)."""
    cos = torch.tensor([[-0.95, 0.0]])
    logits = margin_logits(cos, torch.tensor([0]), "arcface", scale=1.0, margin=0.5)
    assert math.acos(-0.95) + 0.5 > math.pi
    assert logits[0, 0].item() == pytest.approx(-0.95 - math.sin(math.pi - 0.5) * 0.5)


@pytest.mark.parametrize("kind", ["cosface", "arcface"])
def test_margin_zero_is_a_normalised_softmax(kind):
    head = MarginSoftmax(dim=4, identities=3, kind=kind, scale=16.0, margin=0.0)
    emb = F.normalize(torch.randn(5, 4, generator=torch.Generator().manual_seed(0)), dim=1)
    labels = torch.tensor([0, 1, 2, 1, 0])
    cos = emb @ F.normalize(head.centres, dim=1).T
    assert head(emb, labels).item() == pytest.approx(F.cross_entropy(16.0 * cos, labels).item(), abs=1e-5)


def test_subcenter_arcface_takes_each_identity_s_closest_centre():
    head = MarginSoftmax(dim=2, identities=2, kind="subcenter_arcface", scale=1.0, margin=0.0, subcenters=2)
    with torch.no_grad():  # identity 0: centres at 0 and 90 degrees; identity 1: at 180 and 270
        head.centres.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]))
    emb = torch.tensor([[0.0, 1.0], [-0.6, -0.8]])
    torch.testing.assert_close(head.cosines(emb), torch.tensor([[1.0, 0.0], [-0.6, 0.8]]))


def test_a_margin_objective_trains_and_saves_its_identity_centres_and_validation_leaves_it_out():
    torch.manual_seed(0)
    model = build_model(TINY_MODEL)
    cfg = LossConfig(metric="arcface", margin_supcon=0.5, lpips=0.0)
    objective = MultiTaskObjective(model, cfg, identities=3)
    assert set(objective.extra_modules()) == {"identity_centres"} and "identity_centres" in objective.networks()
    emb = F.normalize(torch.randn(6, TINY_MODEL.embedding_dim), dim=1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    training = objective._identity_parts(emb, labels, training=True)
    assert set(training) == {"arcface", "supcon"}
    assert set(objective._identity_parts(emb, labels, training=False)) == {"supcon"}  # other people: no centres
    with pytest.raises(ValueError, match="needs the number of training identities"):
        MultiTaskObjective(model, cfg)


def test_the_student_objective_keeps_training_the_centres():
    torch.manual_seed(0)
    task = MultiTaskObjective(build_model(TINY_MODEL), LossConfig(metric="cosface", lpips=0.0), identities=4)
    teacher = build_model(TINY_MODEL, TeacherConfig(heads=4, visible_colour=False, visible_scale=1))
    student = DistillationObjective(task, teacher, DistillConfig())
    assert "identity_centres" in student.extra_modules() and "projector" in student.extra_modules()


def test_a_fit_with_arcface_trains_the_centres_and_saves_them_in_last_pt(tmp_path):
    from lab.random_pairs import make_pairset
    from tests.pairsets import fit_with, tiny_config
    from thz.checkpoint import load_checkpoint

    cfg = tiny_config()
    cfg = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, metric="arcface"))
    train_set = make_pairset(identities=4, postures=5, samples=1, seed=0)
    val_set = make_pairset(identities=2, postures=5, samples=1, seed=1)
    torch.manual_seed(0)
    objective = MultiTaskObjective(build_model(cfg.model), cfg.loss, identities=len(train_set.identities))
    before = objective.margin.centres.detach().clone()
    fit_with(objective, train_set, val_set, cfg, tmp_path)
    saved = load_checkpoint(tmp_path / "last.pt")["extra"]["identity_centres"]["centres"]
    assert torch.equal(saved, objective.margin.centres.detach()) and not torch.equal(saved, before)
