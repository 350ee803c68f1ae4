"""A run's journal: what its process did, one line per event, appended as it happens (session 9, trial 12
fault 10).

The file-system store rewrites a run's file at spaced writes (file_system.py), and the chunked-fs store
writes a task step's first part 50 ms after it began (chunked.py): between those writes a run's state lives
only in its process's memory. A step that kills that process at once (a segfault in a C extension, an
immediate SIGKILL, the OOM killer) took that state along: the steps that had succeeded since the last write
were missing, and the crashing step read as never begun. The journal keeps it outside the process:

    file-system   <log_folder>/.<run_id>.journal    every write of the run: a step begun (its start record),
                                                    a step written or committed (its step log, serialised
                                                    once, the text the store's next write reuses), a branch
                                                    log, run-level fields
    chunked-fs    <log_folder>/<run_id>/starts.journal   the start record of each task step whose part waits
                                                    (the rest of that store is written part by part at once)

Each event is one `os.write` of one line to the file opened with O_APPEND (for the line, or held from a
commit to the next line: Journal): the kernel holds it once the call returns, so it survives the death of
the process (not necessarily the machine's: nothing is fsynced). A line is an event's whole record, so an
event is in the journal whole or not at all: a last line without its newline (the process died inside the
write) is torn and ignored, and reading stops at the first line that is not a JSON object (nothing after
it is trusted). A step's commit stays one write: its line.

Lines (JSON objects, keys short: a line per event):

    {"b": BRANCH or null, "s": STEP LOG}        a step log written (begun, an attempt ended, committed)
    {"b": BRANCH or null, "s": STEP LOG, "p": PARAMETERS}   a top-level commit and the run's parameters
    {"t": STEP, "l": {"internal_name": ..., "status": ...}} a branch log under composite step STEP
    {"r": {FIELD: VALUE, ...}}                  run-level fields changed (status, parameters, ...)

`replay(log, lines)` applies them in order over a run log as the store applied them to its live copy
(stores/base.py): a step's log replaces the one of its name and keeps the branches already held, a branch
log keeps its steps. Applying a line the log already reflects changes nothing it would not change again
later, so the whole journal replays over any older state of the file to the process's last state.
"""

from __future__ import annotations

import contextlib
import json.encoder
import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

from magnus_core.errors import RunLogError
from magnus_core.files import FD_LOCK, OWN_FDS, close_own, hold_own
from magnus_core.paths import read_regular_file

if TYPE_CHECKING:
    from magnus_core.models.run_log import RunLog, StepLog

MAX_JOURNAL_BYTES = 1 << 30  # a journal holds each step about twice: at most 1 GB is read


