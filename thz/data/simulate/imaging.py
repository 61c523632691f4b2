"""Image formation: an active 340 GHz THz imager and a visible-spectrum camera.

THz: skin is a strong, nearly specular reflector at sub-millimetre wavelengths, so the return
falls off steeply as the surface turns away from the co-located source and detector. Fabric
attenuates the beam twice (in and out), scatters it (blur) and reflects a little itself. The
sensor adds diffraction blur, coherent speckle (multiplicative), raster row artefacts of a
scanning system, additive noise and dead pixels, then auto-gains the frame.
Visible: Lambertian shading with a soft highlight; the balaclava is opaque except for the eyes.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from thz.config import SimulateConfig
from thz.data.simulate.scene import CaptureMaps, Fabric


def thz_return(maps: CaptureMaps, fabric: Fabric, concealed: bool, fabric_texture: float) -> np.ndarray:
    """Noise-free THz echo strength at render resolution, in about [0, 1]."""
    nz = np.clip(maps.channel("nz"), 0, 1)
    face = maps.channel("reflectance") * (0.2 * nz + 0.8 * nz**3) * maps.face_mask
    if not concealed:
        return face
    tex = fabric.texture(maps.channel("u", fabric=True), maps.channel("v", fabric=True))
    amplitude = np.clip(fabric.transmission * (1 + 0.6 * fabric_texture * tex), 0, 1)
    scatter_sigma = 1.0 + 5.0 * (1 - fabric.transmission)  # render pixels
    through = amplitude**2 * ndimage.gaussian_filter(face, scatter_sigma)
    nzf = np.clip(maps.channel("nz", fabric=True), 0, 1)
    fabric_echo = fabric.reflectance * (1 + 0.8 * fabric_texture * tex) * (0.3 * nzf + 0.7 * nzf**2)
    covered = np.where(maps.fabric_mask, through + fabric_echo, 0.0)
    return np.where(maps.eye_band, face, covered)


def thz_sensor(echo: np.ndarray, out_size: int, cfg: SimulateConfig, rng: np.random.Generator) -> np.ndarray:
    """Turn an echo map (render resolution, a multiple of out_size) into an 8-bit THz frame."""
    factor = echo.shape[0] // out_size
    img = echo.reshape(out_size, factor, out_size, factor).mean(axis=(1, 3))
    if cfg.blur > 0:
        img = ndimage.gaussian_filter(img, cfg.blur)
    if cfg.speckle > 0:
        looks = 1.0 / cfg.speckle**2
        img = img * rng.gamma(looks, 1.0 / looks, size=img.shape)
    img = img + 0.03  # background clutter floor
    rows = out_size
    gain = 1 + cfg.stripes * rng.standard_normal((rows, 1))
    offset = 0.3 * cfg.stripes * rng.standard_normal((rows, 1))
    glitch = rng.random((rows, 1)) < 0.5 * cfg.stripes  # occasional saturated or dead scan lines
    img = img * gain + offset
    span = np.arange(out_size) < rng.integers(out_size // 4, out_size + 1, size=(rows, 1))
    img = np.where(glitch & span, rng.choice([0.0, 0.8], size=(rows, 1)), img)
    img = img + cfg.noise * rng.standard_normal(img.shape)
    img = img / max(np.percentile(img, 99.5), 1e-6) * 0.95  # the imager's auto-gain
    img = np.where(rng.random(img.shape) < cfg.dropout, 0.0, img)
    return to_uint8(img)


def visible_image(
    maps: CaptureMaps,
    fabric: Fabric,
    concealed: bool,
    light: np.ndarray,
    backdrop: float,
    out_size: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """RGB uint8 (out_size, out_size, 3) photograph of the capture, with or without the balaclava."""
    face_rgb = _shade(maps.face, light, np.stack([maps.channel(c) for c in ("red", "green", "blue")]))
    img = np.where(maps.face_mask, face_rgb, 0.0)
    if concealed:
        tex = fabric.texture(maps.channel("u", fabric=True), maps.channel("v", fabric=True))
        knit = np.array(fabric.rgb)[:, None, None] * (1 + 0.35 * tex)
        cover = _shade(maps.fabric, light, knit, shininess=0.0)
        img = np.where(maps.fabric_mask & ~maps.eye_band, cover, img)
        mask = maps.fabric_mask | maps.face_mask
    else:
        mask = maps.face_mask
    size = img.shape[1]
    gradient = backdrop + 0.15 * np.linspace(-1, 1, size)[:, None] * np.ones((1, size))
    img = np.where(mask, img, gradient)
    img = img + 0.01 * rng.standard_normal(img.shape)
    img = np.moveaxis(img, 0, -1)  # (3, S, S) -> (S, S, 3)
    if size != out_size:
        factor = size / out_size
        img = ndimage.zoom(img, (1 / factor, 1 / factor, 1), order=1)
    return to_uint8(img)


def _shade(maps: np.ndarray, light: np.ndarray, albedo: np.ndarray, shininess: float = 1.0) -> np.ndarray:
    normal = maps[:3]
    lambert = np.clip(np.tensordot(light, normal, axes=1), 0, None)
    half = light + np.array([0.0, 0.0, 1.0])
    half = half / np.linalg.norm(half)
    highlight = shininess * 0.12 * np.clip(np.tensordot(half, normal, axes=1), 0, None) ** 20
    return albedo * (0.28 + 0.72 * lambert) + highlight


def to_uint8(img: np.ndarray) -> np.ndarray:
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
