"""Identity-specific 3-D heads as parametric surfaces.

A head is an ellipsoid in angular coordinates (u: azimuth, 0 faces the camera; v: elevation)
whose radius is modulated by Gaussian bumps and dents for the brow ridge, eye sockets, eyes,
nose, cheeks, lips, chin, jaw and ears. Identity lives in the sizes and positions of these
features, not in brightness or texture, so that telling people apart means reading face shape,
as it does for a THz imager that sees skin through fabric.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Angular grid: dense enough for about two surface points per rendered pixel at 128 px.
GRID_U, GRID_V = 384, 216


@dataclass(frozen=True)
class HeadShape:
    """What makes one person's head: sizes in head half-heights, angles in radians."""

    width: float
    depth: float
    jaw_taper: float
    brow: float
    eye_spacing: float
    eye_level: float
    socket_depth: float
    nose_length: float
    nose_height: float
    nose_width: float
    cheek: float
    lip_width: float
    lip_fullness: float
    mouth_level: float
    chin: float
    jaw_angle: float
    ear_size: float
    hairline: float
    skin_rgb: tuple[float, float, float]
    hair_rgb: tuple[float, float, float]


@dataclass(frozen=True)
class Expression:
    """Small per-sample changes: mouth opening, smile and brow raise, in head half-heights."""

    mouth_open: float = 0.0
    smile: float = 0.0
    brow_raise: float = 0.0


def sample_head_shape(rng: np.random.Generator, variation: float = 1.0) -> HeadShape:
    """Draw one identity; `variation` scales every spread (0 gives everybody the mean face)."""

    def draw(mean: float, spread: float) -> float:
        return float(mean + variation * spread * np.clip(rng.standard_normal(), -2.5, 2.5))

    skin_tone = np.clip(rng.uniform(0.35, 0.95), 0, 1)
    skin = (0.35 + 0.6 * skin_tone, 0.25 + 0.5 * skin_tone, 0.18 + 0.42 * skin_tone)
    hair_level = rng.uniform(0.05, 0.6)
    hair = (hair_level, hair_level * rng.uniform(0.7, 0.95), hair_level * rng.uniform(0.45, 0.8))
    return HeadShape(
        width=draw(0.80, 0.05),
        depth=draw(0.92, 0.05),
        jaw_taper=draw(0.45, 0.12),
        brow=draw(0.05, 0.02),
        eye_spacing=draw(0.33, 0.035),
        eye_level=draw(0.10, 0.035),
        socket_depth=draw(0.075, 0.02),
        nose_length=draw(0.17, 0.04),
        nose_height=draw(0.17, 0.045),
        nose_width=draw(0.085, 0.02),
        cheek=draw(0.045, 0.02),
        lip_width=draw(0.17, 0.025),
        lip_fullness=draw(0.045, 0.015),
        mouth_level=draw(-0.40, 0.04),
        chin=draw(0.06, 0.025),
        jaw_angle=draw(0.04, 0.02),
        ear_size=draw(0.21, 0.035),
        hairline=draw(0.55, 0.08),
        skin_rgb=tuple(float(c) for c in skin),
        hair_rgb=tuple(float(c) for c in hair),
    )


def sample_expression(rng: np.random.Generator, strength: float = 1.0) -> Expression:
    """A little mouth opening, smile and brow movement for one sample."""
    return Expression(
        mouth_open=float(strength * rng.uniform(0.0, 0.025)),
        smile=float(strength * rng.uniform(-0.01, 0.02)),
        brow_raise=float(strength * rng.uniform(-0.01, 0.025)),
    )


def _bump(u, v, u0, v0, su, sv):
    return np.exp(-0.5 * (((u - u0) / su) ** 2 + ((v - v0) / sv) ** 2))


def _mirrored(u, v, u0, v0, su, sv):
    return _bump(u, v, u0, v0, su, sv) + _bump(u, v, -u0, v0, su, sv)


def radius_modulation(shape: HeadShape, expr: Expression, u: np.ndarray, v: np.ndarray, smooth: float = 0.0):
    """Relative radius change of the face features; `smooth` in [0, 1] flattens concave detail
    (a fabric stretched over the face bridges eye sockets and the mouth) and softens the rest."""
    s = shape
    keep = 1.0 - smooth
    brow_v = s.eye_level + 0.13 + expr.brow_raise
    nose_top, nose_tip = s.eye_level, s.eye_level - s.nose_length - 0.12
    nose_mid = 0.5 * (nose_top + nose_tip)
    mouth = s.mouth_level - expr.mouth_open / 2
    m = s.brow * _bump(u, v, 0.0, brow_v, 0.42, 0.05)
    m += -keep * s.socket_depth * _mirrored(u, v, s.eye_spacing, s.eye_level, 0.11, 0.065)
    m += keep * 0.025 * _mirrored(u, v, s.eye_spacing, s.eye_level, 0.055, 0.035)  # eyeballs
    m += s.nose_height * 0.55 * _bump(u, v, 0.0, nose_mid, s.nose_width * 0.7, (nose_top - nose_tip) / 2.4)
    m += s.nose_height * _bump(u, v, 0.0, nose_tip + 0.03, s.nose_width, 0.055)
    m += 0.35 * s.nose_height * _mirrored(u, v, s.nose_width * 0.9, nose_tip + 0.01, 0.05, 0.04)  # wings
    m += s.cheek * _mirrored(u, v, 0.42, s.eye_level - 0.2, 0.2, 0.13)
    m += s.lip_fullness * _bump(u, v, 0.0, mouth + 0.045, s.lip_width, 0.03)
    m += s.lip_fullness * _bump(u, v, 0.0, mouth - 0.045 - expr.mouth_open, s.lip_width * 0.9, 0.035)
    m += -keep * (0.02 + 2 * expr.mouth_open) * _bump(u, v, 0.0, mouth - expr.mouth_open / 2, s.lip_width, 0.012)
    m += 0.015 * _mirrored(u, v, s.lip_width, mouth + expr.smile, 0.03, 0.03)  # lip corners
    m += s.chin * _bump(u, v, 0.0, s.mouth_level - 0.25, 0.16, 0.09)
    m += s.jaw_angle * _mirrored(u, v, 0.8, s.mouth_level - 0.05, 0.16, 0.14)
    m += s.ear_size * 0.7 * _mirrored(u, v, np.pi / 2 - 0.06, s.eye_level - 0.05, 0.1, s.ear_size)
    if smooth:
        m = m * (1.0 - 0.3 * smooth)
    return m


