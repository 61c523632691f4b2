"""Stage `scan`: check the data named by params (data.*) and write the manifest.

Writes one row per usable THz image (--manifest), counts per identity x posture (--summary),
every problem found (--problems), a contact sheet (--sheet) and counts for DVC (--metrics).
With data.strict=true any problem stops the stage with the full list; with false, the stage still
stops when no usable image is left.
"""

from __future__ import annotations

import pandas as pd

from thz.cli import parse_paths, run
from thz.config import load_config
from thz.data.contact_sheet import contact_sheet
from thz.data.scan import data_counts, report_problems, require_images, scan, summarise
from thz.files import write_csv, write_json


def main(argv=None) -> None:
    args = parse_paths(argv, "--manifest", "--summary", "--problems", "--sheet", "--metrics", description=__doc__)
    cfg = load_config(args.params)
    result = scan(cfg.data)
    manifest, problems = result.manifest, result.problems
    report_problems(problems, args.problems)
    write_csv(args.problems, pd.DataFrame([vars(p) for p in problems], columns=["path", "kind", "message"]))
    require_images(manifest, problems, cfg.data, args.problems)
    write_csv(args.manifest, manifest)
    write_csv(args.summary, summarise(manifest))
    contact_sheet(manifest, args.sheet)
    counts = data_counts(manifest, problems, cfg.data)
    write_json(args.metrics, counts)
    if counts["outside_data_dir"]:
        print(
            f"note: {counts['outside_data_dir']} images lie outside data.dir ({cfg.data.dir}): DVC does not "
            "track them, so after changing one, re-run the scan: dvc repro -f scan"
        )
    print(f"manifest: {len(manifest)} THz images of {manifest.identity.nunique()} identities -> {args.manifest}")


if __name__ == "__main__":
    run(main)
