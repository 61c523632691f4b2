"""Stage `simulate`: write the built-in simulated THz dataset (or nothing, for real data).

With data.source=simulated this renders every capture into --thz-out and --visible-out in the
published file format. With any other source it does no work: it leaves both folders holding
only a hidden `.skipped` note, so the stage's outputs exist and DVC stays consistent, and the
scan stage reads data.dir instead.

It replaces only folders it wrote itself (a hidden marker lists what it wrote; DVC keeps the
outputs in place, `persist: true`), and it refuses a data.dir inside its outputs, so a user's
images are never deleted.
"""

from __future__ import annotations

import time

from tqdm import tqdm

from thz.cli import parse_paths, run
from thz.config import load_config
from thz.data.simulate import write_dataset
from thz.data.simulate.ownership import check_not_inside, check_owned, write_marker
from thz.files import atomic_directory


def main(argv=None) -> None:
    args = parse_paths(argv, "--thz-out", "--visible-out", description=__doc__)
    cfg = load_config(args.params)
    outputs = (args.thz_out, args.visible_out)
    for out in outputs:
        check_owned(out)
    if cfg.data.source != "simulated":
        check_not_inside("data.dir", cfg.data.dir, outputs)
        note = f"simulation skipped: data.source={cfg.data.source}, images come from data.dir={cfg.data.dir}\n"
        for out in outputs:
            with atomic_directory(out) as tmp:
                (tmp / ".skipped").write_text(note)
                write_marker(tmp)
        print(note, end="")
        return
    start = time.perf_counter()
    n = write_dataset(
        cfg.simulate,
        cfg.seed,
        args.thz_out,
        args.visible_out,
        progress=lambda jobs, total: tqdm(jobs, total=total, desc="simulate", unit="capture", mininterval=2),
    )
    print(f"simulated {n} captures ({2 * n} THz + {2 * n} visible images) in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    run(main)
