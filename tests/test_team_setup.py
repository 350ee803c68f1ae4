"""The team setup: run logs in PostgreSQL and the catalog in an S3 bucket, both real servers started by the
test session. Bad configuration and unreachable servers are one-line errors before anything is written;
credentials come from the environment or the secrets provider and never reach a run log."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from magnus_core.stores import make_store
from tests.conftest import ROOT, fresh_schema
from tests.servers import PG_PASSWORD, S3_SECRET, free_port

ONE_STEP = """
dag:
  start_at: a
  steps:
    a: {type: task, command_type: shell, command: "mkdir -p data && echo hello > data/out.txt", next: success,
        catalog: {put: [out.txt]}}
    success: {type: success}
    fail: {type: fail}
"""


def team_config(postgres, bucket: str, **extra: dict) -> dict:
    config = {
        "run_log_store": {"type": "postgres", "config": {"dsn": postgres.dsn, "schema": fresh_schema()}},
        "catalog": {"type": "fsspec", "config": {"url": f"s3://{bucket}/catalog"}},
    }
    for key, value in extra.items():
        config[key] = value
    return config


def write_config(repo: Path, config: dict, name: str = "team.yaml") -> str:
    (repo / name).write_text(yaml.safe_dump(config))
    return name


def test_a_run_on_postgres_and_s3_keeps_no_credential_anywhere(
    git_repo: Path, magnus, postgres, bucket, s3
) -> None:
    (git_repo / "p.yaml").write_text(ONE_STEP)
    config = team_config(postgres, bucket)
    result = magnus("execute", "-f", "p.yaml", "-c", write_config(git_repo, config), "--json", "--x", "3")
    assert result.returncode == 0, result.stderr
    log = json.loads(result.stdout)
    record = log["steps"]["a"]["data_catalog"][0]
    assert record["catalog_handler_location"] == f"s3://{bucket}/catalog"
    assert s3.filesystem().cat_file(f"{bucket}/catalog/{log['run_id']}/out.txt") == b"hello\n"
    stored = make_store(config["run_log_store"]).get_run(log["run_id"])
    assert stored.model_dump(mode="json") == log  # the same run log, from the database
    text = result.stdout + result.stderr + stored.model_dump_json()
    assert PG_PASSWORD not in text and S3_SECRET not in text
    assert log["run_config"]["run_log_store"] == config["run_log_store"]
    listed = magnus("runs", "-c", "team.yaml", "--json")
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)["runs"]
    # steps: the work steps of the run's path (one task; success and fail nodes are not counted)
    assert [(r["run_id"], r["status"], r["steps"]) for r in runs] == [(log["run_id"], "SUCCESS", 1)]
    again = magnus("execute", "-f", "p.yaml", "-c", "team.yaml", "--x", "4", "--run-id", "second")
    assert again.returncode == 0, again.stderr
    for where, expected in [("params.x = 4", ["second"]), ("params.x < 4", [log["run_id"]])]:
        found = magnus("runs", "-c", "team.yaml", "--json", "--where", where)
        assert found.returncode == 0, found.stderr
        assert [r["run_id"] for r in json.loads(found.stdout)["runs"]] == expected


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"key": "AKIA..."}, "storage_options.key"),
        ({"secret": "s3cr3t"}, "storage_options.secret"),
        (
            {"client_kwargs": {"aws_secret_access_key": "x"}},
            "storage_options.client_kwargs.aws_secret_access_key",
        ),
        ({"token": "t"}, "storage_options.token"),
        ({"account_key": "k"}, "storage_options.account_key"),
    ],
)
def test_a_credential_in_storage_options_is_refused(
    git_repo: Path, magnus, options: dict, field: str
) -> None:
    (git_repo / "p.yaml").write_text(ONE_STEP)
    config = {"catalog": {"type": "fsspec", "config": {"url": "s3://b/c", "storage_options": options}}}
    result = magnus("execute", "-f", "p.yaml", "-c", write_config(git_repo, config))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "team.yaml" in line and f"catalog.config.{field}" in line and "environment" in line
    assert "secret_options" in line
    assert not (git_repo / ".run_log_store").exists()


def test_a_password_in_a_url_or_dsn_is_refused(git_repo: Path, magnus) -> None:
    (git_repo / "p.yaml").write_text(ONE_STEP)
    for config, field in [
        ({"catalog": {"type": "fsspec", "config": {"url": "s3://user:pw@bucket/c"}}}, "catalog.config.url"),
        (
            {"run_log_store": {"type": "postgres", "config": {"dsn": "postgresql://u:pw@127.0.0.1:1/db"}}},
            "run_log_store.config.dsn",
        ),
        (
            {"run_log_store": {"type": "postgres", "config": {"dsn": "host=127.0.0.1 password=pw"}}},
            "run_log_store.config.dsn",
        ),
    ]:
        result = magnus("execute", "-f", "p.yaml", "-c", write_config(git_repo, config))
        assert result.returncode == 2, result.stderr
        assert field in result.stderr and "pw" not in result.stderr.replace("password", "")
        assert len(result.stderr.strip().splitlines()) == 1


def test_credentials_from_the_secrets_provider_reach_s3fs_and_nothing_else(
    git_repo: Path, magnus, bucket, s3
) -> None:
    (git_repo / "p.yaml").write_text(ONE_STEP)
    (git_repo / ".env").write_text(f"S3_KEY={s3.env['AWS_ACCESS_KEY_ID']}\nS3_SECRET={S3_SECRET}\n")
    config = {
        "catalog": {
            "type": "fsspec",
            "config": {
                "url": f"s3://{bucket}/via-secrets",
                "storage_options": {"endpoint_url": s3.endpoint},
                "secret_options": {"key": "S3_KEY", "secret": "S3_SECRET"},
            },
        },
        "secrets": {"type": "dotenv"},
    }
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_ENDPOINT_URL_S3": ""}
    result = magnus("execute", "-f", "p.yaml", "-c", write_config(git_repo, config), "--json", env=env)
    assert result.returncode == 0, result.stderr
    log = json.loads(result.stdout)
    assert s3.filesystem().cat_file(f"{bucket}/via-secrets/{log['run_id']}/out.txt") == b"hello\n"
    assert S3_SECRET not in result.stdout + result.stderr
    assert log["run_config"]["catalog"]["config"]["secret_options"] == {
        "key": "S3_KEY",
        "secret": "S3_SECRET",
    }


def test_a_missing_bucket_is_one_line_before_anything_is_written(git_repo: Path, magnus, s3) -> None:
    (git_repo / "p.yaml").write_text(ONE_STEP)
    config = {"catalog": {"type": "fsspec", "config": {"url": "s3://no-such-bucket-here/c"}}}
    result = magnus("execute", "-f", "p.yaml", "-c", write_config(git_repo, config))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no-such-bucket-here" in result.stderr and "does not exist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (git_repo / ".run_log_store").exists()


def test_missing_or_refused_s3_credentials_are_named_as_credentials(
    git_repo: Path, magnus, s3, bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not as a missing bucket (trial team 6: s3fs's exists() answers False for any failure)."""
    from magnus_core.catalog_fsspec import FsspecCatalog
    from magnus_core.errors import ConfigError
    from tests.servers import S3Server

    (git_repo / "p.yaml").write_text(ONE_STEP)
    config = write_config(git_repo, {"catalog": {"type": "fsspec", "config": {"url": f"s3://{bucket}/c"}}})
    with monkeypatch.context() as patch:  # no credentials anywhere botocore looks (and no instance metadata)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(git_repo / "none"))
        patch.setenv("AWS_CONFIG_FILE", str(git_repo / "none"))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        missing = magnus("execute", "-f", "p.yaml", "-c", config)
    line = missing.stderr.strip()
    assert missing.returncode == 2 and len(line.splitlines()) == 1, line
    # (the line of the field in team.yaml: every config problem names it)
    assert re.match(
        r"Error: team\.yaml: line \d+: field 'catalog\.config\.url': found no credentials", line
    ), line
    assert "AWS_ACCESS_KEY_ID" in line and "secret_options" in line and "does not exist" not in line
    assert not (git_repo / ".run_log_store").exists()
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "0")  # this moto checks keys: ours are unknown to it
    with S3Server() as strict:  # (in this process: the command line's path is the one above)
        options = {"endpoint_url": strict.endpoint}  # its own s3fs instance, not one cached for `s3`
        catalog = FsspecCatalog({"url": f"s3://{bucket}/c", "storage_options": options})
        with pytest.raises(ConfigError) as refused:
            catalog.check()
    line = str(refused.value)
    assert line.startswith("field 'catalog.config.url': the storage service refused the credentials"), line
    assert "does not exist" not in line and "AWS_SECRET_ACCESS_KEY" in line


