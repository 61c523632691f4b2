"""The result tables in README.md and docs/*.md are generated from the metrics files
(lab/tables.py): the repository's documents match its metrics, a number edited by hand (or left
behind by a rerun) is reported and re-rendering fixes it, and a missing metrics file is an error
naming it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lab import tables

ROOT = Path(__file__).resolve().parents[1]


def test_repository_documents_match_the_metrics_files():
    documents = tables.documents(ROOT)
    assert ROOT / "README.md" in documents
    text = "".join(p.read_text() for p in documents)
    assert "<!-- table:results -->" in text, "README.md lost its generated results table"
    assert tables.check(ROOT) == [], "run `python -m lab.tables` and commit the documents"


def test_every_registered_table_is_shown_in_a_document():
    """A table registered but shown nowhere is a study whose block was lost in an edit of its document."""
    shown = {m for p in tables.documents(ROOT) for m in tables.OPENING.findall(p.read_text())}
    assert sorted(set(tables.TABLES) - shown) == []


def _metrics(auc: float) -> dict:
    return {
        "test": {"identities": 2, "images": 20},
        "verification": {
            "probe_gallery": {"auc": auc, "eer": 0.3, "tar_at_far_1pct": 0.05},
            "rank1": 0.7,
        },
        "posture": {"accuracy": 0.95},
        "reconstruction": {"predicted": {"ssim": 0.6}},
    }


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fake repository: two folds of two models, and a README with a results block."""
    for fold, aucs in ((0, {"baseline": 0.8, "student": 0.9}), (1, {"baseline": 0.6, "student": 0.7})):
        for model, auc in aucs.items():
            path = tmp_path / f"metrics/eval/fold_{fold}/{model}/metrics.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps(_metrics(auc)))
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("# fake\n\n<!-- table:results -->\nold\n<!-- /table:results -->\n\nend\n")
    assert tables.main(["--root", str(tmp_path)]) == 0
    return tmp_path


def test_results_are_mean_and_sd_over_the_folds_found(repo):
    text = (repo / "README.md").read_text()
    assert "| baseline | 0.700 ± 0.141 | 0.300 ± 0.000 |" in text  # AUC mean of 0.8 and 0.6, sd ddof 1
    assert "| student (THz only) | 0.800 ± 0.141 |" in text
    assert "folds 0, 1: 4 identities, 40 concealed probes" in text
    assert text.startswith("# fake\n\n<!-- table:results -->\n\n| model |") and text.endswith("\n\nend\n")
    assert tables.main(["--root", str(repo), "--check"]) == 0


def test_a_drifted_number_is_reported_and_rendering_fixes_it(repo, capsys):
    readme = repo / "README.md"
    good = readme.read_text()
    readme.write_text(good.replace("0.800 ± 0.141", "0.812 ± 0.141"))
    assert tables.check(repo) == ["README.md: table 'results' differs from the metrics files"]
    assert tables.main(["--root", str(repo), "--check"]) == 1
    assert "README.md: table 'results'" in capsys.readouterr().err
    assert tables.main(["--root", str(repo)]) == 0
    assert readme.read_text() == good and tables.check(repo) == []


def test_a_changed_metrics_file_makes_the_document_stale(repo):
    path = repo / "metrics/eval/fold_1/student/metrics.json"
    path.write_text(json.dumps(_metrics(0.75)))
    (repo / "docs/models.md").write_text("<!-- table:results -->\n<!-- /table:results -->\n")
    assert tables.check(repo) == [
        "README.md: table 'results' differs from the metrics files",
        "docs/models.md: table 'results' differs from the metrics files",
    ]


def test_a_missing_metrics_file_is_an_error_naming_it(repo, capsys):
    (repo / "metrics/eval/fold_1/student/metrics.json").unlink()
    with pytest.raises(tables.TableError, match="'metrics/eval/fold_1/student/metrics.json' not found"):
        tables.check(repo)
    assert tables.main(["--root", str(repo), "--check"]) == 2
    assert "metrics/eval/fold_1/student/metrics.json" in capsys.readouterr().err
    shutil.rmtree(repo / "metrics/eval")
    with pytest.raises(tables.TableError, match="no 'fold_K' in 'metrics/eval'"):
        tables.render("<!-- table:results -->\n<!-- /table:results -->\n", repo)
    with pytest.raises(tables.TableError, match="'metrics/compare.json' not found"):
        tables.render("<!-- table:comparison -->\n<!-- /table:comparison -->\n", repo)


def test_unknown_table_and_unclosed_block_are_errors():
    with pytest.raises(tables.TableError, match="unknown table 'resluts'; the tables are: results, "):
        tables.render("<!-- table:resluts -->\n<!-- /table:resluts -->\n", ROOT)
    with pytest.raises(tables.TableError, match="'<!-- table:results -->' has no '<!-- /table:results -->'"):
        tables.render("<!-- table:results -->\ntext\n", ROOT)


def test_every_table_renders_from_the_repository_metrics():
    for name in tables.TABLES:
        text = tables.table(name, ROOT)
        if name == "verdict":  # a generated sentence, not a table
            assert text.startswith(("**Yes**: ", "**No**: ")) and "\n\n_" in text, text
            continue
        if name == "seed_claim":  # a sentence too
            assert text.startswith("The seed paper's claim") and " here: " in text and "\n\n_" in text, text
            continue
        assert text.startswith("| ") and ("| --- |" in text or "|---" in text) and "\n\n_" in text, name
        if not name.startswith("dvc_"):  # DVC's own printout has five decimals (-0.00032 is no negative zero)
            assert "-0.000" not in text, name


def test_numbers_have_three_decimals_and_no_negative_zero():
    assert tables.number(0.12345) == "0.123" and tables.number(-0.0001) == "0.000" and tables.number(7) == "7"
    assert tables.signed(0.0123) == "+0.012" and tables.signed(-0.0004) == "0.000"
    assert tables.mean_sd([0.5]) == "0.500"


def test_the_tar_at_far_table_shows_intervals_and_never_a_number_it_cannot_measure(tmp_path):
    measured = {"mean": 0.5, "ci_low": 0.4, "ci_high": 0.6, "identities": 20, "fewest_impostors": 240}
    unresolved = measured | {"mean": None, "ci_low": None, "ci_high": None}
    by_far = {"10pct": measured, "1pct": measured, "0p1pct": unresolved}
    tar = {m: {"probe_gallery": by_far, "enrollment": by_far} for m in ("student", "baseline")}
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/compare.json").write_text(
        json.dumps({"tar_at_far": tar, "cross_validation": {"folds_run": 5}})
    )
    text = tables.table("tar_at_far", tmp_path)
    assert text.startswith("| model | protocol | FAR 10 % | FAR 1 % | FAR 0.1 % |\n")
    rows = [line for line in text.splitlines() if line.startswith("| baseline")]
    assert rows[0] == (
        "| baseline | image level (every gallery image) | 0.500 (0.400 to 0.600) | 0.500 (0.400 to 0.600) "
        "| not measurable (240 impostor comparisons in a fold, 1000 needed) |"
    )
    assert text.index("| baseline") < text.index("| student (THz only)")  # the models' table order
    assert "over the 5 folds run" in text and "resampling the 20 test identities" in text
    (tmp_path / "metrics/compare.json").write_text(json.dumps({"cross_validation": {"folds_run": 5}}))
    with pytest.raises(tables.TableError, match="'metrics/compare.json' has no 'tar_at_far'"):
        tables.table("tar_at_far", tmp_path)
