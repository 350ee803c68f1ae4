"""A run killed with `kill -9` while a step ran (trial 11, fault 11): `magnus show` said `0` attempts and
the workbench's Step tab `Attempts: none`, while `magnus logs` showed that attempt's output. Now the
attempt reads as what it was, begun and cut short, in `magnus show` (counted, with the command that shows
its output), `magnus logs` (a line saying so) and the workbench's view of the run. A real run in a
subprocess, killed with SIGKILL, in a temporary git repository."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from magnus_core.models.run_log import RunLog

ROOT = Path(__file__).resolve().parents[1]

STEPS = """
import time


def s1():
    for i in range(600):
        print(f"sleepy {i}", flush=True)
        time.sleep(0.1)
"""

PIPELINE = """dag:
  start_at: s1
  steps:
    s1: {type: task, command: live.s1, next: s2}
    s2: {type: task, command: live.s1, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_killed_runs_step_reads_as_an_attempt_cut_short(git_repo: Path, magnus: Any) -> None:
    (git_repo / "live.py").write_text(STEPS)
    (git_repo / "live.yaml").write_text(PIPELINE)
    # it has printed: then kill it
    _killed_run(git_repo, magnus, "killed", lambda: "sleepy 3" in magnus("logs", "killed", "s1").stdout)
    shown = magnus("show", "killed").stdout.splitlines()
    row = next(line.split() for line in shown if line.startswith("s1 "))
    assert row[2:5] == ["INTERRUPTED", "(PROCESSING)", "1"], shown  # the attempt begun is counted
    at = shown.index("s1: attempt 0 was cut short: the run's process ended while it ran")
    assert shown[at + 1] == "  its output until then: magnus logs killed s1", shown
    logs = magnus("logs", "killed")
    assert "sleepy 3" in logs.stdout
    assert "magnus: s1 (attempt 0) was cut short: the run's process ended while it ran" in logs.stderr
    # the workbench's view of the run: the attempt, not `Attempts: none`
    from magnus_core.models.run_log import RunLog
    from magnus_tui.view import RunView

    log = RunLog.model_validate(json.loads((git_repo / ".run_log_store" / "killed.json").read_text()))
    view = RunView.from_runlog(log, "INTERRUPTED")
    row_s1 = view.rows["s1"]
    assert row_s1.status == "INTERRUPTED" and row_s1.cut_attempt is not None and row_s1.cut_attempt[0] == 0
    assert row_s1.running_since is None  # not ticking as if it still ran
    assert "attempt 0" in row_s1.message and "Output (o)" in row_s1.message


QUIET = """
import time


def s1():
    time.sleep(600)
"""


def _killed_run(git_repo: Path, magnus: Any, run_id: str, ready: Any) -> None:
    """Start `magnus execute -f live.yaml --run-id run_id` in a session of its own and kill -9 it once
    `ready()` is true (its step is running)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    run = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "live.yaml", "--run-id", run_id],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready():
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.2)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()


def test_logs_json_says_an_attempt_was_cut_short(git_repo: Path, magnus: Any) -> None:
    """Session 9, fault 1: `magnus logs RUN --json` had no field saying an attempt was cut short (only its
    status INTERRUPTED, which Ctrl-C gives too): `cut_short` is true for it, false for a finished one."""
    (git_repo / "live.py").write_text(STEPS)
    (git_repo / "live.yaml").write_text(PIPELINE)
    _killed_run(git_repo, magnus, "killed", lambda: "sleepy 3" in magnus("logs", "killed", "s1").stdout)
    shown = json.loads(magnus("logs", "killed", "--json").stdout)
    (attempt,) = shown["attempts"]
    assert attempt["step"] == "s1" and attempt["attempt"] == 0 and attempt["status"] == "INTERRUPTED"
    assert attempt["cut_short"] is True and "sleepy 3" in attempt["text"], attempt
    assert shown["never_ran"] == ["s2"]
    # a finished attempt is not cut short
    (git_repo / "done.yaml").write_text(
        "dag:\n  start_at: s\n  steps:\n    s: {type: task, command: echo hi, command_type: shell, next: success}\n    success: {type: success}\n    fail: {type: fail}\n"
    )
    assert magnus("execute", "-f", "done.yaml", "--run-id", "done").returncode == 0
    (done,) = json.loads(magnus("logs", "done", "--json").stdout)["attempts"]
    assert done["cut_short"] is False and done["status"] == "SUCCESS", done


def test_an_attempt_cut_short_before_its_output_reached_a_file_is_still_shown(
    git_repo: Path, magnus: Any
) -> None:
    """A step killed before any of its output reached its file (it printed nothing): `magnus show` counted
    its attempt and printed `its output until then: magnus logs R s1`, and that command printed nothing at
    all, exit 0 (and --json listed no attempt). Now logs says the attempt was cut short, --json lists it,
    and show says none of its output reached its file in place of that command (trial 13 fault 5)."""
    (git_repo / "live.py").write_text(QUIET)
    (git_repo / "live.yaml").write_text(PIPELINE)
    store = git_repo / ".run_log_store" / "quiet.json"

    def running() -> bool:  # s1 has begun: its log says PROCESSING, since when
        try:
            s1 = json.loads(store.read_text())["steps"]["s1"]
        except (OSError, ValueError, KeyError):
            return False
        return s1["status"] == "PROCESSING" and bool(s1.get("start_time"))

    _killed_run(git_repo, magnus, "quiet", running)
    shown = magnus("show", "quiet").stdout.splitlines()
    assert "s1: attempt 0 was cut short: the run's process ended while it ran" in shown, shown
    at = shown.index("s1: attempt 0 was cut short: the run's process ended while it ran")
    # no command pointing to output that is not there (trial 13 fault 5): said where the hint was
    assert shown[at + 1] == "  none of its output reached its file", shown
    said = "magnus: s1 (attempt 0) was cut short: the run's process ended while it ran; none of its output "
    for args in (["logs", "quiet", "s1"], ["logs", "quiet"], ["logs", "quiet", "s1", "--attempt", "0"]):
        done = magnus(*args)
        assert done.returncode == 0 and said in done.stderr, (args, done.stderr)
        assert "printed nothing" not in done.stderr, done.stderr
    (attempt,) = json.loads(magnus("logs", "quiet", "--json").stdout)["attempts"]
    assert attempt["cut_short"] is True and attempt["status"] == "INTERRUPTED" and attempt["text"] is None


def test_a_killed_runs_duration_is_not_its_last_writes_time(git_repo: Path, magnus: Any) -> None:
    """Trial 12 (fault 5): `magnus runs` (and the workbench's runs list, from the same index) gave a run
    killed after seconds the time of its last recorded write (87.3ms) as its duration. Its process is gone
    without ending it: no end and no duration is known, `-` as `magnus show` gives no `took`."""
    (git_repo / "live.py").write_text(STEPS + "\n\ndef quick():\n    print('done')\n")
    (git_repo / "live.yaml").write_text(
        PIPELINE.replace("start_at: s1", "start_at: s0").replace(
            "  steps:\n", "  steps:\n    s0: {type: task, command: live.quick, next: s1}\n"
        )
    )
    # over a second after its start
    _killed_run(git_repo, magnus, "gone", lambda: "sleepy 12" in magnus("logs", "gone", "s1").stdout)
    (listed,) = json.loads(magnus("runs", "--json").stdout)["runs"]
    assert listed["state"] == "INTERRUPTED" and listed["duration"] is None and not listed["end"], listed
    row = next(line for line in magnus("runs").stdout.splitlines() if line.startswith("gone"))
    assert " - " in row and "ms" not in row, row
    from magnus_core.runs import summarise

    log = RunLog.model_validate(json.loads((git_repo / ".run_log_store" / "gone.json").read_text()))
    assert summarise(log).duration is None
    # the workbench's run screen: its header and run panel read the view's span
    from datetime import datetime

    from magnus_tui.view import RunView
    from magnus_tui.widgets.run_header import header_text

    view = RunView.from_runlog(log, "INTERRUPTED")
    assert view.duration is None and view.span()[1] is None
    header = header_text(view, datetime.now()).plain
    assert "INTERRUPTED" in header and "ms" not in header, header
