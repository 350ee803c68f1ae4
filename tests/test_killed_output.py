"""What a step printed survives its process's death (trial 12, fault 11): a step SIGKILLed (the OOM killer)
or segfaulting 0.1-0.8 s after it printed a line lost that line, the one a debugger needs: an attempt's
output was held in memory for its first half second and the seam's flush thread looked every half
second, so nothing reached the attempt's `.live` file, and `magnus logs` had nothing to show. Now held
output goes to the live file within about 0.1 s (capture.SPILL_AFTER, output.FLUSH_EVERY).

A real `magnus execute` in a subprocess, whose step kills its own process, in a temporary git repository.
The chunked-fs store records a step's start 50 ms after it begins (the file-system store's spaced writes
may not have it yet at a kill: trial 12 fault 10, another fix), so `magnus logs` has the attempt to show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

STEPS = """
import ctypes
import os
import signal
import time


def prep():
    print("prepared")


def dies():
    print("loading batch 17", flush=True)
    time.sleep(float(os.environ["DIE_AFTER"]))
    if os.environ["DIE_HOW"] == "segfault":
        ctypes.string_at(0)  # C code reading address 0: SIGSEGV
    os.kill(os.getpid(), signal.SIGKILL)
"""

PIPELINE = """dag:
  start_at: prep
  steps:
    prep: {type: task, command: killme.prep, next: dies}
    dies: {type: task, command: killme.dies, next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.mark.parametrize("how", ["sigkill", "segfault"])
def test_a_line_printed_0_3_s_before_the_process_died_is_kept(git_repo: Path, magnus: Any, how: str) -> None:
    (git_repo / "killme.py").write_text(STEPS)
    (git_repo / "killme.yaml").write_text(PIPELINE)
    (git_repo / "config.yaml").write_text("run_log_store:\n  type: chunked-fs\n")
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "DIE_AFTER": "0.3", "DIE_HOW": how,
        "PYTHONFAULTHANDLER": "",
    }  # fmt: skip
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "magnus_core",
            "execute",
            "-c",
            "config.yaml",
            "-f",
            "killme.yaml",
            "--run-id",
            "k",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == (-9 if how == "sigkill" else -11), run.stderr
    assert "loading batch 17" in run.stdout  # (the terminal had it: the file did not)
    live = git_repo / ".catalog" / "k" / ".magnus" / "output" / "dies.0.log.live"
    assert live.is_file(), sorted(p.name for p in live.parent.iterdir())
    assert live.read_bytes() == b"loading batch 17\n"
    logs = magnus("logs", "k", "dies", "-c", "config.yaml")
    if how == "sigkill":
        assert logs.stdout == "loading batch 17\n", logs
        assert "magnus: dies (attempt 0) was cut short: the run's process ended while it ran" in logs.stderr
    else:  # faulthandler's text after the output, and where (trial 13 fault 4: tests/test_fatal_signal.py)
        assert logs.stdout.startswith("loading batch 17\nFatal Python error: Segmentation fault\n"), logs
        assert "magnus: dies (attempt 0) crashed (Segmentation fault) at " in logs.stderr, logs.stderr
    assert "none of its output" not in logs.stderr
    (attempt,) = json.loads(magnus("logs", "k", "dies", "-c", "config.yaml", "--json").stdout)["attempts"]
    assert attempt["cut_short"] is True and attempt["state"] == "live", attempt
    assert attempt["text"] == "loading batch 17\n", attempt
