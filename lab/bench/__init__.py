"""Speed and memory measurements, each run from the repository root as `python -m lab.bench.NAME`;
they print numbers, and with --json write a labelled record under lab/records/ (docs/performance.md)."""
