"""A python step run one at a time that sets SIGPIPE's default action from C and then prints, under
`magnus execute ... | head -1` (trial 21, major): magnus's write of the step's line into the pipe whose
reader had gone killed it, exit 141, nothing said, the run log PROCESSING. While a python step runs,
magnus's writes into a pipe hold SIGPIPE (output.PYTHON_STEP), as they do beside other branches: the write
fails (EPIPE, what is printed after is dropped, as for any reader that went away), the step's end puts
SIGPIPE right and says so, and the run ends with its own status and exit code. Real runs in a shell
pipeline, a real `head`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

STEPS = """import ctypes
import time


def plain():
    ctypes.CDLL(None).signal(13, ctypes.c_void_p(0))  # SIGPIPE to its default action, behind python's back
    for i in range(200):
        print(f"line {i}", flush=True)
        time.sleep(0.001)


def logs():
    import logging
    logging.basicConfig(level=logging.INFO)
    ctypes.CDLL(None).signal(13, ctypes.c_void_p(0))
    for i in range(200):
        logging.getLogger("lib").info("record %d", i)
        time.sleep(0.001)


def after():
    print("after", flush=True)
"""


@pytest.mark.parametrize("command", ["plain", "logs"])
def test_sigpipes_default_set_from_c_by_a_printing_step_does_not_kill_magnus_under_head(
    git_repo: Path, command: str
) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: s\n  steps:\n"
        f"    s: {{type: task, command: steps.{command}, next: t}}\n"
        "    t: {type: task, command: steps.after, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    magnus = f"{sys.executable} -m magnus_core execute -f p.yaml --run-id r"
    both = "2>&1 " if command == "logs" else "2>err.txt "  # (logging writes to stderr)
    done = subprocess.run(
        ["bash", "-c", f'{magnus} {both}| head -1; echo "rc=${{PIPESTATUS[0]}}"'],
        cwd=git_repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.splitlines()[-1] == "rc=0", done.stdout + done.stderr  # (the old code: rc=141)
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert log["status"] == "SUCCESS"
    assert {name: step["status"] for name, step in log["steps"].items()} == {
        "s": "SUCCESS",
        "t": "SUCCESS",
        "success": "SUCCESS",
    }
    kept = subprocess.run(
        [sys.executable, "-m", "magnus_core", "logs", "r", "s"],
        cwd=git_repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ("line 199" if command == "plain" else "record 199") in kept.stdout  # kept whole, in its file
