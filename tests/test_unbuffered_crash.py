"""Under `python -u` or PYTHONUNBUFFERED (what a user sets so that a crash loses no line printed before it),
a python step's prints reach its file a line at a time, piped or not: two lines printed just before a
segfault are kept (trial 26: in no file and not on the piped terminal, 3 runs in 3, with the variable
set). Without it the step's stdout is block-buffered when piped, flushed every 50 ms (docs/logs.md)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_magnus

STEPS = """
import ctypes


def crash():
    print("loading model weights from /models/big.pt")
    print("weights shape mismatch, continuing anyway")
    ctypes.string_at(0)
"""


def test_lines_printed_before_a_segfault_are_kept_under_pythonunbuffered(git_repo: Path) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: c\n  steps:\n    c: {type: task, command: steps.crash, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    env = {"PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": ""}
    done = run_magnus("execute", "-f", "p.yaml", "--run-id", "r", cwd=git_repo, env=env)
    assert done.returncode == -11, done.stderr
    said = "loading model weights from /models/big.pt\nweights shape mismatch, continuing anyway\n"
    assert done.stdout.startswith(said)  # the terminal (a pipe here) had them
    kept = run_magnus("logs", "r", "c", cwd=git_repo).stdout
    assert kept.startswith(said + "Fatal Python error: Segmentation fault"), kept
