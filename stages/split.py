"""Stage `split`: identity-disjoint train/val/test parts, per fold, as published-format triplets.

For each fold k writes --out/fold_k/{train,val,test}.csv (anchor, positive, negative and, with
visible data, visible_concealed, visible_unconcealed, visible_negative) and images.csv (one row
per image with its part), and records the identity lists in --metrics.
"""

from __future__ import annotations

import numpy as np

from thz.cli import parse_paths, run
from thz.config import load_config
from thz.data.scan import read_manifest
from thz.data.splits import PARTS, assign_parts, make_triplets, split_identities
from thz.files import atomic_directory, write_json


def main(argv=None) -> None:
    args = parse_paths(argv, "--manifest", "--out", "--metrics", description=__doc__)
    cfg = load_config(args.params)
    manifest = read_manifest(args.manifest)
    splits = split_identities(manifest.identity.tolist(), cfg.split, cfg.seed)
    image_counts = []
    with atomic_directory(args.out) as tmp:
        for fold, split in enumerate(splits):
            images = assign_parts(manifest, split)
            (tmp / f"fold_{fold}").mkdir()
            images.to_csv(tmp / f"fold_{fold}" / "images.csv", index=False)
            for code, part in enumerate(PARTS):
                triplets = make_triplets(images[images.split == part], np.random.default_rng([cfg.seed, fold, code]))
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
    write_json(args.metrics, record)
    if len(cfg.split.run_folds) < len(splits):
        print(
            f"cross-validation: the pipeline trains and evaluates folds {list(cfg.split.run_folds)} of {len(splits)} "
            f"(split.run_folds); all of them: -S 'split.run_folds=[{','.join(map(str, range(len(splits))))}]'"
        )


if __name__ == "__main__":
    run(main)
