"""Metric logging through DVCLive (for `dvc exp show` / `dvc plots`), or nowhere in tests.

DVCLive writes in place (metrics.json truncated then rewritten, a row appended to each TSV), so a
kill can leave them half-written, and a resumed run would then fail to read them. It therefore
writes into a private staging folder, and after every step the Tracker publishes its files whole
(thz.files): metrics.json, and the plots/metrics folder swapped in at once."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from thz.files import atomic_directory, write_bytes

SUMMARY, PLOTS = "metrics.json", Path("plots", "metrics")  # what DVCLive writes for log_metric


class Tracker:
    """Logs scalars per step into a DVCLive folder. `dvcyaml=None`: DVCLive must not rewrite dvc.yaml,
    which declares these files itself."""

    def __init__(self, directory: str | Path | None, resume: bool = False):
        self.live = None
        self.last_step: int | None = None
        self.directory = None if directory is None else Path(directory)
        if self.directory is not None:
            from dvclive import Live

            self._staging = tempfile.TemporaryDirectory(prefix="thz-dvclive-")
            staging = Path(self._staging.name)
            if resume:  # DVCLive continues the published log
                _copy_log(self.directory, staging)
            else:  # as DVCLive clears its folder at a fresh start
                _clear_log(self.directory)
            self.live = Live(str(staging), dvcyaml=None, save_dvc_exp=False, resume=resume, report=None)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if self.live is None:
            return
        self.live.step = step
        for name, value in metrics.items():
            self.live.log_metric(name, value)
        self.live.next_step()
        self.last_step = step
        self._publish()

    def summary(self, values: dict) -> None:
        """metrics.json at the end of a run: `values` (the best validation value, time, how it ran) and
        DVCLive's step, in place of the last value of every logged series. Those stay in the plots;
        as metrics they would be ~25 columns per training in `dvc exp show` and ~25 rows per changed
        training in `dvc metrics diff` (metrics/summary/ holds the results; docs/evaluation.md)."""
        if self.live is None:
            return
        self.live.summary = dict(values)
        self._rewind()
        self.live.make_summary()
        self._publish()

    def close(self) -> None:
        if self.live is not None:
            self._rewind()
            self.live.end()
            self._publish()
            self._staging.cleanup()

    def _rewind(self) -> None:
        # next_step() has moved DVCLive one past the last logged step; the summary names the logged one
        if self.last_step is not None:
            self.live.step = self.last_step

    def _publish(self) -> None:
        """DVCLive's files from the staging folder into `directory`, each whole: the plots first, so
        that metrics.json (whose step a resume continues from) never runs ahead of them."""
        _copy_log(Path(self.live.dir), self.directory)


def _copy_log(source: Path, dest: Path) -> None:
    """metrics.json and plots/metrics from `source` to `dest`, each replaced whole (contents only:
    a file DVC checked out read-only must not stay read-only for DVCLive to append to)."""
    if (source / PLOTS).is_dir():
        with atomic_directory(dest / PLOTS) as tmp:
            shutil.copytree(source / PLOTS, tmp, dirs_exist_ok=True, copy_function=shutil.copyfile)
    if (source / SUMMARY).is_file():
        write_bytes(dest / SUMMARY, (source / SUMMARY).read_bytes())


def _clear_log(directory: Path) -> None:
    (directory / SUMMARY).unlink(missing_ok=True)
    if (directory / PLOTS).is_dir():
        shutil.rmtree(directory / PLOTS)
