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


# -- issue 18, item 6: every name the parameters cell assigns is injected -----------------------------------
PARAMETERS_CELL = """
%config InlineBackend.figure_format = 'retina'
query = "a=b"
limit = 10
opts = dict(x=1)
Threshold: float = 0.5
low, high = 0, 1
"""

SHOW = """
import json
with open("seen.json", "w") as f:
    json.dump({"query": query, "limit": limit, "opts": opts, "Threshold": Threshold, "low": low, "high": high}, f)
"""


def test_every_parameter_the_cell_assigns_is_injected_and_the_rest_is_reported(
    git_repo: Path, magnus
) -> None:
    write_notebook(git_repo / "inspect.ipynb", SHOW, parameters=PARAMETERS_CELL)
    (git_repo / "pipeline.yaml").write_text(
        "dag:\n  start_at: nb\n  steps:\n"
        "    nb: {type: task, command_type: notebook, command: inspect.ipynb, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    done = magnus(
        "execute", "--query", "x=y", "--limit", "20", "--opts", "{x: 2}", "--threshold", "0.9",
        "--high", "7", "--extra", "1", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads((git_repo / "seen.json").read_text())
    # papermill's own inspection returned `limit` alone: the other values were silently not injected
    assert seen == {"query": "x=y", "limit": 20, "opts": {"x": 2}, "Threshold": 0.9, "low": 0, "high": 7}
    log = json.loads(done.stdout)
    assert log["steps"]["nb"]["attempts"][0]["parameters"] == {
        "query": "x=y", "limit": 20, "opts": {"x": 2}, "Threshold": 0.9, "high": 7,
    }  # fmt: skip
    said = done.stderr + done.stdout
    assert "does not declare extra in its parameters cell: not injected" in said


def test_declared_parameters_reads_the_cell_with_ast() -> None:
    from magnus_core.tasks.notebook import declared_parameters

    nb = nbformat.v4.new_notebook()
    assert declared_parameters(nb) == {}
    nb.cells.append(nbformat.v4.new_code_cell(PARAMETERS_CELL, metadata={"tags": ["parameters"]}))
    nb.cells.append(nbformat.v4.new_code_cell("not_a_parameter = 1"))
    assert declared_parameters(nb) == {
        "query": "query", "limit": "limit", "opts": "opts", "threshold": "Threshold", "low": "low", "high": "high",
    }  # fmt: skip
    nb.cells[0].source = "def helper():\n    inner = 1\nx = (1,\n"  # python cannot parse it
    assert declared_parameters(nb) is None
