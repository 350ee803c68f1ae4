"""A crash in a step's first instant, and a crash in one branch of a parallel, as every view says it
(session 10, trial 13 fault 5 and session 9's fatal9 'Left'):

- `magnus show` offered `its output until then: magnus logs R wait` for a step that segfaulted before any of
  its output reached a file; that command then said `none of its output reached its file`. The hint now
  points to output only when a `.live` file holds some, else says none reached its file.
- a short step's output the run's process died before writing read `output file cannot be read: no file`,
  like a file someone deleted: now `output lost with the run's process`.
- `magnus logs R --follow` from a second terminal ended `run R ended INTERRUPTED` naming nothing: it now
  names the step and its crash.
- `magnus logs` printed faulthandler's whole dump (every magnus thread before `Current thread`): now the
  Fatal line and the crashing thread's block, naming the file that keeps all; in a parallel, the branch that
  crashed is named (its thread recorded as the step began), the other cut short `crashed in` it.
- `--json` of show and logs carry the crash (reason, where, step, attempt, file).

Real `magnus execute` runs in subprocesses, real segfaults (ctypes.string_at(0))."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

STEPS = """import ctypes
import time


def load():
    print("loading 3 columns")
    return {"rows": 3}


def segv():
    print("calling the C extension with batch 17", flush=True)
    ctypes.string_at(0)


def slow():
    for i in range(40):
        print(f"slow tick {i}", flush=True)
        time.sleep(0.1)


def slower():
    for i in range(600):
        print(f"slow tick {i}", flush=True)
        time.sleep(0.1)


def crash_later():
    print("branch about to crash", flush=True)
    time.sleep(0.6)
    ctypes.string_at(0)


def segv_silent():
    ctypes.string_at(0)


