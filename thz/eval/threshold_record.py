"""The verification threshold of one checkpoint, in a record that names the checkpoint's bytes.

The evaluate stage picks the threshold on the validation identities of a fold (at their equal
error rate) and writes it beside its metrics with the MD5 of the checkpoint it scored. Prediction
takes a threshold only from a record whose MD5 is the loaded file's: a retrained or untrained
checkpoint at the same path, or last.pt beside best.pt, gets none instead of another model's.
Torch-free, so prediction can read it without the training code.
"""

from __future__ import annotations

import json
from pathlib import Path

from thz.data.images import file_md5
from thz.files import write_json

RECORD = "threshold.json"
RULE = "equal error rate of the validation identities (concealed probes against unconcealed images)"


def write_threshold_record(out: str | Path, checkpoint: str | Path, threshold: float) -> None:
    """Record `threshold` for the checkpoint file, identified by its MD5, in out/threshold.json."""
    write_json(
        Path(out) / RECORD,
        {
            "threshold": float(threshold),
            "checkpoint": str(checkpoint),
            "checkpoint_md5": file_md5(checkpoint),
            "rule": RULE,
        },
    )


def record_path(checkpoint: str | Path) -> Path | None:
    """Where the evaluate stage records a threshold for models/fold_K/<model>/<file>.pt: the same
    project's metrics/eval/fold_K/<model>/threshold.json (found from the checkpoint, not from the
    working folder); None for a checkpoint outside that layout."""
    path = Path(checkpoint).resolve()
    if len(path.parents) < 4 or path.parents[2].name != "models" or not path.parent.parent.name.startswith("fold_"):
        return None
    return path.parents[3] / "metrics" / "eval" / path.parent.parent.name / path.parent.name / RECORD


def recorded_threshold(checkpoint: str | Path) -> tuple[float | None, str]:
    """(threshold, where from) when a record names this very checkpoint, else (None, why not)."""
    record = record_path(checkpoint)
    if record is None or not record.is_file():
        return None, f"no threshold recorded for {checkpoint} (dvc repro evaluate records one for each best.pt)"
    try:
        content = json.loads(record.read_text())
        threshold, md5 = float(content["threshold"]), content["checkpoint_md5"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return None, f"{record}: not a readable threshold record ({type(err).__name__}: {err})"
    if md5 != file_md5(checkpoint):
        return None, (
            f"{record} was chosen for another checkpoint (MD5 {md5}, not {checkpoint}'s): "
            "re-run its evaluation (dvc repro evaluate)"
        )
    return threshold, str(record)
