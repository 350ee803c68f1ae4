"""A retry says so on the terminal while the run goes (trial 10, fault 10): one stderr line when an attempt
fails and another follows, masked, plain with NO_COLOR, nothing on stdout (`--json`), and the same from
the per-step entry point. End to end with the real command in subprocesses (and on a real terminal)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, git

STEPS = """
import os

from magnus import get_secret


def flaky():
    count = int(open("count").read()) if os.path.exists("count") else 0
    open("count", "w").write(str(count + 1))
    print("attempt starting, count", count)
    if count < 2:
        raise ConnectionError(f"transient failure #{count} with {get_secret('API_TOKEN')}\\nsecond line")
"""

RETRY = """
dag:
  start_at: train
  steps:
    train: {type: task, command: retry_steps.flaky, retry: 3, next: success}
    success: {type: success}
    fail: {type: fail}
"""

TOKEN = "tok-9f8e7d6c"
LINES = [
    "magnus: train attempt 0 failed: ConnectionError: transient failure #0 with *****; retrying (attempt 1 of 3)",
    "magnus: train attempt 1 failed: ConnectionError: transient failure #1 with *****; retrying (attempt 2 of 3)",
]


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "retry_steps.py").write_text(STEPS)
    (git_repo / "retry.yaml").write_text(RETRY)
    (git_repo / "secrets.yaml").write_text("secrets:\n  type: env-secrets-manager\n")
    (git_repo / "nothing-kept.yaml").write_text(
        "secrets:\n  type: env-secrets-manager\ncatalog:\n  type: do-nothing\n"
    )
    (git_repo / ".gitignore").write_text(".run_log_store/\n.catalog/\n__pycache__/\ncount\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "steps")
    return git_repo


def said(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "retrying" in line]


def test_each_failed_attempt_that_is_retried_says_so_on_stderr(project: Path, magnus: Any) -> None:
    done = magnus(
        "execute", "-f", "retry.yaml", "-c", "secrets.yaml", "--run-id", "r", env={"API_TOKEN": TOKEN}
    )
    assert done.returncode == 0, done.stderr
    assert said(done.stderr) == LINES  # the first line of each failure, masked; none for the last attempt
    assert "retrying" not in done.stdout and TOKEN not in done.stderr + done.stdout
    assert "\x1b[" not in done.stderr  # NO_COLOR (run_magnus sets it), and stderr is not a terminal
    # said in its place: after attempt 0's output and before attempt 1's
    err = done.stderr.splitlines()
    assert err.index(LINES[0]) < err.index(LINES[1])
    log = json.loads((project / ".run_log_store" / "r.json").read_text())
    for attempt in log["steps"]["train"]["attempts"]:  # the kept output is the step's alone
        text = (project / ".catalog" / attempt["output"]["catalog_relative_path"]).read_text()
        assert "retrying" not in text


def test_json_keeps_stdout_for_the_run_log(project: Path, magnus: Any) -> None:
    done = magnus("execute", "-f", "retry.yaml", "-c", "secrets.yaml", "--json", env={"API_TOKEN": TOKEN})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "SUCCESS"  # stdout is the run log, nothing else
    assert said(done.stderr) == LINES


@pytest.mark.parametrize("config", ["secrets.yaml", "nothing-kept.yaml"])
def test_the_per_step_entry_point_says_it_too(project: Path, magnus: Any, config: str) -> None:
    """Through nodes/task, and through the fast path taken when the catalog keeps no output (single_plain)."""
    done = magnus(
        "execute_single_node", "one", "train", "-f", "retry.yaml", "-c", config, env={"API_TOKEN": TOKEN}
    )
    assert done.returncode == 0, done.stderr
    assert said(done.stderr) == LINES and "retrying" not in done.stdout


def test_on_a_terminal_it_is_coloured_unless_no_color(project: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    for no_color, coloured in ((None, True), ("1", False)):
        (project / "count").unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm", "API_TOKEN": TOKEN}
        env.pop("NO_COLOR", None)
        if no_color:
            env["NO_COLOR"] = no_color
        child = pexpect.spawn(
            sys.executable,
            ["-m", "magnus_core", "execute", "-f", "retry.yaml", "-c", "secrets.yaml"],
            cwd=str(project),
            env=env,
            dimensions=(24, 200),
            encoding="utf-8",
        )
        child.expect(pexpect.EOF, timeout=60)
        child.close()
        screen = child.before.replace("\r", "")
        assert child.exitstatus == 0, screen
        assert (f"\x1b[33m{LINES[0]}\x1b[0m" in screen) is coloured, screen
        assert LINES[0] in screen


CHAINED = """
import json
import os


def _read():
    return json.loads("{bad " + os.environ["API_TOKEN"])


def chained():
    count = int(open("count").read()) if os.path.exists("count") else 0
    open("count", "w").write(str(count + 1))
    if count < 1:
        try:
            _read()
        except ValueError as exc:
            raise RuntimeError("could not load config") from exc
"""


@pytest.mark.parametrize(
    ("command", "config"),
    [
        ("execute", "secrets.yaml"),
        ("execute_single_node", "secrets.yaml"),
        ("execute_single_node", "nothing-kept.yaml"),
    ],
)
def test_a_retried_failure_gives_its_chained_cause(
    project: Path, magnus: Any, command: str, config: str
) -> None:
    """Session 11: the retry line named the outer exception only (`RuntimeError: could not load config`),
    where `magnus show`, `magnus logs` and now `magnus runs --status FAIL` give the cause that was the
    reason; now it follows, as show words it, from either entry point (nodes/task and single_plain's fast
    path, taken when the catalog keeps no output)."""
    (project / "chain_steps.py").write_text(CHAINED)
    (project / "chain.yaml").write_text(RETRY.replace("retry_steps.flaky", "chain_steps.chained"))
    words = ["-f", "chain.yaml", "-c", config]
    args = ["execute", *words, "--run-id", "c"] if command == "execute" else [command, "c1", "train", *words]
    done = magnus(*args, env={"API_TOKEN": TOKEN})
    assert done.returncode == 0, done.stderr
    assert said(done.stderr) == [
        "magnus: train attempt 0 failed: RuntimeError: could not load config, caused by JSONDecodeError: "
        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1), at chain_steps.py:7 in "
        "_read; retrying (attempt 1 of 3)"
    ], done.stderr
