"""The scanner on real PNG folders: manifest, pairing, visible companions, and every bad-input case
in strict mode (DataError naming the file) and lenient mode (file dropped, problem listed)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pandas as pd
import PIL.Image
import pytest

from tests.conftest import data_config, write_bomb_png, write_dataset, write_png
from thz.config import ConfigError
from thz.data.images import file_md5
from thz.data.naming import POSTURES, format_name, parse_name
from thz.data.problems import DataError
from thz.data.scan import MANIFEST_COLUMNS, data_counts, read_manifest, scan, summarise

IDENTITIES = ("a", "b", "c")
N_IMAGES = len(IDENTITIES) * len(POSTURES) * 2 * 2  # identities x postures x samples x (concealed, unconcealed)


def _abs(path: str | Path) -> str:
    """Manifest paths are relative to the working directory when inside it, else absolute."""
    return os.path.abspath(path)


def _paths(manifest: pd.DataFrame) -> set[str]:
    return {_abs(p) for p in manifest.path}


def _names(manifest: pd.DataFrame) -> set[str]:
    return {Path(p).name for p in manifest.path}


def _all_tiny_names() -> set[str]:
    return {
        format_name(i, p, c, s) for i in IDENTITIES for p in range(len(POSTURES)) for s in (1, 2) for c in (True, False)
    }


def _check_pairs(manifest: pd.DataFrame) -> None:
    """Every concealed row targets the unconcealed image of the same identity, posture and sample."""
    by_path = {_abs(p): row for p, row in zip(manifest.path, manifest.itertuples(index=False), strict=True)}
    for row in manifest.itertuples(index=False):
        if row.concealed:
            assert row.pair_exact
            target = by_path[_abs(row.target)]
            assert not target.concealed
            assert (target.identity, target.posture, target.sample) == (row.identity, row.posture, row.sample)
            partner = parse_name(row.target)
            assert (partner.identity, partner.posture, partner.concealed, partner.sample) == (
                row.identity,
                row.posture,
                False,
                row.sample,
            )
        else:
            assert row.target == ""
            assert not row.pair_exact


# --------------------------------------------------------------------------------------------- clean data


def test_clean_flat_folder_gives_one_row_per_image(tiny_folder):
    result = scan(data_config(tiny_folder))
    manifest = result.manifest
    assert result.problems == []
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    assert len(manifest) == N_IMAGES
    assert _names(manifest) == _all_tiny_names()
    assert _paths(manifest) == {_abs(p) for p in tiny_folder.iterdir()}
    assert (manifest.visible == "").all()
    assert set(manifest.identity) == set(IDENTITIES)
    assert manifest.concealed.sum() == N_IMAGES // 2
    _check_pairs(manifest)


def test_manifest_rows_agree_with_file_names(tiny_folder):
    manifest = scan(data_config(tiny_folder)).manifest
    for row in manifest.itertuples(index=False):
        parsed = parse_name(row.path)
        assert (row.identity, row.posture, row.concealed, row.sample) == (
            parsed.identity,
            parsed.posture,
            parsed.concealed,
            parsed.sample,
        )
        assert row.posture_name == POSTURES[row.posture]
        assert isinstance(row.identity, str) and isinstance(row.sample, str)


def test_manifest_is_sorted_and_indexed(tiny_folder):
    manifest = scan(data_config(tiny_folder)).manifest
    keys = list(zip(manifest.identity, manifest.posture, manifest.concealed, manifest["sample"], strict=True))
    assert keys == sorted(keys)
    assert list(manifest.index) == list(range(len(manifest)))


def test_scan_is_deterministic(tiny_folder):
    a = scan(data_config(tiny_folder)).manifest
    b = scan(data_config(tiny_folder)).manifest
    pd.testing.assert_frame_equal(a, b)


def test_nested_layout_gives_the_same_manifest(tmp_path):
    flat, nested = tmp_path / "flat", tmp_path / "nested"
    write_dataset(flat)
    write_dataset(nested, nested=True)
    m_flat = scan(data_config(flat)).manifest
    result = scan(data_config(nested))
    m_nested = result.manifest
    assert result.problems == []
    assert len(m_nested) == N_IMAGES
    for row in m_nested.itertuples(index=False):
        assert Path(row.path).parent == nested / row.identity / "unit1"
    _check_pairs(m_nested)
    same = ["identity", "posture", "posture_name", "concealed", "sample", "pair_exact", "visible"]
    pd.testing.assert_frame_equal(m_flat[same], m_nested[same])
    assert [Path(p).name for p in m_flat.path] == [Path(p).name for p in m_nested.path]
    assert [Path(p).name for p in m_flat.target] == [Path(p).name for p in m_nested.target]


def test_nested_layout_without_identity_in_file_name(tmp_path):
    root = tmp_path / "thz"
    for ident in ("a", "b"):
        for s in (1, 2):
            write_png(root / ident / "unit1" / f"b1b_{s}.png", seed=s)
            write_png(root / ident / "unit1" / f"n1n_{s}.png", seed=s + 10)
    result = scan(data_config(root, strict=True))
    assert result.problems == []
    assert sorted(set(result.manifest.identity)) == ["a", "b"]
    assert len(result.manifest) == 8
    _check_pairs(result.manifest)


@pytest.mark.parametrize("visible_nested", [False, True])
@pytest.mark.parametrize("thz_nested", [False, True])
def test_visible_companions_are_found_by_name(tmp_path, thz_nested, visible_nested):
    root, vis = tmp_path / "thz", tmp_path / "elsewhere" / "visible"
    write_dataset(root, nested=thz_nested)
    companions = {}
    for path in write_dataset(tmp_path / "scratch"):  # just for the names
        name = parse_name(path)
        rel = Path(name.identity) / "unit1" / path.name if visible_nested else Path(path.name)
        companions[path.name] = write_png(vis / rel, size=32, mode="RGB", seed=1)
    write_png(vis / "hello.png", mode="RGB")  # unrelated files beside visible images are no problem
    (vis / "notes.txt").write_text("not an image")
    result = scan(data_config(root, vis))
    assert result.problems == []
    manifest = result.manifest
    assert len(manifest) == N_IMAGES
    for row in manifest.itertuples(index=False):
        assert _abs(row.visible) == _abs(companions[Path(row.path).name])


def test_visible_companions_with_identity_only_in_folders(tmp_path):
    root, vis = tmp_path / "thz", tmp_path / "vis"
    write_dataset(root)
    write_png(vis / "a" / "unit1" / "b2b_1.png", size=32, mode="RGB")
    manifest = scan(data_config(root, vis)).manifest
    row = manifest[manifest.path.map(lambda p: Path(p).name == "a_b2b_1.png")].iloc[0]
    assert _abs(row.visible) == _abs(vis / "a" / "unit1" / "b2b_1.png")
    assert (manifest.visible != "").sum() == 1


def test_hidden_files_and_folders_are_ignored(tiny_folder):
    (tiny_folder / ".DS_Store").write_bytes(b"\x00\x01garbage")
    (tiny_folder / ".hidden").mkdir()
    (tiny_folder / ".hidden" / "junk.png").write_bytes(b"garbage")
    write_png(tiny_folder / ".git" / "a_b1b_1.png")  # would be a duplicate if it were scanned
    result = scan(data_config(tiny_folder, strict=True))
    assert result.problems == []
    assert len(result.manifest) == N_IMAGES


# -------------------------------------------------------------------------------- bad inputs, both modes
# Each case adds or breaks files in the tiny folder and returns (offending path, kind, expected phrase).


def _unreadable(root, vis):
    path = root / "a_b1b_9.png"
    path.write_bytes(b"this is not a PNG")
    return path, "unreadable", "cannot be decoded"


def _truncated(root, vis):
    path = write_png(root / "a_n1n_9.png")
    path.write_bytes(path.read_bytes()[:60])
    return path, "unreadable", "cannot be decoded"


def _empty_file(root, vis):
    path = root / "b_b2b_9.png"
    path.write_bytes(b"")
    return path, "unreadable", "cannot be decoded"


def _not_image(root, vis):
    path = root / "notes.txt"
    path.write_text("some notes")
    return path, "not_image", "not an image file"


def _bad_name(root, vis):
    return write_png(root / "hello.png"), "bad_name", "expected <identity>"


def _bad_size(root, vis):
    return write_png(root / "a_b1b_9.png", size=20), "bad_size", "expected 16x16 pixels, got 20x20"


def _bad_mode(root, vis):
    return write_png(root / "a_n1n_9.png", mode="RGB"), "bad_mode", "expected 8-bit grayscale"


def _duplicate(root, vis):
    path = write_png(root / "a" / "unit1" / "a_b1b_1.png")
    return path, "duplicate", "same identity, posture code and sample"


def _visible_unreadable(root, vis):
    write_png(vis / "a_n2n_1.png", size=32, mode="RGB")
    path = vis / "a_b2b_1.png"
    path.write_bytes(b"broken visible image")
    return path, "visible_unreadable", "cannot be decoded"


def _decompression_bomb(root, vis):
    path = write_bomb_png(root / "a_b1b_9.png")  # PIL raises DecompressionBombError, no OSError
    return path, "too_large", "declares 100000 x 100000 pixels"


def _bomb_warning_size(root, vis):
    path = write_bomb_png(root / "a_b1b_9.png", 10_000, 10_000)  # over MAX_IMAGE_PIXELS: only a warning
    return path, "too_large", "declares 10000 x 10000 pixels"


def _visible_bomb(root, vis):
    write_png(vis / "a_n2n_1.png", size=32, mode="RGB")
    path = write_bomb_png(vis / "a_b2b_1.png", mode="RGB")
    return path, "visible_too_large", "declares 100000 x 100000 pixels"


def _folder_named_like_image(root, vis):
    path = root / "a_b1b_9.png"
    path.mkdir()  # once skipped silently
    return path, "not_image", "a folder named like an image"


def _identity_folder_differs(root, vis):
    path = write_png(root / "b" / "unit1" / "a_b1b_9.png")  # once silently taken as identity a
    return path, "bad_name", "identity 'a' in the file name but 'b' in the folder two levels up"


BAD_CASES = [
    _unreadable,
    _truncated,
    _empty_file,
    _not_image,
    _bad_name,
    _bad_size,
    _bad_mode,
    _duplicate,
    _visible_unreadable,
    _decompression_bomb,
    _bomb_warning_size,
    _visible_bomb,
    _folder_named_like_image,
    _identity_folder_differs,
]


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda f: f.__name__.strip("_"))
def test_bad_input_strict_raises_naming_the_file(tiny_folder, tmp_path, case):
    vis = tmp_path / "vis"
    vis.mkdir()
    bad, kind, phrase = case(tiny_folder, vis)
    with pytest.raises(DataError) as info:
        scan(data_config(tiny_folder, vis, strict=True))
    message = str(info.value)
    assert bad.name in message
    assert phrase in message
    assert "data.strict" in message
    assert [p.kind for p in info.value.problems] == [kind]
    assert _abs(info.value.problems[0].path) == _abs(bad)


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda f: f.__name__.strip("_"))
def test_bad_input_lenient_drops_the_file_and_lists_the_problem(tiny_folder, tmp_path, case):
    vis = tmp_path / "vis"
    vis.mkdir()
    bad, kind, phrase = case(tiny_folder, vis)
    result = scan(data_config(tiny_folder, vis, strict=False))
    assert [p.kind for p in result.problems] == [kind]
    problem = result.problems[0]
    assert _abs(problem.path) == _abs(bad)
    assert phrase in problem.message
    assert bad.name in str(problem)
    manifest = result.manifest
    assert _abs(bad) not in _paths(manifest)
    assert _abs(bad) not in {_abs(v) for v in manifest.visible if v}
    assert _names(manifest) == _all_tiny_names()  # every good image is still there
    assert len(manifest) == N_IMAGES
    _check_pairs(manifest)


def test_unreadable_visible_companion_keeps_the_thz_image(tiny_folder, tmp_path):
    vis = tmp_path / "vis"
    vis.mkdir()
    _visible_unreadable(tiny_folder, vis)
    manifest = scan(data_config(tiny_folder, vis, strict=False)).manifest
    visible = dict(zip(manifest.path.map(lambda p: Path(p).name), manifest.visible, strict=True))
    assert visible["a_b2b_1.png"] == ""
    assert _abs(visible["a_n2n_1.png"]) == _abs(vis / "a_n2n_1.png")


def test_duplicate_keeps_the_first_copy(tiny_folder):
    nested = write_png(tiny_folder / "a" / "unit1" / "a_b1b_1.png")
    result = scan(data_config(tiny_folder, strict=False))
    assert _abs(tiny_folder / "a_b1b_1.png") in _paths(result.manifest)
    assert _abs(nested) not in _paths(result.manifest)
    assert "a_b1b_1.png" in result.problems[0].message  # names the file it duplicates


def _drop_unconcealed(root: Path, identity: str, posture: int, samples=(1, 2)) -> None:
    for s in samples:
        (root / format_name(identity, posture, False, s)).unlink()


def test_concealed_without_partner_strict(tiny_folder):
    _drop_unconcealed(tiny_folder, "a", 0)
    with pytest.raises(DataError) as info:
        scan(data_config(tiny_folder, strict=True))
    assert [p.kind for p in info.value.problems] == ["no_partner", "no_partner"]
    message = str(info.value)
    assert "a_b1b_1.png" in message and "a_b1b_2.png" in message
    assert "no unconcealed image (code n1n)" in message


def test_concealed_without_partner_lenient(tiny_folder):
    _drop_unconcealed(tiny_folder, "a", 0)
    result = scan(data_config(tiny_folder, strict=False))
    assert [p.kind for p in result.problems] == ["no_partner", "no_partner"]
    assert {Path(p.path).name for p in result.problems} == {"a_b1b_1.png", "a_b1b_2.png"}
    expected = _all_tiny_names() - {"a_b1b_1.png", "a_b1b_2.png", "a_n1n_1.png", "a_n1n_2.png"}
    assert _names(result.manifest) == expected
    _check_pairs(result.manifest)


def test_missing_exact_partner_strict_names_the_file_and_the_rule(tiny_folder):
    _drop_unconcealed(tiny_folder, "a", 1, samples=(2,))
    with pytest.raises(DataError) as info:
        scan(data_config(tiny_folder, strict=True))
    assert [(Path(p.path).name, p.kind) for p in info.value.problems] == [("a_b2b_2.png", "no_exact_partner")]
    message = str(info.value)
    assert "no unconcealed partner a_n2n_2.png" in message
    assert "pairs only with the unconcealed image of its own capture (same identity, posture and sample)" in message
    assert "identity a in posture left has unconcealed sample(s) '1' but not '2'" in message


def test_missing_exact_partner_lenient_skips_and_counts_it(tiny_folder):
    _drop_unconcealed(tiny_folder, "a", 1, samples=(2,))
    result = scan(data_config(tiny_folder, strict=False))
    assert [p.kind for p in result.problems] == ["no_exact_partner"]
    assert _names(result.manifest) == _all_tiny_names() - {"a_b2b_2.png", "a_n2n_2.png"}
    _check_pairs(result.manifest)  # every remaining pair is exact: no stand-in from sample 1


@pytest.mark.parametrize("strict", [True, False])
def test_zero_padded_concealed_samples_are_never_paired_with_other_samples(tmp_path, strict):
    """`_01`, `_02` against `_1`, `_2`: once silently paired with sample 1, now each is named."""
    root = tmp_path / "thz"
    for ident in IDENTITIES:
        for s in ("1", "2"):
            write_png(root / format_name(ident, 0, False, s), seed=int(s))
            write_png(root / format_name(ident, 0, True, "0" + s), seed=int(s))
    if strict:
        with pytest.raises(DataError) as info:
            scan(data_config(root, strict=True, min_pairs_per_identity=1))
        problems = info.value.problems
    else:
        result = scan(data_config(root, strict=False, min_pairs_per_identity=1))
        problems = result.problems
        assert not result.manifest.concealed.any()
    mispaired = [p for p in problems if p.kind == "no_exact_partner"]
    assert sorted(Path(p.path).name for p in mispaired) == sorted(
        format_name(i, 0, True, s) for i in IDENTITIES for s in ("01", "02")
    )
    assert "has unconcealed sample(s) '1', '2' but not '01'" in str(mispaired[0])


def test_identity_with_too_few_pairs_strict(tiny_folder):
    write_dataset(tiny_folder, identities=("d",), postures=[0], samples=[1])  # one pair
    with pytest.raises(DataError) as info:
        scan(data_config(tiny_folder, strict=True, min_pairs_per_identity=2))
    assert [p.kind for p in info.value.problems] == ["few_images"]
    message = str(info.value)
    assert "identity d" in message
    assert "min_pairs_per_identity=2" in message


def test_identity_with_too_few_pairs_lenient_drops_whole_identity(tiny_folder):
    write_dataset(tiny_folder, identities=("d",), postures=[0, 1], samples=[1])  # two pairs
    result = scan(data_config(tiny_folder, strict=False, min_pairs_per_identity=3))
    assert [(p.kind, p.path) for p in result.problems] == [("few_images", "identity d")]
    assert "has 2 concealed/unconcealed pair(s)" in result.problems[0].message
    assert "d" not in set(result.manifest.identity)
    assert _names(result.manifest) == _all_tiny_names()


def test_min_pairs_boundary(tiny_folder):
    assert scan(data_config(tiny_folder, strict=True, min_pairs_per_identity=10)).problems == []
    result = scan(data_config(tiny_folder, strict=False, min_pairs_per_identity=11))
    assert [p.kind for p in result.problems] == ["few_images"] * 3
    assert result.manifest.empty
    assert list(result.manifest.columns) == list(MANIFEST_COLUMNS)


def test_unpaired_concealed_images_do_not_count_as_pairs(tiny_folder):
    write_png(tiny_folder / "d_b1b_1.png")
    write_png(tiny_folder / "d_b2b_1.png")
    write_png(tiny_folder / "d_n3n_1.png")
    result = scan(data_config(tiny_folder, strict=False, min_pairs_per_identity=1))
    kinds = Counter(p.kind for p in result.problems)
    assert kinds == {"no_partner": 2, "few_images": 1}
    assert "d" not in set(result.manifest.identity)


def test_missing_data_dir(tmp_path):
    missing = tmp_path / "does-not-exist"
    with pytest.raises(DataError, match="data.dir") as info:
        scan(data_config(missing))
    assert str(missing) in str(info.value)


def test_missing_visible_dir(tiny_folder, tmp_path):
    with pytest.raises(DataError, match="data.visible_dir"):
        scan(data_config(tiny_folder, tmp_path / "no-visible"))


@pytest.mark.parametrize("strict", [True, False])
def test_empty_folder(tmp_path, strict):
    root = tmp_path / "empty"
    root.mkdir()
    (root / ".DS_Store").write_bytes(b"hidden only")
    with pytest.raises(DataError, match="data.dir") as info:
        scan(data_config(root, strict=strict))
    assert "no images" in str(info.value)


def test_strict_error_lists_all_problems(tiny_folder):
    (tiny_folder / "a_b1b_9.png").write_bytes(b"garbage")
    (tiny_folder / "notes.txt").write_text("notes")
    write_png(tiny_folder / "c_n3n_9.png", size=20)
    with pytest.raises(DataError) as info:
        scan(data_config(tiny_folder, strict=True))
    message = str(info.value)
    assert message.startswith("3 data problem(s) found")
    for name in ("a_b1b_9.png", "notes.txt", "c_n3n_9.png"):
        assert name in message
    assert sorted(p.kind for p in info.value.problems) == ["bad_size", "not_image", "unreadable"]
    assert len(message.splitlines()) == 4  # the summary plus one line per problem


def test_flat_name_without_identity_is_a_bad_name(tmp_path):
    root = tmp_path / "data" / "thz"
    write_dataset(root)
    for s in (1, 2):
        write_png(root / f"b1b_{s}.png")
        write_png(root / f"n1n_{s}.png")
    result = scan(data_config(root, strict=False))
    assert sorted(p.kind for p in result.problems) == ["bad_name"] * 4
    assert set(result.manifest.identity) == set(IDENTITIES)


# ------------------------------------------------------------------------------ summarise, read_manifest


def test_summarise_counts_match_a_hand_count(tiny_folder):
    _drop_unconcealed(tiny_folder, "a", 0, samples=(2,))  # a/front: a_b1b_2 unpaired, 1, 1, 1 exact
    write_png(tiny_folder / "b_b3b_3.png")  # unpaired: skipped (data.strict false)
    write_png(tiny_folder / "c_n5n_7.png")  # c/down: 2 concealed, 3 unconcealed, 2 exact
    manifest = scan(data_config(tiny_folder, strict=False)).manifest
    summary = summarise(manifest)
    assert list(summary.columns) == ["identity", "posture_name", "concealed", "unconcealed", "exact_pairs"]
    assert len(summary) == len(IDENTITIES) * len(POSTURES)
    assert list(zip(summary.identity, summary.posture_name, strict=True)) == [
        (i, p) for i in IDENTITIES for p in POSTURES
    ]
    cells = {(r.identity, r.posture_name): (r.concealed, r.unconcealed, r.exact_pairs) for r in summary.itertuples()}
    for ident in IDENTITIES:
        for posture in POSTURES:
            expected = {("a", "front"): (1, 1, 1), ("c", "down"): (2, 3, 2)}
            assert cells[(ident, posture)] == expected.get((ident, posture), (2, 2, 2))
    assert summary.concealed.sum() == manifest.concealed.sum()
    assert summary.unconcealed.sum() == (~manifest.concealed).sum()


def test_summarise_accepts_a_manifest_read_back_from_csv(tiny_folder, tmp_path):
    manifest = scan(data_config(tiny_folder)).manifest
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    again = summarise(read_manifest(tmp_path / "manifest.csv"))
    pd.testing.assert_frame_equal(summarise(manifest).reset_index(drop=True), again.reset_index(drop=True))


def test_read_manifest_round_trip(tmp_path):
    root, vis = tmp_path / "thz", tmp_path / "vis"
    for ident in ("007", "010", "1e5"):  # identities and samples that pandas would otherwise read as numbers
        for posture in (0, 1):
            for sample in ("01", "2"):
                for concealed in (True, False):
                    name = format_name(ident, posture, concealed, sample)
                    write_png(root / name)
                    write_png(vis / name, size=32, mode="RGB")
    (root / "007_n2n_2.png").unlink()  # its concealed image is skipped (data.strict false)
    manifest = scan(data_config(root, vis, strict=False)).manifest
    assert set(manifest.identity) == {"007", "010", "1e5"}
    assert manifest.pair_exact.nunique() == 2 and (manifest.target == "").any()
    assert (manifest.visible_md5 != "").all()
    csv = tmp_path / "manifest.csv"
    manifest.to_csv(csv, index=False)
    back = read_manifest(csv)
    pd.testing.assert_frame_equal(back, manifest)
    assert back.identity.tolist()[0] == "007"
    assert set(back["sample"]) == {"01", "2"}
    assert back.concealed.dtype == bool and back.pair_exact.dtype == bool


def test_read_manifest_rejects_other_tables(tmp_path):
    csv = tmp_path / "other.csv"
    pd.DataFrame({"path": ["x.png"], "identity": ["a"]}).to_csv(csv, index=False)
    with pytest.raises(DataError, match="not a manifest") as info:
        read_manifest(csv)
    assert "other.csv" in str(info.value)
    assert "target" in str(info.value)


def test_lenient_mode_does_not_substitute_a_rejected_exact_partner(tmp_path):
    root = tmp_path / "thz"
    write_dataset(root)
    (root / "a_n1n_2.png").write_bytes(b"not a png")
    result = scan(data_config(root, strict=False))
    kinds = {(Path(p.path).name, p.kind) for p in result.problems}
    assert ("a_n1n_2.png", "unreadable") in kinds and ("a_b1b_2.png", "no_partner") in kinds
    assert "a_b1b_2.png" not in set(result.manifest.path.map(lambda p: Path(p).name))


def test_outputs_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from thz.files import atomic_directory, write_text

    write_text(tmp_path / "f.txt", "x")
    with atomic_directory(tmp_path / "d") as d:
        (d / "g").write_text("y")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~umask


# --- faults that once passed silently ----------------------------------------------------------


def test_identity_folders_that_are_links_are_followed_once(tmp_path):
    """A data set assembled from several disks: identity folders linked in, and a link back to the
    root that would loop."""
    disk = tmp_path / "disk2"
    write_dataset(disk, identities=IDENTITIES, nested=True)
    root = tmp_path / "thz"
    root.mkdir()
    for name in IDENTITIES:
        (root / name).symlink_to(disk / name, target_is_directory=True)
    (disk / "a" / "back").symlink_to(root, target_is_directory=True)  # a cycle through the links
    result = scan(data_config(root))
    assert len(result.manifest) == N_IMAGES and not result.problems
    assert result.manifest.path.is_unique


def test_a_jpeg_named_png_is_a_problem_naming_the_file(tmp_path):
    root = tmp_path / "thz"
    write_dataset(root, identities=IDENTITIES)
    victim = root / format_name("a", 0, True, 1)
    PIL.Image.open(victim).convert("L").save(victim, format="JPEG")  # lossy bytes, .png name
    with pytest.raises(DataError) as err:
        scan(data_config(root))
    assert [(Path(p.path).name, p.kind) for p in err.value.problems] == [(victim.name, "wrong_format")]
    assert "holds JPEG data but is named .png" in str(err.value.problems[0])


def test_data_dir_that_is_a_file_says_so(tmp_path):
    thz = tmp_path / "thz.png"
    write_png(thz)
    with pytest.raises(DataError, match=r"data.dir: '.*thz.png' is a file, expected a folder"):
        scan(data_config(thz))
    folder = tmp_path / "ok"
    write_dataset(folder, identities=IDENTITIES)
    with pytest.raises(DataError, match=r"data.visible_dir: '.*thz.png' is a file, expected a folder"):
        scan(data_config(folder, visible_root=thz))


# --- issue 25: nothing silently mispaired, no traceback ---------------------------------------------


def test_manifest_records_the_md5_of_each_visible_image(tmp_path):
    root, vis = tmp_path / "thz", tmp_path / "vis"
    write_dataset(root, visible_root=vis)
    (vis / "a_b1b_1.png").unlink()
    manifest = scan(data_config(root, vis, strict=False)).manifest
    for row in manifest.itertuples(index=False):
        assert row.visible_md5 == (file_md5(row.visible) if row.visible else "")
    assert (manifest.visible_md5 == "").sum() == 1


def test_read_manifest_of_an_older_scan_says_to_rescan(tiny_folder, tmp_path):
    csv = tmp_path / "manifest.csv"
    scan(data_config(tiny_folder)).manifest.drop(columns="visible_md5").to_csv(csv, index=False)
    with pytest.raises(DataError, match=r"manifest.csv: written by an older scan .*dvc repro -f scan"):
        read_manifest(csv)


def test_a_link_to_the_parent_folder_counts_what_it_pulls_in_as_outside(tmp_path):
    own = tmp_path / "own"
    write_dataset(own / "thz")
    neighbours = write_dataset(own / "other", identities=("z",), nested=True)
    (own / "thz" / "up").symlink_to(own, target_is_directory=True)
    cfg = data_config(own / "thz")
    result = scan(cfg)
    assert len(result.manifest) == N_IMAGES + len(neighbours)  # the link is followed, as documented
    assert data_counts(result.manifest, result.problems, cfg)["outside_data_dir"] == len(neighbours)


@pytest.mark.parametrize("where", ["same", "visible_inside", "thz_inside"])
def test_visible_dir_overlapping_data_dir_is_refused_naming_both_keys(tmp_path, where):
    thz = {"same": tmp_path / "data", "visible_inside": tmp_path / "data", "thz_inside": tmp_path / "data" / "thz"}
    vis = {"same": tmp_path / "data", "visible_inside": tmp_path / "data" / "vis", "thz_inside": tmp_path / "data"}
    write_dataset(thz[where])
    vis[where].mkdir(exist_ok=True)
    with pytest.raises(ConfigError) as info:
        scan(data_config(thz[where], vis[where]))
    message = str(info.value)
    assert f"data.visible_dir ('{vis[where]}') and data.dir ('{thz[where]}') overlap" in message
    assert "THz images would be taken for visible ones" in message
