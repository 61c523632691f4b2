"""The simulator: deterministic, well-formed, readable by the scanner, and not trivial."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from thz.config import DataConfig, SimulateConfig
from thz.data.problems import DataError
from thz.data.scan import scan
from thz.data.simulate import identity_name, simulate_capture, write_dataset
from thz.data.simulate.ownership import MARKER
from thz.data.simulate.render import Pose, rotation_matrix

SMALL = SimulateConfig(identities=2, samples=1, image_size=32, visible_size=48)


def test_capture_shapes_and_types():
    cap = simulate_capture(SMALL, seed=0, identity=0, posture=0, sample=1)
    assert cap.thz_concealed.shape == cap.thz_unconcealed.shape == (32, 32)
    assert cap.visible_concealed.shape == cap.visible_unconcealed.shape == (48, 48, 3)
    for img in (cap.thz_concealed, cap.thz_unconcealed, cap.visible_concealed, cap.visible_unconcealed):
        assert img.dtype == np.uint8 and img.std() > 5  # not blank


def test_capture_is_a_pure_function_of_its_coordinates():
    a = simulate_capture(SMALL, 7, 1, 2, 3)
    b = simulate_capture(SMALL, 7, 1, 2, 3)
    assert all(np.array_equal(x, y) for x, y in zip(dataclasses.astuple(a), dataclasses.astuple(b), strict=True))
    c = simulate_capture(SMALL, 8, 1, 2, 3)
    assert not np.array_equal(a.thz_unconcealed, c.thz_unconcealed)


def test_concealment_changes_the_thz_image_and_hides_the_face_in_visible_light():
    clear = dataclasses.replace(SMALL, speckle=0.0, noise=0.0, stripes=0.0, dropout=0.0)
    cap = simulate_capture(clear, 0, 0, 0, 1)
    diff = np.abs(cap.thz_concealed.astype(float) - cap.thz_unconcealed.astype(float)).mean()
    assert diff > 5
    # the balaclava is dark: the visible concealed face is darker than the bare face on average
    assert cap.visible_concealed.mean() < cap.visible_unconcealed.mean()


def test_noise_knobs_act():
    clean = dataclasses.replace(SMALL, speckle=0.0, noise=0.0, stripes=0.0, dropout=0.0)
    noisy = dataclasses.replace(clean, noise=0.3)
    a = simulate_capture(clean, 0, 0, 0, 1).thz_unconcealed.astype(float)
    b = simulate_capture(noisy, 0, 0, 0, 1).thz_unconcealed.astype(float)
    background = slice(0, 4)  # top rows are background: noise shows there
    assert b[background].std() > a[background].std() + 10


def test_postures_turn_the_face_the_documented_way():
    face = np.array([0.0, 0.0, 1.0])
    assert (rotation_matrix(Pose(yaw=-35)) @ face)[0] < 0  # left: towards the image's left
    assert (rotation_matrix(Pose(yaw=35)) @ face)[0] > 0  # right
    assert (rotation_matrix(Pose(pitch=25)) @ face)[1] > 0  # up
    assert (rotation_matrix(Pose(pitch=-25)) @ face)[1] < 0  # down
    r = rotation_matrix(Pose(yaw=10, pitch=-20, roll=5))
    assert np.allclose(r @ r.T, np.eye(3))


def test_written_dataset_scans_cleanly_and_is_prefix_stable(tmp_path):
    write_dataset(SMALL, 0, tmp_path / "a" / "thz", tmp_path / "a" / "vis", workers=1)
    three = dataclasses.replace(SMALL, identities=3)
    write_dataset(three, 0, tmp_path / "b" / "thz", tmp_path / "b" / "vis", workers=2)
    names = sorted(p.name for p in (tmp_path / "a" / "thz").glob("*.png"))
    assert len(names) == 2 * 5 * 1 * 2 and names[0] == f"{identity_name(0)}_b1b_1.png"
    for name in names:  # identities=2 is the first two people of identities=3, byte for byte
        assert (tmp_path / "a" / "thz" / name).read_bytes() == (tmp_path / "b" / "thz" / name).read_bytes()
    with Image.open(tmp_path / "a" / "thz" / names[0]) as img:
        assert img.mode == "L" and img.size == (32, 32)
    cfg = DataConfig(
        source="folder",
        dir=str(tmp_path / "b" / "thz"),
        visible_dir=str(tmp_path / "b" / "vis"),
        image_size=32,
        strict=True,
    )
    result = scan(cfg)
    assert len(result.manifest) == 30 and not result.problems
    assert result.manifest.pair_exact[result.manifest.concealed].all()
    assert (result.manifest.visible != "").all()


def test_write_dataset_refuses_a_folder_holding_images_it_did_not_write(tmp_path):
    own = tmp_path / "thz"
    own.mkdir()
    (own / "alice_front_concealed_1.png").write_bytes(b"the user's image")
    with pytest.raises(DataError, match=r"1 entries the simulate stage did not write \(alice_front"):
        write_dataset(SMALL, 0, own, tmp_path / "visible", workers=1)
    assert (own / "alice_front_concealed_1.png").read_bytes() == b"the user's image"
    assert not (tmp_path / "visible").exists()


def test_write_dataset_replaces_its_own_output_but_not_a_file_added_to_it(tmp_path):
    thz, visible = tmp_path / "thz", tmp_path / "visible"
    write_dataset(SMALL, 0, thz, visible, workers=1)
    first = sorted(p.name for p in thz.iterdir())
    assert MARKER in first and len(first) == 2 * 5 * 2 + 1
    write_dataset(SMALL, 0, thz, visible, workers=1)  # its own folder: replaced whole
    assert sorted(p.name for p in thz.iterdir()) == first
    (visible / "mine.png").write_bytes(b"added by the user")
    with pytest.raises(DataError, match="visible: holds 1 entries .*mine.png"):
        write_dataset(SMALL, 0, thz, visible, workers=1)
    assert (visible / "mine.png").read_bytes() == b"added by the user"
