"""A contact sheet of the scanned data, so a person can see what the pipeline reads."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw

from thz.data.naming import POSTURES
from thz.files import atomic_path

TILES = ("THz concealed", "THz target", "vis concealed", "visible")
MARGIN, HEADER, GAP = 40, 28, 6


def contact_sheet(manifest: pd.DataFrame, out: Path, max_identities: int = 8, tile: int = 64) -> None:
    """Rows: identities; columns: postures x (THz concealed, its unconcealed target, and their
    visible companions). Uses the first concealed sample of each identity and posture; a tile is
    left grey where the data have no such image. Reads the files, so it shows what was written."""
    concealed = manifest[manifest.concealed.astype(bool)]
    identities = sorted(concealed.identity.unique())[:max_identities]
    visible_of = dict(zip(manifest.path, manifest.visible, strict=True))
    width = MARGIN + len(POSTURES) * len(TILES) * tile + (len(POSTURES) - 1) * GAP
    sheet = Image.new("RGB", (width, HEADER + len(identities) * tile), "white")
    draw = ImageDraw.Draw(sheet)
    for p, posture in enumerate(POSTURES):
        x0 = MARGIN + p * (len(TILES) * tile + GAP)
        draw.text((x0 + 2, 2), posture, fill="black")
        for t, label in enumerate(TILES):
            draw.text((x0 + t * tile + 2, 15), label[:11], fill="dimgray")
    for r, ident in enumerate(identities):
        y = HEADER + r * tile
        draw.text((2, y + tile // 2 - 5), ident, fill="black")
        rows = concealed[concealed.identity == ident]
        for p in range(len(POSTURES)):
            match = rows[rows.posture == p]
            if match.empty:
                continue
            first = match.iloc[0]
            paths = (first.path, first.target, visible_of.get(first.path, ""), visible_of.get(first.target, ""))
            x0 = MARGIN + p * (len(TILES) * tile + GAP)
            for t, path in enumerate(paths):
                sheet.paste(_tile(path, tile), (x0 + t * tile, y))
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG")


def _tile(path: str, tile: int) -> Image.Image:
    if not path:
        return Image.new("RGB", (tile, tile), (200, 200, 200))
    with Image.open(path) as img:
        return img.convert("RGB").resize((tile, tile), Image.Resampling.NEAREST)
