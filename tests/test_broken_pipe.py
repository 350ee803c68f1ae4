"""A reader that closes the pipe early (`magnus diff A B | head -1`) ends a data-printing command quietly with
exit 0, as git does; the command's own exit code (a run's status, `diff --exit-code`) still holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from magnus_core.cli import stdout_reader_gone
from tests.conftest import ROOT, run_magnus

PIPELINE = """
dag:
  start_at: a
  steps:
    a: {type: task, command_type: shell, command: "echo hello", next: success}
    success: {type: success}
    fail: {type: fail}
"""
FAILING = PIPELINE.replace("echo hello", "exit 3")
MANY = 3000  # parameters per run: the diff prints more than a pipe buffer (64 KiB) holds


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipe")
    (root / "p.yaml").write_text(PIPELINE)
    (root / "f.yaml").write_text(FAILING)
    for run in (1, 2):
        (root / f"params{run}.yaml").write_text("".join(f"k{i}: {i * run}\n" for i in range(MANY)))
        done = run_magnus(
            "execute", "--file", "p.yaml", "-p", f"params{run}.yaml", "--run-id", f"r{run}", cwd=root
        )
        assert done.returncode == 0, done.stderr
    return root


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "120"}


def closed_reader(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`magnus *args` writing into a pipe whose reader has already gone: every write meets EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "magnus_core", *args],
            cwd=cwd,
            env=_env(),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [
        ["runs"],
        ["runs", "--json"],
        ["diff", "r1", "r2"],
        ["diff", "r1", "r2", "--json"],
        ["diff", ".run_log_store/r1.json", ".run_log_store/r2.json", "--all"],
        ["compare", "r1", "r2", "--all"],
        ["compare", "r1", "r2", "--json"],
        ["logs", "r1"],  # logs writes bytes itself: a write's EPIPE is not "output file cannot be read"
        ["logs", "r1", "a", "--tail", "5"],
        ["--help"],
        ["--version"],
        ["diff", "--help"],
    ],
    ids=lambda a: " ".join(a),
)
def test_a_reader_gone_before_anything_is_printed_is_exit_0_and_silent(
    project: Path, args: list[str]
) -> None:
    done = closed_reader(args, project)
    assert (done.returncode, done.stderr) == (0, "")


def test_diff_piped_into_head_prints_one_line_and_exits_0(project: Path) -> None:
    shell = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {sys.executable} -m magnus_core diff r1 r2 | head -1"],
        cwd=project,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shell.returncode == 0, shell.stderr
    assert shell.stderr == ""
    assert shell.stdout.startswith("Comparing r1") and shell.stdout.count("\n") == 1
    whole = run_magnus("diff", "r1", "r2", cwd=project)
    assert len(whole.stdout.encode()) > 65536  # more than a pipe holds: head closed it before the end


def test_diff_exit_code_still_says_the_runs_differ(project: Path) -> None:
    assert closed_reader(["diff", "r1", "r2", "--exit-code"], project).returncode == 1
    same = closed_reader(["diff", "r1", "r1", "--exit-code"], project)
    assert (same.returncode, same.stderr) == (0, "")


@pytest.mark.parametrize("as_json", [False, True], ids=["summary", "json"])
def test_execute_keeps_the_run_s_exit_code(project: Path, as_json: bool) -> None:
    flags = ["--json"] if as_json else []
    failed = closed_reader(["execute", "--file", "f.yaml", *flags], project)
    assert failed.returncode == 1
    assert "Error" not in failed.stderr and "Traceback" not in failed.stderr
    passed = closed_reader(["execute", "--file", "p.yaml", *flags], project)
    assert passed.returncode == 0, passed.stderr


def test_a_pipe_is_gone_only_once_its_reader_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as stream:
        monkeypatch.setattr(
            sys, "stdout", stream
        )  # in the test itself: pytest's capture resets it after fixtures
        assert not stdout_reader_gone()  # a broken pipe of magnus's own is not taken for the reader leaving
        os.close(read_end)
        assert stdout_reader_gone()


def test_a_file_is_never_a_reader_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open(tmp_path / "out.txt", "w") as stream:
        monkeypatch.setattr(sys, "stdout", stream)
        assert not stdout_reader_gone()


def closed_both(args: list[str], cwd: Path) -> int:
    """The exit code of `magnus *args 2>&1 | head -0`: stdout and stderr one pipe whose reader has gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "magnus_core", *args],
            cwd=cwd,
            env=_env(),
            stdout=write_end,
            stderr=write_end,
            timeout=120,
        ).returncode
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args, code",
    [
        (["runs", "--bad"], 2),  # click's usage error: was 1 (the broken pipe of its message)
        (["logs"], 2),
        (["show", "--bad"], 2),
        (["show", "nosuch"], 2),  # our errors: were 0 (the reader gone, read as `| head -1` of data)
        (["logs", "r1", "nosuch"], 2),
        (["logs", "r1", "a", "--attempt", "7"], 2),
        (["diff", "r1", "nosuch"], 2),
        (["show", "r1"], 0),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, list) else str(a),
)
def test_a_refused_command_exits_2_when_its_message_cannot_be_read(
    project: Path, args: list[str], code: int
) -> None:
    """Session 9, fault 5: `magnus show nosuch 2>&1 | head -0` (or `| true`, a reader that stopped before
    the error came) exited 0, and a bad option 1: with `set -o pipefail` a script read an unknown run as
    shown. What cannot be printed never changes the exit code, an error's included."""
    assert closed_both(args, project) == code
