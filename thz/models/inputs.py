"""What a network reads, said once: THz images only, or THz images plus a visible photo of each in
the teacher's `VisibleFormat`. The network owns its `Inputs` (`net.inputs`, built once from the
config by `build_model`); the data loader takes its format, the objectives and the inference loop
take a forward pass's tensors from it (`pick`), and a checkpoint records its `modalities`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from thz.config import TeacherConfig
from thz.data.dataset import VisibleFormat

THZ_ONLY = ("thz",)
THZ_AND_VISIBLE = ("thz", "visible")


@dataclass(frozen=True)
class Inputs:
    """`visible`: how the visible photos are loaded and which one goes with each THz image; None for
    a THz-only network (baseline and student), which never sees a photo."""

    visible: VisibleFormat | None = None

    @classmethod
    def of(cls, teacher: TeacherConfig | None) -> Inputs:
        """THz only without a teacher config; with one, its photos as teacher.visible_* say."""
        if teacher is None:
            return cls()
        return cls(VisibleFormat(teacher.visible_colour, teacher.visible_scale, teacher.visible_source))

    @property
    def modalities(self) -> tuple[str, ...]:
        """What a checkpoint records, so that thz.models.rebuild_model builds the same network again."""
        return THZ_ONLY if self.visible is None else THZ_AND_VISIBLE

    def pick(self, batch: dict[str, torch.Tensor], anchors_only: bool = False):
        """(images, posture, visible) for one forward pass: [inputs; targets] (or the inputs alone),
        their postures, and the photos that go with them (None for THz only): each THz image's own
        capture, or with source "unconcealed" the uncovered face of the capture for the concealed
        input too (a teacher privileged with what no scanner has)."""
        keys = ("input",) if anchors_only else ("input", "target")
        images = torch.cat([batch[k] for k in keys])
        posture = torch.cat([batch["posture"]] * len(keys))
        if self.visible is None:
            return images, posture, None
        if "visible_input" not in batch:
            raise ValueError(
                "this network needs visible images but the batch has none: the teacher and the student's "
                "training set are loaded with their visible companions (data.visible_dir)"
            )
        unconcealed = self.visible.source == "unconcealed"
        return images, posture, torch.cat([batch["visible_target" if unconcealed else f"visible_{k}"] for k in keys])
