"""A failed notebook step's frame uses the one cell number every view gives (the user's cell, from 1, not
the executed copy's In [n]) with its source line, and the traceback it keeps names the project's files
relative to the project folder, as a python step's do (trial 12 fault 8: the run log said `cell [4]` where
the failure said `cell 3`, no source text, and the summary's last lines gave absolute paths). A real run
of a real kernel, in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FEATURES = "def _normalise(col, stats):\n    x = 1\n    y = 2\n    z = 3\n    return col / stats\n"
PIPELINE = """
dag:
  start_at: score
  steps:
    score: {type: task, command_type: notebook, command: score.ipynb, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_failed_cell_is_one_number_with_its_source_and_relative_files(git_repo: Path, magnus: Any) -> None:
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("papermill")
    (git_repo / "mlproj").mkdir()
    (git_repo / "mlproj" / "__init__.py").write_text("")
    (git_repo / "mlproj" / "features.py").write_text(FEATURES)
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    parameters = nbformat.v4.new_code_cell("threshold = 0.5")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [
        parameters,
        nbformat.v4.new_code_cell("print('hi')"),
        nbformat.v4.new_code_cell(
            "from mlproj.features import _normalise\nprint('scoring')\nscore = _normalise(1, 0)"
        ),
    ]
    nbformat.write(notebook, git_repo / "score.ipynb")
    (git_repo / "p.yaml").write_text(PIPELINE)
    done = magnus("execute", "-f", "p.yaml", "--run-id", "nb1", "--threshold", "0.7")
    assert done.returncode == 1
    assert "  at cell 3, line 3" in done.stdout
    assert "  | File mlproj/features.py:5, in _normalise(col, stats)" in done.stdout, done.stdout
    assert str(git_repo) not in done.stdout
    error = json.loads(magnus("logs", "nb1", "score", "--json").stdout)["attempts"][0]["error"]
    assert error["cell"] == 3
    assert error["frames"] == [
        {"file": "score.ipynb", "line": 3, "function": "cell 3", "text": "score = _normalise(1, 0)"}
    ]
    kept = magnus("logs", "nb1", "score").stdout
    assert "File mlproj/features.py:5, in _normalise(col, stats)" in kept
