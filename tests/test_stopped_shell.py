"""A shell step stopped by Ctrl-C or `magnus stop` (trial 12, faults 6 and 12).

- Fault 6: `magnus show` and `magnus logs` said nothing of its interruption (a python step gets
  `interrupted at FILE:LINE in FUNC (SIGINT: the run was stopped)`): now `s: interrupted (SIGTERM: the run
  was stopped)` and the command that shows its output.
- Fault 12: in a parallel branch, its output file was in the catalog (`fan.shellhang.s.0.log` holding
  `sh-start`) but its attempt, recorded by the stop, did not point to it, and `magnus logs` said "no output
  recorded (the run log predates output capture)", which is false: the stop now records the attempt with
  the output its thread kept (runner._stopped_outputs).

Real runs in subprocesses, stopped by real signals, in a temporary git repository."""

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

SHELL = """dag:
  start_at: s
  steps:
    s: {type: task, command_type: shell, command: "echo starting training; touch started; sleep 30", next: success}
    success: {type: success}
    fail: {type: fail}
"""

FUNCS = """
import time
from pathlib import Path


def fails():
    raise ValueError("bad input")


def hangs():
    Path("hangs-started").touch()
    for i in range(6000):
        print(f"still waiting {i}", flush=True)
        time.sleep(0.05)
"""

PARALLEL = """dag:
  start_at: fan
  steps:
    fan:
      type: parallel
      next: success
      branches:
        fails:
          start_at: p
          steps:
            p: {type: task, command: parf.fails, next: success}
            success: {type: success}
            fail: {type: fail}
        hangs:
          start_at: p
          steps:
            p: {type: task, command: parf.hangs, next: success}
            success: {type: success}
            fail: {type: fail}
        shellhang:
          start_at: s
          steps:
            s: {type: task, command_type: shell, command: "echo sh-start; touch started; sleep 300", next: success}
            success: {type: success}
            fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
executor: {type: local, config: {max_workers: 3}}
"""


def _run_and_stop(project: Path, magnus: Any, run_id: str, how: str, ready: list[str]) -> int:
    """`magnus execute -f p.yaml --run-id run_id`, stopped by `how` (SIGINT, as Ctrl-C; `stop`: magnus stop)
    once every file of `ready` exists; its exit code."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", run_id],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "MAGNUS_STOP_GRACE": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 60
        while not all((project / name).exists() for name in ready):
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.02)
        time.sleep(0.3)  # (its output through the pipes)
        if how == "SIGINT":
            proc.send_signal(signal.SIGINT)
        else:
            stopped = magnus("stop", run_id)
            assert stopped.returncode == 0, stopped.stderr
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode


@pytest.mark.parametrize("how, code, name", [("SIGINT", 130, "SIGINT"), ("stop", 143, "SIGTERM")])
def test_a_stopped_shell_step_says_it_was_interrupted(
    git_repo: Path, magnus: Any, how: str, code: int, name: str
) -> None:
    (git_repo / "p.yaml").write_text(SHELL)
    assert _run_and_stop(git_repo, magnus, "sh", how, ["started"]) == code
    said = f"interrupted ({name}: the run was stopped)"
    shown = magnus("show", "sh").stdout.splitlines()
    at = shown.index(f"s: {said}")
    assert shown[at + 1] == "  all of it: magnus logs sh s", shown
    logs = magnus("logs", "sh", "s")
    assert logs.stdout == "starting training\n", logs
    assert f"magnus: s (attempt 0) {said}" in logs.stderr.splitlines(), logs.stderr


@pytest.mark.parametrize("how", ["SIGINT", "stop"])
def test_a_stopped_shell_step_in_a_parallel_branch_keeps_its_output(
    git_repo: Path, magnus: Any, how: str
) -> None:
    (git_repo / "parf.py").write_text(FUNCS)
    (git_repo / "p.yaml").write_text(PARALLEL)
    assert _run_and_stop(git_repo, magnus, "ph", how, ["started", "hangs-started"]) in (130, 143)
    log = json.loads((git_repo / ".run_log_store" / "ph.json").read_text())
    shell = log["steps"]["fan"]["branches"]["fan.shellhang"]["steps"]["fan.shellhang.s"]
    (attempt,) = shell["attempts"]
    assert attempt["status"] == "INTERRUPTED", attempt
    assert attempt["output"]["name"] == ".magnus/output/fan.shellhang.s.0.log", (
        attempt
    )  # its output, as recorded
    assert attempt["output"]["size"] >= len(b"sh-start\n"), attempt  # (and `Terminated`, said by sh)
    logs = magnus("logs", "ph", "fan.shellhang.s")
    assert logs.stdout.startswith("sh-start\n"), logs
    assert "predates output capture" not in logs.stderr, logs.stderr
    (view,) = json.loads(magnus("logs", "ph", "fan.shellhang.s", "--json").stdout)["attempts"]
    assert view["state"] == "kept" and view["text"].startswith("sh-start\n"), view
    whole = magnus("logs", "ph")
    assert "predates output capture" not in whole.stderr, whole.stderr
    assert "sh-start" in whole.stdout
    shown = magnus("show", "ph").stdout.splitlines()
    assert any(line.startswith("fan.shellhang.s: interrupted (") for line in shown), shown
