"""A metric whose name cannot be shown fails its step, with a message naming it and what a name must be
(issue 16, point 4). Before, `track_this(**{"": 1})`, a name holding a newline, a NUL or an escape, or one
100,000 characters long was kept: the run succeeded and every table that shows metrics broke (a NUL and an
escape written raw to the terminal, a row split in two, `magnus runs --metrics` 4 MB wide). Names with dots,
spaces inside, quotes or any language's letters stay usable. Real runs in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

STEPS = """
from magnus import track_this

NAMES = {
    "empty": "",
    "spaces": "  ",
    "newline": "val\\nloss",
    "nul": "a\\x00b",
    "escape": "\\x1b[31mred",
    "long": "m" * 100_000,
}


def bad(name, at):
    track_this(auc=0.5)
    if at == "none":
        track_this(**{NAMES[name]: 1})
    else:
        track_this(step=at, **{NAMES[name]: 1})


def good():
    track_this(**{"val.auc": 0.9, "f1 score": 0.7, "Genauigkeit_ä": 0.8})
    track_this(step=0, **{"λ": 0.1})
"""

PIPELINE = """dag:
  start_at: a
  steps:
    a: {{type: task, command: steps.{function}, on_failure: note, next: success}}
    note: {{type: task, command_type: shell, command: echo noted, next: fail}}
    success: {{type: success}}
    fail: {{type: fail}}
"""

RULE = (
    "a metric's name is 1 to 250 characters, not only spaces, without control characters "
    "(newline, tab, NUL, escape)"
)


def _magnus(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "magnus_core", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _run(project: Path, run_id: str, function: str, *args: str) -> subprocess.CompletedProcess[str]:
    (project / "steps.py").write_text(STEPS)
    (project / f"{run_id}.yaml").write_text(PIPELINE.format(function=function))
    return _magnus(project, "execute", "-f", f"{run_id}.yaml", "--run-id", run_id, *args)


@pytest.mark.parametrize(
    ("name", "at", "said"),
    [
        ("empty", "none", "the metric name '' is empty"),
        ("spaces", "0", "the metric name '  ' is only spaces"),
        ("newline", "0", "the metric name 'val\\nloss' holds a newline"),
        ("nul", "none", "the metric name 'a\\x00b' holds a NUL"),
        ("escape", "3", "the metric name '\\x1b[31mred' holds an escape"),
        ("long", "none", f"the metric name '{'m' * 60}...' is 100,000 characters long"),
    ],
)
def test_an_unusable_metric_name_fails_its_step_naming_it(
    git_repo: Path, name: str, at: str, said: str
) -> None:
    done = _run(git_repo, "r", "bad", "--name", name, "--at", at)
    assert done.returncode == 1, done.stdout + done.stderr  # (the old code: 0, the name kept)
    assert f"a: track_this: {said}; {RULE}" in done.stdout.splitlines(), done.stdout
    assert "\x00" not in done.stdout and "\x1b" not in done.stdout
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert log["status"] == "FAIL"
    assert list(log["steps"]) == ["a", "note", "fail"]
    assert log["steps"]["a"]["status"] == "FAIL" and log["steps"]["note"]["status"] == "SUCCESS"
    shown = _magnus(git_repo, "show", "r")
    assert shown.returncode == 0, shown.stderr
    assert f"a: track_this: {said}; {RULE}" in shown.stdout.splitlines(), shown.stdout


def test_after_a_refused_name_every_command_reads_the_runs(git_repo: Path) -> None:
    """`magnus show`, `runs`, `compare` and `diff` over a run whose step was refused and one whose names
    have dots, spaces inside and letters of any language (kept as given, lower-cased)."""
    assert _run(git_repo, "bad", "bad", "--name", "long", "--at", "0").returncode == 1
    good = _run(git_repo, "good", "good")
    assert good.returncode == 0, good.stdout + good.stderr
    log = json.loads((git_repo / ".run_log_store" / "good.json").read_text())
    assert log["steps"]["a"]["user_defined_metrics"] == {
        "val.auc": 0.9,
        "f1 score": 0.7,
        "genauigkeit_ä": 0.8,
        "λ": 0.1,
    }
    for args in (["show", "bad"], ["runs", "--metrics"], ["compare", "bad", "good"], ["diff", "bad", "good"]):
        done = _magnus(git_repo, *args)
        assert done.returncode in (0, 1) and not done.stderr, (args, done.stderr)
        assert len(done.stdout) < 20_000 and "\x1b" not in done.stdout, (args, len(done.stdout))
    listed = _magnus(git_repo, "runs", "--metrics", "--json")
    assert {run["run_id"] for run in json.loads(listed.stdout)["runs"]} >= {"bad", "good"}, listed.stdout
