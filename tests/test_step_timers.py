"""A timer a step leaves armed, of any kind, is cancelled as that step ends, in whatever thread it ran, and
said naming the step: the process has three interval timers (setitimer(2)), ITIMER_REAL (signal.alarm:
SIGALRM), ITIMER_VIRTUAL (SIGVTALRM) and ITIMER_PROF (SIGPROF, as a sampling profiler arms it). Before,
only ITIMER_REAL was cancelled, and only after a step in the main thread:

- trial 20 N6: `signal.alarm(1)` (or setitimer ITIMER_REAL) in a parallel branch beside a longer one rang
  before the branches ended and killed magnus, exit 142, the run log PROCESSING, nothing said;
- trial 20 N3: a sampling timer left on ITIMER_VIRTUAL or ITIMER_PROF with the step's own handler rang in
  later steps (a raising handler failed them) and killed magnus as python exited (it puts a python
  handler's signal back to its default action), exit 154 or 155 after a run that succeeded; with no
  handler, the next CPU-bound step's time killed magnus.

Real runs in subprocesses, in a temporary git repo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

STEPS = """
import ctypes, faulthandler, signal, time


def _busy(seconds):  # (CPU time: what ITIMER_VIRTUAL and ITIMER_PROF count, in every thread)
    started = time.process_time()
    while time.process_time() - started < seconds:
        pass


def alarm():
    signal.alarm(1)


def real():
    signal.setitimer(signal.ITIMER_REAL, 0.5)


def virtual():
    signal.setitimer(signal.ITIMER_VIRTUAL, 0.05, 0.05)


def prof():
    signal.setitimer(signal.ITIMER_PROF, 0.01, 0.01)


def virtual_with_handler():  # a sampler whose handler raises (a timeout on CPU time)
    def sample(signum, frame):
        raise TimeoutError("virtual timer")

    signal.signal(signal.SIGVTALRM, sample)
    virtual()


def prof_with_handler():  # a sampling profiler not stopped
    signal.signal(signal.SIGPROF, lambda signum, frame: None)
    prof()


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Itimerval(ctypes.Structure):
    _fields_ = [("it_interval", _Timeval), ("it_value", _Timeval)]


def prof_from_c():  # armed by C code (python's signal.setitimer never called)
    every = _Timeval(0, 10000)
    ctypes.CDLL(None).setitimer(signal.ITIMER_PROF, ctypes.byref(_Itimerval(every, every)), None)
    time.sleep(0.02)  # (a step of 10 ms or more: what C did is looked at as it ends)


def watchdog():  # (a hang detector around the step's work, never cancelled)
    faulthandler.dump_traceback_later(1, exit=True)


def watchdog_cancelled():
    faulthandler.dump_traceback_later(1, exit=True)
    faulthandler.cancel_dump_traceback_later()


def busy():
    _busy(0.6)
    print("busy done", flush=True)


def longer():
    time.sleep(1.5)
    _busy(0.6)
    print("longer done", flush=True)
"""

PARALLEL = """
dag:
  start_at: par
  steps:
    par:
      type: parallel
      next: after
      branches:
        A: {{start_at: s, steps: {{s: {{type: task, command: steps.{function}, next: success}}, success: {{type: success}}, fail: {{type: fail}}}}}}
        B: {{start_at: s, steps: {{s: {{type: task, command: steps.longer, next: success}}, success: {{type: success}}, fail: {{type: fail}}}}}}
    after: {{type: task, command: steps.busy, next: success}}
    success: {{type: success}}
    fail: {{type: fail}}
"""

SEQUENCE = """
dag:
  start_at: a
  steps:
    a: {{type: task, command: steps.{function}, next: b}}
    b: {{type: task, command: steps.busy, next: c}}
    c: {{type: task, command_type: shell, command: "echo shell ran", next: success}}
    success: {{type: success}}
    fail: {{type: fail}}