def head_surface(shape: HeadShape, expr: Expression, inflate: float = 0.0, smooth: float = 0.0):
    """Points (N, 3), unit normals (N, 3) and attributes (N, 7: u, v, reflectance, red, green,
    blue, skin) of one head, in head coordinates
    (x right, y up, z towards the camera; head half-height 1). `inflate` moves the surface
    outwards (a fabric layer), `smooth` flattens concave detail (see radius_modulation)."""
    u = np.linspace(-np.pi, np.pi, GRID_U, endpoint=False)
    v = np.linspace(-np.pi / 2 + 0.02, np.pi / 2 - 0.02, GRID_V)
    uu, vv = np.meshgrid(u, v)  # (GRID_V, GRID_U)
    radius = 1.0 + radius_modulation(shape, expr, uu, vv, smooth) + inflate
    taper = 1.0 - shape.jaw_taper * np.clip(-np.sin(vv) - 0.15, 0, None) ** 1.5
    x = shape.width * taper * radius * np.cos(vv) * np.sin(uu)
    y = radius * np.sin(vv)
    z = shape.depth * taper * radius * np.cos(vv) * np.cos(uu)
    points = np.stack([x, y, z], axis=-1)  # (GRID_V, GRID_U, 3)
    du = np.roll(points, -1, axis=1) - np.roll(points, 1, axis=1)  # azimuth wraps around
    dv = np.gradient(points, axis=0)
    normals = np.cross(du, dv)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True) + 1e-12
    skin = vv < shape.hairline - 0.25 * np.abs(np.sin(uu)) ** 2 + 0.3 * (np.abs(uu) > 2.2)
    attrs = _surface_attributes(shape, expr, uu, vv, skin)
    flat = lambda a: a.reshape(GRID_V * GRID_U, -1)  # noqa: E731
    return flat(points), flat(normals), np.concatenate([flat(uu), flat(vv), flat(attrs)], axis=-1)


def _surface_attributes(shape: HeadShape, expr: Expression, uu, vv, skin):
    """THz reflectance and visible albedo per point: channels reflectance, red, green, blue, skin."""
    s = shape
    rgb = np.where(skin[..., None], np.array(s.skin_rgb), np.array(s.hair_rgb))
    # Hair is partly transparent at 340 GHz: the skull under it still returns a weaker echo.
    reflectance = np.where(skin, 1.0, 0.65)
    brow_v = s.eye_level + 0.12 + expr.brow_raise
    brows = (np.abs(vv - brow_v) < 0.022) & (np.abs(np.abs(uu) - s.eye_spacing) < 0.13)
    rgb = np.where(brows[..., None], np.array(s.hair_rgb) * 0.8, rgb)
    eye_dist = np.sqrt(((np.abs(uu) - s.eye_spacing) / 0.07) ** 2 + ((vv - s.eye_level) / 0.03) ** 2)
    rgb = np.where((eye_dist < 1.0)[..., None], np.array([0.92, 0.9, 0.88]), rgb)
    iris = np.sqrt(((np.abs(uu) - s.eye_spacing) / 0.028) ** 2 + ((vv - s.eye_level) / 0.028) ** 2) < 1
    rgb = np.where(iris[..., None], np.array([0.2, 0.15, 0.1]), rgb)
    mouth = s.mouth_level - expr.mouth_open / 2
    lips = (np.abs(uu) < s.lip_width * 1.1) & (np.abs(vv - mouth - 0.0) < 0.07 + expr.mouth_open)
    rgb = np.where(lips[..., None], rgb * np.array([0.95, 0.6, 0.6]), rgb)
    gap = (np.abs(uu) < s.lip_width) & (np.abs(vv - mouth + expr.mouth_open / 2) < 0.006 + expr.mouth_open)
    rgb = np.where(gap[..., None], np.array([0.15, 0.05, 0.05]), rgb)
    return np.concatenate([reflectance[..., None], rgb, skin[..., None].astype(float)], axis=-1)


def neck_surface(radius: float = 0.42, top: float = -0.45, bottom: float = -1.9, n_u: int = 160, n_y: int = 90):
    """A vertical cylinder for the neck, fixed to the body (it does not turn with the head)."""
    u = np.linspace(-np.pi, np.pi, n_u, endpoint=False)
    y = np.linspace(bottom, top, n_y)
    uu, yy = np.meshgrid(u, y)
    points = np.stack([radius * np.sin(uu), yy, radius * np.cos(uu) - 0.2], axis=-1).reshape(-1, 3)
    normals = np.stack([np.sin(uu), np.zeros_like(uu), np.cos(uu)], axis=-1).reshape(-1, 3)
    return points, normals, uu.reshape(-1), yy.reshape(-1)
