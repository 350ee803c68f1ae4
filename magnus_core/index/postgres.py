"""The run index of the postgres store, in the store's own database: `magnus runs --where`, `--order-by`,
`magnus compare` and the workbench's runs list are answered by one SQL query there, for the whole team.

Table (the store's migrations 2, 3, 4, 5, 6 and 7, in the store's schema):

    run_index(run_id -> runs ON DELETE CASCADE, version, status, tag, pipeline, dag_hash, start, end_time,
              start_key, end_key, duration, steps, steps_done, original_run_id, commit_id, dirty,
              use_cached, pid, host, pid_start, error, failed_step, failure, params jsonb, metrics jsonb,
              record, user_name, driven, growing, steps_running)

`growing` is RunRecord.growing (progress.Progress.growing: the run's total may still grow, a map not fanned
out yet), which the SQLite index keeps in its steps' text (`0/≥2`); a running run's total reads as a floor
from either index (session 9: the PostgreSQL one said plain `0/2`). `steps_running` is
RunRecord.steps_running: a run found dead counts the steps it was running as ran (record.dead_done), as
the SQLite index does (migration 7, trial 13 fault 2).

One row per run, the same record the SQLite index keeps (index/record.py), with `version` the run's version
when the row was made and `record` the kind of record it is (record.RECORD_VERSION; 0: made before kinds
were counted). `refresh` finds in one query the runs whose version moved (every store write bumps
`runs.version`) or whose row is of an older kind (as the SQLite index rebuilds a file of another schema),
reads only those (one statement per batch) and upserts their rows; a row never goes back to an older
version or kind, and a deleted run takes its row with it. Whoever refreshes first does the work for
everyone: a new team member's first `magnus runs` reads no log that anyone has indexed before.

Filters compile to PostgreSQL with the same meaning as in SQLite (index/sqlite.py): numbers compare as
numbers where the recorded value is one and as text otherwise, runs without a value match no comparison and
sort last, times compare by true time, `attributes.status` matches the recorded status or what it means now
(RUNNING or INTERRUPTED: decided here, for the few runs still PROCESSING, as the SQLite index does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from magnus_core.errors import MagnusError
from magnus_core.index import IndexedRun, IndexNames, QueryResult, RefreshReport, RunIndex, RunQuery, hints
from magnus_core.index.record import (
    PER_STEP,
    RECORD_VERSION,
    RUNNING_STATUSES,
    RunRecord,
    broken,
    record_from_json,
)
from magnus_core.index.sqlite import (
    NO_TIME,
    _number_of,
    _pick,
    _state,
    _summary,
    _text_of,
    attribute_value,
    status_condition,
    to_json,
)
from magnus_core.query import ATTRIBUTES, BoolOp, Compare, Expr, Key
from magnus_core.runs import PER_STEP_STATE

if TYPE_CHECKING:
    from magnus_core.stores.postgres import PostgresRunLogStore

_COLUMNS = {  # attribute -> run_index column (text columns compare byte by byte, as SQLite does)
    "run_id": 'r.run_id COLLATE "C"',
    "status": "r.status",
    "tag": 'r.tag COLLATE "C"',
    "pipeline": 'r.pipeline COLLATE "C"',
    "dag_hash": 'r.dag_hash COLLATE "C"',
    "start": "r.start_key",
    "end": "r.end_key",
    "duration": "r.duration",
    "steps": "r.steps",
    "steps_done": "r.steps_done",
    "original_run_id": 'r.original_run_id COLLATE "C"',
    "commit": 'r.commit_id COLLATE "C"',
    "dirty": "r.dirty",
    "use_cached": "r.use_cached",
    "failed_step": 'r.failed_step COLLATE "C"',
    "failure": 'r.failure COLLATE "C"',
    "user": 'r.user_name COLLATE "C"',
    "driven": 'r.driven COLLATE "C"',
}
_TIME_TEXT = {"start": "r.start", "end": "r.end_time"}
_RUN_FIELDS = (
    "r.run_id, r.status, r.tag, r.pipeline, r.dag_hash, r.start, r.end_time, r.duration, r.steps, "
    "r.steps_done, r.original_run_id, r.commit_id, r.dirty, r.use_cached, r.pid, r.host, r.pid_start, "
    # the last: whether the total may still grow, as sqlite._summary reads it from the SQLite index's steps'
    # text (a `≥` in it): the same row shape for both indexes
    "r.error, r.failed_step, r.failure, r.user_name, r.driven, CASE WHEN r.growing THEN '≥' ELSE '' END, "
    "r.steps_running"
)
_FIELDS = _RUN_FIELDS.count(",") + 1
_ROW_COLUMNS = (
    "run_id, version, status, tag, pipeline, dag_hash, start, end_time, start_key, end_key, duration, steps, "
    "steps_done, original_run_id, commit_id, dirty, use_cached, pid, host, pid_start, error, failed_step, "
    "failure, user_name, driven, growing, steps_running, record, params, metrics"
)
# a row is replaced by a newer version of its run, or by a record of a newer kind (RECORD_VERSION: a magnus
# that keeps more, or keeps it otherwise, reads again the runs an older one indexed; never the reverse, so
# two versions of magnus in one team do not read every run in turn)
_UPSERT = (
    f"INSERT INTO {{t}}.run_index ({_ROW_COLUMNS}) "
    f"SELECT {', '.join(f'%({c})s' for c in _ROW_COLUMNS.split(', ')[:-2])}, %(params)s::jsonb, "
    "%(metrics)s::jsonb WHERE EXISTS (SELECT 1 FROM {t}.runs WHERE run_id = %(run_id)s) "
    "ON CONFLICT (run_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _ROW_COLUMNS.split(", ")[1:])
    + " WHERE {t}.run_index.version < EXCLUDED.version OR {t}.run_index.record < EXCLUDED.record"
)
_STALE = (
    "SELECT r.run_id FROM {t}.runs r LEFT JOIN {t}.run_index i ON i.run_id = r.run_id "
    "WHERE i.run_id IS NULL OR i.version <> r.version OR i.record < %(record)s"
)
_BATCH = 200
_SQL_NO_TIME = "'-Infinity'::double precision"
# a run's duration as every view gives it: a running run's is the time from its start to now (as in
# index/sqlite.py's _DURATION); `interrupted` is the compiler's list of runs whose process is gone
_COLUMNS["duration"] = (
    f"(CASE WHEN r.status IN ({', '.join(repr(s) for s in RUNNING_STATUSES)}) "
    f"AND r.driven <> '{PER_STEP}' AND NOT (r.run_id = ANY(%(interrupted)s)) THEN "
    f"(CASE WHEN r.start_key = {_SQL_NO_TIME} THEN NULL "
    "ELSE greatest(0.0, extract(epoch FROM clock_timestamp())::double precision - r.start_key) END) "
    "ELSE r.duration END)"
)
# the steps that ran as every view counts them: a run found dead counts those it was running (dead_done)
_COLUMNS["steps_done"] = (
    "(r.steps_done + CASE WHEN r.run_id = ANY(%(interrupted)s) THEN r.steps_running ELSE 0 END)"
)


class PostgresRunIndex(RunIndex):
    """The run index as a table of the postgres store's own schema (see the module docstring)."""

    def __init__(self, store: PostgresRunLogStore) -> None:
        self.store = store

    def _sql(self, text: str) -> str:
        return self.store._sql(text)

    def _run(self, what: str, work: Any) -> Any:
        return self.store.db.run(what, work)

    # -- catching up ---------------------------------------------------------------------------------------
    def refresh(self) -> RefreshReport:
        """Index the runs whose version moved since their row was made (one query finds them)."""
        stale = [
            run_id
            for (run_id,) in self._run(
                "finding runs to index", lambda c: c.execute(self._sql(_STALE), {"record": RECORD_VERSION})
            )
        ]
        report = RefreshReport()
        for start in range(0, len(stale), _BATCH):
            chunk = stale[start : start + _BATCH]
            rows = self._run("reading runs to index", lambda c, ids=chunk: self.store._read_many(c, ids))
            found = []
            for run_id, version, log_or_error in rows:
                record = self._record(run_id, log_or_error)
                if record.status == "BROKEN":  # listed by when it was written, as the SQLite index does
                    record.start_key = self.store.modified(run_id)
                    report.broken += 1
                found.append(_row(record, version))
            if found:
                self._run(
                    "indexing runs",
                    lambda c, rows=found: c.cursor().executemany(self._sql(_UPSERT), rows),
                )
            report.read += len(found)
        return report

    @staticmethod
    def _record(run_id: str, log_or_error: Any) -> RunRecord:
        if isinstance(log_or_error, MagnusError):
            return broken(run_id, str(log_or_error))
        try:
            return record_from_json(log_or_error.model_dump(mode="json"))
        except Exception as exc:  # as the SQLite index: one bad run never hides the rest
            from magnus_core.runs import one_line

            return broken(run_id, f"not a run log: {one_line(exc)}")

    # -- questions -----------------------------------------------------------------------------------------
    def names(self) -> IndexNames:
        self.refresh()
        return self._names()

    def _names(self) -> IndexNames:
        rows = self._run(
            "listing parameter and metric names",
            lambda c: c.execute(
                self._sql(
                    "SELECT DISTINCT 'p', jsonb_object_keys(params) FROM {t}.run_index UNION "
                    "SELECT DISTINCT 'm', jsonb_object_keys(metrics) FROM {t}.run_index"
                )
            ).fetchall(),
        )
        return IndexNames(
            params=sorted(n for k, n in rows if k == "p"), metrics=sorted(n for k, n in rows if k == "m")
        )

    def query(self, query: RunQuery) -> QueryResult:
        self.refresh()
        if query.run_ids is not None and not query.run_ids:
            return QueryResult([])
        sql = _Compiler(self._interrupted())
        where: list[str] = []
        if query.where is not None:
            where.append(sql.expr(query.where))
        if query.tag is not None:
            where.append(f"r.tag = {sql.arg(query.tag)}")
        if query.user is not None:
            where.append(f"r.user_name = {sql.arg(query.user)}")
        if query.status is not None:
            status = sql.arg(query.status.upper())
            where.append(f"(r.status = {status} OR {sql.state} = {status})")
        if query.run_ids is not None:
            where.append(f"r.run_id = ANY({sql.arg(list(query.run_ids))})")
        order: list[str] = []
        for item in query.order_by:
            expr = sql.order(item.key)  # runs without the value last, either direction
            order += [f"({expr}) IS NULL", f"{expr} {'DESC' if item.descending else 'ASC'}"]
        order += ["r.start_key DESC", 'r.run_id COLLATE "C" DESC']
        values = query.params is not None or query.metrics is not None
        text = f"SELECT {_RUN_FIELDS}{', r.params, r.metrics' if values else ''} FROM {{t}}.run_index r"
        if where:
            text += " WHERE " + " AND ".join(where)
        text += " ORDER BY " + ", ".join(order)
        if query.limit:
            text += f" LIMIT {sql.arg(query.limit)}"
        rows = self._run("querying runs", lambda c: c.execute(self._sql(text), sql.args).fetchall())
        runs = []
        for row in rows:
            run = IndexedRun(_summary(row[:_FIELDS]))
            if values:
                params, metrics = row[_FIELDS], row[_FIELDS + 1]
                if query.params is not None:
                    run.params = _pick(params, query.params)
                if query.metrics is not None:
                    run.metrics = _pick(metrics, query.metrics)
            runs.append(run)
        return QueryResult(runs, hints(query, self._names()))

    def _interrupted(self) -> list[str]:
        """The runs still PROCESSING whose process is gone (decided here, as the SQLite index does)."""
        rows = self._run(
            "reading running runs",
            lambda c: c.execute(
                self._sql(
                    "SELECT run_id, status, pid, host, pid_start, driven FROM {t}.run_index "
                    "WHERE status = ANY(%s)"
                ),
                (list(RUNNING_STATUSES),),
            ).fetchall(),
        )
        return [run_id for run_id, *rest in rows if _state(*rest) == "INTERRUPTED"]


