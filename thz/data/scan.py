"""One scanner for every data source: find images, parse names, pair, check, and list problems.

Sources are a folder of PNGs (flat or nested `<identity>/<unit>/<file>.png`), or the published
triplet CSVs (`anchor, positive, negative` and optional `visible_*` columns). Both end in
`build_manifest`, which checks every file the same way and returns one row per usable THz image
plus a list of problems, each naming the file and what was expected. `data.strict` decides
whether problems stop the run (DataError with the full list) or drop the files concerned.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import UnidentifiedImageError

from thz.config import ConfigError, DataConfig
from thz.data.images import RESCAN, ImageTooLarge, file_md5, open_image
from thz.data.naming import IMAGE_SUFFIXES, NAME_PATTERN, POSTURES, FileNameError, ParsedName, format_name, parse_name
from thz.data.problems import DataError, Problem
from thz.data.triplet_csv import read_triplet_csvs

MANIFEST_COLUMNS = (
    "path",
    "identity",
    "posture",
    "posture_name",
    "concealed",
    "sample",
    "target",
    "pair_exact",
    "visible",
    "md5",  # of the file's bytes: training refuses an image changed since the scan
    "visible_md5",  # of the visible companion's bytes ("" without one): checked the same way
)


@dataclass
class ScanResult:
    manifest: pd.DataFrame  # one row per usable THz image, columns MANIFEST_COLUMNS
    problems: list[Problem]


def display_path(path: Path) -> str:
    """Path relative to the working directory when inside it (stable across clones), else absolute."""
    path = Path(os.path.abspath(path))
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def list_files(root: Path) -> list[Path]:
    """Every file below `root`, sorted, skipping hidden files and folders (.DS_Store, .git, ...),
    plus every folder named like an image (`a_b1b_1.png/`), so the check names it instead of the
    image silently missing. Folders that are symbolic links are followed (a data set assembled
    from several disks), each real folder once, so a link back to a folder already listed cannot
    loop (what a link pulls in from outside data.dir is counted: see data_counts)."""
    found, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        like_images = [d for d in dirnames if Path(d).suffix.lower() in IMAGE_SUFFIXES]
        found += [Path(dirpath) / f for f in sorted(like_images + filenames) if not f.startswith(".")]
    return found


# what a file's bytes must be for its name's ending (PIL's format names)
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}


def check_image(path: Path, size: int | None, mode: str | None) -> Problem | None:
    """Decode the file fully; with `size`/`mode`, also require that geometry and pixel format."""
    if path.is_dir():
        return Problem(display_path(path), "not_image", "a folder named like an image (expected an image file)")
    if not path.is_file():
        return Problem(display_path(path), "missing_file", "file does not exist")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return Problem(display_path(path), "not_image", f"not an image file (expected {'/'.join(IMAGE_SUFFIXES)})")
    try:
        with open_image(path) as img:
            img.load()
            actual_mode, actual_size, actual_format = img.mode, img.size, img.format
    except ImageTooLarge as err:
        return Problem(display_path(path), "too_large", str(err))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        return Problem(display_path(path), "unreadable", f"cannot be decoded as an image ({err})")
    expected = FORMATS[path.suffix.lower()]
    if actual_format != expected:
        return Problem(
            display_path(path),
            "wrong_format",
            f"holds {actual_format} data but is named {path.suffix} (expected {expected}; a lossy JPEG "
            "must not pass as a PNG: convert it, or name it by its format)",
        )
    if size is not None and actual_size != (size, size):
        return Problem(
            display_path(path), "bad_size", f"expected {size}x{size} pixels, got {actual_size[0]}x{actual_size[1]}"
        )
    if mode is not None and actual_mode != mode:
        return Problem(
            display_path(path), "bad_mode", f"expected 8-bit grayscale (PNG mode {mode}), got mode {actual_mode}"
        )
    return None


def scan(cfg: DataConfig) -> ScanResult:
    """Scan the configured source (`data.source`) and check it; see build_manifest."""
    root = _folder(cfg.dir, "data.dir", f" (data.source={cfg.source})")
    visible_root = _folder(cfg.visible_dir, "data.visible_dir") if cfg.visible_dir else None
    if visible_root:
        _separate_folders(cfg)
    if cfg.source == "triplets":
        files, pairs, visible = read_triplet_csvs(root)
    else:
        files, pairs, visible = list_files(root), None, {}
    if not files:
        raise DataError(
            f"data.dir: no images in '{cfg.dir}' (expected {NAME_PATTERN} files; "
            f"with data.source={cfg.source}, point data.dir at your data)"
        )
    visible_files = list_files(visible_root) if visible_root else []
    return build_manifest(
        files,
        cfg,
        pairs=pairs,
        visible=visible,
        visible_files=visible_files,
        root=None if cfg.source == "triplets" else root,
        visible_root=visible_root,
    )


def _separate_folders(cfg: DataConfig) -> None:
    """data.visible_dir and data.dir must not overlap: THz images would be taken as visible ones."""
    thz, visible = os.path.realpath(cfg.dir), os.path.realpath(cfg.visible_dir)
    if os.path.commonpath([thz, visible]) in (thz, visible):
        raise ConfigError(
            f"data.visible_dir ('{cfg.visible_dir}') and data.dir ('{cfg.dir}') overlap (the same folder, "
            "or one inside the other): THz images would be taken for visible ones; expected two separate folders"
        )


def _folder(value: str, key: str, context: str = "") -> Path:
    path = Path(value)
    if path.is_file():
        raise DataError(f"{key}: '{value}' is a file, expected a folder{context}")
    if not path.is_dir():
        raise DataError(f"{key}: folder '{value}' not found{context}")
    return path


def build_manifest(
    files: list[Path],
    cfg: DataConfig,
    pairs: dict[Path, Path] | None = None,
    visible: dict[Path, Path] | None = None,
    visible_files: list[Path] = (),
    root: Path | None = None,
    visible_root: Path | None = None,
) -> ScanResult:
    """Check THz files and pair them; return the manifest of usable images and every problem.

    `pairs` maps a concealed image to its unconcealed partner explicitly (triplet CSVs). For the
    others (and images that are only negatives there), the partner is the unconcealed image with
    the same identity, posture and sample, and no other (see _pair). `visible` maps THz paths to
    visible companions explicitly; otherwise companions are found in `visible_files` by the same
    parsed name.
    `root` and `visible_root` are the scanned folders: an identity is taken from folder names
    below them only. Raises DataError when `cfg.strict` and problems exist.
    """
    problems: list[Problem] = []
    parsed: dict[Path, ParsedName] = {}
    for path in files:
        problem = check_image(path, cfg.image_size, "L")
        if problem is None:
            try:
                parsed[path] = parse_name(path, root)
            except FileNameError as err:
                problem = Problem(display_path(path), "bad_name", str(err))
        if problem:
            problems.append(problem)
    parsed, dupes = _drop_duplicates(parsed)
    problems += dupes
    companions, vis_problems = _visible_companions(parsed, visible or {}, visible_files, visible_root)
    problems += vis_problems
    rejected = _rejected_keys(files, parsed, root)
    targets, pair_problems = _pair(parsed, pairs, rejected)
    problems += pair_problems
    for path in [p for p, n in parsed.items() if n.concealed and p not in targets]:
        del parsed[path]
    parsed, few = _drop_small_identities(parsed, cfg.min_pairs_per_identity)
    problems += few
    if problems and cfg.strict:
        raise DataError(
            f"{len(problems)} data problem(s) found (data.strict is true; set it to false to "
            "skip these files instead):",
            problems,
        )
    rows = []
    for path, name in parsed.items():
        target, exact = targets.get(path, (None, False))
        rows.append(
            {
                "path": display_path(path),
                "identity": name.identity,
                "posture": name.posture,
                "posture_name": POSTURES[name.posture],
                "concealed": name.concealed,
                "sample": name.sample,
                "target": display_path(target) if target else "",
                "pair_exact": bool(exact),
                "visible": display_path(companions[path]) if path in companions else "",
                "md5": file_md5(path),
                "visible_md5": file_md5(companions[path]) if path in companions else "",
            }
        )
    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    manifest = manifest.sort_values(["identity", "posture", "concealed", "sample"], kind="stable")
    return ScanResult(manifest=manifest.reset_index(drop=True), problems=problems)


def _drop_duplicates(parsed: dict[Path, ParsedName]):
    seen: dict[tuple, Path] = {}
    problems = []
    for path, name in list(parsed.items()):
        key = (*name.key, name.concealed)
        if key in seen:
            problems.append(
                Problem(
                    display_path(path),
                    "duplicate",
                    f"same identity, posture code and sample as '{display_path(seen[key])}'",
                )
            )
            del parsed[path]
        else:
            seen[key] = path
    return parsed, problems


def _visible_companions(parsed, explicit: dict[Path, Path], visible_files, visible_root: Path | None):
    """Visible image per THz path: explicit ones (CSV columns), else the same parsed name."""
    by_key = {}
    for path in visible_files:
        try:
            name = parse_name(path, visible_root)
        except FileNameError:
            continue  # unrelated files beside visible images are not THz data problems
        by_key[(*name.key, name.concealed)] = path
    companions, problems = {}, []
    for path, name in parsed.items():
        vis = explicit.get(path) or by_key.get((*name.key, name.concealed))
        if vis is None:
            continue
        problem = check_image(vis, None, None)
        if problem:
            problems.append(Problem(problem.path, "visible_" + problem.kind, problem.message))
        else:
            companions[path] = vis
    return companions, problems


def _rejected_keys(files, parsed, root) -> set[tuple]:
    """(identity, posture, sample) of unconcealed files that were rejected but whose names parse."""
    keys = set()
    for path in files:
        if path in parsed:
            continue
        try:
            name = parse_name(path, root)
        except (FileNameError, ValueError):
            continue
        if not name.concealed:
            keys.add(name.key)
    return keys


PAIRING_RULE = (
    "a concealed image pairs only with the unconcealed image of its own capture (same identity, posture and sample)"
)


def _pair(parsed: dict[Path, ParsedName], explicit: dict[Path, Path] | None, rejected: set[tuple] = frozenset()):
    """Target (unconcealed partner) per concealed image, and problems for those without one.
    Pairing is exact (PAIRING_RULE), or the positive a triplet CSV names: a stand-in from another
    capture would differ in pose and expression (a misaligned reconstruction target and a wrong
    verification positive), so a concealed image without its partner is a problem, never paired."""
    exact, samples = {}, defaultdict(list)
    for path, name in parsed.items():
        if not name.concealed:
            exact[name.key] = path
            samples[(name.identity, name.posture)].append(name.sample)
    targets, problems = {}, []
    for path, name in parsed.items():
        if not name.concealed:
            continue
        if explicit is not None and path in explicit:
            target, problem = _explicit_partner(path, name, explicit[path], parsed)
        elif name.key in exact:
            target, problem = (exact[name.key], True), None
        else:
            target, problem = None, _missing_partner(path, name, rejected, samples[(name.identity, name.posture)])
        if problem:
            problems.append(problem)
        else:
            targets[path] = target
    return targets, problems


def _explicit_partner(path: Path, name: ParsedName, partner: Path, parsed: dict[Path, ParsedName]):
    """(target, exact) from a triplet CSV's positive, or a problem when it is no usable unconcealed
    image of the same identity and posture (another sample is the CSV's own choice)."""
    p_name = parsed.get(partner)
    if p_name is None or p_name.concealed or (p_name.identity, p_name.posture) != (name.identity, name.posture):
        return None, Problem(
            display_path(path),
            "no_partner",
            f"its positive '{display_path(partner)}' is not a usable "
            f"unconcealed image of identity {name.identity}, posture {POSTURES[name.posture]}",
        )
    return (partner, p_name.sample == name.sample), None


def _missing_partner(path: Path, name: ParsedName, rejected: set[tuple], samples: list[str]) -> Problem:
    """Why a concealed image has no exact partner: rejected, another sample only, or none at all."""
    where = f"identity {name.identity} in posture {POSTURES[name.posture]}"
    if name.key in rejected:
        return Problem(display_path(path), "no_partner", "its unconcealed image of the same sample was rejected")
    if samples:
        return Problem(
            display_path(path),
            "no_exact_partner",
            f"no unconcealed partner {format_name(name.identity, name.posture, False, name.sample)}: "
            f"{PAIRING_RULE}; {where} has unconcealed sample(s) "
            f"{', '.join(repr(s) for s in sorted(samples))} but not '{name.sample}'",
        )
    return Problem(
        display_path(path),
        "no_partner",
        f"no unconcealed image (code n{name.posture + 1}n) of {where}",
    )


def _drop_small_identities(parsed: dict[Path, ParsedName], min_pairs: int):
    pairs = Counter(n.identity for n in parsed.values() if n.concealed)
    identities = {n.identity for n in parsed.values()}
    problems = []
    for ident in sorted(identities):
        if pairs[ident] < min_pairs:
            problems.append(
                Problem(
                    f"identity {ident}",
                    "few_images",
                    f"identity has {pairs[ident]} concealed/unconcealed "
                    f"pair(s), expected at least data.min_pairs_per_identity={min_pairs}",
                )
            )
    small = {p.path.removeprefix("identity ") for p in problems}
    return {p: n for p, n in parsed.items() if n.identity not in small}, problems


def summarise(manifest: pd.DataFrame) -> pd.DataFrame:
    """Counts per identity x posture: concealed, unconcealed and pairs with an exact sample match."""
    frame = manifest.assign(
        unconcealed=~manifest.concealed.astype(bool),
        exact=manifest.concealed.astype(bool) & manifest.pair_exact.astype(bool),
    )
    grouped = frame.groupby(["identity", "posture_name"], sort=True)
    summary = grouped.agg(
        concealed=("concealed", "sum"), unconcealed=("unconcealed", "sum"), exact_pairs=("exact", "sum")
    ).reset_index()
    order = {name: i for i, name in enumerate(POSTURES)}
    return summary.sort_values(
        ["identity", "posture_name"], key=lambda s: s.map(order) if s.name == "posture_name" else s
    )


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest or per-image table back with the column types the scanner wrote."""
    text = ("path", "identity", "posture_name", "sample", "target", "visible", "md5", "visible_md5")
    frame = pd.read_csv(path, dtype={c: str for c in text}, keep_default_na=False)
    missing = [c for c in MANIFEST_COLUMNS if c not in frame.columns]
    if missing == ["visible_md5"]:
        raise DataError(f"{path}: written by an older scan (no visible_md5 column); {RESCAN}")
    if missing:
        raise DataError(f"{path}: not a manifest, missing column(s) {', '.join(missing)}")
    for column in ("concealed", "pair_exact"):
        frame[column] = frame[column].astype(str).str.lower().eq("true")
    return frame


def data_counts(manifest: pd.DataFrame, problems: list[Problem], cfg: DataConfig) -> dict[str, int]:
    """What the scan found, for metrics/data.json (`dvc metrics diff` shows a data change).
    `outside_data_dir`: THz images not below data.dir (triplet CSVs may name them, a folder link
    may pull them in: allowed, but DVC does not see them change, so it is said). Real paths are
    compared, so a link inside data.dir to its parent cannot pass the neighbours off as inside."""
    concealed = manifest.concealed.astype(bool)
    root = os.path.realpath(cfg.dir)
    outside = [p for p in manifest.path if os.path.commonpath([root, os.path.realpath(p)]) != root]
    return {
        "images": int(len(manifest)),
        "concealed": int(concealed.sum()),
        "unconcealed": int((~concealed).sum()),
        "identities": int(manifest.identity.nunique()),
        "exact_pairs": int((concealed & manifest.pair_exact.astype(bool)).sum()),
        "with_visible": int((manifest.visible != "").sum()),
        "problems": int(len(problems)),
        "outside_data_dir": len(outside),
    }


def require_images(manifest: pd.DataFrame, problems: list[Problem], cfg: DataConfig, listed_in: Path) -> None:
    """A lenient scan that skipped every image must still stop: an empty manifest would only fail
    later, far from the cause. Raises DataError naming data.dir and the problems file."""
    if manifest.empty:
        raise DataError(
            f"data.dir: no usable image left in '{cfg.dir}': data.strict is false and every image was "
            f"skipped ({len(problems)} problem(s), listed in {listed_in})"
        )


def report_problems(problems: list[Problem], listed_in: Path, shown: int = 20) -> None:
    """Print what a non-strict scan skipped: counts per kind and the first `shown` problems."""
    if not problems:
        return
    kinds = Counter(p.kind for p in problems)
    print(f"skipped what {len(problems)} problem(s) concern (data.strict is false): {dict(sorted(kinds.items()))}")
    for problem in problems[:shown]:
        print(f"  - {problem}")
    if len(problems) > shown:
        print(f"  ... {len(problems) - shown} more in {listed_in}")
