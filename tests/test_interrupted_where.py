"""A python step stopped by Ctrl-C, SIGTERM or `magnus stop` keeps where its code was (trial 11, fault
2): its attempt's `error` holds the interruption's frames (the user's code), its output ends with the
traceback, and `magnus show` / `magnus logs` say `interrupted at steps.py:LINE in train`. The run is still
INTERRUPTED and the exit code 130 / 143. Real runs in subprocesses, in a temporary git repository."""

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

from tests.conftest import ROOT

STEPS = """
import pathlib
import time


def train():
    pathlib.Path("started").touch()
    for i in range(400):
        print(f"sleepy {i}", flush=True); time.sleep(0.05)  # (one line: a signal may come in either)
"""

LIVE = """
dag:
  start_at: s1
  steps:
    s1: {type: task, command: steps.train, next: s2}
    s2: {type: task, command: steps.train, next: success}
    success: {type: success}
    fail: {type: fail}
"""

BODY = 'print(f"sleepy {i}", flush=True); time.sleep(0.05)'
LINE = next(n for n, line in enumerate(STEPS.splitlines(), 1) if line.strip().startswith(BODY))


def _start(project: Path, run_id: str) -> subprocess.Popen[str]:
    (project / "steps.py").write_text(STEPS)
    (project / "live.yaml").write_text(LIVE)
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "live.yaml", "--run-id", run_id],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 30
    while time.time() < deadline and not (project / "started").exists():
        time.sleep(0.02)
    time.sleep(0.3)  # (in its loop)
    return proc


# the traceback's last line, in the user's words (session 12: `magnus_core.errors.Terminated` read as
# magnus's internals)
BY_CTRL_C = "KeyboardInterrupt: the run was stopped by Ctrl-C (SIGINT)"
BY_STOP = "Terminated: the run was stopped by SIGTERM (magnus stop, x in the workbench, or kill)"


@pytest.mark.parametrize(
    "how, code, name, raised, last",
    [
        ("SIGINT", 130, "SIGINT", "KeyboardInterrupt", BY_CTRL_C),
        ("stop", 143, "SIGTERM", "Terminated", BY_STOP),
    ],
)
def test_an_interrupted_python_step_keeps_where_it_was(
    git_repo: Path, magnus: Any, how: str, code: int, name: str, raised: str, last: str
) -> None:
    proc = _start(git_repo, "r")
    try:
        if how == "SIGINT":
            proc.send_signal(signal.SIGINT)
        else:
            stopped = magnus("stop", "r")
            assert stopped.returncode == 0, stopped.stderr
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code

    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert log["status"] == "INTERRUPTED"
    (attempt,) = log["steps"]["s1"]["attempts"]
    assert attempt["status"] == "INTERRUPTED"
    assert attempt["message"] == f"interrupted by {name}: the run was stopped"
    error = attempt["error"]
    assert error["type"] == raised, error
    assert error["frames"][-1] == {
        "file": "steps.py",
        "line": LINE,
        "function": "train",
        "text": BODY + "  # (one line: a signal may come in either)",
    }
    where = f"interrupted at steps.py:{LINE} in train ({name}: the run was stopped)"

    shown = magnus("show", "r")
    assert f"s1: {where}" in shown.stdout.splitlines(), shown.stdout
    assert "  all of it: magnus logs r s1" in shown.stdout.splitlines()

    logs = magnus("logs", "r", "s1")
    assert f"magnus: s1 (attempt 0) {where}" in logs.stderr.splitlines(), logs.stderr
    assert "Traceback (most recent call last):" in logs.stdout  # as python prints it on Ctrl-C
    # its last line says what stopped it, in the user's words, in the output file as in `magnus logs`
    assert logs.stdout.rstrip().splitlines()[-1] == last, logs.stdout
    assert "magnus_core" not in logs.stdout, logs.stdout
    kept = (git_repo / ".catalog" / "r" / ".magnus" / "output" / "s1.0.log").read_text()
    assert kept.rstrip().splitlines()[-1] == last, kept


def test_a_shell_step_interrupted_records_no_frames(git_repo: Path, magnus: Any) -> None:
    """A shell step's code is no python: magnus's own frames are not the user's, so none are recorded."""
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n"
        '    a: {type: task, command_type: shell, command: "touch started; sleep 20", next: success}\n'
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "sh"],
        cwd=git_repo,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 30
    while time.time() < deadline and not (git_repo / "started").exists():
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    (attempt,) = json.loads((git_repo / ".run_log_store" / "sh.json").read_text())["steps"]["a"]["attempts"]
    assert attempt["status"] == "INTERRUPTED" and attempt.get("error") is None, attempt
    assert "interrupted at" not in magnus("show", "sh").stdout