def _row(r: RunRecord, version: int) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "version": version,
        "status": r.status,
        "tag": r.tag,
        "pipeline": r.pipeline,
        "dag_hash": r.dag_hash,
        "start": r.start,
        "end_time": r.end,
        "start_key": NO_TIME if r.start_key is None else r.start_key,
        "end_key": NO_TIME if r.end_key is None else r.end_key,
        "duration": r.duration,
        "steps": r.steps,
        "steps_done": r.steps_done,
        "original_run_id": r.original_run_id,
        "commit_id": r.commit,
        "dirty": None if r.dirty is None else int(r.dirty),
        "use_cached": int(r.use_cached),
        "pid": r.pid,
        "host": r.host,
        "pid_start": r.pid_start,
        "error": r.error,
        "failed_step": r.failed_step.replace("\x00", ""),  # (text holds no NUL character)
        "failure": r.failure.replace("\x00", ""),
        "user_name": r.user.replace("\x00", ""),
        "driven": r.driven,
        "growing": r.growing,
        "steps_running": r.steps_running,
        "record": RECORD_VERSION,
        "params": to_json(r.params).replace("\\u0000", ""),  # jsonb holds no NUL character
        "metrics": to_json(r.metrics).replace("\\u0000", ""),
    }


# -- filters to PostgreSQL --------------------------------------------------------------------------------
_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class _Compiler:
    """A filter tree (magnus_core.query) as a PostgreSQL condition with named arguments (`args`)."""

    def __init__(self, interrupted: list[str]) -> None:
        self.args: dict[str, Any] = {"interrupted": interrupted}
        self.state = (
            f"(CASE WHEN r.status IN ({', '.join(repr(s) for s in RUNNING_STATUSES)}) THEN "
            f"(CASE WHEN r.driven = '{PER_STEP}' THEN '{PER_STEP_STATE}' "
            "WHEN r.run_id = ANY(%(interrupted)s) THEN 'INTERRUPTED' ELSE 'RUNNING' END) "
            "ELSE r.status END)"
        )

    def arg(self, value: Any) -> str:
        name = f"a{len(self.args)}"
        self.args[name] = value
        return f"%({name})s"

    def expr(self, expr: Expr) -> str:
        if isinstance(expr, BoolOp):
            return "(" + f" {expr.op.upper()} ".join(self.expr(item) for item in expr.items) + ")"
        if expr.key.kind == "attr":
            return self.attribute(expr)
        return self.value(expr)

    def _parts(self, key: Key) -> tuple[str, str, str]:
        """The JSON type of the value (NULL: no such name), the value as a number (NULL unless it is one)
        and as text, of a parameter or metric."""
        column = "r.params" if key.kind == "param" else "r.metrics"
        name = self.arg(key.name)
        kind = f"jsonb_typeof({column} -> {name})"
        raw = f"({column} ->> {name})"
        number = (  # nested: PostgreSQL does not promise to test `kind` before casting in an AND
            f"(CASE WHEN {kind} = 'number' THEN "
            f"(CASE WHEN abs({raw}::numeric) < 1e308 THEN {raw}::double precision END) END)"
        )
        text = f"(CASE {kind} WHEN 'null' THEN 'null' ELSE {raw} END) COLLATE \"C\""
        return kind, number, text

    def value(self, c: Compare) -> str:
        kind, number, text = self._parts(c.key)
        if c.op == "isnull":
            return f"{kind} IS NULL"
        if c.op == "notnull":
            return f"{kind} IS NOT NULL"
        if c.op in ("in", "notin"):
            inner = " OR ".join(self._one("=", v, kind, number, text) for v in c.value)
            return f"({inner})" if c.op == "in" else f"({kind} IS NOT NULL AND NOT ({inner}))"
        if c.op in ("like", "ilike", "notlike", "notilike"):
            like = "ILIKE" if "ilike" in c.op else "LIKE"
            test = f"{text} {like} {self.arg(c.value)}"
            return f"({kind} IS NOT NULL AND {'NOT ' if c.op.startswith('not') else ''}({test}))"
        return self._one(c.op, c.value, kind, number, text)

    def _one(self, op: str, literal: Any, kind: str, number: str, text: str) -> str:
        sql_op = _OPS[op]
        value = _number_of(literal)
        if value is not None and op not in ("=", "!="):  # an order: only numbers compare
            return f"({number} {sql_op} {self.arg(value)})"
        if value is not None:  # numbers compare as numbers where the recorded value is one, else as text
            return (
                f"(({number} {sql_op} {self.arg(value)}) OR "
                f"({kind} <> 'number' AND {text} {sql_op} {self.arg(_text_of(literal))}))"
            )
        if sql_op == "!=":
            return f"({kind} IS NOT NULL AND {text} != {self.arg(_text_of(literal))})"
        return f"({kind} <> 'number' AND {text} {sql_op} {self.arg(_text_of(literal))})"

    def attribute(self, c: Compare) -> str:
        kind = ATTRIBUTES[c.key.name]
        column = _COLUMNS[c.key.name]
        if kind == "status":  # the recorded status or what it means now (RUNNING, INTERRUPTED), any case

            def pg_like(operand: str, pattern: str, any_case: bool) -> str:
                return f"{operand} {'ILIKE' if any_case else 'LIKE'} {pattern}"

            return status_condition(
                c, column, self.state, self.arg, pg_like, lambda truth: "TRUE" if truth else "FALSE"
            )
        if kind == "time" and c.op in ("isnull", "notnull"):  # the text says whether there is a time
            return f"({_TIME_TEXT[c.key.name]} {'=' if c.op == 'isnull' else '!='} '')"
        if c.op == "isnull":
            return f"({column} IS NULL OR CAST({column} AS text) = '')"
        if c.op == "notnull":
            return f"({column} IS NOT NULL AND CAST({column} AS text) != '')"
        if c.op in ("like", "ilike", "notlike", "notilike"):
            like = "ILIKE" if "ilike" in c.op else "LIKE"
            text_column = _TIME_TEXT.get(c.key.name, column)
            test = f"CAST({text_column} AS text) {like} {self.arg(c.value)}"
            return f"NOT ({test})" if c.op.startswith("not") else test
        if kind == "number" and any(_number_of(v) is None for v in _literals(c)):
            column = f'CAST({column} AS text) COLLATE "C"'  # a word against a number: compared as text
        if c.op in ("in", "notin"):
            values = ", ".join(self.arg(attribute_value(c.key.name, v)) for v in c.value)
            return f"{column} {'NOT ' if c.op == 'notin' else ''}IN ({values})"
        value = self.arg(attribute_value(c.key.name, c.value))
        if kind == "time":  # a run without a time matches no comparison of it
            return f"({column} != {_SQL_NO_TIME} AND {column} {_OPS[c.op]} {value})"
        return f"{column} {_OPS[c.op]} {value}"

    def order(self, key: Key) -> str:
        if key.kind == "attr":
            if key.name in ("start", "end"):  # no time: NULL, so last either way
                return f"NULLIF({_COLUMNS[key.name]}, {_SQL_NO_TIME})"
            return self.state if key.name == "status" else _COLUMNS[key.name]
        kind, number, _ = self._parts(key)
        # numbers by their value; a value that is not a number after every number; no value: NULL (last)
        return f"(CASE WHEN {kind} IS NULL THEN NULL WHEN {kind} = 'number' THEN {number} ELSE 1e308 END)"


def _literals(c: Compare) -> list[Any]:
    return list(c.value) if c.op in ("in", "notin") else [c.value]
