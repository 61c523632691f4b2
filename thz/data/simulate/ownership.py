"""The simulate stage replaces only folders it wrote itself, so a user's own images put under
its output paths are never deleted.

Every folder the stage writes holds a hidden marker (`MARKER`, ignored by the scanner) that lists
each name the stage put there. Before replacing a folder the stage asks `check_owned`: a missing
or empty folder, or one whose entries are all on its marker's list, may be replaced; anything else
stops the stage with a message naming the folder and the foreign entries. The stage's outputs are
`persist: true` in dvc.yaml, so DVC itself does not delete them before the stage runs.
"""

from __future__ import annotations

from pathlib import Path

from thz.data.problems import DataError

MARKER = ".written-by-simulate"


def write_marker(folder: Path) -> None:
    """Record every entry now in `folder` as the simulate stage's own (call last, inside the
    temporary folder that then replaces the output whole)."""
    names = sorted(p.name for p in folder.iterdir() if p.name != MARKER)
    header = "# written by the simulate stage (thz); it replaces this folder only while it holds just these names\n"
    (folder / MARKER).write_text(header + "".join(f"{name}\n" for name in names))


def check_owned(folder: Path) -> None:
    """Raise DataError unless `folder` is missing, empty, or holds only what its marker lists."""
    folder = Path(folder)
    if not folder.exists():
        return
    if not folder.is_dir():
        raise DataError(f"{folder}: the simulate stage writes a folder here, but a file is in the way; move it")
    entries = {p.name for p in folder.iterdir()} - {MARKER}
    marker = folder / MARKER
    owned = set()
    if marker.is_file():
        owned = {line for line in marker.read_text().splitlines() if line and not line.startswith("#")}
    foreign = sorted(entries - owned)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise DataError(
            f"{folder}: holds {len(foreign)} entries the simulate stage did not write ({shown}); it refuses to "
            "replace a folder it does not own. Keep your own images outside data/simulated/ (e.g. data/own/thz) "
            "and point data.dir / data.visible_dir there"
        )


def check_not_inside(key: str, value: str, outputs: tuple[Path, ...]) -> None:
    """Raise DataError when the data folder `key` lies in (or is) one of the simulate stage's outputs."""
    path = Path(value).resolve()
    for out in outputs:
        out = Path(out).resolve()
        if path == out or out in path.parents:
            raise DataError(
                f"{key}: {value} lies inside {_shown(out)}, an output folder of the simulate stage, which "
                "replaces it on every run; put your own images elsewhere (e.g. data/own/thz) and set "
                f"{key} to that folder"
            )


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
