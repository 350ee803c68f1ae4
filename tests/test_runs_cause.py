"""Session 11 (views10's left item): `magnus runs --status FAIL` and `--json`'s `failure` (the run index's
record) named the outer exception only, `RuntimeError: could not load config`, where `magnus show`, `magnus
logs` and the workbench give the chained cause that was the reason under it (`caused by JSONDecodeError:
..., at steps.py:N in _read`). Now the failure's line ends with that cause as show says it; an index made
before reads its failed runs again (SQLite schema 19, the postgres store's migration 9).

Real runs of `magnus execute` in subprocesses; the older index is the one made, put back as the previous
magnus left it (its schema version, the failure without its cause); a real PostgreSQL server."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import run_magnus

STEPS = """import json


def _read():
    return json.loads("{bad")


def _mid():
    try:
        _read()
    except ValueError as exc:
        raise KeyError("cfg") from exc


def chained():
    try:
        _mid()
    except KeyError as exc:
        raise RuntimeError("could not load config") from exc


def handling():
    try:
        {}["missing"]
    except KeyError:
        raise ValueError("no default either")
"""

PIPELINE = """dag:
  start_at: s
  steps:
    s: {{type: task, command: steps.{function}, next: success}}
    success: {{type: success}}
    fail: {{type: fail}}
"""

CAUSE = (
    "caused by JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
)
OUTER = "RuntimeError: could not load config (at steps.py:19 in chained)"


def _runs(config: Path, *args: str) -> str:
    done = run_magnus("runs", "-c", str(config), *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _failed_runs(repo: Path, block: dict[str, Any]) -> Path:
    config = repo / "store.yaml"
    config.write_text(yaml.safe_dump({"run_log_store": block}))
    (repo / "steps.py").write_text(STEPS)
    for function in ("chained", "handling"):
        (repo / f"{function}.yaml").write_text(PIPELINE.format(function=function))
        done = run_magnus("execute", "-f", f"{function}.yaml", "-c", str(config), "--run-id", function)
        assert done.returncode == 1, done.stderr
    return config


def _listed_with_causes(config: Path) -> None:
    """`--status FAIL`'s lines, --json's failure and `magnus show`'s cause line agree."""
    shown = run_magnus("show", "chained", "-c", str(config)).stdout
    assert f"  {CAUSE}, at steps.py:5 in _read" in shown.splitlines(), shown
    listed = _runs(config, "--status", "FAIL")
    assert f"chained: s: {OUTER}; {CAUSE}, at steps.py:5 in _read" in listed.splitlines(), listed
    assert (
        "handling: s: ValueError: no default either (at steps.py:26 in handling); "
        "raised while handling KeyError: 'missing', at steps.py:24 in handling"
    ) in listed.splitlines(), listed
    runs = {r["run_id"]: r for r in json.loads(_runs(config, "--json"))["runs"]}
    assert runs["chained"]["failure"] == f"{OUTER}; {CAUSE}, at steps.py:5 in _read", runs["chained"]
    assert runs["chained"]["failed_step"] == "s"


def test_runs_status_fail_gives_the_chained_cause_as_show_does(git_repo: Path) -> None:
    config = _failed_runs(git_repo, {"type": "file-system", "config": {"log_folder": str(git_repo / "logs")}})
    _listed_with_causes(config)


def test_a_long_message_is_cut_before_its_cause(git_repo: Path) -> None:
    """The index keeps 300 characters of a failure: a long outer message is cut, the cause kept whole."""
    config = _failed_runs(git_repo, {"type": "file-system", "config": {"log_folder": str(git_repo / "logs")}})
    (git_repo / "steps.py").write_text(
        STEPS.replace('"could not load config"', '"could not load " + "x" * 400')
    )
    done = run_magnus("execute", "-f", "chained.yaml", "-c", str(config), "--run-id", "long")
    assert done.returncode == 1, done.stderr
    (run,) = [r for r in json.loads(_runs(config, "--json"))["runs"] if r["run_id"] == "long"]
    assert run["failure"].startswith("RuntimeError: could not load xxx") and len(run["failure"]) <= 300
    assert run["failure"].endswith(f"...; {CAUSE}, at steps.py:5 in _read"), run["failure"]


