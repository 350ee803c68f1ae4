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

    +<pgid>\\t<file>\\t<step>  a shell step's process group began (<file>: its environment dump, removed
                       after it; <step>: the step's internal name, for the record)
    -<pgid>            that group ended (its shell was waited for): forget it
    G<pgid>            watch magnus's own process group (`magnus execute`, as its run begins)
    G0                 stop watching it (the run ended as it should)
    F<path> / f<path>  a file of the run's to remove if magnus dies / removed by magnus: forget it
    R<path>            where to record what it stopped, should magnus die (the run's catalog:
                       `.magnus/stopped.json`); `R` alone: record nothing (the run ended)
    N<run id>          the run `magnus execute` runs: should magnus die while its own process group is
                       still watched, one line on this process's stderr (magnus's terminal, as it was
                       before magnus pumped it) says the run was cut short, why when faulthandler wrote
                       it (the run's `.magnus/fatal.log` beside the R file), and `magnus show <run id>`

When the pipe reaches its end (magnus has ended, however) with groups still registered, or with magnus's
own process group still watched (`magnus execute`, while the run runs), it stops them as a stopped run
stops its processes (processes.stop_children): SIGTERM to every registered group and to what magnus
started in its own group (a python step's children and theirs: Found.scan says how they are told from the
group's other processes, `tee` in `magnus execute | tee` or a script's next command), up to GRACE seconds
for their own clean-up, the registered environment dumps removed, then SIGKILL for whatever is left. A
process is signalled only while its pid names the same process (its start time in /proc/<pid>/stat).

What it stopped is written to the R file (trial 15 N4: no view said it), whole (a temporary file renamed
into place; magnus is dead, so nothing else writes it): once as it begins (`"state": "stopping"`, with the
processes found), once as it ends (`"stopped"`, and how each ended: gone after the SIGTERM, or the SIGKILL
after GRACE seconds). Readers: magnus_core/stopped.py.

Stdlib only and not imported by magnus (it runs with `-I -S`: 10 to 30 ms of CPU to start, once per
process; about 0.05 ms a shell step, its lines read in batches: GATHER; `python bench/shell.py`).
Linux: the members of GROUP are found in /proc; elsewhere only the registered groups are stopped.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time

POLL = 0.05  # seconds between checks that what was stopped has ended
# seconds to let lines gather after a read: a quick shell step is two lines, and each read that wakes this
# process costs far more than the lines it reads (bench/shell.py); nothing is lost meanwhile (the pipe keeps
# them, and the end of the pipe is read only after them)
GATHER = 0.05
# magnus not leading its process group (a script ran it): seconds between looks at its descendants, the
# only processes of that group taken as its once it died (a child started and orphaned within one look is
# missed: the price of never taking the script's own)
LOOK = 0.25
# seconds to wait, once SIGKILL is sent, for the killed processes to have ended (stop)
KILLED_WAIT = 2.0


def _stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, parent's pid, process group, start time in clock ticks since boot) of process `pid`, or
    None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rfind(b")") + 2 :].split()  # the name may hold spaces and parentheses
    try:
        return fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[19])
    except (IndexError, ValueError):
        return None


