"""Stage `export` (the student and the baseline of each fold): the model as one ONNX graph
(--onnx), checked against PyTorch on the fold's test images with ONNX Runtime (the stage fails
when they differ), and its model card beside it (.json: input, outputs, postures, the validation
threshold, test metrics, params, the parity numbers). See thz.deploy."""

from __future__ import annotations

from thz.cli import parse_paths, run
from thz.config import load_config
from thz.deploy.onnx_export import export_model
from thz.runtime import Execution, seed_everything, set_threads


def main(argv=None) -> None:
    args = parse_paths(argv, "--model", "--images", "--eval", "--onnx", description=__doc__)
    cfg = load_config(args.params)
    set_threads(Execution.from_env().threads)
    seed_everything(cfg.seed)
    card = export_model(args.model, args.images, args.eval, args.onnx, cfg.data.strict)
    p = card["parity"]
    print(
        f"{args.onnx}: ONNX Runtime = PyTorch on {p['images']} test images (min cosine {p['min_cosine']:.6f}, "
        f"same postures, reconstruction max |diff| {p['recon_max_abs']:.1e})"
    )


if __name__ == "__main__":
    run(main)
