"""Stage `train_baseline`: the THz-only multi-task network (see thz.train.variants).
Trains on the split's train identities, selects on its
validation identities; writes --out/{best,last}.pt and DVCLive logs in --live."""

from __future__ import annotations

from thz.cli import parse_paths, run
from thz.train.variants import train_variant


def main(argv=None) -> None:
    args = parse_paths(argv, "--images", "--out", "--live", description=__doc__)
    train_variant("baseline", args.params, args.images, args.out, args.live)


if __name__ == "__main__":
    run(main)
