"""A run keeps its uncommitted code changes as a patch in its catalog, and `magnus diff A B --code` prints
what changed in the code as content (trial8 finding 4: the diff named `mlp/steps.py`, never what changed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import git, run_magnus

STEPS = 'def train(lr: float = 0.1):\n    return {"loss": lr * 2}\n'
PIPELINE = """
dag:
  start_at: train
  steps:
    train: {type: task, command: steps.train, next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    (git_repo / "notes.txt").write_text("untracked: never in a patch\n")
    git(git_repo, "add", "steps.py", "p.yaml")
    git(git_repo, "commit", "-qm", "first")
    return git_repo


def execute(project: Path, run_id: str, *extra: str) -> dict:
    done = run_magnus("execute", "-f", "p.yaml", "--run-id", run_id, "--json", *extra, cwd=project)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_dirty_run_keeps_its_patch_and_diff_code_shows_the_content(project: Path) -> None:
    clean = execute(project, "clean")
    assert "code_patch" not in clean["run_config"]  # nothing uncommitted: no patch
    (project / "steps.py").write_text(STEPS.replace("lr * 2", "lr * 3"))
    dirty = execute(project, "dirty")
    record = dirty["run_config"]["code_patch"]
    assert record["name"] == ".magnus/code.patch" and record["files"] == ["steps.py"] and not record["cut"]
    kept = project / ".catalog" / "dirty" / ".magnus" / "code.patch"
    assert '+    return {"loss": lr * 3}' in kept.read_text() and "untracked" not in kept.read_text()
    assert all(
        entry["name"] != ".magnus/code.patch" for s in dirty["steps"].values() for entry in s["data_catalog"]
    )
    shown = run_magnus("diff", "clean", "dirty", "--code", cwd=project)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert '-    return {"loss": lr * 2}' in lines and '+    return {"loss": lr * 3}' in lines
    # committed since: the code of each run, compared as content, whatever was committed or not
    git(project, "commit", "-qam", "times three")
    (project / "steps.py").write_text(STEPS.replace("lr * 2", "lr * 4"))
    execute(project, "later")
    data = json.loads(run_magnus("diff", "dirty", "later", "--code", "--json", cwd=project).stdout)
    assert data["schema"] == "magnus-code-diff/1" and data["exact"] is True and data["differs"] is True
    assert [line for line in data["diff"] if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        '-    return {"loss": lr * 3}',
        '+    return {"loss": lr * 4}',
    ]
    same = run_magnus("diff", "dirty", "dirty", "--code", "--exit-code", cwd=project)
    assert same.returncode == 0 and same.stdout == "" and "the same in both runs" in same.stderr
    assert run_magnus("diff", "clean", "later", "--code", "--exit-code", cwd=project).returncode == 1


def test_the_patch_is_masked_and_never_kept_by_the_do_nothing_catalog(project: Path) -> None:
    (project / "secrets.env").write_text("TOKEN=s3cr3tvalue\n")
    (project / "c.yaml").write_text("secrets: {type: dotenv, config: {location: secrets.env}}\n")
    (project / "p.yaml").write_text(PIPELINE.replace("dag:\n", "dag:\n  secrets: [TOKEN]\n"))
    git(project, "add", "p.yaml")
    git(project, "commit", "-qm", "secret")
    (project / "steps.py").write_text(STEPS + '\nTOKEN = "s3cr3tvalue"  # pasted by mistake\n')
    execute(project, "masked", "-c", "c.yaml")
    kept = (project / ".catalog" / "masked" / ".magnus" / "code.patch").read_text()
    assert "s3cr3tvalue" not in kept and "TOKEN = " in kept
    (project / "nothing.yaml").write_text("catalog: {type: do-nothing}\n" + (project / "c.yaml").read_text())
    bare = execute(project, "bare", "-c", "nothing.yaml")
    assert "code_patch" not in bare["run_config"]


def test_a_patch_gone_from_the_catalog_is_said(project: Path) -> None:
    execute(project, "clean")
    (project / "steps.py").write_text(STEPS.replace("lr * 2", "lr * 5"))
    execute(project, "dirty")
    (project / ".catalog" / "dirty" / ".magnus" / "code.patch").unlink()
    shown = run_magnus("diff", "clean", "dirty", "--code", cwd=project)
    assert "B (dirty) had uncommitted changes, but its patch is missing from its catalog" in shown.stderr
    both = run_magnus("diff", "clean", "dirty", "--code", "--output", "train", cwd=project)
    assert both.returncode == 2 and "give one" in both.stderr


def test_a_run_driven_one_step_per_process_keeps_its_patch(project: Path) -> None:
    """The process that makes a per-step run (an Argo pod's first step, a step run by hand) keeps the
    uncommitted changes as `magnus execute` does; the next step's process adds nothing (closing note of the
    seventh sitting: per-step runs kept no patch, so `diff --code` had only file names)."""
    (project / "c.yaml").write_text("run_log_store: {type: chunked-fs}\n")
    execute(project, "clean", "-c", "c.yaml")
    (project / "steps.py").write_text(STEPS.replace("lr * 2", "lr * 7"))
    step = run_magnus("execute_single_node", "bystep", "train", "-f", "p.yaml", "-c", "c.yaml", cwd=project)
    assert step.returncode == 0, step.stderr
    end = run_magnus("execute_single_node", "bystep", "success", "-f", "p.yaml", "-c", "c.yaml", cwd=project)
    assert end.returncode == 0, end.stderr
    shown = json.loads(run_magnus("show", "bystep", "-c", "c.yaml", "--json", cwd=project).stdout)
    record = shown["run_config"]["code_patch"]
    assert record["files"] == ["steps.py"] and not record["cut"]
    kept = project / ".catalog" / "bystep" / ".magnus" / "code.patch"
    assert '+    return {"loss": lr * 7}' in kept.read_text()
    diff = run_magnus("diff", "clean", "bystep", "--code", "-c", "c.yaml", cwd=project)
    assert diff.returncode == 0, diff.stderr
    assert '+    return {"loss": lr * 7}' in diff.stdout.splitlines()