def test_an_unknown_protocol_is_one_line(git_repo: Path, magnus) -> None:
    (git_repo / "p.yaml").write_text(ONE_STEP)
    config = {"catalog": {"type": "fsspec", "config": {"url": "nosuchproto://x/y"}}}
    result = magnus("execute", "-f", "p.yaml", "-c", write_config(git_repo, config))
    assert result.returncode == 2 and "nosuchproto" in result.stderr and "Traceback" not in result.stderr


def test_a_local_fsspec_catalog_works_like_the_folder_one(git_repo: Path, magnus) -> None:
    (git_repo / "p.yaml").write_text(ONE_STEP)
    config = {"catalog": {"type": "fsspec", "config": {"url": str(git_repo / "shared-catalog")}}}
    result = magnus("execute", "-f", "p.yaml", "-c", write_config(git_repo, config), "--json")
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["run_id"]
    files = sorted(p.relative_to(git_repo).as_posix() for p in (git_repo / "shared-catalog").rglob("*"))
    assert files == [f"shared-catalog/{run_id}", f"shared-catalog/{run_id}/out.txt"]


def test_postgres_wrong_password_server_down_and_bad_schema_are_one_line(
    git_repo: Path, magnus, postgres
) -> None:
    (git_repo / "p.yaml").write_text(ONE_STEP)
    store = {"type": "postgres", "config": {"dsn": postgres.dsn}}
    cases = [
        ({"PGPASSWORD": "wrong"}, store, "password authentication failed", "PGPASSWORD"),
        (
            {},
            {"type": "postgres", "config": {"dsn": f"postgresql://magnus@127.0.0.1:{free_port()}/postgres"}},
            "refused",
            "server is running",
        ),
        (
            {},
            {"type": "postgres", "config": {"dsn": postgres.dsn, "schema": "Bad-Name"}},
            "schema",
            "identifier",
        ),
        (
            {},
            {"type": "postgres", "config": {"dsn": "postgresql://magnus@127.0.0.1:notaport/x"}},
            "notaport",
            "DSN",
        ),
    ]
    fields = ["dsn", "dsn", "schema", "dsn"]
    for (env, block, reason, hint), field in zip(cases, fields, strict=True):
        result = magnus(
            "execute", "-f", "p.yaml", "-c", write_config(git_repo, {"run_log_store": block}), env=env
        )
        assert result.returncode == 2, result.stdout + result.stderr
        line = result.stderr.strip()
        assert len(line.splitlines()) == 1 and "Traceback" not in line, line
        assert reason in line and hint in line, line
        # the file and the field to fix, as the catalog's errors name them (trial team 5)
        assert re.match(rf"Error: team\.yaml: line \d+: field 'run_log_store\.config\.{field}': ", line), line
    # libpq's two lines read as two sentences, not run together ("Connection refused Is the server ...")
    assert "Connection refused. Is the server running" in line or "refused" not in line
    assert not (git_repo / ".run_log_store").exists() and not (git_repo / ".catalog").exists()


