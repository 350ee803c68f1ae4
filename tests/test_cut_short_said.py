"""A `magnus execute` that dies while its run runs says so where the user reads (trial 19 F13, trial 20): a
segfault in a step's C code, or a SIGKILL, ended the command with exit 139 or 137 and nothing of magnus's own
on the terminal, while `magnus show` knew where it stopped. Magnus's watcher (magnus_core/watcher.py),
which outlives it, is given the command line's stderr as it was before magnus pumped it and the run's id:
when magnus dies before the run ends it writes one line there, with the reason faulthandler recorded
(`Segmentation fault`) and the command that shows the run. A run that ends, however it ends (a failed step,
Ctrl-C), says nothing of the kind. Real runs in subprocesses, a real segfault and a real SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

STEPS = """import ctypes
import sys
import time


def crash():
    print("about to crash", flush=True)
    ctypes.string_at(0)


def slow():
    print("slow starts", flush=True)
    time.sleep(60)


def fails():
    sys.exit(3)
"""


def _pipeline(command: str) -> str:
    return (
        "dag:\n  start_at: s\n  steps:\n"
        f"    s: {{type: task, command: steps.{command}, next: success}}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )


CUT_SHORT = "magnus: run {} was cut short: its process"


def test_a_segfault_is_said_on_stderr_with_its_reason_and_the_show_command(
    git_repo: Path, magnus: Any
) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(_pipeline("crash"))
    done = magnus("execute", "-f", "p.yaml", "--run-id", "segv")
    assert done.returncode == -signal.SIGSEGV, (done.returncode, done.stderr)
    line = next((x for x in done.stderr.splitlines() if x.startswith(CUT_SHORT.format("segv"))), None)
    assert line == (
        "magnus: run segv was cut short: its process crashed (Segmentation fault); what it recorded: "
        "magnus show segv"
    ), done.stderr


def test_a_sigkill_is_said_on_stderr(git_repo: Path, tmp_path: Path) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(_pipeline("slow"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    err = tmp_path / "stderr.txt"
    with err.open("wb") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "killed"],
            cwd=git_repo,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=handle,
        )
        try:
            deadline = time.monotonic() + 60
            while "slow starts" not in _logs(git_repo, env) and time.monotonic() < deadline:
                time.sleep(0.2)
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
    # the watcher writes its line as it sees magnus's end, then stops the step's processes
    deadline = time.monotonic() + 30
    while CUT_SHORT.format("killed") not in err.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (
        "magnus: run killed was cut short: its process was killed (SIGKILL, the out-of-memory killer, a "
        "crash, or a signal a step left to its default action); what it recorded: magnus show killed"
    ) in err.read_text(), err.read_text()


def _logs(git_repo: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "magnus_core", "logs", "killed", "s"],
        cwd=git_repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout


def test_a_run_that_ends_says_nothing_of_the_kind(git_repo: Path, magnus: Any) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(_pipeline("fails"))
    done = magnus("execute", "-f", "p.yaml", "--run-id", "failed")
    assert done.returncode == 1, done.stderr
    assert "Run failed: FAIL" in done.stdout, done.stdout
    assert "cut short: its process" not in done.stderr, done.stderr


TERM_DEFAULT = """import ctypes
import time
from pathlib import Path


def bypass():
    ctypes.CDLL(None).signal(15, ctypes.c_void_p(0))  # SIGTERM to its default action, behind python's back
    Path("started").touch()
    time.sleep(60)
"""


def test_a_stop_that_the_step_let_kill_magnus_says_the_end_was_not_recorded(
    git_repo: Path, tmp_path: Path
) -> None:
    """trial 21: `magnus stop` of a run whose running step had set SIGTERM to its default from C said
    `stopped ...: INTERRUPTED` though magnus died at the signal with its run log PROCESSING, and the
    watcher's line named only SIGKILL, the out-of-memory killer or a crash."""
    (git_repo / "steps.py").write_text(TERM_DEFAULT)
    (git_repo / "p.yaml").write_text(_pipeline("bypass"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    err = tmp_path / "stderr.txt"
    with err.open("wb") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "bypassed"],
            cwd=git_repo,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=handle,
        )
        try:
            deadline = time.monotonic() + 60
            while not (git_repo / "started").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            stopped = subprocess.run(
                [sys.executable, "-m", "magnus_core", "stop", "bypassed"],
                cwd=git_repo,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.wait(timeout=30) == -signal.SIGTERM
        finally:
            if proc.poll() is None:
                proc.kill()
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.startswith("Run bypassed ended at the SIGTERM without recording its end (pid "), (
        stopped
    )
    assert (
        "INTERRUPTED (PROCESSING): a step had left SIGTERM to its default action (from C)" in stopped.stdout
    )
    deadline = time.monotonic() + 30
    while CUT_SHORT.format("bypassed") not in err.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "or a signal a step left to its default action); what it recorded" in err.read_text(), (
        err.read_text()
    )
