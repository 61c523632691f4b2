"""Evaluation of a trained model: predictions under both routings, scores on constructed
predictions with known answers, the per-sample table and what is grouped from it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lab.random_pairs import make_pairset
from tests.pairsets import TINY_MODEL
from thz.config import PUBLISHED_VISIBLE, TeacherConfig
from thz.data.naming import format_name
from thz.eval.predictions import ROUTINGS, Predictions, predict
from thz.eval.scoring import accepts_table, per_identity_table, per_sample_table, roc_table, score, val_threshold
from thz.eval.tar_intervals import fold_counts
from thz.models import build_model


def constructed(separated: bool = True, n_ids: int = 3, per_id: int = 5, seed: int = 0) -> Predictions:
    """Predictions with one-hot identity embeddings (plus noise): perfectly separable when asked."""
    rng = np.random.default_rng(seed)
    ids = np.repeat([f"p{i}" for i in range(n_ids)], per_id)
    base = np.eye(8)[np.repeat(np.arange(n_ids), per_id)] if separated else rng.normal(size=(len(ids), 8))
    posture = np.tile(np.arange(per_id) % 5, n_ids)
    targets = torch.rand(len(ids), 1, 16, 16, generator=torch.Generator().manual_seed(seed))
    return Predictions(
        identity=ids,
        posture=posture,
        paths=tuple(
            format_name(i, p, True, str(k % per_id // 5 + 1)) for k, (i, p) in enumerate(zip(ids, posture, strict=True))
        ),
        probe=base + rng.normal(0, 0.01, base.shape),
        gallery=base + rng.normal(0, 0.01, base.shape),
        logits=np.eye(5)[posture] * 5.0,
        targets=targets,
        recon={"oracle": targets.clone(), "predicted": (targets * 0.5).clone()},
    )


def test_perfect_embeddings_score_perfectly():
    pred = constructed()
    metrics, table = score(pred, threshold=0.5)
    v = metrics["verification"]
    assert v["probe_gallery"]["auc"] == 1.0 and v["probe_gallery"]["eer"] == 0.0
    assert v["concealed_concealed"]["auc"] == 1.0 and v["rank1"] == 1.0
    assert v["triplet_ranking_accuracy"] == 1.0 and v["triplet_ranking_accuracy_margin_0p2"] == 1.0
    assert v["probe_gallery"]["at_val_threshold"]["accuracy"] == 1.0
    assert metrics["posture"]["accuracy"] == 1.0
    assert metrics["reconstruction"]["oracle"]["ssim"] == pytest.approx(1.0)
    assert metrics["reconstruction"]["oracle"]["mae"] == 0.0
    assert metrics["reconstruction"]["predicted"]["ssim"] < 0.99  # the other routing is scored apart
    assert metrics["separability"]["silhouette"] > 0.9
    assert metrics["test"] == {"identities": 3, "images": 15}
    assert (table.verification_auc == 1.0).all()


def test_the_enrollment_protocol_and_rank1_without_the_twin_are_reported():
    """Two captures per identity and posture: one enrolls, the other probes; with one-hot identity
    embeddings every probe finds its template, and rank-1 still holds with its own twin removed."""
    v = score(constructed(n_ids=4, per_id=10), threshold=0.5)[0]["verification"]
    assert v["enrollment"]["templates"] == 4 and v["enrollment"]["probes"] == 4 * 5
    assert v["enrollment"]["auc"] == 1.0 and v["enrollment"]["rank1"] == 1.0 and v["enrollment"]["rank5"] is None
    assert v["rank1_twin_excluded"] == 1.0
    single = score(constructed(), threshold=0.5)[0]["verification"]["enrollment"]  # one capture each
    assert single["templates"] == 0 and single["auc"] is None


def test_rank1_without_the_twin_drops_when_only_the_twin_matches():
    pred = constructed(separated=False, n_ids=4, per_id=6)
    pred.gallery = pred.probe.copy()  # each probe's twin is its exact copy, other captures are noise
    v = score(pred, threshold=0.5)[0]["verification"]
    assert v["rank1"] == 1.0 and v["rank1_twin_excluded"] < 0.6


def test_random_embeddings_score_near_chance():
    pred = constructed(separated=False, n_ids=6, per_id=20)
    v = score(pred, threshold=0.0)[0]["verification"]["probe_gallery"]
    assert 0.4 < v["auc"] < 0.6 and 0.4 < v["eer"] < 0.6


def test_the_threshold_is_applied_not_chosen_on_test():
    pred = constructed()
    everything = score(pred, threshold=-2.0)[0]["verification"]["probe_gallery"]["at_val_threshold"]
    assert everything["far"] == 1.0 and everything["frr"] == 0.0  # accepts every pair
    assert everything["threshold"] == -2.0
    assert 0.0 < val_threshold(pred) <= 1.0


def test_the_two_protocols_differ_on_a_twin_matcher():
    """Embeddings that match each capture to its own twin but carry no identity: perfect on the
    published triplets, at chance at the identity level (what the published objective learns)."""
    rng = np.random.default_rng(1)
    pred = constructed(n_ids=4, per_id=10)
    capture_codes = rng.normal(size=(len(pred.identity), 64))  # one random code per capture
    pred.probe, pred.gallery = capture_codes + rng.normal(0, 0.05, capture_codes.shape), capture_codes
    metrics, table = score(pred, threshold=0.5)
    v = metrics["verification"]
    assert v["triplet"]["auc"] == pytest.approx(1.0) and v["triplet_ranking_accuracy"] == pytest.approx(1.0)
    assert v["triplet"]["eer"] == pytest.approx(0.0, abs=1e-9)
    assert v["triplet"]["genuine_pairs"] == v["triplet"]["impostor_pairs"] == len(pred.identity)
    assert 0.35 < v["probe_gallery"]["auc"] < 0.65
    assert (table.triplet_correct == 1.0).all()


def test_triplet_correct_by_hand():
    """Anchor 0's twin scores below its negative (the only other identity in its posture)."""
    pred = constructed(n_ids=2, per_id=1)  # two probes, both posture 0: each the other's negative
    pred.probe = np.array([[1.0, 0.0], [0.8, 0.6]])
    pred.gallery = np.array([[0.0, 1.0], [0.8, 0.6]])
    table = per_sample_table(pred)
    assert table.triplet_correct.tolist() == [0.0, 1.0]  # cos(a0, twin) 0 < cos(a0, a1) 0.8; a1: 1 > 0.8


