"""`magnus logs RUN --follow` says how each failed attempt failed as it ends, and which steps never ran at
the end, as plain `magnus logs` does (trial 14 fault 1: following said only `run R ended FAIL: ...`; the
person at the second terminal needs `train (attempt 0) failed: ...` when the attempt ends, before its
retry)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from tests.conftest import ROOT, run_magnus

STEPS = """
import os, time

def train():
    print("training", flush=True)
    if not os.path.exists("tried"):
        open("tried", "w").close()
        raise MemoryError("out of memory, first try")
    while not os.path.exists("go"):
        time.sleep(0.05)
    raise MemoryError("out of memory, second try")
"""

PIPELINE = """
dag:
  start_at: train
  steps:
    train: {type: task, command: steps.train, retry: 2, next: report}
    report: {type: task, command_type: shell, command: echo report, next: success}
    success: {type: success}
    fail: {type: fail}
"""

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200"}


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "magnus_core", *args],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_following_says_each_failed_attempt_as_it_ends_and_what_never_ran(git_repo: Path) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    run = _start("execute", "-f", "p.yaml", "--run-id", "r")
    follow = _start("logs", "r", "--follow")
    # (should the line never come, the second attempt is let go after 30 s, so nothing waits for ever)
    guard = threading.Timer(30, (git_repo / "go").touch)
    guard.start()
    try:
        assert follow.stderr is not None
        line = follow.stderr.readline()
        while "waiting for run" in line:
            line = follow.stderr.readline()
        # the first attempt's failure, said while the second attempt still runs (it waits for `go`)
        assert line.startswith("magnus: train (attempt 0) failed: MemoryError: out of memory, first try, at ")
        assert "steps.py:" in line
        assert run.poll() is None
        (git_repo / "go").touch()
        out, err = follow.communicate(timeout=60)
        run.communicate(timeout=60)
    finally:
        guard.cancel()
        for proc in (run, follow):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert follow.returncode == 1
    lines = err.splitlines()
    assert lines[0].startswith(
        "magnus: train (attempt 1) failed: MemoryError: out of memory, second try, at "
    )
    assert "magnus: never ran (not reached before the run ended FAIL): report" in lines
    assert lines[-1].startswith("run r ended FAIL: train: MemoryError")
    assert out.count("training") == 2
    # the same lines as `magnus logs r` says once the run has ended
    plain = run_magnus("logs", "r", cwd=git_repo).stderr.splitlines()
    assert [x for x in plain if x.startswith("magnus:")] == [
        line.rstrip("\n"),
        *[x for x in lines if x.startswith("magnus:")],
    ]


def test_following_one_step_that_may_retry_heads_every_attempt(git_repo: Path) -> None:
    """Trial 16 F9: `magnus logs R STEP --follow` of a retried step headed attempts 1 and 2 but printed
    attempt 0 bare (a heading cannot be put before what was printed already): a step whose `retry` allows
    more than one attempt is headed from attempt 0 on, as `magnus logs R STEP` heads them once it ended. A
    step with one attempt allowed is still printed as written."""
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    (git_repo / "go").touch()
    run = _start("execute", "-f", "p.yaml", "--run-id", "r")
    follow = _start("logs", "r", "train", "--follow")
    try:
        out, err = follow.communicate(timeout=90)
        run.communicate(timeout=90)
    finally:
        for proc in (run, follow):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert follow.returncode == 1, err
    assert out.startswith("==> train (attempt 0) <==\ntraining\n"), out
    assert "==> train (attempt 1) <==\ntraining\n" in out
    plain = run_magnus("logs", "r", "train", cwd=git_repo).stdout
    assert plain.startswith("==> train (attempt 0) <==\ntraining\n"), plain
    (git_repo / "q.yaml").write_text(PIPELINE.replace(", retry: 2", ""))
    run = _start("execute", "-f", "q.yaml", "--run-id", "once")
    follow = _start("logs", "once", "train", "--follow")
    out, _ = follow.communicate(timeout=90)
    run.communicate(timeout=90)
    assert out.startswith("training\n"), out  # one attempt: as it was written, no heading
