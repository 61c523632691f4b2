"""Generate the simulated dataset in the published file format.

Every capture is seeded by (seed, identity, posture, sample) alone, so the result does not depend
on the order of generation or the number of identities asked for: `identities=10` gives the
first ten people of `identities=20`, pixel for pixel.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from thz.config import SimulateConfig
from thz.data.naming import POSTURES, format_name
from thz.data.simulate.head import sample_expression, sample_head_shape
from thz.data.simulate.imaging import thz_return, thz_sensor, visible_image
from thz.data.simulate.ownership import check_owned, write_marker
from thz.data.simulate.render import Pose
from thz.data.simulate.scene import POSTURE_ANGLES, render_capture, sample_fabric
from thz.files import atomic_directory, save_png


@dataclass(frozen=True)
class Capture:
    """The four images of one (identity, posture, sample): THz and visible, concealed or not."""

    thz_concealed: np.ndarray  # (H, W) uint8
    thz_unconcealed: np.ndarray  # (H, W) uint8
    visible_concealed: np.ndarray  # (Hv, Wv, 3) uint8
    visible_unconcealed: np.ndarray  # (Hv, Wv, 3) uint8


def identity_name(index: int) -> str:
    """`s01`, `s02`, ...: letters first, so YAML and spreadsheets never turn them into numbers."""
    return f"s{index + 1:02d}"


def render_size(cfg: SimulateConfig) -> int:
    """Working resolution: at least twice the THz size (anti-aliasing) and the visible size."""
    factor = max(2, -(-cfg.visible_size // cfg.image_size))
    return cfg.image_size * factor


def simulate_capture(cfg: SimulateConfig, seed: int, identity: int, posture: int, sample: int) -> Capture:
    """Render one capture deterministically from its coordinates."""
    shape = sample_head_shape(np.random.default_rng([seed, identity]), cfg.identity_variation)
    rng = np.random.default_rng([seed, identity, posture, sample])
    size = render_size(cfg)
    px = size / cfg.image_size  # render pixels per output pixel
    yaw, pitch = POSTURE_ANGLES[posture]
    jitter = cfg.pose_jitter_deg
    pose = Pose(
        yaw=yaw + rng.uniform(-jitter, jitter),
        pitch=pitch + rng.uniform(-jitter, jitter),
        roll=rng.uniform(-jitter / 2, jitter / 2),
        shift_x=px * rng.uniform(-2, 2) * cfg.image_size / 64,
        shift_y=px * rng.uniform(-2, 2) * cfg.image_size / 64,
        scale=rng.uniform(0.95, 1.05),
    )
    expr = sample_expression(rng, cfg.expression)
    fabric = sample_fabric(rng, cfg.concealment)
    maps = render_capture(shape, expr, pose, fabric, size)
    light = np.array([rng.uniform(-0.5, 0.5), rng.uniform(0.2, 0.6), 1.0])
    light /= np.linalg.norm(light)
    backdrop = rng.uniform(0.55, 0.8)
    return Capture(
        thz_concealed=thz_sensor(thz_return(maps, fabric, True, cfg.fabric_texture), cfg.image_size, cfg, rng),
        thz_unconcealed=thz_sensor(thz_return(maps, fabric, False, cfg.fabric_texture), cfg.image_size, cfg, rng),
        visible_concealed=visible_image(maps, fabric, True, light, backdrop, cfg.visible_size, rng),
        visible_unconcealed=visible_image(maps, fabric, False, light, backdrop, cfg.visible_size, rng),
    )


def write_dataset(
    cfg: SimulateConfig, seed: int, thz_dir: Path, visible_dir: Path, progress=None, workers: int | None = None
) -> int:
    """Write every capture as PNGs named `<identity>_<code>_<sample>.png` into two folders.

    THz images are 8-bit grayscale; visible companions are RGB and share the THz file's name
    (the same stem in `visible_dir`). Each folder appears complete or not at all. Captures are
    rendered in `workers` processes (default: one per core); the result does not depend on it.
    Returns the number of captures written. A folder that holds anything this function did not
    write before is refused (DataError), never replaced (thz.data.simulate.ownership).
    """
    check_owned(thz_dir)
    check_owned(visible_dir)
    workers = workers or os.cpu_count() or 1
    jobs = [(i, p, s) for i in range(cfg.identities) for p in range(len(POSTURES)) for s in range(1, cfg.samples + 1)]
    with atomic_directory(thz_dir) as thz_tmp, atomic_directory(visible_dir) as vis_tmp:
        with (
            ProcessPoolExecutor(workers, initializer=_one_blas_thread)
            if workers > 1
            else contextlib.nullcontext() as pool
        ):
            mapper = pool.map if pool else map
            captures = mapper(_capture_job, [(cfg, seed, *job) for job in jobs], **({"chunksize": 8} if pool else {}))
            for (i, p, s), cap in zip(jobs, progress(captures, total=len(jobs)) if progress else captures, strict=True):
                for concealed, thz_img, vis_img in (
                    (True, cap.thz_concealed, cap.visible_concealed),
                    (False, cap.thz_unconcealed, cap.visible_unconcealed),
                ):
                    name = format_name(identity_name(i), p, concealed, s)
                    save_png(thz_tmp / name, thz_img)
                    save_png(vis_tmp / name, vis_img)
        write_marker(thz_tmp)
        write_marker(vis_tmp)
    return len(jobs)


def _one_blas_thread() -> None:
    # Each capture is many small array operations: BLAS threads in every worker only contend.
    threadpool_limits(1)


def _capture_job(args) -> Capture:
    return simulate_capture(*args)
