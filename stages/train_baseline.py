"""Stage `train_baseline`: train the THz-only multi-task network on the split's train identities,
selecting on its validation identities. Writes --out/{best,last}.pt and DVCLive logs in --live."""

from __future__ import annotations

import dataclasses
import time

from thz.cli import parse_paths, run
from thz.config import load_config
from thz.data.dataset import load_pairs
from thz.data.scan import read_manifest
from thz.engine import fit
from thz.losses.objective import MultiTaskObjective
from thz.losses.perceptual import build_perceptual_loss
from thz.models import build_model, check_input_size, count_parameters
from thz.runtime import seed_everything, set_threads
from thz.tracking import Tracker


def main(argv=None) -> None:
    args = parse_paths(argv, "--images", "--out", "--live", description=__doc__)
    cfg = load_config(args.params)
    check_input_size(cfg.model, cfg.data.image_size)
    set_threads(cfg.train.threads)
    seed_everything(cfg.seed)
    images = read_manifest(args.images)
    train, val = (load_pairs(images, part, cfg.data.image_size) for part in ("train", "val"))
    perceptual = build_perceptual_loss(cfg.loss.lpips_weights) if cfg.loss.lpips > 0 else None
    if perceptual is None and cfg.loss.lpips > 0:
        cfg = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, lpips=0.0))  # recorded as off
    model = build_model(cfg.model)
    print(
        f"model: {count_parameters(model) / 1e6:.2f} M parameters; train {len(train)} pairs of "
        f"{len(train.identities)} identities, val {len(val)} pairs of {len(val.identities)}"
    )
    tracker = Tracker(args.live, resume=cfg.train.resume)
    start = time.perf_counter()
    result = fit(model, MultiTaskObjective(model, cfg.loss, perceptual), train, val, cfg, args.out, tracker)
    tracker.summary(
        {
            f"best/{cfg.train.select_metric}": result.best_metric,
            "best/step": result.best_step,
            "train_seconds": round(time.perf_counter() - start, 1),
        }
    )
    tracker.close()
    print(
        f"best val {cfg.train.select_metric} {result.best_metric:.4f} at step {result.best_step}; "
        f"last: "
        + ", ".join(f"{k} {v:.3f}" for k, v in result.last_metrics.items() if k in ("ssim", "posture_acc", "auc"))
    )


if __name__ == "__main__":
    run(main)
