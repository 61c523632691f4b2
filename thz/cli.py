"""Command-line plumbing shared by the stages: they take paths as flags, never hyperparameters
(those live in params.yaml, which DVC owns)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from thz.config import ConfigError
from thz.data.problems import DataError


def parse_paths(argv, *flags: str, description: str | None = None) -> argparse.Namespace:
    """Parse `--flag PATH` options, all required, plus `--params` (default params.yaml)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="parameters file")
    for flag in flags:
        parser.add_argument(flag, type=Path, required=True)
    return parser.parse_args(argv)


def run(main) -> None:
    """Run a stage's main(); configuration and data errors end with their message, not a traceback."""
    try:
        main()
    except (ConfigError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
