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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
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
    "AZURE_STORAGE_KEY": f"azStorageKEY{TOKEN}==",
    "AZURE_STORAGE_SAS_TOKEN": f"sv=2024-01-01&sig=azSIG{TOKEN}",
    "GOOGLE_OAUTH_ACCESS_TOKEN": f"ya29.a0{TOKEN}",
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
        env | grep -E 'PGPASS|AWS_|AZURE|MLFLOW|GOOGLE' ; echo "pw is $PGPASSWORD";
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
    assert (
        refused.returncode == 2
        and "field 'run_log_store.config.secret_options.user': unknown option" in refused.stderr
    ), refused.stderr


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


def test_the_s3_catalog_takes_aws_keys_from_dotenv_when_the_environment_has_none(
    git_repo: Path, s3, bucket
) -> None:
    """closing6 "Left": with the AWS keys only in `.env` (README's place for secrets; python-dotenv does not
    set the environment), the S3 catalog found no credentials. It now takes the provider's
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) when the environment has none, as the
    postgres store takes PGPASSWORD: the run puts its data in the bucket, `magnus logs` reads it back outside
    any run, and the keys a step prints are masked everywhere."""
    from tests.servers import S3_KEY

    (git_repo / ".env").write_text(f"AWS_ACCESS_KEY_ID={S3_KEY}\nAWS_SECRET_ACCESS_KEY={S3_SECRET}\n")
    catalog = {"url": f"s3://{bucket}/catalog"}
    (git_repo / "c.yaml").write_text(yaml.safe_dump({"catalog": {"type": "fsspec", "config": catalog}}))
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: task, command_type: shell, command: 'echo data > data/x.txt; "
        "cat .env', next: success, catalog: {put: [x.txt]}}\n    success: {type: success}\n    fail: {type: fail}\n"
    )
    (git_repo / "data").mkdir()
    # nothing else botocore could find: no keys in the environment, no profile, no credentials file
    nowhere = str(git_repo.parent / "no-such-aws-file")
    env = {
        "AWS_SHARED_CREDENTIALS_FILE": nowhere,
        "AWS_CONFIG_FILE": nowhere,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    drop = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")
    result = _magnus(
        "execute", "-f", "p.yaml", "-c", "c.yaml", "--run-id", "fromenv", cwd=git_repo, env=env, drop=drop
    )
    assert result.returncode == 0, result.stderr
    assert "AWS_SECRET_ACCESS_KEY=*****" in result.stdout, result.stdout
    fs = s3.filesystem()
    assert fs.cat_file(f"{bucket}/catalog/fromenv/x.txt") == b"data\n"
    logs = _magnus("logs", "fromenv", "-c", "c.yaml", cwd=git_repo, env=env, drop=drop)
    assert logs.returncode == 0 and "AWS_SECRET_ACCESS_KEY=*****" in logs.stdout, logs.stdout + logs.stderr
    stored = "\n".join(
        fs.cat_file(k).decode("utf-8", "replace") for k in fs.find(f"{bucket}/catalog/fromenv")
    )
    assert (
        _leaks(
            result.stdout + result.stderr + logs.stdout + stored + _files(git_repo / ".run_log_store"),
            _forbidden([S3_SECRET]),
        )
        == []
    )


GCS_KEY_LINES = [f"MIIEv{uuid.uuid4().hex}{i}+/Q" for i in range(3)]
GCS_PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(GCS_KEY_LINES) + "\n-----END PRIVATE KEY-----\n"


def gcs_key(**extra: str) -> str:
    """A service account key file's JSON, as the Google Cloud console downloads it (the key is made up)."""
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "team-project",
            "private_key_id": "0123456789abcdef",
            "private_key": GCS_PRIVATE_KEY,
            "client_email": "magnus@team-project.iam.gserviceaccount.com",
            "token_uri": "https://oauth2.googleapis.com/token",
            **extra,
        },
        indent=2,
    )


GCS_STEPS = '''
import json
import os


def show_key():
    """Print the key as a careless step would: the file, its private_key decoded, one line of it."""
    path = os.environ["GOOGLE_APPLICATION_CREDENTIALS"]
    print(open(path).read())
    key = json.load(open(path))["private_key"]
    print(key)
    print("line:", key.splitlines()[1], "token:", os.environ["GOOGLE_OAUTH_ACCESS_TOKEN"])
    return {"key": key, "line": key.splitlines()[2]}
'''


