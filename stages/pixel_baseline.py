"""Stage `pixel_baseline`: PCA + cosine verification and pixel logistic-regression posture
accuracy on the test identities of fold 0: the floor every network must beat."""

from __future__ import annotations

from thz.cli import parse_paths, run
from thz.config import load_config
from thz.data.scan import read_manifest
from thz.eval.pixel_baseline import pixel_baseline
from thz.files import write_json


def main(argv=None) -> None:
    args = parse_paths(argv, "--images", "--metrics", description=__doc__)
    cfg = load_config(args.params)
    result = pixel_baseline(read_manifest(args.images), cfg.seed, cfg.data.image_size)
    write_json(args.metrics, result)
    v, p = result["verification"], result["posture"]
    print(
        f"pixel baseline: verification AUC {v['auc']:.3f}, EER {v['eer']:.3f}; posture accuracy {p['accuracy']:.3f}; "
        f"recon SSIM input-as-output {result['reconstruction']['ssim_identity']:.3f}, "
        f"ridge {result['reconstruction']['ssim_ridge']:.3f}"
    )


if __name__ == "__main__":
    run(main)
