"""The postgres store: run logs in PostgreSQL, one history a whole team queries (`magnus[postgres]`).

    run_log_store:
      type: postgres
      config:
        dsn: postgresql://magnus@db.example.com:5432/mlops   # no password: PGPASSWORD, ~/.pgpass or PGSERVICE
        schema: magnus                                       # the default

The tables live in `schema`, created on first use and versioned in `<schema>.magnus_schema` (MIGRATIONS):

    runs               one row per run: status, tag, dag hash, parameters, run_config; `version` counts writes
    steps              one row per step log (without its branches), with the branch holding it and its order
    branches           one row per branch log, with the composite step holding it
    branch_parameters  a branch's parameters between the per-step processes of Argo and Dask
    run_index          one row per run for `magnus runs`/`compare`, queried with SQL (index/postgres.py)

Every write is one statement, so one transaction: it bumps the run's `version` and NOTIFYs the channel
`magnus_<schema>` with "<version>:<run_id>", and a step's row, the run's version and the notification become
visible together or not at all. A run is read in one statement (one snapshot): nothing half-written is
ever read as whole. JSON columns are `json`, not `jsonb`: the run log comes back with its keys in the order
they were written, byte for byte the JSON the file-system store writes.

The password never appears in a config file or in the run log: a DSN holding one is refused. It comes from a
secret named in `secret_options: {password: NAME}`, PGPASSWORD (the environment, else the secrets provider:
the default one reads .env), a password file (~/.pgpass, PGPASSFILE) or a service file (PGSERVICE); the one
the connection used is masked in everything a run writes (credentials()). A connection lost
mid-run is retried for `reconnect_for` seconds from the outage's start, however many writes wait meanwhile
(writes are idempotent upserts); after that the run stops with a one-line error, nothing more is written to
it, and its log stays PROCESSING, which reads as INTERRUPTED and resumes with --use-cached.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from magnus_core import jsonio as json
from magnus_core.errors import ConfigError, RunLogError, SecretNotFoundError, StoreError, install_extra
from magnus_core.models.run_log import BranchLog, RunLog, StepLog, time_span
from magnus_core.registry import OptionKeyError, parse_options
from magnus_core.stores.base import RunLogStore
from magnus_core.stores.parts import assemble, step_part, to_json, walk_with_parents
from magnus_core.suggest import did_you_mean

log = logging.getLogger("magnus")
T = TypeVar("T")

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,47}$")
RUN_COLUMNS = ("dag_hash", "use_cached", "tag", "original_run_id", "status", "parameters", "run_config")
_JSON_COLUMNS = ("parameters", "run_config")


class StoreSetupError(StoreError):
    """The database cannot be reached or used before anything was written (wrong DSN or password, server
    down, no right to create the schema, a newer schema): a setup problem, exit code 2. Failures once the
    store is in use are StoreError (exit 1)."""

    exit_code = 2


SECRET_OPTIONS = ("password", "sslpassword")  # the libpq options secret_options may name a secret for


class PostgresOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)
    dsn: str = ""  # libpq URI or key=value string; empty: PGHOST, PGUSER, PGDATABASE... from the environment
    schema_name: str = Field(default="magnus", alias="schema")
    connect_timeout: float = Field(default=5.0, gt=0, le=60)
    reconnect_for: float = Field(default=30.0, ge=0, le=3600)  # seconds a lost connection is retried
    # libpq option -> the name of a secret of the secrets provider: {password: DB_PASSWORD}
    secret_options: dict[str, str] = Field(default_factory=dict)

    @field_validator("secret_options")
    @classmethod
    def _secret_options(cls, value: dict[str, str]) -> dict[str, str]:
        for option in value:
            if option not in SECRET_OPTIONS:
                hint = did_you_mean(option, SECRET_OPTIONS)
                raise OptionKeyError(
                    option, f"unknown option{hint} (expected one of {', '.join(SECRET_OPTIONS)})"
                )
        return value

    @field_validator("schema_name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(
                "expected a lower-case SQL identifier (letters, digits and '_', not starting with a digit, "
                "at most 48 characters)"
            )
        return value


Statement = str | Callable[[Any, str], None]  # SQL, or a function given the connection and the quoted schema
_RUN_INDEX_TABLE: list[Statement] = [  # queried by magnus_core/index/postgres.py
    """CREATE TABLE {s}.run_index (
        run_id text PRIMARY KEY REFERENCES {s}.runs (run_id) ON DELETE CASCADE,
        version bigint NOT NULL,
        status text NOT NULL,
        tag text NOT NULL DEFAULT '',
        pipeline text NOT NULL DEFAULT '',
        dag_hash text NOT NULL DEFAULT '',
        start text NOT NULL DEFAULT '',
        end_time text NOT NULL DEFAULT '',
        start_key double precision NOT NULL,
        end_key double precision NOT NULL,
        duration double precision,
        steps integer NOT NULL DEFAULT 0,
        steps_done integer NOT NULL DEFAULT 0,
        original_run_id text NOT NULL DEFAULT '',
        commit_id text NOT NULL DEFAULT '',
        dirty integer,
        use_cached integer NOT NULL DEFAULT 0,
        pid bigint,
        host text NOT NULL DEFAULT '',
        pid_start double precision,
        error text NOT NULL DEFAULT '',
        params jsonb NOT NULL DEFAULT '{{}}',
        metrics jsonb NOT NULL DEFAULT '{{}}'
    )""",
    "CREATE INDEX run_index_newest ON {s}.run_index (start_key, run_id)",
    "CREATE INDEX run_index_tag ON {s}.run_index (tag)",
]

# -- the schema and its migrations -------------------------------------------------------------------
# Each entry: (version, what it does, statements with {s} for the quoted schema). Never edit a released
# entry: add the next version. A database at a newer version than this code knows is refused.

MIGRATIONS: list[tuple[int, str, list[Statement]]] = [
    (
        1,
        "runs, steps, branches and branch parameters",
        [
            """CREATE TABLE {s}.runs (
                run_id text PRIMARY KEY,
                status text NOT NULL,
                tag text NOT NULL DEFAULT '',
                dag_hash text,
                original_run_id text NOT NULL DEFAULT '',
                use_cached boolean NOT NULL DEFAULT false,
                parameters json NOT NULL DEFAULT '{{}}',
                run_config json NOT NULL DEFAULT '{{}}',
                extra json NOT NULL DEFAULT '{{}}',
                started_at text NOT NULL DEFAULT '',
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now(),
                version bigint NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX runs_tag ON {s}.runs (tag)",
            "CREATE SEQUENCE {s}.part_seq",
            """CREATE TABLE {s}.steps (
                run_id text NOT NULL REFERENCES {s}.runs (run_id) ON DELETE CASCADE,
                internal_name text NOT NULL,
                parent text,
                seq bigint NOT NULL,
                status text NOT NULL,
                start_time text NOT NULL DEFAULT '',
                end_time text NOT NULL DEFAULT '',
                body json NOT NULL,
                version bigint NOT NULL DEFAULT 0,
                PRIMARY KEY (run_id, internal_name)
            )""",
            """CREATE TABLE {s}.branches (
                run_id text NOT NULL REFERENCES {s}.runs (run_id) ON DELETE CASCADE,
                internal_name text NOT NULL,
                parent_step text NOT NULL,
                seq bigint NOT NULL,
                status text NOT NULL,
                body json NOT NULL,
                version bigint NOT NULL DEFAULT 0,
                PRIMARY KEY (run_id, internal_name)
            )""",
            """CREATE TABLE {s}.branch_parameters (
                run_id text NOT NULL REFERENCES {s}.runs (run_id) ON DELETE CASCADE,
                branch text NOT NULL,
                parameters json NOT NULL,
                PRIMARY KEY (run_id, branch)
            )""",
        ],
    ),
    (2, "run index (magnus runs --where, magnus compare)", _RUN_INDEX_TABLE),
    (
        3,
        "run index: the kind of record each row holds (index/record.RECORD_VERSION)",
        ["ALTER TABLE {s}.run_index ADD COLUMN record integer NOT NULL DEFAULT 0"],
    ),
    (
        4,
        "run index: the first step that failed itself, and its error (older rows are read again: record 8)",
        [
            "ALTER TABLE {s}.run_index ADD COLUMN failed_step text NOT NULL DEFAULT ''",
            "ALTER TABLE {s}.run_index ADD COLUMN failure text NOT NULL DEFAULT ''",
        ],
    ),
    (
        5,
        "run index: who ran each run and whether it is driven one step per process (filled from run_config)",
        [
            "ALTER TABLE {s}.run_index ADD COLUMN user_name text NOT NULL DEFAULT ''",
            "ALTER TABLE {s}.run_index ADD COLUMN driven text NOT NULL DEFAULT ''",
            lambda conn, s: _fill_user_and_driven(conn, s),
        ],
    ),
    (
        6,
        "run index: whether a run's total may still grow (a map not fanned out yet); running runs read again",
        [
            "ALTER TABLE {s}.run_index ADD COLUMN growing boolean NOT NULL DEFAULT false",
            # only a running run's total is shown as a floor (`0/≥2`), so only those rows are read again
            # (record 0: an older kind, index/postgres.py's refresh), not every ended run of the team
            "UPDATE {s}.run_index SET record = 0 WHERE status IN ('PROCESSING', 'CREATED')",
        ],
    ),
    (
        7,
        "run index: the steps a run was running, counted as ran once its process is found gone; running runs "
        "read again",
        [
            # RunRecord.steps_running (trial 13 fault 2: a killed run read 1/3 in `magnus runs`, 2/3 in
            # `magnus show`); only rows of runs recorded as running have any, so only they are read again
            "ALTER TABLE {s}.run_index ADD COLUMN steps_running integer NOT NULL DEFAULT 0",
            "UPDATE {s}.run_index SET record = 0 WHERE status IN ('PROCESSING', 'CREATED')",
        ],
    ),
    (
        8,
        "run index: no failure keeps a step's escape sequences (rows made before they were stripped)",
        [lambda conn, s: _harmless_failures(conn, s)],
    ),
    (
        9,
        "run index: a failure ends with its chained cause (record.failure_text); failed runs read again",
        [
            # session 11: `magnus runs --status FAIL` named the outer exception only; only rows with a
            # failure change, so only they are read again (record 0: index/postgres.py's refresh)
            "UPDATE {s}.run_index SET record = 0 WHERE failure <> ''",
        ],
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def _fill_user_and_driven(conn: Any, schema: str) -> None:
    """Migration 5's rows: each indexed run's user and how it is driven (index/record.py's user_of and
    runs.driven_per_step, the functions a new row is made with), from the `process` and `executor` of its
    run_config, in the migration's transaction. Only those two members come over the wire (a run_config
    holds the whole dag), and no run log is read: a team's 20,000 runs are not indexed again."""
    from magnus_core.index.record import PER_STEP, user_of
    from magnus_core.runs import driven_per_step

    rows = conn.execute(
        f"SELECT i.run_id, r.run_config -> 'process', r.run_config -> 'executor' FROM {schema}.run_index i "
        f"JOIN {schema}.runs r ON r.run_id = i.run_id"
    ).fetchall()
    filled = []
    for run_id, process, executor in rows:
        user = user_of(process).replace("\x00", "")  # (text holds no NUL character)
        driven = PER_STEP if driven_per_step({"process": process, "executor": executor}) else ""
        if user or driven:
            filled.append((user, driven, run_id))
    if filled:
        conn.cursor().executemany(
            f"UPDATE {schema}.run_index SET user_name = %s, driven = %s WHERE run_id = %s", filled
        )


def _harmless_failures(conn: Any, schema: str) -> None:
    """Migration 8's rows: each failure an index row kept with a step's terminal escape sequences or control
    characters (made before record.failure_text stripped them, b8ba88e: trial 14 F13's `magnus runs --json`
    kept "\u001b[31mred message\u001b[0m" until the run was written again) without them, through the
    function a new row is made with (controls.harmless), in the migration's transaction. The server picks
    the rows (a control character, C1 ones too; text holds no NUL), so a team's clean rows never come over
    the wire, and no run log is read."""
    from magnus_core.controls import harmless

    rows = conn.execute(
        f"SELECT run_id, failure FROM {schema}.run_index WHERE failure ~ '[\\x01-\\x1f\\x7f-\\x9f]'"
    ).fetchall()
    cleaned = [(harmless(failure), run_id) for run_id, failure in rows]
    if cleaned:
        conn.cursor().executemany(f"UPDATE {schema}.run_index SET failure = %s WHERE run_id = %s", cleaned)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the extra is not installed
        raise ConfigError(
            f"the postgres store needs psycopg: {install_extra('postgres')}",
            field="run_log_store.type",
        ) from None
    return psycopg


def _reason(exc: BaseException) -> str:
    """The server's or libpq's reason in one readable line, without the connection preamble the store's
    label already gives: libpq's lines ("Connection refused", "\tIs the server running on that host and
    accepting TCP/IP connections?") become sentences ("Connection refused. Is the server running ...?")."""
    sentences: list[str] = []
    for line in str(exc).splitlines():
        line = " ".join(line.split())
        for marker in ("FATAL:", "ERROR:"):
            if marker in line:
                line = line.rsplit(marker, 1)[1].strip()
        while True:
            shorter = re.sub(r'^connection (?:to server at "[^"]*"(?:, port \d+)? )?failed: ', "", line)
            if shorter == line:
                break
            line = shorter
        if not line:
            continue
        if sentences and line[0].islower():  # libpq wrapped a sentence over two lines
            sentences[-1] += " " + line
        else:
            sentences.append(line)
    text = " ".join(
        (part if part[-1] in ".?!:;" or n == len(sentences) - 1 else part + ".")
        for n, part in enumerate(sentences)
    )
    return text[:300] or exc.__class__.__name__


def _hint(reason: str) -> str:
    low = reason.lower()
    if "password" in low or "authentication" in low:
        return (
            "check the DSN's user and the password in PGPASSWORD (the environment or .env), "
            "run_log_store.config.secret_options or ~/.pgpass"
        )
    if "does not exist" in low and "database" in low:
        return "check the DSN's database name"
    if "refused" in low or "timeout" in low or "timed out" in low or "could not translate" in low:
        return "check that the server is running and the DSN's host and port"
    if "permission denied" in low:
        return "check the user's privileges on the database and schema"
    return "check the DSN and the server's log"


def _explained(reason: str) -> str:
    """The reason and what to check, as one line: 'reason; check ...', or 'Sentence? Check ...' after a
    reason that ends a sentence (libpq's 'Is the server running ...?')."""
    hint = _hint(reason)
    if reason[-1:] in ".?!":
        return f"{reason} {hint[:1].upper()}{hint[1:]}"
    return f"{reason}; {hint}"


# -- one connection per process and database, shared by every store object -------------------------------


class ConnectionLostError(StoreError):
    """The connection to the database was lost and did not come back within `reconnect_for` seconds of the
    outage's start. The run it was writing stops; nothing more is written to it from this process, so its
    log stays as the last write that reached the database left it (PROCESSING: read as INTERRUPTED once
    the process has ended), as the message says."""


class _Database:
    """A connection (autocommit) with a lock; reconnects after a loss, within `reconnect_for` seconds.

    The budget is the outage's, not a call's: `lost_at` is when the connection went, kept across calls until
    a call works again, so a process that writes several times while the server is away waits
    `reconnect_for` seconds in all (one warning), then each call tries once and fails at once."""

    def __init__(self, conninfo: str, schema: str, label: str, options: PostgresOptions) -> None:
        self.conninfo = conninfo
        self.schema = schema
        self.label = label
        self.options = options
        self.lock = threading.RLock()
        self.conn: Any = None
        self.pid = 0
        self.ready = False  # the schema was checked (and migrated) by this process
        self.ever_connected = False
        self.lost_at: float | None = None  # when the connection went (time.monotonic()), until a call works
        self.source: str | None = None  # the config file naming this database (the store's `source`)
        self.secrets: Callable[[], Any] | None = None  # makes the secrets provider when asked (use_secrets)

    def secret_arguments(self) -> dict[str, str]:
        """libpq options taken from the secrets provider: each of `secret_options` ({password: NAME}), and,
        with no password named there and no PGPASSWORD in the environment, the provider's PGPASSWORD if it
        has one (the default provider reads the project's .env file: README's place for secrets), as if
        it were in the environment. A named secret the provider lacks is a ConfigError naming the field."""
        found: dict[str, str] = {}
        provider = self.secrets() if self.secrets is not None else None
        for option, name in self.options.secret_options.items():
            field = f"run_log_store.config.secret_options.{option}"
            if provider is None:
                raise ConfigError(f"no secrets provider to ask for '{name}'", field=field)
            try:
                found[option] = provider.get(name)
            except SecretNotFoundError as exc:
                raise ConfigError(str(exc), field=field) from None
        implicit = "password" not in found and not os.environ.get("PGPASSWORD")
        if implicit and provider is not None and provider.has("PGPASSWORD"):
            found["password"] = provider.get("PGPASSWORD")
        return found

    def _connect(self) -> Any:
        psycopg = _psycopg()
        conn = psycopg.connect(
            self.conninfo,
            autocommit=True,
            connect_timeout=max(1, round(self.options.connect_timeout)),
            application_name="magnus",
            **self.secret_arguments(),
        )
        self.conn, self.pid = conn, os.getpid()
        self.ever_connected = True
        if not self.ready:
            migrate(conn, self.schema, self.label)
            self.ready = True
        return conn

    def _failed(self, what: str, exc: BaseException) -> StoreError:
        """A statement failed: a StoreError once the store is in use; before, while the schema is checked
        or created (a user without the right to create it), a StoreSetupError about the schema."""
        reason = _reason(exc)
        message = f"{self.label}: {what} failed: {_explained(reason)}"
        if self.ready:
            return StoreError(message)
        return StoreSetupError(message, field="run_log_store.config.schema")

    def run(self, what: str, work: Callable[[Any], T]) -> T:
        """`work(connection)` once, or again on a fresh connection if the connection was lost meanwhile.

        Raises StoreSetupError (exit 2) when the database was never reached or cannot be set up,
        ConnectionLostError once the outage has lasted `reconnect_for` seconds, StoreError otherwise."""
        try:
            return self._run(what, work)
        except StoreSetupError as exc:  # name the file and the field to fix, as other config errors do
            exc.file = exc.file or self.source
            exc.field = exc.field or "run_log_store.config.dsn"
            raise

    def _run(self, what: str, work: Callable[[Any], T]) -> T:
        psycopg = _psycopg()
        with self.lock:
            while True:
                conn = self.conn if self.pid == os.getpid() else None  # never use a parent's connection
                try:
                    if conn is None or conn.closed:
                        conn = self._connect()
                    result = work(conn)
                except psycopg.OperationalError as exc:
                    broken = conn is None or conn.closed or conn.broken
                    if not broken:
                        raise self._failed(what, exc) from None
                    self.conn = None
                    if not self.ever_connected:
                        reason = _reason(exc)
                        raise StoreSetupError(f"{self.label}: cannot connect: {_explained(reason)}") from None
                    now = time.monotonic()
                    if self.lost_at is None:
                        self.lost_at = now
                        log.warning(
                            "%s: lost the connection (%s); reconnecting for up to %g s",
                            self.label,
                            _reason(exc),
                            self.options.reconnect_for,
                        )
                    if now - self.lost_at >= self.options.reconnect_for:
                        raise ConnectionLostError(
                            f"{self.label}: {what} failed: the connection was lost and did not come back "
                            f"within {self.options.reconnect_for:g} s ({_reason(exc)}); the run stays "
                            "PROCESSING: resume it with --use-cached once the server is back"
                        ) from None
                    time.sleep(min(1.0, 0.1 + (now - self.lost_at) / 4))
                    continue
                except psycopg.Error as exc:
                    raise self._failed(what, exc) from None
                if self.lost_at is not None:
                    log.warning(
                        "%s: the connection is back after %.1f s", self.label, time.monotonic() - self.lost_at
                    )
                    self.lost_at = None
                return result


_DATABASES: dict[tuple[str, str], _Database] = {}
_SLEEP = time.sleep  # (as magnus found it, for the listening thread: a step's replacement, trial 20 N8)
_DATABASES_LOCK = threading.Lock()


def _database(conninfo: str, schema: str, label: str, options: PostgresOptions) -> _Database:
    with _DATABASES_LOCK:
        key = (conninfo, schema)
        if key not in _DATABASES:
            _DATABASES[key] = _Database(conninfo, schema, label, options)
        return _DATABASES[key]


def _lock_key(schema: str) -> int:
    return int.from_bytes(hashlib.sha1(f"magnus:{schema}".encode()).digest()[:8], "big", signed=True)


def schema_version(conn: Any, schema: str) -> int:
    """The schema's version in this database (0: no magnus tables yet)."""
    row = conn.execute(
        "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'magnus_schema'", (schema,)
    ).fetchone()
    if row is None:
        return 0
    found = conn.execute(f'SELECT coalesce(max(version), 0) FROM "{schema}".magnus_schema').fetchone()
    return int(found[0])


def migrate(conn: Any, schema: str, label: str) -> int:
    """Create the schema on first use and bring it to SCHEMA_VERSION; returns the version found before.

    Concurrent first uses are serialised by an advisory lock; a database newer than this code is refused.
    """
    found = schema_version(conn, schema)
    if found == SCHEMA_VERSION:
        return found
    if found > SCHEMA_VERSION:
        raise StoreSetupError(
            f"{label}: schema '{schema}' is at version {found}, newer than this magnus knows "
            f"({SCHEMA_VERSION}); upgrade magnus",
            field="run_log_store.config.schema",
        )
    quoted = f'"{schema}"'
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(schema),))
        found = schema_version(conn, schema)  # another process may have migrated while we waited
        exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
        if exists is None:
            conn.execute(f"CREATE SCHEMA {quoted}")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {quoted}.magnus_schema (version integer PRIMARY KEY, "
            "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, description, statements in MIGRATIONS:
            if version <= found:
                continue
            for statement in statements:
                if callable(statement):
                    statement(conn, quoted)
                else:
                    conn.execute(statement.format(s=quoted))
            conn.execute(
                f"INSERT INTO {quoted}.magnus_schema (version, description) VALUES (%s, %s)",
                (version, description),
            )
            log.info("%s: schema '%s' migrated to version %d (%s)", label, schema, version, description)
    return found


# -- notifications -------------------------------------------------------------------------------------


class _Listener:
    """LISTENs on the schema's channel in a daemon thread; remembers each run's latest version."""

    def __init__(
        self, conninfo: str, channel: str, options: PostgresOptions, secrets: Callable[[], dict[str, str]]
    ) -> None:
        self.conninfo = conninfo
        self.channel = channel
        self.options = options
        self.secrets = secrets  # the libpq options from the secrets provider (_Database.secret_arguments)
        self.cond = threading.Condition()
        self.versions: dict[str, int] = {}
        self.generation = 0  # bumped each time LISTEN is (re)established: waiters look at the table
        self.thread: threading.Thread | None = None

    def start(self, timeout: float) -> None:
        with self.cond:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="magnus-pg-listen", daemon=True)
                self.thread.start()
            deadline = time.monotonic() + timeout
            while self.generation == 0 and time.monotonic() < deadline:
                self.cond.wait(deadline - time.monotonic())

    def _loop(self) -> None:
        psycopg = _psycopg()
        while True:
            try:
                conn = psycopg.connect(
                    self.conninfo,
                    autocommit=True,
                    connect_timeout=max(1, round(self.options.connect_timeout)),
                    application_name="magnus-listen",
                    **self.secrets(),
                )
                conn.execute(f'LISTEN "{self.channel}"')
                with self.cond:
                    self.generation += 1
                    self.cond.notify_all()
                for note in conn.notifies():
                    version, _, run_id = note.payload.partition(":")
                    with self.cond:
                        self.versions[run_id] = int(version)
                        self.cond.notify_all()
            except psycopg.Error:
                _SLEEP(1.0)  # the server is away: followers fall back to their timeout meanwhile


