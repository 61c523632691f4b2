"""One capture: a posed head, with and without a balaclava, as per-pixel surface maps.

The balaclava is a second, inflated and smoothed copy of the head surface (fabric bridges the
eye sockets and the mouth) with an opening around the eyes. Both imaging models, THz and
visible, read the same maps, so a concealed image and its unconcealed target are aligned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thz.data.simulate.head import Expression, HeadShape, head_surface, neck_surface
from thz.data.simulate.render import Pose, pose_points, render_points

# Base head rotation per posture (front, left, right, up, down): yaw and pitch in degrees.
POSTURE_ANGLES = ((0.0, 0.0), (-35.0, 0.0), (35.0, 0.0), (0.0, 25.0), (0.0, -25.0))
PIXELS_PER_UNIT = 0.31  # of the render size: the head (2 units tall) fills about 60 % of the frame
CENTRE_Y = 0.45  # head centre, as a fraction of the image height from the top
NECK_REFLECTANCE = 0.6  # a collar and the neck's curvature return less than the face


@dataclass(frozen=True)
class Fabric:
    """A balaclava: THz amplitude transmission and reflectance, weave, folds and colour."""

    transmission: float
    reflectance: float
    weave_frequency: float
    weave_angle: float
    fold_waves: tuple[tuple[float, float, float, float], ...]  # (k_u, k_v, phase, amplitude)
    rgb: tuple[float, float, float]
    band_half_height: float
    band_half_width: float

    def texture(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Fabric thickness variation in about [-1, 1]: a fine weave on top of slow folds."""
        a = self.weave_angle
        f = self.weave_frequency
        weave = np.sin(f * (u * np.cos(a) + v * np.sin(a))) * np.sin(f * (v * np.cos(a) - u * np.sin(a)))
        folds = sum(amp * np.sin(ku * u + kv * v + ph) for ku, kv, ph, amp in self.fold_waves)
        return 0.5 * weave + folds


def sample_fabric(rng: np.random.Generator, concealment: float) -> Fabric:
    """Draw one balaclava; `concealment` in [0, 1] sets how much it attenuates and reflects."""
    palette = ((0.06, 0.06, 0.07), (0.1, 0.12, 0.25), (0.22, 0.24, 0.14), (0.3, 0.3, 0.32), (0.35, 0.12, 0.1))
    folds = tuple(
        (
            float(rng.uniform(2, 7)),
            float(rng.uniform(2, 7)),
            float(rng.uniform(0, 2 * np.pi)),
            float(rng.uniform(0.1, 0.25)),
        )
        for _ in range(3)
    )
    return Fabric(
        transmission=float(np.clip(1.0 - 0.75 * concealment + rng.normal(0, 0.05), 0.02, 1.0)),
        reflectance=float(0.45 * concealment * rng.uniform(0.8, 1.2)),
        weave_frequency=float(rng.uniform(90, 140)),
        weave_angle=float(rng.uniform(0, np.pi)),
        fold_waves=folds,
        rgb=palette[int(rng.integers(len(palette)))],
        band_half_height=float(rng.uniform(0.09, 0.12)),
        band_half_width=float(rng.uniform(0.5, 0.65)),
    )


@dataclass(frozen=True)
class CaptureMaps:
    """Surface maps of one capture at the render size (channels as in render_points)."""

    face: np.ndarray  # (C, S, S)
    face_mask: np.ndarray  # (S, S) bool
    fabric: np.ndarray  # (C, S, S)
    fabric_mask: np.ndarray  # (S, S) bool
    eye_band: np.ndarray  # (S, S) bool: skin seen through the balaclava's opening

    def channel(self, name: str, fabric: bool = False) -> np.ndarray:
        return (self.fabric if fabric else self.face)[MAP_CHANNELS.index(name)]


MAP_CHANNELS = ("nx", "ny", "nz", "depth", "u", "v", "reflectance", "red", "green", "blue", "skin")


def render_capture(shape: HeadShape, expr: Expression, pose: Pose, fabric: Fabric, size: int) -> CaptureMaps:
    """Render the bare head and the balaclava-covered head in the same pose."""
    face, face_mask = _render_head(shape, expr, pose, size, inflate=0.0, smooth=0.0)
    cover, cover_mask = _render_head(shape, expr, pose, size, inflate=0.035, smooth=0.75)
    u, v = face[MAP_CHANNELS.index("u")], face[MAP_CHANNELS.index("v")]
    band = (
        face_mask
        & (np.abs(v - shape.eye_level) < fabric.band_half_height)
        & (np.abs(u) < fabric.band_half_width)
        & (face[MAP_CHANNELS.index("skin")] > 0.5)
    )
    return CaptureMaps(face=face, face_mask=face_mask, fabric=cover, fabric_mask=cover_mask, eye_band=band)


def _render_head(shape, expr, pose, size, inflate, smooth):
    points, normals, attrs = head_surface(shape, expr, inflate=inflate, smooth=smooth)
    points, normals = pose_points(points, normals, pose)
    n_points, n_normals, n_u, n_y = neck_surface(radius=0.42 + inflate)
    skin = np.array([NECK_REFLECTANCE, *shape.skin_rgb, 1.0])
    n_attrs = np.concatenate([n_u[:, None], n_y[:, None], np.tile(skin, (len(n_u), 1))], axis=1)
    all_points = np.concatenate([points, n_points])
    all_normals = np.concatenate([normals, n_normals])
    all_attrs = np.concatenate([attrs, n_attrs])
    return render_points(all_points, all_normals, all_attrs, size, pose, PIXELS_PER_UNIT * size, CENTRE_Y)
