"""Shell completion for bash, zsh and fish: commands, run ids, step names, tags (issue 18, item 16)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from magnus_core.runs import login_name
from tests.conftest import ROOT, run_magnus

PIPELINE = """
dag:
  start_at: prepare data
  steps:
    prepare data: {type: task, command_type: shell, command: "true", next: fan out}
    fan out:
      type: parallel
      next: success
      branches:
        left:
          start_at: l1
          steps: {l1: {type: stub, next: success}, success: {type: success}, fail: {type: fail}}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "p.yaml").write_text(PIPELINE)
    for run_id, tag in (("20260101_first", "baseline"), ("20260102_second", "tuned")):
        done = run_magnus("execute", "--file", "p.yaml", "--run-id", run_id, "--tag", tag, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    return tmp_path


def complete(project: Path, line: str, shell: str = "bash", env: dict[str, str] | None = None) -> list[str]:
    """What the shell's completion function receives from magnus for `line` (the word being completed is
    the text after the last space), through click's protocol, in a real process."""
    words = line.split(" ")
    variables = {
        "_MAGNUS_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": line,
        "COMP_CWORD": str(len(words) - 1) if shell != "fish" else words[-1],
        **(env or {}),
    }
    done = run_magnus(cwd=project, env=variables)
    assert done.returncode == 0 and not done.stderr, done.stderr
    lines = [line for line in done.stdout.splitlines() if line]
    if shell == "bash":  # type,value
        return [item.split(",", 1)[1] for item in lines]
    return lines[1::3]  # zsh and fish: type, value, help


def test_run_ids_complete_for_diff_compare_and_use_cached(project: Path) -> None:
    assert complete(project, "magnus diff ") == ["20260102_second", "20260101_first"]
    assert complete(project, "magnus diff 20260101_first 2026010") == ["20260102_second", "20260101_first"]
    assert complete(project, "magnus compare 20260102") == ["20260102_second"]
    assert complete(project, "magnus execute --file p.yaml --use-cached 202601") == [
        "20260102_second",
        "20260101_first",
    ]
    assert complete(project, "magnus execute_single_node 20260101") == ["20260101_first"]


def test_step_names_complete_as_execute_single_node_takes_them(project: Path) -> None:
    steps = complete(project, "magnus execute_single_node r1 --file p.yaml ")
    assert steps == [
        "prepare%data",
        "fan%out",
        "fan%out.left.l1",
        "fan%out.left.success",
        "fan%out.left.fail",
        "success",
        "fail",
    ]
    assert complete(project, "magnus fan r1 -m out --file p.yaml ") == ["fan%out"]  # composites only
    assert complete(project, "magnus execute_single_node r1 --file p.yaml fan%out.left.l") == [
        "fan%out.left.l1"
    ]


def test_tags_statuses_and_pipeline_files_complete(project: Path) -> None:
    assert complete(project, "magnus runs --tag ") == ["baseline", "tuned"]
    assert complete(project, "magnus compare --tag t") == ["tuned"]
    assert complete(project, "magnus runs --status f") == ["FAIL"]
    assert complete(project, "magnus runs --status per") == ["PER-STEP"]
    me = login_name()  # who ran the two runs
    assert complete(project, "magnus runs --user ") == ([me] if me else [])
    assert complete(project, "magnus execute --file ") == ["p.yaml"]


def test_zsh_and_fish_receive_the_same_run_ids(project: Path) -> None:
    for shell in ("zsh", "fish"):
        assert complete(project, "magnus diff 2026", shell=shell) == ["20260102_second", "20260101_first"], (
            shell
        )


def test_a_store_that_cannot_be_read_completes_nothing_quietly(project: Path) -> None:
    (project / "bad.yaml").write_text("run_log_store: {type: nosuch}\n")
    assert complete(project, "magnus diff -c bad.yaml ") == []
    assert complete(project, "magnus execute_single_node r1 --file missing.yaml ") == []


def magnus_on_path(tmp_path: Path) -> dict[str, str]:
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    shim = bin_folder / "magnus"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m magnus_core "$@"\n')
    shim.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}


def test_the_bash_script_installs_and_completes_in_bash(project: Path, tmp_path: Path) -> None:
    env = magnus_on_path(tmp_path)
    script = """
eval "$(magnus completion bash)"
complete -p magnus
COMP_WORDS=(magnus diff 2026); COMP_CWORD=2
_magnus_completion magnus
printf 'reply:%s\\n' "${COMPREPLY[@]}"
COMPREPLY=(); COMP_WORDS=(magnus ru); COMP_CWORD=1
_magnus_completion magnus
printf 'reply:%s\\n' "${COMPREPLY[@]}"
"""
    done = subprocess.run(
        ["bash", "-c", script], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "_magnus_completion" in done.stdout.splitlines()[0]  # `complete -p magnus` shows it installed
    replies = [line.removeprefix("reply:") for line in done.stdout.splitlines() if line.startswith("reply:")]
    assert replies == ["20260102_second", "20260101_first", "runs"]


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("zsh", "compdef _magnus_completion magnus"), ("fish", "complete --no-files --command magnus")],
)
def test_the_zsh_and_fish_scripts_call_magnus_back(shell: str, marker: str, tmp_path: Path) -> None:
    done = run_magnus("completion", shell, cwd=tmp_path)
    assert done.returncode == 0 and marker in done.stdout, done.stdout
    assert f"_MAGNUS_COMPLETE={shell}_complete" in done.stdout


def test_an_unknown_shell_is_a_usage_error(tmp_path: Path) -> None:
    done = run_magnus("completion", "powershell", cwd=tmp_path)
    assert done.returncode == 2 and "'powershell' is not one of 'bash', 'zsh', 'fish'" in done.stderr


def test_a_runs_step_names_complete_for_logs(project: Path) -> None:
    # trial 4: `magnus logs RUN <Tab>` completed nothing, though the README promises step names
    steps = complete(project, "magnus logs 20260101_first ")
    assert steps[:2] == ["prepare%data", "fan%out"] and "fan%out.left.l1" in steps
    assert steps[2] == "fan%out.left"  # a branch, as logs takes it (trial 10, fault 11)
    assert "fan%out.left" not in complete(project, "magnus diff first second --output fan")  # steps only
    assert complete(project, "magnus logs first fan%out.left.l") == ["fan%out.left.l1"]  # a part of the id
    assert complete(project, "magnus logs 2026 ") == []  # names two runs: nothing to offer
    assert complete(project, "magnus logs 2026") == ["20260102_second", "20260101_first"]