def test_every_command_names_the_config_file_of_a_store_that_cannot_be_used(
    git_repo: Path, magnus, postgres
) -> None:
    """`magnus runs`, `show` and the others name the file as `execute` does: a refused password, an unknown
    option (with the option it is near) and a password in the DSN (trial team 5 and 15)."""
    good = {"type": "postgres", "config": {"dsn": postgres.dsn}}
    cases = [
        ({"PGPASSWORD": "wrong"}, good, "field 'run_log_store.config.dsn': ", "password authentication"),
        (
            {},
            {"type": "postgres", "config": {"dsnn": postgres.dsn}},
            "config.dsnn': ",
            "(did you mean 'dsn'?)",
        ),
        (
            {},
            {"type": "postgres", "config": {"dsn": "postgresql://magnus:pw@127.0.0.1/x"}},
            "field 'run_log_store.config.dsn': ",
            "holds a password",
        ),
    ]
    config = git_repo / "magnus-config.yaml"
    for n, (env, block, field, reason) in enumerate(cases):
        config.write_text(yaml.safe_dump({"run_log_store": block}))
        for command in (["runs"], ["show", "last"], ["logs", "last"])[: 3 if n == 0 else 1]:
            result = magnus(*command, env=env)
            line = result.stderr.strip()
            assert result.returncode == 2 and len(line.splitlines()) == 1, (command, line)
            assert line.startswith(f"Error: {config}: ") and field in line and reason in line, (command, line)