_LISTENERS: dict[tuple[str, str], _Listener] = {}


# -- the store ---------------------------------------------------------------------------------------


class PostgresRunLogStore(RunLogStore):
    """Run logs in PostgreSQL tables; every capability of the file-based stores (see the module's doc)."""

    service_name = "postgres"
    notifies = True  # LISTEN/NOTIFY: wait_for_change wakes when a write commits

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.options = parse_options(PostgresOptions, self.config, "run_log_store")
        psycopg = _psycopg()
        try:
            parts = psycopg.conninfo.conninfo_to_dict(self.options.dsn)
        except psycopg.Error as exc:
            raise ConfigError(
                f"not a PostgreSQL connection string: {_reason(exc)}", field="run_log_store.config.dsn"
            ) from None
        if parts.get("password"):
            raise ConfigError(
                "the DSN holds a password, and config files are recorded in every run log: remove it and "
                "put it in PGPASSWORD (the environment or .env), a ~/.pgpass file, or a secret named in "
                "run_log_store.config.secret_options: {password: SECRET_NAME}",
                field="run_log_store.config.dsn",
            )
        self.schema = self.options.schema_name
        self.table = f'"{self.schema}"'
        self.channel = f"magnus_{self.schema}"
        host = parts.get("host") or os.environ.get("PGHOST") or "localhost"
        port = parts.get("port") or os.environ.get("PGPORT") or "5432"
        dbname = parts.get("dbname") or os.environ.get("PGDATABASE") or parts.get("user") or ""
        self.address = f"postgresql://{host}:{port}/{dbname}"
        self.label = f"postgres run-log store {host}:{port}/{dbname} (schema {self.schema})"
        self.db = _database(self.options.dsn, self.schema, self.label, self.options)
        self._seen_generation: dict[str, int] = {}
        self._only: tuple[list[str], list[str]] | None = None  # attach_scope: the parts to read
        self._lost: dict[str, str] = {}  # run id -> why its writes gave up (ConnectionLostError's message)

    @property
    def source(self) -> str | None:
        """The config file naming this store: errors found on first use (a refused password) name it."""
        return self.db.source

    @source.setter
    def source(self, value: str | None) -> None:
        self.db.source = value or self.db.source

    def use_secrets(self, provider: Callable[[], Any]) -> None:
        """The password may come from the secrets provider (`secret_options`, or its PGPASSWORD: see
        _Database.secret_arguments); `provider()` makes it when a connection first needs it."""
        self.db.secrets = provider

    def credentials(self) -> dict[str, str]:
        """The password the connection uses, however libpq found it (PGPASSWORD, a password file, a
        service file): masked in everything a run writes. Read from libpq (PQpass) once connected."""
        password = self.db.run("reading the connection's settings", lambda conn: conn.info.password)
        return {"password": password} if password else {}

    # -- where ---------------------------------------------------------------------------------------------
    def where(self) -> str:
        return f"the {self.label}"

    def brief(self) -> str:
        """'postgres db.internal:5432/mlops · magnus': the database and the schema, for a title bar."""
        return f"postgres {self.address.removeprefix('postgresql://')} · {self.schema}"

    def location(self, run_id: str) -> str:
        return f"{self.label}, run {run_id}"

    def _sql(self, text: str) -> str:
        return text.replace("{t}", self.table)

    # -- writing -------------------------------------------------------------------------------------------
    def _create(self, run_id: str) -> None:
        """Insert the run and any parts it already has in one transaction: of two creators, one wins."""
        self._insert(self._live[run_id].log)

    def _insert(self, run_log: RunLog) -> None:
        run_row = self._run_row(run_log)
        steps, branches = [], []
        for item, parent in walk_with_parents(run_log):
            if isinstance(item, StepLog):
                steps.append(self._step_row(run_log.run_id, item, parent))
            else:
                assert parent is not None
                branches.append(self._branch_row(run_log.run_id, item, parent))

        def work(conn: Any) -> None:
            with conn.transaction():
                created = conn.execute(
                    self._sql(
                        "INSERT INTO {t}.runs (run_id, status, tag, dag_hash, original_run_id, use_cached, "
                        "parameters, run_config, extra, started_at, version) VALUES (%(run)s, %(status)s, "
                        "%(tag)s, %(dag_hash)s, %(original_run_id)s, %(use_cached)s, %(parameters)s::json, "
                        "%(run_config)s::json, %(extra)s::json, %(started_at)s, 1) "
                        "ON CONFLICT (run_id) DO NOTHING RETURNING run_id"
                    ),
                    run_row,
                ).fetchone()
                if created is None:
                    raise self._taken(run_log.run_id)
                with conn.cursor() as cursor:
                    if steps:
                        cursor.executemany(self._sql(_UPSERT_STEP_ROW), [{**s, "version": 1} for s in steps])
                    if branches:
                        cursor.executemany(
                            self._sql(_UPSERT_BRANCH_ROW), [{**b, "version": 1} for b in branches]
                        )
                conn.execute("SELECT pg_notify(%s, %s)", (self.channel, f"1:{run_log.run_id}"))

        self.db.run(f"creating run '{run_log.run_id}'", work)

    def put_run(self, run_log: RunLog) -> None:
        """Add a whole run log (from another store) in one transaction; UsageError if the id is taken."""
        self._insert(run_log)

    def _run_row(self, run_log: RunLog) -> dict[str, Any]:
        process = run_log.run_config.get("process") if isinstance(run_log.run_config, dict) else None
        started = str(process.get("started_at", "")) if isinstance(process, dict) else ""
        return {
            "run": run_log.run_id,
            "status": run_log.status,
            "tag": run_log.tag or "",
            "dag_hash": run_log.dag_hash,
            "original_run_id": run_log.original_run_id or "",
            "use_cached": run_log.use_cached,
            "parameters": to_json(run_log.parameters),
            "run_config": to_json(run_log.run_config),
            "extra": to_json(run_log.model_extra or {}),
            "started_at": started,
        }

    def _step_row(self, run_id: str, step_log: StepLog, parent: str | None) -> dict[str, Any]:
        start, end = time_span(step_log.attempts)  # by true time, as the run log writes times
        return {
            "run": run_id,
            "name": step_log.internal_name,
            "parent": parent,
            "status": step_log.status,
            "start": start,
            "end": end,
            "body": to_json(step_part(step_log)),
        }

    def _branch_row(self, run_id: str, branch_log: BranchLog, step: str) -> dict[str, Any]:
        return {
            "run": run_id,
            "name": branch_log.internal_name,
            "parent": step,
            "status": branch_log.status,
            "body": to_json(branch_log.model_dump(mode="json", exclude={"steps"})),
        }

    def _write_part(self, what: str, statement: str, row: dict[str, Any]) -> None:
        run_id = row["run"]

        def work(conn: Any) -> None:
            found = conn.execute(self._sql(statement), {**row, "channel": self.channel}).fetchone()
            if found is None:
                raise RunLogError(f"no run '{run_id}' in {self.where()} to hold {what}")

        self._write(run_id, what, work)

    def _write(self, run_id: str, what: str, work: Callable[[Any], T]) -> T:
        """A write to run `run_id`. Once a write to it gave up on a lost connection (ConnectionLostError),
        every later one in this process is refused with the same message, without trying: what gave up
        (the run's final status, a step marked failed or interrupted) must not land if the server comes
        back meanwhile, so the run stays as that message says (PROCESSING, resumable with --use-cached)."""
        lost = self._lost.get(run_id)
        if lost is not None:
            raise ConnectionLostError(lost)
        try:
            return self.db.run(what, work)
        except ConnectionLostError as exc:
            self._lost[run_id] = exc.message
            raise

    def _on_step(self, run_id: str, step_log: StepLog, branch: str | None) -> None:
        self._write_part(
            f"writing step '{step_log.internal_name}' of run '{run_id}'",
            _WRITE_STEP,
            self._step_row(run_id, step_log, branch),
        )

    def _on_commit(self, run_id: str, step_log: StepLog, branch: str | None, parameters: bool) -> None:
        """A step's commit point: its row, and the run's parameters when given, in one statement (one
        transaction) with the run's new version and the notification."""
        row = self._step_row(run_id, step_log, branch)
        statement = _WRITE_STEP
        if parameters:
            statement = _WRITE_STEP.replace(
                "SET version = version + 1", "SET parameters = %(parameters)s::json, version = version + 1", 1
            )
            row["parameters"] = to_json(self._live[run_id].log.parameters)
        self._write_part(f"committing step '{step_log.internal_name}' of run '{run_id}'", statement, row)

    def _on_branch(self, run_id: str, branch_log: BranchLog, step: str) -> None:
        self._write_part(
            f"writing branch '{branch_log.internal_name}' of run '{run_id}'",
            _WRITE_BRANCH,
            self._branch_row(run_id, branch_log, step),
        )

    def _on_run(self, run_id: str, fields: dict[str, Any], *, final: bool) -> None:
        """Only the fields that changed: another process may be writing the others."""
        row = self._run_row(self._live[run_id].log)
        columns = [name for name in RUN_COLUMNS if name in fields]
        if any(name not in RUN_COLUMNS for name in fields):
            columns.append("extra")
        if not columns:
            return
        sets = ", ".join(
            f"{name} = %({name})s::json" if name in (*_JSON_COLUMNS, "extra") else f"{name} = %({name})s"
            for name in columns
        )
        statement = (
            f"WITH v AS (UPDATE {{t}}.runs SET {sets}, version = version + 1, updated_at = now() "
            "WHERE run_id = %(run)s RETURNING version) "
            "SELECT pg_notify(%(channel)s, v.version || ':' || %(run)s) FROM v"
        )
        self._write_part(f"updating run '{run_id}'", statement, row)

    def _persist(self, run_id: str, *, final: bool = False) -> None:
        """Nothing to do: every write was committed when it returned."""

    def flush(self, run_id: str) -> None:
        """Every write is committed when it returns: nothing is ever pending."""

    # -- branch parameters (the per-step entry points of Argo and Dask) --------------------------------
    def put_branch_parameters(
        self, run_id: str, branch: str, parameters: dict[str, Any], *, only_new: bool = False
    ) -> None:
        """Keep a branch's parameters in the database (no folder is shared between the steps' pods)."""
        conflict = "DO NOTHING" if only_new else "DO UPDATE SET parameters = EXCLUDED.parameters"
        statement = (
            "INSERT INTO {t}.branch_parameters (run_id, branch, parameters) "
            f"VALUES (%(run)s, %(branch)s, %(parameters)s::json) ON CONFLICT (run_id, branch) {conflict}"
        )
        row = {"run": run_id, "branch": branch, "parameters": to_json(parameters)}
        self._write(
            run_id,
            f"writing the parameters of branch '{branch}'",
            lambda conn: conn.execute(self._sql(statement), row),
        )

    def get_branch_parameters(self, run_id: str, branch: str) -> dict[str, Any] | None:
        """The parameters kept for a branch, or None if its fan-out has not written them."""
        found = self.db.run(
            f"reading the parameters of branch '{branch}'",
            lambda conn: conn.execute(
                self._sql(
                    "SELECT parameters::text FROM {t}.branch_parameters WHERE run_id = %s AND branch = %s"
                ),
                (run_id, branch),
            ).fetchone(),
        )
        return None if found is None else dict(json.loads(found[0]))

    # -- reading -------------------------------------------------------------------------------------------
    def exists(self, run_id: str) -> bool:
        if run_id in self._live:
            return True
        found = self.db.run(
            f"looking up run '{run_id}'",
            lambda conn: conn.execute(
                self._sql("SELECT 1 FROM {t}.runs WHERE run_id = %s"), (run_id,)
            ).fetchone(),
        )
        return found is not None

    def attach_scope(self, run_id: str, steps: list[str], branches: list[str]) -> RunLog:
        """The run-level row and only the named step and branch rows (one statement, by primary key): a
        step in a map of 10,000 items reads its own branch, not the run. Every write names its own row,
        so a run taken up this way writes nothing it did not read."""
        self._only = (steps, branches)
        try:
            return self.attach(run_id)
        finally:
            self._only = None

    def _read(self, run_id: str) -> RunLog | None:
        only = self._only
        row = self.db.run(
            f"reading run '{run_id}'",
            lambda conn: (
                conn.execute(self._sql(_READ_RUN), (run_id,))
                if only is None
                else conn.execute(self._sql(_READ_SCOPE), (only[0], only[1], run_id))
            ).fetchone(),
        )
        if row is None:
            return None
        return self._from_row(run_id, row)

    def _read_many(self, conn: Any, run_ids: list[str]) -> list[tuple[str, int, RunLog | RunLogError]]:
        """Several runs in one statement (one snapshot), each with its version: the run index reads the
        runs whose version moved this way. A row that is not a run log comes back as its RunLogError."""
        rows = conn.execute(self._sql(_READ_RUNS), (run_ids,)).fetchall()
        out: list[tuple[str, int, RunLog | RunLogError]] = []
        for run_id, version, *row in rows:
            try:
                out.append((run_id, int(version), self._from_row(run_id, tuple(row))))
            except RunLogError as exc:
                out.append((run_id, int(version), exc))
        return out

    def _from_row(self, run_id: str, row: tuple[Any, ...]) -> RunLog:
        status, tag, dag_hash, original, use_cached, parameters, run_config, extra, steps, branches = row
        try:
            meta = {
                "run_id": run_id,
                "dag_hash": dag_hash,
                "use_cached": use_cached,
                "tag": tag,
                "original_run_id": original,
                "status": status,
                "run_config": json.loads(run_config),
                **json.loads(extra),
            }
            return assemble(
                meta,
                json.loads(parameters),
                ((body, parent) for parent, body in json.loads(steps)),
                ((body, parent) for parent, body in json.loads(branches)),
            )
        except (ValueError, KeyError, TypeError, RecursionError) as exc:  # rows anyone may have edited
            raise RunLogError(f"run '{run_id}' is not a run log: {str(exc)[:160]}", file=self.label) from None

    def list_run_ids(self) -> list[str]:
        rows = self.db.run(
            "listing runs",
            lambda conn: conn.execute(self._sql("SELECT run_id FROM {t}.runs")).fetchall(),
        )
        return [r[0] for r in rows]

    def modified(self, run_id: str) -> float | None:
        """When the run's row was last written (its updated_at), seconds since the epoch."""
        found = self.db.run(
            f"reading when run '{run_id}' was written",
            lambda conn: conn.execute(
                self._sql("SELECT extract(epoch FROM updated_at)::float8 FROM {t}.runs WHERE run_id = %s"),
                (run_id,),
            ).fetchone(),
        )
        return None if found is None else float(found[0])

    def version(self, run_id: str) -> Any:
        """Changes with every write to the run (one indexed row: followers never re-read a log to know)."""
        found = self.db.run(
            f"reading the version of run '{run_id}'",
            lambda conn: conn.execute(
                self._sql("SELECT version FROM {t}.runs WHERE run_id = %s"), (run_id,)
            ).fetchone(),
        )
        return None if found is None else int(found[0])

    def wait_for_change(self, run_id: str, seen: Any, timeout: float) -> bool:
        """Block until run `run_id`'s version differs from `seen` (NOTIFY wakes it) or `timeout` seconds
        pass; True if it changed. The first wait after (re)listening compares with the table once."""
        key = (self.options.dsn, self.channel)
        with _DATABASES_LOCK:
            listener = _LISTENERS.get(key) or _LISTENERS.setdefault(
                key, _Listener(self.options.dsn, self.channel, self.options, self.db.secret_arguments)
            )
        deadline = time.monotonic() + timeout
        listener.start(timeout)
        with listener.cond:
            generation = listener.generation
        if self._seen_generation.get(run_id) != generation:
            self._seen_generation[run_id] = generation
            if self.version(run_id) != seen:
                return True
        with listener.cond:
            while True:
                latest = listener.versions.get(run_id)
                if latest is not None and latest != seen:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or listener.generation != generation:
                    return False
                listener.cond.wait(remaining)

    # -- what the run index asks (magnus_core/index) ----------------------------------------------------
    def index_location(self) -> str | None:
        """The database and schema: names this store's run index in the cache folder."""
        return f"{self.address}/{self.schema}"

    def run_versions(self, *, full: bool = True) -> dict[str, Any]:
        """Every run with its version (one query): the run index reads only runs whose version moved."""
        rows = self.db.run(
            "listing runs",
            lambda conn: conn.execute(self._sql("SELECT run_id, version FROM {t}.runs")).fetchall(),
        )
        return {run_id: (int(version),) for run_id, version in rows}  # a one-part token: exact either way

    def read_json(self, run_id: str) -> Any:
        return self.get_run(run_id).model_dump(mode="json")

    def run_index(self) -> Any:
        """This store's own run index: a table of its schema, queried with SQL (index/postgres.py)."""
        from magnus_core.index.postgres import PostgresRunIndex

        return PostgresRunIndex(self)

    def drop_schema(self) -> None:
        """Remove this store's schema and every run in it (tests and `magnus store` tooling)."""
        self.db.run(
            f"dropping schema {self.schema}", lambda conn: conn.execute(f"DROP SCHEMA {self.table} CASCADE")
        )
        self.db.ready = False


