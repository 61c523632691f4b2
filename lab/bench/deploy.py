"""Inference latency of a deployed THz-only model on this CPU: ONNX Runtime against PyTorch eager.

    python -m lab.bench.deploy                    # the default network, batches 1 and 64
    python -m lab.bench.deploy --setting parity --repeats 50
    python -m lab.bench.deploy --json lab/records/bench/deploy.json   # also record it (README's table reads it)

Each engine runs in a fresh process (so its peak resident memory is its own): PyTorch eager as the
training code runs it (only each sample's expert, `sparse`), PyTorch on the exported graph
(every expert on every sample, `dense`: what the export costs before any runtime helps), and
ONNX Runtime on the exported graph. Prints the median latency per image at each batch size, after
warm-up, and the peak resident memory, with the CPU capability torch detects and the thread count.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab.bench.timing import median_time

ENGINES = ("torch-sparse", "torch-dense", "onnxruntime")
SETTINGS = {"default": {}, "parity": {"width": 64}}


def measure(engine: str, setting: str, batches: list[int], repeats: int, onnx: str) -> dict:
    import numpy as np

    if engine == "onnxruntime":
        import onnxruntime

        session = onnxruntime.InferenceSession(onnx, providers=["CPUExecutionProvider"])
        threads = session.get_session_options().intra_op_num_threads

        def make(x):
            return lambda: session.run(None, {"image": x})
    else:
        import torch

        from thz.config import ModelConfig
        from thz.deploy.graph import DeployedNet
        from thz.models import build_model

        torch.manual_seed(0)
        model = build_model(ModelConfig(**SETTINGS[setting])).eval()
        net = DeployedNet(model) if engine == "torch-dense" else None
        threads = torch.get_num_threads()

        def make(x):
            t = torch.from_numpy(x)

            def run():
                with torch.no_grad():
                    return net(t) if net is not None else model(t, routing="predicted")

            return run

    result = {"engine": engine, "threads": threads, "ms_per_image": {}}
    for batch in batches:
        x = np.random.default_rng(0).random((batch, 1, 64, 64), dtype=np.float32)
        result["ms_per_image"][batch] = 1000 * median_time(make(x), warmup=3, repeats=repeats) / batch
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return result


def export(setting: str, path: str) -> None:
    import torch

    from thz.config import ModelConfig
    from thz.deploy.onnx_export import export_onnx
    from thz.models import build_model

    torch.manual_seed(0)
    export_onnx(build_model(ModelConfig(**SETTINGS[setting])).eval(), Path(path), 64, setting)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="default")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--engine", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--onnx", help=argparse.SUPPRESS)
    parser.add_argument("--export", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export:  # in its own process: this one stays small, so the engines' peak memory is theirs
        export(args.setting, args.export)
        import torch

        print("RESULT " + json.dumps({"cpu_capability": torch.backends.cpu.get_cpu_capability()}))
        return
    if args.engine:  # one measurement, in this fresh process
        print("RESULT " + json.dumps(measure(args.engine, args.setting, args.batches, args.repeats, args.onnx)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        onnx = str(Path(tmp) / "model.onnx")
        cpu = _child(["--export", onnx, "--setting", args.setting])["cpu_capability"]
        print(
            f"{args.setting} network, CPU capability {cpu}, median of {args.repeats} after warm-up, each engine alone"
        )
        print("engine         threads  " + "  ".join(f"ms/image @{b:<3}" for b in args.batches) + "  peak RSS (GB)")
        results = []
        for engine in ENGINES:
            options = ["--engine", engine, "--setting", args.setting, "--onnx", onnx, "--repeats", str(args.repeats)]
            r = _child([*options, "--batches", *map(str, args.batches)])
            results.append(r)
            times = "  ".join(f"{r['ms_per_image'][str(b)]:>12.2f}" for b in args.batches)
            print(f"{engine:<13}  {r['threads']:>7}  {times}  {r['peak_rss_gb']:>12.2f}")
    if args.json:
        record = {"setting": args.setting, "cpu_capability": cpu, "repeats": args.repeats, "engines": results}
        record["date"] = time.strftime("%Y-%m-%d")
        from thz.files import write_json  # here: the engines' processes measure their memory without it

        write_json(args.json, record)


def _child(options: list[str]) -> dict:
    command = [sys.executable, "-m", __spec__.name, *options]  # this module again, as it was started
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])


if __name__ == "__main__":
    main()
