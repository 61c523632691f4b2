"""Distillation terms against hand computations and their defining invariances."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from thz.losses.distill import (
    contrastive_distillation,
    feature_distillation,
    identity_centre_distillation,
    identity_logit_distillation,
    logit_distillation,
    rkd_angle,
    rkd_distance,
    similarity_distillation,
)
from thz.losses.margin import centre_cosines


def emb(n=8, d=16, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def random_rotation(d, seed=0):
    q, r = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))  # orthogonal


# --- logit distillation --------------------------------------------------------------------------


def test_kl_matches_a_hand_computation_with_temperature_and_its_square():
    student = torch.tensor([[1.0, 2.0, 0.5, -1.0, 0.0], [0.3, -0.2, 2.5, 1.0, -1.5]], dtype=torch.float64)
    teacher = torch.tensor([[2.0, 0.0, 1.0, -0.5, 0.5], [-1.0, 0.4, 3.0, 0.0, 0.2]], dtype=torch.float64)
    t = 3.0
    total = 0.0
    for s_row, t_row in zip(student.tolist(), teacher.tolist(), strict=True):
        zs = sum(math.exp(v / t) for v in s_row)
        zt = sum(math.exp(v / t) for v in t_row)
        p = [math.exp(v / t) / zt for v in t_row]  # teacher distribution
        q = [math.exp(v / t) / zs for v in s_row]
        total += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
    expected = t * t * total / len(student)
    assert logit_distillation(student, teacher, t).item() == pytest.approx(expected, rel=1e-12)


def test_kl_is_zero_for_equal_logits_and_shift_invariant():
    logits = emb(6, 5)
    assert logit_distillation(logits, logits, 3.0).item() == pytest.approx(0.0, abs=1e-12)
    assert logit_distillation(logits + 7.0, logits, 3.0).item() == pytest.approx(0.0, abs=1e-12)
    assert logit_distillation(logits, emb(6, 5, seed=1), 3.0).item() > 0


def test_kl_gradient_scale_is_kept_by_the_t_squared_factor():
    """For large T the gradient of T^2 * KL w.r.t. student logits tends to (s - t) / (n_classes * batch),
    independent of T (Hinton et al. 2015) -- without T^2 it would shrink as 1 / T^2."""
    s, t = emb(4, 5), emb(4, 5, seed=1)
    s, t = s - s.mean(1, keepdim=True), t - t.mean(1, keepdim=True)
    s.requires_grad_(True)
    logit_distillation(s, t, 1000.0).backward()
    expected = (s.detach() - t) / (5 * 4)  # entries of order 0.05
    torch.testing.assert_close(s.grad, expected, rtol=1e-2, atol=1e-4)
    assert expected.abs().max() > 1e-2


# --- relational distillation ---------------------------------------------------------------------


def test_rkd_losses_are_zero_for_identical_embeddings():
    e = emb()
    assert rkd_distance(e, e).item() == 0.0
    assert rkd_angle(e, e).item() == pytest.approx(0.0, abs=1e-14)


def test_rkd_distance_is_invariant_to_scaling_and_rotating_the_embedding_space():
    e = emb()
    assert rkd_distance(e, 3.7 * e).item() == pytest.approx(0.0, abs=1e-12)
    assert rkd_distance(e, e @ random_rotation(16)).item() == pytest.approx(0.0, abs=1e-12)


def test_rkd_angle_is_invariant_to_rotating_and_scaling_the_embedding_space():
    e = emb()
    assert rkd_angle(e, e @ random_rotation(16)).item() == pytest.approx(0.0, abs=1e-12)
    assert rkd_angle(e, 0.2 * e + 5.0).item() == pytest.approx(0.0, abs=1e-12)  # and translation


def test_rkd_compares_spaces_of_different_dimensions():
    e = emb(8, 16)
    padded = torch.cat([e, torch.zeros(8, 4, dtype=e.dtype)], dim=1)  # same geometry in 20-d
    assert rkd_distance(e, padded).item() == pytest.approx(0.0, abs=1e-12)
    assert rkd_angle(e, padded).item() == pytest.approx(0.0, abs=1e-12)


def test_rkd_losses_are_positive_for_different_geometry():
    a, b = emb(seed=0), emb(seed=1)
    assert rkd_distance(a, b).item() > 1e-3
    assert rkd_angle(a, b).item() > 1e-3


def test_rkd_distance_matches_a_hand_computation_on_three_points():
    s = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)  # distances 1, 1, sqrt 2
    t = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]], dtype=torch.float64)  # distances 2, 1, sqrt 5
    ds = torch.tensor([1.0, 1.0, math.sqrt(2)], dtype=torch.float64)
    dt = torch.tensor([2.0, 1.0, math.sqrt(5)], dtype=torch.float64)
    expected = F.smooth_l1_loss(ds / ds.mean(), dt / dt.mean())  # each ordered pair twice: same mean
    assert rkd_distance(s, t).item() == pytest.approx(expected.item(), rel=1e-12)


def test_rkd_angle_matches_a_hand_computation_of_one_right_angle():
    """Three points of a right isosceles triangle against three collinear points: the cosine at each
    vertex of every ordered triplet, compared with the Huber loss over all 27 entries."""
    s = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    t = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]], dtype=torch.float64)

    def cosines(points):
        out = torch.zeros(3, 3, 3, dtype=torch.float64)
        for j in range(3):
            for i in range(3):
                for k in range(3):
                    u, v = points[i] - points[j], points[k] - points[j]
                    if u.norm() > 0 and v.norm() > 0:
                        out[j, i, k] = (u @ v) / (u.norm() * v.norm())
        return out

    expected = F.smooth_l1_loss(cosines(s), cosines(t))
    assert rkd_angle(s, t).item() == pytest.approx(expected.item(), rel=1e-12)


def test_rkd_handles_tiny_batches():
    one = emb(1)
    assert rkd_distance(one, one).item() == 0.0 and rkd_angle(emb(2), emb(2, seed=1)).item() == 0.0


# --- identity centre and feature terms -----------------------------------------------------------


def test_identity_centre_pulls_to_the_mean_teacher_embedding_of_the_identity():
    teacher = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [0.0, -1.0]], dtype=torch.float64)
    identity = torch.tensor([5, 5, 9, 9])
    centre_a = torch.tensor([1.0, 1.0], dtype=torch.float64) / math.sqrt(2)
    student = torch.stack([centre_a, centre_a, torch.tensor([0.0, -1.0]), torch.tensor([1.0, 0.0])]).double()
    # rows 0-2 sit on their centre (loss 0); row 3 is at 90 degrees from (0, -1): loss 1
    assert identity_centre_distillation(student, teacher, identity).item() == pytest.approx(0.25)
    on_centres = student[[0, 0, 2, 2]]
    assert identity_centre_distillation(on_centres, teacher, identity).item() == pytest.approx(0.0, abs=1e-12)
    # the centre is per identity, not per image: the same student against other labels costs more
    assert identity_centre_distillation(on_centres, teacher, torch.tensor([5, 9, 5, 9])).item() > 0.1


def test_feature_distillation_mse_and_cosine():
    a, b = emb(4, 8), emb(4, 8, seed=1)
    assert feature_distillation(a, b, "mse").item() == pytest.approx(((a - b) ** 2).mean().item())
    assert feature_distillation(a, 2 * a, "cosine").item() == pytest.approx(0.0, abs=1e-12)
    assert feature_distillation(a, -a, "cosine").item() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="differ"):
        feature_distillation(a, b[:, :4])
    with pytest.raises(ValueError, match="mse' or 'cosine"):
        feature_distillation(a, b, "l1")


# --- identity-level terms: contrastive and similarity-matrix distillation --------------------------


def test_contrastive_distillation_matches_a_hand_computation_leaving_out_the_same_identity():
    student = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=torch.float64)
    teacher = torch.tensor([[0.8, 0.6], [1.0, 0.0], [-0.6, 0.8]], dtype=torch.float64)
    identity = torch.tensor([0, 0, 1])
    t = 0.5
    total = 0.0
    for i in range(3):  # positive: the teacher's view of image i; negatives: other identities only
        pos = math.exp(float(student[i] @ teacher[i]) / t)
        neg = sum(math.exp(float(student[i] @ teacher[j]) / t) for j in range(3) if identity[j] != identity[i])
        total += -math.log(pos / (pos + neg))
    assert contrastive_distillation(student, teacher, identity, t).item() == pytest.approx(total / 3)


def test_contrastive_distillation_is_low_when_the_student_sees_what_the_teacher_sees():
    e = emb()
    identity = torch.arange(8)
    aligned = contrastive_distillation(e, e, identity, 0.1).item()
    assert aligned < contrastive_distillation(e, emb(seed=5), identity, 0.1).item() and aligned < 0.1


def test_similarity_distillation_matches_a_hand_computation():
    student, teacher = emb(n=4, d=3, seed=1), emb(n=4, d=3, seed=2)
    t = 0.2
    unit = lambda x: x / x.norm(dim=1, keepdim=True)  # noqa: E731
    s_sim, t_sim = (unit(x) @ unit(x).T for x in (student, teacher))
    total = 0.0
    for i in range(4):
        others = [j for j in range(4) if j != i]
        zs = sum(math.exp(float(s_sim[i, j]) / t) for j in others)
        zt = sum(math.exp(float(t_sim[i, j]) / t) for j in others)
        for j in others:
            p = math.exp(float(t_sim[i, j]) / t) / zt
            q = math.exp(float(s_sim[i, j]) / t) / zs
            total += p * math.log(p / q)
    assert similarity_distillation(student, teacher, t).item() == pytest.approx(total / 4)


def test_similarity_distillation_is_zero_for_a_rotated_teacher_space():
    e = emb()
    assert similarity_distillation(e, e @ random_rotation(16), 0.1).item() == pytest.approx(0.0, abs=1e-12)


# --- identity-logit distillation -----------------------------------------------------------------


def test_identity_logit_distillation_matches_a_hand_computation():
    """Two images, three identities: KL of the teacher's over the student's softmax of s * cos / T, times T^2."""
    student_cos = torch.tensor([[0.9, 0.1, -0.2], [0.0, 0.5, 0.4]], dtype=torch.float64)
    teacher_cos = torch.tensor([[0.7, 0.6, -0.1], [0.2, 0.3, 0.8]], dtype=torch.float64)
    s, t = 30.0, 4.0
    total = 0.0
    for i in range(2):
        zs = sum(math.exp(s * float(c) / t) for c in student_cos[i])
        zt = sum(math.exp(s * float(c) / t) for c in teacher_cos[i])
        for j in range(3):
            p = math.exp(s * float(teacher_cos[i, j]) / t) / zt
            q = math.exp(s * float(student_cos[i, j]) / t) / zs
            total += p * math.log(p / q)
    got = identity_logit_distillation(student_cos, teacher_cos, s, t)
    assert got.item() == pytest.approx(total / 2 * t**2)
    assert identity_logit_distillation(teacher_cos, teacher_cos, s, t).item() == pytest.approx(0.0, abs=1e-12)


def test_identity_logit_distillation_refuses_different_identity_sets():
    with pytest.raises(ValueError, match="identity logits differ"):
        identity_logit_distillation(torch.zeros(2, 3), torch.zeros(2, 4), 30.0, 3.0)


def test_centre_cosines_take_each_identitys_closest_subcentre():
    centres = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])  # 2 identities x 2 sub-centres
    cos = centre_cosines(torch.tensor([[0.0, 2.0], [-3.0, 0.0]]), centres, subcenters=2)
    torch.testing.assert_close(cos, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
