"""One signal stops a run whatever its concurrency: python steps running in branch threads are abandoned
and recorded INTERRUPTED, every process the run started is killed (shell groups, what a python step
spawned, what a shell put in the background), the run is INTERRUPTED, exit code 130 (SIGINT) or 143
(SIGTERM), and no process is left. How long a stop takes is measured by `python bench/stop.py`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from magnus_core.runner import RunRequest, prepare
from tests.conftest import ROOT

FUNCS = """
import os, subprocess, time
from pathlib import Path

def loop():
    Path("pids/loop").write_text("")            # no process of its own: it runs in magnus's
    while True:
        time.sleep(0.05)

def spawn(item):
    child = subprocess.Popen(["sleep", "300"])   # in magnus's process group, not a group of its own
    Path(f"pids/spawned-{item}").write_text(str(child.pid))
    while True:
        time.sleep(0.05)
"""

PIPELINE = """
dag:
  start_at: par
  steps:
    par:
      type: parallel
      next: success
      branches:
        python:
          start_at: loop
          steps:
            loop: {type: task, command: stopf.loop, next: success}
            success: {type: success}
            fail: {type: fail}
        items:
          start_at: each
          steps:
            each:
              type: map
              iterate_on: items
              iterate_as: item
              next: success
              branch:
                start_at: work
                steps:
                  work: {type: task, command: stopf.spawn, next: success, on_failure: fail}
                  success: {type: success}
                  fail: {type: fail}
            success: {type: success}
            fail: {type: fail}
        shell:
          start_at: sh
          steps:
            sh:
              type: task
              command_type: shell
              command: 'sleep 300 & echo $! > pids/background; trap "" TERM; sleep 300 & echo $! > pids/foreground; wait'
              next: success
            success: {type: success}
            fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
executor: {type: local, config: {max_workers: 4}}
"""
EXPECTED = {"loop", "background", "foreground", "spawned-a", "spawned-b", "spawned-c"}


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "stopf.py").write_text(FUNCS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    (git_repo / "params.yaml").write_text("items: [a, b, c]\n")
    (git_repo / "pids").mkdir()
    return git_repo


def start(root: Path, run_id: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "magnus_core",
            "execute",
            "-f",
            "p.yaml",
            "-p",
            "params.yaml",
            "--run-id",
            run_id,
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "MAGNUS_STOP_GRACE": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_all_running(root: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.time() + 90
    # every pid file there and written (a file is created empty, then written: read in between, it is "")
    while {
        p.name for p in (root / "pids").iterdir() if p.name == "loop" or p.read_text().strip()
    } != EXPECTED:
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, sorted(p.name for p in (root / "pids").iterdir())
        time.sleep(0.05)
    time.sleep(0.2)  # the pid files are written just before their processes settle


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize(
    "sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_one_signal_stops_concurrent_python_and_shell_branches(project: Path, sig: int, code: int) -> None:
    proc = start(project, "r")
    wait_until_all_running(project, proc)
    pids = {p.name: int(p.read_text()) for p in (project / "pids").iterdir() if p.read_text()}
    assert len(pids) == 5  # everything but the in-process loop has a process of its own
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err and "Fatal Python error" not in err
    left = {name: pid for name, pid in pids.items() if alive(pid)}
    assert left == {}, f"processes left running: {left}"
    log = json.loads((project / ".run_log_store" / "r.json").read_text())
    assert log["status"] == "INTERRUPTED"
    name = "SIGTERM" if sig == signal.SIGTERM else "SIGINT"
    steps = _walk(log["steps"])
    for internal in ("par.python.loop", "par.shell.sh", "par.items.each.a.work", "par.items.each.c.work"):
        step = steps[internal]
        assert step["status"] == "INTERRUPTED", (internal, step)
        assert step["attempts"][-1]["status"] == "INTERRUPTED"
        assert step["attempts"][-1]["message"] == f"interrupted by {name}: the run was stopped"
    assert steps["par"]["status"] == "INTERRUPTED"
    # a re-run says why the step runs again
    plan = prepare(RunRequest(file="p.yaml", parameters_file="params.yaml", use_cached="r")).plan
    assert [(s.name, s.reason) for s in plan.steps] == [("par", "interrupted before")]


def _walk(steps: dict) -> dict:
    out = {}
    for step in steps.values():
        out[step["internal_name"]] = step
        for branch in step["branches"].values():
            out.update(_walk(branch["steps"]))
    return out
