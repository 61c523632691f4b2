"""Export a trained THz-only model to ONNX, check ONNX Runtime against PyTorch on real images, and
describe it in a model card: what the export stage does for each fold's student and baseline.

The graph is thz.deploy.graph.DeployedNet with a dynamic batch size. The check compares ONNX
Runtime with the model's own PyTorch forward (predicted routing, eval mode) and fails the stage
when embeddings differ in direction (cosine below PARITY["cosine"]), any posture decision differs,
or a reconstruction pixel differs by more than PARITY["recon_max_abs"].
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import torch

from thz.checkpoint import load_model
from thz.config import ConfigError, config_to_dict
from thz.data.dataset import load_pairs
from thz.data.naming import POSTURES
from thz.data.scan import read_manifest
from thz.deploy.graph import OUTPUTS, DeployedNet
from thz.deploy.onnx_runtime import OnnxModel, card_path
from thz.files import atomic_path, write_json

PARITY = {"cosine": 0.9999, "recon_max_abs": 1e-4}  # reconstructions are in [0, 1]
INPUT = "image"
OPSET = 18


class ExportError(ConfigError):
    """Export or the parity check failed; the message names the model."""


def export_onnx(model, path: Path, image_size: int, name: str) -> None:
    """Write `path` (atomically): the deployed graph of `model` for (batch, 1, size, size) inputs."""
    net = DeployedNet(model)
    example = torch.rand(2, 1, image_size, image_size)
    quiet = io.StringIO()
    try:
        with atomic_path(path) as tmp, contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            torch.onnx.export(
                net,
                (example,),
                str(tmp),
                input_names=[INPUT],
                output_names=list(OUTPUTS),
                dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1)}},
                opset_version=OPSET,
                dynamo=True,
                external_data=False,
            )
    except Exception as err:
        detail = quiet.getvalue().strip().splitlines()[-1:] or [f"{type(err).__name__}: {err}"]
        raise ExportError(f"{name}: the ONNX export failed ({detail[0]})") from err


@torch.no_grad()
def check_parity(model, onnx: OnnxModel, images: torch.Tensor, name: str, batch_size: int = 64) -> dict:
    """ONNX Runtime against PyTorch on `images` (N, 1, H, W) in [0, 1], in batches; the numbers, or
    an ExportError naming the model and what differs."""
    model.eval()
    cosines, agree, worst = [], 0, 0.0
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size]
        ref = model(x, routing="soft" if model.routing == "soft" else "predicted")
        emb, probs, recon = onnx.run(x.numpy())
        if emb.shape != tuple(ref.emb.shape):
            raise ExportError(
                f"{name}: ONNX embeddings are {emb.shape[1:]} long, the model's {tuple(ref.emb.shape[1:])}"
            )
        cosines.append((emb * ref.emb.numpy()).sum(axis=1))
        agree += int((probs.argmax(axis=1) == ref.posture_logits.argmax(dim=1).numpy()).sum())
        worst = max(worst, float(np.abs(recon - ref.recon.numpy()).max()))
    result = {
        "images": len(images),
        "min_cosine": float(np.concatenate(cosines).min()),
        "posture_agreement": agree / len(images),
        "recon_max_abs": worst,
        "tolerance": PARITY,
    }
    if result["min_cosine"] < PARITY["cosine"] or agree < len(images) or worst > PARITY["recon_max_abs"]:
        raise ExportError(f"{name}: ONNX Runtime differs from PyTorch on the test images: {result}")
    return result


def export_model(model_path: Path, images_csv: Path, eval_json: Path, onnx_path: Path, strict: bool) -> dict:
    """The export stage's work for one model: the ONNX file, the parity check on the fold's test
    images, and the card beside it (card_path); returns the card."""
    model, cfg = load_model(model_path)
    name, fold = model_path.parent.name, int(re.sub(r"\D", "", model_path.parent.parent.name) or 0)
    size = cfg.data.image_size
    images = read_manifest(images_csv)
    test = load_pairs(images, "test", size, strict=strict)
    metrics = json.loads(eval_json.read_text())
    train = images[(images.split == "train") & images.concealed]
    data = {"train_identities": int(train.identity.nunique()), "train_concealed_images": len(train)}
    threshold = metrics["verification"]["probe_gallery"]["at_val_threshold"]["threshold"]
    card = model_card(name, fold, cfg, size, threshold, metrics, data)
    export_onnx(model, onnx_path, size, name)
    inputs = test.batch(torch.arange(len(test)))["input"]
    card["parity"] = check_parity(model, OnnxModel(onnx_path, card), inputs, name)
    write_json(card_path(onnx_path), card)
    return card


def model_card(name: str, fold: int, cfg, image_size: int, threshold: float, test_metrics: dict, data: dict) -> dict:
    """What a user of the .onnx file needs without this repository."""
    v = test_metrics["verification"]["probe_gallery"]
    return {
        "model": name,
        "fold": fold,
        "input": {
            "name": INPUT,
            "shape": ["batch", 1, image_size, image_size],
            "dtype": "float32",
            "scaling": "8-bit grayscale THz image divided by 255 (values in [0, 1]); no mean/std normalisation",
        },
        "outputs": {
            "embedding": {"shape": ["batch", cfg.model.scored_dim], "note": "L2-normalised; cosine = dot product"},
            "posture_logits": {"shape": ["batch", len(POSTURES)], "note": "softmax for probabilities"},
            "reconstruction": {
                "shape": ["batch", 1, image_size, image_size],
                "note": "the unconcealed face in [0, 1], decoded by the expert of the predicted posture"
                if cfg.model.moe_routing != "soft"
                else "the unconcealed face in [0, 1], experts mixed by the posture probabilities",
            },
        },
        "postures": list(POSTURES),
        "threshold": {
            "value": threshold,
            "rule": "same person when cosine(embedding a, embedding b) >= value; chosen at the equal error "
            "rate of the validation identities (concealed probes against unconcealed images)",
        },
        "test_metrics": {
            "verification_auc": v["auc"],
            "verification_eer": v["eer"],
            "tar_at_far_1pct": v["tar_at_far_1pct"],
            "accuracy_at_threshold": v["at_val_threshold"]["accuracy"],
            "posture_accuracy": test_metrics["posture"]["accuracy"],
            "ssim_predicted_routing": test_metrics["reconstruction"]["predicted"]["ssim"],
            "test_identities": test_metrics["test"]["identities"],
        },
        "data": data,
        "params": config_to_dict(cfg),
        "opset": OPSET,
        "exporter": f"torch {torch.__version__.split('+')[0]}",
    }
