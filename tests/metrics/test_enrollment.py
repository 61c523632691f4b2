"""The enrollment protocol on hand-made embeddings: a probe's own capture never in its template,
templates as normalised means, rates the comparisons cannot resolve reported as not measurable,
open-set identification by hand."""

from __future__ import annotations

import numpy as np
import pytest

from thz.metrics.enrollment import enrolled_rows, enrollment_metrics, measurable_tar, open_set_dir, templates


def _captures(identities=4, postures=5, samples=4):
    identity = np.repeat([f"s{i:02d}" for i in range(identities)], postures * samples)
    sample = np.tile(np.repeat([str(k + 1) for k in range(samples)], postures), identities)
    return identity, sample


def test_a_probe_s_own_capture_is_never_in_its_template():
    identity, sample = _captures(samples=5)
    role = enrolled_rows(identity, sample, seed=3)
    for name in set(identity):
        mine = identity == name
        enrolled, probes = set(sample[mine & (role == 1)]), set(sample[mine & (role == 0)])
        assert not enrolled & probes and len(enrolled) == 2 and len(probes) == 3  # half, rounded down
    assert (role == enrolled_rows(identity, sample, seed=3)).all()  # seeded
    assert any((role != enrolled_rows(identity, sample, seed=s)).any() for s in range(4, 8))


def test_an_identity_with_one_capture_is_neither_template_nor_probe():
    identity, sample = np.array(["a", "a", "b", "b", "c"]), np.array(["1", "2", "1", "2", "1"])
    role = enrolled_rows(identity, sample, seed=0)
    assert role[4] == -1 and sorted(role[:2]) == [0, 1] and sorted(role[2:4]) == [0, 1]


def test_a_template_is_the_normalised_mean_of_its_enrolment_images():
    gallery = np.array([[1.0, 0.0], [0.0, 2.0], [5.0, 5.0], [-1.0, 0.0]])
    names, bank = templates(gallery, np.array(["a", "a", "a", "b"]), np.array([1, 1, 0, 1]))
    assert list(names) == ["a", "b"]
    np.testing.assert_allclose(bank, [[2**-0.5, 2**-0.5], [-1.0, 0.0]])  # mean of unit vectors, normalised


def test_a_far_below_the_resolution_of_the_impostor_comparisons_is_not_measurable():
    scores = np.linspace(0, 1, 60)
    genuine = np.arange(60) >= 50  # 50 impostor comparisons: FAR 1 % would need 100
    assert measurable_tar(scores, genuine, 0.01) is None
    assert measurable_tar(scores, genuine, 0.10) == 1.0  # every genuine score above every impostor


def test_open_set_identification_by_hand():
    """100 probes of 2 templates: a probe is identified when its own template ranks first above the
    threshold; the threshold passes at most 1 of the 100 searches without a mate."""
    own = np.array([0, 1] * 50)
    scores = np.zeros((100, 2))
    scores[np.arange(100), own] = np.linspace(0.30, 0.99, 100)  # mated scores
    scores[np.arange(100), 1 - own] = 0.5  # the other template: a non-mated search scores 0.5
    scores[0, 1] = 0.9  # one non-mated search scores high: the threshold is the next one, 0.5
    identified_above = (scores[np.arange(100), own] > 0.5) & (scores.argmax(1) == own)
    assert open_set_dir(scores, own) == pytest.approx(identified_above.mean())
    assert open_set_dir(scores[:99], own[:99]) is None  # 99 searches cannot resolve 1 %


def test_well_separated_identities_verify_and_identify_perfectly_and_rank5_needs_six_templates():
    identity, sample = _captures(identities=4)
    centres = np.eye(8)[:4]
    noise = np.random.default_rng(0).normal(0, 0.05, (len(identity), 8))
    index = np.searchsorted(sorted(set(identity)), identity)
    probe, gallery = centres[index] + noise, centres[index] - noise
    metrics, per_identity = enrollment_metrics(probe, gallery, identity, sample, seed=0)
    assert metrics["auc"] == 1.0 and metrics["rank1"] == 1.0 and metrics["eer"] == 0.0
    assert metrics["rank5"] is None  # 4 templates: rank-5 is 1 by construction
    assert metrics["templates"] == 4 and metrics["probes"] == 4 * 5 * 2
    assert metrics["impostor_comparisons"] == 40 * 3
    assert metrics["tar_at_far_10pct"] == 1.0 and metrics["tar_at_far_1pct"] == 1.0
    assert metrics["tar_at_far_0p1pct"] is None and metrics["dir_at_fpir_1pct"] is None  # 120 < 1000, 40 < 100
    assert per_identity == {n: {"enrollment_auc": 1.0, "enrollment_rank1": 1.0} for n in sorted(set(identity))}
