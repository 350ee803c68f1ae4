"""A run named on the command line by a unique prefix or suffix of its id, or `last`, as git names a commit
(trial 4: `magnus show 1b3bf9` was refused while its only match was shown as the nearest)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_magnus

PIPELINE = """
dag:
  start_at: a
  steps:
    a: {type: task, command_type: shell, command: "echo from-a; exit $CODE", next: success}
    success: {type: success}
    fail: {type: fail}
"""
OLD, NEW = "20261130111426_1b3bf9", "20261130111500_aa0001"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ids")
    (folder / "p.yaml").write_text(PIPELINE)
    for run_id, code in ((NEW, "1"), (OLD, "0"), ("named", "0")):  # the newest id made first
        done = run_magnus("execute", "-f", "p.yaml", "--run-id", run_id, cwd=folder, env={"CODE": code})
        assert done.returncode == int(code), done.stderr
    return folder


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("1b3bf9", OLD),
        ("20261130111426", OLD),
        ("aa0001", NEW),
        ("last", "named"),  # the newest by start time, as `magnus runs` lists it first (trial 10)
        ("latest", "named"),
        ("nam", "named"),
    ],
)
def test_show_and_logs_take_a_unique_part_of_an_id_or_last(project: Path, typed: str, meant: str) -> None:
    shown = run_magnus("show", typed, cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"Run {meant}:")
    logs = run_magnus("logs", typed, "a", cwd=project)
    assert logs.returncode == 0 and logs.stdout == "from-a\n"


def test_diff_and_a_rerun_take_them_too(project: Path, tmp_path: Path) -> None:
    diff = run_magnus("diff", "1b3bf9", "last", cwd=project)
    assert f"Comparing {OLD} " in diff.stdout and "→  named " in diff.stdout
    copy = tmp_path / "copy"  # the re-run is made in a copy: a new run would be `last` for the other tests
    shutil.copytree(project, copy)
    rerun = run_magnus("execute", "-f", "p.yaml", "--use-cached", "aa0001", "--run-id", "again", cwd=copy)
    assert "again" in rerun.stderr + rerun.stdout
    shown = run_magnus("show", "again", "--json", cwd=copy)
    assert f'"original_run_id": "{NEW}"' in shown.stdout


def test_an_ambiguous_or_unknown_part_is_a_usage_error_naming_the_runs(project: Path) -> None:
    several = run_magnus("show", "2026113011", cwd=project)
    assert several.returncode == 2
    assert f"run id '2026113011' matches 2 runs: {OLD}, {NEW}; give more of it" in several.stderr
    unknown = run_magnus("logs", "zzzz", cwd=project)
    assert unknown.returncode == 2 and "no run 'zzzz'" in unknown.stderr


def test_last_is_the_run_magnus_runs_lists_first_in_every_command(project: Path) -> None:
    """Trial 10, fault 8: after `--run-id zzz-custom`, `magnus runs` listed it first but `magnus logs last`
    showed the run before it (`last` went by the time a generated id starts with). Here the ids sort the
    other way from the start times: NEW's id is the newest time, `named` started last."""
    listed = run_magnus("runs", "--limit", "1", "--json", cwd=project)
    first = json.loads(listed.stdout)["runs"][0]["run_id"]
    assert first == "named", listed.stdout
    assert run_magnus("show", "last", cwd=project).stdout.startswith("Run named:")
    assert run_magnus("logs", "last", cwd=project).stdout == "==> a (attempt 0) <==\nfrom-a\n"
    diff = run_magnus("diff", OLD, "last", "--json", cwd=project)
    assert json.loads(diff.stdout)["b"]["run_id"] == "named", diff.stdout
    stop = run_magnus("stop", "last", cwd=project)  # a finished run: refused, naming the run `last` is
    assert stop.returncode == 2 and "run 'named' is not running" in stop.stderr, stop.stderr
