"""Every command a failure hint prints works as typed (trial 11, fault 1): on a run-log store that is not
the default, the `all of it: magnus logs RUN STEP` hint of the summary, `magnus show` and `magnus
execute_single_node` carries the run's `--config-file`, as the `Resume with:` line does. Each test runs
the real command line in a subprocess, in a temporary git repository, then runs the printed command."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

STEPS = """
def load():
    return {"mean": 0.5}


def train(mean):
    print(f"training mean={mean}")
    raise ValueError("learning rate too high")
"""

PIPELINE = """
dag:
  start_at: load
  steps:
    load: {type: task, command: steps.load, next: train}
    train: {type: task, command: steps.train, next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "pipeline.yaml").write_text(PIPELINE)
    (git_repo / "shared.yaml").write_text(
        "run_log_store: {type: chunked-fs, config: {log_folder: shared runs}}\n"
        "catalog: {type: file-system, config: {catalog_location: shared catalog}}\n"
    )
    return git_repo


def _hint(text: str, prefix: str = "") -> str:
    """The command of the `all of it:` line in `text`."""
    lines = [line for line in text.splitlines() if line.startswith(f"{prefix}  all of it: ")]
    assert len(lines) == 1, text
    return lines[0].split("all of it: ", 1)[1]


def _run_as_typed(magnus: Any, command: str) -> Any:
    words = shlex.split(command)
    assert words[0] == "magnus", command
    done = magnus(*words[1:])
    assert done.returncode == 0, (command, done.stderr)
    assert "training mean=0.5" in done.stdout, (command, done.stdout)
    return done


def test_the_summary_and_show_hints_carry_the_config_file(project: Path, magnus: Any) -> None:
    ran = magnus("execute", "--file", "pipeline.yaml", "--config-file", "shared.yaml", "--run-id", "r1")
    assert ran.returncode == 1, ran.stderr
    assert not (project / ".run_log_store").exists()  # (the store is not the default one)
    hint = _hint(ran.stdout)
    assert hint == "magnus logs r1 train --config-file shared.yaml"
    _run_as_typed(magnus, hint)

    shown = magnus("show", "r1", "-c", "shared.yaml")
    assert shown.returncode == 0, shown.stderr
    assert _hint(shown.stdout) == hint
    _run_as_typed(magnus, hint)


def test_a_failed_single_node_step_prints_a_hint_that_works(project: Path, magnus: Any) -> None:
    def single(step: str) -> Any:
        return magnus(
            "execute_single_node", "pod", step, "-f", "pipeline.yaml", "--config-file", "shared.yaml"
        )

    assert single("load").returncode == 0
    failed = single("train")
    assert failed.returncode == 1
    hint = _hint(failed.stderr, prefix="magnus: ")
    assert hint == "magnus logs pod train --config-file shared.yaml"
    _run_as_typed(magnus, hint)


def test_a_config_file_with_a_space_is_quoted(project: Path, magnus: Any) -> None:
    (project / "my config.yaml").write_text((project / "shared.yaml").read_text())
    ran = magnus("execute", "--file", "pipeline.yaml", "-c", "my config.yaml", "--run-id", "r2")
    assert ran.returncode == 1, ran.stderr
    hint = _hint(ran.stdout)
    assert hint == "magnus logs r2 train --config-file 'my config.yaml'"
    _run_as_typed(magnus, hint)


def test_the_default_store_hint_is_unchanged(project: Path, magnus: Any) -> None:
    ran = magnus("execute", "--file", "pipeline.yaml", "--run-id", "r3")
    assert ran.returncode == 1, ran.stderr
    assert _hint(ran.stdout) == "magnus logs r3 train"
