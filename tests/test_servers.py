"""The test suite's own servers (tests/servers.py) never outlive the process that started them.

A pytest run killed by a CI timeout, or an xdist worker that crashed, used to leave PostgreSQL and
moto running in their own sessions, holding ports and CPU on the next run's machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent

STARTER = """
import sys
sys.path.insert(0, {here!r})
from servers import PostgresServer, S3Server
pg = PostgresServer().start()
s3 = S3Server().start()
print(pg.proc.pid, s3.proc.pid, flush=True)
import time
time.sleep(600)
"""


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def test_servers_end_when_the_process_that_started_them_is_killed() -> None:
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER.format(here=str(HERE))], stdout=subprocess.PIPE, text=True
    )
    pids: list[int] = []
    try:
        assert starter.stdout is not None
        line = starter.stdout.readline()
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2, line
        for pid in pids:
            assert psutil.pid_exists(pid)
        starter.send_signal(signal.SIGKILL)  # nothing runs at exit: no fixture, no atexit
        starter.wait(10)
        for pid in pids:
            assert _gone(pid, 30), f"server {pid} outlived the process that started it"
    finally:
        starter.kill()
        for pid in pids:  # each server leads its own session: end the whole group if the test failed
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
