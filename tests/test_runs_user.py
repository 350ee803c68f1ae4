"""Who ran each run, and runs driven one step at a time, in the runs lists (team trial item 11, trial 7 item 6):
the run index keeps each run's user (run_config.process.user) and whether it is driven one step per process
(`process.driven: per-step`, or the Argo executor), so `magnus runs` (table, `--user`, `user = '...'`,
`--json`, `--csv`) and the workbench list them without reading a log; an index of the previous schema and a
postgres database at the previous migration take the columns in place (no log read again)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest
from click.testing import CliRunner

from magnus_core.index import RunQuery, index_path, open_index
from magnus_core.index.record import record_from_json
from magnus_core.index.sqlite import SCHEMA_VERSION
from magnus_core.query import parse_filter
from magnus_core.stores import make_store
from magnus_core.stores.file_system import FileSystemRunLogStore
from tests.conftest import ROOT
from tests.runlog_factory import make_log, write_log

# The documented structure of one run in `magnus runs --json` (docs/runs.md); every field is required.
TEXT_FIELDS = (
    "tag", "start", "end", "original_run_id", "broken_reason", "pipeline", "dag_hash", "commit", "failed_step",
    "failure",
)  # fmt: skip
RUN = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        *("run_id", "status", "state", "duration", "steps", "steps_done", "dirty", "user", "driven"),
        *TEXT_FIELDS,
    ],
    "properties": {
        "run_id": {"type": "string"},
        "status": {"type": "string"},
        "state": {"enum": ["SUCCESS", "FAIL", "RUNNING", "PER-STEP", "INTERRUPTED", "BROKEN"]},
        "duration": {"type": ["number", "null"]},
        "steps": {"type": "integer"},
        "steps_done": {"type": "integer"},
        "dirty": {"type": ["boolean", "null"]},
        "user": {"type": "string"},
        "driven": {"enum": ["", "per-step"]},
        **{name: {"type": "string"} for name in TEXT_FIELDS},
    },
}
RUNS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["schema", "store", "runs"],
    "properties": {
        "schema": {"const": "magnus-runs/2"},
        "store": {"type": "string"},
        "runs": {"type": "array", "items": RUN},
    },
}


def by(run_id: str, minute: int, user: str | None, **kwargs: Any) -> dict[str, Any]:
    data = make_log(run_id, minute=minute, **kwargs)
    if user is not None:
        data["run_config"]["process"]["user"] = user
    return data


def by_hand(run_id: str, minute: int, user: str) -> dict[str, Any]:
    """A run started with `magnus execute_single_node` (single.per_step_process): no pid, `driven`."""
    data = make_log(run_id, minute=minute, status="PROCESSING")
    started = data["run_config"]["process"]["started_at"]
    data["run_config"]["process"] = {"driven": "per-step", "host": "h", "started_at": started, "user": user}
    return data


@pytest.fixture
def team(tmp_path: Path) -> Path:
    """A store with runs of alice and bob, one whose user is not recorded, and one carol drives by hand."""
    folder = tmp_path / "logs"
    for data in (
        by("a1", 0, "alice", tag="exp"),
        by("b1", 1, "bob", tag="exp"),
        by("old", 2, None),
        by("a2", 3, "alice"),
        by_hand("hand", 4, "carol"),
    ):
        write_log(folder, data)
    (tmp_path / "magnus-config.yaml").write_text(
        f"run_log_store:\n  type: file-system\n  config:\n    log_folder: {folder}\n"
    )
    return tmp_path


def cli(project: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    from magnus_core.cli import _register
    from magnus_core.cli import cli as group

    _register()
    monkeypatch.chdir(project)
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner().invoke(group, ["runs", *args])


def test_the_record_keeps_the_user_and_a_run_driven_one_step_at_a_time() -> None:
    assert record_from_json(by("a", 0, "alice")).user == "alice"
    assert record_from_json(by("a", 0, None)).user == ""
    assert record_from_json(by("a", 0, 7)).user == ""  # type: ignore[arg-type]  # (not text: not a user)
    plain = record_from_json(by("a", 0, "alice", status="PROCESSING"))
    assert plain.driven == "" and plain.pid == 1
    hand = record_from_json(by_hand("h", 0, "carol"))
    assert (hand.driven, hand.user, hand.pid) == ("per-step", "carol", None)
    argo = by("g", 0, None, status="PROCESSING")
    argo["run_config"]["executor"] = {"type": "argo", "config": {}}  # an older Argo run (it had a pid)
    assert record_from_json(argo).driven == "per-step"


def test_runs_shows_who_ran_each_run_when_several_did_and_filters_by_user(
    team: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = cli(team, monkeypatch)
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert lines[0].split()[:3] == ["run", "id", "user"]  # right after the run id
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["a1"][1] == "alice" and rows["b1"][1] == "bob" and rows["old"][1] == "unknown"
    # a run started by hand reads PER-STEP, not RUNNING (its duration: to its last step, not ticking)
    assert rows["hand"][1:3] == ["carol", "PER-STEP"] and "(PROCESSING)" in lines[1]
    alone = cli(team, monkeypatch, "--user", "alice")
    assert alone.exit_code == 0 and [line.split()[0] for line in alone.stdout.splitlines()[1:]] == [
        "a2",
        "a1",
    ]
    assert "user" not in alone.stdout.splitlines()[0]  # one user listed: no column
    where = cli(team, monkeypatch, "--where", "user = 'bob' or attributes.user_id = 'carol'", "--json")
    assert [r["run_id"] for r in json.loads(where.stdout)["runs"]] == ["hand", "b1"]
    like = cli(team, monkeypatch, "--where", "user like 'al%' and tag = 'exp'", "--json")
    assert [r["run_id"] for r in json.loads(like.stdout)["runs"]] == ["a1"]
    nobody = cli(team, monkeypatch, "--user", "alcie")
    assert nobody.exit_code == 0 and nobody.stdout.startswith("No runs match --user alcie (5 runs are in ")
    assert "hint: no run was run by 'alcie'; nearest: alice" in nobody.stderr
    csv_head = cli(team, monkeypatch, "--csv").stdout.splitlines()[0].split(",")
    assert csv_head[-2:] == ["user", "driven"]


def test_user_given_twice_lists_either_users_runs_and_an_empty_name_is_refused(
    team: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trial 9, finding 9: `--user bob --user alice` kept alice's runs only (the last one won) and
    `--user ''` said "No runs" with five runs in the store."""
    both = cli(team, monkeypatch, "--user", "bob", "--user", "alice", "--json")
    assert both.exit_code == 0, both.output
    assert [r["run_id"] for r in json.loads(both.stdout)["runs"]] == ["a2", "b1", "a1"]
    with_where = cli(
        team, monkeypatch, "--user", "bob", "--user", "carol", "--where", "tag = 'exp'", "--json"
    )
    assert [r["run_id"] for r in json.loads(with_where.stdout)["runs"]] == ["b1"]
    empty = cli(team, monkeypatch, "--user", "")
    assert empty.exit_code == 2 and "--user" in empty.stderr and "empty" in empty.stderr


