"""Re-running a loop that crashed in its iteration 3 (trial 13 fault 9): the plan said `0 step(s) reused, 1
to run` / `run  train  failed before` though the re-run resumed at iteration 3 with its three iterations'
steps reused, and the summary said `6 reused`: each reused iteration's success node counted as a step (a
success node is not a step, docs/runs.md). Now the plan says `resume  train  cut short before: at iteration
3 (3 step(s) of 3 iterations reused)` and `3 step(s) reused`, and the summary counts steps only: also for a
parallel and a map reused whole.

Real runs of `magnus execute` in subprocesses; the crash is a real segfault (`ctypes.string_at(0)`)."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

STEPS = """
import ctypes
import os


def epoch(i):
    print(f"iteration {i}", flush=True)
    if i == 3 and not os.environ.get("NOSEGV"):
        ctypes.string_at(0)
    return {"done": i >= 5}


def ok():
    print("fine", flush=True)


def bad():
    if not os.environ.get("NOSEGV"):
        raise ValueError("bad")
"""

LOOP = """dag:
  start_at: train
  steps:
    train:
      type: loop
      max_iterations: 10
      break_on: done
      index_as: i
      next: success
      branch:
        start_at: ep
        steps:
          ep: {type: task, command: steps.epoch, next: success}
          success: {type: success}
          fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""

COMPOSITES = """dag:
  start_at: fan
  steps:
    fan:
      type: parallel
      next: each
      branches:
        a: {start_at: x, steps: {x: {type: task, command: steps.ok, next: success}, success: {type: success}, fail: {type: fail}}}
        b: {start_at: x, steps: {x: {type: task, command: steps.ok, next: success}, success: {type: success}, fail: {type: fail}}}
    each:
      type: map
      iterate_on: items
      iterate_as: item
      next: last
      branch:
        start_at: x
        steps:
          x: {type: task, command: steps.ok, next: success}
          success: {type: success}
          fail: {type: fail}
    last: {type: task, command: steps.bad, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_loop_resumed_at_its_crashed_iteration_counts_the_steps_it_reused(
    git_repo: Path, magnus: Any
) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "loop.yaml").write_text(LOOP)
    crashed = magnus("execute", "-f", "loop.yaml", "--run-id", "lp1")
    assert crashed.returncode == -signal.SIGSEGV, crashed.stderr
    again = magnus(
        "execute", "-f", "loop.yaml", "--use-cached", "lp1", "--run-id", "lp1r", env={"NOSEGV": "1"}
    )
    assert again.returncode == 0, again.stderr
    assert "Re-run of lp1: 3 step(s) reused, 1 to run" in again.stderr, again.stderr
    assert (
        "resume train  cut short before: at iteration 3 (3 step(s) of 3 iterations reused)" in again.stderr
    ), again.stderr
    assert "6/6 steps ran: 6 SUCCESS; 3 reused" in again.stdout + again.stderr, again.stdout
    shown = magnus("show", "lp1r").stdout
    assert "6/6 steps ran: 6 SUCCESS; 3 reused" in shown, shown
    log = json.loads((git_repo / ".run_log_store" / "lp1r.json").read_text())
    reused = [
        n for n, b in log["steps"]["train"]["branches"].items() for s in b["steps"].values() if s["mock"]
    ]
    assert len(reused) == 6  # (3 steps and the 3 success nodes of their iterations)


def test_parallel_and_map_reused_whole_count_their_steps(git_repo: Path, magnus: Any) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "c.yaml").write_text(COMPOSITES)
    (git_repo / "items.yaml").write_text("items: [1, 2, 3]\n")
    failed = magnus("execute", "-f", "c.yaml", "-p", "items.yaml", "--run-id", "c1")
    assert failed.returncode == 1, failed.stderr
    again = magnus(
        "execute",
        "-f",
        "c.yaml",
        "-p",
        "items.yaml",
        "--use-cached",
        "c1",
        "--run-id",
        "c1r",
        env={"NOSEGV": "1"},
    )
    assert again.returncode == 0, again.stderr
    assert "Re-run of c1: 2 step(s) reused, 1 to run" in again.stderr, again.stderr
    # 2 branches' steps and 3 items' steps reused, not their success nodes nor the composites
    assert "6/6 steps ran: 6 SUCCESS; 5 reused" in magnus("show", "c1r").stdout
