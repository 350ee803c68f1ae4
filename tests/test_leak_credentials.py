"""The credentials magnus itself uses to reach its stores are masked in everything a run writes, although no
pipeline declares them (trial "team", finding 1: PGPASSWORD and AWS_SECRET_ACCESS_KEY printed by a step's
`env` reached the terminal and the shared bucket). Steps still have them in their environment (a step may
need the database): only what they print is masked.

Real subprocess steps print their environment; every byte magnus wrote (stdout, stderr, the run-log store's
files or the database's rows, the catalog's files or objects, `magnus logs`) is searched for each value and
its encodings."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import yaml

from tests.conftest import fresh_schema, run_magnus
from tests.servers import PG_PASSWORD, S3_SECRET
from tests.test_leaks import encodings

TOKEN = uuid.uuid4().hex[:10]
ENVIRONMENT = {  # every kind of credential variable a store, catalog or tracker library reads
    "PGPASSWORD": f"pgPW-{TOKEN}",
    "AWS_SECRET_ACCESS_KEY": f"awsSECRET{TOKEN}",
    "AWS_SESSION_TOKEN": f"awsSESSION{TOKEN}",
    "AZURE_STORAGE_CONNECTION_STRING": f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=azKEY{TOKEN}==",
    "MLFLOW_TRACKING_PASSWORD": f"mlPW{TOKEN}",
}
PRINTING = """
dag:
  start_at: envdump
  steps:
    envdump:
      type: task
      command_type: shell
      command: >-
        env | grep -E 'PGPASS|AWS_|AZURE|MLFLOW' ; echo "pw is $PGPASSWORD";
        echo "$AZURE_STORAGE_CONNECTION_STRING" | tr ';' '\\n' ; {extra}
        python -c "import os; raise SystemExit('failed with ' + os.environ['AWS_SECRET_ACCESS_KEY'])"
      next: success
    success: {{type: success}}
    fail: {{type: fail}}
