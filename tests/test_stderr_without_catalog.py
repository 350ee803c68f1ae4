"""A failed attempt's last stderr lines (`error.stderr`) live in the run log, not the catalog: they are
kept whatever the catalog, the do-nothing one included (trial 14 fault 14: with do-nothing a shell step
failing with `fatal: out of memory` on stderr was only "exited with code 6", and a step that wrote its
reason to stderr then called sys.exit(1) had nothing under its error; the usual Argo pod runs that way)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_magnus

STEPS = """
import sys

def exit_one():
    print("about to exit 1")
    print("ERROR: disk quota exceeded", file=sys.stderr)
    sys.exit(1)
"""

PIPELINE = """
dag:
  start_at: shell fail
  steps:
    shell fail:
      type: task
      command_type: shell
      command: 'echo working; echo "fatal: out of memory" >&2; exit 6'
      next: success
      on_failure: exit one
    exit one: {type: task, command: steps.exit_one, next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    (git_repo / "nocat.yaml").write_text("catalog: {type: do-nothing}\n")
    (git_repo / "pod.yaml").write_text("run_log_store: {type: chunked-fs}\ncatalog: {type: do-nothing}\n")
    return git_repo


def _error(project: Path, run_id: str, step: str) -> dict[str, Any]:
    done = run_magnus(
        "show", run_id, "--json", "-c", "pod.yaml" if run_id.startswith("pod") else "nocat.yaml"
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["steps"][step]["attempts"][0]["error"]


def test_a_run_with_the_do_nothing_catalog_records_the_last_stderr_lines(project: Path) -> None:
    done = run_magnus("execute", "-f", "p.yaml", "-c", "nocat.yaml", "--run-id", "r", cwd=project)
    assert done.returncode == 1, done.stderr
    assert _error(project, "r", "shell fail")["stderr"] == ["fatal: out of memory"]
    assert _error(project, "r", "exit one")["stderr"] == ["ERROR: disk quota exceeded"]
    shown = run_magnus("show", "r", "-c", "nocat.yaml", cwd=project).stdout
    assert "stderr: fatal: out of memory" in shown and "stderr: ERROR: disk quota exceeded" in shown
    assert not (project / ".catalog").exists()  # still nothing kept in a catalog


def test_a_step_run_alone_with_the_do_nothing_catalog_records_them(project: Path) -> None:
    for step in ("shell fail", "exit one"):
        done = run_magnus(
            "execute_single_node", "pod1", step, "--file", "p.yaml", "-c", "pod.yaml", cwd=project
        )
        assert done.returncode == 1, done.stderr
    assert _error(project, "pod1", "shell fail")["stderr"] == ["fatal: out of memory"]
    assert _error(project, "pod1", "exit one")["stderr"] == ["ERROR: disk quota exceeded"]
