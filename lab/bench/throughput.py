"""Training and inference speed of the multi-task network on this CPU, as medians after warm-up.

    python -m lab.bench.throughput                 # default and parity settings, each in a fresh process
    python -m lab.bench.throughput --setting parity --channels-last --bf16

Prints, per setting: training throughput (THz images through forward + backward per second; a
step is P x K concealed inputs plus their targets), inference throughput and latency per image at
batch 64 and batch 1, peak resident memory of the process, achieved GFLOP/s (counted with
torch.utils.flop_counter) and, for scale, this machine's own float32 matmul GFLOP/s.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from lab.bench.timing import median_time
from thz.config import Config, LossConfig, ModelConfig
from thz.losses.objective import MultiTaskObjective
from thz.models import build_model, count_parameters

SETTINGS = {
    "default": ModelConfig(),
    # the published architecture and sizes: custom encoder, 4x4 conv reduction, five experts (LPIPS off)
    "parity": ModelConfig(width=64, reduction="conv", moe_routing="oracle"),
}


def matmul_gflops(n: int = 1024, repeats: int = 10, dtype: torch.dtype = torch.float32) -> float:
    """This machine's n x n matmul rate in `dtype`: the ceiling a network's GFLOP/s is held against."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def measure(setting: str, batch: int, channels_last: bool, bf16: bool, repeats: int) -> dict:
    torch.manual_seed(0)
    model = build_model(SETTINGS[setting])
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    objective = MultiTaskObjective(model, dataclasses.replace(LossConfig(), lpips=0.0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    data = {
        "input": torch.rand(batch, 1, 64, 64).to(memory_format=fmt),
        "target": torch.rand(batch, 1, 64, 64).to(memory_format=fmt),
        "identity": torch.arange(batch) // 4,
        "posture": torch.randint(0, 5, (batch,)),
    }

    def train_step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = objective(data)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        train_step()
    train_flops = counter.get_total_flops()
    model.train()
    step = median_time(train_step, warmup=2, repeats=repeats)
    model.eval()
    result = {
        "setting": setting,
        "channels_last": channels_last,
        "bf16": bf16,
        "parameters_M": round(count_parameters(model) / 1e6, 2),
        "train_images_per_s": round(2 * batch / step, 1),
        "train_gflops_per_s": round(train_flops / step / 1e9, 1),
    }
    for infer_batch in (64, 1):
        x = torch.rand(infer_batch, 1, 64, 64).to(memory_format=fmt)

        posture = torch.randint(0, 5, (infer_batch,))  # oracle routing reads the labels

        def infer(x=x, posture=posture):
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                model(x, posture)

        seconds = median_time(infer, warmup=2, repeats=repeats if infer_batch > 1 else 5 * repeats)
        result[f"infer_b{infer_batch}_images_per_s"] = round(infer_batch / seconds, 1)
        result[f"infer_b{infer_batch}_ms_per_image"] = round(1000 * seconds / infer_batch, 2)
    result["peak_rss_GB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", choices=sorted(SETTINGS), help="one setting in this process (default: all)")
    train = Config().train
    parser.add_argument("--batch", type=int, default=train.identities_per_batch * train.images_per_identity)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    if args.setting:
        print(json.dumps(measure(args.setting, args.batch, args.channels_last, args.bf16, args.repeats)))
        return
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"float32 matmul {matmul_gflops():.1f} GFLOP/s (1024x1024, median)"
    )
    for setting in SETTINGS:  # a fresh process each, so peak memory belongs to one setting
        for flags in ([], ["--channels-last"], ["--channels-last", "--bf16"]):
            cmd = [
                sys.executable,
                "-m",
                __spec__.name,
                "--setting",
                setting,
                "--batch",
                str(args.batch),
                "--repeats",
                str(args.repeats),
                *flags,
            ]
            print(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip())


if __name__ == "__main__":
    main()
