"""A failed step's output as the summary and `magnus logs` show it (trial 11, faults 6 and 7): tqdm-style
`\\r` progress frames count as their last frame in a failure's tail (what a terminal shows), however many
there are, and a traceback after a partial last line (`print(..., end="")`) starts on a line of its own;
the kept file keeps every byte the step wrote. Each test runs the real command line in subprocesses, in a
temporary git repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

STEPS = """
import sys


def tq():
    for i in range(21):
        sys.stderr.write(f"\\rtraining: {i * 5:3d}%|###| {i * 5}/100")
        sys.stderr.flush()
    sys.stderr.write("\\n")
    for i in range(4):
        print(f"real line {i}")
    print("epoch done, loss=nan", end="")
    raise ValueError("nan loss")


def many():
    print("first real line")
    for i in range(3000):
        sys.stderr.write(f"\\rstep {i:5d} of 3000 ......................")
    sys.stderr.write("\\rdone\\n")
    raise RuntimeError("after many frames")


def bail():
    print("partial", end="")
    sys.exit("config missing")
"""


def _pipeline(name: str) -> str:
    return (
        f"dag:\n  start_at: {name}\n  steps:\n    {name}: {{type: task, command: steps.{name}, next: success}}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "steps.py").write_text(STEPS)
    for name in ("tq", "many", "bail"):
        (git_repo / f"{name}.yaml").write_text(_pipeline(name))
    return git_repo


def _tail(stdout: str) -> list[str]:
    return [line[4:] for line in stdout.splitlines() if line.startswith("  | ")]


def test_progress_frames_count_as_their_last_frame_in_a_failures_tail(project: Path, magnus: Any) -> None:
    """Fault 6: 21 frames on one line filled 6 of the tail's 10 lines; now they are one line, the last
    frame, and the step's real lines are all there. The file keeps every frame."""
    run = magnus("execute", "-f", "tq.yaml", "--run-id", "t1")
    assert run.returncode == 1, run.stderr
    for shown in (run.stdout, magnus("show", "t1").stdout):
        tail = _tail(shown)
        assert [line for line in tail if "training" in line] == ["training: 100%|###| 100/100"], tail
        assert all(f"real line {i}" in tail for i in range(4)), tail
    (kept,) = (project / ".catalog" / "t1").rglob("tq*")  # (read as bytes: text mode turns \r into \n)
    assert kept.read_bytes().count(b"\r") == 21 and b"\rtraining:  45%|###| 45/100" in kept.read_bytes()


def test_a_long_run_of_frames_shows_its_last_frame(project: Path, magnus: Any) -> None:
    """3000 frames on one line (over 64 KB): the tail shows `done`, and the line before the frames."""
    run = magnus("execute", "-f", "many.yaml", "--run-id", "m1")
    assert run.returncode == 1, run.stderr
    tail = _tail(run.stdout)
    assert tail[:2] == ["first real line", "done"], tail
    assert not [line for line in tail if "of 3000" in line], tail


def test_a_traceback_after_a_partial_line_starts_on_a_line_of_its_own(project: Path, magnus: Any) -> None:
    """Fault 7: `print("epoch done, loss=nan", end="")` then a raise read `loss=nanTraceback (most recent
    call last):` in the file, `magnus logs` and the summary's tail."""
    run = magnus("execute", "-f", "tq.yaml", "--run-id", "t2")
    assert run.returncode == 1, run.stderr
    tail = _tail(run.stdout)
    at = tail.index("epoch done, loss=nan")
    assert tail[at + 1] == "Traceback (most recent call last):", tail
    kept = magnus("logs", "t2", "tq").stdout
    assert "loss=nan\nTraceback (most recent call last):\n" in kept, kept
    # sys.exit("message") after a partial line: python's message on a line of its own too
    magnus("execute", "-f", "bail.yaml", "--run-id", "b1")
    assert magnus("logs", "b1", "bail").stdout == "partial\nconfig missing\n"
