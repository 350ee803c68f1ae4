"""Notebook steps: papermill runs the notebook with injected parameters; metrics and parameters come back."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import nbformat
import pytest

from magnus_core.models.run_log import FAIL, SUCCESS
from magnus_core.runner import RunRequest, execute, prepare

pytest.importorskip("papermill")  # the optional extra magnus[notebook]; .ci/run installs it


def write_notebook(path: Path, *cells: str, parameters: str = "x = 1\nlabel = 'none'") -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    nb.cells.extend(nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells)
    nbformat.write(nb, path)


def pipeline(repo: Path, command: str = "analysis.ipynb", config: str = "", extra: str = "") -> None:
    (repo / "pipeline.yaml").write_text(f"""
dag:
  start_at: prep
  steps:
    prep: {{type: task, command_type: python-lambda, command: "lambda: {{'x': 20, 'label': 'from prep'}}", next: nb}}
    nb:
      type: task
      command_type: notebook
      command: {command}
      {config}
      next: after
    after: {{type: task, command_type: python-lambda, command: "lambda y: {{'z': y + 1}}", next: success}}
    success: {{type: success}}
    fail: {{type: fail}}
{extra}
""")


ANALYSIS = (
    """
from magnus import track_this, store_parameter, get_parameter
y = x * 2 + 2
track_this(doubled=y, label_seen=label)
store_parameter(y=y)
print("label is", label, "and all parameters are", sorted(get_parameter()))
""",
)


def test_notebook_with_parameters_and_a_metric(git_repo: Path) -> None:
    write_notebook(git_repo / "analysis.ipynb", *ANALYSIS)
    pipeline(git_repo)
    log = execute(prepare(RunRequest(file="pipeline.yaml")))
    assert log.status == SUCCESS, [s.message for s in log.walk()]
    nb_step = log.steps["nb"]
    assert nb_step.user_defined_metrics == {"doubled": 42, "label_seen": "from prep"}
    assert log.parameters["y"] == 42 and log.parameters["z"] == 43  # the next step got y
    executed = git_repo / "analysis_out.ipynb"
    nb = nbformat.read(executed, as_version=4)
    sources = [c.source for c in nb.cells]
    assert any("x = 20" in s for s in sources)  # papermill's injected parameters cell
    assert not any(
        "magnus-collect" in json.dumps(c.metadata) for c in nb.cells
    )  # our collecting cell is gone
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "label is from prep" in printed
    record = nb_step.data_catalog[0]  # the executed notebook is in the catalog
    assert record.name == "analysis_out.ipynb" and record.stage == "put"
    kept = git_repo / ".catalog" / log.run_id / "analysis_out.ipynb"
    assert record.data_hash == hashlib.sha256(kept.read_bytes()).hexdigest()


def test_notebook_output_path_and_failure(git_repo: Path) -> None:
    write_notebook(git_repo / "broken.ipynb", "raise ValueError('notebook says no')")
    pipeline(
        git_repo,
        "broken.ipynb",
        config="command_config: {notebook_output_path: data/executed.ipynb, notebook_kernel: python3}",
    )
    (git_repo / "data").mkdir()
    log = execute(prepare(RunRequest(file="pipeline.yaml")))
    assert log.status == FAIL
    message = log.steps["nb"].message
    assert "ValueError" in message and "notebook says no" in message and "data/executed.ipynb" in message
    assert (git_repo / "data" / "executed.ipynb").is_file()  # the executed copy shows where it failed


def test_a_secret_printed_in_a_notebook_is_masked_in_the_executed_copy(git_repo: Path) -> None:
    (git_repo / ".env").write_text("token=nb-secret-123\n")
    write_notebook(
        git_repo / "analysis.ipynb",
        "from magnus import get_secret\nprint('token', get_secret('token'))",
        "from magnus import store_parameter\nstore_parameter(y=1)",
    )
    pipeline(git_repo, extra="secrets: {type: dotenv}")
    log = execute(prepare(RunRequest(file="pipeline.yaml")))
    assert log.status == SUCCESS, [s.message for s in log.walk()]
    text = (git_repo / "analysis_out.ipynb").read_text()
    assert "nb-secret-123" not in text and "token *****" in text
    assert "nb-secret-123" not in (git_repo / ".catalog" / log.run_id / "analysis_out.ipynb").read_text()


def test_bad_notebook_commands(git_repo: Path) -> None:
    pipeline(git_repo, "missing.ipynb")
    log = execute(prepare(RunRequest(file="pipeline.yaml")))
    assert log.status == FAIL and "notebook 'missing.ipynb' not found" in log.steps["nb"].message
    pipeline(git_repo, "script.py")
    log = execute(prepare(RunRequest(file="pipeline.yaml")))
    assert log.status == FAIL and "ending .ipynb" in log.steps["nb"].message
