"""A RecursionError deep in a library (`copy.deepcopy` of a very nested object) is located at the step's own
line: a failure keeps its innermost frames, and when none of those is the project's, the innermost frame
that is takes the outermost's place (trial 27: located in copy.py, the step's line in neither the run log
nor its output)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_magnus

STEPS = """
import copy


def deep():
    nested = []
    for _ in range(5000):
        nested = [nested]
    copy.deepcopy(nested)
"""


def test_a_recursion_deep_in_a_library_is_located_at_the_steps_line(git_repo: Path) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: s\n  steps:\n    s: {type: task, command: steps.deep, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    done = run_magnus("execute", "-f", "p.yaml", "--run-id", "r", cwd=git_repo)
    assert done.returncode == 1
    assert "s: RecursionError: maximum recursion depth exceeded\n  at steps.py:9 in deep\n" in done.stdout
    error = json.loads((git_repo / ".run_log_store" / "r.json").read_text())["steps"]["s"]["attempts"][0][
        "error"
    ]
    assert error["frames"][0]["file"] == "steps.py" and error["frames"][0]["line"] == 9
    kept = run_magnus("logs", "r", "s", cwd=git_repo).stdout
    assert 'File "steps.py", line 9, in deep' in kept
