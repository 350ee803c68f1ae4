"""The mistakes of a user's first hour get an answer that helps (issue 18, item 15)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from magnus_core.suggest import nearby_files
from tests.conftest import ROOT, run_magnus


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The repository's examples, where a new user stands: at the root of the clone."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    return tmp_path


def test_the_seed_command_from_the_repository_root_names_the_file_meant(clone: Path) -> None:
    done = run_magnus("execute", "--file", "getting-started.yaml", cwd=clone)
    assert done.returncode == 2
    assert (
        "getting-started.yaml: pipeline file not found (did you mean examples/getting-started.yaml?)"
        in done.stderr
    )


@pytest.mark.parametrize(
    ("option", "name", "meant"),
    [
        ("--parameters-file", "parameters.yaml", "examples/parameters.yaml"),
        ("--file", "examples/getting-startd.yaml", "examples/getting-started.yaml"),  # a typo in the name
        ("--config-file", "examples/composit.yaml", "examples/composite.yaml"),
        ("--var-file", "examples/secret.yaml", "examples/secrets.yaml"),
    ],
)
def test_every_missing_file_names_the_nearest(clone: Path, option: str, name: str, meant: str) -> None:
    args = ["--file", "examples/getting-started.yaml", option, name]
    if option == "--file":
        args = [option, name]
    done = run_magnus("execute", *args, cwd=clone)
    assert done.returncode == 2
    assert "not found" in done.stderr and f"did you mean {meant}?" in done.stderr, done.stderr


def test_a_missing_file_with_nothing_near_says_only_not_found(clone: Path) -> None:
    done = run_magnus("execute", "--file", "zzz.yaml", cwd=clone)
    assert done.returncode == 2 and done.stderr.strip() == "Error: zzz.yaml: pipeline file not found"


def test_the_search_skips_magnus_folders_and_is_bounded(tmp_path: Path) -> None:
    (tmp_path / ".run_log_store").mkdir()
    (tmp_path / ".run_log_store" / "p.yaml").write_text("")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "p.yaml").write_text("")
    deep = tmp_path / "a" / "b" / "c" / "d" / "e"
    deep.mkdir(parents=True)
    (deep / "p.yaml").write_text("")
    (tmp_path / "a" / "p.yaml").write_text("")
    assert nearby_files("p.yaml", tmp_path) == ["a/p.yaml"]


def test_a_mistyped_step_name_gets_a_suggestion_and_the_list_of_steps(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "dag:\n  start_at: prepare\n  steps:\n"
        "    prepare: {type: stub, next: reprot}\n"
        "    report: {type: stub, next: success, on_failure: fial}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    done = run_magnus("execute", "--file", "p.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert (
        "step 'prepare': field 'next': 'reprot' is not a step of this dag (did you mean 'report'?)"
        in done.stderr
    )
    assert "(steps: prepare, report, success, fail)" in done.stderr
    assert "'fial' is not a step of this dag (did you mean 'fail'?)" in done.stderr
    (tmp_path / "p.yaml").write_text(
        "dag:\n  start_at: prepar\n  steps:\n    prepare: {type: stub, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    done = run_magnus("execute", "--file", "p.yaml", cwd=tmp_path)
    assert "field 'start_at': 'prepar' is not a step of this dag (did you mean 'prepare'?)" in done.stderr


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_an_empty_pipeline_file_says_so(tmp_path: Path, text: str) -> None:
    (tmp_path / "p.yaml").write_text(text)
    done = run_magnus("execute", "--file", "p.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert (
        done.stderr.strip() == "Error: p.yaml: pipeline file is empty (expected a mapping with a 'dag' key)"
    )


def test_an_empty_dag_definition_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "inner.yaml").write_text("")
    (tmp_path / "p.yaml").write_text(
        "dag:\n  start_at: nested\n  steps:\n    nested: {type: dag, dag_definition: inner.yaml, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    done = run_magnus("execute", "--file", "p.yaml", cwd=tmp_path)
    assert (
        done.returncode == 2
        and "inner.yaml: dag_definition file (named by step 'nested') is empty" in done.stderr
    )
