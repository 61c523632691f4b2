"""train.precision: "auto" picks bf16 only on a CPU that computes it natively, and bf16 autocast
computes the same losses as fp32 within a stated tolerance."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
import torch

from lab.random_pairs import make_pairset
from thz.config import Config, LossConfig
from thz.losses.objective import MultiTaskObjective
from thz.models import build_model
from thz.runtime import native_bf16

# bf16 keeps 8 bits of mantissa (relative step 2^-8 = 0.4 %); through a few dozen layers the loss
# parts of one batch stay within 2 % of fp32 (measured: at most 0.13 %, the posture loss)
RELATIVE_TOLERANCE = 0.02


def _cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 avx2 {flags}\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    return path


def test_native_bf16_reads_the_cpu_flags(tmp_path):
    assert native_bf16(_cpuinfo(tmp_path, "avx512f avx512_bf16"), capability="AVX512")
    assert native_bf16(_cpuinfo(tmp_path, "amx_tile amx_bf16"), capability="AVX512")
    assert not native_bf16(_cpuinfo(tmp_path, "avx512f avx512bw"), capability="AVX512")  # emulated: ~100x slower
    assert not native_bf16(tmp_path / "missing", capability="AVX512")  # unknown: fp32, the safe choice
    # a capable CPU whose torch dispatches to AVX2 kernels only (ATEN_CPU_CAPABILITY=avx2)
    assert not native_bf16(_cpuinfo(tmp_path, "avx512f avx512_bf16"), capability="AVX2")


def test_auto_precision_is_fp32_when_torch_is_held_to_avx2():
    """What an AVX2 machine runs, emulated on any x86 CPU: auto must pick fp32, whatever the flags."""
    code = (
        "import torch; from thz.runtime import autocast_dtype, cpu_capability; "
        "print(cpu_capability(), autocast_dtype('auto', torch.device('cpu')))"
    )
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["AVX2", "None"]


def test_bf16_losses_match_fp32_on_one_batch():
    cfg = Config()
    torch.manual_seed(0)
    model = build_model(dataclasses.replace(cfg.model, width=8, embedding_hidden=32, embedding_dim=16))
    model.train()
    objective = MultiTaskObjective(model, LossConfig(lpips=0.0))
    data = make_pairset(identities=4, postures=5, samples=2, size=64, seed=0)
    batch = data.batch(torch.arange(len(data)))

    def losses(enabled: bool) -> dict[str, float]:
        torch.manual_seed(1)  # the same dropout masks
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            return {k: float(v.detach()) for k, v in objective(batch).items()}

    fp32, bf16 = losses(False), losses(True)
    assert fp32.keys() == bf16.keys() and {"loss", "supcon", "posture", "recon"} <= fp32.keys()
    for name in fp32:
        assert bf16[name] == pytest.approx(fp32[name], rel=RELATIVE_TOLERANCE), name
    assert any(bf16[k] != fp32[k] for k in fp32)  # autocast really ran in bf16
