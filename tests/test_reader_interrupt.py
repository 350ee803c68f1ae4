"""Ctrl-C or SIGTERM on a command that only reads a run (`magnus logs --follow`, `magnus logs`, `magnus show`)
stops that command and nothing else: it never says the run was marked INTERRUPTED (trial 14 fault 18: every
command said "Interrupted: the run is marked INTERRUPTED." and the run it read went on, someone watching a
colleague's run would believe they had stopped it). Following says `stopped following R (the run goes on)`;
the other readers say nothing; the exit code is 130 (SIGINT) or 143 (SIGTERM)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(not Path("/proc/self/wchan").exists(), reason="needs Linux's /proc")

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "120"}

# 3 parameters of 60 KB (each under the 128 KB limit of one environment variable) make the run log larger
# than a pipe's buffer; the step prints 300 KB: a reader whose stdout is not read blocks writing them.
BIG = """
dag:
  start_at: a
  steps:
    a: {type: task, command_type: shell, command: "head -c 300000 /dev/zero | tr '\\\\0' x; echo", next: success}
    success: {type: success}
    fail: {type: fail}
"""

# The step prints, then waits until the test creates `go`: a run that goes on while it is followed.
WAITING = """
dag:
  start_at: a
  steps:
    a: {type: task, command_type: shell, command: "echo started; while [ ! -e go ]; do sleep 0.05; done; echo done", next: success}
    success: {type: success}
    fail: {type: fail}
"""


PARAMS = ("--parameters-file", "params.yaml")


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "magnus_core", *args],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _blocked_writing(proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Until `proc` waits for its stdout's reader (a full pipe nobody reads): well inside its command."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if "pipe_write" in Path(f"/proc/{proc.pid}/wchan").read_text():
                return
        except OSError:
            pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("the command never filled its stdout")


@pytest.fixture
def big_run(git_repo: Path) -> Path:
    (git_repo / "p.yaml").write_text(BIG)
    (git_repo / "params.yaml").write_text("".join(f"p{i}: {'y' * 60000}\n" for i in range(3)))
    done = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "big", *PARAMS],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return git_repo


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("command", [("show", "big", "--json"), ("logs", "big", "a"), ("logs", "big")])
def test_stopping_a_reader_says_nothing_of_the_run(
    big_run: Path, command: tuple[str, ...], sig: int, code: int
) -> None:
    proc = _start(*command)
    _blocked_writing(proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert "INTERRUPTED" not in err and "Interrupted" not in err and "Traceback" not in err, err
    assert err == ""  # a reader stopped: nothing to say
    log = json.loads((big_run / ".run_log_store" / "big.json").read_text())
    assert log["status"] == "SUCCESS"


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_stopping_a_follow_leaves_the_run_going(git_repo: Path, sig: int, code: int) -> None:
    (git_repo / "p.yaml").write_text(WAITING)
    run = _start("execute", "-f", "p.yaml", "--run-id", "r")
    try:
        follow = _start("logs", "r", "--follow")
        assert follow.stdout is not None
        seen = [follow.stdout.readline() for _ in range(2)]  # the run's heading, then the step's first line
        assert seen == ["==> a (attempt 0) <==\n", "started\n"]  # following: it came through
        follow.send_signal(sig)
        _, err = follow.communicate(timeout=30)
        assert follow.returncode == code, err
        assert "stopped following r (the run goes on)" in err
        assert "INTERRUPTED" not in err and "Interrupted" not in err and "Traceback" not in err, err
        assert run.poll() is None  # the run was not touched
        (git_repo / "go").touch()
        _, run_err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 0, run_err
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert log["status"] == "SUCCESS"
    assert "done\n" in (git_repo / ".catalog" / "r" / ".magnus" / "output" / "a.0.log").read_text()


def test_stopping_a_wait_for_a_run_says_so(git_repo: Path) -> None:
    """`--follow` of a run not created yet waits for it; Ctrl-C then stops waiting (no run to speak of)."""
    proc = _start("logs", "nothing-yet", "--follow", "--wait", "60")
    assert proc.stderr is not None
    assert "waiting for run nothing-yet" in proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.strip() == "stopped waiting for run nothing-yet"
