"""A long-lived process (a Dask worker, the test suite itself) runs a project's current code: a step's
module is read again when its file changed since it was imported, or when the run works in another
folder that has a module of that name. Before, the first import stayed for the life of the process, so a
run recorded the new git commit and ran the old code."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from magnus_core.runner import RunRequest, execute, prepare

PIPELINE = """
dag:
  start_at: s
  steps:
    s: {type: task, command: reloadme.answer, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def _project(folder: Path, value: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pipeline.yaml").write_text(PIPELINE)
    (folder / "reloadme.py").write_text(f"def answer():\n    return {{'answer': {value}}}\n")
    return folder


def _answer(folder: Path) -> object:
    os.chdir(folder)
    log = execute(prepare(RunRequest(file=str(folder / "pipeline.yaml"))))
    assert log.status == "SUCCESS", log.steps
    return log.parameters["answer"]


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("reloadme", None)


def test_an_edited_step_module_is_read_again(clean: Path) -> None:
    project = _project(clean / "a", 1)
    assert _answer(project) == 1
    (project / "reloadme.py").write_text("def answer():\n    return {'answer': 22}\n")  # another size too
    assert _answer(project) == 22
    assert _answer(project) == 22  # and kept again while it does not change


def test_another_project_with_the_same_module_name_runs_its_own(clean: Path) -> None:
    first, second = _project(clean / "one", 1), _project(clean / "two", 2)
    assert _answer(first) == 1
    assert _answer(second) == 2
    assert _answer(first) == 1