class Journal:
    """One run's journal, written by the process running it: each line one O_APPEND write. Not
    thread-safe: the store writes it under its lock. OSError naming the journal (the store turns it into
    a StoreError); FileNotFoundError when its folder is gone (the store makes it again, and the line).

    The descriptor is held only from a line written with `hold` (a commit: the engine's next line, the
    next step's start record, follows within microseconds, session 10: an open and a close cost more than
    the write) to the next line written without it, which closes it after its write: every line that
    comes before a step's code runs (a start, an attempt, a branch, run fields) is written so. No
    descriptor is held while a step's code runs, so the store's folder can still be remounted read-only
    under a running step (test_write_faults; a held writer makes the kernel refuse it, EBUSY), and a
    journal removed with its folder meanwhile is made again at the next line (stores/file_system.py)."""

    __slots__ = ("fd", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None  # held since a line written with `hold`

    def append(self, line: bytes, *, hold: bool = False) -> None:
        """Append one line (its bytes end with a newline): one write, repeated for what a short write left.
        `hold`: keep the descriptor for the next line. A held descriptor that fails before any byte of the
        line reached it (its file system remounted, the file gone stale) is closed and the line written
        once more through a new one, whose error is the one raised. An OSError names the journal (as
        files.naming names a file; not that context manager: two lines a step)."""
        try:
            with FD_LOCK:  # (a step's closerange in another branch waits: trial 19 F5)
                fd = self.fd
                if fd is not None:
                    self.fd = None
                    OWN_FDS.pop(fd, None)
                    try:
                        written = os.write(fd, line)
                    except OSError:
                        os.close(fd)  # (nothing of the line was written: it is written whole below)
                    else:
                        self._done(fd, line, written, hold)
                        return
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
                try:
                    written = os.write(fd, line)
                except BaseException:
                    os.close(fd)
                    raise
                self._done(fd, line, written, hold)
        except OSError as exc:
            if exc.errno is not None and exc.filename is None and exc.filename2 is None:
                raise OSError(exc.errno, exc.strerror, self.path) from exc
            raise

    def _done(self, fd: int, line: bytes, written: int, hold: bool) -> None:
        """Write what a short write of `line` left (a signal, a full disk: the rest, or its OSError), then
        keep or close `fd`."""
        try:
            while written < len(line):
                written += os.write(fd, line[written:])
        except BaseException:
            os.close(fd)
            raise
        if hold:
            self.fd = fd
            hold_own(fd, "run log journal")  # (held between lines: a step's close leaves it open)
        else:
            os.close(fd)

    def release(self) -> None:
        """Close the descriptor held since a line written with `hold`, if any."""
        fd = self.fd
        if fd is not None:
            self.fd = None
            close_own(fd)

    def remove(self) -> None:
        """The run's file holds all of it (its last write was made), or a new run takes this id: remove
        the journal."""
        self.release()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def start_record(step: StepLog) -> dict[str, Any]:
    """A task step's start as a step log's JSON (what begin_step keeps: PROCESSING, its names, type, code
    identities and start time); the models fill in the rest when it is read (attempts none yet)."""
    from magnus_core.models.run_log import _time_text

    out: dict[str, Any] = {
        "name": step.name,
        "internal_name": step.internal_name,
        "status": "PROCESSING",
        "step_type": step.step_type,
        "code_identities": [_identity(identity)[0] for identity in step.code_identities],
    }
    if step.start_time is not None:
        out["start_time"] = _time_text(step.start_time)
    return out


# a start line, as pydantic-core's to_json writes {"b": branch, "s": start_record(step)} (compact, in order)
_START = (
    '{"b":%s,"s":{"name":%s,"internal_name":%s,"status":"PROCESSING","step_type":%s,'
    '"code_identities":[%s]%s}}\n'
)
_string = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring


def start_line(step: StepLog, branch: str | None) -> str | None:
    """The start line of `step` in `branch`, built as text (session 10: the record's dict, its masking walk
    and its to_json cost a third of what the journal added to a trivial step): the JSON of
    `{"b": branch, "s": start_record(step)}`, each string escaped as json.dumps escapes it (quotes,
    backslashes, control characters; other characters as they are: the line is UTF-8). Not masked: the
    store searches the text for the run's secrets (Masker.clean_json) and, when one is there, writes
    `start_record` masked instead. None when a field is not the usual type (a str subclass, a time that is
    not a datetime): `start_record` then."""
    from magnus_core.models.run_log import start_text

    name, internal, kind, start = step.name, step.internal_name, step.step_type, step.start_time
    if not (name.__class__ is str and internal.__class__ is str and kind.__class__ is str):
        return None
    if not (branch is None or branch.__class__ is str):
        return None
    if start is None:
        when = ""
    elif start.__class__ is datetime:
        when = ',"start_time":' + _string(start_text(start))
    else:
        return None
    identities = ",".join([_identity(identity)[1] for identity in step.code_identities])
    return _START % (
        "null" if branch is None else _string(branch),
        _string(name),
        _string(internal),
        _string(kind),
        identities,
        when,
    )


# id(identity) -> (it, its JSON as a dict, as text): a run's steps share one identity object
_identities: dict[int, tuple[Any, dict[str, Any], str]] = {}


def _identity(identity: Any) -> tuple[dict[str, Any], str]:
    kept = _identities.get(id(identity))
    if kept is None or kept[0] is not identity:
        from pydantic_core import to_json

        if len(_identities) > 64:
            _identities.clear()
        plain = identity.model_dump(mode="json")
        kept = _identities[id(identity)] = (identity, plain, to_json(plain).decode("utf-8"))
    return kept[1], kept[2]


def read_lines(path: str) -> list[dict[str, Any]]:
    """The whole lines of journal `path` as JSON objects, in order: a last line without its newline (torn by
    the process's death) is left out, and reading stops at the first line that is not a JSON object.
    [] when there is no journal. RunLogError for what cannot be read at all (a FIFO, too large)."""
    try:
        raw = read_regular_file(path, limit=MAX_JOURNAL_BYTES, what="run journal", error=RunLogError)
    except RunLogError:
        if not os.path.lexists(path):
            return []
        raise
    from pydantic_core import from_json

    out: list[dict[str, Any]] = []
    for line in raw.split(b"\n")[:-1]:  # (what follows the last newline is torn: not committed)
        try:
            value = from_json(line)
        except ValueError:
            break
        if not isinstance(value, dict):
            break
        out.append(value)
    return out


def replay(log: RunLog, lines: list[dict[str, Any]], source: str) -> int:
    """Apply journal `lines` to `log` in order (see the module's doc); returns how many were applied.
    RunLogError naming `source` for a line the models refuse, or one naming a step or branch the log does
    not hold."""
    from pydantic import ValidationError

    from magnus_core.models.run_log import BranchLog, StepLog

    steps: dict[str, StepLog] = {}
    branches: dict[str, BranchLog] = {}
    for step in log.walk():
        steps[step.internal_name] = step
        branches.update(step.branches)
    # a step written many times (begun, attempts, committed) is made once: only its last line counts,
    # unless a line for a branch or the run comes in between (kept in order)
    last: dict[str, int] = {}
    for i, line in enumerate(lines):
        record = line.get("s")
        if isinstance(record, dict):
            last[str(record.get("internal_name"))] = i
    applied = 0
    try:
        for i, line in enumerate(lines):
            if "s" in line:
                data = line["s"]
                name = str(data.get("internal_name")) if isinstance(data, dict) else ""
                if "p" in line and isinstance(line["p"], dict):
                    log.parameters = dict(line["p"])
                if last.get(name) != i and name in steps:
                    continue  # a later line replaces it (a step new to the log is placed by its first line)
                made = StepLog.model_validate(data)
                existing = steps.get(made.internal_name)
                if existing is not None and existing.branches:
                    made.branches = existing.branches
                branch = line.get("b")
                container = log.steps if branch is None else branches[str(branch)].steps
                container[made.internal_name] = made
                steps[made.internal_name] = made
            elif "t" in line:
                data = line["l"]
                parent = steps[str(line["t"])]
                held = branches.get(str(data["internal_name"]))
                made_branch = BranchLog(
                    internal_name=data["internal_name"],
                    status=data["status"],
                    steps=held.steps if held is not None else {},
                )
                parent.branches[made_branch.internal_name] = made_branch
                branches[made_branch.internal_name] = made_branch
            elif "r" in line:
                for key, value in dict(line["r"]).items():
                    if key in type(log).model_fields and key not in ("steps", "run_id", "run_config"):
                        setattr(log, key, value)
            applied += 1
    except (ValidationError, KeyError, TypeError, ValueError, AttributeError) as exc:
        why = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise RunLogError(f"run journal: line {applied + 1}: {why}", file=source) from None
    return applied
