"""The child processes of runs in this process, so that stopping a run leaves none behind.

Every command magnus starts (a shell step's shell) runs in a process group of its own, registered here
while it runs. `stop_children()` is what a stopped run calls (runner.execute on SIGINT/SIGTERM, and the
command line as a last resort): SIGTERM to every registered group and to every other descendant of this
process (what a python step started itself, a notebook's kernel), a grace period for their own clean-up,
then SIGKILL for whatever is left. Descendants are found with psutil.

When this process dies at once (SIGKILL, the OOM killer, a segfault) it can stop nothing: the watcher
(magnus_core/watcher.py, started by `watch`) does it then. Every group run_in_group starts is told to it,
and `magnus execute` (cli/execute.py) has it watch magnus's own process group for the run's duration.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
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


def run_in_group(
    argv: list[str],
    env: dict[str, str],
    out: IO[Any] | None,
    err: IO[Any] | None,
    scratch: str = "",
    step: str = "",
) -> int:
    """Run `argv` in a new process group (its own session), registered until it ends, its stdout and stderr
    going to `out` and `err`; its exit code.

    If this thread is interrupted while waiting (Ctrl-C in a run without concurrent branches), the group
    is stopped (SIGTERM, then SIGKILL after the grace period) before the interrupt goes on. The group is
    also told to the watcher while it runs (with `scratch`, a file of the command's to remove after it):
    if this process dies at once, the watcher stops the group, and records it as step `step`'s (an internal
    name) in the run's record of what it stopped (record_stops)."""
    from magnus_core.files import starting_own

    watch()
    with starting_own():  # (its output goes to `out` and `err`, not to fd 1 and 2)
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, start_new_session=True)
    with _lock:
        _groups.add(proc.pid)
    scratch = scratch if "\n" not in scratch and "\t" not in scratch else ""
    _tell(f"+{proc.pid}\t{scratch}\t{step.replace(chr(10), ' ').replace(chr(9), ' ')}\n")
    try:
        return proc.wait()
    except BaseException:
        _stop_group(proc)
        raise
    finally:
        with _lock:
            _groups.discard(proc.pid)
        _tell(f"-{proc.pid}\n")


# The watcher (magnus_core/watcher.py): whether it was started (once per process), and the write end of
# its pipe, which only this process holds (a fork closes it: _forget), so that the pipe ends with it.
_watching = False
_pipe: int | None = None
_watcher: subprocess.Popen[bytes] | None = None  # (never a victim of stop_children: _descendants)
_record = ""  # where the watcher says what it stopped, should this process die (record_stops)


def watcher_pid() -> int | None:
    """The pid of this process's watcher (watch), None when none was started or it could not start."""
    return _watcher.pid if _watcher is not None else None


def watch(own_group: bool = False, report_fd: int | None = None) -> None:
    """Start the watcher, once per process (about 0.3 ms here; the watcher's own python start, 10 to 30 ms
    of CPU, runs beside; each shell step then costs two lines, about 2.5 us here). With `own_group`
    (`magnus execute`, for the run's duration: `unwatch_group`) it also stops, if this process dies at
    once, what it started in its own process group (a python step's children: the group's processes
    started from then on whose parent died, and theirs; watcher.Found), whether this process leads the
    group (a shell's job, the workbench's runs) or not (a script's command). A watcher that cannot start
    is logged and done without. `report_fd` (the command line's stderr as it was before magnus pumped it:
    output.terminal_fd) becomes the watcher's stderr, where it says, should this process die while a
    named run runs (name_run), that the run was cut short and how to see it: a segfault or SIGKILL
    otherwise ends `magnus execute` with nothing of magnus's own said (trial 19 F13). Only the first
    call's `report_fd` counts (one watcher per process)."""
    global _watching, _pipe, _watcher
    with _lock:
        if not _watching:
            _watching = True
            read, write = os.pipe()  # (inherited by no other child: O_CLOEXEC, close_fds)
            script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "watcher.py")
            from magnus_core.files import starting_own

            try:
                with starting_own():
                    _watcher = subprocess.Popen(
                        [sys.executable, "-I", "-S", script, "0", str(GRACE)],
                        stdin=read,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL if report_fd is None else report_fd,
                        start_new_session=True,  # no terminal's signal reaches it, nor one sent to our group
                    )
            except OSError:
                import logging

                logging.getLogger("magnus").debug("the watcher did not start", exc_info=True)
                os.close(write)
            else:
                from magnus_core.files import own_fd

                _pipe = own_fd(write, "watcher pipe")
                if _record:
                    _tell(f"R{_record}\n")
            finally:
                os.close(read)
    if own_group:
        _tell(f"G{os.getpgrp()}\n")


def remove_if_killed(path: str, *, forget: bool = False) -> None:
    """Have the watcher, if one runs, remove the file `path` should this process die at once (the run's
    request file: secrets.watch_requests); `forget=True` once this process has removed it itself."""
    if "\n" not in path:
        _tell(f"{'f' if forget else 'F'}{path}\n")


def record_stops(path: str) -> None:
    """Have the watcher (started now or later) write what it stops to `path` should this process die at
    once (the run's `.magnus/stopped.json`: magnus_core/stopped.py reads it); "" once the run has ended."""
    global _record
    if "\n" in path:
        return
    _record = path
    _tell(f"R{path}\n")


def name_run(run_id: str) -> None:
    """Tell the watcher the run this process runs (`magnus execute`): should the process die while the run
    runs (before unwatch_group), the watcher says so on its stderr (watch's `report_fd`), naming it."""
    if "\n" not in run_id:
        _tell(f"N{run_id}\n")


def unwatch_group() -> None:
    """The run ended as it should: the processes of this group that live on are the user's to keep."""
    _tell("G0\n")


def _tell(line: str) -> None:
    """One line to the watcher (one write, shorter than the pipe's atomic size: threads never mix)."""
    pipe = _pipe
    if pipe is not None:
        with contextlib.suppress(OSError):  # the watcher is gone (killed): stopping is this process's
            os.write(pipe, line.encode(errors="surrogateescape"))


def _forget() -> None:
    """In a forked child (multiprocessing's fork): close the pipe, whose end must come with this process's."""
    global _pipe
    if _pipe is not None:
        from magnus_core.files import close_own

        with contextlib.suppress(OSError):
            close_own(_pipe)
        _pipe = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget)


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
        found = psutil.Process().children(recursive=True)
    except psutil.Error:
        return []
    watcher = _watcher.pid if _watcher is not None else None
    return [p for p in found if p.pid != watcher]


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
