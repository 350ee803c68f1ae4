"""A python step that replaces json's functions for the whole process no longer fails the steps after it
(issue 16, point 4). A python step runs in magnus's own process: before, a step that left `json.dumps`
raising failed every later shell step (magnus writes its parameters with json.dumps), one that left
`json.loads` raising failed the next python step (its returned parameters are read back), each with the
patching step's exception, located in the step that patched. magnus binds what it uses at import
(magnus_core/jsonio.py). Real runs in subprocesses, in a temporary git repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

STEPS = """
import json
from magnus import track_this


def _refuse(*args, **kwargs):
    raise RuntimeError("json patched by the step")


def dumps_raises():
    json.dumps = _refuse
    json.dump = _refuse
    json.load = _refuse


def loads_raises():
    json.loads = _refuse


def classes_raise():
    json.JSONEncoder.encode = _refuse
    json.JSONDecoder.decode = _refuse


def grow(x):
    track_this(auc=0.5, step=0)
    track_this(loss=0.25)
    return {"x": x + 1, "shape": [2, 3]}
"""

PIPELINE = """dag:
  start_at: patch
  steps:
    patch: {{type: task, command: steps.{patch}, next: grow}}
    grow: {{type: task, command: steps.grow, next: again}}
    again: {{type: task, command: steps.grow, next: shell}}
    shell: {{type: task, command_type: shell, command: 'echo "x is $MAGNUS_PRM_X, shape is $MAGNUS_PRM_SHAPE"', next: success}}
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


@pytest.mark.parametrize("patch", ["dumps_raises", "loads_raises", "classes_raise"])
def test_a_step_that_patches_json_leaves_later_steps_and_the_run_log_alone(
    git_repo: Path, patch: str
) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE.format(patch=patch))
    done = _magnus(git_repo, "execute", "-f", "p.yaml", "--x", "1", "--run-id", "r", "--json")
    assert done.returncode == 0, done.stderr  # (the old code: 1, a later step failed with the patch's error)
    assert "json patched by the step" not in done.stdout + done.stderr
    log = json.loads(done.stdout)
    assert log["status"] == "SUCCESS"
    assert list(log["steps"]) == ["patch", "grow", "again", "shell", "success"]
    assert all(step["status"] == "SUCCESS" for step in log["steps"].values())
    assert log["steps"]["again"]["user_defined_metrics"] == {"auc": 0.5, "loss": 0.25}
    assert log["parameters"]["x"] == 3 and log["parameters"]["shape"] == [2, 3]
    assert json.loads((git_repo / ".run_log_store" / "r.json").read_text())["status"] == "SUCCESS"
    logs = _magnus(git_repo, "logs", "r", "shell")
    assert logs.returncode == 0, logs.stderr
    assert "x is 3, shape is [2, 3]" in logs.stdout, logs.stdout
    shown = _magnus(git_repo, "show", "r")
    assert shown.returncode == 0 and "SUCCESS" in shown.stdout, shown.stderr
