"""ONNX export of the THz-only networks: ONNX Runtime equals PyTorch on batches of any size with
mixed predicted postures, predict through ONNX equals predict through PyTorch on the same PNGs
(without importing torch), and damaged files give clear errors."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import write_png
from tests.pairsets import TINY_MODEL
from thz.checkpoint import save_checkpoint
from thz.config import Config, ConfigError, LossConfig, config_to_dict
from thz.deploy.onnx_export import PARITY, ExportError, check_parity, export_onnx, model_card
from thz.deploy.onnx_runtime import OnnxModel, card_path
from thz.files import write_json
from thz.models import build_model
from thz.predict import main

pytestmark = pytest.mark.slow  # the export takes about 20 s; the fast tier's tiny repro exports and checks one
ROOT = Path(__file__).resolve().parents[2]
STUDENT = dataclasses.replace(TINY_MODEL, twin_head=0.5)  # with a twin head: a 32-long scored embedding
METRICS = {
    "verification": {
        "probe_gallery": {
            "auc": 0.9,
            "eer": 0.1,
            "tar_at_far_1pct": 0.5,
            "at_val_threshold": {"threshold": 0.3, "accuracy": 0.8},
        }
    },
    "posture": {"accuracy": 0.95},
    "reconstruction": {"predicted": {"ssim": 0.6}},
    "test": {"identities": 3},
}


def _images(batch: int) -> torch.Tensor:
    return torch.rand(batch, 1, 64, 64, generator=torch.Generator().manual_seed(batch))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny student whose posture head spreads its guesses over the postures, its checkpoint,
    its ONNX export and card. It has a twin head, so the graph's scored embedding is the two heads'
    (the fast tier's tiny repro exports a one-head network)."""
    folder = tmp_path_factory.mktemp("export")
    cfg = Config(model=STUDENT, loss=LossConfig(instance=0.3))
    torch.manual_seed(0)
    model = build_model(cfg.model).eval()
    with torch.no_grad():  # posture weights pointing at five of the test images: mixed guesses
        latent = model.reduction(model.encoder(_images(7))[-1])
        model.posture_head.weight.copy_(100 * (latent[:5] - latent.mean(0)))
        model.posture_head.bias.zero_()
    ckpt = folder / "models" / "fold_0" / "student" / "best.pt"
    save_checkpoint(ckpt, model=model.state_dict(), config=config_to_dict(cfg), modalities=["thz"])
    onnx = folder / "models" / "fold_0" / "student.onnx"
    export_onnx(model, onnx, 64, "student")
    card = model_card("student", 0, cfg, 64, 0.3, METRICS, {"train_identities": 12})
    write_json(card_path(onnx), card)
    return model, ckpt, onnx


@pytest.mark.parametrize("batch", [1, 7])
def test_onnx_runtime_equals_pytorch_on_any_batch_with_mixed_postures(exported, batch):
    model, _, onnx = exported
    images = _images(batch)
    with torch.no_grad():
        ref = model(images, routing="predicted")
    if batch == 7:
        assert len(set(ref.posture_logits.argmax(1).tolist())) >= 2  # several experts in one batch
    emb, probs, recon = OnnxModel(onnx).run(images.numpy())
    assert (emb * ref.emb.numpy()).sum(1).min() >= PARITY["cosine"]
    np.testing.assert_array_equal(probs.argmax(1), ref.posture_logits.argmax(1).numpy())
    assert np.abs(recon - ref.recon.numpy()).max() <= PARITY["recon_max_abs"]
    result = check_parity(model, OnnxModel(onnx), images, "student")
    assert result["posture_agreement"] == 1.0 and result["images"] == batch


def test_the_parity_check_fails_when_the_graph_is_not_the_model(exported):
    _, _, onnx = exported
    other = build_model(STUDENT).eval()  # other weights
    with pytest.raises(ExportError, match="student: ONNX Runtime differs from PyTorch"):
        check_parity(other, OnnxModel(onnx), torch.rand(4, 1, 64, 64), "student")
    one_head = build_model(TINY_MODEL).eval()
    with pytest.raises(ExportError, match=r"student: ONNX embeddings are \(32,\) long, the model's \(16,\)"):
        check_parity(one_head, OnnxModel(onnx), torch.rand(4, 1, 64, 64), "student")


def test_predict_through_onnx_equals_predict_through_pytorch(exported, tmp_path, capsys):
    _, ckpt, onnx = exported
    images = [str(write_png(tmp_path / f"s01_b{p}b_1.png", 64, seed=p)) for p in range(1, 6)]
    outputs = {}
    for name, source in (("torch", ["--model", str(ckpt)]), ("onnx", ["--onnx", str(onnx)])):
        main([*source, *images, "--out", str(tmp_path / name)])
        outputs[name] = capsys.readouterr().out
        main([*source, "--verify", images[0], images[1]])
        outputs[name] += capsys.readouterr().out.split(", threshold")[0]
    assert outputs["onnx"].splitlines()[:5] == outputs["torch"].splitlines()[:5]  # postures and probabilities
    for stem in (Path(p).stem for p in images):
        a, b = (np.load(tmp_path / n / f"{stem}_embedding.npy") for n in ("torch", "onnx"))
        assert float(a @ b) >= PARITY["cosine"]
        ra, rb = (np.asarray(Image.open(tmp_path / n / f"{stem}_recon.png"), dtype=int) for n in ("torch", "onnx"))
        assert np.abs(ra - rb).max() <= 1  # 8-bit PNGs: at most one grey level apart


def test_the_onnx_path_never_imports_torch(exported, tmp_path):
    _, _, onnx = exported
    a, b = (write_png(tmp_path / f"{n}.png", 64, seed=i) for i, n in enumerate("ab"))
    code = (
        "import sys; from thz.predict import main; "
        f"main(['--onnx', {str(onnx)!r}, '--verify', {str(a)!r}, {str(b)!r}]); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert "threshold 0.3000" in out  # the card's validation threshold


def test_a_corrupted_onnx_file_or_a_missing_card_is_a_clear_error(exported, tmp_path):
    _, _, onnx = exported
    broken = tmp_path / "student.onnx"
    broken.write_bytes(onnx.read_bytes()[:5000])
    card_path(broken).write_text(card_path(onnx).read_text())
    with pytest.raises(ConfigError, match=r"student.onnx: not a readable ONNX model"):
        OnnxModel(broken)
    alone = tmp_path / "alone.onnx"
    alone.write_bytes(onnx.read_bytes())
    with pytest.raises(ConfigError, match=r"alone.json: the model card beside alone.onnx is missing"):
        OnnxModel(alone)


def test_the_card_says_what_a_user_needs(exported):
    _, _, onnx = exported
    card = json.loads(card_path(onnx).read_text())
    assert card["input"] == {
        "name": "image",
        "shape": ["batch", 1, 64, 64],
        "dtype": "float32",
        "scaling": card["input"]["scaling"],
    }
    assert "255" in card["input"]["scaling"]
    assert card["postures"] == ["front", "left", "right", "up", "down"]
    assert card["threshold"]["value"] == 0.3 and card["test_metrics"]["verification_auc"] == 0.9
    assert card["outputs"]["embedding"]["shape"] == ["batch", 2 * TINY_MODEL.embedding_dim]  # with its twin head
    assert card["params"]["model"]["width"] == TINY_MODEL.width
