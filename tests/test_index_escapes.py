"""Runs indexed before b8ba88e (trial 14 F13) kept a step's terminal escape sequences in the index's
`failure` until their log was read again (an ended run's never is): `magnus runs --json` gave
"\\u001b[31mred message..." and `magnus runs --status FAIL` wrote the sequences to the terminal under its
table. The SQLite index's schema 18 and the postgres store's migration 8 strip them in place
(controls.harmless, the function a new row is made with), no log read again.

Real runs of `magnus execute` in subprocesses; the index is then put back as the older magnus left it (its
schema version, the failure as record.failure_text wrote it before b8ba88e); a real PostgreSQL server
(tests/servers.py)."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import run_magnus

STEPS = """
def ok():
    print("fine")


def bad():
    raise RuntimeError("\\x1b[31mred message\\x1b[0m \\x1b]0;pwned title\\x07rest")
"""

PIPELINE = """dag:
  start_at: s0
  steps:
    s0: {type: task, command: steps.ok, next: bad}
    bad: {type: task, command: steps.bad, next: success}
    success: {type: success}
    fail: {type: fail}
"""

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _runs(config: Path, *args: str) -> str:
    done = run_magnus("runs", "-c", str(config), *args)
    assert done.returncode == 0, done.stderr
    assert not CONTROL.search(done.stderr), done.stderr
    return done.stdout


def _every_listing_clean(config: Path, store_block: dict[str, Any]) -> None:
    """`magnus runs`, `--status FAIL` (each failure under the table), `--json`, `--csv`, `--where` on the
    failure and the workbench's summaries (RunIndex.query) give the failure without a control character."""
    listed = json.loads(_runs(config, "--json"))["runs"]
    (run,) = [r for r in listed if r["run_id"] == "r1"]
    assert run["failed_step"] == "bad"
    assert "red message" in run["failure"] and "rest" in run["failure"], run
    assert not CONTROL.search(run["failure"]), run["failure"]
    for args in (
        (),
        ("--status", "FAIL"),
        ("--csv",),
        ("--where", "attributes.failure LIKE '%red message%'"),
    ):
        shown = _runs(config, *args)
        assert "r1" in shown, (args, shown)
        assert not CONTROL.search(shown), (args, shown)
    assert "red message" in _runs(config, "--status", "FAIL")
    from magnus_core.index import RunQuery, open_index
    from magnus_core.stores import make_store

    index = open_index(make_store(store_block))
    try:
        (summary,) = [r.summary for r in index.query(RunQuery()).runs if r.summary.run_id == "r1"]
    finally:
        index.close()
    assert "red message" in summary.failure and not CONTROL.search(summary.failure), summary.failure


def _failed_run(git_repo: Path, block: dict[str, Any]) -> Path:
    config = git_repo / "store.yaml"
    config.write_text(yaml.safe_dump({"run_log_store": block}))
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    done = run_magnus("execute", "-f", "p.yaml", "-c", str(config), "--run-id", "r1")
    assert done.returncode == 1, done.stderr
    return config


def _as_before(failure: str) -> str:
    """The failure as record.failure_text wrote it before b8ba88e: the step's message as raised."""
    assert "red message rest" in failure and not CONTROL.search(failure), failure
    return failure.replace("red message rest", "\x1b[31mred message\x1b[0m \x1b]0;pwned title\x07rest")


def test_an_sqlite_index_of_schema_17_strips_its_failures_escapes(git_repo: Path) -> None:
    from magnus_core.index import index_path
    from magnus_core.index.sqlite import SCHEMA_VERSION
    from magnus_core.stores import make_store

    block = {"type": "file-system", "config": {"log_folder": str(git_repo / "logs")}}
    config = _failed_run(git_repo, block)
    _runs(config)  # the index made
    path = index_path(make_store(block))
    assert path is not None
    conn = sqlite3.connect(path)  # as the previous magnus left it: schema 17, the failure as raised
    (failure,) = conn.execute("SELECT failure FROM runs WHERE run_id = 'r1'").fetchone()
    conn.execute("UPDATE runs SET failure = ? WHERE run_id = 'r1'", (_as_before(failure),))
    conn.execute("UPDATE meta SET value = '17' WHERE key = 'schema'")
    conn.commit()
    conn.close()

    _every_listing_clean(config, block)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (SCHEMA_VERSION,)
    (kept,) = conn.execute("SELECT failure FROM runs WHERE run_id = 'r1'").fetchone()
    conn.close()
    assert kept == failure  # as a fresh index keeps it: the same text, no log read again


@pytest.mark.parametrize("old", ["16", "15"])
def test_an_sqlite_index_of_an_older_schema_strips_them_too(git_repo: Path, old: str) -> None:
    """Schema 16 reads only its running runs again, so an ended run's failure is stripped in place (it failed
    on the old code); 15 reads every run again, and strips in place before that too."""
    from magnus_core.index import index_path
    from magnus_core.stores import make_store

    block = {"type": "file-system", "config": {"log_folder": str(git_repo / "logs")}}
    config = _failed_run(git_repo, block)
    _runs(config)
    path = index_path(make_store(block))
    assert path is not None
    conn = sqlite3.connect(path)
    (failure,) = conn.execute("SELECT failure FROM runs WHERE run_id = 'r1'").fetchone()
    conn.execute("UPDATE runs SET failure = ? WHERE run_id = 'r1'", (_as_before(failure),))
    conn.execute("ALTER TABLE runs DROP COLUMN steps_running")
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (old,))
    conn.commit()
    conn.close()
    _every_listing_clean(config, block)


def test_a_postgres_index_of_migration_7_strips_its_failures_escapes(
    git_repo: Path, store_block: Any
) -> None:
    """Migration 8 strips the failures' escapes of the rows an older magnus made; `magnus runs` (which
    migrates the schema as it opens the store) never shows them."""
    from magnus_core.index import open_index
    from magnus_core.stores import make_store
    from magnus_core.stores.postgres import SCHEMA_VERSION, schema_version

    block = store_block("postgres")
    config = _failed_run(git_repo, block)
    pg = make_store(block)
    assert open_index(pg).refresh().read == 1
    (failure,) = pg.db.run(
        "test",
        lambda c: c.execute(pg._sql("SELECT failure FROM {t}.run_index WHERE run_id = 'r1'")).fetchone(),
    )
    pg.db.run(  # what the previous magnus left: the failure as raised, migrations up to 7
        "test",
        lambda c: (
            c.execute(
                pg._sql("UPDATE {t}.run_index SET failure = %s WHERE run_id = 'r1'"), (_as_before(failure),)
            ),
            c.execute(pg._sql("DELETE FROM {t}.magnus_schema WHERE version >= 8")),
        ),
    )
    schema = block["config"]["schema"]
    assert pg.db.run("test", lambda c: schema_version(c, schema)) == 7

    _every_listing_clean(config, block)
    assert pg.db.run("test", lambda c: schema_version(c, schema)) == SCHEMA_VERSION
    (kept,) = pg.db.run(
        "test",
        lambda c: c.execute(pg._sql("SELECT failure FROM {t}.run_index WHERE run_id = 'r1'")).fetchone(),
    )
    assert kept == failure