def test_psnr_and_mae_by_hand():
    pred = constructed()
    pred.recon["predicted"] = (pred.targets + 0.1).clamp(max=10)  # error exactly 0.1 everywhere
    table = per_sample_table(pred)
    assert table.mae_predicted.to_numpy() == pytest.approx(0.1, rel=1e-5)
    assert table.psnr_predicted.to_numpy() == pytest.approx(20.0, rel=1e-4)  # 10 log10(1 / 0.01)
    assert table.sharpness_gap_predicted.to_numpy() == pytest.approx(0.0, abs=1e-5)  # a shift keeps every edge
    assert table.sharpness_oracle.to_numpy() == pytest.approx(1.0)
    pred.recon["predicted"] = pred.targets * 0.5  # half the contrast: half the gradient magnitude
    assert per_sample_table(pred).sharpness_gap_predicted.to_numpy() == pytest.approx(0.5, rel=1e-5)


def test_lpips_is_a_column_with_a_perceptual_model_and_a_reason_without():
    pred = constructed()
    with_lpips, table = score(pred, 0.5, perceptual=lambda a, b: (a - b).abs().flatten(1).mean(1))
    assert "lpips" in with_lpips["reconstruction"]["oracle"] and "lpips_oracle" in table
    without = score(pred, 0.5, lpips_reason="weights not found at X")[0]["reconstruction"]
    assert without["lpips_missing"] == "weights not found at X" and "lpips" not in without["oracle"]


def test_per_identity_table_and_roc():
    pred = constructed(separated=False, n_ids=4, per_id=6)
    table = per_sample_table(pred)
    ids = per_identity_table(pred, table)
    assert list(ids.identity) == ["p0", "p1", "p2", "p3"] and (ids.n == 6).all()
    assert ids.verification_auc.tolist() == pytest.approx(table.groupby("identity").verification_auc.mean().tolist())
    assert ids.verification_eer.between(0, 1).all() and ids.verification_tar_at_far_1pct.between(0, 1).all()
    assert {"silhouette", "compactness", "separation", "davies_bouldin"} <= set(ids.columns)
    assert ids.triplet_correct.tolist() == pytest.approx(table.groupby("identity").triplet_correct.mean().tolist())
    roc = roc_table(pred)
    assert roc.fpr.iloc[0] == 0 and roc.fpr.iloc[-1] == 1 and roc.tpr.is_monotonic_increasing


