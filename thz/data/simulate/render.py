"""Orthographic z-buffer rendering of surface points into per-pixel attribute maps.

Splatting a dense point cloud is enough at 64-128 px and keeps the simulator in NumPy: each
pixel keeps the attributes of its nearest front-facing point; isolated holes are filled from
their neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Pose:
    """Head rotation in degrees (yaw > 0 turns the face to the image's right, pitch > 0 up)
    and image placement (shift in pixels of the output, scale relative to the default)."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    shift_x: float = 0.0
    shift_y: float = 0.0
    scale: float = 1.0


def rotation_matrix(pose: Pose) -> np.ndarray:
    """R = roll @ pitch @ yaw, applied to column vectors in head coordinates (x right, y up, z out)."""
    yaw, pitch, roll = np.deg2rad([pose.yaw, pose.pitch, pose.roll])
    ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    rx = np.array([[1, 0, 0], [0, np.cos(pitch), np.sin(pitch)], [0, -np.sin(pitch), np.cos(pitch)]])
    rz = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
    return rz @ rx @ ry


def render_points(points, normals, attrs, size: int, pose: Pose, pixels_per_unit: float, centre_y: float):
    """Rasterise posed points (N, 3) with normals (N, 3) and attributes (N, C).

    Returns (maps, mask): maps (4 + C, size, size) with channels nx, ny, nz, depth, then attrs;
    mask (size, size) bool, True where a surface was hit. Points are assumed already posed
    (see pose_points); back-facing points are dropped before the depth test.
    """
    front = normals[:, 2] > 0.0
    points, normals, attrs = points[front], normals[front], attrs[front]
    ppu = pixels_per_unit * pose.scale
    col = np.floor(size / 2 + pose.shift_x + points[:, 0] * ppu).astype(np.int64)
    row = np.floor(size * centre_y + pose.shift_y - points[:, 1] * ppu).astype(np.int64)
    inside = (col >= 0) & (col < size) & (row >= 0) & (row < size)
    pixel = row[inside] * size + col[inside]
    values = np.concatenate([normals, points[:, 2:3], attrs], axis=1)[inside]  # (M, 4 + C)
    order = np.lexsort((values[:, 3], pixel))  # by pixel, then depth: the nearest point is last
    pixel, values = pixel[order], values[order]
    last = np.append(pixel[1:] != pixel[:-1], True)
    maps = np.zeros((size * size, values.shape[1]))
    maps[pixel[last]] = values[last]
    mask = np.zeros(size * size, bool)
    mask[pixel[last]] = True
    maps = maps.T.reshape(-1, size, size)
    mask = mask.reshape(size, size)
    return _fill_holes(maps, mask)


def pose_points(points, normals, pose: Pose, pivot=(0.0, -0.55, -0.1)):
    """Rotate head points and normals about the neck pivot."""
    rot = rotation_matrix(pose)
    pivot = np.asarray(pivot)
    return (points - pivot) @ rot.T + pivot, normals @ rot.T


def _fill_holes(maps: np.ndarray, mask: np.ndarray):
    """Fill missed pixels that are mostly surrounded by hits (sampling gaps, not background)."""
    cover = ndimage.uniform_filter(mask.astype(float), size=3, mode="constant")
    holes = ~mask & (cover >= 4 / 9)
    if holes.any():
        summed = np.stack([ndimage.uniform_filter(m * mask, size=3, mode="constant") for m in maps])
        maps[:, holes] = summed[:, holes] / cover[holes]
        mask = mask | holes
    normal_norm = np.linalg.norm(maps[:3], axis=0, keepdims=True)
    maps[:3] = np.where(mask, maps[:3] / np.maximum(normal_norm, 1e-9), 0.0)
    return maps, mask
