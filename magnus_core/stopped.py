"""What the watcher stopped when a run's process died at once, as the views say it (trial 15 N4).

After a kill -9, the OOM killer or a segfault, magnus's watcher (magnus_core/watcher.py) stops what the run's
steps had running (SIGTERM, MAGNUS_STOP_GRACE, SIGKILL) and writes what it stopped to the run's
`.magnus/stopped.json` (file-system catalog; watcher.Stopping says its shape): it is the only writer, magnus
being dead, and writes it whole (renamed into place), so a reader never sees part of it. Before, only `ps`
answered "is the GPU job still running?".

    record_of(run_log) / record_in(run_config, run_id) -> Record | None
    said(record, cuts) -> Said: the words for each attempt cut short, and for what no step is known to own

`magnus show` (and `--json`: `stopped`), `magnus logs` (the cut-short note, `--json`) and the workbench's
Step tab say them: `its processes (pgid 26141) were stopped by the watcher: SIGTERM, then SIGKILL after 5
s`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magnus_core import jsonio as json

if TYPE_CHECKING:
    from magnus_core.logs import CutShort
    from magnus_core.models.run_log import RunLog

MAX_READ = 1 << 20  # bytes: a record of thousands of processes is still read whole
SHOWN_PIDS = 3  # processes named on one line, then "and N more"


@dataclass(frozen=True)
class Record:
    """The watcher's record (watcher.Stopping): `watcher` (its pid), `state` (`stopping` while it works,
    `stopped` once done), `grace` (seconds between SIGTERM and SIGKILL), `processes` (each a dict: pid,
    name, started (epoch seconds), pgid (a shell step's group; 0: a process of magnus's own group, a python
    step's child), step (the group's step), ended (SIGTERM, SIGKILL, "" not yet), after (seconds)), and
    `file`, where it is (as the views name files)."""

    watcher: int
    state: str
    grace: float
    processes: list[dict[str, Any]]
    file: str = ""
    began: float | None = None

    def as_json(self) -> dict[str, object]:
        """`stopped` of `magnus show --json` and `magnus logs --json`."""
        return {
            "watcher": self.watcher,
            "state": self.state,
            "grace": self.grace,
            "processes": self.processes,
            "file": self.file,
        }


@dataclass
class Said:
    """What `said` words: `of_attempt` {(step, attempt): `its processes (...) were stopped by ...`}, and
    `others`, a line for the processes no attempt cut short is known to own ("" when none), e.g. a python
    child an earlier step left running, or children while several python steps ran."""

    of_attempt: dict[tuple[str, int], str] = field(default_factory=dict)
    others: str = ""


def path_in(run_config: object, run_id: str) -> Path | None:
    """Where run `run_id`'s record is: `.magnus/stopped.json` beside its fatal file (fatal.fatal_file: a
    file-system catalog only), None for any other catalog."""
    from magnus_core.fatal import STOPPED, fatal_file
    from magnus_core.logs import catalog_in

    path = fatal_file(catalog_in(run_config), run_id)
    return path.with_name(Path(STOPPED).name) if path is not None else None


def record_of(run_log: RunLog) -> Record | None:
    """The watcher's record of run `run_log`, None when there is none (the run's process lives or ended
    normally, nothing was left running, the catalog is not a folder)."""
    return record_in(run_log.run_config, run_log.run_id)


def record_in(run_config: object, run_id: str) -> Record | None:
    """record_of for a run known by its run_config and id (the workbench's run view holds no RunLog)."""
    return read(path_in(run_config, run_id))


def read(path: Path | None) -> Record | None:
    """The Record in file `path`; None when there is none or it is not one (a hand-edited file)."""
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read(MAX_READ))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("processes"), list):
        return None
    processes = [p for p in data["processes"] if isinstance(p, dict) and isinstance(p.get("pid"), int)]
    if not processes:
        return None
    from magnus_core.fatal import _shown_path

    grace = data.get("grace")
    began = data.get("began")
    return Record(
        watcher=data["watcher"] if isinstance(data.get("watcher"), int) else 0,
        state=str(data.get("state", "")),
        grace=float(grace) if isinstance(grace, int | float) else 0.0,
        processes=processes,
        file=_shown_path(path),
        began=float(began) if isinstance(began, int | float) else None,
    )


def _seconds(value: float) -> str:
    """`5 s`, `0.2 s`, `0.05 s`."""
    return f"{value:g} s" if value >= 0.01 else "0.01 s"


