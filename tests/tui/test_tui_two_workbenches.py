"""Two workbenches open on one store (two real terminals) both show runs that a third process writes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pexpect

from tests.conftest import ROOT

PIPELINE = """
dag:
  start_at: a
  steps:
    a: {type: task, command_type: shell, command: "sleep 0.2", next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_two_workbenches_on_one_store_stay_consistent(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PIPELINE)
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
    benches = [
        pexpect.spawn(
            sys.executable,
            ["-m", "magnus_core", "tui"],
            cwd=str(tmp_path),
            env=env,
            dimensions=(24, 100),
            timeout=60,
        )
        for _ in range(2)
    ]
    for bench in benches:
        bench.expect("No runs yet")  # the runs screen, drawn for an empty store
    for run_id in ("first-run", "second-run"):
        subprocess.run(
            [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", run_id],
            cwd=tmp_path,
            env=env,
            check=True,
            capture_output=True,
        )
    for bench in benches:  # each shows both runs, without a key press
        bench.expect("first-run")
        deadline = time.time() + 30
        seen = b""
        while b"second-run" not in seen and time.time() < deadline:
            with contextlib.suppress(pexpect.TIMEOUT):
                seen += bench.read_nonblocking(65536, timeout=1)
        assert b"second-run" in seen or b"second-run" in (bench.before or b"")
    for bench in benches:
        bench.sendline("q")
        bench.expect(pexpect.EOF)
        bench.close()
        assert bench.exitstatus == 0
