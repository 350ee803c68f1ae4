"""The run index: one row per run, with its final parameters and metrics, queryable.

A cache over the run-log store: the run logs stay the source of truth. `magnus runs`, `magnus compare` and
the workbench ask an index, which first catches up with the store (`refresh`: it lists the store with a
cheap change token per run, and reads only logs it has not seen or that changed since), then answers.

    index = open_index(store)
    result = index.query(RunQuery(where=parse_filter("metrics.auc > 0.9"), order_by=..., limit=5))
    for run in result.runs: run.summary, run.params, run.metrics

`open_index` asks the store first (`store.run_index()`: a database store answers with its own tables), and
otherwise opens the SQLite index (index/sqlite.py) kept in the user's cache folder, keyed by the store's
absolute location (`index_path`), never on the store itself (which may be a network file system where
SQLite's locking is unsafe). Stores without a location (the buffered store) get an index in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magnus_core.query import Expr, Key, OrderKey

if TYPE_CHECKING:
    from magnus_core.runs import RunSummary
    from magnus_core.stores.base import RunLogStore

INDEX_DIR_ENV = "MAGNUS_INDEX_DIR"

Notify = Callable[[str], None]
Progress = Callable[[int, int], None]


def _stderr(message: str) -> None:
    print(f"magnus: {message}", file=sys.stderr)


@dataclass
class RunQuery:
    """What to list. `params`/`metrics`: the value columns wanted (None: none, ["*"]: all of them)."""

    where: Expr | None = None
    tag: str | None = None
    status: str | None = None  # recorded status or current state, any case
    user: str | None = None  # who ran it (RunSummary.user), exactly
    run_ids: list[str] | None = None
    order_by: list[OrderKey] = field(default_factory=list)  # default: newest first
    limit: int | None = None
    params: list[str] | None = None
    metrics: list[str] | None = None


@dataclass
class IndexedRun:
    summary: RunSummary
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class QueryResult:
    runs: list[IndexedRun]
    hints: list[str] = field(default_factory=list)  # e.g. "no run has metrics.acu (nearest: metrics.auc)"


@dataclass
class RunTable:
    """The runs a query lists, column by column, as `magnus runs` prints them (RunIndex.table): every
    column as long as `run_ids`, in the query's order. Straight from the index's rows, with no object per
    run: 20,000 runs listed cost the rows themselves (the SQLite index keeps the texts of the start and
    duration as shown, so a listing formats none)."""

    run_ids: Sequence[str]
    statuses: Sequence[str]  # as recorded (BROKEN: the log cannot be read)
    states: Sequence[str]  # what each run is now: RunSummary.state
    tags: Sequence[str]
    start_texts: Sequence[str]  # the start as shown: models/times.local_text of RunSummary.start
    duration_texts: Sequence[str]  # the duration as shown: table.fmt_seconds of RunSummary.duration
    step_texts: Sequence[str]  # done/total as progress.Progress counts them ('' for a broken log)
    original_run_ids: Sequence[str]
    errors: Sequence[str]  # why a broken log cannot be read ('' for the others)
    params: Sequence[dict[str, Any]] | None = None  # the values RunQuery.params asked for, per run
    metrics: Sequence[dict[str, Any]] | None = None
    hints: list[str] = field(default_factory=list)
    # for a listing of failed runs (RunQuery.status FAIL): `step: error` of each (RunSummary.failed_step and
    # failure), printed under the table; () otherwise
    failures: Sequence[str] = ()
    # who ran each run (RunSummary.user; "" when not known); () when the index holds runs of one user at most
    users: Sequence[str] = ()

    @classmethod
    def of(cls, result: QueryResult, query: RunQuery) -> RunTable:
        """The table of a query's result (what an index without a faster way answers)."""
        from magnus_core.models.times import local_texts
        from magnus_core.table import fmt_seconds

        s = [run.summary for run in result.runs]
        return cls(
            [x.run_id for x in s],
            [x.status for x in s],
            [x.state for x in s],
            [x.tag for x in s],
            local_texts([x.start for x in s]),
            [fmt_seconds(x.duration) for x in s],
            [step_text(x.steps_done, x.steps, x.status, x.growing and x.state == "RUNNING") for x in s],
            [x.original_run_id for x in s],
            [x.error for x in s],
            [run.params for run in result.runs] if query.params is not None else None,
            [run.metrics for run in result.runs] if query.metrics is not None else None,
            result.hints,
            [failure_line(x.failed_step, x.failure) for x in s] if lists_failures(query) else (),
            [x.user for x in s],
        )


