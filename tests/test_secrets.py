"""Secrets: each provider, declared secrets checked before a run, the prompt, and values never leaking."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from magnus_core.errors import ConfigError
from magnus_core.loading import load_pipeline
from magnus_core.secrets import (
    DoNothingSecrets,
    EnvSecrets,
    declared_secrets,
    make_secrets,
    missing_secrets,
    parse_dotenv,
)
from tests.conftest import ROOT

TOKEN = "tok-9f8e7d6c5b"

FUNCTIONS = """
from magnus import get_secret, track_this

def show():
    token = get_secret("api_token")
    print(f"python prints {token}")
    import sys
    print(f"python warns {token}", file=sys.stderr)
    track_this(length=len(token))

def leak():
    raise ValueError(f"could not connect with {get_secret('api_token')}")

def everything():
    track_this(count=len(get_secret()))

def nothing():
    track_this(value=repr(get_secret("api_token")))
"""


def pipeline(
    repo: Path,
    secrets_block: str,
    *,
    declared: str = "",
    shell: str = 'echo "shell echoes $API_TOKEN"',
    first: str = "funcs.show",
) -> None:
    (repo / "funcs.py").write_text(FUNCTIONS)
    (repo / "pipeline.yaml").write_text(f"""
dag:
  start_at: python
  {declared}
  steps:
    python: {{type: task, command: {first}, next: shell}}
    shell:
      type: task
      command_type: shell
      command: '{shell}'
      next: success
    success: {{type: success}}
    fail: {{type: fail}}
{secrets_block}
""")


def no_leak(repo: Path, result: subprocess.CompletedProcess[str]) -> dict:
    """The secret is in none of: stdout, stderr, any run log, any file magnus wrote."""
    assert TOKEN not in result.stdout and TOKEN not in result.stderr
    for path in (repo / ".run_log_store").rglob("*"):
        if path.is_file():
            assert TOKEN not in path.read_text(), path
    logs = sorted((repo / ".run_log_store").glob("*.json"))
    return json.loads(logs[-1].read_text())


def test_dotenv_secret_is_used_and_masked_everywhere(git_repo: Path, magnus) -> None:
    (git_repo / ".env").write_text(f"# credentials\napi_token={TOKEN}\nAPI_TOKEN='{TOKEN}'\n")
    pipeline(git_repo, "secrets: {type: dotenv}", shell="echo shell echoes $(grep ^API .env)")
    result = magnus("execute", "--file", "pipeline.yaml")
    assert result.returncode == 0, result.stderr
    log = no_leak(git_repo, result)
    assert log["steps"]["python"]["user_defined_metrics"] == {"length": len(TOKEN)}
    assert "python prints *****" in result.stdout and "python warns *****" in result.stderr
    assert "shell echoes API_TOKEN='*****'" in result.stdout
    assert log["run_config"]["secrets"] == {"type": "dotenv", "config": {}}


def test_env_secret_with_prefix_and_suffix_printed_by_python_and_shell(git_repo: Path, magnus) -> None:
    pipeline(
        git_repo,
        "secrets: {type: env-secrets-manager, config: {prefix: MY_, suffix: _V}}",
        shell="echo shell echoes $MY_api_token_V; echo to stderr $MY_api_token_V >&2",
    )
    result = magnus("execute", "--file", "pipeline.yaml", "--json", env={"MY_api_token_V": TOKEN})
    assert result.returncode == 0, result.stderr
    log = no_leak(git_repo, result)
    assert json.loads(result.stdout)["steps"]["python"]["user_defined_metrics"] == {"length": len(TOKEN)}
    assert (
        "shell echoes *****" in result.stderr and "to stderr *****" in result.stderr
    )  # --json: output on stderr
    assert "python prints *****" in result.stderr
    assert log["status"] == "SUCCESS"


def test_a_secret_in_an_error_message_is_masked_in_the_log_and_the_traceback(git_repo: Path, magnus) -> None:
    pipeline(git_repo, "secrets: {type: env-secrets-manager}", first="funcs.leak")
    result = magnus("execute", "--file", "pipeline.yaml", "--log-level", "DEBUG", env={"api_token": TOKEN})
    assert result.returncode == 1
    log = no_leak(git_repo, result)
    assert log["steps"]["python"]["message"] == "ValueError: could not connect with *****"
    assert "could not connect with *****" in result.stderr  # the DEBUG traceback, masked


def test_env_provider_lists_nothing_and_only_explicit_do_nothing_gives_empty(git_repo: Path, magnus) -> None:
    pipeline(git_repo, "secrets: {type: env-secrets-manager}", first="funcs.everything", shell="true")
    result = magnus("execute", "--file", "pipeline.yaml", "--json", env={"api_token": TOKEN})
    assert json.loads(result.stdout)["steps"]["python"]["user_defined_metrics"] == {"count": 0}
    pipeline(git_repo, "secrets: {type: do-nothing}", first="funcs.nothing", shell="true")
    result = magnus("execute", "--file", "pipeline.yaml", "--json")
    assert json.loads(result.stdout)["steps"]["python"]["user_defined_metrics"] == {"value": "''"}
    # With no secrets block, an unknown name fails the step, naming the provider and the name: never ""
    pipeline(git_repo, "", first="funcs.nothing", shell="true")
    result = magnus("execute", "--file", "pipeline.yaml", "--json", input="")
    assert result.returncode == 1
    message = json.loads(result.stdout)["steps"]["python"]["message"]
    assert "secret 'api_token' is not known to the env-and-dotenv secrets provider" in message
    assert "the environment and .env" in message


def test_an_unknown_secret_fails_the_step_naming_it(git_repo: Path, magnus) -> None:
    (git_repo / ".env").write_text("other=value\n")
    pipeline(git_repo, "secrets: {type: dotenv}", shell="true")
    result = magnus("execute", "--file", "pipeline.yaml", "--json", input="")
    log = json.loads(result.stdout)
    assert result.returncode == 1
    assert (
        "secret 'api_token' is not known to the dotenv secrets provider" in log["steps"]["python"]["message"]
    )


def test_missing_declared_secrets_are_all_named_without_a_terminal(git_repo: Path, magnus) -> None:
    pipeline(
        git_repo,
        "secrets: {type: env-secrets-manager}",
        declared="secrets: [api_token, db_password, here]",
        shell="true",
    )
    result = magnus("execute", "--file", "pipeline.yaml", env={"here": "present"}, input="")
    assert result.returncode == 2
    assert (
        "api_token, db_password" in result.stderr
        and "here" not in result.stderr.split("missing:")[1].split("(")[0]
    )
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (git_repo / ".run_log_store").exists()  # nothing ran, nothing was written


def test_missing_declared_secret_is_asked_for_with_hidden_input_on_a_terminal(git_repo: Path) -> None:
    pipeline(git_repo, "", declared="secrets: [api_token]", shell="true")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    leader, follower = pty.openpty()
    # a new session has no controlling terminal, so getpass reads the pty given as stdin
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "--file", "pipeline.yaml", "--json"],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
        cwd=git_repo,
        start_new_session=True,
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    while b"api_token" not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                seen += os.read(leader, 1024)
            except OSError:
                break
    assert b"Secret 'api_token' (input hidden)" in seen
    os.write(leader, f"{TOKEN}\n".encode())
    out, _ = proc.communicate(timeout=60)
    try:
        while select.select([leader], [], [], 0.2)[0]:
            seen += os.read(leader, 1024)
    except OSError:
        pass
    os.close(leader)
    assert proc.returncode == 0, seen
    log = json.loads(out)
    assert log["steps"]["python"]["user_defined_metrics"] == {"length": len(TOKEN)}
    assert TOKEN.encode() not in seen and TOKEN not in out.decode()  # not echoed, masked when printed
    assert b"python prints *****" in seen or "python prints *****" in out.decode()


def test_secrets_example_runs(git_repo: Path, magnus) -> None:
    shutil.copytree(ROOT / "examples", git_repo / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    (git_repo / ".env").write_text(f"api_token={TOKEN}\n")
    result = magnus("execute", "--file", "examples/secrets.yaml")
    assert result.returncode == 0, result.stderr
    no_leak(git_repo, result)
    assert "connecting with token *****" in result.stdout and "shell sees *****" in result.stdout


# -- in-process: parsing, declared names, masking --------------------------------------------------------
def test_dotenv_malformed_line_is_named_without_its_content(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(f"good=1\n\nthis line has {TOKEN} and no equals\n")
    with pytest.raises(ConfigError) as info:
        parse_dotenv(path)
    assert "line 3" in str(info.value) and TOKEN not in str(info.value)
    path.write_text('a = 1 # comment\nexport b="x=y"\n')
    assert parse_dotenv(path) == {"a": "1", "b": "x=y"}


def test_declared_secrets_include_nested_dags(tmp_path: Path) -> None:
    (tmp_path / "inner.yaml").write_text("""
