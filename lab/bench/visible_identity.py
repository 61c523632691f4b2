"""How much identity do the raw visible photos carry? A floor for the teacher, with no learning.

    python -m lab.bench.visible_identity --json lab/records/bench/visible_identity.json

For every fold's test identities (the split stage's data/split/fold_K/images.csv), each photo is
reduced to a normalised colour histogram (16 bins per RGB channel) and photos are matched by
cosine similarity, the identity-level protocol: AUC of same-identity against other-identity
pairs. Three pairings: a concealed capture's photo against the unconcealed photos (what the
published teacher fuses), concealed against concealed, and unconcealed against unconcealed (what
a teacher privileged with the uncovered face sees). An AUC near 0.5 says colour alone does not
tell people apart: identity in the photos is geometric and has to be learned.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from thz.data.images import read_rgb_uint8
from thz.data.scan import read_manifest
from thz.files import write_json

BINS = 16


def histogram(path: str, md5: str) -> np.ndarray:
    image = read_rgb_uint8(path, md5=md5).astype(float) / 255.0  # refused if changed since the scan
    h = np.concatenate([np.histogram(image[..., c], bins=BINS, range=(0.0, 1.0))[0] for c in range(3)]).astype(float)
    return h / np.linalg.norm(h)


def pair_auc(probe: np.ndarray, probe_ids, gallery: np.ndarray, gallery_ids, same_set: bool) -> float:
    scores = probe @ gallery.T
    genuine = np.asarray(probe_ids)[:, None] == np.asarray(gallery_ids)[None, :]
    if same_set:  # each unordered pair once, no self-pairs
        upper = np.triu_indices(len(probe_ids), k=1)
        return float(roc_auc_score(genuine[upper], scores[upper]))
    return float(roc_auc_score(genuine.ravel(), scores.ravel()))


def fold_aucs(images_csv: Path) -> dict[str, float]:
    images = read_manifest(images_csv)
    test = images[images.split == "test"]
    concealed, unconcealed = test[test.concealed], test[~test.concealed]
    c = np.stack([histogram(p, m) for p, m in zip(concealed.visible, concealed.visible_md5, strict=True)])
    u = np.stack([histogram(p, m) for p, m in zip(unconcealed.visible, unconcealed.visible_md5, strict=True)])
    return {
        "concealed_vs_unconcealed": pair_auc(c, concealed.identity, u, unconcealed.identity, same_set=False),
        "concealed_vs_concealed": pair_auc(c, concealed.identity, c, concealed.identity, same_set=True),
        "unconcealed_vs_unconcealed": pair_auc(u, unconcealed.identity, u, unconcealed.identity, same_set=True),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=Path, default=Path("data/split"), help="the split stage's folder")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    folds = sorted(args.splits.glob("fold_*/images.csv"))
    if not folds:
        raise SystemExit(f"no fold_*/images.csv under {args.splits}: run `dvc repro split` first")
    per_fold = {f.parent.name: fold_aucs(f) for f in folds}
    summary = {
        k: {
            "mean": float(np.mean([v[k] for v in per_fold.values()])),
            "sd": float(np.std([v[k] for v in per_fold.values()], ddof=1)),
        }
        for k in next(iter(per_fold.values()))
    }
    result = {"date": date.today().isoformat(), "bins_per_channel": BINS, "folds": per_fold, "auc": summary}
    print(json.dumps(summary, indent=2))
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
