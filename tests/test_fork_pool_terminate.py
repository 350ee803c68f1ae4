"""A fork Pool ended by terminate() (what `with Pool(...)` does) never hangs a python step: its workers
inherit magnus's python SIGTERM handler, and python drops a signal that reaches a child before its
after-fork code ran, so a worker still starting as the pool was terminated never ended and the step waited
for ever (about one pool in ten; found with trial 16 F12's fork pools). cli._fork_before holds SIGTERM and
SIGHUP back across each fork. The real `magnus execute` in a subprocess, in a temporary git repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

POOLS = """
import multiprocessing as mp


def square(i):
    return i * i


def pools():
    for _ in range(40):
        with mp.get_context("fork").Pool(2) as pool:
            assert pool.map(square, range(3)) == [0, 1, 4]
    print("pools done")
"""

PIPELINE = """
dag:
  start_at: s
  steps:
    s: {type: task, command: pools.pools, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_terminated_fork_pools_never_hang_the_step(git_repo: Path, magnus: Any) -> None:
    (git_repo / "pools.py").write_text(POOLS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    command = [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "r"]
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=git_repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()  # (its workers: the watcher stops them once magnus is gone)
        process.communicate()
        raise AssertionError("the step hung in a terminated fork Pool") from None
    assert process.returncode == 0, (out, err)
    assert b"pools done" in out
