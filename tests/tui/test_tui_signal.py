"""The workbench in a real terminal (a pty): SIGINT or SIGTERM leave it cleanly, the terminal is restored
(alternate screen left, mouse reporting off) and the exit code says why, as for `magnus execute`."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pexpect
import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize(
    "sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_signal_restores_the_terminal(tmp_path: Path, sig: int, code: int) -> None:
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "magnus_core", "tui"],
        cwd=str(tmp_path),
        env=env,
        dimensions=(24, 80),
        timeout=60,
    )
    child.expect("No runs yet")  # the runs screen is drawn (an empty store: its hint where the list would be)
    time.sleep(0.3)
    os.kill(child.pid, sig)
    child.expect(pexpect.EOF)
    child.close()
    out = child.before
    assert child.exitstatus == code
    assert b"\x1b[?1049l" in out  # left the alternate screen
    assert b"\x1b[?1000l" in out  # mouse reporting off
    assert b"Interrupted." in out
