"""The published file-name convention: parsing, formatting, and clear errors for bad names."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from thz.data.naming import (
    NAME_PATTERN,
    POSTURES,
    FileNameError,
    ParsedName,
    format_name,
    parse_name,
    posture_code,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("s03_b2b_4.png", ParsedName("s03", 1, True, "4")),
        ("s03_n5n_4.png", ParsedName("s03", 4, False, "4")),
        ("s03_b1b_1.png", ParsedName("s03", 0, True, "1")),
        ("007_n3n_12.png", ParsedName("007", 2, False, "12")),
        ("id-7_b4b_a-2.png", ParsedName("id-7", 3, True, "a-2")),
        ("s03_b2b_4.PNG", ParsedName("s03", 1, True, "4")),
        ("s03_b2b_4.jpg", ParsedName("s03", 1, True, "4")),
    ],
)
def test_parse_valid_flat_names(name, expected):
    assert parse_name(name) == expected


def test_parse_accepts_str_and_path_objects():
    assert parse_name(Path("x") / "s03_b2b_4.png") == parse_name("s03_b2b_4.png")
    assert parse_name(PurePosixPath("s03_b2b_4.png")).identity == "s03"


def test_sample_stays_a_string():
    parsed = parse_name("s03_b1b_007.png")
    assert parsed.sample == "007"
    assert parsed.key == ("s03", 0, "007")


def test_key_is_shared_by_concealed_image_and_its_partner():
    concealed, unconcealed = parse_name("s03_b2b_4.png"), parse_name("s03_n2n_4.png")
    assert concealed.concealed and not unconcealed.concealed
    assert concealed.key == unconcealed.key == ("s03", 1, "4")


def test_identity_may_contain_underscores():
    assert parse_name("my_id_n1n_2.png") == ParsedName("my_id", 0, False, "2")
    assert parse_name("a_b_c_b3b_1.png") == ParsedName("a_b_c", 2, True, "1")


def test_nested_layout_identity_from_folder_two_levels_up():
    assert parse_name("s03/unit1/b2b_4.png") == ParsedName("s03", 1, True, "4")
    assert parse_name(Path("root") / "s07" / "unit2" / "n5n_1.png") == ParsedName("s07", 4, False, "1")


def test_nested_layout_with_identity_in_name():
    assert parse_name("s03/unit1/s03_b2b_4.png") == ParsedName("s03", 1, True, "4")


def test_identity_in_name_wins_over_folder():
    assert parse_name("s03/unit1/s04_b2b_4.png").identity == "s04"


@pytest.mark.parametrize(
    "name",
    [
        "s03_b6b_1.png",  # posture digit out of range
        "s03_b0b_1.png",
        "s03_x1x_1.png",  # not a posture code
        "s03_b1n_1.png",  # mixed code
        "s03_B1B_1.png",  # codes are lower case
        "s03_b1b.png",  # missing sample
        "s03_1_b1b.png",  # code not in second-to-last position
        "s03_b1b_n1n_1.png",  # two codes
        "s03b1b1.png",  # no separators
        "s03_b1b_1.txt",  # not an image suffix
        "s03_b1b_1",  # no suffix at all
        "b1b_1.png",  # no identity, flat
        "s03_b1b_1 2.png",  # bad characters in sample
        "s 03_b1b_1.png",  # bad characters in identity
    ],
)
def test_invalid_names_raise_with_file_name_in_message(name):
    with pytest.raises(FileNameError) as info:
        parse_name(name)
    assert name in str(info.value)


@pytest.mark.parametrize("name", ["s03_b6b_1.png", "s03_x1x_1.png", "s03_b1b.png", "s03_b1b_1.txt", "b1b_1.png"])
def test_invalid_names_say_what_was_expected(name):
    with pytest.raises(FileNameError, match="expected") as info:
        parse_name(name)
    assert NAME_PATTERN in str(info.value)


def test_missing_identity_message_mentions_folder_layout():
    with pytest.raises(FileNameError, match="no identity") as info:
        parse_name("b1b_1.png")
    assert "<identity>/<unit>/" in str(info.value)


def test_nested_name_without_identity_needs_two_folders():
    with pytest.raises(FileNameError):
        parse_name("unit1/b2b_4.png")


def test_file_name_error_is_a_value_error():
    assert issubclass(FileNameError, ValueError)


@pytest.mark.parametrize("posture", range(len(POSTURES)))
@pytest.mark.parametrize("concealed", [True, False])
def test_format_and_parse_round_trip(posture, concealed):
    code = posture_code(posture, concealed)
    assert code == (f"b{posture + 1}b" if concealed else f"n{posture + 1}n")
    name = format_name("s03", posture, concealed, 4)
    assert name == f"s03_{code}_4.png"
    assert parse_name(name) == ParsedName("s03", posture, concealed, "4")
    nested = parse_name(Path("s03") / "unit1" / f"{code}_4.png")
    assert nested == ParsedName("s03", posture, concealed, "4")


def test_format_name_example_from_docs():
    assert format_name("s03", 1, True, 4) == "s03_b2b_4.png"
    assert format_name("s03", 4, False, "x") == "s03_n5n_x.png"


@pytest.mark.parametrize("posture", [-1, 5, 99])
def test_posture_code_rejects_out_of_range(posture):
    with pytest.raises(ValueError, match="posture must be in 0..4"):
        posture_code(posture, True)
    with pytest.raises(ValueError):
        format_name("s03", posture, False, 1)
