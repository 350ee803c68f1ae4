"""`magnus logs` of a step that is still running says so (trial 22): it printed the output so far, exit 0,
nothing on stderr, and `--json` called it `the attempt did not finish: its output up to then`, a crash's
words. Now a line on stderr says the step is still running and gives the `--follow` command, and `--json`'s
problem says `still running`. A real `magnus execute` in the background, in a temporary git repo."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from tests.conftest import start_magnus

PIPELINE = """dag:
  start_at: c
  steps:
    c: {type: task, command_type: shell, command: "echo slow start; sleep 60; echo slow end", next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_logs_of_a_running_step_says_it_still_runs(git_repo: Path, magnus: Any) -> None:
    (git_repo / "sh.yaml").write_text(PIPELINE)
    running = start_magnus("execute", "-f", "sh.yaml", "--run-id", "sh2", cwd=git_repo)
    try:
        deadline = time.monotonic() + 60
        shown = magnus("logs", "sh2", "c")
        while "slow start" not in shown.stdout and time.monotonic() < deadline:
            time.sleep(0.2)
            shown = magnus("logs", "sh2", "c")
        assert shown.returncode == 0 and shown.stdout == "slow start\n", shown.stdout + shown.stderr
        assert shown.stderr.splitlines() == [
            "magnus: c (attempt 0) is still running; magnus logs sh2 c --follow keeps reading"
        ], shown.stderr
        (attempt,) = json.loads(magnus("logs", "sh2", "c", "--json").stdout)["attempts"]
        assert attempt["problem"] == "the attempt is still running: its output so far", attempt
    finally:
        os.killpg(running.pid, 9)
        running.wait(10)