def test_a_google_key_file_and_access_token_are_masked_everywhere(git_repo: Path) -> None:
    """closing6 "Left": the service account key named by GOOGLE_APPLICATION_CREDENTIALS (what google-auth,
    behind gcsfs, reads) and an OAuth access token in the environment are credentials magnus uses: a step
    printing the file, its private_key decoded (with real line breaks) and one line of it, and returning
    them as parameters, leaves none of them in the terminal, the run log, the captured output, `--json`
    output or a diff of two runs."""
    key_file = git_repo.parent / "sa-key.json"
    key_file.write_text(gcs_key())
    token = f"ya29.a0{TOKEN}Gcs-Token_x"
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(key_file), "GOOGLE_OAUTH_ACCESS_TOKEN": token}
    (git_repo / "gsteps.py").write_text(GCS_STEPS)
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: task, command: gsteps.show_key, "
        "next: success}\n    success: {type: success}\n    fail: {type: fail}\n"
    )
    first = _magnus("execute", "-f", "p.yaml", "--run-id", "gcs-a", "--json", cwd=git_repo, env=env)
    assert first.returncode == 0, first.stderr
    assert '"private_key": "*****' in first.stderr and "token: *****" in first.stderr, first.stderr
    second = _magnus("execute", "-f", "p.yaml", "--run-id", "gcs-b", "--tag", "b", cwd=git_repo, env=env)
    assert second.returncode == 0, second.stderr
    diffed = _magnus("diff", "gcs-a", "gcs-b", "--json", cwd=git_repo, env=env)
    output = _magnus("diff", "gcs-a", "gcs-b", "--output", "a", cwd=git_repo, env=env)
    assert diffed.returncode == 0 and output.returncode == 0, diffed.stderr + output.stderr
    ran = json.loads(first.stdout)  # --json: the run log, with the returned parameters masked
    assert "*****" in json.dumps(ran) and "a printed the same" in output.stdout, output.stdout
    assert "line: *****" in (git_repo / ".catalog/gcs-a/.magnus/output/a.0.log").read_text()
    texts = [first, second, diffed, output]
    everything = "".join(t.stdout + t.stderr for t in texts) + _files(git_repo)
    assert _leaks(everything, _forbidden([*GCS_KEY_LINES, GCS_PRIVATE_KEY, token])) == []


@pytest.fixture
def fake_gcs() -> Iterator[list[Any]]:
    """gs:// served by an in-memory filesystem standing in for gcsfs (not installed: no extra brings it),
    taking gcsfs's `token` argument; yields the tokens it was made with."""
    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem

    tokens: list[Any] = []

    class FakeGCS(MemoryFileSystem):
        protocol = ("gs", "gcs")
        store: dict[str, Any] = {}  # noqa: RUF012 - fsspec's own class-level layout
        pseudo_dirs = [""]  # noqa: RUF012
        cachable = False

        def __init__(self, token: Any = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            tokens.append(token)

    from fsspec.registry import _registry  # (fsspec.registry, the attribute, is a read-only view of it)

    before = {p: _registry.get(p) for p in ("gs", "gcs")}
    for protocol in ("gs", "gcs"):
        fsspec.register_implementation(protocol, FakeGCS, clobber=True)
    try:
        yield tokens
    finally:
        for protocol, cls in before.items():
            _registry.pop(protocol, None)
            if cls is not None:
                fsspec.register_implementation(protocol, cls, clobber=True)


def test_a_google_key_given_in_config_is_masked(
    tmp_path: Path, fake_gcs: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fsspec catalog on gs://: storage_options.token may name a key file (a path, or one of gcsfs's
    ways such as 'anon': no secret, so not refused), and its private_key is among the catalog's
    credentials; a secret_options token holding the key file's JSON (kept in .env) reaches gcsfs parsed,
    and its private_key is masked on its own (decoded, with real line breaks, it does not match the
    one-line JSON text); with neither, gcloud's application default credentials file is read."""
    from magnus_core.catalog_fsspec import FsspecCatalog
    from magnus_core.errors import ConfigError
    from magnus_core.masking import masker_of
    from magnus_core.secrets import make_secrets

    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    key_file = tmp_path / "sa-key.json"
    key_file.write_text(gcs_key())
    catalog = FsspecCatalog({"url": "gs://team/c", "storage_options": {"token": str(key_file)}})
    assert catalog.credentials() == {"storage_options.token.private_key": GCS_PRIVATE_KEY}
    assert FsspecCatalog({"url": "gs://team/c", "storage_options": {"token": "anon"}}).credentials() == {}
    with pytest.raises(ConfigError, match="holds a credential"):
        FsspecCatalog({"url": "gs://team/c", "storage_options": {"token": "ya29.a0-a-real-token"}})

    (tmp_path / ".env").write_text(f"GCS_KEY='{json.dumps(json.loads(gcs_key()))}'\n")
    provider = make_secrets({"type": "dotenv", "config": {"location": str(tmp_path / ".env")}})
    named = FsspecCatalog({"url": "gs://team/c", "secret_options": {"token": "GCS_KEY"}})
    named.credentials(provider)
    named.fs.info("/")  # made: gcsfs gets the key parsed, as it takes a key (a text would be a path)
    assert fake_gcs[-1]["private_key"] == GCS_PRIVATE_KEY
    printed = f"the key:\n{GCS_PRIVATE_KEY}\nits second line: {GCS_KEY_LINES[1]}\n"
    masked = masker_of(provider).text(printed)
    assert _leaks(masked, _forbidden([*GCS_KEY_LINES])) == [] and "its second line: *****" in masked

    (tmp_path / ".env").write_text(f"GCS_KEY_FILE={key_file}\n")  # a secret naming the key file
    provider = make_secrets({"type": "dotenv", "config": {"location": str(tmp_path / ".env")}})
    by_path = FsspecCatalog({"url": "gs://team/c", "secret_options": {"token": "GCS_KEY_FILE"}})
    assert by_path.credentials(provider) == {"secret_options.token.private_key": GCS_PRIVATE_KEY}

    user = {
        "type": "authorized_user",
        "client_id": "id.apps",
        "client_secret": f"cs-{TOKEN}",
        "refresh_token": f"1//rt-{TOKEN}",
    }
    (tmp_path / "gcloud").mkdir()
    (tmp_path / "gcloud" / "application_default_credentials.json").write_text(json.dumps(user))
    assert FsspecCatalog({"url": "gs://team/c"}).credentials() == {
        "gcloud.client_secret": f"cs-{TOKEN}",
        "gcloud.refresh_token": f"1//rt-{TOKEN}",
    }
