"""Inference with an exported THz-only model through ONNX Runtime, numpy and nothing else: what runs
on a scanner's computer without PyTorch or the training code (no torch import here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from thz.config import ConfigError


def card_path(onnx: str | Path) -> Path:
    """The model card of an exported model: the .json beside the .onnx."""
    return Path(onnx).with_suffix(".json")


def read_card(onnx: str | Path) -> dict:
    card = card_path(onnx)
    try:
        return json.loads(card.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{card}: the model card beside {Path(onnx).name} is missing (dvc repro export)") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{card}: not a readable model card ({err})") from None


class OnnxModel:
    """An exported model and its card (the .json beside the .onnx): input size, posture names and
    the verification threshold chosen on the validation identities."""

    def __init__(self, path: str | Path, card: dict | None = None):
        import onnxruntime  # imported here: only this path needs it

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: ONNX model not found")
        self.card = card if card is not None else read_card(path)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: a damaged file is reported below, once
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own Fail/InvalidProtobuf/... types
            raise ConfigError(f"{path}: not a readable ONNX model ({type(err).__name__})") from None
        self.image_size = int(self.card["input"]["shape"][-1])
        self.postures = tuple(self.card["postures"])

    @property
    def threshold(self) -> float | None:
        return self.card.get("threshold", {}).get("value")

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """images (N, 1, H, W) float32 in [0, 1] -> embeddings (N, D), posture probabilities (N, 5),
        reconstructions (N, 1, H, W) routed by the predicted posture."""
        emb, logits, recon = self.session.run(None, {self.card["input"]["name"]: images.astype(np.float32)})
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return emb, shifted / shifted.sum(axis=1, keepdims=True), recon
