"""Identity-disjoint train/val/test splits and their triplet tables.

The published split puts 15 % of the samples of every (identity, posture) into validation, so
every person is seen in training (a closed set) and validation images come back as training
negatives. Here whole identities go to one part only, chosen from a fixed seed or listed
explicitly, optionally as K folds of test identities; negatives are drawn inside the same part.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from thz.config import ConfigError, SplitConfig
from thz.data.triplet_csv import TRIPLET_COLUMNS, VISIBLE_COLUMNS
from thz.files import atomic_directory

PARTS = ("train", "val", "test")
MIN_IDENTITIES_PER_PART = {"train": 2, "val": 2, "test": 2}  # a negative needs another identity


@dataclass(frozen=True)
class IdentitySplit:
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def part_of(self) -> dict[str, str]:
        return {ident: part for part in PARTS for ident in getattr(self, part)}


def split_identities(identities: list[str], cfg: SplitConfig, seed: int) -> list[IdentitySplit]:
    """One IdentitySplit per fold (one fold unless `split.folds` > 1), deterministic in `seed`."""
    identities = sorted(set(identities))
    _check_listed(identities, cfg)
    order = [identities[i] for i in np.random.default_rng(seed).permutation(len(identities))]
    if cfg.folds > 1:
        if cfg.test_identities:
            raise ConfigError(
                "split.test_identities and split.folds > 1 exclude each other: folds choose the test identities "
                "(a fixed test list is one fold: -S split.folds=1 -S 'split.run_folds=[0]')"
            )
        groups = [list(g) for g in np.array_split(np.array(order, dtype=object), cfg.folds)]
    else:
        tests = list(cfg.test_identities) or [i for i in order if i not in cfg.val_identities][: cfg.n_test_identities]
        groups = [tests]
    splits = []
    for fold, test in enumerate(groups):
        rest = [i for i in order if i not in test]
        if cfg.val_identities:
            val = [i for i in rest if i in cfg.val_identities]
        else:
            val = [rest[i] for i in np.random.default_rng([seed, fold]).permutation(len(rest))[: cfg.n_val_identities]]
        train = [i for i in rest if i not in val]
        split = IdentitySplit(train=tuple(sorted(train)), val=tuple(sorted(val)), test=tuple(sorted(test)))
        check_disjoint(split)
        _check_sizes(split, fold)
        splits.append(split)
    return splits


def check_disjoint(split: IdentitySplit) -> None:
    """Refuse a split in which an identity sits in two parts."""
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = set(getattr(split, a)) & set(getattr(split, b))
        if shared:
            raise ValueError(f"identity-disjoint split violated: {sorted(shared)} in both {a} and {b}")


def _check_listed(identities: list[str], cfg: SplitConfig) -> None:
    for key in ("val_identities", "test_identities"):
        unknown = sorted(set(getattr(cfg, key)) - set(identities))
        if unknown:
            raise ConfigError(f"split.{key}: {unknown} not in the data (identities found: {identities})")
    both = sorted(set(cfg.val_identities) & set(cfg.test_identities))
    if both:
        raise ConfigError(f"split.val_identities and split.test_identities share {both}")


def _check_sizes(split: IdentitySplit, fold: int) -> None:
    for part, minimum in MIN_IDENTITIES_PER_PART.items():
        n = len(getattr(split, part))
        if n < minimum:
            raise ConfigError(
                f"split (fold {fold}): {part} would have {n} identities, at least {minimum} are needed "
                "(check split.n_val_identities, split.n_test_identities, split.folds and the data)"
            )


def assign_parts(manifest: pd.DataFrame, split: IdentitySplit) -> pd.DataFrame:
    """The per-image table: the manifest with a `split` column."""
    return manifest.assign(split=manifest.identity.map(split.part_of()))


def make_triplets(images: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Triplet rows for the concealed images of one part, in the published CSV format.

    positive = the image's unconcealed target; negative = a concealed image of another identity
    in the same part, with the same posture when one exists. Visible columns are added when any
    image of the part has a visible companion (empty where one is missing).
    """
    concealed = images[images.concealed.astype(bool)].sort_values(["identity", "posture", "sample", "path"])
    visible_of = dict(zip(images.path, images.visible, strict=True))
    rows = []
    for row in concealed.itertuples(index=False):
        others = concealed[concealed.identity != row.identity]
        same_posture = others[others.posture == row.posture]
        pool = same_posture if len(same_posture) else others
        negative = pool.path.iloc[int(rng.integers(len(pool)))]
        rows.append(
            {
                "anchor": row.path,
                "positive": row.target,
                "negative": negative,
                "visible_concealed": visible_of.get(row.path, ""),
                "visible_unconcealed": visible_of.get(row.target, ""),
                "visible_negative": visible_of.get(negative, ""),
            }
        )
    table = pd.DataFrame(rows, columns=[*TRIPLET_COLUMNS, *VISIBLE_COLUMNS])
    has_visible = (images.visible.astype(str) != "").any()
    return table if has_visible else table[list(TRIPLET_COLUMNS)]


def write_folds(manifest: pd.DataFrame, splits: list[IdentitySplit], out: Path, seed: int) -> dict:
    """Write out/fold_k/{train,val,test}.csv (published-format triplets) and images.csv (one row per
    image with its part) for every fold, all or nothing; return the record for metrics/split.json:
    fold 0's identity lists and counts, and every fold's lists when there are several."""
    image_counts = []
    with atomic_directory(out) as tmp:
        for fold, split in enumerate(splits):
            images = assign_parts(manifest, split)
            (tmp / f"fold_{fold}").mkdir()
            images.to_csv(tmp / f"fold_{fold}" / "images.csv", index=False)
            for code, part in enumerate(PARTS):
                triplets = make_triplets(images[images.split == part], np.random.default_rng([seed, fold, code]))
                triplets.to_csv(tmp / f"fold_{fold}" / f"{part}.csv", index=False)
            counts = images.groupby("split").size().to_dict()
            image_counts.append({p: int(counts.get(p, 0)) for p in PARTS})
            print(
                f"fold {fold}: "
                + ", ".join(f"{p} {len(getattr(split, p))} identities / {counts.get(p, 0)} images" for p in PARTS)
            )
    record = {part: list(getattr(splits[0], part)) for part in PARTS}
    record["n_identities"] = {part: len(getattr(splits[0], part)) for part in PARTS}
    record["n_images"] = image_counts[0]
    if len(splits) > 1:
        record["folds"] = [{part: list(getattr(s, part)) for part in PARTS} for s in splits]
    return record