class Found:
    """What magnus left, found in /proc: every live process of the registered shell `groups`, and the
    processes of magnus's `group` that magnus started (see `scan`)."""

    def __init__(
        self, groups: set[int], group: int, since: int, seen: dict[int, int] | None = None, magnus: int = 0
    ) -> None:
        self.groups, self.group, self.since = groups, group, since
        # the dead magnus's pid: as its pipe reaches its end, the kernel may not yet have handed its
        # children to init (a process closes its files before its children are re-parented, and a
        # many-threaded one re-parents them to its last thread to end), so a child whose parent is still
        # magnus is magnus's, not the group's (CI, session 15: a python step's `sleep` was left running)
        self.magnus = magnus
        self.chosen: dict[int, int] = {}  # pid -> start time, of magnus's group
        self.member_of: dict[int, int] = {}  # pid -> its registered group, at the last scan
        self.first = True
        # magnus not its group's leader (a script ran it): the descendants of magnus seen while it lived
        # (descendants), the only roots taken: a process the script double-forked (`( cmd & )`: its parent
        # is init too) is not magnus's (trial 15 N1: it was killed with the run's)
        self.seen = seen

    def scan(self) -> list[tuple[int, int]]:
        """(pid, start time) of what is left; not this process; zombies count as ended.

        Of magnus's group, a process started at or after `since` (the watcher's start: the run's) whose
        parent is outside the group: its parent died (magnus, or a step's process that magnus started) and
        it was re-parented to init or a subreaper; and every process of the group descending from one.
        Never one whose parent is in the group and not chosen: when magnus does not lead its group (a
        script ran it), the group is the script's, and what the script starts meanwhile (its next command,
        a background job's children) has its parent in the group. New roots only at the first scan: a
        process of the caller's orphaned later is not taken for magnus's."""
        found: list[tuple[int, int]] = []
        self.member_of = {}
        me = os.getpid()
        try:
            names = os.listdir("/proc")
        except OSError:
            return found
        grouped: dict[
            int, tuple[int, int]
        ] = {}  # pid -> (parent's pid, start) in magnus's group, started since
        in_group: set[int] = set()
        for name in names:
            if not name.isdigit() or int(name) == me:
                continue
            stat = _stat(int(name))
            if stat is None or stat[0] == "Z":
                continue
            _state, ppid, pgrp, start = stat
            if pgrp in self.groups:
                found.append((int(name), start))
                self.member_of[int(name)] = pgrp
            elif self.group and pgrp == self.group:
                if int(name) != self.magnus:
                    in_group.add(int(name))
                if start >= self.since:
                    grouped[int(name)] = (ppid, start)
        chosen = {pid: start for pid, start in self.chosen.items() if grouped.get(pid, (0, -1))[1] == start}
        if self.first and self.seen is not None:
            chosen.update(
                {pid: start for pid, start in self.seen.items() if grouped.get(pid, (0, -1))[1] == start}
            )
            self.first = False
        elif self.first:
            chosen.update({pid: start for pid, (ppid, start) in grouped.items() if ppid not in in_group})
            self.first = False
        grew = True
        while grew:  # the descendants of the chosen, however deep
            grew = False
            for pid, (ppid, start) in grouped.items():
                if pid not in chosen and ppid in chosen:
                    chosen[pid] = start
                    grew = True
        self.chosen = chosen
        return found + list(chosen.items())


def descendants(root: int, group: int, since: int) -> dict[int, int]:
    """pid -> start time of the live descendants of process `root` in process group `group`, started at or
    after `since` (clock ticks since boot), from /proc; {} without /proc."""
    parents: dict[int, tuple[int, int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return {}
    for name in names:
        if name.isdigit():
            stat = _stat(int(name))
            if stat is not None and stat[0] != "Z" and stat[2] == group and stat[3] >= since:
                parents[int(name)] = (stat[1], stat[3])
    found: dict[int, int] = {}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, start) in parents.items():
            if pid not in found and (ppid == root or ppid in found):
                found[pid] = start
                grew = True
    return found


def _signal(groups: set[int], procs: list[tuple[int, int]], sig: int) -> None:
    for pgid in groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, sig)
    for pid, start in procs:
        stat = _stat(pid)
        if stat is not None and stat[3] == start:  # still the process found (a pid is never reused)
            with contextlib.suppress(OSError):
                os.kill(pid, sig)


def stop(
    groups: dict[int, str],
    group: int,
    since: int,
    grace: float,
    files: set[str],
    seen: dict[int, int] | None = None,
    record: str = "",
    steps: dict[int, str] | None = None,
) -> None:
    """What magnus's death leaves: SIGTERM, up to `grace` seconds, the files removed (the shells' dumps and
    `files`), SIGKILL. `seen`: Found's roots when magnus did not lead its group. `record`: the file that
    says what was stopped (Stopping), `steps` naming each group's step."""
    pgids = set(groups)
    found = Found(pgids, group, since, seen, _MAGNUS) if os.path.isdir("/proc/self") else None
    procs = found.scan() if found else []
    said = Stopping(record, grace, steps or {}, pgids)
    said.found(procs, found.member_of if found else {})
    _signal(pgids, procs, signal.SIGTERM)
    began = time.monotonic()
    deadline = began + grace
    while time.monotonic() < deadline:
        left = found.scan() if found else []
        said.left(left, time.monotonic() - began)
        if not (left if found else _reached(pgids)):
            break
        time.sleep(POLL)
    for path in [*groups.values(), *files]:
        if path:
            with contextlib.suppress(OSError):
                os.unlink(path)
    left = found.scan() if found else []
    _signal(pgids, left, signal.SIGKILL)
    # a SIGKILLed process ends when the kernel next runs it (on a loaded machine, some milliseconds later),
    # and its pid stays taken until its parent (init, once its own died) reaps it: this process ends only
    # once they are gone (up to KILLED_WAIT), so that its end means theirs (a re-run waits for it, and so
    # does `magnus stop`: rerun._wait_for_watcher, stop.WATCHER_WAIT; `kill -0` still reached a zombie)
    said.killed(left)
    ending = time.monotonic() + KILLED_WAIT
    while left and found is not None and time.monotonic() < ending:
        left = [proc for proc in left if _there(*proc)]
        if left:
            time.sleep(POLL / 5)


