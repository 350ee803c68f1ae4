"""A failure whose message has several lines (trial 11, fault 4: pydantic, SQL and CUDA errors often do):
the summary and `magnus show` indent its further lines, never at column 0 where they read as new summary
lines, and `magnus logs` says where it was raised after its first line, not glued to its last. Runs the
real command line in subprocesses, in a temporary git repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

STEPS = """
def ml():
    print("before")
    raise RuntimeError("first line of reason\\nsecond line: details\\nthird line")
"""

PIPELINE = """dag:
  start_at: ml
  steps:
    ml: {type: task, command: steps.ml, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_message_of_several_lines_keeps_the_failures_layout(git_repo: Path, magnus: Any) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "ml.yaml").write_text(PIPELINE)
    run = magnus("execute", "-f", "ml.yaml", "--run-id", "m1")
    assert run.returncode == 1, run.stderr
    for shown in (run.stdout, magnus("show", "m1").stdout):
        lines = shown.splitlines()
        at = lines.index("ml: RuntimeError: first line of reason")
        assert lines[at + 1 : at + 4] == [
            "    second line: details",
            "    third line",
            "  at steps.py:4 in ml",
        ]
        assert "second line: details" not in lines and "third line" not in lines  # none at column 0
    logs = magnus("logs", "m1", "ml")
    assert logs.returncode == 0
    assert logs.stderr.splitlines() == [
        "magnus: ml (attempt 0) failed: RuntimeError: first line of reason, at steps.py:4 in ml",
        "magnus:     second line: details",
        "magnus:     third line",
    ]
    assert logs.stdout.endswith("RuntimeError: first line of reason\nsecond line: details\nthird line\n")