dag:
  secrets: [inner_key]
  start_at: a
  steps: {a: {type: as-is, next: success}, success: {type: success}, fail: {type: fail}}
""")
    (tmp_path / "outer.yaml").write_text("""
dag:
  secrets: [outer_key]
  start_at: par
  steps:
    par:
      type: parallel
      next: nested
      branches:
        one:
          secrets: [branch_key, outer_key]
          start_at: a
          steps: {a: {type: as-is, next: success}, success: {type: success}, fail: {type: fail}}
    nested: {type: dag, dag_definition: inner.yaml, next: success}
    success: {type: success}
    fail: {type: fail}
""")
    dag = load_pipeline(tmp_path / "outer.yaml").dag
    assert declared_secrets(dag) == ["outer_key", "branch_key", "inner_key"]
    provider = EnvSecrets({})
    os.environ["branch_key"] = "x"
    try:
        assert missing_secrets(dag, provider) == ["outer_key", "inner_key"]
    finally:
        del os.environ["branch_key"]


def test_the_prompt_fills_what_the_provider_lacks_once() -> None:
    asked: list[str] = []
    provider = make_secrets({"type": "env-secrets-manager", "config": {"prefix": "NOPE_"}})
    provider.prompt = lambda name: asked.append(name) or "given-value"
    assert provider.get("x") == "given-value" and provider.get("x") == "given-value"
    assert asked == ["x"] and "given-value" in provider.values()
    nothing = DoNothingSecrets({})
    assert nothing.get("x") == ""
    nothing.prompt = lambda name: None
    assert nothing.get("x") == ""


def test_the_seam_masks_a_value_written_in_pieces_once_known() -> None:
    import io

    from magnus_core import output
    from magnus_core.masking import masker_of

    target = io.StringIO()
    provider = DoNothingSecrets({})
    with output.installed(), output.routed(masker_of(provider), target):
        print("before the secret is known")
        provider.overrides["x"] = TOKEN  # a value that becomes known during the run is masked from then on
        sys.stdout.write("start " + TOKEN[:4])
        sys.stdout.flush()
        sys.stdout.write(TOKEN[4:] + " end\n")
        sys.stdout.write("tail " + TOKEN)
    assert target.getvalue() == "before the secret is known\nstart ***** end\ntail *****"


def test_a_secret_in_metrics_or_parameters_is_masked_in_the_run_log(git_repo: Path, magnus) -> None:
    (git_repo / "funcs2.py").write_text(
        "from magnus import get_secret, track_this\n"
        "def keep():\n"
        "    track_this(used=f'with {get_secret(\"api_token\")}')\n"
        "    return {'conn': {'url': 'db://' + get_secret('api_token')}}\n"
        "def check(conn):\n"
        "    assert conn['url'].endswith('" + TOKEN + "')  # the next step still got the real value\n"
    )
    (git_repo / "pipeline.yaml").write_text("""
