"""Prediction through ONNX Runtime as a scanner's computer runs it (onnxruntime, numpy and Pillow,
nothing else of this project's dependencies), on a small hand-built graph with the exported
model's interface, and model cards that do not describe their graph refused by name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.conftest import write_png
from thz.config import ConfigError
from thz.deploy.onnx_runtime import OnnxModel, card_path
from thz.files import write_json

ROOT = Path(__file__).resolve().parents[2]
# what the documented deployment (`pip install onnxruntime numpy pillow`) lacks: importing any of
# them on the ONNX path would fail there
NOT_DEPLOYED = (
    "torch", "torchvision", "yaml", "pandas", "scipy", "sklearn", "dvc", "dvclive", "matplotlib",
    "onnx", "onnxscript", "pytorch_msssim", "lpips", "tqdm", "threadpoolctl",
)  # fmt: skip


def write_graph(path: Path, size: int = 64, input_name: str = "image", dim: int = 8) -> Path:
    """An ONNX graph with the exported model's interface: (N, 1, size, size) in; an L2-normalised
    embedding, five posture logits and a reconstruction (the input itself) out."""
    rng = np.random.default_rng(0)
    w_emb = numpy_helper.from_array(rng.standard_normal((size * size, dim)).astype(np.float32), "w_emb")
    w_pose = numpy_helper.from_array(rng.standard_normal((size * size, 5)).astype(np.float32), "w_pose")
    nodes = [
        helper.make_node("Flatten", [input_name], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w_emb"], ["raw"]),
        helper.make_node("LpNormalization", ["raw"], ["embedding"], axis=1, p=2),
        helper.make_node("MatMul", ["flat", "w_pose"], ["posture_logits"]),
        helper.make_node("Identity", [input_name], ["reconstruction"]),
    ]
    image = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", 1, size, size])
    outputs = [
        helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", dim]),
        helper.make_tensor_value_info("posture_logits", TensorProto.FLOAT, ["batch", 5]),
        helper.make_tensor_value_info("reconstruction", TensorProto.FLOAT, ["batch", 1, size, size]),
    ]
    graph = helper.make_graph(nodes, "thz_like", [image], outputs, initializer=[w_emb, w_pose])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def card(size: int = 64, threshold: float = 0.3, input_name: str = "image") -> dict:
    """The fields of the export stage's card that prediction reads."""
    return {
        "input": {"name": input_name, "shape": ["batch", 1, size, size], "dtype": "float32"},
        "postures": ["front", "left", "right", "up", "down"],
        "threshold": {"value": threshold},
    }


@pytest.fixture
def deployed(tmp_path) -> Path:
    onnx_file = write_graph(tmp_path / "deploy" / "student.onnx")
    write_json(card_path(onnx_file), card())
    return onnx_file


def test_predict_runs_with_onnxruntime_numpy_and_pillow_alone(deployed, tmp_path):
    """The documented deployment: every other dependency of the project is blocked in a fresh
    interpreter, and a real prediction (postures, outputs written, verification) still runs."""
    a, b = (write_png(tmp_path / f"{n}.png", 64, seed=i) for i, n in enumerate("ab"))
    code = (
        "import sys\n"
        f"for name in {NOT_DEPLOYED!r}: sys.modules[name] = None  # import fails\n"
        "from thz.predict import main\n"
        f"main(['--onnx', {str(deployed)!r}, {str(a)!r}, {str(b)!r}, '--out', {str(tmp_path / 'out')!r}])\n"
        f"main(['--onnx', {str(deployed)!r}, '--verify', {str(a)!r}, {str(b)!r}])\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("posture ") == 4 and "threshold 0.3000" in run.stdout
    assert (tmp_path / "out" / "a_recon.png").is_file() and np.load(tmp_path / "out" / "b_embedding.npy").shape == (8,)


@pytest.mark.parametrize(
    "content, why",
    [
        ("", "not a readable model card"),
        ("{}", "not a model card of this project"),
        (json.dumps({"input": {"name": "image", "shape": [1, 64]}, "postures": []}), "not a model card of this"),
        (json.dumps(card(input_name="pixels")), r"the card does not describe student.onnx \(card input 'pixels'"),
        (json.dumps(card(size=32)), r"the card does not describe student.onnx .*\[.batch., 1, 32, 32\]"),
    ],
    ids=["empty", "no_fields", "wrong_fields", "other_input", "other_size"],
)
def test_a_card_that_does_not_describe_its_graph_is_refused_by_name(deployed, content, why):
    card_path(deployed).write_text(content)
    with pytest.raises(ConfigError, match=rf"student.json: {why}"):
        OnnxModel(deployed)