class Stopping:
    """What the watcher stopped, written to `path` (a run's `.magnus/stopped.json`; nothing when ""), whole
    each time (a temporary file renamed into place): as it begins and as it ends. JSON:

        {"schema": "magnus-stopped/1", "watcher": pid, "magnus": the dead magnus's pid, "state":
         "stopping" | "stopped", "began": epoch seconds of the SIGTERM, "grace": seconds,
         "processes": [{"pid", "name", "started": epoch seconds, "pgid": its registered group or 0 (of
                        magnus's own group: a python step's child), "step": the group's step or "",
                        "ended": "SIGTERM" | "SIGKILL" | "" (not yet), "after": seconds after the SIGTERM}]}

    `ended` SIGTERM: gone within `after` seconds of the SIGTERM (POLL's precision); SIGKILL: still there
    after the grace, killed. Written once per state (a few small writes, on a death only)."""

    def __init__(self, path: str, grace: float, steps: dict[int, str], pgids: set[int]) -> None:
        self.path, self.grace, self.steps = path, grace, steps
        self.began = time.time()
        self.procs: dict[int, dict[str, object]] = {}
        self.pgids = pgids

    def found(self, procs: list[tuple[int, int]], member_of: dict[int, int]) -> None:
        boot = _boot_time()
        ticks = _ticks()
        for pid, start in procs:
            pgid = member_of.get(pid, 0)
            self.procs[pid] = {
                "pid": pid,
                "name": _name(pid),
                "started": round(boot + start / ticks, 2) if boot else None,
                "pgid": pgid,
                "step": self.steps.get(pgid, ""),
                "ended": "",
                "after": None,
            }
        self._write("stopping")

    def left(self, procs: list[tuple[int, int]], after: float) -> None:
        alive = {pid for pid, _start in procs}
        for pid, proc in self.procs.items():
            if pid not in alive and not proc["ended"]:
                proc["ended"], proc["after"] = "SIGTERM", round(after, 2)

    def killed(self, procs: list[tuple[int, int]]) -> None:
        alive = {pid for pid, _start in procs}
        for pid, proc in self.procs.items():
            if not proc["ended"]:  # (a process of a group first seen after the SIGTERM is not listed)
                proc["ended"] = "SIGKILL" if pid in alive else "SIGTERM"
                proc["after"] = self.grace
        self._write("stopped")

    def _write(self, state: str) -> None:
        if not self.path:
            return
        import json  # (only on a death: the watcher's start stays small)

        text = json.dumps(
            {
                "schema": "magnus-stopped/1",
                "watcher": os.getpid(),
                "magnus": _MAGNUS,
                "state": state,
                "began": round(self.began, 3),
                "grace": self.grace,
                "groups": sorted(self.pgids),
                "processes": list(self.procs.values()),
            }
        )
        temporary = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(temporary, self.path)
        except OSError:  # (the catalog's folder gone, a full disk: nothing to say it with)
            with contextlib.suppress(OSError):
                os.unlink(temporary)


_MAGNUS = 0  # the pid of the magnus that started this watcher (main)


def _name(pid: int) -> str:
    """Process `pid`'s command name (/proc/<pid>/comm: `sleep`, `python3`), "" when gone."""
    try:
        with open(f"/proc/{pid}/comm", "rb") as handle:
            return handle.read().decode(errors="replace").strip()
    except OSError:
        return ""