def test_the_accept_counts_give_both_protocols_measured_tar():
    """accepts.csv (the bootstrap's input) holds, per protocol and identity, counts from which the
    whole fold's TAR at FAR is the one metrics.json reports."""
    pred = constructed(separated=False, n_ids=4, per_id=20)
    pred.gallery = pred.probe + np.random.default_rng(2).normal(0, 0.8, pred.probe.shape)  # some signal
    metrics = score(pred, threshold=0.5)[0]["verification"]
    table = accepts_table(pred)
    assert list(table.columns[:2]) == ["protocol", "identity"] and set(table.protocol) == {
        "probe_gallery",
        "enrollment",
    }
    assert sorted(set(table.identity)) == ["p0", "p1", "p2", "p3"]
    gallery = fold_counts(table, "probe_gallery")
    assert gallery.genuine.sum() == metrics["probe_gallery"]["genuine_pairs"]
    assert gallery.impostors.sum() == metrics["probe_gallery"]["impostor_pairs"]
    for key, far in (("1pct", 0.01), ("10pct", 0.10)):
        assert gallery.tar(far) == pytest.approx(metrics["probe_gallery"][f"tar_at_far_{key}"], abs=1e-12)
    enrolled = fold_counts(table, "enrollment")
    assert enrolled.impostors.sum() == metrics["enrollment"]["impostor_comparisons"]
    assert enrolled.tar(0.10) == pytest.approx(metrics["enrollment"]["tar_at_far_10pct"], abs=1e-12)
    assert fold_counts(accepts_table(constructed()), "enrollment").genuine.size == 0  # one capture each: none


def test_predict_with_a_thz_only_model_and_with_a_teacher():
    torch.manual_seed(0)
    data = make_pairset(identities=3, postures=5, samples=1)
    student = build_model(TINY_MODEL)
    pred = predict(student, data, batch_size=4)
    assert pred.probe.shape == pred.gallery.shape == (15, 16) and pred.logits.shape == (15, 5)
    assert set(pred.recon) == set(ROUTINGS) and pred.recon["oracle"].shape == (15, 1, 64, 64)
    assert list(pred.identity[:5]) == ["id0"] * 5
    again = predict(student, data, batch_size=15)  # batching does not change predictions (eval mode)
    np.testing.assert_allclose(again.probe, pred.probe, atol=1e-5)

    teacher = build_model(TINY_MODEL, TeacherConfig(heads=4, **PUBLISHED_VISIBLE))
    with pytest.raises(ValueError, match="needs visible images"):
        predict(teacher, data)
    with_visible = dataclasses.replace(data, visible_inputs=data.inputs, visible_targets=data.targets)
    assert predict(teacher, with_visible).probe.shape == (15, 16)


@pytest.mark.parametrize("teacher", [False, True])
def test_a_second_routing_decodes_only_the_moved_samples_and_equals_a_full_decode(teacher):
    torch.manual_seed(0)
    data = make_pairset(identities=3, postures=5, samples=2)
    if teacher:
        data = dataclasses.replace(data, visible_inputs=data.inputs, visible_targets=data.targets)
    model = build_model(TINY_MODEL, TeacherConfig(heads=4, **PUBLISHED_VISIBLE) if teacher else None)
    pred = predict(model, data, batch_size=8)
    moved = pred.logits.argmax(axis=1) != pred.posture
    assert 0 < moved.sum() < len(moved)  # an untrained posture head moves some samples, not all

    # what each routing decodes on its own, every sample
    for routing in ROUTINGS:
        alone = predict(model, data, routings=(routing,), batch_size=8)
        np.testing.assert_allclose(pred.recon[routing].numpy(), alone.recon[routing].numpy(), atol=1e-5)
    # and the second routing ran the decoder on the moved samples only
    decoded = []
    model.decoder.register_forward_hook(lambda module, args, output: decoded.append(len(output[0])))
    predict(model, data, batch_size=len(data))
    assert decoded == [len(data), int(moved.sum())]


def test_no_routing_gives_embeddings_without_decoding():
    torch.manual_seed(0)
    data = make_pairset(identities=3, postures=5, samples=1)
    model = build_model(TINY_MODEL)
    model.decoder.register_forward_hook(lambda *_: pytest.fail("the decoder ran"))
    pred = predict(model, data, routings=())
    assert pred.recon == {} and pred.probe.shape == (15, 16)
