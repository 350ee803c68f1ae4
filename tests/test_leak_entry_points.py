"""Every entry point that creates a run records it masked (issue 17): a secret's value that is also in
the parameters file (or given as an argument) never reaches the run-log store, `runs --json` or `show`,
whether the run was created by `magnus execute`, by the first per-step process (`execute_single_node`,
`fan`, as Argo and Dask pods do), or by a re-run with --use-cached."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote

import pytest

MARKER = "Zq7leakMARKER41"

FUNCS = """
def first(plain):
    assert plain == 3

def uses(token_copy):
    assert "Zq7leakMARKER41" in token_copy  # the step gets the real value, never the masked one
"""

PIPELINE = """
dag:
  start_at: first
  steps:
    first: {type: task, command: funcs.first, next: uses}
    uses: {type: task, command: funcs.uses, next: success}
    success: {type: success}
    fail: {type: fail}
"""

# the first step is a composite: `magnus fan --mode out` is the process that creates the run
FAN_PIPELINE = """
dag:
  start_at: par
  steps:
    par:
      type: parallel
      next: success
      branches:
        a:
          start_at: first
          steps:
            first: {type: task, command: funcs.first, next: success}
            success: {type: success}
            fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""

CONFIG = "run_log_store: {type: chunked-fs, config: {log_folder: runs}}\ncatalog: {type: do-nothing}\n"


def _forms(value: str) -> set[str]:
    return {
        value,
        value.lower(),
        value.upper(),
        quote(value, safe=""),
        base64.b64encode(value.encode()).decode(),
    }


def _leaks(text: str) -> list[str]:
    return [form for form in _forms(MARKER) if form in text]


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "funcs.py").write_text(FUNCS)
    (git_repo / "pipeline.yaml").write_text(PIPELINE)
    (git_repo / "fan.yaml").write_text(FAN_PIPELINE)
    (git_repo / "shared.yaml").write_text(CONFIG)
    (git_repo / ".env").write_text(f"db_token={MARKER}\n")  # the default provider: every value masked
    (git_repo / "params.yaml").write_text(f"token_copy: user-{MARKER}-x\nplain: 3\n")
    return git_repo


def _create(magnus, how: str) -> None:
    """Create run r1 the way `how` does, with the secret's value in its starting parameters."""
    base = ["--config-file", "shared.yaml"]
    if how == "execute":
        result = magnus("execute", "--file", "pipeline.yaml", "-p", "params.yaml", "--run-id", "r1", *base)
    elif how == "execute_single_node":
        result = magnus(
            "execute_single_node", "r1", "first", "-f", "pipeline.yaml", "-p", "params.yaml", *base
        )
    elif how == "fan":
        result = magnus("fan", "r1", "par", "--mode", "out", "-f", "fan.yaml", "-p", "params.yaml", *base)
    elif how == "use-cached":
        (Path("plain.yaml")).write_text("token_copy: nothing-secret\nplain: 3\n")
        original = magnus("execute", "-f", "pipeline.yaml", "-p", "plain.yaml", "--run-id", "r0", *base)
        assert original.returncode == 1, original.stderr  # 'uses' fails: the re-run picks up there
        result = magnus(
            "execute", "-f", "pipeline.yaml", "--use-cached", "r0", "--token_copy", f"user-{MARKER}-x",
            "--run-id", "r1", *base,
        )  # fmt: skip
    else:
        raise AssertionError(how)
    # the first step run alone needs every parameter, one is recorded masked: it fails (see the test)
    assert result.returncode == (1 if how == "execute_single_node" else 0), result.stderr
    assert not _leaks(result.stdout + result.stderr)


def _cli(*args: str) -> tuple[int, str]:
    """A reading command in-process (click's runner, to keep the test quick): exit code and all it printed."""
    from click.testing import CliRunner

    from magnus_core.cli import _register, cli

    _register()
    result = CliRunner().invoke(cli, [*args, "--config-file", "shared.yaml"])
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.parametrize("how", ["execute", "execute_single_node", "fan", "use-cached"])
def test_the_process_that_creates_a_run_records_it_masked(project: Path, magnus, how: str) -> None:
    _create(magnus, how)
    stored = list((project / "runs").rglob("*"))
    assert stored, "the run was not written"
    for path in stored:
        assert not _leaks(str(path.relative_to(project))), path
        if path.is_file():
            assert not _leaks(path.read_bytes().decode("utf-8", "replace")), path
    for command in (["runs", "--json"], ["show", "r1", "--json"], ["show", "r1", "--steps"]):
        code, printed = _cli(*command)
        assert code == 0, printed
        assert not _leaks(printed), command
    log = json.loads(_cli("show", "r1", "--json")[1])
    assert log["parameters"]["token_copy"] == "user-*****-x"
    assert log["parameters"]["plain"] == 3
    assert log["masked_parameters"] == ["token_copy"]
    if how in ("execute_single_node", "fan"):
        # a step run alone gets its parameters from the run log: it fails before running, naming the one
        # recorded masked (single.read_params), and never gets '*****' as a value
        file, leaf = (
            ("pipeline.yaml", "first") if how == "execute_single_node" else ("fan.yaml", "par.a.first")
        )
        if how == "fan":
            fed = magnus("execute_single_node", "r1", leaf, "-f", file, "--config-file", "shared.yaml")
            assert fed.returncode == 1, fed.stderr
            assert not _leaks(fed.stdout + fed.stderr)
            assert "not run" in fed.stderr and "'token_copy'" in fed.stderr  # said, not only in the log
            log = json.loads(_cli("show", "r1", "--json")[1])
        step = log["steps"]["par"]["branches"]["par.a"] if how == "fan" else log
        message = step["steps"][leaf]["message"]
        assert "'token_copy'" in message and "recorded masked" in message