def test_an_unknown_catalog_option_is_named_before_a_missing_one(git_repo: Path, magnus) -> None:
    """`uri:` for `url:` is about `uri` (trial team 15: it said "field 'catalog.config.url': Field required")."""
    (git_repo / "p.yaml").write_text(ONE_STEP)
    catalog = {"type": "fsspec", "config": {"uri": "s3://team-bucket/catalog"}}
    result = magnus("execute", "-f", "p.yaml", "-c", write_config(git_repo, {"catalog": catalog}))
    assert result.returncode == 2
    assert re.fullmatch(
        r"Error: team\.yaml: line \d+: field 'catalog\.config\.uri': unknown option \(did you mean 'url'\?\)",
        result.stderr.strip(),
    ), result.stderr


def test_the_schema_is_created_once_versioned_and_a_newer_one_refused(postgres) -> None:
    import psycopg

    from magnus_core.errors import MagnusError
    from magnus_core.stores.postgres import SCHEMA_VERSION, migrate, schema_version

    schema = fresh_schema()
    block = {"type": "postgres", "config": {"dsn": postgres.dsn, "schema": schema}}
    assert make_store(block).list_run_ids() == []  # first use creates it
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        assert schema_version(conn, schema) == SCHEMA_VERSION
        assert migrate(conn, schema, "test") == SCHEMA_VERSION  # nothing to do the second time
        rows = conn.execute(f'SELECT version, description FROM "{schema}".magnus_schema').fetchall()
        assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
        conn.execute(
            f"INSERT INTO \"{schema}\".magnus_schema (version, description) VALUES ({SCHEMA_VERSION + 1}, 'x')"
        )
        with pytest.raises(MagnusError, match="newer than this magnus knows"):
            migrate(conn, schema, "test")


