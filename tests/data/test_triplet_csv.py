"""Triplet CSVs (`anchor, positive, negative`, optional `visible_*`) as a data source, through `scan()`."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import data_config, write_dataset, write_png
from thz.data.naming import format_name
from thz.data.problems import DataError
from thz.data.scan import MANIFEST_COLUMNS, data_counts, scan
from thz.data.triplet_csv import TRIPLET_COLUMNS, VISIBLE_COLUMNS

IDENTITIES = ("a", "b", "c")
POSTURE_IDS = range(5)
SAMPLES = (1, 2)


def _abs(path: str | Path) -> str:
    return os.path.abspath(path)


def _write_csv(path: Path, rows: list[dict], columns=TRIPLET_COLUMNS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False)
    return path


def _triplet_names(identities=IDENTITIES) -> list[tuple[str, str, str]]:
    """One row per concealed image: its exact unconcealed partner, and as negative the concealed image
    of the next identity (itself an anchor, so every concealed image mentioned has a positive)."""
    rows = []
    for i, ident in enumerate(identities):
        other = identities[(i + 1) % len(identities)]
        for p in POSTURE_IDS:
            for s in SAMPLES:
                rows.append(
                    (format_name(ident, p, True, s), format_name(ident, p, False, s), format_name(other, p, True, s))
                )
    return rows


def _rows(names, spell) -> list[dict]:
    return [dict(zip(TRIPLET_COLUMNS, (spell(n) for n in row), strict=True)) for row in names]


def _triplets_cfg(csv_dir: Path, **overrides):
    return data_config(csv_dir, source="triplets", **overrides)


def _by_name(manifest: pd.DataFrame) -> pd.DataFrame:
    return manifest.set_index(manifest.path.map(lambda p: Path(p).name))


@pytest.fixture
def images(tmp_path: Path) -> Path:
    root = tmp_path / "thz"
    write_dataset(root, identities=IDENTITIES, postures=POSTURE_IDS, samples=SAMPLES)
    return root


# ------------------------------------------------------------------------------------- same as a folder


@pytest.mark.parametrize("spelling", ["absolute", "relative_to_sibling_folder", "relative_same_folder"])
def test_triplets_give_the_same_manifest_as_the_folder(images, tmp_path, spelling):
    from_folder = scan(data_config(images)).manifest  # before a CSV is written beside the images
    if spelling == "absolute":
        csv_dir, spell = tmp_path / "csv", lambda n: str(images / n)
    elif spelling == "relative_to_sibling_folder":
        csv_dir, spell = tmp_path / "csv", lambda n: f"../thz/{n}"
    else:
        csv_dir, spell = images, lambda n: n
    _write_csv(csv_dir / "triplets.csv", _rows(_triplet_names(), spell))
    result = scan(_triplets_cfg(csv_dir, strict=True))
    assert result.problems == []
    manifest = result.manifest
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    assert len(manifest) == len(from_folder) == len(IDENTITIES) * len(POSTURE_IDS) * len(SAMPLES) * 2
    for column in ("path", "target"):
        manifest[column] = manifest[column].map(lambda p: _abs(p) if p else "")
        from_folder[column] = from_folder[column].map(lambda p: _abs(p) if p else "")
    pd.testing.assert_frame_equal(manifest, from_folder)


def test_triplets_mentioning_a_subset_give_that_part_of_the_folder(images, tmp_path):
    csv_dir = tmp_path / "csv"
    _write_csv(csv_dir / "t.csv", _rows(_triplet_names(("a", "c")), lambda n: str(images / n)))
    manifest = scan(_triplets_cfg(csv_dir, strict=True)).manifest
    from_folder = scan(data_config(images)).manifest
    expected = from_folder[from_folder.identity.isin(["a", "c"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(manifest, expected)
    assert set(manifest.identity) == {"a", "c"}


def test_every_csv_in_the_folder_is_read(images, tmp_path):
    csv_dir = tmp_path / "csv"
    names = _triplet_names()
    half = len(names) // 2
    _write_csv(csv_dir / "train.csv", _rows(names[:half], lambda n: str(images / n)))
    _write_csv(csv_dir / "test.csv", _rows(names[half:], lambda n: str(images / n)))
    (csv_dir / "README.txt").write_text("not a CSV, ignored")
    result = scan(_triplets_cfg(csv_dir, strict=True))
    assert len(result.manifest) == len(scan(data_config(images)).manifest)


def test_nested_images_through_relative_csv_paths(tmp_path):
    root = tmp_path / "thz"
    write_dataset(root, identities=("a", "b"), postures=[0, 1], nested=True)
    rows = []
    for ident, other in (("a", "b"), ("b", "a")):
        for p in (0, 1):
            for s in SAMPLES:
                rows.append(
                    {
                        "anchor": f"{ident}/unit1/{format_name(ident, p, True, s)}",
                        "positive": f"{ident}/unit1/{format_name(ident, p, False, s)}",
                        "negative": f"{other}/unit1/{format_name(other, p, True, s)}",
                    }
                )
    _write_csv(root / "triplets.csv", rows)
    result = scan(_triplets_cfg(root, strict=True))
    assert result.problems == []
    manifest = _by_name(result.manifest)
    assert len(manifest) == 16
    assert Path(manifest.loc["b_b2b_2.png"].target).name == "b_n2n_2.png"
    assert manifest.loc["b_b2b_2.png"].pair_exact
    assert _abs(manifest.loc["a_b1b_1.png"].path) == _abs(root / "a" / "unit1" / "a_b1b_1.png")


def test_positive_of_another_sample_is_an_inexact_pair(images, tmp_path):
    rows = [
        {"anchor": "a_b1b_1.png", "positive": "a_n1n_2.png", "negative": "b_b1b_1.png"},
        {"anchor": "b_b1b_1.png", "positive": "b_n1n_1.png", "negative": "a_b1b_1.png"},
    ]
    _write_csv(images / "t.csv", rows)
    result = scan(_triplets_cfg(images, strict=True, min_pairs_per_identity=1))
    assert result.problems == []
    manifest = _by_name(result.manifest)
    assert Path(manifest.loc["a_b1b_1.png"].target).name == "a_n1n_2.png"
    assert not manifest.loc["a_b1b_1.png"].pair_exact
    assert manifest.loc["b_b1b_1.png"].pair_exact
    assert sorted(manifest.index) == ["a_b1b_1.png", "a_n1n_2.png", "b_b1b_1.png", "b_n1n_1.png"]


def test_repeated_identical_rows_are_fine(images):
    row = {"anchor": "a_b1b_1.png", "positive": "a_n1n_1.png", "negative": "b_b1b_1.png"}
    back = {"anchor": "b_b1b_1.png", "positive": "b_n1n_1.png", "negative": "a_b1b_1.png"}
    _write_csv(images / "t.csv", [row, back, row])
    result = scan(_triplets_cfg(images, strict=True, min_pairs_per_identity=1))
    assert result.problems == [] and len(result.manifest) == 4


# ---------------------------------------------------------------------------------------------- visible


def test_visible_columns_fill_visible(images, tmp_path):
    vis = tmp_path / "rgb"
    rows = []
    expected = {}
    for k, (anchor, positive, negative) in enumerate(_triplet_names()):
        # visible names unrelated to the THz names: they come from the CSV, not from parsing
        va, vp = write_png(vis / f"photo_{k}_c.png", 32, "RGB"), write_png(vis / f"photo_{k}_u.png", 32, "RGB")
        expected[anchor], expected[positive] = va, vp
        rows.append(
            {
                "anchor": anchor,
                "positive": positive,
                "negative": negative,
                "visible_concealed": str(va),
                "visible_unconcealed": str(vp),
                "visible_negative": "",
            }
        )
    _write_csv(images / "t.csv", rows, TRIPLET_COLUMNS + VISIBLE_COLUMNS)
    result = scan(_triplets_cfg(images, strict=True))
    assert result.problems == []
    for name, row in _by_name(result.manifest).iterrows():
        assert _abs(row.visible) == _abs(expected[name])


def test_visible_negative_column_and_relative_visible_paths(images):
    write_png(images / "vis" / "va.png", 32, "RGB")
    write_png(images / "vis" / "vneg.png", 32, "RGB")
    rows = [
        {"anchor": "a_b1b_1.png", "positive": "a_n1n_1.png", "negative": "b_b1b_1.png",
         "visible_concealed": "vis/va.png", "visible_unconcealed": "", "visible_negative": "vis/vneg.png"},
        {"anchor": "b_b1b_1.png", "positive": "b_n1n_1.png", "negative": "a_b1b_1.png",
         "visible_concealed": "", "visible_unconcealed": "", "visible_negative": ""},
    ]  # fmt: skip
    _write_csv(images / "t.csv", rows, TRIPLET_COLUMNS + VISIBLE_COLUMNS)
    manifest = _by_name(scan(_triplets_cfg(images, strict=True, min_pairs_per_identity=1)).manifest)
    assert _abs(manifest.loc["a_b1b_1.png"].visible) == _abs(images / "vis" / "va.png")
    assert _abs(manifest.loc["b_b1b_1.png"].visible) == _abs(images / "vis" / "vneg.png")
    assert manifest.loc["a_n1n_1.png"].visible == "" and manifest.loc["b_n1n_1.png"].visible == ""


@pytest.mark.parametrize("strict", [True, False])
def test_missing_visible_file(images, strict):
    rows = [
        {"anchor": "a_b1b_1.png", "positive": "a_n1n_1.png", "negative": "b_b1b_1.png",
         "visible_concealed": "gone.png"},
        {"anchor": "b_b1b_1.png", "positive": "b_n1n_1.png", "negative": "a_b1b_1.png",
         "visible_concealed": ""},
    ]  # fmt: skip
    _write_csv(images / "t.csv", rows, TRIPLET_COLUMNS + ("visible_concealed",))
    cfg = _triplets_cfg(images, strict=strict, min_pairs_per_identity=1)
    if strict:
        with pytest.raises(DataError) as info:
            scan(cfg)
        problems = info.value.problems
        assert "gone.png" in str(info.value)
    else:
        result = scan(cfg)
        problems = result.problems
        assert _by_name(result.manifest).loc["a_b1b_1.png"].visible == ""
        assert len(result.manifest) == 4
    assert [p.kind for p in problems] == ["visible_missing_file"]


# ----------------------------------------------------------------------------------------------- errors


def test_missing_required_column(images):
    csv = images / "broken.csv"
    pd.DataFrame({"anchor": ["a_b1b_1.png"], "positive": ["a_n1n_1.png"]}).to_csv(csv, index=False)
    with pytest.raises(DataError) as info:
        scan(_triplets_cfg(images))
    message = str(info.value)
    assert "broken.csv" in message
    assert "missing column(s) negative" in message
    assert "expected anchor, positive, negative" in message


def test_no_csv_in_folder(images):
    with pytest.raises(DataError, match="data.dir") as info:
        scan(_triplets_cfg(images))
    assert "no triplet CSV files" in str(info.value)


def test_csv_without_rows(tmp_path):
    _write_csv(tmp_path / "csv" / "t.csv", [])
    with pytest.raises(DataError, match="data.dir: no images"):
        scan(_triplets_cfg(tmp_path / "csv"))


BAD_POSITIVES = {
    "other_posture": "a_n2n_1.png",
    "other_identity": "b_n1n_1.png",
    "concealed_positive": "a_b2b_1.png",
}


@pytest.mark.parametrize("case", list(BAD_POSITIVES))
@pytest.mark.parametrize("strict", [True, False])
def test_positive_that_is_not_a_partner(images, case, strict):
    good = [{"anchor": a, "positive": p, "negative": n} for a, p, n in _triplet_names()]
    bad = next(r for r in good if r["anchor"] == "a_b1b_1.png")
    bad["positive"] = BAD_POSITIVES[case]
    _write_csv(images / "t.csv", good)
    cfg = _triplets_cfg(images, strict=strict)
    if strict:
        with pytest.raises(DataError) as info:
            scan(cfg)
        problems = info.value.problems
        assert "a_b1b_1.png" in str(info.value)
        assert "not a usable unconcealed image of identity a, posture front" in str(info.value)
    else:
        result = scan(cfg)
        problems = result.problems
        names = set(_by_name(result.manifest).index)
        assert "a_b1b_1.png" not in names
        assert "a_b1b_2.png" in names and "b_b1b_1.png" in names
    assert [(Path(p.path).name, p.kind) for p in problems] == [("a_b1b_1.png", "no_partner")]
    assert BAD_POSITIVES[case] in problems[0].message


@pytest.mark.parametrize("strict", [True, False])
def test_row_pointing_at_a_missing_file(images, tmp_path, strict):
    csv_dir = tmp_path / "csv"
    rows = _rows(_triplet_names(), lambda n: str(images / n))
    rows.append({"anchor": str(images / "a_b1b_1.png"), "positive": str(images / "a_n1n_1.png"),
                 "negative": str(images / "zz_b1b_1.png")})  # fmt: skip
    _write_csv(csv_dir / "t.csv", rows)
    cfg = _triplets_cfg(csv_dir, strict=strict)
    if strict:
        with pytest.raises(DataError) as info:
            scan(cfg)
        problems = info.value.problems
        assert "zz_b1b_1.png" in str(info.value)
        assert "does not exist" in str(info.value)
    else:
        result = scan(cfg)
        problems = result.problems
        assert "zz_b1b_1.png" not in set(_by_name(result.manifest).index)
        assert len(result.manifest) == len(IDENTITIES) * len(POSTURE_IDS) * len(SAMPLES) * 2
    assert [(Path(p.path).name, p.kind) for p in problems] == [("zz_b1b_1.png", "missing_file")]


def test_relative_path_found_nowhere_is_a_missing_file(images):
    rows = [{"anchor": a, "positive": p, "negative": n} for a, p, n in _triplet_names()]
    rows[3]["negative"] = "nowhere/zz_b1b_1.png"
    _write_csv(images / "t.csv", rows)
    result = scan(_triplets_cfg(images, strict=False))
    assert [(Path(p.path).name, p.kind) for p in result.problems] == [("zz_b1b_1.png", "missing_file")]


def test_one_anchor_with_two_positives(images, tmp_path):
    csv_dir = tmp_path / "csv"
    rows = _rows(_triplet_names(), lambda n: str(images / n))[:3]
    rows.append({"anchor": rows[0]["anchor"], "positive": str(images / "a_n1n_2.png"), "negative": rows[0]["negative"]})
    _write_csv(csv_dir / "pairs.csv", rows)
    with pytest.raises(DataError) as info:
        scan(_triplets_cfg(csv_dir, strict=False))  # a contradiction in the CSV stops even a lenient scan
    message = str(info.value)
    assert "pairs.csv" in message
    assert "line 5" in message  # header is line 1, the fourth row is line 5
    assert "a_b1b_1.png" in message and "a_n1n_2.png" in message and "a_n1n_1.png" in message


def test_same_file_spelled_two_ways_is_one_file(images, tmp_path):
    csv_dir = tmp_path / "csv"
    rows = _rows(_triplet_names(), lambda n: f"../thz/{n}")
    rows[0]["negative"] = str(images / rows[0]["negative"].removeprefix("../thz/"))
    _write_csv(csv_dir / "t.csv", rows)
    result = scan(_triplets_cfg(csv_dir, strict=False))
    assert result.problems == []


def test_same_positive_spelled_two_ways_is_no_contradiction(images, tmp_path):
    csv_dir = tmp_path / "csv"
    rows = _rows(_triplet_names(), lambda n: f"../thz/{n}")
    rows.append(dict(rows[0], positive=str(images / rows[0]["positive"].removeprefix("../thz/"))))
    _write_csv(csv_dir / "t.csv", rows)
    assert scan(_triplets_cfg(csv_dir, strict=True)).problems == []


def test_image_that_is_only_a_negative_needs_its_exact_partner(images, tmp_path):
    # drop the rows anchored on one concealed image: it then appears only as somebody's negative,
    # and its own unconcealed sample was only in the dropped rows
    names = _triplet_names()
    lone = names[0][2]
    rows = _rows([r for r in names if r[0] != lone], lambda n: str(images / n))
    _write_csv(tmp_path / "csv" / "t.csv", rows)
    with pytest.raises(DataError) as info:
        scan(_triplets_cfg(tmp_path / "csv"))
    assert [(Path(p.path).name, p.kind) for p in info.value.problems] == [(lone, "no_exact_partner")]
    result = scan(_triplets_cfg(tmp_path / "csv", strict=False))
    assert [p.kind for p in result.problems] == ["no_exact_partner"]
    assert lone not in _by_name(result.manifest).index  # never paired with another sample
    concealed = result.manifest[result.manifest.concealed]
    assert concealed.pair_exact.all()


def test_empty_required_cell_names_csv_line_and_column(images, tmp_path):
    rows = _rows(_triplet_names(), lambda n: str(images / n))
    rows[1]["negative"] = ""
    csv = _write_csv(tmp_path / "csv" / "t.csv", rows)
    with pytest.raises(DataError, match=r"t.csv, line 3: empty negative"):
        scan(_triplets_cfg(csv.parent))


def test_a_relative_path_is_relative_to_the_csv_only_never_to_the_working_directory(images, tmp_path, monkeypatch):
    """The file exists from the working directory but not beside the CSV: a missing file, not a
    silent fall-back onto whatever the working directory holds."""
    csv_dir = tmp_path / "csv"
    rows = _rows(_triplet_names(), lambda n: os.path.relpath(images / n, csv_dir))  # right, from the CSV
    rows[0]["negative"] = f"thz/{rows[0]['negative'].split('/')[-1]}"  # right from tmp_path only
    _write_csv(csv_dir / "t.csv", rows)
    monkeypatch.chdir(tmp_path)
    assert (tmp_path / rows[0]["negative"]).is_file()
    result = scan(_triplets_cfg(csv_dir, strict=False))
    assert [(p.path, p.kind) for p in result.problems] == [(f"csv/{rows[0]['negative']}", "missing_file")]


def test_images_outside_data_dir_are_counted_in_the_data_metrics(images, tmp_path):
    csv_dir = tmp_path / "csv"
    _write_csv(csv_dir / "t.csv", _rows(_triplet_names(), lambda n: str(images / n)))
    cfg = _triplets_cfg(csv_dir)
    result = scan(cfg)
    assert data_counts(result.manifest, result.problems, cfg)["outside_data_dir"] == len(result.manifest)
    inside = _triplets_cfg(images)
    _write_csv(images / "t.csv", _rows(_triplet_names(), lambda n: n))
    result = scan(inside)
    assert data_counts(result.manifest, result.problems, inside)["outside_data_dir"] == 0
