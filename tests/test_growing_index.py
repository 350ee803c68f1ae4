"""A running run whose total may still grow (progress.Progress.growing: a map not fanned out yet) reads
`0/≥2` in `magnus runs` whichever store keeps it (session 9, fault 2): since a20d060 the SQLite index (the
file-based stores) kept it in its steps' text, while the PostgreSQL index kept nothing of it and said plain
`0/2`, so one run read differently for a team than on a laptop. Real runs in subprocesses, a real
PostgreSQL server (tests/servers.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, fresh_schema, run_magnus

MAP_LATER = """
dag:
  start_at: wait
  steps:
    wait:
      type: task
      command_type: shell
      command: 'for i in $(seq 1200); do [ -f go ] && exit 0; sleep 0.05; done; exit 1'
      next: each
    each:
      type: map
      iterate_on: items
      iterate_as: item
      next: success
      branch:
        start_at: t
        steps:
          t: {type: stub, next: success}
          success: {type: success}
          fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""


def _steps_column(config: Path, run_id: str) -> str:
    """The steps column of `run_id` in `magnus runs -c config`, as printed."""
    listed = run_magnus("runs", "-c", str(config))
    assert listed.returncode == 0, listed.stderr
    for row in listed.stdout.splitlines()[1:]:
        if row.startswith(f"{run_id} "):
            (steps,) = re.findall(r" (\d+/≥?\d+)(?: |$)", row)
            return steps
    raise AssertionError(listed.stdout)


@pytest.mark.parametrize("kind", ["file-system", "postgres"])
def test_a_running_maps_total_reads_as_a_floor_in_every_stores_index(
    git_repo: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    if kind == "postgres":
        server = request.getfixturevalue("postgres")
        store = {"type": "postgres", "config": {"dsn": server.dsn, "schema": fresh_schema()}}
    else:
        store = {"type": "file-system", "config": {"log_folder": str(git_repo / "logs")}}
    config = git_repo / "store.yaml"
    config.write_text(yaml.safe_dump({"run_log_store": store}))
    (git_repo / "later.yaml").write_text(MAP_LATER)
    (git_repo / "items.yaml").write_text("items: [1, 2, 3]\n")
    command = ["execute", "-f", "later.yaml", "-p", "items.yaml", "-c", str(config), "--run-id", "later"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", *command],
        cwd=git_repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # the run is in the store, at its first step (the map not reached)
            shown = run_magnus("show", "later", "--json", "-c", str(config))
            if shown.returncode == 0 and "wait" in json.loads(shown.stdout)["steps"]:
                break
            assert time.monotonic() < deadline and proc.poll() is None, shown.stderr
            time.sleep(0.1)
        assert _steps_column(config, "later") == "0/≥2"
        (git_repo / "go").write_text("")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert _steps_column(config, "later") == "4/4"  # the run has ended: its total, no floor


def test_a_postgres_index_of_the_previous_migration_reads_its_running_runs_again(
    git_repo: Path, store_block: Any
) -> None:
    """Migration 6 adds the `growing` column; the rows of runs still running (the only ones it is shown
    for) are read again at the next refresh, the others are not: a team's 20,000 ended runs stay as
    indexed."""
    from magnus_core.index import RunQuery, open_index
    from magnus_core.models.run_log import RunLog
    from magnus_core.stores import make_store
    from magnus_core.stores.postgres import SCHEMA_VERSION, migrate

    block = store_block("postgres")
    pg = make_store(block)
    config = git_repo / "store.yaml"
    config.write_text(yaml.safe_dump({"run_log_store": block}))
    (git_repo / "done.yaml").write_text(MAP_LATER)
    (git_repo / "items.yaml").write_text("items: [1, 2, 3]\n")
    (git_repo / "go").write_text("")
    done = run_magnus("execute", "-f", "done.yaml", "-p", "items.yaml", "-c", str(config), "--run-id", "done")
    assert done.returncode == 0, done.stderr
    ended = pg.get_run("done")
    running = RunLog.model_validate(  # the same run as it was before its map: PROCESSING, `wait` running
        {
            **ended.model_dump(mode="json"),
            "run_id": "going",
            "status": "PROCESSING",
            "steps": {"wait": {**ended.steps["wait"].model_dump(mode="json"), "status": "PROCESSING"}},
        }
    )
    pg.put_run(running)
    index = open_index(pg)
    assert index.refresh().read == 2
    schema = block["config"]["schema"]
    pg.db.run(  # what the previous magnus left: no growing column, its migrations up to 5
        "test",
        lambda c: c.execute(
            pg._sql(
                "ALTER TABLE {t}.run_index DROP COLUMN growing, DROP COLUMN steps_running; "
                "DELETE FROM {t}.magnus_schema WHERE version >= 6"
            )
        ),
    )
    assert pg.db.run("test", lambda c: migrate(c, schema, "test")) == 5
    index = open_index(make_store(block))
    assert index.refresh().read == 1  # the running run only
    found = {r.summary.run_id: r.summary.growing for r in index.query(RunQuery()).runs}
    assert found == {"going": True, "done": False}
    assert SCHEMA_VERSION >= 6  # (7 added steps_running: tests/test_dead_counts.py)
