"""Durable atomic writes (thz.files): data reaches the disk before a rename and the rename before
the write returns, and a folder swap killed at any step leaves the old folder or the new one
whole under its name (or the old one where the next run puts it back). Kills are real: a forked
child ends with os._exit at the chosen step, so no cleanup code runs."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import stat
import traceback
from pathlib import Path

import pytest

from thz import files
from thz.files import atomic_directory, remove_leftovers, write_text
from thz.train.tracking import Tracker

KILLED = 17  # the exit status of a child killed on purpose
forking = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _record_fsyncs(monkeypatch, path: Path) -> list[tuple[int, bool, int | None]]:
    """Every os.fsync from now on, as (inode synced, is a folder, inode under `path` at that moment)."""
    synced = []
    real = os.fsync

    def fsync(fd):
        st = os.fstat(fd)
        synced.append((st.st_ino, stat.S_ISDIR(st.st_mode), path.stat().st_ino if path.exists() else None))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def test_a_file_is_synced_before_it_takes_the_name_and_its_folder_after(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    write_text(path, "old\n")
    old = path.stat().st_ino
    synced = _record_fsyncs(monkeypatch, path)
    write_text(path, "new\n")
    new, folder = path.stat().st_ino, tmp_path.stat().st_ino
    assert (new, False, old) in synced  # the data, while the old file still had the name
    assert (folder, True, new) in synced  # the rename, once the new file has it


def test_a_folder_is_synced_whole_before_the_swap_and_its_parent_after(tmp_path, monkeypatch):
    path = tmp_path / "eval"
    with atomic_directory(path) as tmp:
        (tmp / "metrics.json").write_text("old")
    old = path.stat().st_ino
    synced = _record_fsyncs(monkeypatch, path)
    with atomic_directory(path) as tmp:
        (tmp / "plots").mkdir()
        (tmp / "plots" / "roc.csv").write_text("new")  # written without the helpers: still synced
        write_text(tmp / "metrics.json", "new")
    new, parent = path.stat().st_ino, tmp_path.stat().st_ino
    inside = [path / "plots" / "roc.csv", path / "plots", path / "metrics.json"]
    for inode in [p.stat().st_ino for p in inside] + [new]:
        assert any(ino == inode and at == old for ino, _, at in synced), "not synced before the swap"
    assert (parent, True, new) in synced


def _child(work) -> int:
    """Run work() in a forked child; its exit status (KILLED when work killed it on purpose)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            work()
            code = 0
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _kill_at_call(monkeypatch, k: int) -> None:
    """From now on, the k-th call of a function that renames or deletes ends the process at once."""
    calls = itertools.count(1)

    def dying(real):
        def call(*args, **kwargs):
            if next(calls) == k:
                os._exit(KILLED)
            return real(*args, **kwargs)

        return call

    for name in ("replace", "rename", "unlink", "rmdir"):
        monkeypatch.setattr(os, name, dying(getattr(os, name)))
    monkeypatch.setattr(files, "_exchange", dying(getattr(files, "_exchange", lambda a, b: False)), raising=False)


def _folder(path: Path) -> dict[str, str] | None:
    if not path.is_dir():
        return None
    return {p.relative_to(path).as_posix(): p.read_text() for p in sorted(path.rglob("*")) if p.is_file()}


OLD = {"metrics.json": "old", "plots/roc.csv": "old roc"}
NEW = {"metrics.json": "new", "per_sample.csv": "new rows"}


def _write(folder: Path, content: dict[str, str]) -> None:
    for rel, text in content.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)


