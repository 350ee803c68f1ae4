"""A value typed at the secret prompt reaches python, shell and notebook steps alike (issue 17), through a
real terminal (pexpect): get_secret() finds it in every kind of step, and it is masked everywhere."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT

pexpect = pytest.importorskip("pexpect")

FUNCS = """
from magnus import get_secret

def python_step():
    print("python sees", get_secret("api_token"))
"""

PIPELINE = """
dag:
  secrets: [api_token]
  start_at: python
  steps:
    python: {type: task, command: funcs.python_step, next: shell}
    shell:
      type: task
      command_type: shell
      command: python -c "from magnus import get_secret; print('shell sees', get_secret('api_token'))"; echo "shell env $api_token"
      next: notebook
    notebook: {type: task, command_type: notebook, command: prompt.ipynb, next: success}
    success: {type: success}
    fail: {type: fail}
secrets: {type: env-secrets-manager}
"""


def test_a_value_given_at_the_prompt_reaches_python_shell_and_notebook_steps(git_repo: Path) -> None:
    pytest.importorskip("papermill")
    import nbformat

    value = f"typed-{uuid.uuid4().hex}"
    (git_repo / "funcs.py").write_text(FUNCS)
    (git_repo / "pipeline.yaml").write_text(PIPELINE)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from magnus import get_secret\nprint('notebook sees', get_secret('api_token'))"
        )
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, git_repo / "prompt.ipynb")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    env.pop("api_token", None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "magnus_core", "execute", "--file", "pipeline.yaml", "--json"],
        cwd=str(git_repo),
        env=env,
        encoding="utf-8",
        timeout=120,
    )
    transcript: list[str] = []
    child.logfile_read = _Collect(transcript)
    child.expect("Secret 'api_token' \\(input hidden\\): ")
    child.sendline(value)
    child.expect(pexpect.EOF)
    child.close()
    seen = "".join(transcript)
    assert child.exitstatus == 0, seen
    assert value not in seen  # not echoed at the prompt, masked when printed
    start = seen.index("{\r\n")  # --json: the run log is the last thing on stdout
    log = json.loads(seen[start : seen.rindex("}") + 1].replace("\r\n", "\n"))
    assert log["status"] == "SUCCESS", log
    assert "python sees *****" in seen and "shell sees *****" in seen and "shell env *****" in seen
    executed = (git_repo / "prompt_out.ipynb").read_text()
    assert "notebook sees *****" in executed and value not in executed
    for path in git_repo.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert value.encode() not in path.read_bytes(), path


class _Collect:
    def __init__(self, into: list[str]) -> None:
        self._into = into

    def write(self, text: str) -> None:
        self._into.append(text)

    def flush(self) -> None:
        pass
