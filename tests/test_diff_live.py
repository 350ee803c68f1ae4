"""Session 11: `magnus diff` of a run still running read its raw log: `sdone (PROCESSING, ...)` in the
header, `status SUCCESS → PROCESSING`, the run's duration the time of its last write (`10.1s → 109ms
(×0.0108)`), and the steps it had not reached yet `not run in B`, where `magnus show` of the same run says
`RUNNING (PROCESSING)`, `running for ...` and `1 to run` (docs/runs.md). Now the diff reads it so: the run
`RUNNING (PROCESSING)` (`state` RUNNING in --json), no duration yet, its steps not reached `to run in B`.
Real runs of `magnus execute` in subprocesses; the live run's step waits for a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STEPS = """import time
from pathlib import Path


def ok():
    print("fine", flush=True)


def wait():
    print("waiting", flush=True)
    while Path("hold").exists():
        time.sleep(0.05)
"""

PIPELINE = """
dag:
  start_at: fetch
  steps:
    fetch: {type: task, command: steps.ok, next: train}
    train: {type: task, command: steps.wait, next: report}
    report: {type: task, command: steps.ok, next: success}
    success: {type: success}
    fail: {type: fail}
"""

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200"}


def magnus(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "magnus_core", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )


def test_a_live_run_reads_running_and_its_steps_to_come_to_run(tmp_path: Path) -> None:
    (tmp_path / "steps.py").write_text(STEPS)
    (tmp_path / "p.yaml").write_text(PIPELINE)
    assert magnus(tmp_path, "execute", "-f", "p.yaml", "--run-id", "done").returncode == 0
    (tmp_path / "hold").write_text("")
    live = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "live"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    try:
        log = tmp_path / ".run_log_store" / "live.json"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if json.loads(log.read_text())["steps"]["train"]["status"] == "PROCESSING":
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        else:
            raise AssertionError("the live run never reached train")
        shown = magnus(tmp_path, "show", "live").stdout
        assert "RUNNING (PROCESSING)" in shown and "1 to run" in shown, shown  # what the diff agrees with

        diff = magnus(tmp_path, "diff", "done", "live").stdout
        head = diff.splitlines()[0]
        assert "live (RUNNING (PROCESSING), " in head, diff
        lines = [line.split() for line in diff.splitlines()]
        assert ["~", "status", "SUCCESS", "→", "RUNNING", "(PROCESSING)"] in lines, diff
        run_group = diff.split("\ndag ", 1)[0]
        assert "duration" not in run_group, diff  # its log's last time is a write, not its end
        assert ["·", "report", "to", "run", "in", "B", "(ran", "in", "A:", "SUCCESS)"] in lines, diff
        assert "not run" not in diff, diff
        back = magnus(tmp_path, "diff", "live", "done").stdout  # the live run as A
        assert ["~", "status", "RUNNING", "(PROCESSING)", "→", "SUCCESS"] in [
            x.split() for x in back.splitlines()
        ]
        assert "to run in A (ran in B: SUCCESS)" in back, back

        doc = json.loads(magnus(tmp_path, "diff", "done", "live", "--json").stdout)
        assert (doc["b"]["status"], doc["b"]["state"]) == ("PROCESSING", "RUNNING"), doc["b"]
        (report,) = [c for c in doc["groups"]["steps"]["changes"] if c["kind"] == "not_run"]
        assert (report["step"], report["detail"]) == ("report", "to run in B"), report
    finally:
        (tmp_path / "hold").unlink(missing_ok=True)
        try:
            live.wait(timeout=60)
        finally:
            live.kill()
    assert live.returncode == 0
    ended = magnus(tmp_path, "diff", "done", "live").stdout
    assert "live (SUCCESS, " in ended.splitlines()[0], ended
    assert "No differences in what was compared" in ended, ended
