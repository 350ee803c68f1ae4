"""A run named on the command line by a unique prefix or suffix of its id, or `last`, as git names a commit
(trial 4: `magnus show 1b3bf9` was refused while its only match was shown as the nearest)."""

from __future__ import annotations

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
        ("last", NEW),
        ("latest", NEW),
        ("nam", "named"),
    ],
)
def test_show_and_logs_take_a_unique_part_of_an_id_or_last(project: Path, typed: str, meant: str) -> None:
    shown = run_magnus("show", typed, cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"Run {meant}:")
    logs = run_magnus("logs", typed, "a", cwd=project)
    assert logs.returncode == 0 and logs.stdout == "from-a\n"


def test_diff_and_a_rerun_take_them_too(project: Path) -> None:
    diff = run_magnus("diff", "1b3bf9", "last", cwd=project)
    assert f"Comparing {OLD} " in diff.stdout and f"→  {NEW} " in diff.stdout
    rerun = run_magnus("execute", "-f", "p.yaml", "--use-cached", "aa0001", "--run-id", "again", cwd=project)
    assert "again" in rerun.stderr + rerun.stdout
    shown = run_magnus("show", "again", "--json", cwd=project)
    assert f'"original_run_id": "{NEW}"' in shown.stdout


def test_an_ambiguous_or_unknown_part_is_a_usage_error_naming_the_runs(project: Path) -> None:
    several = run_magnus("show", "2026113011", cwd=project)
    assert several.returncode == 2
    assert f"run id '2026113011' matches 2 runs: {OLD}, {NEW}; give more of it" in several.stderr
    unknown = run_magnus("logs", "zzzz", cwd=project)
    assert unknown.returncode == 2 and "no run 'zzzz'" in unknown.stderr