def test_the_composite_example_on_postgres_reads_the_same_as_on_files(
    git_repo: Path, magnus, postgres
) -> None:
    shutil.copytree(ROOT / "examples", git_repo / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    block = {"type": "postgres", "config": {"dsn": postgres.dsn, "schema": fresh_schema()}}
    on_pg = magnus(
        "execute", "-f", "examples/composite.yaml", "-c", write_config(git_repo, {"run_log_store": block})
    )
    on_files = magnus("execute", "-f", "examples/composite.yaml", "--json")
    assert on_pg.returncode == 0 and on_files.returncode == 0, on_pg.stderr + on_files.stderr
    pg_log = make_store(block).get_run(make_store(block).list_run_ids()[0])
    files_log = json.loads(on_files.stdout)

    def shape(log: dict) -> list:
        return [
            (s["internal_name"], s["status"], len(s["attempts"]), s["user_defined_metrics"])
            for s in _walk(log["steps"])
        ]

    pg_dict = pg_log.model_dump(mode="json")
    assert shape(pg_dict) == shape(files_log) and pg_dict["parameters"] == files_log["parameters"]
    assert pg_dict["dag_hash"] == files_log["dag_hash"]


def _walk(steps: dict):
    for step in steps.values():
        yield step
        for branch in step["branches"].values():
            yield from _walk(branch["steps"])


def test_store_copy_moves_runs_between_any_stores_idempotently(git_repo: Path, magnus, postgres) -> None:
    shutil.copytree(ROOT / "examples", git_repo / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    for run_id in ("one", "two"):
        result = magnus("execute", "-f", "examples/composite.yaml", "--run-id", run_id)
        assert result.returncode == 0, result.stderr
    write_config(git_repo, {"run_log_store": {"type": "file-system"}}, "files.yaml")
    pg = {"type": "postgres", "config": {"dsn": postgres.dsn, "schema": fresh_schema()}}
    write_config(git_repo, {"run_log_store": pg}, "team.yaml")
    chunked = {"type": "chunked-fs", "config": {"log_folder": "chunked"}}
    write_config(git_repo, {"run_log_store": chunked}, "chunked.yaml")
    write_config(
        git_repo, {"run_log_store": {"type": "file-system", "config": {"log_folder": "back"}}}, "back.yaml"
    )

    first = magnus("store", "copy", "--all", "--from", "files.yaml", "--to", "team.yaml")
    assert first.returncode == 0, first.stderr
    assert first.stdout.split("\n")[0].startswith("copied") and "2 copied" in first.stderr
    again = magnus("store", "copy", "--all", "--from", "files.yaml", "--to", "team.yaml", "--json")
    assert again.returncode == 0, again.stderr
    assert [(r["run_id"], r["result"]) for r in json.loads(again.stdout)["runs"]] == [
        ("one", "unchanged"),
        ("two", "unchanged"),
    ]
    # and on through chunked-fs back to files: byte for byte the run log the file-system store wrote
    assert magnus("store", "copy", "one", "--from", "team.yaml", "--to", "chunked.yaml").returncode == 0
    assert magnus("store", "copy", "one", "--from", "chunked.yaml", "--to", "back.yaml").returncode == 0
    original = (git_repo / ".run_log_store" / "one.json").read_text()
    assert (git_repo / "back" / "one.json").read_text() == original
    # the workbench's and `magnus runs`' view of the copy
    listed = magnus("runs", "-c", "team.yaml", "--json")
    assert sorted(r["run_id"] for r in json.loads(listed.stdout)["runs"]) == ["one", "two"]


def test_store_copy_never_overwrites_and_says_why(git_repo: Path, magnus) -> None:
    (git_repo / "p.yaml").write_text(ONE_STEP)
    assert magnus("execute", "-f", "p.yaml", "--run-id", "same").returncode == 0
    other = git_repo / "other"
    other.mkdir()
    (other / "p.yaml").write_text(ONE_STEP.replace("hello", "other"))
    assert magnus("execute", "-f", "p.yaml", "--run-id", "same", cwd=other).returncode == 0
    write_config(git_repo, {"run_log_store": {"type": "file-system"}}, "a.yaml")
    write_config(
        git_repo,
        {"run_log_store": {"type": "file-system", "config": {"log_folder": "other/.run_log_store"}}},
        "b.yaml",
    )
    before = (other / ".run_log_store" / "same.json").read_text()
    result = magnus("store", "copy", "same", "nope", "--from", "a.yaml", "--to", "b.yaml")
    assert result.returncode == 1
    assert "differs   same" in result.stdout and "left as is" in result.stdout
    assert "missing   nope" in result.stdout and "no run 'nope'" in result.stdout
    assert (other / ".run_log_store" / "same.json").read_text() == before  # nothing overwritten
    for args, expected in [
        (["--from", "a.yaml", "--to", "b.yaml"], "run ids or --all"),
        (["same", "--all", "--from", "a.yaml", "--to", "b.yaml"], "run ids or --all"),
        (["same", "--from", "a.yaml", "--to", "a.yaml"], "same store"),
        (["same", "--from", "p.yaml", "--to", "b.yaml"], "names no run_log_store"),
        (["same", "--from", "missing.yaml", "--to", "b.yaml"], "not found"),
    ]:
        bad = magnus("store", "copy", *args)
        assert bad.returncode == 2 and expected in bad.stderr and "Traceback" not in bad.stderr, bad.stderr


SLOW = """
dag:
  start_at: a
  steps:
    a: {type: task, command_type: shell, command: "export MAGNUS_PRM_made=1", next: b}
    b: {type: task, command_type: shell, command: "touch started; sleep 3", next: c}
    c: {type: task, command_type: shell, command: "echo done", next: success}
    success: {type: success}
    fail: {type: fail}
"""


def _start(repo: Path, *args: str):
    import os
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "slow.yaml", *args],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, proc) -> None:
    import time

    deadline = time.monotonic() + 60
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert path.exists(), proc.communicate()


