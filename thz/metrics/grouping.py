"""One grouping helper for every per-identity and per-posture table: means of per-sample columns
and the number of samples behind each."""

from __future__ import annotations

import pandas as pd


def group_means(table: pd.DataFrame, by: str | list[str], columns: list[str]) -> pd.DataFrame:
    """One row per group: `n` (samples) and the mean of each column (NaN values skipped)."""
    missing = [c for c in [*([by] if isinstance(by, str) else by), *columns] if c not in table.columns]
    if missing:
        raise KeyError(f"per-sample table has no column(s) {missing}; it has {list(table.columns)}")
    grouped = table.groupby(by, sort=True)
    out = grouped[columns].mean()
    out.insert(0, "n", grouped.size())
    return out.reset_index()