"""

ALARM = (
    "left an alarm (signal.alarm or setitimer) that would have ended magnus (SIGALRM, the run log "
    "unfinished); magnus cancelled it"
)


def _bare(words: str, signal_name: str) -> str:
    return (
        f"left a timer running ({words}) with no handler: its {signal_name} would have ended magnus, the run "
        "log unfinished; magnus cancelled it"
    )


def _own(words: str, signal_name: str, handler: str) -> str:
    return (
        f"left a timer running ({words}) with its own handler ({handler}); magnus cancelled it: it would have "
        f"rung in later steps and in magnus, and ended magnus as python exits ({signal_name}'s default action)"
    )


def _said(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "timer running" in line or "left an alarm" in line]


@pytest.mark.parametrize(
    "function, said",
    [
        ("alarm", ALARM),
        ("real", ALARM),
        ("virtual", _bare("setitimer ITIMER_VIRTUAL", "SIGVTALRM")),
        ("prof", _bare("setitimer ITIMER_PROF", "SIGPROF")),
    ],
    ids=["alarm", "real", "virtual", "prof"],
)
def test_a_timer_a_branch_step_leaves_is_cancelled_as_it_ends_beside_a_longer_branch(
    git_repo: Path, magnus: Any, function: str, said: str
) -> None:
    """Branch A's step arms a timer and ends; branch B runs on past when it would ring (and burns CPU time,
    which ITIMER_VIRTUAL and ITIMER_PROF count). The old code: killed by SIGALRM (-14), SIGVTALRM (-26) or
    SIGPROF (-27), the run log PROCESSING, nothing said."""
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PARALLEL.format(function=function))
    (git_repo / "conf.yaml").write_text("executor: {type: local, config: {max_workers: 2}}\n")
    ran = magnus("execute", "-f", "p.yaml", "-c", "conf.yaml", "--run-id", "r")
    assert ran.returncode == 0, ran.stdout + ran.stderr  # (the old code: -14, -26 or -27)
    assert "Run r: SUCCESS" in ran.stdout, ran.stdout
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert log["status"] == "SUCCESS"
    assert _said(ran.stderr) == [f"magnus: step par.A.s {said}"], ran.stderr


@pytest.mark.parametrize(
    "function, said",
    [
        ("virtual", _bare("setitimer ITIMER_VIRTUAL", "SIGVTALRM")),
        ("prof", _bare("setitimer ITIMER_PROF", "SIGPROF")),
        (
            "virtual_with_handler",
            _own("setitimer ITIMER_VIRTUAL", "SIGVTALRM", "virtual_with_handler.<locals>.sample"),
        ),
        (
            "prof_with_handler",
            _own("setitimer ITIMER_PROF", "SIGPROF", "prof_with_handler.<locals>.<lambda>"),
        ),
        ("prof_from_c", _bare("setitimer ITIMER_PROF", "SIGPROF")),
    ],
    ids=["virtual", "prof", "virtual_with_handler", "prof_with_handler", "prof_from_c"],
)
def test_a_cpu_time_timer_a_step_leaves_is_cancelled_as_it_ends(
    git_repo: Path, magnus: Any, function: str, said: str
) -> None:
    """Step a arms ITIMER_VIRTUAL or ITIMER_PROF (from python, with or without its own handler, or from
    C) and ends; step b burns CPU time. The old code: b failed with a's TimeoutError (rc 1), or magnus was
    killed by the signal (-26, -27), in b or as python exited after the summary. Now: cancelled as a ends,
    said naming a; the run succeeds, its summary printed, exit 0."""
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(SEQUENCE.format(function=function))
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert ran.returncode == 0, ran.stdout + ran.stderr  # (the old code: 1, -26 or -27)
    assert "Run r: SUCCESS" in ran.stdout and "shell ran" in ran.stdout, ran.stdout
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert [log["steps"][s]["status"] for s in ("a", "b", "c")] == ["SUCCESS"] * 3
    assert _said(ran.stderr) == [f"magnus: step a {said}"], ran.stderr


WATCHDOG = (
    "left faulthandler's watchdog running (faulthandler.dump_traceback_later, exit=True); magnus cancelled "
    "it: it would have ended magnus (exit 1, the run log unfinished)"
)


@pytest.mark.parametrize("where", ["main thread", "branch"])
def test_faulthandlers_watchdog_a_step_leaves_is_cancelled_as_it_ends(
    git_repo: Path, magnus: Any, where: str
) -> None:
    """faulthandler.dump_traceback_later(1, exit=True) left armed by a step (a hang detector never
    cancelled), in the main thread or in a branch beside a longer one: the old code was ended by it a
    second later, exit 1, every thread's traceback on stderr, the run log PROCESSING. Cancelled as the step
    ends, said naming it; one the step cancelled itself is not said."""
    (git_repo / "steps.py").write_text(STEPS)
    if where == "branch":
        (git_repo / "p.yaml").write_text(PARALLEL.format(function="watchdog"))
        (git_repo / "conf.yaml").write_text("executor: {type: local, config: {max_workers: 2}}\n")
        ran = magnus("execute", "-f", "p.yaml", "-c", "conf.yaml", "--run-id", "r")
        step = "par.A.s"
    else:
        (git_repo / "p.yaml").write_text(
            SEQUENCE.format(function="watchdog").replace("steps.busy", "steps.longer")
        )
        ran = magnus("execute", "-f", "p.yaml", "--run-id", "r")
        step = "a"
    assert ran.returncode == 0, ran.stdout + ran.stderr  # (the old code: 1, 'Timeout (0:00:01)!')
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert log["status"] == "SUCCESS"
    said = [line for line in ran.stderr.splitlines() if "watchdog" in line]
    assert said == [f"magnus: step {step} {WATCHDOG}"], ran.stderr
    (git_repo / "q.yaml").write_text(
        SEQUENCE.format(function="watchdog_cancelled").replace("steps.busy", "steps.longer")
    )
    ran = magnus("execute", "-f", "q.yaml", "--run-id", "q")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "watchdog" not in ran.stderr, ran.stderr