def _boot_time() -> float:
    """When the machine booted, in seconds since the epoch (/proc/stat's btime), 0 when not known."""
    try:
        with open("/proc/stat", "rb") as handle:
            for line in handle:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def _ticks() -> int:
    try:
        return os.sysconf("SC_CLK_TCK") or 100
    except (ValueError, OSError):
        return 100


def _there(pid: int, start: int) -> bool:
    """Whether process `pid` (started at `start`) is still there, running or a zombie not yet reaped (its
    pid not given to another)."""
    stat = _stat(pid)
    return stat is not None and stat[3] == start


def _reached(pgids: set[int]) -> bool:
    """No /proc: whether kill(0) still reaches one of the groups."""
    for pgid in pgids:
        with contextlib.suppress(OSError):
            os.killpg(pgid, 0)
            return True
    return False


def cut_short(run_id: str, record: str) -> None:
    """Say on stderr (magnus's terminal: processes.watch's report_fd; /dev/null otherwise) that magnus died
    while run `run_id` ran: the reason faulthandler wrote in the run's fatal file (`Segmentation fault`,
    beside the `record` file), else the usual causes, and the command that shows where it stopped."""
    reason = _fatal_reason(os.path.join(os.path.dirname(record), "fatal.log")) if record else ""
    killed = "SIGKILL, the out-of-memory killer, a crash, or a signal a step left to its default action"
    why = f"crashed ({reason})" if reason else f"was killed ({killed})"
    line = f"magnus: run {run_id} was cut short: its process {why}; what it recorded: magnus show {run_id}\n"
    with contextlib.suppress(OSError):
        os.write(2, line.encode(errors="replace"))


def _fatal_reason(path: str) -> str:
    """The reason faulthandler gave (`Fatal Python error: Segmentation fault` -> `Segmentation fault`) in
    the fatal file at `path`, "" when it wrote none (no file, a SIGKILL)."""
    try:
        with open(path, "rb") as handle:
            text = handle.read(1 << 16).decode(errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        if line.startswith("Fatal Python error: "):
            return line.removeprefix("Fatal Python error: ").strip()[:200]
    return ""


def main(argv: list[str]) -> int:
    group = int(argv[1]) if len(argv) > 1 else 0
    grace = float(argv[2]) if len(argv) > 2 else 5.0
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_IGN)  # a terminal's keys are for magnus, which tells us
    mine = _stat(os.getpid())
    since = mine[3] if mine is not None else 0
    groups: dict[int, str] = {}
    steps: dict[int, str] = {}  # group -> its step's internal name
    files: set[str] = set()
    record = ""  # where to say what was stopped (Stopping)
    run_id = ""  # the run magnus runs (N), named on stderr should magnus die while it runs
    pending = b""
    magnus = os.getppid()  # (magnus started this process)
    global _MAGNUS
    _MAGNUS = magnus
    seen: dict[int, int] = {}  # magnus not leading its group: its descendants seen, pid -> start time
    looked = 0.0
    while True:
        scripted = bool(group) and group != magnus
        if scripted:  # a script ran magnus: look at its descendants every LOOK seconds (trial 15 N1)
            try:
                ready = bool(select.select([0], [], [], LOOK)[0])
            except InterruptedError:
                continue
            except (OSError, ValueError):
                ready = True
            if time.monotonic() - looked >= LOOK:
                looked = time.monotonic()
                seen = {pid: start for pid, start in seen.items() if _stat(pid) is not None}
                seen.update(descendants(magnus, group, since))
            if not ready:
                continue
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
                    pgid, _, rest = text[1:].partition("\t")
                    path, _, step = rest.partition("\t")
                    groups[int(pgid)] = path
                    steps[int(pgid)] = step
                elif text.startswith("-"):
                    groups.pop(int(text[1:]), None)
                    steps.pop(int(text[1:]), None)
                elif text.startswith("G"):
                    group = int(text[1:])
                elif text.startswith("F"):
                    files.add(text[1:])
                elif text.startswith("f"):
                    files.discard(text[1:])
                elif text.startswith("R"):
                    record = text[1:]
                elif text.startswith("N"):
                    run_id = text[1:]
        time.sleep(GATHER)
    if group and run_id:  # magnus died while its run ran (it sends G0 as the run ends, however it ends)
        cut_short(run_id, record)
    if groups or group or files:
        stop(groups, group, since, grace, files, seen if group and group != magnus else None, record, steps)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
