"""Exit functions a python step registers (atexit) no longer decide how magnus ends (trial 17 F2): one that
calls `os._exit(7)` made a SUCCESS run exit 7, one that sleeps hung magnus for ever after its summary. They
run guarded after the run, each given the stop grace; magnus's exit code is the run's, and it says what it
overrode or did not wait for. One that only prints still prints. Real runs in subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

STEPS = """
import atexit, os, time

def exits():
    atexit.register(lambda: os._exit(7))

def hangs():
    atexit.register(time.sleep, 3600)

def says():
    atexit.register(print, "goodbye from the step", flush=True)

def fails():
    atexit.register(lambda: os._exit(0))
    raise ValueError("bad batch")
"""


def _execute(project: Path, function: str) -> subprocess.CompletedProcess[str]:
    (project / "steps.py").write_text(STEPS)
    (project / f"{function}.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n"
        f"    a: {{type: task, command: steps.{function}, next: success}}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "MAGNUS_STOP_GRACE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "-f", f"{function}.yaml"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_exit_function_calling_os_exit_leaves_the_runs_exit_code(git_repo: Path) -> None:
    done = _execute(git_repo, "exits")
    assert done.returncode == 0, done.stderr  # (the old code: 7)
    assert (
        "magnus: an exit function (exits.<locals>.<lambda>) asked to exit with 7; magnus exits with the "
        "run's code, 0" in done.stderr.splitlines()
    ), done.stderr
    failed = _execute(git_repo, "fails")
    assert failed.returncode == 1, failed.stderr  # the run failed: os._exit(0) does not make it 0


def test_an_exit_function_that_never_returns_does_not_hang_magnus(git_repo: Path) -> None:
    done = _execute(git_repo, "hangs")  # (the old code: hung; the timeout raised)
    assert done.returncode == 0, done.stderr
    assert "Run " in done.stdout and "SUCCESS" in done.stdout
    assert (
        "magnus: an exit function (atexit, registered by a step or a library it used) has not returned "
        "after 1 s (MAGNUS_STOP_GRACE); magnus exits without waiting for it" in done.stderr.splitlines()
    ), done.stderr


def test_an_exit_function_that_prints_still_prints(git_repo: Path) -> None:
    done = _execute(git_repo, "says")
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().splitlines()[-1] == "goodbye from the step", done.stdout
