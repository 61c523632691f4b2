"""A contact sheet of written images, so a person can see what the simulator made."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from thz.data.naming import POSTURES, format_name
from thz.files import atomic_path

TILES = (("THz concealed", "thz", True), ("THz target", "thz", False), ("visible conc.", "vis", True),
         ("visible", "vis", False))


def contact_sheet(thz_dir: Path, visible_dir: Path, identities: list[str], out: Path, sample: int = 1,
                  tile: int = 64) -> None:
    """Rows: identities; columns: postures x (THz concealed, THz unconcealed, visible concealed,
    visible unconcealed). Reads the PNG files back, so it shows exactly what was written."""
    label_h, gap = 28, 6
    cols = len(POSTURES) * len(TILES)
    width = 40 + cols * tile + (len(POSTURES) - 1) * gap
    height = label_h + len(identities) * tile
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    for p, posture in enumerate(POSTURES):
        x0 = 40 + p * (len(TILES) * tile + gap)
        draw.text((x0 + 2, 2), posture, fill="black")
        for t, (label, _, _) in enumerate(TILES):
            draw.text((x0 + t * tile + 2, 15), label[:11], fill="dimgray")
    for r, ident in enumerate(identities):
        y = label_h + r * tile
        draw.text((2, y + tile // 2 - 5), ident, fill="black")
        for p in range(len(POSTURES)):
            x0 = 40 + p * (len(TILES) * tile + gap)
            for t, (_, modality, concealed) in enumerate(TILES):
                folder = thz_dir if modality == "thz" else visible_dir
                with Image.open(folder / format_name(ident, p, concealed, sample)) as img:
                    img = img.convert("RGB").resize((tile, tile), Image.Resampling.NEAREST)
                    sheet.paste(img, (x0 + t * tile, y))
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG")
