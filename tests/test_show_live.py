"""`magnus show` of a live run, from a second terminal (trial 13 fault 7): it called the steps the run had
not reached yet `not run` (`1/3 steps ran: 1 SUCCESS, 1 PROCESSING, 1 not run`: a paged engineer reads "it
skipped report") and the running step's attempts `0`, where the workbench says `·` (not reached yet) and
`Attempts (1) ... ▶ running`. Now `1 to run` and the running attempt counted, on both file stores; an
ended run still says `not run`.

Real runs of `magnus execute` in subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

STEPS = """
import time
from pathlib import Path


def ok():
    print("fine", flush=True)


def train():
    print("epoch 1", flush=True)
    while not Path("go").exists():
        time.sleep(0.05)
"""

PIPELINE = """dag:
  start_at: fetch
  steps:
    fetch: {type: task, command: steps.ok, next: train}
    train: {type: task, command: steps.train, next: report}
    report: {type: task, command: steps.ok, next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.mark.parametrize("store", ["file-system", "chunked-fs"])
def test_show_of_a_live_run_says_to_run_and_counts_the_running_attempt(
    git_repo: Path, magnus: Any, store: str
) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    config: list[str] = []
    if store == "chunked-fs":
        (git_repo / "cfg.yaml").write_text("run_log_store:\n  type: chunked-fs\n")
        config = ["--config-file", "cfg.yaml"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", *config, "--run-id", "live1"],
        cwd=git_repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            shown = magnus("show", "live1", *config)
            rows = {
                line.split()[0]: line.split()[1:] for line in shown.stdout.splitlines() if " task " in line
            }
            if "train" in rows:
                break
            assert time.monotonic() < deadline and proc.poll() is None, shown.stderr
            time.sleep(0.2)
        assert "RUNNING (PROCESSING)" in shown.stdout, shown.stdout
        assert rows["train"][:3] == ["task", "PROCESSING", "1"], shown.stdout  # its attempt, running
        assert rows["train"][3] == "-", shown.stdout
        assert "1/3 steps ran: 1 SUCCESS, 1 PROCESSING, 1 to run" in shown.stdout, shown.stdout
        assert "not run" not in shown.stdout, shown.stdout
    finally:
        (git_repo / "go").write_text("")
        proc.wait(timeout=60)
    assert proc.returncode == 0
    ended = magnus("show", "live1", *config).stdout
    assert "3/3 steps ran: 3 SUCCESS" in ended, ended