def lists_failures(query: RunQuery) -> bool:
    """A listing of failed runs (`magnus runs --status FAIL`): each run's failure is shown under the table."""
    return query.status is not None and query.status.upper() == "FAIL"


def failure_line(step: str, failure: str) -> str:
    """`train: ValueError: loss is nan (at train.py:29 in fit)`, as `magnus show` starts it; '' for none."""
    return f"{step}: {failure}" if step else ""


def step_text(done: int, total: int, status: str, growing: bool = False) -> str:
    """The steps column of `magnus runs`: `done/total`, empty for a broken log (it has none); `done/≥total`
    for a running run whose total may still grow (`growing`, progress.Progress.growing: a map not fanned out
    yet)."""
    if status == "BROKEN":
        return ""
    return f"{done}/≥{total}" if growing and status in ("PROCESSING", "CREATED") else f"{done}/{total}"


@dataclass
class IndexNames:
    """Every parameter and metric name the index holds (metrics: run-level and `<step>.<name>`)."""

    params: list[str]
    metrics: list[str]

    def of(self, key: Key) -> list[str]:
        return self.params if key.kind == "param" else self.metrics if key.kind == "metric" else []


@dataclass
class RefreshReport:
    read: int = 0  # logs read (new or changed)
    removed: int = 0  # runs gone from the store
    broken: int = 0  # logs that could not be read (listed as BROKEN)


class RunIndex(ABC):
    """The interface every run index answers (SQLite here; a database store may answer with SQL)."""

    @abstractmethod
    def refresh(self) -> RefreshReport:
        """Catch up with the store: read new and changed logs, drop runs that are gone."""

    @abstractmethod
    def query(self, query: RunQuery) -> QueryResult:
        """The runs that match, in order (refresh first). A name no run has gives no rows and a hint."""

    def table(self, query: RunQuery) -> RunTable:
        """`query`'s runs column by column (refresh first), for a listing of many runs."""
        return RunTable.of(self.query(query), query)

    @abstractmethod
    def names(self) -> IndexNames:
        """Every parameter and metric name in the index, sorted."""

    def reread(self, run_ids: Sequence[str]) -> None:  # noqa: B027 - optional
        """The next refresh reads the logs of `run_ids` again, whatever their change tokens say. For a log
        read while something wrote it in place (a user's `cp`, an old tool: magnus's stores write atomically),
        listed BROKEN: its token may not move when the write ends (the same size, within one tick of the
        file system's clock), and it stayed BROKEN until the log changed again (trials 8 and 9). An index
        over a database store, whose writes are transactions, has nothing to do."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release the connection."""


def hints(query: RunQuery, names: IndexNames) -> list[str]:
    """For each parameter or metric the query names (filter, order, and the `--params`/`--metrics` columns
    asked for by name) that no run has: one line saying so, with the nearest names the index holds
    (difflib), or the names it knows (trial 22: `--metrics acu` printed an empty column and no hint)."""
    from magnus_core.query import keys_of

    wanted: list[Key] = [c.key for c in keys_of(query.where)] + [o.key for o in query.order_by]
    wanted += [Key("param", name) for name in query.params or () if name != "*"]
    wanted += [Key("metric", name) for name in query.metrics or () if name != "*"]
    return key_hints(wanted, names)


def key_hints(wanted: list[Key], names: IndexNames) -> list[str]:
    """For each parameter or metric in `wanted` (a filter's, an order's, `--plot`'s) that no run has: one
    line saying so, with the nearest names the index holds (difflib), or the names it knows."""
    import difflib

    out = []
    for key in dict.fromkeys(k for k in wanted if k.kind in ("param", "metric")):
        known = names.of(key)
        if key.name in known:
            continue
        prefix = "params" if key.kind == "param" else "metrics"
        near = difflib.get_close_matches(key.name, known, n=3, cutoff=0.5)
        if near:
            out.append(f"no run has {key.label}; nearest: {', '.join(f'{prefix}.{n}' for n in near)}")
        elif known:
            out.append(f"no run has {key.label}; known {prefix}: {', '.join(known[:8])}")
        else:
            out.append(f"no run has {key.label}; no run records any {prefix}")
    return out


def tag_hints(everyone: list[IndexedRun], tag: str | None, where: Expr | None) -> list[str]:
    """Nothing matched: a line for each tag asked for (`--tag`, `tag = '...'` in the filter) that none of
    `everyone` (every run in the index) has, with the nearest tags they have."""
    from magnus_core.query import keys_of

    wanted = [tag] if tag is not None else []
    wanted += [c.value for c in keys_of(where) if c.key.name == "tag" and c.op == "=" and c.value]
    known = sorted({r.summary.tag for r in everyone if r.summary.tag}) if wanted else []
    return [tag_hint(t, known) for t in dict.fromkeys(wanted) if t not in known]


