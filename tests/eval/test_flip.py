"""Test-time flip (eval.flip, thz.eval.forward): off, predictions are the plain forward pass; on, a
mirrored test set gets the mirrored answer, the posture logits are read left for right, and a
reconstruction is the mean of the direct one and the mirror's under the mirrored expert."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lab.random_pairs import make_pairset
from tests.pairsets import TINY_MODEL
from thz.config import PUBLISHED_VISIBLE, TeacherConfig
from thz.data.dataset import PairSet
from thz.data.naming import MIRRORED_POSTURES, POSTURES
from thz.eval.predictions import ROUTINGS, predict
from thz.models import build_model
from thz.models.inputs import Inputs
from thz.models.multitask import NetOutput

MIRRORED = list(MIRRORED_POSTURES)


def mirrored(data: PairSet) -> PairSet:
    """The same captures mirrored left to right: images and photos flipped, left and right swapped."""
    flip = {k: getattr(data, k) for k in ("inputs", "targets", "visible_inputs", "visible_targets")}
    flip = {k: None if v is None else v.flip(-1) for k, v in flip.items()}
    return dataclasses.replace(data, posture=torch.as_tensor(MIRRORED)[data.posture], **flip)


def tiny(teacher: bool = False):
    teacher_cfg = TeacherConfig(heads=4, **PUBLISHED_VISIBLE) if teacher else None
    model = build_model(TINY_MODEL, teacher_cfg)
    data = make_pairset(identities=3, postures=5, samples=1, visible=Inputs.of(teacher_cfg).visible)
    return model, data


def test_the_mirror_of_a_posture():
    assert [POSTURES[p] for p in MIRRORED_POSTURES] == ["front", "right", "left", "up", "down"]


def test_flip_off_is_the_plain_forward_pass():
    torch.manual_seed(0)
    model, data = tiny()
    pred = predict(model, data, batch_size=len(data), flip=False)
    images, posture, _ = model.inputs.pick(data.batch(torch.arange(len(data))))
    with torch.no_grad():
        out = model.eval()(images, posture, decode=len(data), routing=ROUTINGS[0])
    n = len(data)
    assert np.array_equal(pred.probe, out.emb[:n].numpy()) and np.array_equal(pred.gallery, out.emb[n:].numpy())
    assert np.array_equal(pred.logits, out.posture_logits[:n].numpy())
    assert torch.equal(pred.recon[ROUTINGS[0]], out.recon)


@pytest.mark.parametrize("teacher", [False, True])
def test_with_flip_a_mirrored_test_set_gets_the_mirrored_answer(teacher):
    torch.manual_seed(0)
    model, data = tiny(teacher)
    mirror = mirrored(data)
    plain, plain_mirror = predict(model, data, routings=()), predict(model, mirror, routings=())
    assert np.abs(plain.probe - plain_mirror.probe).max() > 1e-3  # the network itself is not symmetric

    pred, pred_mirror = predict(model, data, batch_size=8, flip=True), predict(model, mirror, batch_size=8, flip=True)
    np.testing.assert_allclose(pred_mirror.probe, pred.probe, atol=1e-6)
    np.testing.assert_allclose(pred_mirror.gallery, pred.gallery, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(pred.probe, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(pred_mirror.logits, pred.logits[:, MIRRORED], atol=1e-6)
    for routing in ROUTINGS:
        np.testing.assert_allclose(pred_mirror.recon[routing].numpy(), pred.recon[routing].flip(-1).numpy(), atol=1e-6)
    assert np.abs(pred.probe - plain.probe).max() > 1e-3  # and flip changed the answer


class HalvesNet(nn.Module):
    """A stub network that reads the image halves: posture logits (left half - right half, left
    half, right half, top half, bottom half) and the unit embedding of (left half, right half),
    each the mean brightness there. Decodes nothing."""

    inputs, routing = Inputs(), "predicted"

    def forward(self, x, posture=None, decode=False, routing=None, visible=None) -> NetOutput:
        assert decode is False
        w, h = x.shape[-1] // 2, x.shape[-2] // 2
        left, right = x[..., :w].mean((1, 2, 3)), x[..., w:].mean((1, 2, 3))
        top, bottom = x[..., :h, :].mean((1, 2, 3)), x[..., h:, :].mean((1, 2, 3))
        logits = torch.stack([left - right, left, right, top, bottom], dim=1)
        latent = torch.stack([left, right], dim=1)
        return NetOutput(F.normalize(latent, dim=1), logits, None, None, latent)


def test_flip_reads_the_mirror_s_posture_logits_left_for_right():
    data = make_pairset(identities=2, postures=5, samples=1, size=16)
    data.inputs[:] = 0
    data.inputs[:, :, :, :8] = 255  # left half 1, right half 0.2, top and bottom alike
    data.inputs[:, :, :, 8:] = 51
    pred = predict(HalvesNet(), data, routings=(), flip=True)
    # the mirror's logits (-0.8, 0.2, 1, 0.6, 0.6), left and right swapped, averaged with the direct ones
    np.testing.assert_allclose(pred.logits, np.tile([0.0, 1.0, 0.2, 0.6, 0.6], (len(data), 1)), atol=1e-6)
    direct, mirror = np.array([1.0, 0.2]), np.array([0.2, 1.0])
    both = direct / np.linalg.norm(direct) + mirror / np.linalg.norm(mirror)
    np.testing.assert_allclose(pred.probe, np.tile(both / np.linalg.norm(both), (len(data), 1)), atol=1e-6)


def torn_between_left_and_right(model, data: PairSet) -> None:
    """Set the posture head's bias so that left and right tie on average over `data` and the
    other postures lose: an image's own guess is then left or right by a hair, and its mirror can
    outvote it."""
    logits = torch.as_tensor(predict(model, data, routings=()).logits).mean(0)
    with torch.no_grad():
        model.posture_head.bias -= logits - torch.tensor([-10.0, 0.0, 0.0, -10.0, -10.0])


def test_a_flipped_reconstruction_is_the_mirror_s_under_the_mirrored_expert_flipped_back():
    torch.manual_seed(0)
    model, data = tiny()
    torn_between_left_and_right(model, data)
    pred = predict(model, data, batch_size=len(data), flip=True)
    x, posture = data.batch(torch.arange(len(data)))["input"], data.posture
    with torch.no_grad():
        direct = model.eval()(x, posture, routing="oracle").recon
        mirror = model(x.flip(-1), torch.as_tensor(MIRRORED)[posture], routing="oracle").recon
    np.testing.assert_allclose(pred.recon["oracle"].numpy(), ((direct + mirror.flip(-1)) / 2).numpy(), atol=1e-6)

    # predicted routing follows the averaged posture: the direct pass's own guess differs for some
    # images, and they are decoded again under the averaged one
    averaged = torch.as_tensor(pred.logits.argmax(axis=1))
    assert (averaged != torch.as_tensor(predict(model, data, routings=()).logits.argmax(axis=1))).any()
    relabelled = predict(model, dataclasses.replace(data, posture=averaged), routings=("oracle",), flip=True)
    np.testing.assert_allclose(pred.recon["predicted"].numpy(), relabelled.recon["oracle"].numpy(), atol=1e-6)
    alone = predict(model, data, routings=("predicted",), batch_size=4, flip=True)  # a full decode, other batches
    np.testing.assert_allclose(pred.recon["predicted"].numpy(), alone.recon["predicted"].numpy(), atol=1e-5)
