"""os._exit() in a python step run by a branch thread (a parallel or map with `max_workers` > 1, a dag nested
in a branch) ends that step like sys.exit(code), never magnus (trial 16 F1: exit 3, no summary, on_failure
never followed, the run log PROCESSING and every view reading it as an OOM kill). The real `magnus execute`
in a subprocess, in a temporary git repository."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

HARD = """
import os
import sys
import time


def bye(code=3):
    print("leaving", flush=True)
    time.sleep(0.3)  # the other branches are running meanwhile
    os._exit(code)


def exit_one():
    print("exit one", flush=True)
    time.sleep(0.3)
    sys.exit(1)


def prep():
    return {"items": ["a", "b"]}


def item(it):
    time.sleep(0.2)
    if it == "a":
        os._exit(4)
    print("item", it, flush=True)


def nested():
    time.sleep(0.2)
    os._exit(5)


def recover():
    print("recovered", flush=True)
"""

PIPELINE = """
dag:
  start_at: prep
  steps:
    prep: {type: task, command: hard.prep, next: par}
    par:
      type: parallel
      next: success
      on_failure: recover
      branches:
        h:
          start_at: s
          steps:
            s: {type: task, command: hard.bye, next: success}
            success: {type: success}
            fail: {type: fail}
        x:
          start_at: s
          steps:
            s: {type: task, command: hard.exit_one, next: success}
            success: {type: success}
            fail: {type: fail}
        n:
          start_at: d
          steps:
            d: {type: dag, dag_definition: inner.yaml, next: success}
            success: {type: success}
            fail: {type: fail}
        m:
          start_at: each
          steps:
            each:
              type: map
              iterate_on: items
              iterate_as: it
              next: success
              branch:
                start_at: w
                steps:
                  w: {type: task, command: hard.item, next: success}
                  success: {type: success}
                  fail: {type: fail}
            success: {type: success}
            fail: {type: fail}
    recover: {type: task, command: hard.recover, next: fail}
    success: {type: success}
    fail: {type: fail}
"""

INNER = """
dag:
  start_at: deep
  steps:
    deep: {type: task, command: hard.nested, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def _attempt(log: dict[str, Any], *path: str) -> dict[str, Any]:
    """The last attempt of the step at `path` (internal names: step, branch, step, ..., step) in a run log."""
    step = log["steps"][path[0]]
    for branch, name in zip(path[1::2], path[2::2], strict=True):
        step = step["branches"][branch]["steps"][name]
    return step["attempts"][-1]


def test_os_exit_in_branch_threads_fails_those_steps_and_the_run_goes_on(git_repo: Path, magnus: Any) -> None:
    (git_repo / "hard.py").write_text(HARD)
    (git_repo / "p.yaml").write_text(textwrap.dedent(PIPELINE))
    (git_repo / "inner.yaml").write_text(textwrap.dedent(INNER))
    (git_repo / "config.yaml").write_text("executor:\n  type: local\n  config:\n    max_workers: 4\n")
    result = magnus("execute", "-f", "p.yaml", "-c", "config.yaml", "--run-id", "r")
    # before the fix: rc 3 (os._exit's own code), no summary, the log PROCESSING
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Run r: FAIL" in result.stdout
    assert "recovered" in result.stdout  # on_failure was followed
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert log["status"] == "FAIL"
    assert log["steps"]["par"]["status"] == "FAIL"
    assert log["steps"]["recover"]["status"] == "SUCCESS"
    hard = _attempt(log, "par", "par.h", "par.h.s")
    assert hard["status"] == "FAIL"
    assert hard["message"] == "SystemExit: the step called os._exit(3)"
    assert hard["error"]["exit_code"] == 3 and hard["error"]["type"] == "SystemExit"
    assert _attempt(log, "par", "par.x", "par.x.s")["message"] == "SystemExit: the step called sys.exit(1)"
    deep = _attempt(log, "par", "par.n", "par.n.d", "par.n.d.dag", "par.n.d.dag.deep")
    assert deep["message"] == "SystemExit: the step called os._exit(5)"
    item_a = _attempt(log, "par", "par.m", "par.m.each", "par.m.each.a", "par.m.each.a.w")
    assert item_a["message"] == "SystemExit: the step called os._exit(4)"
    assert (
        _attempt(log, "par", "par.m", "par.m.each", "par.m.each.b", "par.m.each.b.w")["status"] == "SUCCESS"
    )
    shown = magnus("show", "r")
    assert "par.h.s: SystemExit: the step called os._exit(3)" in shown.stdout, shown.stdout
    assert "cut short" not in shown.stdout
