"""The lab: what the studies and the documentation are made with, and no result of the pipeline
depends on. Sweeps (specs in lab/sweeps/, the runner lab.sweep), the generated tables in README.md
and docs/ (lab.tables, with --check), the bench scripts (lab/bench/) and their records, the sweeps'
records and earlier reference runs (lab/records/). It imports the library (thz); neither thz nor
any stage imports it, so a change here re-runs no stage."""