def test_a_dropped_connection_is_taken_up_again_and_the_run_finishes(git_repo: Path, postgres) -> None:
    import time

    from tests.servers import TcpProxy

    proxy = TcpProxy(postgres.port)
    try:
        (git_repo / "slow.yaml").write_text(SLOW)
        block = {
            "type": "postgres",
            "config": {
                "dsn": f"postgresql://magnus@127.0.0.1:{proxy.port}/postgres",
                "schema": fresh_schema(),
            },
        }
        write_config(git_repo, {"run_log_store": block}, "proxy.yaml")
        proc = _start(git_repo, "-c", "proxy.yaml", "--run-id", "dropped")
        _wait_for(git_repo / "started", proc)
        proxy.cut()  # the network goes away while step b runs, and comes back 2 s later
        time.sleep(2)
        proxy.restore()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
        assert "lost the connection" in err and "reconnecting" in err
        log = make_store({**block, "config": {**block["config"], "dsn": postgres.dsn}}).get_run("dropped")
        assert log.status == "SUCCESS" and [s.status for s in log.steps.values()] == ["SUCCESS"] * 4
    finally:
        proxy.stop()


def test_a_connection_that_stays_down_stops_the_run_which_resumes_later(git_repo: Path, postgres) -> None:
    import threading
    import time

    from magnus_core.runs import run_state
    from tests.servers import TcpProxy

    proxy = TcpProxy(postgres.port)
    try:
        (git_repo / "slow.yaml").write_text(SLOW)
        schema = fresh_schema()
        dsn = f"postgresql://magnus@127.0.0.1:{proxy.port}/postgres"
        block = {"type": "postgres", "config": {"dsn": dsn, "schema": schema, "reconnect_for": 2}}
        write_config(git_repo, {"run_log_store": block}, "proxy.yaml")
        proc = _start(git_repo, "-c", "proxy.yaml", "--run-id", "down")
        _wait_for(git_repo / "started", proc)
        proxy.cut()
        # The server comes back 1 s after magnus gave up (2 s after the first warning): the budget is the
        # whole outage's, so nothing is tried by then, and the run is recorded as the message says
        # (trial team 4: three 5 s waits, then a FAIL run whose step stayed PROCESSING).
        lines = []
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "reconnecting for up to 2 s" in line:
                threading.Timer(3.0, proxy.restore).start()
        proc.wait(timeout=120)
        err = "".join(lines)
        assert proc.returncode != 0
        last = err.strip().splitlines()[-1]
        assert "did not come back within 2 s" in last and "--use-cached" in last and "Traceback" not in err
        assert "the run stays PROCESSING" in last and err.count("lost the connection") == 1, err
        time.sleep(1.5)  # the restore above has happened
        proxy.restore()
        log = make_store(block).get_run("down")
        assert log.status == "PROCESSING" and run_state(log) == "INTERRUPTED"
        assert log.steps["a"].status == "SUCCESS" and log.parameters == {"made": 1}
        assert log.steps["b"].status == "PROCESSING"
        resume = _start(git_repo, "-c", "proxy.yaml", "--use-cached", "down", "--run-id", "resumed")
        out, err = resume.communicate(timeout=120)
        assert resume.returncode == 0, out + err
        resumed = make_store(block).get_run("resumed")
        assert resumed.status == "SUCCESS" and resumed.steps["a"].mock is True
    finally:
        proxy.stop()


