"""Pydantic models: the pipeline file and the run log."""

# What a run's status or state can be, as `magnus runs --status` and `--where "status = ..."` match them
# (here, not in run_log.py, so that shell completion and --help need not import pydantic to know them).
RUN_STATES = ("SUCCESS", "FAIL", "RUNNING", "INTERRUPTED", "PROCESSING", "BROKEN")
