"""An os.exec* function called by a python step would replace the process the whole run runs in: magnus
refuses it (stepguard.ExecRefused), the step fails where it called it, and the run goes on (trial 23 F1:
`os.execvp("sh", ...)` in a step made `magnus execute` exit with the shell's code, 0, printing no summary,
the run log left PROCESSING and `on_failure` never followed). A child the step forked execs as asked."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_magnus

STEPS = """
import os, sys

def exec_p():
    print("about to exec", flush=True)
    os.execvp("sh", ["sh", "-c", "echo the shell replaced the run; exit 0"])

def exec_e():
    os.execle("/bin/sh", "sh", "-c", "exit 5", {"PATH": "/bin"})

def forked():
    pid = os.fork()
    if pid == 0:
        os.execv("/bin/sh", ["sh", "-c", "echo the forked child execd; exit 3"])
    _, status = os.waitpid(pid, 0)
    print("child exit", os.waitstatus_to_exitcode(status))

def after():
    print("the run went on")
"""

PIPELINE = """
dag:
  start_at: exec p
  steps:
    exec p: {type: task, command: steps.exec_p, next: success, on_failure: exec e}
    exec e: {type: task, command: steps.exec_e, next: success, on_failure: forked}
    forked: {type: task, command: steps.forked, next: after}
    after: {type: task, command: steps.after, next: fail}
    success: {type: success}
    fail: {type: fail}
"""


def test_exec_in_a_step_fails_the_step_and_the_run_goes_on(git_repo: Path) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    done = run_magnus("execute", "-f", "p.yaml", "--run-id", "r", cwd=git_repo)
    assert done.returncode == 1, done.stdout + done.stderr  # the run reached its fail node, not exit 0 or 5
    assert "the shell replaced the run" not in done.stdout.splitlines()  # (the shell never ran)
    assert "Run r: FAIL" in done.stdout
    assert "exec p: ExecRefused: the step called os.exec* to run 'sh'" in done.stdout
    assert "at steps.py:6 in exec_p" in done.stdout
    assert "child exit 3" in done.stdout and "the run went on" in done.stdout
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert log["status"] == "FAIL"
    steps = log["steps"]
    assert [steps[name]["status"] for name in ("exec p", "exec e", "forked", "after")] == [
        "FAIL",
        "FAIL",
        "SUCCESS",
        "SUCCESS",
    ]
    error = steps["exec e"]["attempts"][0]["error"]
    assert error["type"] == "ExecRefused" and "to run 'sh'" in error["message"]
    assert error["frames"][-1]["file"] == "steps.py" and error["frames"][-1]["line"] == 9
