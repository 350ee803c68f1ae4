"""A fatal signal in a process a step forked (a fork Pool's or a DataLoader's worker that segfaults, which
the step may see as an exit code and go on from) is the child's: its traceback goes to the child's stderr,
into the step's output, not into the run's fatal file (trial 25: it stayed there, and when magnus's own
process died later, of a SIGKILL or a crash of its own, every view read it as the run's crash, at the
child's line, blamed on the step running then). The real command line, real segfaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_magnus

STEPS = """
import ctypes
import multiprocessing as mp
import os
import signal


def child_crash():
    ctypes.string_at(0)


def a():
    p = mp.get_context("fork").Process(target=child_crash)
    p.start()
    p.join()
    print("child exitcode", p.exitcode, flush=True)


def b():
    print("b runs", flush=True)
    if os.environ["HOW"] == "segfault":
        ctypes.string_at(0)
    os.kill(os.getpid(), signal.SIGKILL)
"""

PIPELINE = """
dag:
  start_at: a
  steps:
    a: {type: task, command: steps.a, next: b}
    b: {type: task, command: steps.b, next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.mark.parametrize("how", ["segfault", "sigkill"])
def test_a_forked_childs_crash_is_its_steps_output_not_the_runs_crash(git_repo: Path, how: str) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    (git_repo / "config.yaml").write_text("run_log_store:\n  type: chunked-fs\n")
    env = {"HOW": how, "PYTHONFAULTHANDLER": ""}
    run = run_magnus("execute", "-c", "config.yaml", "-f", "p.yaml", "--run-id", "r", cwd=git_repo, env=env)
    assert run.returncode == (-11 if how == "segfault" else -9), run.stderr
    a = run_magnus("logs", "-c", "config.yaml", "r", "a", cwd=git_repo).stdout
    assert a.startswith("Fatal Python error: Segmentation fault"), a  # the child's, in its step's output
    assert 'steps.py", line 9 in child_crash' in a and a.endswith("child exitcode -11\n")
    shown = run_magnus("show", "-c", "config.yaml", "r", cwd=git_repo).stdout
    crash = json.loads(run_magnus("logs", "-c", "config.yaml", "r", "--json", cwd=git_repo).stdout)["crash"]
    if how == "segfault":  # b's own crash, at b's line
        assert "b: crashed (Segmentation fault) at steps.py:22 in b" in shown, shown
        assert crash["step"] == "b" and crash["where"] == "steps.py:22 in b", crash
    else:  # a SIGKILL leaves no trace: cut short, no crash
        assert "crashed" not in shown and "b: attempt 0 was cut short" in shown, shown
        assert crash is None


def test_the_summary_folds_magnus_and_library_frames_of_a_childs_crash(git_repo: Path) -> None:
    """trial 26: a forked child's crash prints the stack it inherited (magnus's command line, click): the
    failure's last lines were magnus's and click's frames. They fold into one line, as a traceback's do."""
    (git_repo / "steps.py").write_text(STEPS + "\n\ndef a_then_exit():\n    a()\n    raise SystemExit(3)\n")
    (git_repo / "p.yaml").write_text(
        PIPELINE.replace("steps.a,", "steps.a_then_exit,").replace("next: b", "next: success")
    )
    done = run_magnus(
        "execute", "-f", "p.yaml", "--run-id", "r", cwd=git_repo, env={"PYTHONFAULTHANDLER": ""}
    )
    assert done.returncode == 1, done.stderr
    tail = [line for line in done.stdout.splitlines() if line.startswith("  | ")]
    assert any("frames in libraries folded" in line for line in tail), tail
    assert not any("magnus_core/" in line or "click/" in line for line in tail), tail
