"""A thread a python step starts beside other branches (a parallel run by threads, max_workers > 1) and
leaves running is said at the end, as one a step in the main thread leaves is (trial 17 F17): python made
it a daemon thread like the branch's own thread, so magnus said nothing and the thread was cut off at exit
unsaid. Now it is a non-daemon thread, as in the main thread, noted for the step that started it (not for
the branch that happens to end first); one the step makes a daemon stays one, unsaid. A real run in a
subprocess, in a temporary git repo."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

STEPS = """
import threading, time


def leaves(name, wait, then):
    time.sleep(wait)
    threading.Thread(target=time.sleep, args=(300,), name=name).start()
    threading.Thread(target=time.sleep, args=(300,), daemon=True).start()  # python never waits
    old_style = threading.Thread(target=time.sleep, args=(300,), name="old-style")
    old_style.daemon = True  # (the way before daemon=)
    old_style.start()
    threading.Thread(target=lambda: None).start()  # ends at once
    time.sleep(then)


def one():  # starts first and ends last: every thread of two's is new to it
    leaves("uploader", 0, 1.5)


def two():
    leaves("other-uploader", 0.3, 0)


def fine():
    print("after", flush=True)
"""

PARALLEL = """
dag:
  start_at: fan
  steps:
    fan:
      type: parallel
      next: after
      branches:
        one: {start_at: a, steps: {a: {type: task, command: steps.one, next: success}, success: {type: success}, fail: {type: fail}}}
        two: {start_at: c, steps: {c: {type: task, command: steps.two, next: success}, success: {type: success}, fail: {type: fail}}}
    after: {type: task, command: steps.fine, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_thread_a_branch_step_leaves_running_is_said_for_that_step(git_repo: Path, magnus: Any) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PARALLEL)
    (git_repo / "conf.yaml").write_text("executor: {type: local, config: {max_workers: 2}}\n")
    started = time.monotonic()
    ran = magnus("execute", "-f", "p.yaml", "-c", "conf.yaml", "--run-id", "r")
    assert time.monotonic() - started < 100  # not the threads' 300 s (magnus's timeout is 120 s)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "Run r: SUCCESS" in ran.stdout and "after" in ran.stdout
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert log["status"] == "SUCCESS"
    assert {name: step["status"] for name, step in log["steps"].items()} == dict.fromkeys(
        ["fan", "after", "success"], "SUCCESS"
    )
    branches = log["steps"]["fan"]["branches"]
    inner = {s["internal_name"]: s["status"] for b in branches.values() for s in b["steps"].values()}
    assert inner == dict.fromkeys(["fan.one.a", "fan.one.success", "fan.two.c", "fan.two.success"], "SUCCESS")
    said = sorted(line for line in ran.stderr.splitlines() if "left a thread running" in line)
    assert said == [  # (the old code: nothing said)
        "magnus: step fan.one.a left a thread running ('uploader'); magnus exits without waiting for it "
        "(join the threads a step starts, or make them daemon threads)",
        "magnus: step fan.two.c left a thread running ('other-uploader'); magnus exits without waiting for it "
        "(join the threads a step starts, or make them daemon threads)",
    ], ran.stderr
