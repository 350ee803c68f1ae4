"""The run index in an embedded SQLite file (the standard library's sqlite3), in the user's cache folder.

Tables (schema version in `meta`):

    runs(run_id PRIMARY KEY, version, status, tag, pipeline, dag_hash, start, end_time, start_key, end_key,
         duration, steps, steps_done, original_run_id, commit_id, dirty, use_cached, pid, host, error,
         params, metrics, start_local, zone, duration_text, step_text, failed_step, failure, user_name,
         driven)
    (start_key, end_key: seconds since the epoch, so runs order by true time whatever their UTC offsets)
    (params, metrics: the run's final parameters and its metrics as JSON objects, queried with SQLite's
    JSON functions: one row per run is what keeps a cold build near the cost of reading the logs)
    (failed_step, failure: the first step that failed itself and its error on one line, record.failure_text)
    (user_name, driven: who ran the run, and "per-step" for a run driven one step per process: record.user,
    record.driven; '' in a row an index of schema 11 held, until its run is written again: MIGRATE)
    (runs_user: an index on user_name, so a listing knows in two lookups whether to fetch its runs' users)
    (start_local, zone, duration_text, step_text: the start as `magnus runs` shows it in the zone of the
    process that wrote the row (models/times.local_text, zone_key), the duration (table.fmt_seconds) and
    the steps (index.step_text) as it shows them: a listing of 20,000 runs formats none of them, RunTable's
    texts are the rows' own)
    names(kind 'p'|'m', name)   every parameter and metric name (completion, hints)

The file is a cache: deleting it loses nothing (the next query rebuilds it from the logs). WAL mode lets
several processes read and write at once. A write to an index being built waits for the builder up to
`busy_timeout` seconds (what it builds is what the writer needs); a write to a built index waits at most
LOCK_WAIT (another magnus's update holds the lock for milliseconds: a longer hold is a stuck process or a
user's SQL shell). A lock held past the wait makes this command use a copy of the file in memory (WAL lets
it read what the file holds), brought up to date there, with a one-line notice: the answer is right and
quick, and the next command writes the file. A file that is not a database or is damaged is deleted and
rebuilt with a one-line notice. Neither is ever a crash.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import operator
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from itertools import compress, repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magnus_core import jsonio as json
from magnus_core.controls import harmless
from magnus_core.errors import UsageError
from magnus_core.gcpause import paused
from magnus_core.index import (
    IndexedRun,
    IndexNames,
    Notify,
    Progress,
    QueryResult,
    RefreshReport,
    RunIndex,
    RunQuery,
    RunTable,
    failure_line,
    hints,
    lists_failures,
    step_text,
)
from magnus_core.index.record import (
    PER_STEP,
    RUNNING_STATUSES,
    RunRecord,
    broken,
    dead_done,
    record_from_json,
)
from magnus_core.models.times import elapsed, local_text, local_texts, parse_time, zone_key
from magnus_core.query import ATTRIBUTES, BoolOp, Compare, Expr, Key, like_to_regex
from magnus_core.runs import PER_STEP_STATE
from magnus_core.table import fmt_seconds

if TYPE_CHECKING:
    from magnus_core.stores.base import RunLogStore

# 5: steps / steps_done are progress.step_progress (the path), not log counts (record.RECORD_VERSION): a new
# kind of record or a new layout of the tables bumps it, and an index file of another version is rebuilt
# (6: the fail node a run reached counts as a failed step; 7: a branch's too, and the texts `magnus runs`
# shows of a run's start and duration are kept: start_local, zone, duration_text; 8: and of its steps; 9: the
# first step that failed itself and its error, failed_step and failure; 10: no pid for a run driven one step
# per process, record 9; 11: steps_done counts the steps that succeeded, a handled failure is not done,
# record 10; 12: the run's user and how it is driven, user_name and driven: an index of 11 takes them
# in place, MIGRATE; 13: and the index runs_user, which 12 lacked; 14: steps_done counts the steps that ran
# to an end, record 11: an index of 11, 12 or 13 is taken up in place and every run in it read again once;
# 15: a fail node is never a step, record 12: an index of 11 to 14 is taken up so, too; 16: steps_done
# counts interrupted steps, record 13: an index of 11 to 15 is taken up so, too; 17: steps_running, the
# steps a run was running when its log was read, counted as ran once its process is found gone, trial 13
# fault 2: an index of 16 takes the column in place and reads its running runs again, one of 11 to 15 as
# before; 18: no failure keeps a step's escape sequences, record.failure_text strips them since b8ba88e: an
# index of 11 to 17 strips those of its older rows in place, _HARMLESS; 19: a failure ends with its chained
# cause, `; caused by JSONDecodeError: ..., at chain.py:5 in _read`, record.failure_text since session 11: an
# index of 16 to 18 reads its failed runs again, _REREAD_FAILED, one of 11 to 15 every run as before)
SCHEMA_VERSION = "19"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, version TEXT, status TEXT NOT NULL, tag TEXT NOT NULL DEFAULT '',
    pipeline TEXT NOT NULL DEFAULT '', dag_hash TEXT NOT NULL DEFAULT '', start TEXT NOT NULL DEFAULT '',
    end_time TEXT NOT NULL DEFAULT '', start_key REAL, end_key REAL, duration REAL,
    steps INTEGER NOT NULL DEFAULT 0,
    steps_done INTEGER NOT NULL DEFAULT 0, original_run_id TEXT NOT NULL DEFAULT '',
    commit_id TEXT NOT NULL DEFAULT '', dirty INTEGER, use_cached INTEGER NOT NULL DEFAULT 0, pid INTEGER,
    host TEXT NOT NULL DEFAULT '', pid_start REAL, error TEXT NOT NULL DEFAULT '',
    params TEXT NOT NULL DEFAULT '{}', metrics TEXT NOT NULL DEFAULT '{}',
    start_local TEXT NOT NULL DEFAULT '', zone TEXT NOT NULL DEFAULT '',
    duration_text TEXT NOT NULL DEFAULT '-', step_text TEXT NOT NULL DEFAULT '',
    failed_step TEXT NOT NULL DEFAULT '', failure TEXT NOT NULL DEFAULT '',
    user_name TEXT NOT NULL DEFAULT '', driven TEXT NOT NULL DEFAULT '',
    steps_running INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS names (
    kind TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (kind, name)
) WITHOUT ROWID;
"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS runs_newest ON runs (start_key, run_id);
CREATE INDEX IF NOT EXISTS runs_tag ON runs (tag);
CREATE INDEX IF NOT EXISTS runs_version ON runs (run_id, version);
CREATE INDEX IF NOT EXISTS runs_running ON runs (run_id) WHERE status IN ('PROCESSING', 'CREATED');
CREATE INDEX IF NOT EXISTS runs_user ON runs (user_name);
"""
_SCHEMA += _INDEXES
# An index of an older schema taken to this one in place, without reading every log again (the others are
# rebuilt): schema 11 lacks user_name and driven, 12 the index runs_user. Schema 14 (record 11: steps_done
# counts the steps that ran, not those that succeeded), 15 (record 12: a fail node is not a step) and 16
# (record 13: interrupted steps ran) read every run of an index of 11 to 15 again once
# (each row's version forgotten, and the looks' records of the listing with it), in place: that fills the
# user and how it is driven of an index of 11 too.
# Schema 17 adds steps_running: an index of 16 reads again only its runs recorded as running (the only ones
# that have any), not every ended run.
_FORGET_LOOKS = "DELETE FROM meta WHERE key IN ('listing', 'find_listing', 'quiet', 'full_look');"
_REREAD = "UPDATE runs SET version = NULL; " + _FORGET_LOOKS
_RUNNING_COLUMN = "ALTER TABLE runs ADD COLUMN steps_running INTEGER NOT NULL DEFAULT 0; "
# Schema 18: the failures an index made before b8ba88e kept with a step's escape sequences (trial 14 F13:
# `magnus runs --json` gave "\u001b]0;title\u0007..." of a run indexed then, until it was read again) lose
# them in place, through the one reading of them (controls.harmless, magnus_harmless: _migrate), every
# row at once, no log read again: an index read never shows them, a run's log is never needed for it.
_HARMLESS = "UPDATE runs SET failure = magnus_harmless(failure) WHERE failure <> magnus_harmless(failure); "
# Schema 19: a failure's text ends with its chained cause (record.failure_text, session 11: `magnus runs
# --status FAIL` named the outer exception only, `magnus show` the cause that was the reason): an index of 16
# to 18 reads again only its failed runs (the only rows with a failure), not every run.
_REREAD_FAILED = "UPDATE runs SET version = NULL WHERE failure <> ''; " + _FORGET_LOOKS
MIGRATE = {
    "12": (
        _RUNNING_COLUMN + "CREATE INDEX IF NOT EXISTS runs_user ON runs (user_name); " + _HARMLESS + _REREAD
    ),
    "11": (
        "ALTER TABLE runs ADD COLUMN user_name TEXT NOT NULL DEFAULT ''; "
        "ALTER TABLE runs ADD COLUMN driven TEXT NOT NULL DEFAULT ''; "
        + _RUNNING_COLUMN
        + "CREATE INDEX IF NOT EXISTS runs_user ON runs (user_name); "
        + _HARMLESS
        + _REREAD
    ),
    "13": _RUNNING_COLUMN + _HARMLESS + _REREAD,
    "14": _RUNNING_COLUMN + _HARMLESS + _REREAD,
    "15": _RUNNING_COLUMN + _HARMLESS + _REREAD,
    "16": (
        _RUNNING_COLUMN
        + _HARMLESS
        + "UPDATE runs SET version = NULL WHERE status IN ('PROCESSING', 'CREATED'); "
        + _REREAD_FAILED
    ),
    "17": _HARMLESS + _REREAD_FAILED,
    "18": _REREAD_FAILED,
}
_SECONDARY = ("runs_newest", "runs_tag", "runs_version", "runs_running", "runs_user")
_COLUMNS = {  # attribute -> runs column (or the expression of what it is now: duration)
    "run_id": "r.run_id",
    "status": "r.status",
    "tag": "r.tag",
    "pipeline": "r.pipeline",
    "dag_hash": "r.dag_hash",
    "start": "r.start_key",
    "end": "r.end_key",
    "duration": "r.duration",
    "steps": "r.steps",
    "steps_done": "r.steps_done",
    "original_run_id": "r.original_run_id",
    "commit": "r.commit_id",
    "dirty": "r.dirty",
    "use_cached": "r.use_cached",
    "failed_step": "r.failed_step",
    "failure": "r.failure",
    "user": "r.user_name",
    "driven": "r.driven",
}
_RUN_FIELDS = (
    "run_id, status, tag, pipeline, dag_hash, start, end_time, duration, steps, steps_done, "
    "original_run_id, commit_id, dirty, use_cached, pid, host, pid_start, error, failed_step, failure, "
    "user_name, driven, step_text, steps_running"
)
# what a run is now, asked of the operating system only for runs recorded as running (magnus_state)
_STATE = "magnus_state(r.status, r.pid, r.host, r.pid_start, r.driven)"
# RunTable's columns, in its order
_RUNNING = ", ".join(f"'{status}'" for status in RUNNING_STATUSES)
_SQL_NO_TIME = "-9e999"  # how SQL spells NO_TIME (an overflowing literal is -Inf)
# A run's duration as every view gives it: for a running run (state RUNNING) the time from its start to now
# (models/times.elapsed; what is stored is the time to its last finished step), so that `--where duration`
# and `--order-by duration` see what `magnus runs` shows; the others' as recorded
_DURATION = (
    f"(CASE WHEN r.status IN ({_RUNNING}) AND {_STATE} = 'RUNNING' THEN "
    f"(CASE WHEN r.start_key = {_SQL_NO_TIME} THEN NULL "
    "ELSE max(0.0, (julianday('now') - 2440587.5) * 86400.0 - r.start_key) END) "
    "ELSE r.duration END)"
)
_COLUMNS["duration"] = _DURATION
# The steps that ran as every view counts them: a run found dead counts the steps it was running (dead_done)
_COLUMNS["steps_done"] = (
    f"(r.steps_done + CASE WHEN r.steps_running > 0 AND r.status IN ({_RUNNING}) "
    f"AND {_STATE} = 'INTERRUPTED' THEN r.steps_running ELSE 0 END)"
)
# RunTable's columns from the rows, in its order, but the states (of running runs only: _table) and the
# errors (of broken logs only); the start as shown in another zone than the row's is made here (magnus_local)
_TABLE_FIELDS = (
    "r.run_id, r.status, r.tag, CASE WHEN r.zone = ? THEN r.start_local ELSE magnus_local(r.start) END, "
    "r.duration_text, r.step_text, r.original_run_id"
)
_KIND = {"param": "p", "metric": "m"}
MMAP_BYTES = 256 * 1024 * 1024  # at most this much of the index file is mapped (20,000 runs: about 12 MB)
LOCK_WAIT = 0.5  # seconds a write to a built index waits for another process's lock (module docstring)
CACHE_KIB = 32 * 1024  # pages cached and sorted in memory, at most (allocated as used)
_BATCH = 500
NO_TIME = float("-inf")  # the time key of a run without a start (a broken log): the oldest
# Between two full looks (a stat of every log), a look lists the store with the cheap tokens only (the
# file-system store: inodes, from the directory scan itself): changes made in place are seen within this.
FULL_LOOK_EVERY = 10.0  # seconds


