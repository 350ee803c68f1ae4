"""A step that replaces `select.select` (or removes `select.poll`, as gevent's patch_all does) no longer
kills magnus's thread reading the steps' output (trial 20 N8: `Exception in thread magnus-fd2`, `Error:
internal error (RuntimeError: select disabled)`, and the step that had succeeded recorded FAIL): magnus's
threads use select as magnus found it. Real runs in subprocesses, each bounded (a hang fails the test,
never CI), in a temporary git repo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# (a hang of the old code ends as a TimeoutExpired: the test fails, its magnus killed)
BOUND = 60

STEPS = """
import select, subprocess


def replace_select():
    def disabled(*args, **kwargs):
        raise RuntimeError("select disabled")
    select.select = disabled
    del select.poll
    print("select replaced")


def child_output():
    done = subprocess.run("echo child out; echo child err >&2", shell=True)
    print("child exited", done.returncode)
"""


def _project(root: Path, pipeline: str) -> None:
    (root / "steps.py").write_text(STEPS)
    (root / "p.yaml").write_text(pipeline)


def _log(root: Path, run: str) -> dict[str, Any]:
    return json.loads((root / ".run_log_store" / f"{run}.json").read_text())


def _no_raw_tracebacks(stderr: str) -> None:
    """Nothing of magnus's own threads breaking (the old code: `Exception in thread magnus-fd2`)."""
    assert "Exception ignored" not in stderr, stderr
    assert "Exception in thread" not in stderr, stderr
    assert "internal error" not in stderr, stderr


SELECT = """
dag:
  start_at: adv
  steps:
    adv: {type: task, command: steps.replace_select, next: sh}
    sh: {type: task, command_type: shell, command: "for i in 1 2 3; do echo tick $i; echo err $i >&2; done", next: after}
    after: {type: task, command: steps.child_output, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_step_that_replaces_select_does_not_break_magnuss_threads(git_repo: Path, magnus: Any) -> None:
    _project(git_repo, SELECT)
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "r", timeout=BOUND)
    assert ran.returncode == 0, ran.stderr  # (the old code: 1, `Error: internal error (RuntimeError: ...)`)
    _no_raw_tracebacks(ran.stderr)
    log = _log(git_repo, "r")
    assert {name: step["status"] for name, step in log["steps"].items()} == dict.fromkeys(
        ["adv", "sh", "after", "success"], "SUCCESS"
    )
    sh = magnus("logs", "r", "sh").stdout
    assert all(f"tick {i}" in sh and f"err {i}" in sh for i in (1, 2, 3)), sh
    after = magnus("logs", "r", "after").stdout
    assert "child out" in after and "child err" in after and "child exited 0" in after, after