def _without_cause(failure: str) -> str:
    assert "; caused by" in failure or "; raised while" in failure, failure
    return failure.split("; ", 1)[0]


def test_an_sqlite_index_of_schema_18_reads_its_failed_runs_again(git_repo: Path) -> None:
    from magnus_core.index import index_path
    from magnus_core.index.sqlite import SCHEMA_VERSION
    from magnus_core.stores import make_store

    block = {"type": "file-system", "config": {"log_folder": str(git_repo / "logs")}}
    config = _failed_runs(git_repo, block)
    _runs(config)  # the index made
    path = index_path(make_store(block))
    assert path is not None
    conn = sqlite3.connect(path)  # as the previous magnus left it: schema 18, the failures without causes
    for run_id, failure in conn.execute("SELECT run_id, failure FROM runs").fetchall():
        conn.execute("UPDATE runs SET failure = ? WHERE run_id = ?", (_without_cause(failure), run_id))
    conn.execute("UPDATE meta SET value = '18' WHERE key = 'schema'")
    conn.commit()
    conn.close()
    _listed_with_causes(config)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (SCHEMA_VERSION,)
    conn.close()


def test_a_postgres_index_of_migration_8_reads_its_failed_runs_again(
    git_repo: Path, store_block: Any
) -> None:
    from magnus_core.index import open_index
    from magnus_core.stores import make_store
    from magnus_core.stores.postgres import SCHEMA_VERSION, schema_version

    block = store_block("postgres")
    config = _failed_runs(git_repo, block)
    pg = make_store(block)
    assert open_index(pg).refresh().read == 2
    rows = pg.db.run(
        "test", lambda c: c.execute(pg._sql("SELECT run_id, failure FROM {t}.run_index")).fetchall()
    )

    def as_before(
        c: Any,
    ) -> None:  # what the previous magnus left: failures without causes, migrations up to 8
        for run_id, failure in rows:
            c.execute(
                pg._sql("UPDATE {t}.run_index SET failure = %s WHERE run_id = %s"),
                (_without_cause(failure), run_id),
            )
        c.execute(pg._sql("DELETE FROM {t}.magnus_schema WHERE version >= 9"))

    pg.db.run("test", as_before)
    schema = block["config"]["schema"]
    assert pg.db.run("test", lambda c: schema_version(c, schema)) == 8
    _listed_with_causes(config)
    assert pg.db.run("test", lambda c: schema_version(c, schema)) == SCHEMA_VERSION


DIFF_STEPS = """import json
import os


def _read():
    if os.environ.get("MISSING"):
        return open("nope.json").read()
    return json.loads("{bad")


def chained():
    try:
        _read()
    except Exception as exc:
        raise RuntimeError("could not load config") from exc
"""


def test_the_diff_of_two_failures_tells_their_causes_apart(git_repo: Path) -> None:
    """The same kind of fault in `magnus diff`: two runs whose step raised the same RuntimeError from other
    causes read no error change (the row named the outer exception only); now the error is compared and
    shown with its cause, as show gives it."""
    (git_repo / "steps.py").write_text(DIFF_STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE.format(function="chained"))
    assert run_magnus("execute", "-f", "p.yaml", "--run-id", "bad-json").returncode == 1
    assert run_magnus("execute", "-f", "p.yaml", "--run-id", "no-file", env={"MISSING": "1"}).returncode == 1
    done = run_magnus("diff", "bad-json", "no-file", "--json")
    (error,) = [c for c in json.loads(done.stdout)["groups"]["steps"]["changes"] if c["field"] == "error"]
    outer = "RuntimeError: could not load config  at steps.py:15"
    assert error["before"] == f"{outer}; {CAUSE}, at steps.py:8 in _read", error
    assert error["after"] == (
        f"{outer}; caused by FileNotFoundError: [Errno 2] No such file or directory: 'nope.json', "
        "at steps.py:7 in _read"
    ), error