dag:
  start_at: keep
  steps:
    keep: {type: task, command: funcs2.keep, next: check}
    check: {type: task, command: funcs2.check, next: success}
    success: {type: success}
    fail: {type: fail}
secrets: {type: env-secrets-manager}
""")
    result = magnus("execute", "--file", "pipeline.yaml", "--json", env={"api_token": TOKEN})
    assert result.returncode == 0, result.stderr
    log = no_leak(git_repo, result)
    assert log["steps"]["keep"]["user_defined_metrics"] == {"used": "with *****"}
    assert log["parameters"]["conn"] == {"url": "db://*****"}


def test_a_declared_secret_echoed_by_a_shell_step_alone_is_masked(git_repo: Path, magnus) -> None:
    (git_repo / "pipeline.yaml").write_text("""
dag:
  secrets: [api_token]
  start_at: shell
  steps:
    shell: {type: task, command_type: shell, command: 'echo "only shell $api_token"', next: success}
    success: {type: success}
    fail: {type: fail}
secrets: {type: env-secrets-manager}
""")
    result = magnus("execute", "--file", "pipeline.yaml", env={"api_token": TOKEN})
    assert result.returncode == 0, result.stderr
    no_leak(git_repo, result)
    assert "only shell *****" in result.stdout


def test_dotenv_is_read_as_python_dotenv_reads_it(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "# comment\n"
        "plain=value # trailing comment\n"
        "single='literal $HOME \\n'\n"
        'double="tab\\tquote\\" end"\n'
        'key="-----BEGIN-----\nline one\nline two\n-----END-----"\n'
        "export exported=yes\n"
        "empty=\n"
    )
    assert parse_dotenv(path) == {
        "plain": "value",
        "single": "literal $HOME \\n",
        "double": 'tab\tquote" end',
        "key": "-----BEGIN-----\nline one\nline two\n-----END-----",
        "exported": "yes",
        "empty": "",
    }
    path.write_text("a=1\nonly_a_name\n")
    with pytest.raises(ConfigError, match="line 2: expected NAME=value"):
        parse_dotenv(path)


def test_the_default_provider_reads_the_environment_then_dotenv_and_masks_only_what_it_hands_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from magnus_core.errors import SecretNotFoundError

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("from_file=file-value\nboth=file-wins-not\n")
    monkeypatch.setenv("both", "environment-wins")
    monkeypatch.setenv("unrelated_env", "never-masked")
    provider = make_secrets({"type": "env-and-dotenv", "config": {}})
    assert provider.get("from_file") == "file-value" and provider.get("both") == "environment-wins"
    assert "never-masked" not in provider.values()  # only values handed to the run
    assert {"file-value", "file-wins-not", "environment-wins"} <= set(provider.values())
    with pytest.raises(
        SecretNotFoundError, match="'nope' is not known to the env-and-dotenv secrets provider"
    ):
        provider.get("nope")
    (tmp_path / ".env").unlink()
    assert make_secrets({"type": "env-and-dotenv", "config": {}}).get("both") == "environment-wins"


def test_a_secret_a_child_process_asks_for_is_known_to_the_run_at_its_next_look(tmp_path: Path) -> None:
    """watch_requests: names a child appends (tell_run, through the file's name) are read through the file
    the run keeps open, a line at a time, each read once; the file is gone when the run ends."""
    from magnus_core.secrets import REQUESTED_VARIABLE, watch_requests

    (tmp_path / ".env").write_text(f"one={TOKEN}\ntwo=another-value\n")
    provider = make_secrets({"type": "dotenv", "config": {"location": str(tmp_path / ".env")}})
    with watch_requests(provider):
        before = provider.version
        assert TOKEN not in provider.seen.values()
        env = {**os.environ, **provider.child_environment(), "PYTHONPATH": str(ROOT)}
        child = "from magnus_core.secrets import tell_run; tell_run('one'); tell_run('nope')"
        subprocess.run([sys.executable, "-c", child], env=env, check=True)
        assert provider.version != before and provider.seen["one"] == TOKEN
        again = provider.version
        assert provider.version == again  # nothing new: nothing read again
        path = Path(env[REQUESTED_VARIABLE])
        with path.open("a") as handle:
            handle.write("tw")  # half a line: read once it is whole
        assert "two" not in provider.seen
        with path.open("a") as handle:
            handle.write("o\n")
        assert provider.version != again and provider.seen["two"] == "another-value"
    assert not path.exists() and provider.requests is None
