"""A notebook whose kernel dies (killed as the OOM killer kills, or os._exit) is located at the cell that was
running, keeps its executed copy, and its failure shows no papermill or nbclient frame (trial 14 F16: it read
`DeadKernelError: Kernel died, at .../site-packages/nbclient/client.py:1009 in async_execute_cell`, its last
lines were papermill's traceback, no cell, no executed copy). A real kernel, in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

PIPELINE = """
dag:
  start_at: nb
  steps:
    nb: {type: task, command_type: notebook, command: oom.ipynb, next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.mark.parametrize(
    ("death", "how"),
    [
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "killed by signal 9 (SIGKILL)"),
        ("import os\nos._exit(3)", "its process exited with code 3"),
    ],
)
def test_a_dead_kernel_is_located_at_its_running_cell(
    git_repo: Path, magnus: Any, death: str, how: str
) -> None:
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("papermill")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell("print('loaded', flush=True)"),
        nbformat.v4.new_markdown_cell("## training"),
        nbformat.v4.new_code_cell(f"print('allocating', flush=True)\n{death}"),
        nbformat.v4.new_code_cell("print('never')"),
    ]
    nbformat.write(notebook, git_repo / "oom.ipynb")
    (git_repo / "p.yaml").write_text(PIPELINE)
    done = magnus("execute", "-f", "p.yaml", "--run-id", "nbk")
    assert done.returncode == 1, done.stderr
    # how it died, as a shell step's failure says it (trial 25: the same guesses for every death)
    assert f"nb: notebook 'oom.ipynb': the kernel died while cell 3 ran: {how} (executed" in done.stdout, (
        done.stdout
    )
    assert "site-packages" not in done.stdout and "papermill" not in done.stdout.replace("papermill-", "")
    error = json.loads(magnus("logs", "nbk", "nb", "--json").stdout)["attempts"][0]["error"]
    assert error["type"] == "DeadKernelError" and error["cell"] == 3
    assert error["message"] == f"the kernel died while cell 3 ran: {how}"
    # the reason's last stderr lines leave out ipykernel's noise, as the summary does (trial 16 F7: every
    # notebook failure's `stderr` began with its TCP warning, and `magnus logs` printed it as a reason)
    assert error["stderr"] and not any("without encryption" in line for line in error["stderr"]), error
    said = magnus("logs", "nbk", "nb").stderr
    assert "stderr:" not in said or "without encryption" not in said, said
    kept = magnus("logs", "nbk", "nb").stdout
    assert (
        "loaded" in kept and "Traceback" not in kept
    )  # (a line printed just before os._exit may not reach it)
    assert (git_repo / "oom_out.ipynb").is_file()  # the executed copy is kept
