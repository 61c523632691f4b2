"""Stage `split`: identity-disjoint train/val/test parts, per fold, as published-format triplets.

For each fold k writes --out/fold_k/{train,val,test}.csv (anchor, positive, negative and, with
visible data, visible_concealed, visible_unconcealed, visible_negative) and images.csv (one row
per image with its part), and records the identity lists in --metrics.
"""

from __future__ import annotations

from thz.cli import parse_paths, run
from thz.config import load_config
from thz.data.scan import read_manifest
from thz.data.splits import split_identities, write_folds
from thz.files import write_json


def main(argv=None) -> None:
    args = parse_paths(argv, "--manifest", "--out", "--metrics", description=__doc__)
    cfg = load_config(args.params)
    manifest = read_manifest(args.manifest)
    splits = split_identities(manifest.identity.tolist(), cfg.split, cfg.seed)
    write_json(args.metrics, write_folds(manifest, splits, args.out, cfg.seed))
    if len(cfg.split.run_folds) < len(splits):
        every = ",".join(map(str, range(len(splits))))
        print(
            f"cross-validation: the pipeline trains and evaluates folds {list(cfg.split.run_folds)} of {len(splits)} "
            f"(split.run_folds); all of them: -S 'split.run_folds=[{every}]'"
        )


if __name__ == "__main__":
    run(main)
