"""A run read as it ends reads as it ended, in every line of one command's output (CI, session 12: `magnus
logs R STEP --follow` of a run that ended within 200 ms of its start said 'step train never ran in run R:
the run ended INTERRUPTED before it': the log was read PROCESSING, then the process ended, then its pid was
looked at). runs.settled reads a log once more when its process is found gone, and keeps on the copy what
it found, so later looks at the same copy agree with the first."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT

STEPS = """
import os, time

def train():
    print("training", flush=True)
    while not os.path.exists("go"):
        time.sleep(0.02)
    raise MemoryError("out of memory")
"""

PIPELINE = """
dag:
  start_at: train
  steps:
    train: {type: task, command: steps.train, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def _running(git_repo: Path) -> subprocess.Popen[bytes]:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "r"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    from magnus_core.runs import store_from_config

    store = store_from_config(None)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the step is running
        try:
            if store.get_run("r").find_step("train") is not None:
                return run
        except Exception:
            pass
        time.sleep(0.05)
    run.kill()
    raise AssertionError("the run never began its step")


def test_a_log_read_before_its_process_ended_it_is_read_again(git_repo: Path) -> None:
    from magnus_core.runs import run_state, settled, store_from_config

    run = _running(git_repo)
    store = store_from_config(None)
    stale = store.get_run("r")  # read while it runs
    assert stale.status == "PROCESSING"
    (git_repo / "go").touch()
    assert run.wait(timeout=60) == 1
    assert run_state(stale) == "INTERRUPTED"  # the copy alone: PROCESSING, and its process gone
    read = settled(store, stale)
    assert read.status == "FAIL" and run_state(read) == "FAIL"


def test_every_look_at_one_copy_reads_the_run_as_it_was_when_read(git_repo: Path) -> None:
    from magnus_core.logs import run_now
    from magnus_core.runs import get_typed_run, run_state, store_from_config

    run = _running(git_repo)
    store = store_from_config(None)
    copy = get_typed_run(store, "r")  # settled: its process alive when read
    assert run_state(copy) == "RUNNING"
    (git_repo / "go").touch()
    assert run.wait(timeout=60) == 1
    # the process ended since: this copy still reads RUNNING, never INTERRUPTED (it was not: it ended FAIL)
    assert run_state(copy) == "RUNNING" and run_now(copy) == "RUNNING"
    assert run_state(get_typed_run(store, "r")) == "FAIL"  # a fresh read says how it ended
