"""The predict command on real PNG files: postures, reconstructions and embeddings written,
verification with a threshold, and clear errors for malformed input and teacher checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import write_bomb_png, write_png
from tests.pairsets import TINY_MODEL
from thz.checkpoint import save_checkpoint
from thz.cli import run
from thz.config import PUBLISHED_VISIBLE, Config, ConfigError, TeacherConfig, config_to_dict
from thz.data.naming import POSTURES
from thz.data.problems import DataError
from thz.eval.threshold_record import write_threshold_record
from thz.models import build_model
from thz.predict import main, read_thz_image


@pytest.fixture
def checkpoint(tmp_path):
    cfg = Config(model=TINY_MODEL)
    torch.manual_seed(0)
    path = tmp_path / "models" / "fold_2" / "student" / "best.pt"
    save_checkpoint(path, model=build_model(cfg.model).state_dict(), config=config_to_dict(cfg), modalities=["thz"])
    return path


def test_predict_prints_postures_and_writes_reconstructions_and_embeddings(tmp_path, checkpoint, capsys):
    images = [write_png(tmp_path / f"s01_b{p}b_1.png", 64, seed=p) for p in (1, 2)]
    main(["--model", str(checkpoint), *map(str, images), "--out", str(tmp_path / "out")])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(any(f"posture {p} (" in line for p in POSTURES) for line in lines)
    with Image.open(tmp_path / "out" / "s01_b1b_1_recon.png") as recon:
        assert recon.mode == "L" and recon.size == (64, 64)
    emb = np.load(tmp_path / "out" / "s01_b2b_1_embedding.npy")
    assert emb.shape == (TINY_MODEL.embedding_dim,) and np.linalg.norm(emb) == pytest.approx(1.0, abs=1e-5)


def test_verify_scores_two_images_and_decides_at_the_threshold(tmp_path, checkpoint, capsys):
    a = write_png(tmp_path / "a.png", 64, seed=1)
    main(["--model", str(checkpoint), "--verify", str(a), str(a), "--threshold", "0.5"])
    assert "score 1.0000, threshold 0.5000: same person" in capsys.readouterr().out
    b = write_png(tmp_path / "b.png", 64, seed=2)
    main(["--model", str(checkpoint), "--verify", str(a), str(b), "--threshold", "1.0"])
    assert "different people" in capsys.readouterr().out


def test_malformed_inputs_are_named_with_what_was_expected(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(DataError, match="bad.png: not a readable image"):
        read_thz_image(bad, 64)
    with pytest.raises(DataError, match="rgb.png: expected an 8-bit grayscale"):
        read_thz_image(write_png(tmp_path / "rgb.png", 64, mode="RGB"), 64)
    with pytest.raises(DataError, match="small.png: expected 64x64 pixels .* got 32x32"):
        read_thz_image(write_png(tmp_path / "small.png", 32), 64)
    with pytest.raises(DataError, match="missing.png: file not found"):
        read_thz_image(tmp_path / "missing.png", 64)


def test_a_teacher_checkpoint_is_refused(tmp_path, capsys):
    cfg = Config(model=TINY_MODEL, teacher=TeacherConfig(heads=4, **PUBLISHED_VISIBLE))
    path = tmp_path / "teacher.pt"
    teacher = build_model(cfg.model, cfg.teacher)
    save_checkpoint(path, model=teacher.state_dict(), config=config_to_dict(cfg), modalities=["thz", "visible"])
    image = write_png(tmp_path / "a.png", 64)
    with pytest.raises(ConfigError, match="teacher checkpoint needs visible images"):
        main(["--model", str(path), str(image)])


def test_verify_decides_only_with_a_threshold_recorded_for_that_very_checkpoint(tmp_path, checkpoint, capsys):
    """The evaluate stage's record names the checkpoint's MD5: it is found from the checkpoint's
    project (not the working folder); last.pt beside best.pt, or other weights saved at best.pt's
    path, get no threshold instead of best.pt's."""
    a = write_png(tmp_path / "s01_b1b_1.png", 64, seed=1)
    main(["--model", str(checkpoint), "--verify", str(a), str(a)])
    assert "no threshold: no threshold recorded for" in capsys.readouterr().out
    record = tmp_path / "metrics" / "eval" / "fold_2" / "student"
    write_threshold_record(record, checkpoint, 0.25)
    main(["--model", str(checkpoint), "--verify", str(a), str(a)])
    assert "threshold 0.2500: same person" in capsys.readouterr().out
    cfg = Config(model=TINY_MODEL)
    torch.manual_seed(1)
    other = build_model(cfg.model).state_dict()  # other weights: last.pt, or an untrained network
    last = checkpoint.with_name("last.pt")
    save_checkpoint(last, model=other, config=config_to_dict(cfg), modalities=["thz"])
    main(["--model", str(last), "--verify", str(a), str(a)])
    assert "threshold 0.2500" not in capsys.readouterr().out
    save_checkpoint(checkpoint, model=other, config=config_to_dict(cfg), modalities=["thz"])  # where best.pt was
    main(["--model", str(checkpoint), "--verify", str(a), str(a)])
    out = capsys.readouterr().out
    assert "threshold.json was chosen for another checkpoint" in out and "same person" not in out


