"""The child processes of runs in this process, so that stopping a run leaves none behind.

Every command magnus starts (a shell step's shell) runs in a process group of its own, registered here
while it runs. `stop_children()` is what a stopped run calls (runner.execute on SIGINT/SIGTERM, and the
command line as a last resort): SIGTERM to every registered group and to every other descendant of this
process (what a python step started itself, a notebook's kernel), a grace period for their own clean-up,
then SIGKILL for whatever is left. Descendants are found with psutil.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from typing import IO, TYPE_CHECKING, Any

from magnus_core.settings import DEFAULT_STOP_GRACE, lenient, stop_grace

if TYPE_CHECKING:
    import psutil  # imported where used: a shell step that is never stopped does not pay for it

_groups: set[int] = set()
_lock = threading.Lock()
# seconds children get to clean up, at most (MAGNUS_STOP_GRACE: settings.stop_grace; a bad value is refused
# by settings.check before any command runs)
GRACE = lenient(stop_grace, DEFAULT_STOP_GRACE)


def run_in_group(argv: list[str], env: dict[str, str], out: IO[Any] | None, err: IO[Any] | None) -> int:
    """Run `argv` in a new process group (its own session), registered until it ends, its stdout and stderr
    going to `out` and `err`; its exit code.

    If this thread is interrupted while waiting (Ctrl-C in a run without concurrent branches), the group
    is stopped (SIGTERM, then SIGKILL after the grace period) before the interrupt goes on."""
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, start_new_session=True)
    with _lock:
        _groups.add(proc.pid)
    try:
        return proc.wait()
    except BaseException:
        _stop_group(proc)
        raise
    finally:
        with _lock:
            _groups.discard(proc.pid)


def _stop_group(proc: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=GRACE)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=1)


def stop_children(grace: float | None = None) -> int:
    """Stop every child process of this process and every member of a registered process group: SIGTERM,
    up to `grace` seconds (default GRACE, MAGNUS_STOP_GRACE) for them to end, then SIGKILL. A second Ctrl-C
    while waiting ends the wait. A zombie counts as ended (in a container the reaper of orphans may be
    slow). Returns how many processes were running when it began."""
    grace = GRACE if grace is None else grace
    with _lock:
        groups = set(_groups)
    victims = _descendants() + _members(groups)
    _signal(groups, victims, signal.SIGTERM)
    deadline = time.monotonic() + grace
    alive = [v for v in victims if _running(v)]
    try:
        while alive and time.monotonic() < deadline:
            time.sleep(0.02)
            alive = [v for v in alive if _running(v)]
    except KeyboardInterrupt:  # asked twice: no more waiting
        pass
    _signal(groups, alive, signal.SIGKILL)
    return len(victims)


def _signal(groups: set[int], processes: list[psutil.Process], sig: int) -> None:
    """`sig` to every process group and every process (those already gone are skipped)."""
    import psutil

    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)


def _descendants() -> list[psutil.Process]:
    import psutil

    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def _members(groups: set[int]) -> list[psutil.Process]:
    """The processes in these process groups (a shell's background jobs outlive the shell, re-parented)."""
    if not groups:
        return []
    import psutil

    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) in groups:
                found.append(proc)
    return found


def _running(proc: psutil.Process) -> bool:
    import psutil

    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
