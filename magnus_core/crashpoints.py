"""Test-only: kill this process at a named window of a commit, to prove a kill there loses nothing.

The crash tests (tests/test_commit_point.py) set `MAGNUS_TEST_CRASH_AT` in a run's environment:

    MAGNUS_TEST_CRASH_AT=<window>             SIGKILL at the first step that reaches <window>
    MAGNUS_TEST_CRASH_AT=<window>@<step>      only for the step with that internal name

and the run dies there exactly as `kill -9` would kill it (no `finally`, no final write). Then a re-run
must compute what a clean run computes. The variable is read here and nowhere else; unset (always, outside
the tests), `crash_point` costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "MAGNUS_TEST_CRASH_AT"

# Every window a step's lifecycle passes through, in order (nodes/task.py, nodes/composite.py,
# rerun.py; the chunked-fs store's own between its parts).
WINDOWS = (
    "task:started",  # the PROCESSING step log is written, nothing has run
    "task:returned",  # the command returned; nothing it produced is recorded anywhere yet
    "task:put",  # the catalog put copied its files; no record names them yet
    "task:committed",  # the step's commit is written; `params` not yet updated in memory
    "store:step-part",  # chunked-fs: the step's part is renamed in; the run's parameters not rewritten
    "composite:branches",  # every branch ended; the composite's fan-in not yet written
    "composite:committed",  # the composite's commit (status and merged parameters) is written
    "rerun:reused",  # a reused step is written in the new run; its parameters not yet applied
)


_KEY = os.fsencode(ENV)


def crash_point(window: str, step: str = "") -> None:
    """SIGKILL this process if MAGNUS_TEST_CRASH_AT names `window` (and `step`, when it names one)."""
    # (os.environ's encoded mapping on POSIX: a run passes four of these per step, and os.environ.get
    # encodes the name and decodes the value each time)
    data = getattr(os.environ, "_data", None)
    if isinstance(data, dict) and os.name == "posix" and not data.get(_KEY):
        return
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    name, _, only = wanted.partition("@")
    if name == window and (not only or only == step):
        os.kill(os.getpid(), signal.SIGKILL)
