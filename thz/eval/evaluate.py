"""Evaluate one trained model on the test identities of its fold, as the evaluate stage does:
predict once, score (thz.eval.scoring) and write every file the stage versions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from thz.checkpoint import load_model
from thz.config import Config, ConfigError
from thz.data.dataset import load_pairs
from thz.data.naming import POSTURES
from thz.data.scan import read_manifest
from thz.eval.figures import embedding_map, reconstruction_grid
from thz.eval.predictions import predict
from thz.eval.scoring import accepts_table, per_identity_table, roc_table, sample_columns, score, val_threshold
from thz.eval.threshold_record import write_threshold_record
from thz.files import atomic_directory, write_csv, write_json
from thz.losses.perceptual import PerceptualLoss, load_lpips
from thz.metrics.grouping import group_means

# metrics.json says why LPIPS is missing without this machine's paths (the full message is printed)
LPIPS_MISSING = "no VGG16 ImageNet weights (data/weights/vgg16-397923af.pth; python -m thz.losses.perceptual --fetch)"


def evaluate_checkpoint(model_path: Path, images_csv: Path, out: Path, cfg: Config) -> dict:
    """Write metrics.json (the same keys for every model), the per-sample, per-identity and
    per-posture tables, the ROC and confusion tables for DVC plots, the per-identity accept counts
    that compare's TAR-at-FAR intervals read, a 2-D map of the embeddings and a reconstruction
    grid per posture (PNG) into `out`, replacing that folder whole; return the metrics. The
    decision threshold comes from the validation identities; threshold.json records it with the
    checkpoint's MD5 for prediction. A THz-only model reads THz images only; a teacher also its
    visible ones. With eval.flip every image also goes through mirrored (validation and test
    identities alike; thz.eval.forward)."""
    try:
        model, model_cfg = load_model(model_path)
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError(f"cannot load the model to evaluate: {err}") from None
    images = read_manifest(images_csv)
    size, visible = model_cfg.data.image_size, model.inputs.visible
    test, val = (load_pairs(images, part, size, visible=visible, strict=cfg.data.strict) for part in ("test", "val"))
    lpips_module, lpips_reason = load_lpips()
    if lpips_module is None:
        print(f"LPIPS recorded as missing: {lpips_reason}")
    perceptual = PerceptualLoss(lpips_module) if lpips_module is not None else None
    flip = cfg.eval.flip  # the threshold is set on embeddings made the way the test ones are
    threshold = val_threshold(predict(model, val, routings=(), flip=flip))  # embeddings only
    pred = predict(model, test, flip=flip)
    metrics, table = score(pred, threshold, perceptual, LPIPS_MISSING, seed=cfg.seed)
    with atomic_directory(out) as tmp:  # a kill leaves the previous evaluation whole, never a mix
        _write_files(tmp, model_path.parent.name, metrics, table, pred, test, cfg.seed)
        write_threshold_record(tmp, model_path, threshold)  # what predict decides with, for this file only
    return metrics


def _write_files(out: Path, name: str, metrics: dict, table: pd.DataFrame, pred, test, seed: int) -> None:
    """Every file of the evaluation of model `name` into the (temporary) folder `out`."""
    write_json(out / "metrics.json", metrics)
    write_csv(out / "per_sample.csv", table)
    write_csv(out / "per_identity.csv", per_identity_table(pred, table, seed))
    write_csv(out / "per_posture.csv", group_means(table, "posture", sample_columns(table)))
    write_csv(out / "roc.csv", roc_table(pred))
    write_csv(out / "accepts.csv", accepts_table(pred, seed))
    predicted = pred.logits.argmax(axis=1)
    confusion = pd.DataFrame({"actual": [POSTURES[p] for p in pred.posture], "predicted": np.take(POSTURES, predicted)})
    write_csv(out / "confusion.csv", confusion)
    embedding_map(pred.probe, pred.gallery, pred.identity, out / "embedding_map.png", f"{name}: test embeddings (PCA)")
    test_inputs = test.batch(torch.arange(len(test)))["input"]
    reconstruction_grid(
        test_inputs, pred.recon["predicted"], pred.targets, pred.posture, out / "reconstruction_grid.png"
    )


def summary_line(metrics: dict) -> str:
    """The headline test numbers of one model, for the stage's log."""
    v, r = metrics["verification"]["probe_gallery"], metrics["reconstruction"]
    return (
        f"test AUC {v['auc']:.3f}, EER {v['eer']:.3f}, accuracy at the val threshold "
        f"{v['at_val_threshold']['accuracy']:.3f}; posture {metrics['posture']['accuracy']:.3f}; SSIM oracle "
        f"{r['oracle']['ssim']:.3f}, predicted {r['predicted']['ssim']:.3f}; silhouette "
        f"{metrics['separability']['silhouette']:.3f}"
    )
