"""A python step that leaves a standard function replaced (trial 20 N4: `mock.patch("subprocess.Popen",
...).start()` never stopped; `os.open` replaced): a python step runs in magnus's own process, so the next
shell step failed with the replacement's error, blamed on it, and a replaced `os.open` stopped magnus at its
next write of the run log (`Error: the file-system run-log store: cannot write: ...`, the run log left
PROCESSING). The functions magnus relies on between steps, itself or through the standard library it calls
(os, os.path, subprocess, shutil, tempfile, io.open, pathlib.Path's), are put back as the step ends and said once, naming
the step, as builtins.open is (trial 19 F4). Real runs in subprocesses, in a temporary git repo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

STEPS = """
import os
import shutil
import subprocess
import tempfile
import time
from unittest import mock


def patched(target, how):
    if how == "mock":
        mock.patch(target, side_effect=PermissionError(target + " disabled by a test mock")).start()
        return
    module, name = target.rsplit(".", 1)
    holder = {"os": os, "os.path": os.path, "shutil": shutil, "subprocess": subprocess, "tempfile": tempfile}[module]

    def refuse(*args, **kwargs):
        raise PermissionError(target + " disabled by the step")

    setattr(holder, name, refuse)
    if how == "slow":
        time.sleep(0.05)


def returns():
    os.makedirs("data", exist_ok=True)
    with open("data/out.txt", "w") as handle:
        handle.write("kept")
    return {"x": 1}
"""

PIPELINE = """
dag:
  start_at: p
  steps:
    p: {type: task, command: steps.patched, next: r}
    r: {type: task, command: steps.returns, next: sh, catalog: {put: [out.txt]}}
    sh: {type: task, command_type: shell, command: 'echo "shell ran with $MAGNUS_PRM_X"', next: success}
    success: {type: success}
    fail: {type: fail}
"""

ALL_SUCCEEDED = dict.fromkeys(["p", "r", "sh", "success"], "SUCCESS")


def _run(root: Path, magnus: Any, target: str, how: str, pipeline: str = PIPELINE, *more: str) -> Any:
    (root / "steps.py").write_text(STEPS)
    (root / "p.yaml").write_text(pipeline)
    return magnus("execute", "-f", "p.yaml", "--run-id", "r", "--target", target, "--how", how, *more)


def _log(root: Path) -> dict[str, Any]:
    log: dict[str, Any] = json.loads((root / ".run_log_store" / "r.json").read_text())
    return log


def _said(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "did not put it back" in line]


def _words(who: str, target: str) -> str:
    return (
        f"magnus: {who} replaced {target} (a mock started and never stopped?) and did not put it back; magnus "
        "did: later steps and magnus itself use the standard library's own"
    )


@pytest.mark.parametrize(
    "target",
    [
        "subprocess.Popen",  # the next shell step failed, blamed on itself
        "os.open",  # magnus stopped at its next write of the run log, the log PROCESSING
        "os.write",
        "os.getcwd",
        "os.stat",
        "os.path.join",
        "os.path.exists",
        "shutil.which",
        "tempfile.gettempdir",
        "pathlib.Path.exists",  # (trial 21: the next step's put found nothing, said as a warning only)
        "pathlib.Path.is_file",
        "pathlib.Path.glob",
    ],
)
def test_a_mock_a_step_left_started_is_put_back_and_said(git_repo: Path, magnus: Any, target: str) -> None:
    ran = _run(git_repo, magnus, target, "mock")
    assert ran.returncode == 0, (
        ran.stdout + ran.stderr
    )  # (the old code: 1 or 2, a later step or magnus failed)
    log = _log(git_repo)
    assert log["status"] == "SUCCESS"
    assert {name: step["status"] for name, step in log["steps"].items()} == ALL_SUCCEEDED
    assert "shell ran with 1" in ran.stdout and "disabled" not in ran.stdout + ran.stderr
    assert _said(ran.stderr) == [_words("step p", target)]
    assert (git_repo / ".catalog" / "r" / "out.txt").read_text() == "kept"


@pytest.mark.parametrize(
    ("target", "how"), [("os.open", "quick"), ("subprocess.Popen", "quick"), ("shutil.which", "slow")]
)
def test_a_function_a_step_replaced_itself_is_put_back_and_said(
    git_repo: Path, magnus: Any, target: str, how: str
) -> None:
    """Without a mock: os.open and subprocess.Popen are looked at after every step; the others after a step
    that ran 10 ms or more (or loaded a module, or left a mock started)."""
    ran = _run(git_repo, magnus, target, how)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert _log(git_repo)["status"] == "SUCCESS" and "shell ran with 1" in ran.stdout
    assert _said(ran.stderr) == [_words("step p", target)]


def test_a_module_that_replaces_a_function_as_imported_is_named(git_repo: Path, magnus: Any) -> None:
    (git_repo / "shim.py").write_text(
        "import subprocess\n\n\ndef _refuse(*a, **k):\n    raise PermissionError('no subprocesses')\n\n\n"
        "subprocess.Popen = _refuse\n\n\ndef s():\n    print('s ran')\n"
    )
    (git_repo / "p.yaml").write_text(PIPELINE.replace("steps.patched", "shim.s"))
    (git_repo / "steps.py").write_text(STEPS)
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert ran.returncode == 0, ran.stdout + ran.stderr  # (the old code: sh failed, PermissionError)
    assert _log(git_repo)["status"] == "SUCCESS" and "shell ran with 1" in ran.stdout
    assert _said(ran.stderr) == [_words("step p's module shim, as it was imported,", "subprocess.Popen")]


PARALLEL = """
dag:
  start_at: par
  steps:
    par:
      type: parallel
      next: sh
      branches:
        A: {start_at: p, steps: {p: {type: task, command: steps.patched, next: success}, success: {type: success}, fail: {type: fail}}}
        B: {start_at: r, steps: {r: {type: task, command: steps.returns, next: success}, success: {type: success}, fail: {type: fail}}}
    sh: {type: task, command_type: shell, command: 'echo "shell ran"', next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_mock_a_branch_step_left_started_is_put_back_once_the_branches_end(
    git_repo: Path, magnus: Any
) -> None:
    """Beside other branches (max_workers 2) a branch's step is not followed by the look; the branches' end
    is, before the shell step after the parallel."""
    (git_repo / "conf.yaml").write_text("executor: {type: local, config: {max_workers: 2}}\n")
    ran = _run(git_repo, magnus, "subprocess.Popen", "mock", PARALLEL, "-c", "conf.yaml")
    assert ran.returncode == 0, ran.stdout + ran.stderr  # (the old code: sh failed, PermissionError)
    assert _log(git_repo)["status"] == "SUCCESS" and "shell ran" in ran.stdout
    assert _said(ran.stderr) == [_words("a step in a branch", "subprocess.Popen")]
