"""Verification of a two-head network (model.twin_head) scored again at other twin weights.

    python -m lab.bench.twin_weight --repo DIR --json lab/records/sweeps/twin_weight.json

DIR is a checkout holding models/fold_K/<model>/best.pt of a network with a twin head and the
split stage's data/split/fold_K/images.csv, e.g. a sweep experiment's outputs
(`git worktree add DIR <experiment ref>` and `dvc checkout` there). For the baseline each loss
term trains its own head, so the weight w of (cos_identity + w cos_twin) / (1 + w) is a scoring
choice alone: one trained network gives the whole trade-off between the two protocols, from the
identity head alone (w = 0) to the twin head alone (w very large). Both the validation and the
test identities of every fold are scored: a weight to keep is chosen on validation identities.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
from datetime import date
from pathlib import Path

import numpy as np
import torch

from lab.table_parts import value
from thz.checkpoint import load_model
from thz.data.dataset import load_pairs
from thz.data.scan import read_manifest
from thz.eval.predictions import predict
from thz.eval.scoring import verification
from thz.files import write_json
from thz.models.heads import scored_embedding, split_scored

WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 1e6)
METRICS = {  # name -> dotted key of thz.eval.scoring.verification
    "identity_auc": "probe_gallery.auc",
    "tar_at_far_1pct": "probe_gallery.tar_at_far_1pct",
    "triplet_auc": "triplet.auc",
    "rank1": "rank1",
}


def rescored(pred, trained_weight: float, weight: float):
    """`pred` with its probe and gallery embeddings recombined at `weight`."""

    def at(scored: np.ndarray) -> np.ndarray:
        identity, twin = split_scored(torch.from_numpy(scored), trained_weight)
        return scored_embedding(identity, twin, weight).numpy()

    return dataclasses.replace(pred, probe=at(pred.probe), gallery=at(pred.gallery))


def fold_scores(repo: Path, fold: int, model_name: str, weights) -> dict:
    """{part: {w: {metric: value}}} for the validation and test identities of one fold."""
    model, cfg = load_model(repo / f"models/fold_{fold}/{model_name}/best.pt")
    if model.twin_embedding is None:
        raise SystemExit(f"{repo}/models/fold_{fold}/{model_name}/best.pt has no twin head (model.twin_head is 0)")
    images = read_manifest(repo / f"data/split/fold_{fold}/images.csv")
    out = {}
    for part in ("val", "test"):
        data = load_pairs(images, part, cfg.data.image_size, visible=model.inputs.visible, strict=cfg.data.strict)
        pred = predict(model, data, routings=())
        out[part] = {}
        for w in weights:
            v = verification(rescored(pred, model.twin_weight, w), threshold=0.5, seed=cfg.seed)
            out[part][w] = {name: float(value(v, key, "verification")) for name, key in METRICS.items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--model", default="baseline")
    parser.add_argument("--source", default="", help="what DIR holds, recorded (e.g. the experiment's name)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    folds = sorted(int(p.name.removeprefix("fold_")) for p in (args.repo / "models").glob("fold_*"))
    per_fold = {k: fold_scores(args.repo, k, args.model, WEIGHTS) for k in folds}
    summary = {}
    for part in ("val", "test"):
        for w in WEIGHTS:
            values = {m: [per_fold[k][part][w][m] for k in folds] for m in METRICS}
            row = {m: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0}
                   for m, v in values.items()}  # fmt: skip
            summary.setdefault(part, {})[f"{w:g}"] = row
            print(f"{part} w={w:g}: " + ", ".join(f"{m} {r['mean']:.3f}" for m, r in row.items()))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=args.repo, capture_output=True, text=True)
    result = {
        "date": date.today().isoformat(),
        "source": args.source,
        "commit": commit.stdout.strip(),
        "model": args.model,
        "folds": folds,
        "weights": summary,
    }
    if args.json:
        write_json(args.json, result)
        print(json.dumps({"written": str(args.json)}))


if __name__ == "__main__":
    main()
