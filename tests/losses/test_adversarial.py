"""Adversarial completion: the two losses by hand, the patch discriminator's shape, and the task
objective's adversarial part (off and not built at weight 0) and the discriminator's step behind
its after_step hook."""

from __future__ import annotations

import pytest
import torch

from thz.config import LossConfig, ModelConfig
from thz.losses.adversarial import Adversary, discriminator_loss, generator_loss
from thz.losses.objective import MultiTaskObjective
from thz.models import build_model
from thz.models.discriminator import PatchDiscriminator

REAL, FAKE = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.5])


def test_hinge_by_hand():
    # real: relu(1 - [2, .5, -1]) = [0, .5, 2] -> mean 5/6; fake: relu(1 + [-2, 0, 1.5]) = [0, 1, 2.5] -> 7/6
    assert discriminator_loss(REAL, FAKE, "hinge").item() == pytest.approx(5 / 6 + 7 / 6)
    assert generator_loss(FAKE, "hinge").item() == pytest.approx(-(-2 + 0 + 1.5) / 3)


def test_least_squares_by_hand():
    real = ((REAL - 1) ** 2).mean()  # (1 + .25 + 4) / 3
    fake = (FAKE**2).mean()  # (4 + 0 + 2.25) / 3
    assert discriminator_loss(REAL, FAKE, "lsgan").item() == pytest.approx(0.5 * (real + fake).item())
    assert generator_loss(FAKE, "lsgan").item() == pytest.approx(0.5 * ((FAKE - 1) ** 2).mean().item())


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="hinge or lsgan"):
        generator_loss(FAKE, "wgan")


@pytest.mark.parametrize(("conditional", "channels"), [(True, 2), (False, 1)])
def test_patch_discriminator_gives_one_logit_per_patch(conditional, channels):
    adversary = Adversary("hinge", conditional, width=8)
    assert adversary.discriminator.in_channels == channels
    image, concealed = torch.rand(3, 1, 64, 64), torch.rand(3, 1, 64, 64)
    assert adversary.logits(image, concealed).shape == (3, 1, 8, 8)
    assert PatchDiscriminator(1, 8)(torch.rand(2, 1, 32, 32)).shape == (2, 1, 4, 4)


def test_the_conditional_discriminator_sees_the_concealed_input():
    torch.manual_seed(0)
    adversary = Adversary("hinge", conditional=True, width=8)
    image = torch.rand(2, 1, 64, 64)
    assert not torch.equal(
        adversary.logits(image, torch.zeros_like(image)), adversary.logits(image, torch.ones_like(image))
    )


def _batch():
    g = torch.Generator().manual_seed(0)
    return {
        "input": torch.rand(4, 1, 64, 64, generator=g),
        "target": torch.rand(4, 1, 64, 64, generator=g),
        "identity": torch.tensor([0, 0, 1, 1]),
        "posture": torch.tensor([0, 1, 2, 3]),
        "capture": torch.arange(4),
    }


def test_objective_without_the_adversarial_weight_builds_nothing():
    objective = MultiTaskObjective(build_model(ModelConfig(width=8)), LossConfig(lpips=0.0))
    assert objective.adversary is None and "discriminator" not in objective.networks()
    assert "adversarial" not in objective(_batch()) and objective.after_step(1e-3, 1.0) == {}


def test_objective_adds_the_weighted_adversarial_term_and_its_hook_steps_the_discriminator_once():
    torch.manual_seed(0)
    model = build_model(ModelConfig(width=8)).train()
    objective = MultiTaskObjective(model, LossConfig(lpips=0.0, adversarial=0.3, adversarial_loss="lsgan"))
    assert objective.after_step(1e-3, 1.0) == {}  # no training batch yet: nothing to judge
    batch = _batch()
    torch.manual_seed(1)  # the same dropout in the reconstruction below
    parts = objective(batch)
    total = parts["supcon"] + parts["posture"] + parts["recon"] + 0.3 * parts["adversarial"]
    torch.testing.assert_close(parts["loss"], total)
    assert objective.networks()["discriminator"] is objective.adversary.discriminator
    # the decoder's adversarial loss reaches the decoder (the model's step comes before the discriminator's)
    parts["adversarial"].backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    assert any(grads[k].abs().sum() > 0 for k in grads if k.startswith("decoder."))
    discriminator = objective.adversary.discriminator
    before = {k: v.detach().clone() for k, v in discriminator.named_parameters()}
    with torch.no_grad():  # the loss the step will take, on this batch's reconstruction (detached)
        torch.manual_seed(1)
        recon = model(torch.cat([batch["input"], batch["target"]]), torch.cat([batch["posture"]] * 2), decode=4).recon
        expected = objective.adversary.discriminator_loss(recon, batch["target"], batch["input"]).item()
    logged = objective.after_step(2e-3, 0.0)
    assert logged.keys() == {"discriminator"} and logged["discriminator"] == pytest.approx(expected, rel=1e-4)
    assert objective.adversary.optimizer.param_groups[0]["lr"] == 2e-3
    assert all(not torch.equal(before[k], v) for k, v in discriminator.named_parameters()), "it learns"
    assert objective.after_step(2e-3, 0.0) == {}, "each batch's reconstructions are judged once"
    after = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
    assert after.keys() == grads.keys() and all(torch.equal(grads[k], after[k]) for k in grads), "the model's untouched"