@pytest.mark.parametrize("damage", ["empty", "truncated", "not_torch"])
def test_a_damaged_checkpoint_is_named_without_torch_s_advice(tmp_path, checkpoint, damage, capsys):
    data = checkpoint.read_bytes()
    broken = tmp_path / "broken.pt"
    broken.write_bytes({"empty": b"", "truncated": data[: len(data) // 2], "not_torch": b"\x89PNG junk" * 50}[damage])
    image = write_png(tmp_path / "a.png", 64)
    with pytest.raises(SystemExit) as exit_:
        run(lambda: main(["--model", str(broken), str(image)]))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "broken.pt: not a readable thz checkpoint" in err and "weights_only" not in err


def test_outputs_never_overwrite_each_other_and_out_must_be_a_folder(tmp_path, checkpoint):
    one, two = (write_png(tmp_path / d / "s01_b1b_1.png", 64, seed=i) for i, d in enumerate(("day1", "day2")))
    with pytest.raises(ConfigError, match=r"day1/s01_b1b_1.png and .*day2/s01_b1b_1.png have the same name"):
        main(["--model", str(checkpoint), str(one), str(two), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
    afile = tmp_path / "taken.txt"
    afile.write_text("mine")
    with pytest.raises(ConfigError, match=r"--out .*taken.txt: is a file, expected a folder"):
        main(["--model", str(checkpoint), str(one), "--out", str(afile)])
    assert afile.read_text() == "mine"


@pytest.mark.parametrize("threshold", ["nan", "inf", "1.5", "-2.0"])
def test_a_threshold_that_is_not_a_cosine_score_is_refused(tmp_path, checkpoint, threshold):
    a = write_png(tmp_path / "a.png", 64)
    with pytest.raises(ConfigError, match=rf"--threshold {threshold}: expected a cosine score, a number in \[-1, 1\]"):
        main(["--model", str(checkpoint), "--verify", str(a), str(a), "--threshold", threshold])


def test_verify_takes_exactly_two_images_and_their_outputs_never_collide(tmp_path, checkpoint, capsys):
    a, b, c = (write_png(tmp_path / f"{n}.png", 64, seed=i) for i, n in enumerate("abc"))
    with pytest.raises(SystemExit) as exit_:
        main(["--model", str(checkpoint), str(c), "--verify", str(a), str(b)])
    assert exit_.value.code == 2
    assert "--verify A B scores exactly two images; 1 more were given" in capsys.readouterr().err
    x, y = (write_png(tmp_path / d / "face.png", 64, seed=i) for i, d in enumerate("xy"))
    with pytest.raises(ConfigError, match=r"x/face.png and .*y/face.png have the same name"):
        main(["--model", str(checkpoint), "--verify", str(x), str(y), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_an_out_folder_that_cannot_be_written_is_named_before_anything_runs(tmp_path, checkpoint):
    a = write_png(tmp_path / "a.png", 64)
    (tmp_path / "taken.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"--out .*taken.txt/preds: cannot create the folder \(Not a directory\)"):
        main(["--model", str(checkpoint), str(a), "--out", str(tmp_path / "taken.txt" / "preds")])
    assert (tmp_path / "taken.txt").read_text() == "mine"


def test_an_image_whose_header_declares_a_huge_size_is_refused_before_decoding(tmp_path):
    bomb = write_bomb_png(tmp_path / "bomb.png", 100_000, 100_000)
    with pytest.raises(DataError, match=r"bomb.png: not a THz image of 64x64 pixels: declares 100000 x 100000 pixels"):
        read_thz_image(bomb, 64)
    big = write_bomb_png(tmp_path / "big.png", 10_000, 10_000)  # above PIL's warning size, below its error
    with pytest.raises(DataError, match=r"big.png: not a THz image of 64x64 pixels"):
        read_thz_image(big, 64)
