"""The published file-name convention: `<identity>_<code>_<sample>.png`.

Posture codes are `b1b`..`b5b` for concealed and `n1n`..`n5n` for unconcealed images; the digit
minus one is the posture class (0 front, 1 left, 2 right, 3 up, 4 down). The published loader
takes the identity from the folder two levels up (`<identity>/<unit>/<file>.png`) and breaks on
flat folders; `parse_name` accepts both, and also `<code>_<sample>.png` inside such a nested tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

POSTURES = ("front", "left", "right", "up", "down")
# the posture of each posture's horizontal mirror (a face turned left, mirrored, is turned right):
# test-time flip (thz.eval.forward) reads a mirrored image's posture logits and experts through it
MIRRORED_POSTURES = tuple(POSTURES.index({"left": "right", "right": "left"}.get(p, p)) for p in POSTURES)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
NAME_PATTERN = "<identity>_<b1b..b5b|n1n..n5n>_<sample>.png"

_CODE = re.compile(r"^(?:b([1-5])b|n([1-5])n)$")
_SAMPLE = re.compile(r"^[A-Za-z0-9-]+$")
_IDENTITY = re.compile(r"^[A-Za-z0-9_-]+$")  # underscores: the code token is found from the right


class FileNameError(ValueError):
    """A file name does not follow the published convention; the message says why."""


@dataclass(frozen=True)
class ParsedName:
    identity: str
    posture: int  # 0..4, index into POSTURES
    concealed: bool
    sample: str

    @property
    def key(self) -> tuple[str, int, str]:
        """(identity, posture, sample): what a concealed image and its unconcealed partner share."""
        return (self.identity, self.posture, self.sample)


def posture_code(posture: int, concealed: bool) -> str:
    """`b3b` for a concealed posture 2 (right), `n3n` for its unconcealed counterpart."""
    if not 0 <= posture < len(POSTURES):
        raise ValueError(f"posture must be in 0..{len(POSTURES) - 1}, got {posture}")
    digit = posture + 1
    return f"b{digit}b" if concealed else f"n{digit}n"


def format_name(identity: str, posture: int, concealed: bool, sample: int | str) -> str:
    """File name in the published convention, e.g. `s03_b2b_4.png`."""
    return f"{identity}_{posture_code(posture, concealed)}_{sample}.png"


def parse_name(path: str | PurePath, root: str | PurePath | None = None) -> ParsedName:
    """Parse identity, posture, concealment and sample from an image path.

    Flat: `s03_b2b_4.png`. Nested (published): `s03/unit1/s03_b2b_4.png` or `s03/unit1/b2b_4.png`.
    Without an identity in the file name, the folder two levels up is the identity, as in the
    published loader. With `root`, only folders below it count, so a flat data folder never lends
    its parent's name as an identity, and such an identity folder must agree with an identity in
    the file name (`s03/unit1/s04_b2b_4.png` is refused: which person is it?). Raises
    FileNameError with the expected pattern.
    """
    path = PurePath(path)
    folders = path.relative_to(root).parts if root is not None else path.parts
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise FileNameError(f"'{path.name}': not an image file name (expected {NAME_PATTERN})")
    tokens = path.stem.split("_")
    code_at = [i for i, t in enumerate(tokens) if _CODE.match(t)]
    if len(code_at) != 1 or code_at[0] != len(tokens) - 2:
        raise FileNameError(
            f"'{path.name}': expected {NAME_PATTERN} (posture code b1b..b5b or n1n..n5n followed by a sample number)"
        )
    sample = tokens[-1]
    if not _SAMPLE.match(sample):
        raise FileNameError(f"'{path.name}': sample '{sample}' must be letters, digits or '-'")
    folder_identity = folders[-3] if len(folders) >= 3 else None
    identity = "_".join(tokens[:-2]) or folder_identity
    if not identity:
        raise FileNameError(
            f"'{path}': no identity in the name and no `<identity>/<unit>/` folders above it (expected {NAME_PATTERN})"
        )
    if not _IDENTITY.match(identity):
        raise FileNameError(f"'{path.name}': identity '{identity}' must be letters, digits, '_' or '-'")
    if root is not None and folder_identity not in (None, identity):
        raise FileNameError(
            f"'{path.name}': identity '{identity}' in the file name but '{folder_identity}' in the folder two levels "
            f"up (nested layout <identity>/<unit>/<file>: the identity folder and the name must agree)"
        )
    match = _CODE.match(tokens[-2])
    digit = match.group(1) or match.group(2)
    return ParsedName(identity=identity, posture=int(digit) - 1, concealed=bool(match.group(1)), sample=sample)
