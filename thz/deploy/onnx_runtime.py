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
        content = json.loads(card.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{card}: the model card beside {Path(onnx).name} is missing (dvc repro export)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{card}: not a readable model card ({err})") from None
    _check_card_fields(card, content)
    return content


def _check_card_fields(card: Path, content) -> None:
    """The fields prediction reads: input name and square image shape, the five posture names."""
    try:
        name, shape, postures = content["input"]["name"], content["input"]["shape"], content["postures"]
        ok = isinstance(name, str) and len(shape) == 4 and isinstance(shape[-1], int) and shape[-1] == shape[-2]
        ok = ok and isinstance(postures, list) and len(postures) == 5
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise ConfigError(
            f"{card}: not a model card of this project (expected input.name, input.shape "
            "[batch, 1, size, size] and five postures, as the export stage writes)"
        )


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
        self.path = path
        self._check_card_matches_graph(path)
        self.image_size = int(self.card["input"]["shape"][-1])
        self.postures = tuple(self.card["postures"])

    def _check_card_matches_graph(self, path: Path) -> None:
        """A card copied from another export (another input name or image size) would feed the
        graph wrong data or fail deep in ONNX Runtime: refuse it naming both files."""
        (graph_input,) = self.session.get_inputs()
        expected = self.card["input"]
        graph_size = [d for d in graph_input.shape[-2:] if isinstance(d, int)]
        if graph_input.name != expected["name"] or any(d != expected["shape"][-1] for d in graph_size):
            raise ConfigError(
                f"{card_path(path)}: the card does not describe {path.name} (card input {expected['name']!r} "
                f"{expected['shape']}, graph input {graph_input.name!r} {graph_input.shape}); "
                "use the card written with this model"
            )

    @property
    def threshold(self) -> tuple[float | None, str]:
        """(the card's validation threshold, where from) or (None, why not)."""
        value = (self.card.get("threshold") or {}).get("value")
        if isinstance(value, int | float) and -1 <= value <= 1:
            return float(value), str(card_path(self.path))
        return None, f"{card_path(self.path)} holds no threshold in [-1, 1]"

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """images (N, 1, H, W) float32 in [0, 1] -> embeddings (N, D), posture probabilities (N, 5),
        reconstructions (N, 1, H, W) routed by the predicted posture."""
        emb, logits, recon = self.session.run(None, {self.card["input"]["name"]: images.astype(np.float32)})
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return emb, shifted / shifted.sum(axis=1, keepdims=True), recon
