"""The in-memory dataset: every image decoded once into uint8 tensors, batches made by indexing.

With about 1400 images of 64 px the whole set is a few megabytes, so there are no data-loader
workers competing with the model for the two cores, and a batch is one gather.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from thz.data.images import read_gray_uint8, read_rgb_uint8, read_thz_uint8
from thz.data.problems import DataError


@dataclass(frozen=True)
class VisibleFormat:
    """How a teacher reads the visible companions: grayscale (published) or RGB, at `scale` times
    the THz image size (the simulator writes them at twice the THz size, in colour), and which
    photo goes with a concealed THz image (`source`; see thz.models.inputs, which owns it)."""

    colour: bool = False
    scale: int = 1
    source: str = "capture"  # capture: each THz image with its own photo | unconcealed: the uncovered one

    @property
    def channels(self) -> int:
        return 3 if self.colour else 1


@dataclass
class PairSet:
    """Concealed inputs with their unconcealed targets, for one part (train, val or test).

    inputs, targets: (N, 1, H, W) uint8; identity: (N,) int64 index into `identities`;
    posture: (N,) int64 in 0..4; paths: the input files, in order. visible_inputs,
    visible_targets: (N, C, s*H, s*W) uint8, the visible images of the same captures in the
    teacher's VisibleFormat, loaded for a teacher only.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    identity: torch.Tensor
    posture: torch.Tensor
    identities: tuple[str, ...]
    paths: tuple[str, ...]
    visible_inputs: torch.Tensor | None = None
    visible_targets: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def batch(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """Float images in [0, 1] and labels for the given sample indices (plus "visible_input" and
        "visible_target" when the set carries visible images); "capture" is the index itself, the
        label of the instance-level loss."""
        batch = {
            "input": self.inputs[index].float().div_(255.0),
            "target": self.targets[index].float().div_(255.0),
            "identity": self.identity[index],
            "posture": self.posture[index],
            # which pair each row is: an input and its twin share it
            "capture": torch.as_tensor(index, dtype=torch.long).clone(),
        }
        if self.visible_inputs is not None:
            batch["visible_input"] = self.visible_inputs[index].float().div_(255.0)
            batch["visible_target"] = self.visible_targets[index].float().div_(255.0)
        return batch


def load_pairs(
    images: pd.DataFrame, part: str, image_size: int, visible: VisibleFormat | None = None, strict: bool = True
) -> PairSet:
    """Decode the concealed images of `part` in a per-image table (split stage's images.csv) and
    their targets; with `visible`, also the visible companions of both in that format.
    Raises DataError naming the part when it is empty. A sample whose input or target has no
    visible companion is named in a DataError (`strict`) or left out with a printed summary;
    without `visible` no visible file is ever opened."""
    rows = images[(images.split == part) & images.concealed.astype(bool)].sort_values("path")
    if rows.empty:
        raise DataError(f"no concealed images in the '{part}' part of the split")
    if visible:
        rows = _with_visible(images, rows, part, strict)
    identities = tuple(sorted(rows.identity.unique()))
    lookup = {name: i for i, name in enumerate(identities)}
    md5 = dict(zip(images.path, images.md5, strict=True))
    visible_md5 = _visible_md5(images) if visible else {}
    return PairSet(
        inputs=_decode_thz(rows.path, image_size, md5),
        targets=_decode_thz(rows.target, image_size, md5),
        identity=torch.tensor([lookup[i] for i in rows.identity], dtype=torch.int64),
        posture=torch.tensor(rows.posture.to_numpy(np.int64)),
        identities=identities,
        paths=tuple(rows.path),
        visible_inputs=_decode(rows.visible, image_size, visible, visible_md5) if visible else None,
        visible_targets=_decode(rows.visible_target, image_size, visible, visible_md5) if visible else None,
    )


def _with_visible(images: pd.DataFrame, rows: pd.DataFrame, part: str, strict: bool) -> pd.DataFrame:
    """rows plus a `visible_target` column; rows lacking either visible image dropped or refused."""
    companion = dict(zip(images.path, images.visible.fillna(""), strict=True))
    rows = rows.assign(visible=rows.visible.fillna(""), visible_target=[companion.get(t, "") for t in rows.target])
    missing = rows[(rows.visible == "") | (rows.visible_target == "")]
    if missing.empty:
        return rows
    if len(missing) == len(rows):
        raise DataError(
            f"none of the {len(rows)} '{part}' samples has visible images for both its concealed input and "
            "its unconcealed target (check data.visible_dir). The teacher and the distilled student need "
            "them; with THz images only, run the THz-only part: dvc repro train_baseline"
        )
    names = [row.path for row in missing.itertuples() if row.visible == ""]
    names += [row.target for row in missing.itertuples() if row.visible_target == ""]
    listing = "\n  ".join(names[:20]) + (f"\n  ... and {len(names) - 20} more" if len(names) > 20 else "")
    message = (
        f"{len(missing)} of {len(rows)} '{part}' samples lack a visible image; THz files without "
        f"a visible companion:\n  {listing}"
    )
    if strict:
        raise DataError(message + "\n(data.strict is true; set it to false to train on the samples that have both)")
    print(f"warning: {message}\nthese are left out; training on {len(rows) - len(missing)} samples with both")
    return rows.drop(missing.index)


def _visible_md5(images: pd.DataFrame) -> dict[str, str]:
    """The scan's MD5 of each visible image, so one changed or deleted since is refused by name."""
    return {vis: md5 for vis, md5 in zip(images.visible, images.visible_md5, strict=True) if vis}


def _decode(paths, image_size: int, fmt: VisibleFormat, md5: dict[str, str]) -> torch.Tensor:
    """Visible images, (N, C, s*H, s*W) uint8: grayscale or RGB, resized to `fmt.scale` x the THz
    size, each checked against the scan's `md5`."""
    size = image_size * fmt.scale
    read = read_rgb_uint8 if fmt.colour else read_gray_uint8
    arrays = np.stack([read(path, size, md5[path]) for path in paths])
    if fmt.colour:
        return torch.from_numpy(arrays).permute(0, 3, 1, 2).contiguous()  # (N, H, W, 3) -> (N, 3, H, W)
    return torch.from_numpy(arrays)[:, None]  # (N, H, W) -> (N, 1, H, W)


def _decode_thz(paths, size: int, md5: dict[str, str]) -> torch.Tensor:
    """THz images exactly as the scan checked them (thz.data.images.read_thz_uint8)."""
    arrays = np.stack([read_thz_uint8(path, size, md5.get(path)) for path in paths])
    return torch.from_numpy(arrays)[:, None]  # (N, H, W) -> (N, 1, H, W)
