"""The watcher: a small process that stops what a magnus process started when that process dies at once.

A shell step runs in a session of its own (processes.run_in_group) and a python step's children are in
magnus's process group: when magnus is killed outright (SIGKILL, the OOM killer, a segfault in a step's C
code, `magnus stop` of a hung run after its timeout) none of them is told, and they run on, re-parented to
init, while every view of the run says it ended (session 9, trial 13 fault 1). The kernel's parent-death
signal (PR_SET_PDEATHSIG) reaches only a direct child, and fires when the *thread* that forked it ends, so
it cannot stop a shell's children, nor a python step's.

So magnus starts this script once (processes.watch: `python -I -S watcher.py GROUP GRACE`, in a session of
its own, its stdin the read end of a pipe whose only write end magnus holds; a fork of magnus closes it:
processes._forget). Magnus tells it, one line per event:

    +<pgid>\\t<file>    a shell step's process group began (<file>: its environment dump, removed after it)
    -<pgid>            that group ended (its shell was waited for): forget it
    G0                 stop watching magnus's own process group (the run ended as it should)

When the pipe reaches its end (magnus has ended, however) with groups still registered, or with GROUP (the
process group magnus leads, given only by `magnus execute`) still watched, it stops them as a stopped run
stops its processes (processes.stop_children): SIGTERM to every registered group and to every member of
GROUP started after this watcher (a python step's children and theirs; a process of GROUP started before
the run, such as `tee` in `magnus execute | tee`, is left alone), up to GRACE seconds for their own
clean-up, the registered environment dumps removed, then SIGKILL for whatever is left. A process is
signalled only while its pid names the same process (its start time in /proc/<pid>/stat).

Stdlib only and not imported by magnus (it runs with `-I -S`: 10 to 30 ms of CPU to start, once per
process; about 0.05 ms a shell step, its lines read in batches: GATHER; `python bench/shell.py`).
Linux: the members of GROUP are found in /proc; elsewhere only the registered groups are stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

POLL = 0.05  # seconds between checks that what was stopped has ended
# seconds to let lines gather after a read: a quick shell step is two lines, and each read that wakes this
# process costs far more than the lines it reads (bench/shell.py); nothing is lost meanwhile (the pipe keeps
# them, and the end of the pipe is read only after them)
GATHER = 0.05


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, start time in clock ticks since boot) of process `pid`, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rfind(b")") + 2 :].split()  # the name may hold spaces and parentheses
    try:
        return fields[0].decode(), int(fields[2]), int(fields[19])
    except (IndexError, ValueError):
        return None


def _members(groups: set[int], group: int, since: int) -> list[tuple[int, int]]:
    """(pid, start time) of every live process in one of `groups`, and of every one in `group` started at
    or after `since` (clock ticks); not this process. Zombies count as ended."""
    found: list[tuple[int, int]] = []
    me = os.getpid()
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit() or int(name) == me:
            continue
        stat = _stat(int(name))
        if stat is None or stat[0] == "Z":
            continue
        _state, pgrp, start = stat
        if pgrp in groups or (group and pgrp == group and start >= since):
            found.append((int(name), start))
    return found


def _signal(groups: set[int], procs: list[tuple[int, int]], sig: int) -> None:
    for pgid in groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, sig)
    for pid, start in procs:
        stat = _stat(pid)
        if stat is not None and stat[2] == start:  # still the process found (a pid is never reused)
            with contextlib.suppress(OSError):
                os.kill(pid, sig)


def _alive(groups: set[int], group: int, since: int, proc: bool) -> list[tuple[int, int]]:
    if proc:
        return _members(groups, group, since)
    alive = []  # no /proc: a group is alive while kill(0) reaches it
    for pgid in groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, 0)
            alive.append((pgid, 0))
    return alive


def stop(groups: dict[int, str], group: int, since: int, grace: float) -> None:
    """What magnus's death leaves: SIGTERM, up to `grace` seconds, the files removed, SIGKILL."""
    proc = os.path.isdir("/proc/self")
    pgids = set(groups)
    found = _members(pgids, group, since) if proc else []
    _signal(pgids, found, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pgids, group, since, proc):
        time.sleep(POLL)
    for path in groups.values():
        if path:
            with contextlib.suppress(OSError):
                os.unlink(path)
    _signal(pgids, _members(pgids, group, since) if proc else [], signal.SIGKILL)


def main(argv: list[str]) -> int:
    group = int(argv[1]) if len(argv) > 1 else 0
    grace = float(argv[2]) if len(argv) > 2 else 5.0
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_IGN)  # a terminal's keys are for magnus, which tells us
    mine = _stat(os.getpid())
    since = mine[2] if mine is not None else 0
    groups: dict[int, str] = {}
    pending = b""
    while True:
        try:
            chunk = os.read(0, 65536)
        except InterruptedError:
            continue
        except OSError:
            chunk = b""
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            text = line.decode(errors="surrogateescape")
            with contextlib.suppress(ValueError):
                if text.startswith("+"):
                    pgid, _, path = text[1:].partition("\t")
                    groups[int(pgid)] = path
                elif text.startswith("-"):
                    groups.pop(int(text[1:]), None)
                elif text.startswith("G"):
                    group = int(text[1:])
        time.sleep(GATHER)
    if groups or group:
        stop(groups, group, since, grace)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
