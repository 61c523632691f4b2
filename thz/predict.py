"""Predict with a trained THz-only model on new THz images: `python -m thz.predict`.

    python -m thz.predict --model models/fold_0/student/best.pt face.png [more.png ...] [--out DIR]
    python -m thz.predict --model models/fold_0/student/best.pt --verify a.png b.png
    python -m thz.predict --onnx models/fold_0/student.onnx face.png [--verify a.png b.png]

For each image: the predicted posture with its probability, and (with --out) the reconstruction
as a PNG and the embedding as a .npy file. With --verify: the cosine score of the two images and
the decision at the threshold chosen on the validation identities: for a checkpoint, the one the
evaluate stage recorded for that very file (metrics/eval/fold_K/<model>/threshold.json of the
checkpoint's project, matched by the file's MD5); for an ONNX model, from its card; or given with
--threshold. THz images only: a teacher checkpoint is refused,
since it would need visible images. With --onnx only ONNX Runtime, numpy and Pillow run: torch is
never imported, so the exported student works where PyTorch is not installed.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from PIL import UnidentifiedImageError

from thz.cli import run
from thz.config import ConfigError
from thz.data.images import ImageTooLarge, open_image
from thz.data.naming import POSTURES
from thz.data.problems import DataError
from thz.files import atomic_path, save_png


def read_thz_image(path: Path, size: int) -> np.ndarray:
    """(1, 1, size, size) float32 in [0, 1] from an 8-bit grayscale PNG of exactly size x size, or
    a DataError naming the file and what was expected."""
    try:
        with open_image(path) as img:  # a header declaring a huge image: refused before decoding
            mode, shape = img.mode, img.size
            if mode != "L":
                raise DataError(f"{path}: expected an 8-bit grayscale (mode L) THz image, got mode {mode}")
            if shape != (size, size):  # checked on the header, before the pixels are decoded
                raise DataError(
                    f"{path}: expected {size}x{size} pixels (the model's data.image_size), got {shape[0]}x{shape[1]}"
                )
            img.load()
            array = np.asarray(img, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except ImageTooLarge as err:
        raise DataError(f"{path}: not a THz image of {size}x{size} pixels: {err}") from None
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(f"{path}: not a readable image ({err})") from None
    return (array.astype(np.float32) / np.float32(255.0))[None, None]


class TorchModel:
    """A checkpoint through PyTorch (imported here, not at module level: the ONNX path needs none)."""

    def __init__(self, path: Path):
        from thz.checkpoint import load_model

        try:
            self.model, cfg = load_model(path)
        except (FileNotFoundError, ValueError) as err:
            raise ConfigError(f"cannot load the model: {err}") from None
        if self.model.inputs.visible is not None:
            raise ConfigError(
                f"{path}: a teacher checkpoint needs visible images; predict with the student or baseline"
            )
        self.image_size, self.path = cfg.data.image_size, path

    @property
    def threshold(self) -> tuple[float | None, str]:
        """(the threshold evaluate recorded for this very file, where from) or (None, why not)."""
        from thz.eval.threshold_record import recorded_threshold

        return recorded_threshold(self.path)

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Embeddings (N, D), posture probabilities (N, 5) and reconstructions (N, 1, H, W),
        routed by the predicted posture."""
        import torch

        with torch.no_grad():
            out = self.model.eval()(torch.from_numpy(images), routing="predicted")
            return out.emb.numpy(), out.posture_logits.softmax(dim=1).numpy(), out.recon.numpy()


def _check_out(out: Path, images: list[Path]) -> None:
    """--out is a folder (created here, before any model runs), and each input has its own outputs
    there: two inputs of the same file name (from different folders) would write over each other,
    so they are refused."""
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
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"--out {out}: cannot create the folder ({err.strerror})") from None


def _write_outputs(out: Path, stem: str, recon: np.ndarray, emb: np.ndarray) -> None:
    """<stem>_recon.png and <stem>_embedding.npy, each whole or not at all."""
    try:
        save_png(out / f"{stem}_recon.png", (recon[0] * 255).round().astype(np.uint8))
        with atomic_path(out / f"{stem}_embedding.npy") as tmp, open(tmp, "wb") as handle:
            np.save(handle, emb)
    except OSError as err:
        raise ConfigError(f"--out {out}: cannot write the outputs of {stem} ({err.strerror or err})") from None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="a baseline or student best.pt (PyTorch)")
    source.add_argument("--onnx", type=Path, help="an exported model.onnx, its .json card beside it (no PyTorch)")
    parser.add_argument("images", type=Path, nargs="*", help="THz PNG files")
    parser.add_argument("--verify", type=Path, nargs=2, metavar=("A", "B"), help="score two images (only these)")
    parser.add_argument("--threshold", type=float, help="decision threshold (default: the validation one)")
    parser.add_argument("--out", type=Path, help="write <name>_recon.png and <name>_embedding.npy here")
    args = parser.parse_args(argv)
    if not args.images and not args.verify:
        parser.error("give THz images, or --verify A B")
    if args.images and args.verify:
        parser.error(
            f"--verify A B scores exactly two images; {len(args.images)} more were given "
            f"({', '.join(map(str, args.images))}): predict them in a separate call"
        )
    if args.threshold is not None and not (math.isfinite(args.threshold) and -1 <= args.threshold <= 1):
        raise ConfigError(f"--threshold {args.threshold}: expected a cosine score, a number in [-1, 1]")
    paths = list(args.verify or args.images)
    if args.out is not None:
        _check_out(args.out, paths)
    if args.onnx is not None:
        from thz.deploy.onnx_runtime import OnnxModel

        model = OnnxModel(args.onnx)
    else:
        model = TorchModel(args.model)
    emb, probs, recon = model.run(np.concatenate([read_thz_image(p, model.image_size) for p in paths]))
    for path, p, e, r in zip(paths, probs, emb, recon, strict=True):
        k = int(p.argmax())
        print(f"{path}: posture {POSTURES[k]} ({float(p[k]):.3f})")
        if args.out is not None:
            _write_outputs(args.out, path.stem, r, e)
    if args.verify:
        score = float(emb[0] @ emb[1])
        threshold, source = (args.threshold, "--threshold") if args.threshold is not None else model.threshold
        if threshold is None:
            print(f"score {score:.4f} (no threshold: {source}; pass --threshold)")
        else:
            verdict = "same person" if score >= threshold else "different people"
            print(f"score {score:.4f}, threshold {threshold:.4f}: {verdict}")


if __name__ == "__main__":
    run(main)
