"""Every name that becomes a path stays inside its folder: dag_definition files and notebook paths here
(run ids: test_stores.py; chunked part names: test_chunked.py; catalog names and patterns: test_catalog.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from magnus_core.errors import PipelineError
from magnus_core.runner import RunRequest, execute, prepare


@pytest.mark.parametrize("target", ["../outside.yaml", "/tmp/../etc/passwd.yaml", "link.yaml"])
def test_dag_definition_outside_the_project_is_refused(git_repo: Path, target: str) -> None:
    outside = git_repo.parent / "outside.yaml"
    outside.write_text(
        "dag: {start_at: s, steps: {s: {type: stub, next: success}, success: {type: success}, "
        "fail: {type: fail}}}\n"
    )
    (git_repo / "link.yaml").symlink_to(outside)
    (git_repo / "p.yaml").write_text(
        textwrap.dedent(f"""
        dag:
          start_at: d
          steps:
            d: {{type: dag, dag_definition: "{target}", next: success}}
            success: {{type: success}}
            fail: {{type: fail}}
    """)
    )
    with pytest.raises(PipelineError, match=r"field 'dag_definition'.*outside the project"):
        prepare(RunRequest(file="p.yaml"))
    assert not (git_repo / ".run_log_store").exists()


@pytest.mark.parametrize(
    "command, config", [("../nb.ipynb", {}), ("nb.ipynb", {"notebook_output_path": "../x.ipynb"})]
)
def test_notebook_paths_outside_the_project_are_refused(git_repo: Path, command: str, config: dict) -> None:
    (git_repo / "p.yaml").write_text(
        textwrap.dedent(f"""
        dag:
          start_at: n
          steps:
            n: {{type: task, command_type: notebook, command: "{command}", command_config: {config}, next: success}}
            success: {{type: success}}
            fail: {{type: fail}}
    """)
    )
    log = execute(prepare(RunRequest(file="p.yaml")))
    assert log.status == "FAIL"
    assert "outside" in log.steps["n"].message
    assert not (git_repo.parent / "x.ipynb").exists()
