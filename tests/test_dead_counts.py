"""A run killed outright reads one count of its steps in every view (trial 13 fault 2): `magnus show`, the
summary and the workbench's run header counted the step the dead process was running as ran (cut short,
INTERRUPTED: `2/3 steps ran: 1 SUCCESS, 1 INTERRUPTED, 1 not run`), while `magnus runs`, `--json`'s
steps_done and the workbench's runs list, answered by the run index, left it out (`1/3`). The index keeps
the steps a run was running (RunRecord.steps_running) and counts them once the run's process is found gone
(record.dead_done): the SQLite index (schema 17) and the postgres store's (migration 7).

Real runs of `magnus execute` in subprocesses that segfault (`ctypes.string_at(0)`) or are killed -9 while
the index has already read them alive; a real PostgreSQL server (tests/servers.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, run_magnus

STEPS = """
import ctypes
import os
import time
from pathlib import Path


def ok():
    print("fine", flush=True)


def crash():
    print("calling the C extension with batch 17", flush=True)
    if os.environ.get("CRASH") == "segv":
        ctypes.string_at(0)
    while not Path("never").exists():  # killed -9 from outside
        time.sleep(0.05)
"""

PIPELINE = """dag:
  start_at: s0
  steps:
    s0: {type: task, command: steps.ok, next: crash}
    crash: {type: task, command: steps.crash, next: after}
    after: {type: task, command: steps.ok, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def _config(git_repo: Path, kind: str, request: pytest.FixtureRequest | None) -> Path:
    if kind == "postgres":
        assert request is not None
        from tests.conftest import fresh_schema

        server = request.getfixturevalue("postgres")
        store: dict[str, Any] = {"type": "postgres", "config": {"dsn": server.dsn, "schema": fresh_schema()}}
    else:
        store = {"type": kind, "config": {"log_folder": str(git_repo / "logs")}}
    config = git_repo / "store.yaml"
    config.write_text(yaml.safe_dump({"run_log_store": store}))
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    return config


def _steps_column(config: Path, run_id: str) -> str:
    listed = run_magnus("runs", "-c", str(config))
    assert listed.returncode == 0, listed.stderr
    for row in listed.stdout.splitlines()[1:]:
        if row.startswith(f"{run_id} "):
            (steps,) = re.findall(r" (\d+/≥?\d+)(?: |$)", row)
            return steps
    raise AssertionError(listed.stdout)


def _every_count(config: Path, run_id: str) -> None:
    """Every view of the dead run `run_id` says 2/3: show, runs, --json, --where, the workbench's list."""
    shown = run_magnus("show", run_id, "-c", str(config))
    assert "2/3 steps ran: 1 SUCCESS, 1 INTERRUPTED, 1 not run" in shown.stdout, shown.stdout
    assert _steps_column(config, run_id) == "2/3"
    listed = run_magnus("runs", "-c", str(config), "--json")
    (run,) = [r for r in json.loads(listed.stdout)["runs"] if r["run_id"] == run_id]
    assert (run["state"], run["steps_done"], run["steps"]) == ("INTERRUPTED", 2, 3), run
    found = run_magnus("runs", "-c", str(config), "--where", "attributes.steps_done = 2", "--json")
    assert [r["run_id"] for r in json.loads(found.stdout)["runs"]] == [run_id], found.stdout
    # the workbench's runs list and its panel read the index's summaries (magnus_tui/screens/runs.py)
    from magnus_core.index import RunQuery, open_index
    from magnus_core.stores import make_store

    block = yaml.safe_load(config.read_text())["run_log_store"]
    index = open_index(make_store(block))
    try:
        (summary,) = [r.summary for r in index.query(RunQuery()).runs if r.summary.run_id == run_id]
        table = index.table(RunQuery())
    finally:
        index.close()
    assert (summary.steps_done, summary.steps) == (2, 3)
    assert table.step_texts[list(table.run_ids).index(run_id)] == "2/3"


@pytest.mark.parametrize("kind", ["file-system", "chunked-fs", "postgres"])
def test_a_segfaulted_runs_cut_short_step_ran_in_every_view(
    git_repo: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    config = _config(git_repo, kind, request)
    done = run_magnus(
        "execute", "-f", "p.yaml", "-c", str(config), "--run-id", "segv1", env={"CRASH": "segv"}
    )
    assert done.returncode == -signal.SIGSEGV, done.stderr
    _every_count(config, "segv1")


@pytest.mark.parametrize("kind", ["file-system", "chunked-fs", "postgres"])
def test_a_run_the_index_read_alive_reads_its_cut_short_step_ran_once_killed(
    git_repo: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    """The index read the run while its step ran (1/3, the step running); killed -9 then, its log may
    never change again (chunked-fs, postgres), yet it reads 2/3 as `magnus show` does."""
    config = _config(git_repo, kind, request)
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "-c", str(config), "--run-id", "k9"],
        cwd=git_repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # `crash` is running, and the index has read it so
            shown = run_magnus("show", "k9", "--json", "-c", str(config))
            if shown.returncode == 0 and json.loads(shown.stdout)["steps"].get("crash", {}).get("status"):
                break
            assert time.monotonic() < deadline and proc.poll() is None, shown.stderr
            time.sleep(0.1)
        assert _steps_column(config, "k9") == "1/3"  # alive: a step running now has not ran yet
        time.sleep(1.5)  # (file-system: the spaced write of the run's file, so its log is read whole)
        assert _steps_column(config, "k9") == "1/3"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    _every_count(config, "k9")


def test_an_sqlite_index_of_schema_16_reads_its_running_runs_again(git_repo: Path) -> None:
    """Schema 17 adds steps_running in place: the runs an index of 16 holds as running are read again
    (a dead one then reads 2/3), the ended ones are not."""
    from magnus_core.index import RunQuery, index_path, open_index
    from magnus_core.index.sqlite import SCHEMA_VERSION
    from magnus_core.stores import make_store

    config = _config(git_repo, "file-system", None)
    (git_repo / "never").write_text("")  # crash() returns at once without CRASH
    assert run_magnus("execute", "-f", "p.yaml", "-c", str(config), "--run-id", "ok").returncode == 0
    done = run_magnus(
        "execute", "-f", "p.yaml", "-c", str(config), "--run-id", "segv1", env={"CRASH": "segv"}
    )
    assert done.returncode == -signal.SIGSEGV, done.stderr
    store = make_store(yaml.safe_load(config.read_text())["run_log_store"])
    open_index(store).query(RunQuery())
    path = index_path(store)
    assert path is not None
    conn = sqlite3.connect(path)  # as the previous magnus left it: no steps_running, the dead run at 1/3
    conn.executescript(
        "ALTER TABLE runs DROP COLUMN steps_running; UPDATE runs SET steps_done = 1, step_text = '1/3' "
        "WHERE run_id = 'segv1'; UPDATE meta SET value = '16' WHERE key = 'schema';"
    )
    conn.close()

    index = open_index(make_store(yaml.safe_load(config.read_text())["run_log_store"]))
    try:
        assert index.refresh().read == 1  # the run recorded as running only
        summaries = {r.summary.run_id: r.summary for r in index.query(RunQuery()).runs}
    finally:
        index.close()
    assert {k: (s.steps_done, s.steps) for k, s in summaries.items()} == {"ok": (3, 3), "segv1": (2, 3)}
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (SCHEMA_VERSION,)


def test_a_postgres_index_of_migration_6_reads_its_running_runs_again(
    git_repo: Path, store_block: Any
) -> None:
    """Migration 7 adds steps_running; the rows of runs recorded as running are read again (a dead one
    then reads 2/3), a team's ended runs are not."""
    from magnus_core.index import RunQuery, open_index
    from magnus_core.stores import make_store
    from magnus_core.stores.postgres import SCHEMA_VERSION, migrate

    block = store_block("postgres")
    config = git_repo / "store.yaml"
    config.write_text(yaml.safe_dump({"run_log_store": block}))
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    (git_repo / "never").write_text("")
    assert run_magnus("execute", "-f", "p.yaml", "-c", str(config), "--run-id", "ok").returncode == 0
    done = run_magnus(
        "execute", "-f", "p.yaml", "-c", str(config), "--run-id", "segv1", env={"CRASH": "segv"}
    )
    assert done.returncode == -signal.SIGSEGV, done.stderr
    pg = make_store(block)
    assert open_index(pg).refresh().read == 2
    schema = block["config"]["schema"]
    pg.db.run(  # what the previous magnus left: no steps_running, the dead run at 1/3, migrations up to 6
        "test",
        lambda c: c.execute(
            pg._sql(
                "ALTER TABLE {t}.run_index DROP COLUMN steps_running; "
                "UPDATE {t}.run_index SET steps_done = 1 WHERE run_id = 'segv1'; "
                "DELETE FROM {t}.magnus_schema WHERE version >= 7"
            )
        ),
    )
    assert pg.db.run("test", lambda c: migrate(c, schema, "test")) == 6 < SCHEMA_VERSION
    index = open_index(make_store(block))
    assert index.refresh().read == 1  # the run recorded as running only
    found = {r.summary.run_id: (r.summary.steps_done, r.summary.steps) for r in index.query(RunQuery()).runs}
    assert found == {"ok": (3, 3), "segv1": (2, 3)}