def how(record: Record, processes: list[dict[str, Any]]) -> str:
    """How the watcher stopped `processes`: `SIGTERM, then SIGKILL after 5 s` (one was still there after
    the grace), `SIGTERM, gone within 0.2 s`, or, while it works, `SIGTERM sent; SIGKILL after 5 s for
    what is left`."""
    if record.state != "stopped":
        return f"SIGTERM sent; SIGKILL after {_seconds(record.grace)} for what is left"
    if any(p.get("ended") == "SIGKILL" for p in processes):
        return f"SIGTERM, then SIGKILL after {_seconds(record.grace)}"
    after = max((p.get("after") or 0.0 for p in processes), default=0.0)
    return f"SIGTERM, gone within {_seconds(max(float(after), 0.05))}"


def _which(processes: list[dict[str, Any]]) -> str:
    """`pgid 26141` for a shell step's group(s) (`pgids 1, 2`), `pid 26142: sleep` (`pids 1: sleep, 2:
    python3`, `and 4 more`) for processes of magnus's group."""
    groups = sorted({p["pgid"] for p in processes if isinstance(p.get("pgid"), int) and p["pgid"]})
    own = [p for p in processes if not p.get("pgid")]
    parts = []
    if groups:
        parts.append(("pgid " if len(groups) == 1 else "pgids ") + ", ".join(str(g) for g in groups))
    if own:
        named = [f"{p['pid']}: {p.get('name') or '?'}" for p in own[:SHOWN_PIDS]]
        more = f" and {len(own) - SHOWN_PIDS} more" if len(own) > SHOWN_PIDS else ""
        parts.append(("pid " if len(own) == 1 else "pids ") + ", ".join(named) + more)
    return "; ".join(parts)


def words(record: Record, processes: list[dict[str, Any]], whose: str = "its processes") -> str:
    """`its processes (pgid 26141) were stopped by the watcher: SIGTERM, then SIGKILL after 5 s`, or, while
    the watcher works, `... are being stopped by the watcher (pid W): SIGTERM sent; ...`."""
    if record.state != "stopped":
        return (
            f"{whose} ({_which(processes)}) are being stopped by the watcher (pid {record.watcher}): "
            + how(record, processes)
        )
    return f"{whose} ({_which(processes)}) were stopped by the watcher: {how(record, processes)}"


def begun(cuts: list[CutShort]) -> list[tuple[str, int, float | None]]:
    """(step, attempt, when it began in seconds since the epoch or None) of each attempt cut short."""
    from magnus_core.models.run_log import running_attempt

    out = []
    for cut in cuts:
        found = running_attempt(cut.step)
        when = None
        if found is not None and found[0] == cut.attempt:
            with contextlib.suppress(AttributeError, ValueError, OverflowError, OSError):
                when = found[1].timestamp()
        out.append((cut.step.internal_name, cut.attempt, when))
    return out


def said(record: Record | None, cuts: list[CutShort]) -> Said:
    """said_of for the attempts cut short of logs.cut_short."""
    return said_of(record, begun(cuts)) if record is not None else Said()


def said_of(record: Record | None, attempts: list[tuple[str, int, float | None]]) -> Said:
    """The words for each attempt cut short ((step, attempt number, when it began in seconds since the
    epoch), as `begun` gives them) of the processes the watcher stopped: a shell step's group is its
    step's; the processes of magnus's own group (a python step's children, whose step the watcher cannot
    tell) go to the one attempt cut short that has no group of its own, when they started after it began
    (one second's leeway: the boot time the watcher counts from is whole seconds), else to `others`
    (`processes the run's steps started (pid 26142: sleep) were stopped ...`)."""
    out = Said()
    if record is None:
        return out
    by_step: dict[str, list[dict[str, Any]]] = {}
    own: list[dict[str, Any]] = []
    for proc in record.processes:
        step = proc.get("step")
        if proc.get("pgid") and isinstance(step, str) and step:
            by_step.setdefault(step, []).append(proc)
        else:
            own.append(proc)
    others: list[dict[str, Any]] = []
    for name, procs in by_step.items():
        found = next((a for a in attempts if a[0] == name), None)
        if found is None:
            others.extend(procs)
        else:
            out.of_attempt[(name, found[1])] = words(record, procs)
    if own:
        free = [a for a in attempts if (a[0], a[1]) not in out.of_attempt]
        began = free[0][2] if len(free) == 1 else None
        mine = [p for p in own if began is not None and _number(p.get("started")) >= began - 1.0]
        if mine:
            out.of_attempt[(free[0][0], free[0][1])] = words(record, mine)
        others.extend(p for p in own if p not in mine)
    if others:
        out.others = words(record, others, "processes the run's steps started")
    return out


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
