"""A python step that replaces `os.replace`, `os.fsync` or `tempfile.mkstemp` for the whole process no longer
ends magnus (issue 16, point 4): a python step runs in magnus's own process, and magnus writes the run log,
the catalog and a shell step's environment file through them (files.py); one that left them raising ended
magnus at its next write of the run log, `Error: internal error (RuntimeError: ...)`, exit 1, the log
unfinished. files.py binds them at import. The shell step prints, then runs past capture.SPILL_AFTER, so its
output goes to a growing file that the catalog renames into place (CI, session 15: that rename was the
step's `os.replace` when the machine was loaded). Real runs in subprocesses, in a temporary git repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

STEPS = """
import os
import tempfile


def _refuse(*args, **kwargs):
    raise RuntimeError("os patched by the step")


def replace_raises():
    os.replace = _refuse


def fsync_raises():
    os.fsync = _refuse


def mkstemp_raises():
    tempfile.mkstemp = _refuse


def grow(x):
    os.makedirs("data", exist_ok=True)
    with open("data/data.txt", "w") as handle:
        handle.write("kept")
    return {"x": x + 1}
"""

PIPELINE = """dag:
  start_at: patch
  steps:
    patch: {{type: task, command: steps.{patch}, next: grow}}
    grow: {{type: task, command: steps.grow, next: shell, catalog: {{put: [data.txt]}}}}
    shell: {{type: task, command_type: shell, command: 'echo "x is $MAGNUS_PRM_X"; sleep 0.3', next: success}}
    success: {{type: success}}
    fail: {{type: fail}}
"""


def _magnus(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "magnus_core", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("patch", ["replace_raises", "fsync_raises", "mkstemp_raises"])
def test_a_step_that_patches_os_file_functions_leaves_the_run_log_whole(git_repo: Path, patch: str) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE.format(patch=patch))
    done = _magnus(git_repo, "execute", "-f", "p.yaml", "--x", "1", "--run-id", "r")
    assert done.returncode == 0, done.stdout + done.stderr  # (the old code: 1, an internal error)
    assert "internal error" not in done.stderr and "os patched by the step" not in done.stdout + done.stderr
    assert "Run r: SUCCESS" in done.stdout.splitlines(), done.stdout
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert log["status"] == "SUCCESS"
    assert list(log["steps"]) == ["patch", "grow", "shell", "success"]
    assert all(step["status"] == "SUCCESS" for step in log["steps"].values())
    assert (git_repo / ".catalog" / "r" / "data.txt").read_text() == "kept"
    logs = _magnus(git_repo, "logs", "r", "shell")
    assert logs.returncode == 0 and "x is 2" in logs.stdout, logs.stdout + logs.stderr