def test_a_run_driven_by_hand_has_a_state_of_its_own_that_filters_as_it_reads(
    team: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = json.loads(cli(team, monkeypatch, "--status", "per-step", "--json").stdout)
    ((hand,),) = (listed["runs"],)
    assert (hand["run_id"], hand["status"], hand["state"], hand["driven"]) == (
        "hand",
        "PROCESSING",
        "PER-STEP",
        "per-step",
    )
    assert hand["end"] and hand["duration"] == 2.0  # its last step's end, not the time since it started
    running = cli(team, monkeypatch, "--status", "running")
    assert running.exit_code == 0 and running.stdout.startswith("No runs match --status running")
    for where in ("status = 'PER-STEP'", "attributes.driven = 'per-step'", "status = 'processing'"):
        found = json.loads(cli(team, monkeypatch, "--where", where, "--json").stdout)["runs"]
        assert [r["run_id"] for r in found] == ["hand"], where
    ordered = json.loads(cli(team, monkeypatch, "--order-by", "attributes.status, run_id", "--json").stdout)
    assert [r["state"] for r in ordered["runs"]] == ["PER-STEP", *["SUCCESS"] * 4]  # (by what it reads)
    bad = cli(team, monkeypatch, "--status", "perstep")
    assert bad.exit_code == 2 and "did you mean PER-STEP?" in bad.stderr


def test_runs_json_is_the_documented_structure(team: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real output and the example in docs/runs.md both hold every field the schema above names."""
    out = json.loads(cli(team, monkeypatch, "--json").stdout)
    jsonschema.validate(out, RUNS_SCHEMA)
    assert {r["run_id"]: r["user"] for r in out["runs"]}["old"] == ""
    text = (ROOT / "docs" / "runs.md").read_text()
    example = re.search(r"## `--json`\n\n```json\n(.*?)```", text, re.S)
    assert example is not None
    jsonschema.validate(json.loads(example.group(1)), RUNS_SCHEMA)
    for field in ("`user`", "`driven`"):
        assert field in text[example.end() :].split("\n## ")[0], field  # described under the example


class Counting(FileSystemRunLogStore):
    """A file-system store that says which logs the index read."""

    read: ClassVar[list[str]] = []

    def read_json(self, run_id: str) -> Any:
        self.read.append(run_id)
        return super().read_json(run_id)


def _index_as(store: FileSystemRunLogStore, script: str) -> Path:
    """The store's index made here, then `script` run on it (what an older magnus's index held)."""
    index = open_index(store)
    index.query(RunQuery())
    index.close()
    path = index_path(store)
    assert path is not None
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.close()
    return path


def _old_index(store: FileSystemRunLogStore) -> Path:
    """The store's index as the previous schema (11) keeps it: made here, then the two columns this one
    added dropped and the schema set back, which is byte for byte the layout the old code wrote (its
    CREATE TABLE lists the same columns in the same order, without the last two)."""
    return _index_as(
        store,
        "DROP INDEX runs_user; ALTER TABLE runs DROP COLUMN user_name; ALTER TABLE runs DROP COLUMN driven; "
        "ALTER TABLE runs DROP COLUMN steps_running; "
        "UPDATE meta SET value = '11' WHERE key = 'schema';",
    )


def test_an_index_of_the_previous_schema_takes_the_columns_in_place(team: Path) -> None:
    """Not rebuilt: taken up in place; the runs it holds are read again (record 11 changed steps_done), so a
    run driven by hand reads PER-STEP at the first listing and each run's user is known."""
    store = Counting({"log_folder": str(team / "logs")})
    path = _old_index(store)
    store.read = []
    index = open_index(store)
    try:
        summaries = {r.summary.run_id: r.summary for r in index.query(RunQuery()).runs}
    finally:
        index.close()
    # (schema 14, record 11: steps_done counts the steps that ran, so every run is read again once, in
    # place, which fills the user of each too: s7-trialcore, trial 8 finding 7)
    assert {k: (s.user, s.state) for k, s in summaries.items()} == {
        "a1": ("alice", "SUCCESS"),
        "b1": ("bob", "SUCCESS"),
        "old": ("", "SUCCESS"),
        "a2": ("alice", "SUCCESS"),
        "hand": ("carol", "PER-STEP"),
    }
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (SCHEMA_VERSION,)
    assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs_user'").fetchone() == (1,)
    assert sorted(store.read) == sorted(summaries)  # each read again once, not rebuilt
    # written again as magnus writes a log (a new file renamed over the old one): filled
    os.replace(write_log(team / "new", by("b1", 1, "bob", tag="exp2")), team / "logs" / "b1.json")
    index = open_index(store)
    try:
        (b1,) = index.query(RunQuery(user="bob")).runs
    finally:
        index.close()
    assert (b1.summary.tag, b1.summary.user) == ("exp2", "bob")


def test_a_postgres_database_of_the_previous_migration_is_filled_in_place(team: Path, store_block) -> None:
    """Migration 5 adds the columns and fills them from each run's run_config in the database (only its
    `process` and `executor`), reading no run log again: the team's next listing reads nothing."""
    from magnus_core.index.postgres import PostgresRunIndex
    from magnus_core.stores.postgres import SCHEMA_VERSION, migrate

    files = FileSystemRunLogStore({"log_folder": str(team / "logs")})
    block = store_block("postgres")
    pg = make_store(block)
    for run_id in files.list_run_ids():
        pg.put_run(files.get_run(run_id))
    assert open_index(pg).refresh().read == 5
    schema = block["config"]["schema"]
    pg.db.run(  # what the previous magnus left: its columns, its migrations
        "test",
        lambda c: c.execute(
            pg._sql(
                "ALTER TABLE {t}.run_index DROP COLUMN user_name, DROP COLUMN driven, DROP COLUMN growing, "
                "DROP COLUMN steps_running; "
                "DELETE FROM {t}.magnus_schema WHERE version >= 5"
            )
        ),
    )
    assert pg.db.run("test", lambda c: migrate(c, schema, "test")) == 4 < SCHEMA_VERSION
    index = open_index(make_store(block))
    assert isinstance(index, PostgresRunIndex)
    assert index.refresh().read == 1  # 'hand', still PROCESSING: migration 6 reads running runs again
    found = {r.summary.run_id: (r.summary.user, r.summary.state) for r in index.query(RunQuery()).runs}
    assert found == {
        "a1": ("alice", "SUCCESS"),
        "b1": ("bob", "SUCCESS"),
        "old": ("", "SUCCESS"),
        "a2": ("alice", "SUCCESS"),
        "hand": ("carol", "PER-STEP"),
    }
    assert [r.summary.run_id for r in index.query(RunQuery(user="alice")).runs] == ["a2", "a1"]
    assert [r.summary.run_id for r in index.query(RunQuery(status="per-step")).runs] == ["hand"]
    shown = index.query(RunQuery(where=parse_filter("user_name = 'bob' or status = 'PER-STEP'"))).runs
    assert [r.summary.run_id for r in shown] == ["hand", "b1"]


def test_an_index_of_schema_12_gets_the_users_index_in_place(team: Path) -> None:
    """(Schema 14, record 11: steps_done counts the steps that ran, so each run is read again once.)"""
    store = Counting({"log_folder": str(team / "logs")})
    path = _index_as(
        store,
        "DROP INDEX runs_user; ALTER TABLE runs DROP COLUMN steps_running; "
        "UPDATE meta SET value = '12' WHERE key = 'schema';",
    )
    store.read = []
    index = open_index(store)
    try:
        assert [r.summary.run_id for r in index.query(RunQuery(user="carol")).runs] == ["hand"]
    finally:
        index.close()
    assert sorted(store.read) == ["a1", "a2", "b1", "hand", "old"]
    assert sqlite3.connect(path).execute(
        "SELECT 1 FROM sqlite_master WHERE name = 'runs_user'"
    ).fetchone() == (1,)
