"""Predict with a trained THz-only model on new THz images: `python -m thz.predict`.

    python -m thz.predict --model models/fold_0/student/best.pt face.png [more.png ...] [--out DIR]
    python -m thz.predict --model models/fold_0/student/best.pt --verify a.png b.png

For each image: the predicted posture with its probability, and (with --out) the reconstruction
as a PNG and the embedding as a .npy file. With --verify: the cosine score of the two images and
the decision at the threshold the evaluate stage chose on the validation identities (read from
metrics/eval/fold_K/<model>/metrics.json for models/fold_K/<model>/best.pt, or given with
--threshold). THz images only: a teacher checkpoint is refused, since it would need visible images.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from thz.checkpoint import load_model
from thz.cli import run
from thz.config import ConfigError
from thz.data.naming import POSTURES
from thz.data.problems import DataError
from thz.files import atomic_path, save_png


def read_thz_image(path: Path, size: int) -> torch.Tensor:
    """(1, 1, size, size) in [0, 1] from an 8-bit grayscale PNG of exactly size x size, or a
    DataError naming the file and what was expected."""
    try:
        with Image.open(path) as img:
            img.load()
            mode, shape = img.mode, img.size
            array = np.asarray(img, dtype=np.uint8) if mode == "L" else None
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(f"{path}: not a readable image ({err})") from None
    if mode != "L":
        raise DataError(f"{path}: expected an 8-bit grayscale (mode L) THz image, got mode {mode}")
    if shape != (size, size):
        raise DataError(
            f"{path}: expected {size}x{size} pixels (the model's data.image_size), got {shape[0]}x{shape[1]}"
        )
    return torch.from_numpy(array.copy()).float().div_(255.0)[None, None]


def load_thz_model(path: Path):
    try:
        model, cfg = load_model(path)
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError(f"cannot load the model: {err}") from None
    if "visible" in model.modalities:
        raise ConfigError(f"{path}: a teacher checkpoint needs visible images; predict with the student or baseline")
    return model, cfg


@torch.no_grad()
def predict_images(model, images: torch.Tensor):
    """Embeddings (N, D), posture probabilities (N, 5) and reconstructions (N, 1, H, W), routed by
    the predicted posture."""
    model.eval()
    out = model(images, routing="predicted")
    return out.emb, out.posture_logits.softmax(dim=1), out.recon


def stored_threshold(model_path: Path) -> float | None:
    """The evaluate stage's validation threshold for models/fold_K/<model>/best.pt, if evaluated
    (read from metrics/eval/fold_K/<model>/metrics.json; relative to the working directory)."""
    fold, model = model_path.parent.parent.name, model_path.parent.name
    metrics = Path("metrics/eval") / fold / model / "metrics.json"
    if not re.fullmatch(r"fold_\d+", fold) or not metrics.is_file():
        return None
    return json.loads(metrics.read_text())["verification"]["probe_gallery"]["at_val_threshold"]["threshold"]


def _check_out(out: Path, images: list[Path]) -> None:
    """--out is a folder (created), and each input has its own outputs there: two inputs of the
    same file name (from different folders) would write over each other, so they are refused."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file, expected a folder for the outputs")
    stems: dict[str, Path] = {}
    for path in images:
        if stems.setdefault(path.stem, path) != path:
            raise ConfigError(
                f"--out {out}: {stems[path.stem]} and {path} have the same name, so their outputs "
                f"({path.stem}_recon.png, {path.stem}_embedding.npy) would overwrite each other; predict them "
                "into separate --out folders"
            )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="a baseline or student best.pt")
    parser.add_argument("images", type=Path, nargs="*", help="THz PNG files")
    parser.add_argument("--verify", type=Path, nargs=2, metavar=("A", "B"), help="score two images")
    parser.add_argument("--threshold", type=float, help="decision threshold (default: the evaluate stage's)")
    parser.add_argument("--out", type=Path, help="write <name>_recon.png and <name>_embedding.npy here")
    args = parser.parse_args(argv)
    if not args.images and not args.verify:
        parser.error("give THz images, or --verify A B")
    if args.threshold is not None and not math.isfinite(args.threshold):
        raise ConfigError(f"--threshold {args.threshold}: expected a finite number (a cosine score)")
    if args.out is not None:
        _check_out(args.out, args.images)
    model, cfg = load_thz_model(args.model)
    paths = list(args.verify or args.images)
    images = torch.cat([read_thz_image(p, cfg.data.image_size) for p in paths])
    emb, probs, recon = predict_images(model, images)
    for path, p, e, r in zip(paths, probs, emb, recon, strict=True):
        k = int(p.argmax())
        print(f"{path}: posture {POSTURES[k]} ({float(p[k]):.3f})")
        if args.out is not None:
            save_png(args.out / f"{path.stem}_recon.png", (r[0].numpy() * 255).round().astype(np.uint8))
            with atomic_path(args.out / f"{path.stem}_embedding.npy") as tmp, open(tmp, "wb") as handle:
                np.save(handle, e.numpy())
    if args.verify:
        score = float(emb[0] @ emb[1])
        threshold = args.threshold if args.threshold is not None else stored_threshold(args.model)
        if threshold is None:
            print(f"score {score:.4f} (no threshold: pass --threshold, or evaluate the model: dvc repro evaluate)")
        else:
            verdict = "same person" if score >= threshold else "different people"
            print(f"score {score:.4f}, threshold {threshold:.4f}: {verdict}")


if __name__ == "__main__":
    run(main)