@forking
@pytest.mark.parametrize("swap", ["exchange", "fallback"])
def test_a_folder_swap_killed_at_any_step_leaves_the_old_or_the_new_folder(tmp_path, monkeypatch, swap):
    if swap == "exchange" and getattr(files, "_renameat2", lambda: True)() is None:
        pytest.skip("no renameat2 here: the fallback is the swap")
    path, left = tmp_path / "eval", {}
    for k in itertools.count(1):
        shutil.rmtree(path, ignore_errors=True)
        _write(path, OLD)

        def work(k=k):
            if swap == "fallback":
                monkeypatch.setattr(files, "_exchange", lambda a, b: False, raising=False)
            with atomic_directory(path) as tmp:
                _write(tmp, NEW)
                _kill_at_call(monkeypatch, k)

        code = _child(work)
        assert code in (0, KILLED), f"the child failed (exit {code})"
        seen = _folder(path)
        if seen is None:  # only allowed where the next run puts the old folder back
            remove_leftovers(tmp_path)
            seen = _folder(path)
        assert seen in (OLD, NEW), f"killed at call {k}: {path} holds {seen}"
        with atomic_directory(path) as tmp:  # the next run: whole, and nothing left beside it
            _write(tmp, NEW)
        assert _folder(path) == NEW, k
        left[k] = sorted(p.name for p in tmp_path.iterdir() if p.name != "eval")
        if code == 0:
            break
    assert k > 2  # the swap had several steps to be killed at
    assert not any(left.values()), f"left beside the folder after the next run: {left}"


def test_the_next_write_puts_back_a_folder_whose_swap_was_cut_between_its_renames(tmp_path, capsys):
    path = tmp_path / "eval"
    _write(tmp_path / ".eval.old.tmp", OLD)  # what the fallback swap leaves between its two renames
    with pytest.raises(RuntimeError), atomic_directory(path) as tmp:
        _write(tmp, NEW)
        raise RuntimeError("the stage fails before its output is complete")
    assert _folder(path) == OLD and sorted(p.name for p in tmp_path.iterdir()) == ["eval"]
    assert "restored " in capsys.readouterr().out


def test_remove_leftovers_puts_back_such_a_folder_and_removes_the_rest(tmp_path):
    _write(tmp_path / ".eval.old.tmp", OLD)
    (tmp_path / ".metrics.json.abc123.tmp").write_text("half")
    assert remove_leftovers(tmp_path) == [".metrics.json.abc123.tmp"]
    assert _folder(tmp_path / "eval") == OLD and sorted(p.name for p in tmp_path.iterdir()) == ["eval"]


def _log(live: Path) -> dict[str, str]:
    return {p.relative_to(live).as_posix(): p.read_text() for p in sorted(live.rglob("*")) if p.is_file()}


@forking
@pytest.mark.parametrize("during", ["metrics.json", "a plot's row"])
def test_a_kill_while_dvclive_writes_leaves_the_published_log_whole(tmp_path, monkeypatch, during):
    """DVCLive rewrites metrics.json in place and appends rows to the plots' TSV files: a kill in
    the middle must leave the log of the steps before, which a resumed run then continues."""
    from dvclive.plots import Metric

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    live, before = tmp_path / "live", tmp_path / "before"

    def half_json(obj, fp, **kwargs):
        fp.write(json.dumps(obj, **kwargs)[:9])
        fp.flush()
        os._exit(KILLED)

    def half_row(self, val, **kwargs):  # dvclive.plots.Metric.dump, cut after the step
        with open(self.output_path, "a") as fobj:
            fobj.write(f"{self.step}\t")
        os._exit(KILLED)

    def work():
        tracker = Tracker(live)
        tracker.log(1, {"val/ssim": 0.5, "train/loss": 2.0})
        shutil.copytree(live, before)
        if during == "metrics.json":
            monkeypatch.setattr(json, "dump", half_json)
        else:
            monkeypatch.setattr(Metric, "dump", half_row)
        tracker.log(2, {"val/ssim": 0.6, "train/loss": 1.5})

    assert _child(work) == KILLED
    assert _log(live) == _log(before)
    tracker = Tracker(live, resume=True)
    tracker.log(2, {"val/ssim": 0.6, "train/loss": 1.5})
    tracker.close()
    assert json.loads((live / "metrics.json").read_text())["step"] == 2
    rows = (live / "plots/metrics/val/ssim.tsv").read_text().splitlines()
    assert rows == ["step\tssim", "1\t0.5", "2\t0.6"]