def test_a_pipeline_block_replacing_the_teams_is_said_at_run_start(git_repo: Path, magnus) -> None:
    """Trial team 3: a pipeline's own `catalog:` sent bob's data to his local .catalog/ without a word."""
    team = {"catalog": {"type": "fsspec", "config": {"url": "team-catalog"}}}
    (git_repo / "magnus-config.yaml").write_text(yaml.safe_dump(team))
    own = ONE_STEP + "catalog: {type: file-system, config: {catalog_location: .catalog}}\n"
    (git_repo / "own.yaml").write_text(own)
    result = magnus("execute", "-f", "own.yaml")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith(
        "Warning: the pipeline file own.yaml has its own catalog block (file-system), which replaces the one "
        f"in {git_repo / 'magnus-config.yaml'} (fsspec) for this run"
    ), warnings
    assert (git_repo / ".catalog").is_dir() and not (git_repo / "team-catalog").exists()  # as documented
    # the same block in both, or a --config-file choosing, is no surprise: nothing said
    (git_repo / "same.yaml").write_text(ONE_STEP + "catalog: {type: fsspec, config: {url: team-catalog}}\n")
    write_config(git_repo, team, "chosen.yaml")
    for args in (["-f", "same.yaml"], ["-f", "own.yaml", "-c", "chosen.yaml"]):
        quiet = magnus("execute", *args)
        assert quiet.returncode == 0 and "Warning" not in quiet.stderr, (args, quiet.stderr)


def test_logs_of_a_run_whose_catalog_stayed_on_a_teammates_machine_say_so(
    git_repo: Path, magnus, tmp_path: Path
) -> None:
    """Trial team 3: alice's `magnus logs` of bob's run said only that no file was in her own .catalog/."""
    shared = {"run_log_store": {"type": "file-system", "config": {"log_folder": str(tmp_path / "shared")}}}
    printing = ONE_STEP.replace('"mkdir -p data', '"echo from-bob && mkdir -p data')
    bob, alice = git_repo, tmp_path / "alice"
    alice.mkdir()
    for clone in (bob, alice):
        (clone / "magnus-config.yaml").write_text(yaml.safe_dump(shared))
        (clone / "p.yaml").write_text(printing)
    assert magnus("execute", "-f", "p.yaml", "--run-id", "bobs", cwd=bob).returncode == 0
    result = magnus("logs", "bobs", cwd=alice)
    assert result.returncode == 1 and "from-bob" not in result.stdout
    assert f"the run's catalog was the file-system one at '.catalog' in {bob}, where its files stay" in (
        result.stderr
    ), result.stderr
    # from another machine: its name (run_config.process.host, with the folder it ran in)
    path = tmp_path / "shared" / "bobs.json"
    log = json.loads(path.read_text())
    assert log["run_config"]["process"]["cwd"] == str(bob) and log["run_config"]["process"]["user"]
    assert "Run by" not in magnus("show", "bobs", cwd=alice).stdout  # this user on this machine: not said
    log["run_config"]["process"].update(host="bobs-laptop", user="bob")
    path.write_text(json.dumps(log))
    result = magnus("logs", "bobs", cwd=alice)
    assert f"file-system one at '.catalog' on host 'bobs-laptop' (in {bob})" in result.stderr, result.stderr
    # who ran it, in a shared store (trial team 11)
    assert "\nRun by bob on bobs-laptop\n" in magnus("show", "bobs", cwd=alice).stdout


def test_the_team_servers_script_starts_both_servers_for_trying_and_stops_them(tmp_path: Path) -> None:
    """docs/team.md's way to try the team setup on one machine (trial team 7): the config file it writes
    reaches both servers with the variables it prints, and Ctrl-C stops them."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    import psycopg

    from magnus_core.catalog_fsspec import FsspecCatalog

    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "team_servers.py"), "--bucket", "tried"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        out: list[str] = []
        while not out or not out[-1].startswith("Ctrl-C"):  # ready: what it prints ends with this line
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            out.append(line)
        exports = dict(word.split("=", 1) for word in out[2].split()[1:])
        config = yaml.safe_load((tmp_path / "team-local.yaml").read_text())
        dsn = config["run_log_store"]["config"]["dsn"]
        psycopg.connect(dsn, password=exports["PGPASSWORD"], connect_timeout=5).close()
        catalog = FsspecCatalog(config["catalog"]["config"])
        old = {name: os.environ.get(name) for name in exports}
        os.environ.update(exports)
        try:
            catalog.check()  # the bucket exists and the printed credentials work
        finally:
            for name, value in old.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        ports = [
            int(dsn.split(":")[2].split("/")[0]),
            int(config["catalog"]["config"]["storage_options"]["endpoint_url"].rsplit(":", 1)[1]),
        ]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
        for port in ports:
            with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
                pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
