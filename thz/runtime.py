"""Process-level settings: seeding, CPU threads, numeric precision, and how a run executes
(environment variables, not params: they never change what a stage computes)."""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from thz.config import ConfigError


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def step_seed(seed: int, step: int) -> int:
    """A seed for one training step, so dropout and augmentation do not depend on how many steps
    ran in this process (a resumed run repeats an uninterrupted one exactly)."""
    return (seed * 1_000_003 + step) % 2**63


def rank_seed(seed: int, step: int, rank: int) -> int:
    """The dropout/masking seed of one training process at one step: step_seed for rank 0 (so one
    process draws exactly what it always did), an independent stream for every other rank (not
    step_seed + rank, which would replay rank 0's draws of a later step)."""
    if rank == 0:
        return step_seed(seed, step)
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1, np.uint64)[0]) % 2**63


@dataclass(frozen=True)
class Execution:
    """How a run executes, never what it computes, so DVC does not track it: set in the environment
    of the stage (`THZ_RESUME=1 python -m stages.train ...`), recorded in the run's DVCLive summary.
    Changing one invalidates no stage; as params.yaml keys they retrained every stage reading `train`
    (thz.config.MOVED_TO_ENV tells an old params.yaml where they went)."""

    resume: bool = False  # THZ_RESUME=1: continue from the output folder's last.pt
    threads: int = 0  # THZ_THREADS=N: CPU threads per process; 0: torch's default (shared by the processes)
    # THZ_NPROC=N: data-parallel training processes started through torchrun; the global batch stays
    # P x K, split into whole identities (P must divide evenly), so only the other ranks' dropout differs
    nproc: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Execution:
        """Read once per stage, here only, so every variable is checked the same way."""
        env = os.environ if env is None else env
        return cls(
            resume=bool(_env_int(env, "THZ_RESUME", 0, 1, "1 to resume from last.pt, 0 (or unset) not to")),
            threads=_env_int(env, "THZ_THREADS", 0, 256, "CPU threads per process, 0 for torch's default"),
            nproc=_env_int(env, "THZ_NPROC", 1, 1024, "the number of training processes"),
        )


def _env_int(env: Mapping[str, str], name: str, lo: int, hi: int, meaning: str) -> int:
    """An integer variable in [lo, hi]; unset or empty: lo. Anything else fails naming the variable."""
    text = env.get(name, "").strip()
    if not text:
        return lo
    if not (text.isdigit() and lo <= int(text) <= hi):
        raise ConfigError(
            f"environment variable {name}={text!r}: expected a whole number from {lo} to {hi} ({meaning})"
        )
    return int(text)


def set_threads(threads: int) -> None:
    """0 keeps torch's default (one per core)."""
    if threads > 0:
        torch.set_num_threads(threads)


def cpu_capability() -> str:
    """The vector instruction set torch dispatches to on this CPU (e.g. "AVX2", "AVX512")."""
    return torch.backends.cpu.get_cpu_capability()


def native_bf16(cpuinfo: str = "/proc/cpuinfo", capability: str | None = None) -> bool:
    """Whether the CPU computes in bf16 natively (AVX512-BF16 or AMX-BF16) and torch dispatches to
    AVX-512 kernels that can use it (ATEN_CPU_CAPABILITY=avx2 restricts a capable CPU to AVX2, as
    an AVX2 machine would run). Without it torch emulates bf16 and a matmul runs about 100x slower
    than in fp32 (0.9 against 135 GFLOP/s measured on an AVX2 machine), so "auto" must never pick
    bf16 there. Unknown: False."""
    if (capability or cpu_capability()) != "AVX512":
        return False
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of train.precision on `device`, None for plain fp32. "auto": on the CPU
    bf16 where it is native (native_bf16), else fp32; on CUDA bf16 where the GPU supports it, else
    fp16 (which needs a gradient scaler)."""
    if precision == "auto":
        if device.type != "cuda":
            return torch.bfloat16 if native_bf16() else None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision is fp16, which needs a CUDA device (on the CPU use bf16 or fp32)")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
