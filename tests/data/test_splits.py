"""Identity-disjoint splits: disjoint, deterministic, folds, explicit lists, triplet tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from thz.config import ConfigError, SplitConfig
from thz.data.splits import IdentitySplit, assign_parts, check_disjoint, make_triplets, split_identities

IDS = [f"p{i:02d}" for i in range(20)]


def test_one_fold_split_is_disjoint_complete_and_sized():
    (split,) = split_identities(IDS, SplitConfig(folds=1, run_folds=(0,)), seed=0)
    assert (len(split.train), len(split.val), len(split.test)) == (14, 3, 3)
    assert sorted(split.train + split.val + split.test) == IDS
    check_disjoint(split)


def test_same_seed_same_split_other_seed_other_split():
    a = split_identities(IDS, SplitConfig(), seed=3)
    assert a == split_identities(list(reversed(IDS)), SplitConfig(), seed=3)  # input order is irrelevant
    assert a != split_identities(IDS, SplitConfig(), seed=4)


def test_default_folds_cover_every_identity_once_as_test():
    splits = split_identities(IDS, SplitConfig(), seed=0)
    assert len(splits) == 5
    tests = [i for s in splits for i in s.test]
    assert sorted(tests) == IDS
    for s in splits:
        check_disjoint(s)
        assert len(s.val) == 3 and len(s.test) == 4
        assert sorted(s.train + s.val + s.test) == IDS


def test_explicit_identity_lists_are_used_exactly():
    cfg = SplitConfig(folds=1, run_folds=(0,), test_identities=("p01", "p02"), val_identities=("p03", "p04", "p05"))
    (split,) = split_identities(IDS, cfg, seed=0)
    assert split.test == ("p01", "p02") and split.val == ("p03", "p04", "p05")
    assert len(split.train) == 15


def test_explicit_lists_are_checked():
    with pytest.raises(ConfigError, match=r"split.test_identities: \['zz'\] not in the data"):
        split_identities(IDS, SplitConfig(folds=1, run_folds=(0,), test_identities=("zz", "p01")), seed=0)
    with pytest.raises(ConfigError, match="share"):
        one_fold = SplitConfig(folds=1, run_folds=(0,), test_identities=("p01", "p02"), val_identities=("p02", "p03"))
        split_identities(IDS, one_fold, seed=0)
    with pytest.raises(ConfigError, match="exclude each other"):
        split_identities(IDS, SplitConfig(test_identities=("p01", "p02"), folds=2, run_folds=(0, 1)), seed=0)


def test_too_few_identities_is_refused():
    with pytest.raises(ConfigError, match="train would have 1 identities"):
        split_identities(IDS[:7], SplitConfig(folds=1, run_folds=(0,)), seed=0)


def test_overlapping_split_is_refused():
    with pytest.raises(ValueError, match=r"\['b'\] in both train and test"):
        check_disjoint(IdentitySplit(train=("a", "b"), val=("c",), test=("b", "d")))


def _images(identities=("a", "b", "c"), visible=True) -> pd.DataFrame:
    rows = []
    for ident in identities:
        for p in range(5):
            for s in ("1", "2"):
                conc, tgt = f"{ident}_b{p + 1}b_{s}.png", f"{ident}_n{p + 1}n_{s}.png"
                rows.append(
                    dict(
                        path=conc,
                        identity=ident,
                        posture=p,
                        concealed=True,
                        sample=s,
                        target=tgt,
                        visible=("v/" + conc) if visible else "",
                    )
                )
                rows.append(
                    dict(
                        path=tgt,
                        identity=ident,
                        posture=p,
                        concealed=False,
                        sample=s,
                        target="",
                        visible=("v/" + tgt) if visible else "",
                    )
                )
    return pd.DataFrame(rows)


def test_triplets_pair_targets_and_draw_same_posture_negatives_of_other_identities():
    images = _images()
    table = make_triplets(images, np.random.default_rng(0))
    assert len(table) == 30 and list(table.columns[:3]) == ["anchor", "positive", "negative"]
    by_path = images.set_index("path")
    for row in table.itertuples():
        a, p, n = by_path.loc[row.anchor], by_path.loc[row.positive], by_path.loc[row.negative]
        assert a.concealed and not p.concealed and n.concealed
        assert (a.identity, a.posture, a["sample"]) == (p.identity, p.posture, p["sample"])
        assert n.identity != a.identity and n.posture == a.posture
        assert row.visible_concealed == "v/" + row.anchor and row.visible_negative == "v/" + row.negative


def test_triplets_without_visible_data_have_three_columns():
    table = make_triplets(_images(visible=False), np.random.default_rng(0))
    assert list(table.columns) == ["anchor", "positive", "negative"]


def test_assign_parts_labels_every_image():
    images = assign_parts(_images(), IdentitySplit(train=("a",), val=("b",), test=("c",)))
    assert images.groupby("identity").split.unique().map(list).to_dict() == {
        "a": ["train"],
        "b": ["val"],
        "c": ["test"],
    }
