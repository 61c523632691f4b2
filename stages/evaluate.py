"""Stage `evaluate` (one per trained model): predict once on the test identities and write the
metrics (metrics.json, same keys for every model), the per-sample, per-identity and per-posture
tables, the ROC and confusion tables for DVC plots, a 2-D map of the embeddings and a
reconstruction grid per posture (PNG). The decision threshold comes from the
validation identities. A THz-only model reads THz images only; a teacher also its visible ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from thz.checkpoint import load_model
from thz.cli import parse_paths, run
from thz.config import ConfigError, load_config
from thz.data.dataset import load_pairs
from thz.data.naming import POSTURES
from thz.data.scan import read_manifest
from thz.eval.figures import embedding_map, reconstruction_grid
from thz.eval.scoring import per_identity_table, predict, roc_table, sample_columns, score, val_threshold
from thz.files import write_csv, write_json
from thz.losses.perceptual import PerceptualLoss, load_lpips
from thz.metrics.grouping import group_means
from thz.runtime import seed_everything, set_threads


def main(argv=None) -> None:
    args = parse_paths(argv, "--model", "--images", "--out", description=__doc__)
    cfg = load_config(args.params)
    set_threads(cfg.train.threads)
    seed_everything(cfg.seed)
    try:
        model, model_cfg = load_model(args.model)
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError(f"cannot load the model to evaluate: {err}") from None
    visible = "visible" in model.modalities
    images = read_manifest(args.images)
    size = model_cfg.data.image_size
    test, val = (load_pairs(images, part, size, visible=visible, strict=cfg.data.strict) for part in ("test", "val"))
    lpips_module, lpips_reason = load_lpips(cfg.loss.lpips_weights)
    if lpips_module is None:  # the full message names this machine's path; metrics.json gets a portable one
        print(f"LPIPS recorded as missing: {lpips_reason}")
        lpips_reason = (
            "no VGG16 ImageNet weights (vgg16-397923af.pth in $TORCH_HOME/hub/checkpoints or loss.lpips_weights)"
        )
    perceptual = PerceptualLoss(lpips_module) if lpips_module is not None else None
    threshold = val_threshold(predict(model, val))
    pred = predict(model, test)
    metrics, table = score(pred, threshold, perceptual, lpips_reason, seed=cfg.seed)
    out = args.out
    write_json(out / "metrics.json", metrics)
    write_csv(out / "per_sample.csv", table)
    write_csv(out / "per_identity.csv", per_identity_table(pred, table))
    write_csv(out / "per_posture.csv", group_means(table, "posture", sample_columns(table)))
    write_csv(out / "roc.csv", roc_table(pred))
    predicted = pred.logits.argmax(axis=1)
    confusion = pd.DataFrame({"actual": [POSTURES[p] for p in pred.posture], "predicted": np.take(POSTURES, predicted)})
    write_csv(out / "confusion.csv", confusion)
    name = args.model.parent.name
    embedding_map(pred.probe, pred.gallery, pred.identity, out / "embedding_map.png", f"{name}: test embeddings (PCA)")
    test_inputs = test.batch(torch.arange(len(test)))["input"]
    reconstruction_grid(
        test_inputs, pred.recon["predicted"], pred.targets, pred.posture, out / "reconstruction_grid.png"
    )
    v, r = metrics["verification"]["probe_gallery"], metrics["reconstruction"]
    print(
        f"{args.model}: test AUC {v['auc']:.3f}, EER {v['eer']:.3f}, accuracy at the val threshold "
        f"{v['at_val_threshold']['accuracy']:.3f}; posture {metrics['posture']['accuracy']:.3f}; SSIM oracle "
        f"{r['oracle']['ssim']:.3f}, predicted {r['predicted']['ssim']:.3f}; silhouette "
        f"{metrics['separability']['silhouette']:.3f}"
    )


if __name__ == "__main__":
    run(main)