class _Locked(Exception):
    pass


def _state(status: str, pid: int | None, host: str, pid_start: float | None = None, driven: str = "") -> str:
    """What a run is now: a PROCESSING run whose process is gone on this host (or whose pid another process
    holds now: another start time) is INTERRUPTED; one driven one step per process (no pid) is PER-STEP
    (runs.list_state)."""
    if status not in RUNNING_STATUSES:
        return status
    if driven == PER_STEP:
        return PER_STEP_STATE
    from magnus_core.runs import process_alive_at

    return "INTERRUPTED" if process_alive_at(pid, host, pid_start) is False else "RUNNING"


def _like(case_sensitive: bool) -> Callable[[str | None, str | None], int]:
    cache: dict[str, re.Pattern[str]] = {}

    def like(pattern: str | None, value: str | None) -> int:
        if pattern is None or value is None:
            return 0
        rx = cache.get(pattern)
        if rx is None:
            rx = re.compile(like_to_regex(pattern), 0 if case_sensitive else re.IGNORECASE | re.DOTALL)
            cache[pattern] = rx
        return 1 if rx.fullmatch(value) else 0

    return like


class SQLiteRunIndex(RunIndex):
    """The run index of one store in one SQLite file (None: in memory). See the module docstring."""

    def __init__(
        self,
        store: RunLogStore,
        path: Path | None,
        *,
        notify: Notify,
        progress: Progress | None = None,
        busy_timeout: float = 5.0,
    ) -> None:
        self.store = store
        self.path = path
        self.notify = notify
        self.progress = progress
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        # run id -> version as this process last wrote or read them (None: read them from the file). Other
        # processes may have indexed runs since: at worst a log is read again (an idempotent write).
        self._known: dict[str, Any] | None = None
        # per kind of look (full or quick): run id -> the token the store listed at the last look of that
        # kind, whose version the index then held. A look compares the listing with it as two sets, in C:
        # the workbench's refresh and an update after one new run do not convert 20,000 tokens to text.
        self._seen: dict[bool, dict[str, Any]] = {}
        self._beside: _FullLook | None = None  # a full look's check a child process is making (_refresh)
        self.conn = self._open()

    # -- connection ----------------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect(self.path)
        except sqlite3.OperationalError as exc:
            if self.path is not None and _is_lock(exc):
                return self._in_memory(f"the run index {self.path} is locked by another process")
            if self.path is not None:
                return self._in_memory(f"cannot open the run index {self.path} ({exc})")
            raise
        except sqlite3.DatabaseError as exc:
            if self.path is None or not _is_damage(exc):
                raise
            self.notify(f"the run index {self.path} was unreadable ({exc}); rebuilding it from the run logs")
            self._delete_files()
            return self._connect(self.path)

    def _connect(self, path: Path | None, conn: sqlite3.Connection | None = None) -> sqlite3.Connection:
        """A connection to the index at `path` (None: in memory, `conn` when given: a copy made by
        _in_memory), its schema checked and made, magnus's SQL functions added."""
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        if conn is None:
            conn = sqlite3.connect(
                ":memory:" if path is None else str(path),
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        try:
            if path is not None:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                # pages read from the file's memory map, not copied by a read() each: a listing of 20,000
                # runs reads every page of the table (a third less CPU)
                conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            # sorting 20,000 rows (every listing without --limit) in memory: with the default 2 MB the sorter
            # spilled to a temporary file, about 500 writes and reads of it per `magnus runs`
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            kept: dict[str, str] = {}
            with contextlib.suppress(sqlite3.OperationalError):  # a new file has no meta table yet
                kept = dict(
                    conn.execute("SELECT key, value FROM meta WHERE key IN ('schema', 'store', 'indexes')")
                )
            version, location = kept.get("schema"), self.store.index_location() or "memory"
            if version in MIGRATE:  # an older schema taken up in place (MIGRATE)
                version = self._migrate(conn, version)
            if version not in (None, SCHEMA_VERSION):  # an index written by another magnus version
                conn.executescript(
                    "DROP TABLE IF EXISTS runs; DROP TABLE IF EXISTS vals; DROP TABLE IF EXISTS names; "
                    "DELETE FROM meta;"
                )
            if version == SCHEMA_VERSION and "indexes" in kept:  # a cold build that did not end (_bulk)
                with contextlib.suppress(sqlite3.OperationalError):  # (locked: a build under way; next time)
                    conn.executescript(
                        f"BEGIN IMMEDIATE; {_INDEXES} DELETE FROM meta WHERE key = 'indexes'; COMMIT;"
                    )
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            if version != SCHEMA_VERSION or kept.get("store") != location:  # (else nothing to write: an
                # index this version made has every table, and a listing that writes nothing leaves no WAL
                # for its close to check in)
                conn.executescript(_SCHEMA)
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('store', ?)", (location,))
        except BaseException:
            conn.close()
            raise
        if path is not None and version == SCHEMA_VERSION:  # built: a lock past LOCK_WAIT is not an update
            conn.execute(f"PRAGMA busy_timeout={int(min(LOCK_WAIT, self.busy_timeout) * 1000)}")
        conn.create_function("magnus_state", 5, _state, deterministic=False)
        conn.create_function("magnus_local", 1, local_text, deterministic=False)
        conn.create_function("magnus_like", 2, _like(True), deterministic=True)
        conn.create_function("magnus_ilike", 2, _like(False), deterministic=True)
        return conn

    @staticmethod
    def _migrate(conn: sqlite3.Connection, version: str) -> str:
        """Take an index of schema `version` to SCHEMA_VERSION in place (MIGRATE), in one transaction; the
        version the file is at after (another process may have done it first; a lock held by another process
        raises as any write would: _open and _guarded answer from a copy in memory)."""
        conn.create_function("magnus_harmless", 1, harmless, deterministic=True)  # (_HARMLESS)
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if found is None or found[0] != version:
                conn.execute("ROLLBACK")
                return str(found[0]) if found else version
            for statement in MIGRATE[version].split("; "):
                conn.execute(statement.rstrip(";"))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return SCHEMA_VERSION

    def _in_memory(self, why: str) -> sqlite3.Connection:
        """This command's index in memory: a copy of what the file holds (read under WAL whatever lock
        another process has), else an empty one; the caller's action brings it up to date."""
        path, self.path = self.path, None
        self._known = None  # read from the copy
        self._seen = {}
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        copied = False
        if path is not None:
            with contextlib.suppress(sqlite3.Error, OSError):
                source = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=LOCK_WAIT)
                try:
                    source.backup(conn)
                    copied = True
                finally:
                    source.close()
        self.notify(
            f"{why}; this command used a copy of it in memory, brought up to date"
            if copied
            else f"{why}; using an index in memory for this command"
        )
        return self._connect(None, conn)

    def _delete_files(self) -> None:
        if self.path is None:
            return
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self.path}{suffix}").unlink()

    def _guarded(self, action: Callable[[], Any]) -> Any:
        """Run `action`; a damaged index is rebuilt, a locked one replaced by one in memory, once.
        One action at a time per index (the workbench calls from worker threads)."""
        with self._lock:
            return self._guarded_unlocked(action)

    def _guarded_unlocked(self, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if self.path is None or not _is_lock(exc):
                raise
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self.close()
            self.conn = self._in_memory(f"the run index {self.path} is locked by another process")
            return action()
        except sqlite3.DatabaseError as exc:
            if self.path is None or not _is_damage(exc):
                raise
            self.notify(f"the run index {self.path} was damaged ({exc}); rebuilding it from the run logs")
            self.close()
            self._delete_files()
            self._known = None
            self._seen = {}
            self.conn = self._connect(self.path)
            return action()

    def close(self) -> None:
        check, self._beside = self._beside, None
        if check is not None:  # (an answer that failed before its end)
            check.digest()
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()

    # -- refresh ---------------------------------------------------------------------------------------
    def refresh(self) -> RefreshReport:
        result: RefreshReport = self._guarded(self._refresh)
        return result

    def _refresh(self, *, beside: bool = False) -> RefreshReport:
        """Catch up with the store. `beside`: a full look due is made by a child process beside this one
        (_FullLook) while this one makes the quick look and answers; the caller then ends it
        (_end_full_look), and answers again if it found a change."""
        with paused():  # records of thousands of logs: no cycles to collect (magnus_core/gcpause.py)
            return self._look(beside=beside)

    def _end_full_look(self) -> bool:
        """End the full look whose check a child made beside (_refresh(beside=True), _FullLook): the store
        unchanged since the index last held every run, the full look is done; otherwise it is made here.
        True: runs were read or dropped (the answer must be made again)."""
        check, self._beside = self._beside, None
        if check is None:
            return False
        digest = check.digest()
        with paused():
            kept = self.conn.execute("SELECT value FROM meta WHERE key = 'find_listing'").fetchone()
            if digest is not None and kept is not None and kept[0] == digest:
                self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('full_look', ?)", (str(time.time()),))
                return False
            report = self._look(full_now=True)
            if digest is not None and self.path is not None:  # the index holds every run it listed: keep
                # the check's digest for the next look (a change since the check makes the next one differ)
                self.conn.execute(
                    "INSERT INTO meta SELECT 'find_listing', ? WHERE EXISTS "
                    "(SELECT 1 FROM meta WHERE key = 'listing') "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (digest,),
                )
        return bool(report.read or report.removed)

    def _look(self, *, beside: bool = False, full_now: bool = False) -> RefreshReport:
        meta = dict(
            self.conn.execute("SELECT key, value FROM meta WHERE key IN ('full_look', 'quiet', 'listing')")
        )
        now = time.time()
        last = float(meta["full_look"]) if "full_look" in meta else None
        full = full_now or last is None or not (0 <= now - last < FULL_LOOK_EVERY)
        if full and beside and self.path is not None:  # (the check's digest is kept in meta)
            self._beside = _FullLook.start(self.store)
            full = self._beside is None
        quiet = self.store.quiet_token()
        if not full and quiet is not None and meta.get("quiet") == quiet:
            return RefreshReport(read=0, removed=0)  # nothing renamed in or out since a look saw it all
        versions = self.store.run_versions(full=full)
        # a full look: the digest of its listing equal to the one the index keeps (or, compared with what the
        # index holds, the same listing) means nothing to read or drop
        listing = _listing(versions) if full and self.path is not None else None
        held = listing is not None and meta.get("listing") == listing
        known = self._known
        first = None  # for a quick look: run id -> the first part of the version kept (the inode)
        if full and not held:
            known = self._held(versions, listing)
            held = known is None
        if held:
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('full_look', ?)", (str(now),))
            self._known = None  # (read from the file when a look needs it)
            self._looked(None, quiet, full, versions)
            return RefreshReport(read=0, removed=0)
        if full:
            self._seen = {}
        elif known is None:
            rows = self.conn.execute(
                "SELECT run_id, version, substr(version, 1, instr(version || ':', ':') - 1) FROM runs"
            ).fetchall()
            ids, kept, firsts = zip(*rows, strict=True) if rows else ((), (), ())
            known, first = dict(zip(ids, kept, strict=True)), dict(zip(ids, firsts, strict=True))
            self._seen = {}
        assert known is not None  # (a full look that held the listing returned above)
        seen = self._seen.pop(full, None)
        self._known = None  # until this refresh has written what it found
        self._seen = {}
        if seen is not None:  # listed (again) since the last look of this kind, or changed (None: unknown)
            moved = sorted(versions.items() - seen.items(), key=lambda item: item[0])
            changed = [(run_id, _token_text(token)) for run_id, token in moved]
        else:
            changed = _changed(versions, known, first)
        if not full:
            changed = self._running_moved(changed, versions)
        if full and self.path is not None:
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('full_look', ?)", (str(now),))
        gone = list(known.keys() - versions.keys())
        report = RefreshReport(read=len(changed), removed=len(gone))
        if not changed and not gone:
            self._looked(known, quiet, full, versions)
            return report
        total = len(changed)
        show = self.progress if self.progress is not None and total >= 200 else None
        done = 0
        # a cold build (an index holding no run, thousands to read) writes its rows before the secondary
        # indexes are made, in one pass each after, and without waiting for the disk at each checkpoint
        # (a cache: a crash loses nothing a new build cannot make; _connect makes indexes a crash left out)
        bulk = not known and total >= PARALLEL_MIN and self.path is not None
        if bulk:
            self._bulk(True)
        try:
            for rows, names in self._batches(changed):
                report.broken += sum(1 for row in rows if row[2] == "BROKEN")
                self._write_rows(rows, names, gone if done == 0 else [], known)
                done += len(rows)
                if show is not None:
                    show(done, total)
        finally:
            if bulk:
                self._bulk(False)
        if not changed:
            self._write([], gone, known)
        for run_id, version in changed:
            known[run_id] = version
        for run_id in gone:
            known.pop(run_id, None)
        self._looked(known, quiet, full, versions)
        return report

    def _bulk(self, start: bool) -> None:
        """Before a cold build's writes (start): no secondary index (meta 'indexes' says they are to be
        made), no sync at each checkpoint; after: the indexes made (each in one sorted pass, not 20,000
        insertions) and sync as ever."""
        conn = self.conn
        if start:
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("BEGIN IMMEDIATE")
            for name in _SECONDARY:
                conn.execute(f"DROP INDEX IF EXISTS {name}")
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('indexes', 'to make')")
            conn.execute("COMMIT")
            return
        try:
            conn.executescript(f"BEGIN IMMEDIATE; {_INDEXES} DELETE FROM meta WHERE key = 'indexes'; COMMIT;")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        finally:
            conn.execute("PRAGMA synchronous=NORMAL")

    def _running_moved(
        self, changed: list[tuple[str, str | None]], versions: dict[str, Any]
    ) -> list[tuple[str, str | None]]:
        """A quick look's `changed`, with the runs the index holds as running whose whole token moved. A
        quick token (the inode) misses a log rewritten in place, and one rewritten twice since the last
        look when the file system gives the freed inode back (ext4 does: a run's log alternates between
        two inodes); running runs are the ones being rewritten, so each look stats those (a few). The
        runs read get their whole token, so the next look compares like with like."""
        held = dict(self.conn.execute(f"SELECT run_id, version FROM runs WHERE status IN ({_RUNNING})"))
        running = [run_id for run_id in held if run_id in versions]
        if not running and not changed:
            return changed
        tokens = {
            run_id: _token_text(token)
            for run_id, token in self.store.run_tokens([*running, *(run_id for run_id, _ in changed)]).items()
        }
        out = {run_id: tokens.get(run_id) or version for run_id, version in changed}
        for run_id in running:  # (one gone since the listing is left to the next look)
            if (
                run_id in tokens
                and run_id not in out
                and (tokens[run_id] is None or tokens[run_id] != held[run_id])
            ):
                out[run_id] = tokens[run_id]
        return sorted(out.items(), key=lambda item: item[0])

    def _settle(self, statuses: Sequence[str], states: Sequence[str], run_ids: Sequence[str]) -> bool:
        """After a listing judged runs recorded as running INTERRUPTED (their process is gone): read again
        the logs of those that changed since the index read them (a stat each) and write them. A run's
        process writes its last state and then exits; a refresh that read its log just before that write,
        followed by the judgement just after the exit, would call a finished run interrupted. Judging first
        and looking at the log after is the order that cannot. True: a record changed (list again)."""
        dead = [
            run_id
            for run_id, status, state in zip(run_ids, statuses, states, strict=True)
            if state == "INTERRUPTED" and status in RUNNING_STATUSES
        ]
        if not dead:
            return False
        marks = ", ".join("?" * len(dead))
        held = dict(self.conn.execute(f"SELECT run_id, version FROM runs WHERE run_id IN ({marks})", dead))
        tokens = {run_id: _token_text(token) for run_id, token in self.store.run_tokens(dead).items()}
        # (a run gone from the store since is left to the next look, which drops it; None: read every time)
        moved = [
            (run_id, token) for run_id, token in tokens.items() if token is None or token != held.get(run_id)
        ]
        if not moved:
            return False
        records = [(self._record(run_id), token) for run_id, token in moved]
        self._write(records, [], {run_id: None for run_id, _ in moved})
        self._known = None  # (read from the file at the next look)
        self._seen = {}
        return any(record.status not in RUNNING_STATUSES for record, _ in records)

    def _held(self, versions: dict[str, Any], listing: str | None) -> dict[str, Any] | None:
        """What the index holds (run id -> version) for a full look to compare with its listing; None when
        that is exactly the listing (no run to read or drop), the digest of which is then kept in meta for
        the next full look. Read and digest in one write transaction, so no other process writes runs
        between them (and every later write of runs deletes the digest: _write)."""
        if listing is None:
            return dict(self.conn.execute("SELECT run_id, version FROM runs").fetchall())
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            known = dict(self.conn.execute("SELECT run_id, version FROM runs").fetchall())
            same = known.keys() == versions.keys() and not _changed(versions, known)
            if same:
                self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('listing', ?)", (listing,))
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return None if same else known

    def _looked(
        self, known: dict[str, Any] | None, quiet: str | None, full: bool, versions: dict[str, Any]
    ) -> None:
        """The index holds every run the store listed: keep the versions for the next refresh of this
        process (the workbench refreshes every second), what the store listed for the next look of this
        kind (a token None, unknown, is left out: that log is read at every look), and the store's quiet
        token for every process."""
        if known is not None:
            self._known = known
        if None in versions.values():
            versions = {run_id: token for run_id, token in versions.items() if token is not None}
        self._seen = {full: versions}
        if quiet is not None and self.path is not None:
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('quiet', ?)", (quiet,))

    def _batches(
        self, changed: list[tuple[str, str | None]]
    ) -> Iterator[tuple[list[tuple[Any, ...]], set[tuple[str, str]]]]:
        """The rows (_rows) of the logs `changed` names, a batch at a time, each with the parameter and
        metric names it holds. Above PARALLEL_MIN logs (a cold build) on a machine with a second core, a
        second process (_OtherReader) reads from the last log down and makes the rows of what it read,
        while this one reads from the first up and writes them all; they meet where their speeds take
        them (no fixed split: under load either one may be the slower). Whatever the second process could
        not summarise is read here, the exact way (_record)."""
        other = _OtherReader.start(self.store, changed) if len(changed) >= PARALLEL_MIN else None
        if other is None:
            for start in range(0, len(changed), _BATCH):
                yield _rows(
                    [(self._record(run_id), version) for run_id, version in changed[start : start + _BATCH]]
                )
            return
        try:
            pos = 0
            while pos < other.low:
                theirs = other.take(pos)  # (what it gave since: the logs from `pos` up only)
                end = min(pos + _OWN_BATCH, other.low)
                records = [(self._record(run_id), version) for run_id, version in changed[pos:end]]
                for at, row in theirs:  # a log it could not summarise: read here
                    if row is None:
                        records.append((self._record(changed[at][0]), changed[at][1]))
                pos = end
                rows, names = _rows(records)
                rows += [row for _, row in theirs if row is not None]
                names |= other.names
                other.names = set()
                if pos >= other.low:
                    other.signal()  # every log is read: it may stop (reaped below, once written)
                yield rows, names
        finally:
            other.stop()

    def _record(self, run_id: str) -> RunRecord:
        """Fast path: the log's JSON; anything odd goes through the models for the exact error. Never
        raises: a log that cannot be read or summarised is a BROKEN record with the reason (runs.read_log),
        so one bad log never hides the others. The record is keyed by the id the store lists the run by,
        whatever the log inside says (a copied file must not replace the run it was copied from)."""
        from magnus_core.runs import one_line, read_log

        try:
            record = record_from_json(self.store.read_json(run_id))  # a new record: named in place, not
            record.run_id = run_id  # copied with dataclasses.replace (a tenth of a cold build)
            return record
        except Exception:  # any failure of the fast path: the exact path below says why
            pass
        log, reason = read_log(self.store, run_id)
        if log is not None:
            try:
                record = record_from_json(log.model_dump(mode="json"))
                record.run_id = run_id
                return record
            except Exception as exc:
                reason = f"not a run log: {one_line(exc)}"
        record = broken(run_id, reason)
        # a broken log says nothing of when it ran: list it by when it was written, not below every run
        with contextlib.suppress(
            Exception
        ):  # what a broken log cannot answer leaves it unplaced, not unlisted
            record.start_key = self.store.modified(run_id)
        return record

    def _write(
        self, records: list[tuple[RunRecord, str | None]], gone: list[str], known: dict[str, Any]
    ) -> None:
        self._write_rows(*_rows(records), gone, known)

    def _write_rows(
        self,
        rows: list[tuple[Any, ...]],
        names: set[tuple[str, str]],
        gone: list[str],
        known: dict[str, Any],
    ) -> None:
        """Write runs' rows (_rows: (version, record) pairs made into the runs table's columns) and the
        names they hold, and drop the runs `gone`, in one transaction."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            # the index no longer holds that listing, nor the one the full look's check saw (_FullLook)
            conn.execute("DELETE FROM meta WHERE key IN ('listing', 'find_listing')")
            if gone:
                conn.executemany("DELETE FROM runs WHERE run_id = ?", [(run_id,) for run_id in gone])
            conn.executemany(_INSERT_RUN, rows)
            conn.executemany("INSERT OR IGNORE INTO names VALUES (?, ?)", names)
            if gone or any(row[0] in known for row in rows):  # names no run has any more
                _forget_names(conn)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def reread(self, run_ids: Sequence[str]) -> None:
        """RunIndex.reread: the runs' versions forgotten (an empty version matches no token) and the store's
        quiet token and listing digests with them, so the next look looks and reads those logs."""
        ids = sorted(set(run_ids))[:500]  # (a few broken logs; SQLite's limit on parameters is far above)
        if not ids:
            return

        def forget() -> None:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                marks = ", ".join("?" * len(ids))
                conn.execute(f"UPDATE runs SET version = '' WHERE run_id IN ({marks})", ids)
                conn.execute("DELETE FROM meta WHERE key IN ('quiet', 'listing', 'find_listing')")
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            self._known = None  # (read from the file at the next look)
            self._seen = {}

        self._guarded(forget)

    # -- queries ---------------------------------------------------------------------------------------
    def names(self) -> IndexNames:
        def read() -> IndexNames:
            self._refresh()
            rows = self.conn.execute("SELECT kind, name FROM names ORDER BY kind, name").fetchall()
            return IndexNames([n for k, n in rows if k == "p"], [n for k, n in rows if k == "m"])

        result: IndexNames = self._guarded(read)
        return result

    def query(self, query: RunQuery) -> QueryResult:
        result: QueryResult = self._guarded(lambda: self._query(query))
        return result

    def _query(self, query: RunQuery) -> QueryResult:
        self._refresh(beside=True)  # (as _table)
        result = self._query_now(query)
        if self._end_full_look():
            result = self._query_now(query)
        return result

    def _query_now(self, query: RunQuery) -> QueryResult:
        select = _select(query, _RUN_FIELDS)
        if select is None:
            return QueryResult([])
        rows = self.conn.execute(*select).fetchall()
        from magnus_core.runs import RunSummary

        runs = [IndexedRun(_summary(row, RunSummary)) for row in rows]
        summaries = [run.summary for run in runs]
        if self._settle(
            [x.status for x in summaries], [x.state for x in summaries], [x.run_id for x in summaries]
        ):
            rows = self.conn.execute(*select).fetchall()
            runs = [IndexedRun(_summary(row, RunSummary)) for row in rows]
        if query.params is not None or query.metrics is not None:
            self._attach_values(runs, query.params, query.metrics)
        return QueryResult(runs, self._hints(query))

    def table(self, query: RunQuery) -> RunTable:
        result: RunTable = self._guarded(lambda: self._table(query))
        return result

    def _table(self, query: RunQuery) -> RunTable:
        # a full look due (a stat of every log) is made by a child process while this one reads the rows
        # (two cores: the listing costs the longer of the two); a change it finds is read and listed again
        self._refresh(beside=True)
        table = self._table_now(query)
        if self._end_full_look():
            table = self._table_now(query)
        return table

    def _several_users(self) -> bool:
        """Whether the index holds runs of more than one user (runs.several_users): the first and the last
        user name by the index runs_user, two lookups. Only then does a table fetch its runs' users, which a
        user alone with their runs never sees (20,000 more texts cost a listing 6%)."""
        first = self.conn.execute(
            "SELECT user_name FROM runs WHERE user_name > '' ORDER BY user_name LIMIT 1"
        ).fetchone()
        last = self.conn.execute(
            "SELECT user_name FROM runs WHERE user_name > '' ORDER BY user_name DESC LIMIT 1"
        ).fetchone()
        return first is not None and last is not None and first != last

    def _table_now(self, query: RunQuery) -> RunTable:
        users = self._several_users()
        fields = _TABLE_FIELDS + (", r.user_name" if users else "")
        if query.params is not None:
            fields += ", r.params"
        if query.metrics is not None:
            fields += ", r.metrics"
        select = _select(query, fields)
        if select is None:
            return RunTable((), (), (), (), (), (), (), (), (), hints=self._hints(query))
        sql, args = select[0], [zone_key(), *select[1]]  # (the zone: the fields' one argument)
        c: list[Sequence[Any]] = self._columns(sql, args)
        states, durations, dead = self._states(query, c)
        if states is None:  # a run judged INTERRUPTED had written since it was read: read again (_settle)
            c = self._columns(sql, args)
            states, durations, dead = self._states(query, c, settle=False)
        assert states is not None and durations is not None
        errors: Sequence[str] = [""] * len(c[0])
        if "BROKEN" in c[1]:  # why each broken log cannot be read
            broken = _select(query, "r.run_id, r.error", also="r.status = 'BROKEN'")
            assert broken is not None
            why = dict(self.conn.execute(*broken).fetchall())
            errors = [
                why.get(run_id, "") if st == "BROKEN" else "" for run_id, st in zip(*c[:2], strict=True)
            ]
        step_texts = c[5]
        if dead:  # a run found dead: its steps cut short ran (record.dead_done)
            step_texts = [dead.get(run_id, t) for run_id, t in zip(c[0], step_texts, strict=True)]
        if any("≥" in text for text in step_texts):  # a floor only while the run is running (step_text)
            step_texts = [
                t if st == "RUNNING" else t.replace("≥", "") for t, st in zip(step_texts, states, strict=True)
            ]
        table = RunTable(c[0], c[1], states, c[2], c[3], durations, step_texts, c[6], errors)
        if users:
            table.users = c[7]
        table.hints = self._hints(query)
        if lists_failures(query):  # `step: error` of each failed run, under the table
            failed = _select(query, "r.run_id, r.failed_step, r.failure")
            assert failed is not None
            why = {run_id: failure_line(step, text) for run_id, step, text in self.conn.execute(*failed)}
            table.failures = [why.get(run_id, "") for run_id in c[0]]
        values = iter(c[8 if users else 7 :])  # the JSON objects asked for: params, then metrics
        if query.params is not None:
            table.params = [_pick(json.loads(v), query.params) for v in next(values)]
        if query.metrics is not None:
            table.metrics = [_pick(json.loads(v), query.metrics) for v in next(values)]
        return table

    def _columns(self, sql: str, args: list[Any]) -> list[Sequence[Any]]:
        rows = self.conn.execute(sql, args).fetchall()
        return list(zip(*rows, strict=True)) if rows else [()] * 11  # columns, in C

    def _states(
        self, query: RunQuery, c: list[Sequence[Any]], *, settle: bool = True
    ) -> tuple[Sequence[str] | None, Sequence[str], dict[str, str]]:
        """The states of a table's runs (c[1]: their statuses), its durations as shown (c[4]) and the steps'
        text of the runs found dead: a run recorded as running is judged now (RUNNING: its duration is the
        time so far, models/times.elapsed; INTERRUPTED: its process is gone, no duration, and the steps it
        was running ran: record.dead_done), the others are what they recorded. (None, ...): a run judged
        INTERRUPTED had written since the index read it, and was read again (_settle): list again."""
        statuses, durations = c[1], c[4]
        if not any(status in c[1] for status in RUNNING_STATUSES):  # (C loops)
            return statuses, durations, {}
        judged = _select(
            query,
            f"r.run_id, r.status, {_STATE}, r.start, r.duration, r.steps_done, r.steps_running, r.steps",
            also=_IS_RUNNING,
        )
        assert judged is not None
        now = {}
        dead: dict[str, str] = {}  # the steps' text of the runs judged INTERRUPTED (dead_done), by run id
        for run_id, status, state, start, d, done, running, total in self.conn.execute(*judged):
            now[run_id] = (state, start, d)
            if state == "INTERRUPTED" and running:
                dead[run_id] = step_text(dead_done(done, running, status, state), total, status)
        rows = [(run_id, st) for run_id, st in zip(c[0], statuses, strict=True) if st in RUNNING_STATUSES]
        if settle and self._settle(
            [st for _, st in rows],
            [now.get(run_id, ("RUNNING",))[0] for run_id, _ in rows],
            [r for r, _ in rows],
        ):
            return None, durations, dead
        states, texts = list(statuses), list(durations)
        for i, (run_id, status) in enumerate(zip(c[0], statuses, strict=True)):
            if status in RUNNING_STATUSES and run_id in now:
                state, start, duration = now[run_id]
                states[i] = state
                texts[i] = fmt_seconds(elapsed(start) if state == "RUNNING" else _lived(state, duration))
        return states, texts, dead

    def _attach_values(
        self, runs: list[IndexedRun], params: list[str] | None, metrics: list[str] | None
    ) -> None:
        by_id = {run.summary.run_id: run for run in runs}
        ids = list(by_id)
        for start in range(0, len(ids), _BATCH):
            chunk = ids[start : start + _BATCH]
            rows = self.conn.execute(
                f"SELECT run_id, params, metrics FROM runs WHERE run_id IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            for run_id, params_json, metrics_json in rows:
                run = by_id[run_id]
                if params is not None:
                    run.params = _pick(json.loads(params_json), params)
                if metrics is not None:
                    run.metrics = _pick(json.loads(metrics_json), metrics)

    def _hints(self, query: RunQuery) -> list[str]:
        """A name no run has: say so, with the nearest names the index holds."""
        named = [n for n in (*(query.params or ()), *(query.metrics or ())) if n != "*"]
        if query.where is None and not query.order_by and not named:  # no name asked for
            return []
        rows = self.conn.execute("SELECT kind, name FROM names ORDER BY kind, name").fetchall()
        return hints(query, IndexNames([n for k, n in rows if k == "p"], [n for k, n in rows if k == "m"]))


def _lived(state: str, duration: float | None) -> float | None:
    """The duration shown of a run recorded as running that is judged `state`: None (shown `-`) when its
    process is gone (INTERRUPTED): its log's last time is its last write, not its end (trial 12: a run
    killed after 4 s read 87.3ms, the time of its last recorded step), as `magnus show` gives no `took`."""
    return None if state == "INTERRUPTED" else duration


# A cold build of this many logs or more is read by two processes (_OtherReader): at 20,000 logs reading and
# decoding them is two thirds of the build, and a second core halves it.
PARALLEL_MIN = 2000
_OWN_BATCH = 250  # logs the building process reads between two looks at what the other process gave
_OTHER_BATCH = 100  # logs the other process reads per batch it gives (what it reads past the meeting point)
_INSERT_RUN = (
    "INSERT OR REPLACE INTO runs (run_id, version, status, tag, pipeline, dag_hash, start, "
    "end_time, start_key, end_key, duration, steps, steps_done, original_run_id, commit_id, "
    "dirty, use_cached, pid, host, pid_start, error, params, metrics, start_local, zone, "
    "duration_text, step_text, failed_step, failure, user_name, driven, steps_running) "
    f"VALUES ({', '.join('?' * 32)})"
)


def _rows(
    records: Sequence[tuple[RunRecord, str | None]],
) -> tuple[list[tuple[Any, ...]], set[tuple[str, str]]]:
    """The runs table's rows of (record, version) pairs, in _INSERT_RUN's order (the texts `magnus runs`
    shows made here, in this process's zone), and the parameter and metric names they hold (kind, name)."""
    zone, starts = zone_key(), local_texts([r.start for r, _ in records])
    rows = [
        (
            r.run_id,
            version,
            r.status,
            r.tag,
            r.pipeline,
            r.dag_hash,
            r.start,
            r.end,
            NO_TIME if r.start_key is None else r.start_key,
            NO_TIME if r.end_key is None else r.end_key,
            r.duration,
            r.steps,
            r.steps_done,
            r.original_run_id,
            r.commit,
            None if r.dirty is None else int(r.dirty),
            int(r.use_cached),
            r.pid,
            r.host,
            r.pid_start,
            r.error,
            to_json(r.params),
            to_json(r.metrics),
            start,
            zone,
            fmt_seconds(r.duration),
            step_text(r.steps_done, r.steps, r.status, r.growing),
            r.failed_step,
            r.failure,
            r.user,
            r.driven,
            r.steps_running,
        )
        for (r, version), start in zip(records, starts, strict=True)
    ]
    names = {("p", name) for r, _ in records for name in r.params}
    names |= {("m", name) for r, _ in records for name in r.metrics}
    return rows, names


def _read_exactly(fd: int, size: int) -> bytes:
    parts, left = [], size
    while left:
        part = os.read(fd, left)
        if not part:
            raise EOFError("the building process closed the pipe")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def other_reader_main() -> None:
    """The second process of a cold build (_OtherReader). Reads, on stdin, the length (8 bytes, little
    endian) and then the pickle of (store class, its config, [(run id, version)]); then, from the last log
    down, writes on stdout one frame per _OTHER_BATCH logs: its length (4 bytes, little endian) and the
    pickle of (index of its first log, [row or None (read it there) per log], names). It stops when its
    stdin becomes readable (the building process closed it: every log is read) or stdout is closed, or
    after the first log, and exits 0."""
    import pickle
    import select
    import struct
    import sys

    size = struct.unpack("<Q", _read_exactly(0, 8))[0]
    kind, config, changed, batch = pickle.loads(_read_exactly(0, size))
    store = kind(config)
    high = len(changed)
    with paused():
        while high > 0 and not select.select([0], [], [], 0)[0]:
            low = max(0, high - batch)
            records: list[tuple[RunRecord, str | None]] = []
            found: list[int | None] = []  # per log: its place in records, or None (read there)
            for run_id, version in changed[low:high]:
                try:
                    record = record_from_json(store.read_json(run_id))
                except Exception:
                    found.append(None)
                    continue
                record.run_id = run_id
                found.append(len(records))
                records.append((record, version))
            rows, names = _rows(records)
            frame = pickle.dumps(
                (low, [None if i is None else rows[i] for i in found], names),
                protocol=pickle.HIGHEST_PROTOCOL,
            )
            try:
                os.write(1, struct.pack("<I", len(frame)))
                view = memoryview(frame)
                while view:
                    view = view[os.write(1, view) :]
            except OSError:  # (BrokenPipeError: the building process needs no more)
                break
            high = low
    sys.stdout.flush()


class _OtherReader:
    """The second process of a cold build: this interpreter running other_reader_main (nothing of the
    caller's program runs again in it), reading the logs from the last one down and giving their rows a
    frame at a time, while the building process reads from the first up (_batches). `low`: the first log
    of those whose rows it gave (every log from there to the last is given); `names`: the names in them,
    not yet taken."""

    def __init__(self, child: Any, sender: threading.Thread, count: int) -> None:
        self.child, self.sender = child, sender
        self.low, self.names = count, set[tuple[str, str]]()
        self.given = 0  # logs it gave rows (or Nones) for that this process took
        self._buffer = bytearray()
        self._ended = False

    @classmethod
    def start(cls, store: RunLogStore, changed: list[tuple[str, str | None]]) -> _OtherReader | None:
        """The second process at work; None with one core, or when it cannot start (then this process
        reads every log, as it always could)."""
        import pickle
        import struct
        import subprocess
        import sys

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        if cores < 2:
            return None
        here = str(Path(__file__).resolve().parents[2])  # the magnus_core this process runs, in the child too
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])),
        }
        code = "from magnus_core.index.sqlite import other_reader_main; other_reader_main()"
        try:
            payload = pickle.dumps(
                (type(store), dict(store.config), changed, _OTHER_BATCH), protocol=pickle.HIGHEST_PROTOCOL
            )
            child = subprocess.Popen(
                [sys.executable, "-c", code],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        except Exception:  # no process to be had here: read them all here
            return None
        assert child.stdin is not None and child.stdout is not None
        into, out = child.stdin.fileno(), child.stdout.fileno()
        os.set_blocking(out, False)
        with contextlib.suppress(Exception):  # (Linux) room for its frames while this one reads its own
            import fcntl

            fcntl.fcntl(out, fcntl.F_SETPIPE_SZ, 1 << 20)

        def send() -> None:  # (more than a pipe holds: written while the child starts, not waited for)
            with contextlib.suppress(OSError):
                data = memoryview(struct.pack("<Q", len(payload)) + payload)
                while data:
                    data = data[os.write(into, data) :]

        sender = threading.Thread(target=send, name="magnus-index-other", daemon=True)
        sender.start()
        return cls(child, sender, len(changed))

    def take(self, pos: int) -> list[tuple[int, tuple[Any, ...] | None]]:
        """The rows given since the last call, without waiting, as (log's place, row or None: read it
        here), only of the logs from `pos` up (below it the building process read them); `low` and
        `names` follow. A child that died or wrote what is not a frame gives nothing more."""
        import pickle
        import struct

        while not self._ended:
            try:
                part = os.read(self.child.stdout.fileno(), 1 << 20)
            except BlockingIOError:
                break
            except OSError:
                part = b""
            if not part:
                self._ended = True
                break
            self._buffer += part
        given: list[tuple[int, tuple[Any, ...] | None]] = []
        buffer = self._buffer
        while len(buffer) >= 4:
            size = struct.unpack_from("<I", buffer)[0]
            if len(buffer) < 4 + size:
                break
            try:
                low, rows, names = pickle.loads(buffer[4 : 4 + size])
                if not (
                    type(low) is int
                    and type(rows) is list
                    and type(names) is set
                    and low >= 0
                    and low + len(rows) == self.low
                ):
                    raise ValueError("a frame out of order")
            except Exception:  # not what other_reader_main writes: no more from it
                self._ended = True
                buffer.clear()
                break
            del buffer[: 4 + size]
            given += [(low + i, row) for i, row in enumerate(rows) if low + i >= pos]
            self.low = low
            self.names |= names
        self.given += len(given)
        return given

    def signal(self) -> None:
        """Every log is read: the child may stop (its stdin closed; it stops before its next batch)."""
        if self.sender.is_alive():  # it did not even read what it was sent: it is no use
            with contextlib.suppress(Exception):
                self.child.kill()
            self.sender.join()
        with contextlib.suppress(Exception):
            self.child.stdin.close()

    def stop(self) -> None:
        """The child ended, whatever it was doing (a build given up half way: an error, Ctrl-C)."""
        self.signal()
        with contextlib.suppress(Exception):
            self.child.stdout.close()  # (a frame it is writing now: BrokenPipeError, it stops)
        with contextlib.suppress(Exception):
            try:
                self.child.wait(timeout=10)
            except Exception:
                self.child.kill()
                self.child.wait()


class _FullLook:
    """A full look's check made beside the process answering a listing: the store's full-look command
    (store.full_look_command: GNU find for the file-system store, a stat of every log in a C loop) runs as a
    child process on the other core while this one reads the rows. When the digest of its output is the
    one kept in meta (`find_listing`: the last time the index held every run) nothing changed, and the 20,000
    calls of os.stat of a full look made here are not made; otherwise the full look is made here as ever."""

    def __init__(self, child: Any, line: str) -> None:
        self.child, self.line = child, line

    @classmethod
    def start(cls, store: RunLogStore) -> _FullLook | None:
        """The child running the store's command; None when the store has none or it cannot start."""
        asked = store.full_look_command()
        if asked is None:
            return None
        import subprocess

        command, line = asked
        try:
            child = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
            )
        except OSError:
            return None
        return cls(child, line)

    def digest(self) -> str | None:
        """The digest of the command's output once it ended; None: it failed, or its first line is not in
        the format asked of it (no answer)."""
        out = self.child.stdout.read()
        self.child.stdout.close()
        if self.child.wait() != 0:
            return None
        first = out[: out.find(b"\n")] if out else b""
        if out and re.fullmatch(self.line, first.decode("utf-8", "surrogateescape")) is None:
            return None
        return hashlib.blake2b(out, digest_size=20).hexdigest()


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    """Not a database, or a damaged one (not a mistake in our SQL, which must surface)."""
    if isinstance(exc, sqlite3.ProgrammingError | sqlite3.InterfaceError | sqlite3.IntegrityError):
        return False
    text = str(exc).lower()
    return type(exc) is sqlite3.DatabaseError or any(
        word in text for word in ("malformed", "not a database", "corrupt", "no such table", "no such column")
    )


