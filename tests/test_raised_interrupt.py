"""A step raising KeyboardInterrupt itself fails that step; a real SIGINT or SIGTERM stops the run.

Trial 10, fault 2: `raise KeyboardInterrupt("...")` in a step stopped the whole run as Ctrl-C does (exit
130, no summary, on_failure not followed), while docs/logs.md says an exception of any kind fails its step.
The signal handlers count the signals that arrive (magnus_core/interrupts.py); an attempt that sees a
KeyboardInterrupt with no signal since it began fails like any exception. End to end with real processes
and real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, git

STEPS = """
import time
from pathlib import Path


def ki():
    print("before ki")
    raise KeyboardInterrupt("user code raised it")


def handler():
    print("on failure handler")


def waits():
    Path("started").touch()
    time.sleep(30)


def catches():
    Path("started").touch()
    try:
        time.sleep(30)
    except KeyboardInterrupt:
        print("cleaning up")
        raise KeyboardInterrupt("stopped while cleaning up")
"""

RAISES = """
dag:
  start_at: ki
  steps:
    ki: {type: task, command: ki_steps.ki, next: success, on_failure: handler}
    handler: {type: task, command: ki_steps.handler, next: fail}
    success: {type: success}
    fail: {type: fail}
"""

WAITS = """
dag:
  start_at: w
  steps:
    w: {type: task, command: ki_steps.COMMAND, next: success, on_failure: handler}
    handler: {type: task, command: ki_steps.handler, next: fail}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "ki_steps.py").write_text(STEPS)
    (git_repo / "raises.yaml").write_text(RAISES)
    for command in ("waits", "catches"):
        (git_repo / f"{command}.yaml").write_text(WAITS.replace("COMMAND", command))
    (git_repo / "nothing-kept.yaml").write_text("catalog:\n  type: do-nothing\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "steps")
    return git_repo


def read(project: Path, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project / ".run_log_store" / f"{run_id}.json").read_text())
    return data


def test_a_step_raising_keyboard_interrupt_fails_and_the_run_goes_on(project: Path, magnus: Any) -> None:
    done = magnus("execute", "--file", "raises.yaml", "--run-id", "raised")
    assert done.returncode == 1, done.stderr  # a failed run, not an interrupted one (130)
    assert "Interrupted" not in done.stderr
    assert "ki: KeyboardInterrupt: user code raised it" in done.stdout
    assert "at ki_steps.py:8 in ki" in done.stdout  # located, as any exception
    assert "on failure handler" in done.stderr + done.stdout  # on_failure followed
    log = read(project, "raised")
    assert log["status"] == "FAIL"
    step = log["steps"]["ki"]
    assert step["status"] == "FAIL" and step["attempts"][0]["error"]["type"] == "KeyboardInterrupt"
    assert log["steps"]["handler"]["status"] == "SUCCESS"
    logs = magnus("logs", "raised", "ki")
    assert "KeyboardInterrupt: user code raised it" in logs.stdout  # its traceback ends the kept output
    assert (
        "ki (attempt 0) failed: KeyboardInterrupt: user code raised it, at ki_steps.py:8 in ki" in logs.stderr
    )


@pytest.mark.parametrize("config", [None, "nothing-kept.yaml"])
def test_the_per_step_entry_point_fails_the_step_too(project: Path, magnus: Any, config: str | None) -> None:
    """`magnus execute_single_node` runs a step through nodes/task, or, when the catalog keeps no output,
    through its own fast path (single_plain): both fail the step, exit 1."""
    extra = ("-c", config) if config else ()
    done = magnus("execute_single_node", "one", "ki", "-f", "raises.yaml", *extra)
    assert done.returncode == 1, done.stderr
    assert "Interrupted" not in done.stderr
    assert "KeyboardInterrupt: user code raised it" in done.stderr
    step = read(project, "one")["steps"]["ki"]
    assert step["status"] == "FAIL" and step["attempts"][0]["status"] == "FAIL"


def start(project: Path, pipeline: str, run_id: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", pipeline, "--run-id", run_id],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 30
    while time.time() < deadline and not (project / "started").exists():  # the python step is running
        time.sleep(0.02)
    time.sleep(0.1)
    return proc


@pytest.mark.parametrize(
    ("pipeline", "sig", "code"),
    [
        ("waits.yaml", signal.SIGINT, 130),
        ("waits.yaml", signal.SIGTERM, 143),
        # the step catches Ctrl-C and raises a KeyboardInterrupt of its own: the signal came, the run stops
        ("catches.yaml", signal.SIGINT, 130),
    ],
)
def test_a_real_signal_in_a_python_step_still_stops_the_run(
    project: Path, pipeline: str, sig: int, code: int
) -> None:
    proc = start(project, pipeline, "stopped")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "INTERRUPTED" in err
    log = read(project, "stopped")
    assert log["status"] == "INTERRUPTED"
    step = log["steps"]["w"]
    assert step["status"] == "INTERRUPTED"
    assert "handler" not in log["steps"]  # a stop is not a failure: on_failure is not followed
