"""MultiTaskObjective: one forward pass, every unweighted part, and their weighted sum."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from thz.config import LossConfig, ModelConfig
from thz.losses.objective import MultiTaskObjective
from thz.losses.reconstruction import reconstruction_terms
from thz.losses.supcon import instance_loss, supcon_loss, triplet_loss
from thz.models import build_model

B = 8


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model(ModelConfig(width=8)).train()


@pytest.fixture
def batch() -> dict[str, torch.Tensor]:
    """4 identities x 2 images, concealed inputs and their unconcealed targets, 64 px."""
    g = torch.Generator().manual_seed(0)
    return {
        "input": torch.rand(B, 1, 64, 64, generator=g),
        "target": torch.rand(B, 1, 64, 64, generator=g),
        "identity": torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]),
        "posture": torch.tensor([0, 1, 2, 3, 4, 0, 1, 2]),
        "capture": torch.tensor([5, 9, 2, 7, 0, 3, 8, 1]),
    }


def perceptual(pred, target):
    return (pred - target).abs().flatten(1).mean(1)


def capture_output(model) -> list:
    outputs = []
    model.register_forward_hook(lambda mod, inp, out: outputs.append(out))
    return outputs


WEIGHTS = LossConfig(supcon=0.7, posture=0.3, recon=2.0, charbonnier=1.5, ssim=0.5, gradient=0.25, lpips=0.4)


def test_loss_is_the_weighted_sum_of_the_returned_parts(model, batch):
    cfg = WEIGHTS
    parts = MultiTaskObjective(model, cfg, perceptual=perceptual)(batch)
    assert set(parts) == {
        "loss",
        "supcon",
        "posture",
        "recon",
        "charbonnier",
        "ssim",
        "gradient",
        "lpips",
    }
    for name, value in parts.items():
        assert value.ndim == 0 and torch.isfinite(value), name
    recon = cfg.charbonnier * parts["charbonnier"] + cfg.ssim * parts["ssim"]
    recon = recon + cfg.gradient * parts["gradient"] + cfg.lpips * parts["lpips"]
    torch.testing.assert_close(parts["recon"], recon)
    total = cfg.supcon * parts["supcon"] + cfg.posture * parts["posture"] + cfg.recon * parts["recon"]
    torch.testing.assert_close(parts["loss"], total)


def test_parts_are_computed_from_one_forward_pass(model, batch):
    cfg = WEIGHTS
    outputs = capture_output(model)
    parts = MultiTaskObjective(model, cfg, perceptual=perceptual)(batch)
    assert len(outputs) == 1, "inputs and targets are encoded together, once"
    out = outputs[0]
    assert out.emb.shape[0] == 2 * B and out.recon.shape[0] == B, "both encoded, only the inputs decoded"
    identity = torch.cat([batch["identity"], batch["identity"]])
    posture = torch.cat([batch["posture"], batch["posture"]])
    torch.testing.assert_close(parts["supcon"], supcon_loss(out.emb, identity, cfg.temperature))
    expected_ce = F.cross_entropy(out.posture_logits, posture, label_smoothing=cfg.label_smoothing)
    torch.testing.assert_close(parts["posture"], expected_ce)
    for name, value in reconstruction_terms(out.recon, batch["target"], perceptual).items():
        torch.testing.assert_close(parts[name], value.mean(), msg=name)
    # predicted routing in training follows the true postures of the decoded inputs
    torch.testing.assert_close(out.moe.gate_weights, F.one_hot(batch["posture"], 5).float())


def test_loss_backpropagates(model, batch):
    parts = MultiTaskObjective(model, LossConfig(lpips=0.0))(batch)
    parts["loss"].backward()
    grads = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_default_weights(model, batch):
    cfg = LossConfig()
    parts = MultiTaskObjective(model, cfg)(batch)
    torch.testing.assert_close(parts["loss"], parts["supcon"] + parts["posture"] + parts["recon"])
    torch.testing.assert_close(parts["recon"], parts["charbonnier"] + 0.8 * parts["ssim"] + 0.2 * parts["gradient"])


def test_triplet_metric_replaces_supcon(model, batch):
    cfg = LossConfig(metric="triplet", supcon=0.6, triplet_margin=0.3, lpips=0.0)
    outputs = capture_output(model)
    parts = MultiTaskObjective(model, cfg)(batch)
    assert "triplet" in parts and "supcon" not in parts
    identity = torch.cat([batch["identity"], batch["identity"]])
    torch.testing.assert_close(parts["triplet"], triplet_loss(outputs[0].emb, identity, 0.3))
    total = cfg.supcon * parts["triplet"] + cfg.posture * parts["posture"] + cfg.recon * parts["recon"]
    torch.testing.assert_close(parts["loss"], total)


def test_instance_term_is_off_and_not_computed_at_weight_0(model, batch):
    assert "instance" not in MultiTaskObjective(model, LossConfig(lpips=0.0))(batch)


def test_instance_term_labels_each_input_with_its_own_twin(model, batch):
    cfg = LossConfig(supcon=0.6, instance=1.5, lpips=0.0)
    outputs = capture_output(model)
    parts = MultiTaskObjective(model, cfg)(batch)
    capture = torch.cat([batch["capture"], batch["capture"]])
    torch.testing.assert_close(parts["instance"], instance_loss(outputs[0].emb, capture, cfg.temperature))
    total = 0.6 * parts["supcon"] + 1.5 * parts["instance"] + parts["posture"] + parts["recon"]
    torch.testing.assert_close(parts["loss"], total)


def test_instance_term_against_other_identities_uses_the_identity_labels(model, batch):
    cfg = LossConfig(instance=1.0, instance_negatives="other_identities", lpips=0.0)
    outputs = capture_output(model)
    parts = MultiTaskObjective(model, cfg)(batch)
    capture, identity = (torch.cat([batch[k], batch[k]]) for k in ("capture", "identity"))
    expected = instance_loss(outputs[0].emb, capture, cfg.temperature, identity=identity)
    torch.testing.assert_close(parts["instance"], expected)


@pytest.mark.parametrize("metric", ["supcon", "triplet"])
def test_combined_verification_loss_reduces_to_each_part_at_weight_0(batch, metric):
    def total(supcon: float, instance: float) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)  # the same network and dropout draws for every weighting
        model = build_model(ModelConfig(width=8)).train()
        return MultiTaskObjective(model, LossConfig(metric=metric, supcon=supcon, instance=instance, lpips=0.0))(batch)

    both, identity_only, instance_only = total(1.0, 1.0), total(1.0, 0.0), total(0.0, 1.0)
    rest = both["posture"] + both["recon"]
    torch.testing.assert_close(identity_only["loss"], both[metric] + rest)
    torch.testing.assert_close(instance_only["loss"], both["instance"] + rest)
    torch.testing.assert_close(both["loss"], both[metric] + both["instance"] + rest)


def test_with_a_twin_head_each_term_trains_its_own_head(batch):
    torch.manual_seed(0)
    model = build_model(ModelConfig(width=8, twin_head=1.0)).train()
    cfg = LossConfig(instance=0.5, instance_negatives="other_identities", lpips=0.0)
    outputs = capture_output(model)
    parts = MultiTaskObjective(model, cfg)(batch)
    capture, identity = (torch.cat([batch[k], batch[k]]) for k in ("capture", "identity"))
    out = outputs[0]
    torch.testing.assert_close(parts["supcon"], supcon_loss(out.identity_emb, identity, cfg.temperature))
    expected = instance_loss(out.twin_emb, capture, cfg.temperature, identity=identity)
    torch.testing.assert_close(parts["instance"], expected)
    parts["supcon"].backward(retain_graph=True)
    twin_head = list(model.twin_embedding.parameters())
    assert all(p.grad is None for p in twin_head), "the identity term leaves the twin head alone"
    assert all(p.grad is not None for p in model.embedding.parameters())
    model.zero_grad(set_to_none=True)
    parts["instance"].backward()
    assert all(p.grad is None for p in model.embedding.parameters()), "the twin term leaves the identity head alone"
    assert all(p.grad is not None for p in model.twin_embedding.parameters())


def test_lpips_needs_both_a_weight_and_a_perceptual_loss(model, batch):
    no_callable = MultiTaskObjective(model, LossConfig(lpips=0.5), perceptual=None)(batch)
    assert "lpips" not in no_callable
    calls = []

    def counting(pred, target):
        calls.append(1)
        return perceptual(pred, target)

    zero_weight = MultiTaskObjective(model, LossConfig(lpips=0.0), perceptual=counting)(batch)
    assert "lpips" not in zero_weight and not calls, "a zero weight does not even run the perceptual loss"
    for parts in (no_callable, zero_weight):
        recon = parts["charbonnier"] + 0.8 * parts["ssim"] + 0.2 * parts["gradient"]
        torch.testing.assert_close(parts["recon"], recon)


def test_soft_routing_trains_every_expert(batch):
    torch.manual_seed(0)
    model = build_model(ModelConfig(width=8, moe_routing="soft")).train()
    parts = MultiTaskObjective(model, LossConfig(lpips=0.0))(batch)
    assert torch.isfinite(parts["loss"])
    parts["loss"].backward()
    assert all(p.grad is not None for expert in model.decoder.experts for p in expert.parameters())