def _is_lock(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _token_text(token: Any) -> str | None:
    """A store's version token as the index keeps it: its parts joined by ':' (None stays None; a token
    given as text already, the file-system store's, stays as it is)."""
    if token is None or token.__class__ is str:
        return token
    return ":".join(map(str, token))


def _listing(versions: dict[str, Any]) -> str | None:
    """A digest of a full look's listing: every run id and its token, in the store's order (a folder listed
    twice without a change lists its names in the same order); None unless every token is text (the
    file-system store's). Equal digests mean the same runs with the same tokens: a file rewritten since,
    in place or not, has another modification time or inode."""
    if not set(map(type, versions.values())) <= {str}:
        return None
    digest = hashlib.blake2b(str(len(versions)).encode(), digest_size=20)
    digest.update("\n".join(versions).encode("utf-8", "surrogateescape"))
    digest.update(b"\0")
    digest.update("\n".join(versions.values()).encode())
    return digest.hexdigest()


def _changed(
    versions: dict[str, Any], known: dict[str, str | None], first: dict[str, str | None] | None = None
) -> list[tuple[str, str | None]]:
    """The runs a look must read, with the version to keep for each, in run-id order: those the index does
    not hold (`known`: run id -> version kept), those whose token moved, and those whose token is unknown
    (None: read at every look).

    A token of one part (a quick look's: the inode alone; a store's exact version) is compared with the
    first part of the version kept (`first`, else worked out here), the part a full look's token (inode,
    mtime and size) starts with; a longer one with the whole. For the file-system store's tokens (text)
    the comparison is made in C loops: a look costs the store's listing, not a loop over 20,000 runs."""
    if set(map(type, versions.values())) <= {str}:
        texts: dict[str, str] = versions
        unknown: list[str] = []
    else:
        unknown = sorted(run_id for run_id, token in versions.items() if token is None)
        texts = {
            run_id: token if token.__class__ is str else ":".join(map(str, token))
            for run_id, token in versions.items()
            if token is not None
        }
    parts = sum(map(operator.contains, texts.values(), repeat(":")))  # tokens of more than one part
    if parts and parts < len(texts):  # both kinds (no store of magnus lists so): one at a time
        whole = {run_id: text for run_id, text in texts.items() if ":" in text}
        one = {run_id: texts[run_id] for run_id in texts.keys() - whole.keys()}
        both = sorted(_changed(whole, known) + _changed(one, known, first), key=lambda item: item[0])
        return both + [(run_id, None) for run_id in unknown]
    if not parts and first is None:
        first = {run_id: None if v is None else v.split(":", 1)[0] for run_id, v in known.items()}
    kept = known if parts else first
    assert kept is not None
    # in C loops: a set difference of the pairs costs ten times as much (20,000 tuples hashed)
    moved = compress(texts.keys(), map(operator.ne, texts.values(), map(kept.get, texts.keys())))
    changed: list[tuple[str, str | None]] = [(run_id, texts[run_id]) for run_id in sorted(moved)]
    changed += [(run_id, None) for run_id in unknown]
    return changed


def _summary(row: tuple[Any, ...], summary_class: Any = None) -> Any:
    """A RunSummary from a row of _RUN_FIELDS; the class may be given, to save an import per row."""
    if summary_class is None:
        from magnus_core.runs import RunSummary as summary_class

    (
        run_id,
        status,
        tag,
        pipeline,
        dag_hash,
        start,
        end,
        duration,
        steps,
        steps_done,
        original,
        commit,
        dirty,
        _use_cached,
        pid,
        host,
        pid_start,
        error,
        failed_step,
        failure,
        user,
        driven,
        shown_steps,
        steps_running,
    ) = row
    state = _state(status, pid, host, pid_start, driven)
    if state == "RUNNING":  # no end yet; its duration is the time it has run so far
        end, duration = "", elapsed(start)
    elif status in RUNNING_STATUSES and state == "INTERRUPTED":  # (a PER-STEP run keeps its last step's end)
        end, duration = "", _lived(state, duration)
        steps_done = dead_done(steps_done, steps_running or 0, status, state)  # (cut short: they ran)
    return summary_class(  # positionally, in RunSummary's field order (20,000 rows)
        run_id,
        status,
        state,
        tag,
        start,
        end,
        duration,
        steps,
        original,
        error,
        steps_done,
        pipeline,
        dag_hash,
        commit,
        None if dirty is None else bool(dirty),
        failed_step,
        failure,
        user,
        driven,
        "≥" in shown_steps,  # growing: kept in the steps' text (step_text), not a column of its own
    )


def _select(
    query: RunQuery, fields: str, *, also: str = "", ordered: bool = True
) -> tuple[str, list[Any]] | None:
    """The SELECT of `fields` for `query` and its arguments; None when no run can match (no run ids).
    `also`: one more condition; `ordered` False: the rows the query lists, in no order (for an aggregate)."""
    args: list[Any] = []
    where: list[str] = [also] if also else []
    if query.where is not None:
        where.append(_sql(query.where, args))
    if query.tag is not None:
        where.append("r.tag = ?")
        args.append(query.tag)
    if query.user is not None:
        where.append("r.user_name = ?")
        args.append(query.user)
    if query.status is not None:
        where.append(f"(r.status = ? OR {_STATE} = ?)")
        args += [query.status.upper()] * 2
    if query.run_ids is not None:
        if not query.run_ids:
            return None
        where.append(f"r.run_id IN ({', '.join('?' * len(query.run_ids))})")
        args += query.run_ids
    order: list[str] = []
    for item in query.order_by:
        missing = _order_expr(item.key, args)  # runs without the value last, either direction
        expr = _order_expr(item.key, args)
        order += [f"({missing}) IS NULL", f"{expr} {'DESC' if item.descending else 'ASC'}"]
    # newest first by true time: walking the index runs_newest for a few rows (--limit); for all of them a
    # sort of the table read in order (`+` keeps SQLite off the index) costs a fifth less than reading
    # 20,000 rows in index order, which jumps about the table
    plus = "" if query.limit else "+"
    order += [f"{plus}r.start_key DESC", f"{plus}r.run_id DESC"]
    sql = f"SELECT {fields} FROM runs r"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if ordered or query.limit:
        sql += " ORDER BY " + ", ".join(order)
    if query.limit:
        sql += " LIMIT ?"
        args.append(query.limit)
    return sql, args


_IS_RUNNING = f"r.status IN ({_RUNNING})"


# -- filters to SQL ----------------------------------------------------------------------------------------
_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _sql(expr: Expr, args: list[Any]) -> str:
    if isinstance(expr, BoolOp):
        joiner = f" {expr.op.upper()} "
        return "(" + joiner.join(_sql(item, args) for item in expr.items) + ")"
    if expr.key.kind == "attr":
        return _attr_sql(expr, args)
    return _value_sql(expr, args)


def _number_of(value: Any) -> float | None:
    """A literal as a number when it is one, quoted or not ('0.1' compares with a recorded 0.1)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip()) if value.strip() else None
        except ValueError:
            return None
    return None


def _text_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _path(name: str) -> str | None:
    """The SQL literal of a JSON path to key `name` ('$."auc"'); None for a name a path cannot spell."""
    if '"' in name or "\\" in name:
        return None
    return "'" + ('$."' + name + '"').replace("'", "''") + "'"


_NUMBER = "('integer', 'real')"


def _value_sql(c: Compare, args: list[Any]) -> str:
    """A parameter or metric of the run, read from its JSON object with SQLite's JSON functions."""
    column = "r.params" if c.key.kind == "param" else "r.metrics"
    path = _path(c.key.name)
    if path is None:
        return "1" if c.op == "isnull" else "0"
    kind = f"json_type({column}, {path})"
    value = f"json_extract({column}, {path})"
    text = (
        f"(CASE {kind} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'null' THEN 'null' "
        f"ELSE CAST({value} AS TEXT) END)"
    )
    if c.op == "isnull":
        return f"{kind} IS NULL"
    if c.op == "notnull":
        return f"{kind} IS NOT NULL"
    if c.op in ("in", "notin"):
        inner = " OR ".join(_one_value("=", v, args, kind, value, text) for v in c.value)
        return f"({inner})" if c.op == "in" else f"({kind} IS NOT NULL AND NOT ({inner}))"
    if c.op in ("like", "ilike", "notlike", "notilike"):
        fn = "magnus_ilike" if "ilike" in c.op else "magnus_like"
        args.append(c.value)
        return f"({kind} IS NOT NULL AND {'NOT ' if c.op.startswith('not') else ''}{fn}(?, {text}))"
    return _one_value(c.op, c.value, args, kind, value, text)


def _one_value(op: str, literal: Any, args: list[Any], kind: str, value: str, text: str) -> str:
    sql_op = _OPS[op]
    number = _number_of(literal)
    if number is not None and op not in ("=", "!="):  # an order: only numbers compare
        args.append(number)
        return f"({kind} IN {_NUMBER} AND {value} {sql_op} ?)"
    if number is not None:  # numbers compare as numbers where the recorded value is one, else as text
        args += [number, _text_of(literal)]
        return (
            f"(({kind} IN {_NUMBER} AND {value} {sql_op} ?) OR "
            f"({kind} NOT IN {_NUMBER} AND {text} {sql_op} ?))"
        )
    args.append(_text_of(literal))
    if sql_op == "!=":
        return f"({kind} IS NOT NULL AND {text} != ?)"
    return f"({kind} NOT IN {_NUMBER} AND {text} {sql_op} ?)"


def _attr_sql(c: Compare, args: list[Any]) -> str:
    kind = ATTRIBUTES[c.key.name]
    column = _COLUMNS[c.key.name]
    if kind == "status":  # the recorded status or what it means now (RUNNING, INTERRUPTED), any case

        def arg(value: Any) -> str:
            args.append(value)
            return "?"

        def like(operand: str, pattern: str, any_case: bool) -> str:
            return f"{'magnus_ilike' if any_case else 'magnus_like'}({pattern}, {operand})"

        return status_condition(c, column, _STATE, arg, like, lambda truth: "1" if truth else "0")
    if kind == "time":  # the text column says whether there is a time at all
        column_text = {"r.start_key": "r.start", "r.end_key": "r.end_time"}[column]
        if c.op in ("isnull", "notnull"):
            return f"({column_text} {'=' if c.op == 'isnull' else '!='} '')"
    if c.op == "isnull":
        return f"({column} IS NULL OR {column} = '')"
    if c.op == "notnull":
        return f"({column} IS NOT NULL AND {column} != '')"

    def convert(value: Any) -> Any:
        return attribute_value(c.key.name, value)

    if c.op in ("in", "notin"):
        values = [convert(v) for v in c.value]
        args += values
        marks = ", ".join("?" * len(values))
        return f"{column} {'NOT ' if c.op == 'notin' else ''}IN ({marks})"
    if c.op in ("like", "ilike", "notlike", "notilike"):
        fn = "magnus_ilike" if "ilike" in c.op else "magnus_like"
        args.append(c.value)
        text_column = {"r.start_key": "r.start", "r.end_key": "r.end_time"}.get(column, column)
        return f"{'NOT ' if c.op.startswith('not') else ''}{fn}(?, CAST({text_column} AS TEXT))"
    args.append(convert(c.value))
    if kind == "time":  # a run without a time matches no comparison of it
        return f"({column} != {_SQL_NO_TIME} AND {column} {_OPS[c.op]} ?)"
    return f"{column} {_OPS[c.op]} ?"


_LIKES = ("like", "ilike", "notlike", "notilike")


def status_condition(
    c: Compare,
    column: str,
    state: str,
    arg: Callable[[Any], str],
    like: Callable[[str, str, bool], str],
    boolean: Callable[[bool], str],
) -> str:
    """A filter on `attributes.status` as SQL, for both run indexes (SQLite here, PostgreSQL in
    index/postgres.py): it matches the recorded status (`column`) or what the run is now (`state`, an
    expression: RUNNING or INTERRUPTED for a run recorded as running), in any case; UsageError for a value
    that is no run state. `arg(value)` adds a literal and gives its placeholder (called once per
    placeholder, in the order they appear in the text); `like(operand, pattern, any_case)` the dialect's
    LIKE; `boolean(truth)` its literal (a status is never null)."""

    def both(op: str, value: Any) -> str:
        known_state(value)
        text = _text_of(value).upper()
        if op == "!=":
            return f"({column} != {arg(text)} AND {state} != {arg(text)})"
        return f"({column} {_OPS[op]} {arg(text)} OR {state} {_OPS[op]} {arg(text)})"

    if c.op in ("in", "notin"):
        inner = " OR ".join(both("=", v) for v in c.value)
        return f"({inner})" if c.op == "in" else f"NOT ({inner})"
    if c.op in _LIKES:
        any_case = "ilike" in c.op
        test = f"({like(column, arg(c.value), any_case)} OR {like(state, arg(c.value), any_case)})"
        return f"NOT {test}" if c.op.startswith("not") else test
    if c.op in ("isnull", "notnull"):
        return boolean(c.op == "notnull")
    return both(c.op, c.value)


def known_state(value: Any) -> None:
    """UsageError for a status no run can have (`FAILED`, MLflow's word, matched nothing without a word)."""
    from magnus_core.models import RUN_STATES
    from magnus_core.suggest import did_you_mean

    text = _text_of(value)
    if text.upper() not in RUN_STATES:
        raise UsageError(
            f"--where: attributes.status {text!r} is not a run state{did_you_mean(text.upper(), RUN_STATES)} "
            f"(states: {', '.join(RUN_STATES)})"
        )


def attribute_value(name: str, value: Any) -> Any:
    """A filter's literal for attribute `name` as the index stores it: a time as seconds since the epoch
    (true time; a time without an offset is local time; UsageError if it is not a time), a flag as 0/1, a
    number as a float (a word stays text), anything else as text."""
    kind = ATTRIBUTES[name]
    if kind == "time":
        moment = parse_time(_text_of(value))
        if moment is None:
            raise UsageError(
                f"--where: attributes.{name} is a time: {value!r} is not one "
                "(write e.g. '2026-01-31 12:00' or '2026-01-31T12:00:00+00:00')"
            )
        return moment.timestamp()
    if kind == "bool":
        if isinstance(value, bool):
            return int(value)
        return 1 if _text_of(value).lower() in ("true", "1", "yes") else 0
    if kind == "number":
        number = _number_of(value)
        return number if number is not None else _text_of(value)
    return _text_of(value)


def _order_expr(key: Key, args: list[Any]) -> str:
    if key.kind == "attr":
        if key.name in ("start", "end"):  # no time: NULL, so last either way
            return f"NULLIF({_COLUMNS[key.name]}, {_SQL_NO_TIME})"
        return _STATE if key.name == "status" else _COLUMNS[key.name]
    column = "r.params" if key.kind == "param" else "r.metrics"
    path = _path(key.name)
    if path is None:
        return "NULL"
    # numbers by their value; a value that is not a number after every number; no value: NULL (last)
    return (
        f"(CASE WHEN json_type({column}, {path}) IN {_NUMBER} THEN json_extract({column}, {path}) "
        f"WHEN json_type({column}, {path}) IS NULL THEN NULL ELSE 1e308 END)"
    )


# json.dumps with these options makes an encoder per call: one made once halves the cost (a cold build
# encodes 40,000 objects)
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=str)


def to_json(values: dict[str, Any]) -> str:
    """A run's parameters or metrics as a JSON object SQLite reads (NaN and infinities become text)."""
    try:
        return _ENCODER.encode(values)
    except ValueError:
        return _ENCODER.encode(_finite(values))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _pick(values: dict[str, Any], names: list[str]) -> dict[str, Any]:
    if "*" in names:
        return values
    return {name: values[name] for name in names if name in values}


def _forget_names(conn: sqlite3.Connection) -> None:
    """Rebuild the names table from the runs (after runs changed or went)."""
    conn.execute("DELETE FROM names")
    conn.execute(
        "INSERT OR IGNORE INTO names SELECT 'p', key FROM runs, json_each(runs.params) "
        "UNION SELECT 'm', key FROM runs, json_each(runs.metrics)"
    )
