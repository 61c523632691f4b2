"""SupCon (Khosla et al. L_out, self excluded from the denominator) and batch-hard triplet, on identity labels."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from thz.losses.supcon import instance_loss, supcon_loss, triplet_loss


def normalised(n: int = 6, dim: int = 4, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, dim, generator=g, dtype=torch.float64), dim=1)


def reference_supcon(emb: torch.Tensor, labels: list[int], t: float, keep_self: bool = False) -> float:
    """Khosla et al. (2020) eq. 2, L_out, as a plain double loop. Denominator over a != i
    (or over every a when `keep_self`, the wrong variant); anchors without a positive are skipped."""
    z = emb.tolist()
    n = len(z)

    def sim(i: int, j: int) -> float:
        return sum(a * b for a, b in zip(z[i], z[j], strict=True)) / t

    per_anchor = []
    for i in range(n):
        positives = [p for p in range(n) if p != i and labels[p] == labels[i]]
        if not positives:
            continue
        denom = sum(math.exp(sim(i, a)) for a in range(n) if keep_self or a != i)
        per_anchor.append(-sum(math.log(math.exp(sim(i, p)) / denom) for p in positives) / len(positives))
    return sum(per_anchor) / len(per_anchor)


@pytest.mark.parametrize(
    "labels",
    [[0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 2], [3, 1, 3, 7, 1, 3]],
    ids=["pairs", "ragged-with-singleton", "unordered-ids"],
)
@pytest.mark.parametrize("t", [0.07, 0.5])
def test_supcon_equals_the_double_loop_formula(labels, t):
    emb = normalised()
    got = supcon_loss(emb, torch.tensor(labels), temperature=t).item()
    assert got == pytest.approx(reference_supcon(emb, labels, t), rel=1e-9)
    # keeping the self term in the denominator is a different loss, and the reference knows it
    assert abs(reference_supcon(emb, labels, t, keep_self=True) - got) > 1e-3


def test_supcon_float32_and_default_temperature():
    emb = normalised().float()
    labels = [0, 0, 1, 1, 2, 2]
    got = supcon_loss(emb, torch.tensor(labels))
    assert got.dtype == torch.float32 and got.ndim == 0
    assert got.item() == pytest.approx(reference_supcon(emb.double(), labels, 0.07), rel=1e-5)


def test_supcon_is_permutation_invariant():
    emb, labels = normalised(8, 5, seed=1), torch.tensor([0, 1, 2, 0, 1, 2, 2, 3])
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(supcon_loss(emb[perm], labels[perm]), supcon_loss(emb, labels))


def test_supcon_depends_on_the_labels():
    emb = normalised()
    a = supcon_loss(emb, torch.tensor([0, 0, 1, 1, 2, 2]))
    b = supcon_loss(emb, torch.tensor([0, 1, 0, 1, 2, 2]))
    assert abs(a.item() - b.item()) > 1e-3
    # relabelling (same partition, other ids) changes nothing
    torch.testing.assert_close(supcon_loss(emb, torch.tensor([5, 5, 9, 9, 1, 1])), a)


def test_supcon_without_positives_is_zero_and_differentiable():
    emb = normalised().requires_grad_(True)
    loss = supcon_loss(emb, torch.arange(6))
    assert loss.item() == 0.0
    loss.backward()
    assert emb.grad is not None and torch.equal(emb.grad, torch.zeros_like(emb))


def test_supcon_gradient_is_finite():
    emb = normalised().requires_grad_(True)
    supcon_loss(emb, torch.tensor([0, 0, 0, 1, 1, 2])).backward()
    assert torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0


def test_supcon_decreases_under_sgd():
    torch.manual_seed(0)
    weights = torch.randn(8, 4, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    opt = torch.optim.SGD([weights], lr=0.1)
    history = []
    for _ in range(20):
        loss = supcon_loss(F.normalize(weights, dim=1), labels, temperature=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    assert all(b < a for a, b in zip(history[:-1], history[1:], strict=True)), history
    assert history[-1] < 0.75 * history[0], history


# --------------------------------------------------------------------------------------------------
# batch-hard triplet


def test_triplet_is_zero_for_well_separated_classes():
    g = torch.Generator().manual_seed(0)
    centre = torch.zeros(8, 6)
    centre[:4, 0], centre[4:, 0] = 1.0, -1.0
    emb = F.normalize(centre + 0.01 * torch.randn(8, 6, generator=g), dim=1)
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    assert triplet_loss(emb, labels, margin=0.2).item() == 0.0


def test_triplet_is_positive_for_overlapping_classes():
    emb = normalised(8, 4, seed=2).float()
    labels = torch.tensor([0, 1, 0, 1, 0, 1, 0, 1])
    assert triplet_loss(emb, labels, margin=0.2).item() > 0.0


def test_triplet_equals_a_hand_computed_batch_hard_example():
    # points on a line: a=0, b=0.6 (class 0); c=1, d=2 (class 1); margin 0.3
    #   a: hardest pos 0.6, hardest neg min(1, 2)=1     -> relu(0.6 - 1 + 0.3)   = 0
    #   b: hardest pos 0.6, hardest neg min(0.4, 1.4)   -> relu(0.6 - 0.4 + 0.3) = 0.5
    #   c: hardest pos 1,   hardest neg min(1, 0.4)     -> relu(1 - 0.4 + 0.3)   = 0.9
    #   d: hardest pos 1,   hardest neg min(2, 1.4)     -> relu(1 - 1.4 + 0.3)   = 0
    emb = torch.tensor([[0.0, 0.0], [0.6, 0.0], [1.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1])
    assert triplet_loss(emb, labels, margin=0.3).item() == pytest.approx((0 + 0.5 + 0.9 + 0) / 4)
    # a singleton (no positive) is left out of the mean, though it still serves as a far negative
    emb5 = torch.cat([emb, torch.tensor([[10.0, 0.0]], dtype=torch.float64)])
    assert triplet_loss(emb5, torch.tensor([0, 0, 1, 1, 2]), margin=0.3).item() == pytest.approx(1.4 / 4)


def test_triplet_without_valid_anchors_is_zero_and_differentiable():
    emb = normalised(4, 3).requires_grad_(True)
    for labels in (torch.arange(4), torch.zeros(4, dtype=torch.long)):  # no positives / no negatives
        loss = triplet_loss(emb, labels)
        assert loss.item() == 0.0
        loss.backward()
        assert emb.grad is not None and torch.equal(emb.grad, torch.zeros_like(emb))


def test_triplet_gradient_is_finite_with_duplicate_embeddings():
    base = normalised(3, 4)
    emb = torch.cat([base, base[:1]]).requires_grad_(True)  # rows 0 and 3 coincide: distance 0
    triplet_loss(emb, torch.tensor([0, 1, 2, 0])).backward()
    assert torch.isfinite(emb.grad).all()


# instance-level ("twin") contrastive, the published objective


def reference_instance(emb: torch.Tensor, identity: list[int], t: float) -> float:
    """Rows 0..B-1 are concealed inputs, rows B..2B-1 their unconcealed twins. Each row's one
    positive is its twin; every other row is a negative, the same identity's other captures too
    (`identity` is taken only to show that it plays no part)."""
    z = emb.tolist()
    n, b = len(z), len(z) // 2
    del identity

    def sim(i: int, j: int) -> float:
        return sum(x * y for x, y in zip(z[i], z[j], strict=True)) / t

    total = 0.0
    for i in range(n):
        twin = i + b if i < b else i - b
        denom = sum(math.exp(sim(i, a)) for a in range(n) if a != i)
        total += -math.log(math.exp(sim(i, twin)) / denom)
    return total / n


@pytest.mark.parametrize("t", [0.07, 0.5])
def test_instance_loss_equals_the_double_loop_with_twin_positives_only(t):
    identity = [0, 0, 1, 1]  # two captures of each of two people
    emb = normalised(n=8, dim=5, seed=3)
    capture = torch.tensor([10, 11, 12, 13, 10, 11, 12, 13])  # any ids; input and twin share one
    got = instance_loss(emb, capture, temperature=t).item()
    assert got == pytest.approx(reference_instance(emb, identity, t), rel=1e-9)
    # the same person's other capture is a negative here, a positive for the identity loss
    assert got != pytest.approx(supcon_loss(emb, torch.tensor(identity * 2), temperature=t).item(), rel=1e-3)


def test_instance_loss_is_low_when_twins_coincide_and_captures_differ():
    base = torch.eye(4, dtype=torch.float64)
    matched = torch.cat([base, base])  # each twin equal to its input, captures orthogonal
    swapped = torch.cat([base, base[[1, 0, 3, 2]]])  # twins given another capture's embedding
    capture = torch.arange(4).repeat(2)
    assert instance_loss(matched, capture, 0.1) < instance_loss(swapped, capture, 0.1) - 5


def reference_twin_against_others(emb: torch.Tensor, identity: list[int], t: float) -> float:
    """As reference_instance, but the denominator holds the twin and the other identities' images only."""
    z = emb.tolist()
    n, b = len(z), len(z) // 2

    def sim(i: int, j: int) -> float:
        return sum(x * y for x, y in zip(z[i], z[j], strict=True)) / t

    total = 0.0
    for i in range(n):
        twin = i + b if i < b else i - b
        kept = [a for a in range(n) if a == twin or identity[a] != identity[i]]
        total += -math.log(math.exp(sim(i, twin)) / sum(math.exp(sim(i, a)) for a in kept))
    return total / n


def test_instance_loss_against_other_identities_leaves_the_same_person_out():
    emb = normalised(n=8, dim=5, seed=4)
    capture = torch.arange(4).repeat(2)
    identity = [0, 0, 1, 2] * 2
    got = instance_loss(emb, capture, 0.1, identity=torch.tensor(identity)).item()
    assert got == pytest.approx(reference_twin_against_others(emb, identity, 0.1), rel=1e-9)
    # with every capture its own person it is the published loss
    alone = instance_loss(emb, capture, 0.1, identity=torch.arange(4).repeat(2)).item()
    assert alone == pytest.approx(instance_loss(emb, capture, 0.1).item(), rel=1e-9)