_UPSERT_STEP_ROW = (
    "INSERT INTO {t}.steps (run_id, internal_name, parent, seq, status, start_time, end_time, body, version) "
    "VALUES (%(run)s, %(name)s, %(parent)s, nextval('{t}.part_seq'), %(status)s, %(start)s, %(end)s, "
    "%(body)s::json, %(version)s) "
    "ON CONFLICT (run_id, internal_name) DO UPDATE SET parent = EXCLUDED.parent, status = EXCLUDED.status, "
    "start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time, body = EXCLUDED.body, "
    "version = EXCLUDED.version"
)
_UPSERT_BRANCH_ROW = (
    "INSERT INTO {t}.branches (run_id, internal_name, parent_step, seq, status, body, version) "
    "VALUES (%(run)s, %(name)s, %(parent)s, nextval('{t}.part_seq'), %(status)s, %(body)s::json, "
    "%(version)s) ON CONFLICT (run_id, internal_name) DO UPDATE SET parent_step = EXCLUDED.parent_step, "
    "status = EXCLUDED.status, body = EXCLUDED.body, version = EXCLUDED.version"
)
# One statement, so one transaction: the run's version, the part and the notification go together.
_WRITE_STEP = (
    "WITH v AS (UPDATE {t}.runs SET version = version + 1, updated_at = now() WHERE run_id = %(run)s "
    "RETURNING version), "
    "w AS (INSERT INTO {t}.steps (run_id, internal_name, parent, seq, status, start_time, end_time, body, "
    "version) SELECT %(run)s, %(name)s, %(parent)s, nextval('{t}.part_seq'), %(status)s, %(start)s, %(end)s, "
    "%(body)s::json, v.version FROM v "
    "ON CONFLICT (run_id, internal_name) DO UPDATE SET parent = EXCLUDED.parent, status = EXCLUDED.status, "
    "start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time, body = EXCLUDED.body, "
    "version = EXCLUDED.version RETURNING 1) "
    "SELECT pg_notify(%(channel)s, v.version || ':' || %(run)s) FROM v"
)
_WRITE_BRANCH = (
    "WITH v AS (UPDATE {t}.runs SET version = version + 1, updated_at = now() WHERE run_id = %(run)s "
    "RETURNING version), "
    "w AS (INSERT INTO {t}.branches (run_id, internal_name, parent_step, seq, status, body, version) "
    "SELECT %(run)s, %(name)s, %(parent)s, nextval('{t}.part_seq'), %(status)s, %(body)s::json, v.version "
    "FROM v ON CONFLICT (run_id, internal_name) DO UPDATE SET parent_step = EXCLUDED.parent_step, "
    "status = EXCLUDED.status, body = EXCLUDED.body, version = EXCLUDED.version RETURNING 1) "
    "SELECT pg_notify(%(channel)s, v.version || ':' || %(run)s) FROM v"
)
# One statement, so one snapshot: the run row and every part as of one moment.
_READ_RUN = (
    "SELECT r.status, r.tag, r.dag_hash, r.original_run_id, r.use_cached, r.parameters::text, "
    "r.run_config::text, r.extra::text, "
    "(SELECT coalesce(json_agg(json_build_array(s.parent, s.body) ORDER BY s.seq), '[]'::json) "
    " FROM {t}.steps s WHERE s.run_id = r.run_id)::text, "
    "(SELECT coalesce(json_agg(json_build_array(b.parent_step, b.body) ORDER BY b.seq), '[]'::json) "
    " FROM {t}.branches b WHERE b.run_id = r.run_id)::text "
    "FROM {t}.runs r WHERE r.run_id = %s"
)
_READ_SCOPE = _READ_RUN.replace(
    "WHERE s.run_id = r.run_id", "WHERE s.run_id = r.run_id AND s.internal_name = ANY(%s)"
).replace("WHERE b.run_id = r.run_id", "WHERE b.run_id = r.run_id AND b.internal_name = ANY(%s)")
_READ_RUNS = _READ_RUN.replace("SELECT r.status", "SELECT r.run_id, r.version, r.status").replace(
    "WHERE r.run_id = %s", "WHERE r.run_id = ANY(%s)"
)
