"""Pydantic models: the pipeline file and the run log.

This package's own module holds constants only (no model, no pydantic): shell completion, `--help` and the
runs listing read them without importing the models.
"""

# A run's or a step's recorded status (run_log.py re-exports them). INTERRUPTED is ours: a run stopped by a
# signal (SIGINT/SIGTERM) says so explicitly; a run killed outright stays PROCESSING and is recognised by its
# dead process (see runs.run_state).
CREATED = "CREATED"
PROCESSING = "PROCESSING"
SUCCESS = "SUCCESS"
FAIL = "FAIL"
TRIGGERED = "TRIGGERED"
INTERRUPTED = "INTERRUPTED"
FINISHED = frozenset({SUCCESS, FAIL, INTERRUPTED})

# What a run's status or state can be, as `magnus runs --status` and `--where "status = ..."` match them
# (here, not in run_log.py, so that shell completion and --help need not import pydantic to know them).
# PER-STEP: a run recorded as running that is driven one step per process (runs.list_state).
RUN_STATES = ("SUCCESS", "FAIL", "RUNNING", "PER-STEP", "INTERRUPTED", "PROCESSING", "BROKEN")
