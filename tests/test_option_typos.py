"""A mistyped option of `magnus execute` is a usage error with a suggestion, never a parameter (issue 18, 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magnus_core.suggest import edit_distance, is_typo_of_option
from tests.conftest import run_magnus

PIPELINE = """
dag:
  start_at: show
  steps:
    show: {type: task, command_type: shell, command: 'echo "PARAMS $(env | grep ^MAGNUS_PRM_ | sort | tr "\\n" " ")"', next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pipeline.yaml").write_text(
        "dag: {start_at: s, steps: {s: {type: success}, f: {type: fail}}}\n"
    )
    (tmp_path / "mine.yaml").write_text(PIPELINE)
    return tmp_path


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("--fiel", "--file"),  # the report: the default pipeline ran with a parameter `fiel`
        ("--tga", "--tag"),  # trial 19 F17: a swap in a three-letter option ran with a parameter `tga`
        ("--use-cache", "--use-cached"),  # the report: a re-run from scratch with a parameter `use_cache`
        ("--use_cached", "--use-cached"),  # `_` for `-`
        ("--files", "--file"),  # plural
        ("--parameter-file", "--parameters-file"),  # singular
        ("--paramters-file", "--parameters-file"),
        ("--config_file", "--config-file"),
        ("--log-levle", "--log-level"),
        ("--runid", "--run-id"),
        ("--jsno", "--json"),
        ("--stirct", "--strict"),
        ("--File", "--file"),
    ],
)
def test_a_mistyped_option_is_refused_with_a_suggestion_and_nothing_runs(
    project: Path, typed: str, meant: str
) -> None:
    done = run_magnus("execute", typed, "mine.yaml", cwd=project)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"did you mean {meant}?" in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1  # one line
    assert not (project / ".run_log_store").exists()  # nothing ran


def test_a_flag_typo_at_the_end_is_refused_as_a_typo_not_as_a_missing_value(project: Path) -> None:
    done = run_magnus("execute", "--file", "mine.yaml", "--jsn", cwd=project)
    assert done.returncode == 2 and "did you mean --json?" in done.stderr, done.stderr


def test_a_parameter_named_like_an_option_goes_after_dashes(project: Path) -> None:
    refused = run_magnus("execute", "--file", "mine.yaml", "--fiel", "x", cwd=project)
    assert "after '--'" in refused.stderr
    done = run_magnus(
        "execute", "--file", "mine.yaml", "--json", "--", "--fiel", "x", "--tag", "t", cwd=project
    )
    assert done.returncode == 0, done.stderr
    log = json.loads(done.stdout)
    assert log["parameters"] == {"fiel": "x", "tag": "t"}  # after --, even magnus's own names are parameters
    assert log["tag"] == ""


def test_a_parameters_file_may_name_anything(project: Path) -> None:
    (project / "params.yaml").write_text("fiel: x\nuse_cache: 3\n")
    done = run_magnus("execute", "--file", "mine.yaml", "-p", "params.yaml", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["parameters"] == {"fiel": "x", "use_cache": 3}


@pytest.mark.parametrize("name", ["size", "line", "fold", "filter", "title", "stride", "string", "lr", "x"])
def test_common_parameter_names_near_an_option_stay_parameters(project: Path, name: str) -> None:
    done = run_magnus("execute", "--file", "mine.yaml", f"--{name}", "7", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["parameters"] == {name: 7}


def test_the_rule() -> None:
    assert edit_distance("fiel", "file") == 1  # a swap of two letters is one edit
    assert edit_distance("kitten", "sitting") == 3
    assert is_typo_of_option("use-cach", "use-cached")  # two edits from a long option
    assert not is_typo_of_option("use-ca", "use-cached")  # four
    assert not is_typo_of_option("size", "file")  # two edits from a short option: a parameter
    assert is_typo_of_option("tags", "tag") and is_typo_of_option("tga", "tag")  # 3 letters: plural, a swap
    assert not is_typo_of_option("tap", "tag") and not is_typo_of_option("gat", "tag")  # no other edit


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("exeute", "execute"), ("lgos", "logs"), ("dif", "diff"), ("comapre", "compare"), ("bogus", None)],
)
def test_a_mistyped_command_is_offered_only_the_command_it_is_a_typo_of(
    typed: str, meant: str | None
) -> None:
    # trial 3: `magnus bogus` was answered "Did you mean 'logs'?" (click's difflib cutoff of 0.6)
    result = run_magnus(typed)
    assert result.returncode == 2
    assert f"No such command '{typed}'." in result.stderr
    if meant is None:
        assert "Did you mean" not in result.stderr
    else:
        assert f"Did you mean '{meant}'?" in result.stderr


def test_a_mistyped_file_option_is_said_where_no_pipeline_yaml_is(tmp_path: Path) -> None:
    """Trial 19 F17: `magnus execute --fiel p.yaml` in a folder without pipeline.yaml said the default
    pipeline.yaml was not found and suggested another pipeline, never --fiel: the typo is refused first."""
    (tmp_path / "mine.yaml").write_text(PIPELINE)
    done = run_magnus("execute", "--fiel", "mine.yaml", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "unknown option --fiel (did you mean --file?)" in done.stderr, (
        done.stderr
    )  # (the old code: not found)
    assert "pipeline file not found" not in done.stderr
