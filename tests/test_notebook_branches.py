"""A notebook step in a map run with `max_workers` > 1 keeps what its cells' child processes write, in its
own item's file: ipykernel sends it as the cell's output there (beside other branches fd 1 and 2 are in no
step's file). Trial 26: a map item's `ERROR: 403 Forbidden` was kept nowhere, as magnus had turned
ipykernel's capture of fd 1 and 2 off for every notebook step (trial 24's fix of it kept twice alone)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_magnus

PIPELINE = """
executor: {type: local, config: {max_workers: 2}}
dag:
  start_at: init
  steps:
    init: {type: task, command_type: python-lambda, command: "lambda: {'items': ['a', 'b']}", next: each}
    each:
      type: map
      iterate_on: items
      iterate_as: item
      next: success
      branch:
        start_at: nb
        steps:
          nb: {type: task, command_type: notebook, command: per_item.ipynb, next: success}
          success: {type: success}
          fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_notebook_items_child_output_is_kept_in_its_file_beside_other_items(git_repo: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("papermill")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell("item = 'x'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import subprocess, time\nsubprocess.run(['sh', '-c', f'echo child for {item}'])\ntime.sleep(0.5)"
        ),
    ]
    nbformat.write(notebook, git_repo / "per_item.ipynb")
    (git_repo / "p.yaml").write_text(PIPELINE)
    # (ipykernel captures fd 1 and 2 only outside pytest: PYTEST_CURRENT_TEST)
    done = run_magnus(
        "execute", "-f", "p.yaml", "--run-id", "r", cwd=git_repo, unset=("PYTEST_CURRENT_TEST",)
    )
    assert done.returncode == 0, done.stderr
    for item in ("a", "b"):
        kept = run_magnus("logs", "r", f"each.{item}.nb", cwd=git_repo).stdout
        assert kept.count(f"child for {item}\n") == 1, kept
        assert "[magnus: while this step ran beside other branches" not in kept