def killed_at_once():
    import os
    import signal

    print("allocating 40 GB", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""

AT_ONCE = """dag:
  start_at: prep
  steps:
    prep: {type: task, command: mlproj.steps.load, next: wait}
    wait: {type: task, command: mlproj.steps.segv, next: after}
    after: {type: task, command_type: shell, command: echo after, next: success}
    success: {type: success}
    fail: {type: fail}
"""

PARALLEL = """executor:
  type: local
  config:
    max_workers: 3
dag:
  start_at: fan
  steps:
    fan:
      type: parallel
      next: success
      branches:
        slow:
          start_at: s
          steps:
            s: {type: task, command: mlproj.steps.slow, next: success}
            success: {type: success}
            fail: {type: fail}
        crashy:
          start_at: s
          steps:
            s: {type: task, command: mlproj.steps.crash_later, next: success}
            success: {type: success}
            fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""


def _project(repo: Path) -> None:
    (repo / "mlproj").mkdir(exist_ok=True)
    (repo / "mlproj" / "__init__.py").write_text("")
    (repo / "mlproj" / "steps.py").write_text(STEPS)
    (repo / "at_once.yaml").write_text(AT_ONCE)
    (repo / "parallel.yaml").write_text(PARALLEL)
    (repo / "silent.yaml").write_text(AT_ONCE.replace("mlproj.steps.segv,", "mlproj.steps.segv_silent,"))
    (repo / "killed.yaml").write_text(AT_ONCE.replace("mlproj.steps.segv,", "mlproj.steps.killed_at_once,"))


def test_a_crash_in_a_steps_first_instant_points_to_no_output(git_repo: Path, magnus: Any) -> None:
    _project(git_repo)
    # a second terminal follows the run before it starts (it waits for it)
    follow = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "logs", "segv1", "--follow", "--wait", "60"],
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        done = magnus("execute", "-f", "silent.yaml", "--run-id", "segv1")
        assert done.returncode == -signal.SIGSEGV, (done.returncode, done.stderr)
        _, followed_err = follow.communicate(timeout=60)
    finally:
        follow.kill()
    assert follow.returncode == 1
    assert (
        "run segv1 ended INTERRUPTED: wait: crashed (Segmentation fault) at mlproj/steps.py:34 in segv_silent"
        in (followed_err)
    ), followed_err

    shown = magnus("show", "segv1").stdout.splitlines()
    at = shown.index("wait: crashed (Segmentation fault) at mlproj/steps.py:34 in segv_silent")
    # nothing of wait reached a file: said where the hint was, the command only for the crash's frames
    assert shown[at + 1] == (
        "  none of its output reached its file; its traceback at the crash: magnus logs segv1 wait"
    ), shown
    assert not any("its output until then" in line for line in shown), shown

    logs = magnus("logs", "segv1")
    assert (
        "magnus: wait (attempt 0) crashed (Segmentation fault) at mlproj/steps.py:34 in segv_silent; none of its "
        "output reached its file" in logs.stderr
    ), logs.stderr
    # the crashing thread's frames only, under wait's heading; the file keeps every thread's
    assert (
        "==> wait (attempt 0) <==\nFatal Python error: Segmentation fault\n\nCurrent thread 0x" in logs.stdout
    )
    assert "\nThread 0x" not in logs.stdout, logs.stdout
    assert "every thread's frames at the crash: .catalog/segv1/.magnus/fatal.log" in logs.stderr
    fatal = (git_repo / ".catalog" / "segv1" / ".magnus" / "fatal.log").read_text()
    assert "\nThread 0x" in fatal and "Current thread 0x" in fatal  # (magnus's own threads: kept there)
    # prep's file, written in the background, may have been lost with the process: its output was written
    # through as it came (fatal.hold), so it is shown
    assert "==> prep (attempt 0) <==\nloading 3 columns\n" in logs.stdout, (logs.stdout, logs.stderr)
    held = git_repo / ".catalog" / "segv1" / ".magnus" / "held.log"
    if not (git_repo / ".catalog" / "segv1" / ".magnus" / "output" / "prep.0.log").exists():
        held.unlink()  # (without it: lost with the process, not like a file someone removed)
        logs = magnus("logs", "segv1")
        assert "magnus: prep (attempt 0): output lost with the run's process" in logs.stderr, logs.stderr
        assert "cannot be read" not in logs.stderr

    crash = {
        "step": "wait",
        "attempt": 0,
        "reason": "Segmentation fault",
        "where": "mlproj/steps.py:34 in segv_silent",
        "file": ".catalog/segv1/.magnus/fatal.log",
    }
    assert json.loads(magnus("logs", "segv1", "--json").stdout)["crash"] == crash
    assert json.loads(magnus("show", "segv1", "--json").stdout)["crash"] == crash


def test_a_crash_in_one_branch_names_that_branch(git_repo: Path, magnus: Any) -> None:
    _project(git_repo)
    done = magnus("execute", "-f", "parallel.yaml", "--run-id", "pc1")
    assert done.returncode == -signal.SIGSEGV, (done.returncode, done.stderr)

    shown = magnus("show", "pc1").stdout.splitlines()
    assert "fan.crashy.s: crashed (Segmentation fault) at mlproj/steps.py:30 in crash_later" in shown, shown
    assert "fan.slow.s: attempt 0 was cut short: the run's process crashed in fan.crashy.s" in shown, shown
    assert not any(line.startswith("the run's process crashed") for line in shown), shown  # (known where)

    logs = magnus("logs", "pc1")
    assert (
        "magnus: fan.crashy.s (attempt 0) crashed (Segmentation fault) at mlproj/steps.py:30" in logs.stderr
    )
    assert "magnus: fan.slow.s (attempt 0) was cut short: the run's process crashed in fan.crashy.s" in (
        logs.stderr
    )
    section = logs.stdout.split("==> fan.crashy.s (attempt 0) <==")[1]
    assert section.startswith("\nbranch about to crash\nFatal Python error: Segmentation fault\n"), section
    assert 'steps.py", line 30 in crash_later' in section and "\nThread 0x" not in logs.stdout

    followed = magnus("logs", "pc1", "--follow")
    assert "run pc1 ended INTERRUPTED: fan.crashy.s: crashed (Segmentation fault)" in followed.stderr

    assert json.loads(magnus("logs", "pc1", "--json").stdout)["crash"]["step"] == "fan.crashy.s"
    assert json.loads(magnus("show", "pc1", "--json").stdout)["crash"]["attempt"] == 0


def test_follow_names_the_step_a_kill_9_cut_short(git_repo: Path, magnus: Any) -> None:
    """No fatal signal (SIGKILL, the OOM killer): the ending names the step cut short."""
    _project(git_repo)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    (git_repo / "slow.yaml").write_text(
        "dag:\n  start_at: s1\n  steps:\n    s1: {type: task, command: mlproj.steps.slower, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "slow.yaml", "--run-id", "k9"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    follow = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "logs", "k9", "--follow"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "slow tick 3" not in magnus("logs", "k9", "s1").stdout:
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.2)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        out, err = follow.communicate(timeout=60)
    finally:
        follow.kill()
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert "slow tick 3" in out
    assert follow.returncode == 1, err
    assert (
        "run k9 ended INTERRUPTED: s1: attempt 0 was cut short: the run's process ended while it ran" in err
    )


def test_a_line_printed_just_before_a_crash_is_kept(git_repo: Path, magnus: Any) -> None:
    """docs/logs.md admitted losing a step's last tenth of a second: an attempt's first 50 ms of output were
    held in memory only, and a quick step's file was written in the background after it ended. What is held
    is now written through to the run's held file as it comes (one write per write of the step's output),
    so a segfault or a SIGKILL right after a print keeps the line, and the quick step's before it."""
    _project(git_repo)
    for pipeline, run_id, code, line in (
        ("at_once.yaml", "segv", -signal.SIGSEGV, "calling the C extension with batch 17"),
        ("killed.yaml", "k9", -signal.SIGKILL, "allocating 40 GB"),
    ):
        done = magnus("execute", "-f", pipeline, "--run-id", run_id)
        assert done.returncode == code, (done.returncode, done.stderr)
        assert line in done.stdout  # the terminal showed it
        logs = magnus("logs", run_id)
        assert f"==> wait (attempt 0) <==\n{line}\n" in logs.stdout, (logs.stdout, logs.stderr)
        assert "==> prep (attempt 0) <==\nloading 3 columns\n" in logs.stdout, logs.stdout
        assert "none of its output reached its file" not in logs.stderr, logs.stderr
        assert magnus("logs", run_id, "wait").stdout.startswith(f"{line}\n")
        shown = magnus("show", run_id).stdout
        assert f"  its output until then: magnus logs {run_id} wait" in shown, shown
    # a run that ends leaves no held file
    (git_repo / "fine.yaml").write_text(AT_ONCE.replace("mlproj.steps.segv,", "mlproj.steps.load,"))
    assert magnus("execute", "-f", "fine.yaml", "--run-id", "fine").returncode == 0
    assert not (git_repo / ".catalog" / "fine" / ".magnus" / "held.log").exists()
    assert (
        "loading 3 columns"
        in (git_repo / ".catalog" / "fine" / ".magnus" / "output" / "wait.0.log").read_text()
    )