def user_hints(everyone: list[IndexedRun], user: str | None, where: Expr | None) -> list[str]:
    """Nothing matched: a line for each user asked for (`--user`, `user = '...'` in the filter) who ran
    none of `everyone`, with the users who did (the nearest first)."""
    from magnus_core.query import keys_of

    wanted = [user] if user is not None else []
    wanted += [c.value for c in keys_of(where) if c.key.name == "user" and c.op == "=" and c.value]
    known = sorted({r.summary.user for r in everyone if r.summary.user}) if wanted else []
    out = []
    for name in dict.fromkeys(wanted):
        if name in known:
            continue
        import difflib

        near = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        if near:
            out.append(f"no run was run by {name!r}; nearest: {', '.join(near)}")
        elif known:
            more = f" and {len(known) - 8} more" if len(known) > 8 else ""
            out.append(f"no run was run by {name!r}; the users who ran runs: {', '.join(known[:8])}{more}")
        else:
            out.append(f"no run was run by {name!r}; no run records its user")
    return out


def tag_hint(tag: str, tags: list[str]) -> str:
    """The line for a tag no run has: the nearest tags the runs have (difflib), else those known."""
    import difflib

    near = difflib.get_close_matches(tag, tags, n=3, cutoff=0.5)
    if near:
        return f"no run has the tag {tag!r}; nearest: {', '.join(near)}"
    if tags:
        more = f" and {len(tags) - 8} more" if len(tags) > 8 else ""
        return f"no run has the tag {tag!r}; the tags runs have: {', '.join(tags[:8])}{more}"
    return f"no run has the tag {tag!r}; no run has a tag"


def cache_dir() -> Path:
    """Where index files live: $MAGNUS_INDEX_DIR, else $XDG_CACHE_HOME/magnus/index, else
    ~/.cache/magnus/index (the XDG base-directory default)."""
    explicit = os.environ.get(INDEX_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "magnus" / "index"


def index_path(store: RunLogStore) -> Path | None:
    """The SQLite file for this store (None: keep it in memory): named by a readable tail of the store's
    absolute location and a hash of the whole, so two stores never share one."""
    location = store.index_location()
    if location is None:
        return None
    key = f"{store.service_name}:{location}"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    tail = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(location).name or "store").strip("._")[:40] or "store"
    return cache_dir() / f"{tail}-{digest}.sqlite"


@dataclass(frozen=True, slots=True)
class IndexFile:
    """One index file of the cache folder: its `path`, `size` in bytes (its -wal and -shm files included),
    the `store` location it indexes (as its meta row says; "" when it cannot be read) and whether that
    store's folder still exists (`stale` when it does not: the store was removed or moved)."""

    path: Path
    size: int
    store: str
    stale: bool


def index_files() -> list[IndexFile]:
    """Every index file in cache_dir(), oldest use first (by modification time). A file that cannot be
    read is listed with store "" and never called stale (pruning removes only what it understands)."""
    import sqlite3

    found = []
    folder = cache_dir()
    for path in sorted(folder.glob("*.sqlite"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []:
        size = sum(
            extra.stat().st_size
            for extra in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
            if extra.exists()
        )
        location = ""
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
                row = conn.execute("SELECT value FROM meta WHERE key = 'store'").fetchone()
                location = str(row[0]) if row else ""
        except sqlite3.Error:
            pass
        stale = location.startswith("/") and not Path(location).is_dir()
        found.append(IndexFile(path=path, size=size, store=location, stale=stale))
    return found


def prune_index_files() -> list[IndexFile]:
    """Remove the index files whose store folder no longer exists (with their -wal and -shm files); the
    files removed. An index is a cache: a store that comes back is indexed again on its next listing."""
    removed = []
    for item in index_files():
        if item.stale:
            for extra in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    item.path.with_name(item.path.name + extra).unlink()
            removed.append(item)
    return removed


def open_index(
    store: RunLogStore, *, notify: Notify | None = None, progress: Progress | None = None
) -> RunIndex:
    """The index for this store: the store's own (`run_index()`), else SQLite in the cache folder.

    `notify` gets one-line notices (an index rebuilt because it was corrupt or locked); stderr by default.
    `progress(done, total)` is called while many logs are read (a cold build).
    """
    own = store.run_index()
    if own is not None:
        return own
    from magnus_core.index.sqlite import SQLiteRunIndex

    return SQLiteRunIndex(store, index_path(store), notify=notify or _stderr, progress=progress)
