"""Identity-balanced P x K batches: composition, reproducibility in (seed, epoch), counts, small identities."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from thz.data.samplers import batch_notices, epoch_batches, identity_batches, random_batches

# 4 identities x 5 postures x 2 samples, as in a tiny PairSet
FORTY = torch.arange(4).repeat_interleave(10)


def _identities_of(batch: torch.Tensor, identity: torch.Tensor) -> Counter:
    return Counter(identity[batch].tolist())


@pytest.mark.parametrize(("p", "k"), [(2, 2), (2, 5), (4, 2), (3, 3)])
def test_each_batch_has_p_distinct_identities_with_k_indices_each(p, k):
    batches = identity_batches(FORTY, p, k, seed=0, epoch=0)
    for batch in batches:
        assert batch.dtype == torch.int64 and batch.shape == (p * k,)
        assert ((batch >= 0) & (batch < len(FORTY))).all()
        counts = _identities_of(batch, FORTY)
        assert len(counts) == p
        assert set(counts.values()) == {k}
        # every identity has 10 >= K images: drawn without replacement
        assert len(set(batch.tolist())) == p * k


def test_indices_of_one_identity_are_contiguous_in_the_batch():
    """K indices of one identity follow each other: P groups of K, as the docstring describes."""
    for batch in identity_batches(FORTY, 3, 4, seed=1, epoch=0):
        groups = FORTY[batch].view(3, 4)
        assert (groups == groups[:, :1]).all()
        assert len(set(groups[:, 0].tolist())) == 3


def test_same_seed_and_epoch_give_identical_batches_others_differ():
    a = identity_batches(FORTY, 2, 2, seed=5, epoch=3)
    b = identity_batches(FORTY, 2, 2, seed=5, epoch=3)
    assert len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    other_epoch = identity_batches(FORTY, 2, 2, seed=5, epoch=4)
    other_seed = identity_batches(FORTY, 2, 2, seed=6, epoch=3)
    assert [x.tolist() for x in a] != [x.tolist() for x in other_epoch]
    assert [x.tolist() for x in a] != [x.tolist() for x in other_seed]


def test_batches_do_not_depend_on_global_random_state():
    torch.manual_seed(0)
    a = identity_batches(FORTY, 2, 2, seed=1, epoch=0)
    torch.manual_seed(123)
    torch.rand(10)
    b = identity_batches(FORTY, 2, 2, seed=1, epoch=0)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(("n", "p", "k", "expected"), [(40, 2, 2, 10), (40, 2, 3, 6), (40, 4, 4, 2), (40, 4, 10, 1)])
def test_number_of_batches_is_n_over_pk(n, p, k, expected):
    identity = torch.arange(4).repeat_interleave(n // 4)
    assert len(identity_batches(identity, p, k, seed=0, epoch=0)) == expected


def test_at_least_one_batch_when_fewer_images_than_p_times_k():
    identity = torch.tensor([0, 0, 1, 1, 2])
    batches = identity_batches(identity, 3, 4, seed=0, epoch=0)
    assert len(batches) == 1
    assert _identities_of(batches[0], identity) == Counter({0: 4, 1: 4, 2: 4})


def test_p_is_capped_at_the_number_of_identities():
    identity = torch.arange(3).repeat_interleave(6)  # 18 images, 3 identities
    batches = identity_batches(identity, 8, 2, seed=0, epoch=0)
    assert len(batches) == 18 // (3 * 2)
    for batch in batches:
        assert _identities_of(batch, identity) == Counter({0: 2, 1: 2, 2: 2})


def test_identity_with_fewer_than_k_images_still_gives_k_indices():
    identity = torch.tensor([0, 0, 0, 0, 0, 0, 1])  # identity 1 has a single image (index 6)
    for epoch in range(5):
        for batch in identity_batches(identity, 2, 3, seed=0, epoch=epoch):
            assert batch.shape == (6,)
            ones = batch[identity[batch] == 1]
            assert ones.tolist() == [6, 6, 6]  # drawn with replacement
            zeros = batch[identity[batch] == 0]
            assert len(zeros) == 3 and len(set(zeros.tolist())) == 3  # without replacement


def test_non_contiguous_identity_labels():
    identity = torch.tensor([7, 3, 7, 3, 9, 9, 3, 7, 9])
    for batch in identity_batches(identity, 3, 2, seed=2, epoch=1):
        assert _identities_of(batch, identity) == Counter({3: 2, 7: 2, 9: 2})


def test_every_anchor_has_a_positive():
    identity = torch.tensor([0] * 7 + [1] * 2 + [2] * 1 + [3] * 5)
    for epoch in range(3):
        for batch in identity_batches(identity, 3, 2, seed=0, epoch=epoch):
            labels = identity[batch]
            same = labels[:, None] == labels[None, :]
            same.fill_diagonal_(False)
            assert same.any(dim=1).all()


def test_identities_are_drawn_evenly_over_batches():
    """Over many epochs every identity is chosen (no identity starves)."""
    seen = Counter()
    for epoch in range(20):
        for batch in identity_batches(FORTY, 2, 2, seed=0, epoch=epoch):
            seen.update(set(FORTY[batch].tolist()))
    assert set(seen) == {0, 1, 2, 3}
    assert min(seen.values()) > 0.15 * sum(seen.values())


def test_settings_the_sampler_bends_are_said_with_the_numbers_used():
    identity = torch.tensor([0] * 6 + [1] * 2 + [2] * 6)
    names = ("a", "b", "c")
    assert batch_notices(identity, names, p=3, k=4) == [
        "train.images_per_identity is 4 but 1 identities have fewer images, drawn with replacement: b (2)"
    ]
    assert batch_notices(identity, names, p=8, k=2) == [
        "train.identities_per_batch is 8 but the train part has 3 identities: P=3"
    ]
    assert batch_notices(identity, names, p=2, k=2) == []


def test_random_batches_shuffle_every_pair_once_per_epoch_reproducibly():
    batches = random_batches(40, 8, seed=0, epoch=0)
    assert len(batches) == 5 and all(b.shape == (8,) for b in batches)
    assert sorted(torch.cat(batches).tolist()) == list(range(40))  # each pair once
    assert all(torch.equal(a, b) for a, b in zip(batches, random_batches(40, 8, 0, 0), strict=True))
    assert not torch.equal(torch.cat(batches), torch.cat(random_batches(40, 8, 0, 1)))
    assert len(random_batches(43, 8, 0, 0)) == 5  # the remainder is dropped


def test_epoch_batches_follow_the_sampler_setting():
    random = epoch_batches(FORTY, "random", 2, 2, seed=0, epoch=0)
    balanced = epoch_batches(FORTY, "identity", 2, 2, seed=0, epoch=0)
    assert len(random) == len(balanced) == 10  # the same batch size and number of steps
    assert all(torch.equal(a, b) for a, b in zip(balanced, identity_batches(FORTY, 2, 2, 0, 0), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(random, random_batches(40, 4, 0, 0), strict=True))
