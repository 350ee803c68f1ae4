"""The summary starts on a line of its own after a step whose last output had no newline (trial 22:
`working on 'a/b'Run n2: FAIL` in `magnus execute ... | cat`), and no blank line is added after one that
had. Real runs in subprocesses, stdout a pipe, in a temporary git repo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

STEPS = """
def partial():
    print("working on 'a/b'", end="")


def whole():
    print("working on 'a/b'")
"""


@pytest.mark.parametrize("function", ["partial", "whole"])
def test_the_summary_begins_a_line(git_repo: Path, magnus: Any, function: str) -> None:
    (git_repo / "nl.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(
        f"dag:\n  start_at: w\n  steps:\n    w: {{type: task, command: nl.{function}, next: success}}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    done = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == ["working on 'a/b'", "Run r: SUCCESS"], done.stdout
    kept = (git_repo / ".catalog" / "r" / ".magnus" / "output" / "w.0.log").read_bytes()
    assert kept == b"working on 'a/b'" + (b"" if function == "partial" else b"\n")  # kept as written
