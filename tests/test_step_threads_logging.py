"""What a step leaves behind in the process, as the next steps and branches print (trial 19): logging set up
inside a step, kept by every branch beside other branches (F15); a thread a step left printing, whose
later lines are no other step's (F2); a stop during a parallel, which replaced no stream (F7). Real runs
in subprocesses, read back with `magnus logs RUN STEP`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

STEPS = """
import logging
import threading
import time
from pathlib import Path


def log_setup():
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("prep").info("prepared")


def quick():
    pass


def log_a():
    for i in range(3):
        logging.getLogger("train").warning("A logs %d", i)
        time.sleep(0.05)


def log_b():
    for i in range(3):
        logging.getLogger("eval").warning("B logs %d", i)
        time.sleep(0.05)


def items():
    return {"items": ["a", "b", "c", "d"]}


def per_item(chunk):
    logging.basicConfig(level=logging.INFO)
    for i in range(3):
        logging.getLogger("item").info("item %s step %d", chunk, i)
        time.sleep(0.02)
    print("print from", chunk)


def leave_thread():
    def loop():
        for i in range(8):
            print("bg line", i, flush=True)
            time.sleep(0.1)

    threading.Thread(target=loop, name="bgprinter", daemon=True).start()
    time.sleep(0.02)
    print("left a thread")


def slow():
    Path("started").write_text("")
    for i in range(100):
        print("slow", i, flush=True)
        time.sleep(0.1)


def sleeper():
    print("sleeper start", flush=True)
    time.sleep(1.2)
    print("sleeper end")
"""


def _branch(command: str) -> str:
    return (
        f"{{start_at: s, steps: {{s: {{type: task, command: {command}, next: success}}, "
        "success: {type: success}, fail: {type: fail}}}"
    )


def _parallel(first: str, a: str, b: str, workers: int = 2) -> str:
    return f"""
dag:
  start_at: first
  steps:
    first: {{type: task, command: {first}, next: q}}
    q: {{type: task, command: steps.quick, next: par}}
    par:
      type: parallel
      next: success
      branches:
        A: {_branch(a)}
        B: {_branch(b)}
    success: {{type: success}}
    fail: {{type: fail}}
executor: {{type: local, config: {{max_workers: {workers}}}}}
"""


MAP = """
dag:
  start_at: p
  steps:
    p: {type: task, command: steps.items, next: each}
    each:
      type: map
      iterate_on: items
      iterate_as: chunk
      next: success
      branch:
        start_at: w
        steps:
          w: {type: task, command: steps.per_item, next: success}
          success: {type: success}
          fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
executor: {type: local, config: {max_workers: 2}}
"""


THREAD = """
dag:
  start_at: adv
  steps:
    adv: {type: task, command: steps.leave_thread, next: sl}
    sl: {type: task, command: steps.sleeper, next: sh}
    sh: {type: task, command_type: shell, command: 'echo shell', next: success}
    success: {type: success}
    fail: {type: fail}
"""


def _run(project: Path, magnus: Any, pipeline: str, run_id: str) -> subprocess.CompletedProcess[str]:
    (project / "steps.py").write_text(STEPS)
    (project / f"{run_id}.yaml").write_text(pipeline)
    done = magnus("execute", "--file", f"{run_id}.yaml", "--run-id", run_id)
    assert done.returncode == 0, done.stderr
    return done


def _logs(magnus: Any, run_id: str, step: str) -> list[str]:
    shown = magnus("logs", run_id, step)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.splitlines()


def test_logging_set_up_by_an_earlier_step_is_kept_by_each_branch(git_repo: Path, magnus: Any) -> None:
    """basicConfig in a step run alone made its handler on the run's own stream: beside another branch
    its records went to the terminal only, and `magnus logs` said both branches printed nothing."""
    done = _run(git_repo, magnus, _parallel("steps.log_setup", "steps.log_a", "steps.log_b"), "r")
    assert _logs(magnus, "r", "first") == ["INFO:prep:prepared"]
    assert _logs(magnus, "r", "par.A.s") == [f"WARNING:train:A logs {i}" for i in range(3)]
    assert _logs(magnus, "r", "par.B.s") == [f"WARNING:eval:B logs {i}" for i in range(3)]
    for i in range(3):  # and the terminal, as before
        assert f"WARNING:train:A logs {i}" in done.stderr and f"WARNING:eval:B logs {i}" in done.stderr
    assert "par.A.s" not in magnus("logs", "r").stderr


def test_logging_set_up_inside_map_items_goes_to_each_item(git_repo: Path, magnus: Any) -> None:
    """basicConfig in the map item that ran first bound the handler to that item's own stream: the next
    item's records were in its file, the later items' in none."""
    done = _run(git_repo, magnus, MAP, "m")
    for chunk in "abcd":
        lines = [f"INFO:item:item {chunk} step {i}" for i in range(3)]
        assert _logs(magnus, "m", f"each.{chunk}.w") == [*lines, f"print from {chunk}"]
        assert all(line in done.stderr for line in lines)


def test_a_thread_left_running_is_not_the_next_steps(git_repo: Path, magnus: Any) -> None:
    """What a step's thread prints after the step ended is on the terminal only, said at the end of the
    step's file, never in the next step's (its lines 1-7 were in `sl`'s file)."""
    done = _run(git_repo, magnus, THREAD, "t")
    adv = _logs(magnus, "t", "adv")
    assert adv[0] == "bg line 0" and "left a thread" in adv, adv  # (printed while the step ran)
    assert adv[-1].startswith("[magnus: a thread still running as this step ended (bgprinter): ")
    assert _logs(magnus, "t", "sl") == ["sleeper start", "sleeper end"]
    assert _logs(magnus, "t", "sh") == ["shell"]
    assert [line for line in done.stdout.splitlines() if line.startswith("bg line")] == [
        f"bg line {i}" for i in range(8)
    ]


def test_a_branchs_thread_left_running_is_not_the_other_branchs(git_repo: Path, magnus: Any) -> None:
    """Beside other branches a thread a branch's step started prints into that branch's file while it runs
    and to the terminal only once it has ended (trial 20: until then, to the terminal only from its start):
    once its branch had ended, the other branch ran alone and its file took the thread's lines."""
    done = _run(git_repo, magnus, _parallel("steps.quick", "steps.leave_thread", "steps.sleeper"), "p")
    assert _logs(magnus, "p", "par.B.s") == ["sleeper start", "sleeper end"]
    adv = _logs(magnus, "p", "par.A.s")
    assert adv[0] == "bg line 0" and "left a thread" in adv, adv  # (printed while the step ran)
    assert adv[-1].startswith("[magnus: a thread still running as this step ended (bgprinter): ")
    assert sum(line.startswith("bg line") for line in done.stdout.splitlines()) == 8


def test_a_stop_during_a_parallel_says_no_step_replaced_sys_stdout(git_repo: Path, magnus: Any) -> None:
    """Every stop during a parallel with max_workers 2 warned that a step in a branch replaced sys.stdout:
    the seam's own stream, there while branches run, was taken for a step's."""
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "stop.yaml").write_text(_parallel("steps.quick", "steps.slow", "steps.sleeper"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "stop.yaml", "--run-id", "s"],
        cwd=git_repo,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not (git_repo / "started").exists():
            time.sleep(0.02)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)  # what `magnus stop` sends
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert "INTERRUPTED" in err
    assert "replaced sys.stdout" not in err, err
