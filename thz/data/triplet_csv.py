"""The published triplet CSVs as a description of a dataset, and our split in the same format.

Columns: `anchor` (concealed THz), `positive` (unconcealed THz of the same identity, posture and
sample: the verification positive and the reconstruction target), `negative` (concealed THz of
another identity); optionally `visible_concealed`, `visible_unconcealed`, `visible_negative`.
Reading keeps only what the rows say about files: which images exist, which concealed image
pairs with which unconcealed one, and which visible image goes with which THz image. The
scanner then checks all of it like a folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from thz.data.problems import DataError

TRIPLET_COLUMNS = ("anchor", "positive", "negative")
VISIBLE_COLUMNS = ("visible_concealed", "visible_unconcealed", "visible_negative")


def read_triplet_csvs(folder: Path) -> tuple[list[Path], dict[Path, Path], dict[Path, Path]]:
    """Read every `*.csv` in `folder`: (THz files, anchor -> positive, THz -> visible companion).

    Relative paths are taken relative to the CSV's folder (only: a file found elsewhere by
    accident would be trained on silently).
    Raises DataError naming the CSV when a required column is missing or a row contradicts
    another (one anchor with two different positives).
    """
    csvs = sorted(folder.glob("*.csv"))
    if not csvs:
        raise DataError(
            f"data.dir: no triplet CSV files in '{folder}' (data.source=triplets expects "
            f"CSVs with columns {', '.join(TRIPLET_COLUMNS)})"
        )
    files: dict[Path, None] = {}
    pairs: dict[Path, Path] = {}
    visible: dict[Path, Path] = {}
    for csv in csvs:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
        missing = [c for c in TRIPLET_COLUMNS if c not in table.columns]
        if missing:
            raise DataError(
                f"{csv}: missing column(s) {', '.join(missing)} (expected {', '.join(TRIPLET_COLUMNS)}"
                f" and optionally {', '.join(VISIBLE_COLUMNS)})"
            )
        for row_no, row in enumerate(table.itertuples(index=False), start=2):
            empty = [c for c in TRIPLET_COLUMNS if not getattr(row, c).strip()]
            if empty:
                raise DataError(
                    f"{csv}, line {row_no}: empty {', '.join(empty)} (every row needs a file in each "
                    f"of {', '.join(TRIPLET_COLUMNS)})"
                )
            anchor, positive, negative = (_resolve(getattr(row, c), csv) for c in TRIPLET_COLUMNS)
            for path in (anchor, positive, negative):
                files[path] = None
            if pairs.setdefault(anchor, positive) != positive:
                raise DataError(
                    f"{csv}, line {row_no}: anchor '{anchor}' has positive '{positive}' here but "
                    f"'{pairs[anchor]}' on an earlier row"
                )
            for thz_path, column in zip((anchor, positive, negative), VISIBLE_COLUMNS, strict=True):
                value = getattr(row, column, "")
                if value:
                    visible[thz_path] = _resolve(value, csv)
    return list(files), pairs, visible


def _resolve(value: str, csv: Path) -> Path:
    """Absolute, normalised path (relative ones from the CSV's folder), so one file spelt two ways
    is one file."""
    path = Path(value)
    if not path.is_absolute():
        path = csv.parent / path
    return Path(os.path.abspath(path))
