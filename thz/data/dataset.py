"""The in-memory dataset: every image decoded once into uint8 tensors, batches made by indexing.

With about 1400 images of 64 px the whole set is a few megabytes, so there are no data-loader
workers competing with the model for the two cores, and a batch is one gather.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from thz.data.images import read_gray_uint8
from thz.data.problems import DataError


@dataclass
class PairSet:
    """Concealed inputs with their unconcealed targets, for one part (train, val or test).

    inputs, targets: (N, 1, H, W) uint8; identity: (N,) int64 index into `identities`;
    posture: (N,) int64 in 0..4; paths: the input files, in order.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    identity: torch.Tensor
    posture: torch.Tensor
    identities: tuple[str, ...]
    paths: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.paths)

    def batch(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """Float images in [0, 1] and labels for the given sample indices."""
        return {
            "input": self.inputs[index].float().div_(255.0),
            "target": self.targets[index].float().div_(255.0),
            "identity": self.identity[index],
            "posture": self.posture[index],
        }


def load_pairs(images: pd.DataFrame, part: str, image_size: int) -> PairSet:
    """Decode the concealed images of `part` in a per-image table (split stage's images.csv) and
    their targets. Raises DataError naming the part when it is empty."""
    rows = images[(images.split == part) & images.concealed.astype(bool)].sort_values("path")
    if rows.empty:
        raise DataError(f"no concealed images in the '{part}' part of the split")
    identities = tuple(sorted(rows.identity.unique()))
    lookup = {name: i for i, name in enumerate(identities)}
    return PairSet(
        inputs=_decode(rows.path, image_size),
        targets=_decode(rows.target, image_size),
        identity=torch.tensor([lookup[i] for i in rows.identity], dtype=torch.int64),
        posture=torch.tensor(rows.posture.to_numpy(np.int64)),
        identities=identities,
        paths=tuple(rows.path),
    )


def _decode(paths, size: int) -> torch.Tensor:
    arrays = np.stack([read_gray_uint8(path, size) for path in paths])
    return torch.from_numpy(arrays)[:, None]  # (N, H, W) -> (N, 1, H, W)