"""


def _forbidden(values: list[str]) -> set[str]:
    return set().union(*(encodings(v) for v in values))


def _leaks(text: str, forbidden: set[str]) -> list[str]:
    return sorted(form for form in forbidden if form in text)


def _files(folder: Path) -> str:
    """Every file under `folder` (outside .git), and every file name, as one text."""
    parts = []
    for path in sorted(folder.rglob("*")):
        if ".git" in path.parts:
            continue
        parts.append(str(path))
        if path.is_file():
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def _magnus(
    *args: str, cwd: Path, env: dict[str, str], drop: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return run_magnus(*args, cwd=cwd, env=env, unset=drop)


def test_credentials_in_the_environment_are_masked_on_the_file_system_store_and_catalog(
    git_repo: Path,
) -> None:
    (git_repo / "leak.yaml").write_text(PRINTING.format(extra=""))
    result = _magnus("execute", "-f", "leak.yaml", cwd=git_repo, env=ENVIRONMENT)
    assert result.returncode == 1, (
        result.stderr
    )  # the python line fails the step, with the secret in its message
    # the step had every credential in its environment (masking, not removal) and printed each masked
    for name in ENVIRONMENT:
        assert f"{name}=*****" in result.stdout, result.stdout
    assert "pw is *****" in result.stdout and "AccountKey=*****" in result.stdout
    assert "failed with *****" in result.stderr
    run_id = json.loads(_magnus("runs", "--json", cwd=git_repo, env={}).stdout)["runs"][0]["run_id"]
    logs = _magnus("logs", run_id, cwd=git_repo, env={})
    assert "pw is *****" in logs.stdout, (
        logs.stdout + logs.stderr
    )  # the captured output holds the step's lines
    written = _files(git_repo)
    assert (git_repo / ".catalog" / run_id).is_dir() and (git_repo / ".run_log_store").is_dir()
    forbidden = _forbidden([*ENVIRONMENT.values(), f"azKEY{TOKEN}=="])
    everything = result.stdout + result.stderr + logs.stdout + logs.stderr + written
    assert _leaks(everything, forbidden) == []


def test_a_short_or_unset_credential_masks_nothing(git_repo: Path) -> None:
    """Values under 4 characters are never masked (docs/secrets.md): a PGPASSWORD of 'x' leaves output alone."""
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: task, command_type: shell, command: 'echo x-ray $PGPASSWORD', "
        "next: success}\n    success: {type: success}\n    fail: {type: fail}\n"
    )
    result = _magnus(
        "execute", "-f", "p.yaml", cwd=git_repo, env={"PGPASSWORD": "x", "AWS_SESSION_TOKEN": ""}
    )
    assert result.returncode == 0, result.stderr
    assert "x-ray x" in result.stdout


def test_credentials_found_in_files_are_masked_on_postgres_and_s3(
    git_repo: Path, postgres, s3, bucket
) -> None:
    """The team setup, with the credentials where libpq and botocore find them without the environment: a
    password file (PGPASSFILE) and a shared credentials file (AWS_SHARED_CREDENTIALS_FILE). magnus asks the
    connection and the S3 session what they used, and masks it: a step that prints both files shows none."""
    passfile = git_repo.parent / "pgpass"
    passfile.write_text(f"127.0.0.1:{postgres.port}:*:*:{PG_PASSWORD}\n")
    passfile.chmod(0o600)
    profile_secret = f"profileSECRET{TOKEN}"
    credentials = git_repo.parent / "aws-credentials"
    credentials.write_text(
        f"[default]\naws_access_key_id = profile-key\naws_secret_access_key = {profile_secret}\n"
    )
    config = {
        "run_log_store": {"type": "postgres", "config": {"dsn": postgres.dsn, "schema": fresh_schema()}},
        "catalog": {"type": "fsspec", "config": {"url": f"s3://{bucket}/catalog"}},
    }
    (git_repo / "team.yaml").write_text(yaml.safe_dump(config))
    (git_repo / "leak.yaml").write_text(
        PRINTING.format(extra='cat "$PGPASSFILE" "$AWS_SHARED_CREDENTIALS_FILE";').replace(
            "os.environ['AWS_SECRET_ACCESS_KEY']", "open(os.environ['AWS_SHARED_CREDENTIALS_FILE']).read()"
        )
    )
    env = {"PGPASSFILE": str(passfile), "AWS_SHARED_CREDENTIALS_FILE": str(credentials)}
    drop = ("PGPASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    result = _magnus("execute", "-f", "leak.yaml", "-c", "team.yaml", cwd=git_repo, env=env, drop=drop)
    assert result.returncode == 1, result.stderr
    assert "127.0.0.1:" in result.stdout and "aws_secret_access_key = *****" in result.stdout, result.stdout
    run_id = next(
        line.split()[1].rstrip(":") for line in result.stdout.splitlines() if line.startswith("Run ")
    )
    logs = _magnus("logs", run_id, "-c", "team.yaml", cwd=git_repo, env=env, drop=drop)
    assert "aws_secret_access_key = *****" in logs.stdout, logs.stdout + logs.stderr
    fs = s3.filesystem()
    objects = [key for key in fs.find(f"{bucket}/catalog/{run_id}")]
    assert any("/.magnus/output/" in key for key in objects), objects  # the captured output is in the bucket
    stored = "\n".join(fs.cat_file(key).decode("utf-8", "replace") for key in objects)
    shown = _magnus("show", run_id, "-c", "team.yaml", "--json", cwd=git_repo, env=env, drop=drop)
    assert shown.returncode in (0, 1), shown.stderr
    everything = (
        result.stdout + result.stderr + logs.stdout + logs.stderr + stored + shown.stdout + _files(git_repo)
    )
    assert _leaks(everything, _forbidden([PG_PASSWORD, profile_secret, S3_SECRET])) == []


def test_the_database_password_can_come_from_dotenv_or_a_named_secret(git_repo: Path, postgres) -> None:
    """Trial "team", finding 8: `PGPASSWORD=... ` in `.env` gave "fe_sendauth: no password supplied". The
    postgres store reads its password the way the rest of magnus reads secrets: the provider's PGPASSWORD
    (the default provider reads .env) when the environment has none, or `secret_options: {password: NAME}`;
    either is masked like any credential."""
    schema = fresh_schema()
    (git_repo / ".env").write_text(f"PGPASSWORD={PG_PASSWORD}\nDB_PASSWORD={PG_PASSWORD}\n")
    store = {"type": "postgres", "config": {"dsn": postgres.dsn, "schema": schema}}
    (git_repo / "dotenv.yaml").write_text(yaml.safe_dump({"run_log_store": store}))
    named = {"type": "postgres", "config": {**store["config"], "secret_options": {"password": "DB_PASSWORD"}}}
    (git_repo / "named.yaml").write_text(yaml.safe_dump({"run_log_store": named}))
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: task, command_type: shell, command: 'cat .env', "
        "next: success}\n    success: {type: success}\n    fail: {type: fail}\n"
    )
    drop = ("PGPASSWORD",)
    listed = _magnus("runs", "-c", "dotenv.yaml", "--json", cwd=git_repo, env={}, drop=drop)
    assert listed.returncode == 0, listed.stderr
    for config in ("dotenv.yaml", "named.yaml"):
        result = _magnus("execute", "-f", "p.yaml", "-c", config, "--json", cwd=git_repo, env={}, drop=drop)
        assert result.returncode == 0, result.stderr
        assert (
            "PGPASSWORD=*****" in result.stderr and "DB_PASSWORD=*****" in result.stderr
        )  # (--json: output on stderr)
        assert _leaks(result.stdout + result.stderr, _forbidden([PG_PASSWORD])) == []
    runs = json.loads(_magnus("runs", "-c", "named.yaml", "--json", cwd=git_repo, env={}, drop=drop).stdout)[
        "runs"
    ]
    assert len(runs) == 2
    # a secret the provider lacks, or an option that is not a libpq credential: one line naming the field
    (git_repo / ".env").write_text("OTHER=x\n")
    missing = _magnus("runs", "-c", "named.yaml", cwd=git_repo, env={}, drop=drop)
    assert missing.returncode == 2, missing.stderr
    assert (
        "run_log_store.config.secret_options.password" in missing.stderr and "DB_PASSWORD" in missing.stderr
    )
    assert len(missing.stderr.strip().splitlines()) == 1, missing.stderr
    wrong = {"type": "postgres", "config": {**store["config"], "secret_options": {"user": "DB_USER"}}}
    (git_repo / "wrong.yaml").write_text(yaml.safe_dump({"run_log_store": wrong}))
    refused = _magnus("runs", "-c", "wrong.yaml", cwd=git_repo, env={}, drop=drop)
    assert refused.returncode == 2 and "secret_options" in refused.stderr and "'user'" in refused.stderr, (
        refused.stderr
    )


def test_a_catalog_taking_its_keys_from_dotenv_is_read_back_by_magnus_logs(
    git_repo: Path, s3, bucket
) -> None:
    """`secret_options` name secrets of the run's provider; `magnus logs`, which reads the captured output
    outside any run, makes that provider from the run's config too (it had none, so the catalog could not
    be opened), and the keys the step printed are masked in the bucket."""
    key, secret = f"dotenvKEY{TOKEN}", f"dotenvSECRET{TOKEN}"
    (git_repo / ".env").write_text(f"S3_KEY={key}\nS3_SECRET={secret}\n")
    catalog = {"url": f"s3://{bucket}/catalog", "secret_options": {"key": "S3_KEY", "secret": "S3_SECRET"}}
    (git_repo / "c.yaml").write_text(yaml.safe_dump({"catalog": {"type": "fsspec", "config": catalog}}))
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: task, command_type: shell, command: 'echo hello; cat .env', "
        "next: success}\n    success: {type: success}\n    fail: {type: fail}\n"
    )
    drop = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    result = _magnus(
        "execute", "-f", "p.yaml", "-c", "c.yaml", "--run-id", "keys", cwd=git_repo, env={}, drop=drop
    )
    assert result.returncode == 0, result.stderr
    logs = _magnus("logs", "keys", "-c", "c.yaml", cwd=git_repo, env={}, drop=drop)
    assert logs.returncode == 0, logs.stderr
    assert "hello" in logs.stdout and "S3_SECRET=*****" in logs.stdout, logs.stdout
    fs = s3.filesystem()
    stored = "\n".join(fs.cat_file(k).decode("utf-8", "replace") for k in fs.find(f"{bucket}/catalog/keys"))
    assert "S3_SECRET=*****" in stored
    assert _leaks(result.stdout + result.stderr + logs.stdout + stored, _forbidden([key, secret])) == []
