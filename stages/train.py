"""Stages `train_baseline`, `train_teacher` and `train_student`: one variant of the multi-task
network (see thz.train.variants), trained on the split's train identities and selected on its
validation identities; writes --out/{best,last}.pt and DVCLive logs in --live. The student also
takes the trained teacher's checkpoint (--teacher)."""

from __future__ import annotations

import argparse
from pathlib import Path

from thz.cli import run
from thz.train.variants import VARIANTS, train_variant


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variant", choices=VARIANTS, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="parameters file")
    for flag in ("--images", "--out", "--live"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--teacher", type=Path, help="the teacher's best.pt (student only)")
    args = parser.parse_args(argv)
    train_variant(args.variant, args.params, args.images, args.out, args.live, args.teacher)


if __name__ == "__main__":
    run(main)
