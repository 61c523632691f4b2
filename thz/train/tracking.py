"""Metric logging through DVCLive (for `dvc exp show` / `dvc plots`), or nowhere in tests."""

from __future__ import annotations

from pathlib import Path


class Tracker:
    """Logs scalars per step into a DVCLive folder. `dvcyaml=None`: DVCLive must not rewrite dvc.yaml,
    which declares these files itself."""

    def __init__(self, directory: str | Path | None, resume: bool = False):
        self.live = None
        self.last_step: int | None = None
        if directory is not None:
            from dvclive import Live

            self.live = Live(str(directory), dvcyaml=None, save_dvc_exp=False, resume=resume, report=None)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if self.live is None:
            return
        self.live.step = step
        for name, value in metrics.items():
            self.live.log_metric(name, value)
        self.live.next_step()
        self.last_step = step

    def summary(self, values: dict) -> None:
        """Extra top-level entries of metrics.json (e.g. the best validation values, for `dvc exp show`)."""
        if self.live is None:
            return
        self.live.summary.update(values)
        self._rewind()
        self.live.make_summary()

    def close(self) -> None:
        if self.live is not None:
            self._rewind()
            self.live.end()

    def _rewind(self) -> None:
        # next_step() has moved DVCLive one past the last logged step; the summary names the logged one
        if self.last_step is not None:
            self.live.step = self.last_step
