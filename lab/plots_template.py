"""An offline page template for `dvc plots show`: `python -m lab.plots_template`.

DVC's plots page loads vega, vega-lite and vega-embed from a CDN, so on a machine without internet
(an air-gapped lab with real THz data) its ROC, confusion and bar plots stay blank. This writes an
HTML template with local copies of the three libraries inline, for `--html-template`:

    npm pack vega@5 vega-lite@5 vega-embed@6      # once, anywhere with the npm registry
    for f in vega-*.tgz; do tar xzf $f --one-top-level; done
    python -m lab.plots_template --out plots_offline.html \\
        vega-5*/package/build/vega.min.js vega-lite-5*/package/build/vega-lite.min.js \\
        vega-embed-6*/package/build/vega-embed.min.js
    dvc plots show --html-template plots_offline.html    # or: dvc config plots.html_template ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

from thz.files import write_text

LIBRARIES = ("vega", "vega-lite", "vega-embed")  # the order they must load in
PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
{{refresh_tag}}
<title>DVC plots (offline)</title>
{libraries}
<style>table {{ border-spacing: 15px; }}</style>
</head>
<body>
{{plot_divs}}
</body>
</html>
"""


def build_template(scripts: dict[str, str]) -> str:
    """The page with each library inline, in load order; `{plot_divs}` is left for DVC to fill."""
    missing = [name for name in LIBRARIES if name not in scripts]
    if missing:
        raise ValueError(f"missing {missing}: give one .js file each for {list(LIBRARIES)}")
    for name, code in scripts.items():
        if "</script" in code.lower():
            raise ValueError(f"{name}: the script contains '</script', which would end the inline block")
        if "{plot_divs}" in code or "{scripts}" in code:
            raise ValueError(f"{name}: the script contains a DVC template placeholder")
    libraries = "\n".join(f"<script>/* {name} */\n{scripts[name]}\n</script>" for name in LIBRARIES)
    return PAGE.format(libraries=libraries)


def library_name(path: Path) -> str:
    """vega.min.js -> vega, vega-lite.min.js -> vega-lite, vega-embed.js -> vega-embed."""
    name = path.name.split(".")[0]
    if name not in LIBRARIES:
        raise ValueError(f"'{path}': expected one of {[f'{n}.min.js' for n in LIBRARIES]}")
    return name


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scripts", nargs=3, type=Path, help="vega, vega-lite and vega-embed .js files")
    parser.add_argument("--out", type=Path, required=True, help="the template to write")
    args = parser.parse_args(argv)
    try:
        scripts = {library_name(p): p.read_text(encoding="utf8") for p in args.scripts}
        write_text(args.out, build_template(scripts))
    except (OSError, ValueError) as err:
        parser.exit(2, f"error: {err}\n")
    print(f"wrote {args.out}: dvc plots show --html-template {args.out}")


if __name__ == "__main__":
    main()
