"""A chained exception keeps its cause in the run log (trial 12 fault 16: `raise RuntimeError(...) from e`
kept only the outer exception, so with an output cap, the do-nothing catalog or `--json` the root cause was
gone). The real command line, in a subprocess, in a git repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

STEPS = """import json


def _read_config(path):
    with open(path) as fh:
        return json.load(fh)


def chained():
    print("reading config", flush=True)
    try:
        _read_config("bad.json")
    except ValueError as e:
        raise RuntimeError("could not load training config") from e


def implicit():
    try:
        {}["b"]
    except KeyError:
        raise ValueError("no b")
"""

PIPELINE = """
dag:
  start_at: a
  steps:
    a: {{type: task, command: steps.{function}, next: success}}
    success: {{type: success}}
    fail: {{type: fail}}
"""

CAUSE = (
    "caused by JSONDecodeError: Expecting property name enclosed in double quotes: line 2 column 15 "
    "(char 26), at steps.py:6 in _read_config"
)


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "bad.json").write_text('{"lr": 0.1,\n "epochs": 10,,\n}\n')
    for function in ("chained", "implicit"):
        (git_repo / f"{function}.yaml").write_text(PIPELINE.format(function=function))
    (git_repo / "nothing.yaml").write_text("catalog: {type: do-nothing}\n")
    return git_repo


def test_the_cause_is_recorded_and_shown_when_no_output_is_kept(project: Path, magnus: Any) -> None:
    done = magnus("execute", "-f", "chained.yaml", "--run-id", "c0", env={"MAGNUS_OUTPUT_CAP": "0"})
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    at = lines.index("a: RuntimeError: could not load training config")
    assert lines[at + 1 : at + 3] == ["  at steps.py:14 in chained", f"  {CAUSE}"], done.stdout

    shown = magnus("show", "c0").stdout.splitlines()
    assert f"  {CAUSE}" in shown

    logs = magnus("logs", "c0", "a")
    assert (
        "magnus: a (attempt 0) failed: RuntimeError: could not load training config, at steps.py:14 in chained"
        in (logs.stderr)
    )
    assert f"magnus:   {CAUSE}" in logs.stderr.splitlines()
    # the output was cut before its traceback: the run log's frames, the cause's too, are printed
    assert "magnus:   traceback (most recent call last), as the run log keeps it:" in logs.stderr
    assert 'magnus:     File "steps.py", line 6, in _read_config' in logs.stderr.splitlines()

    error = json.loads(magnus("logs", "c0", "a", "--json").stdout)["attempts"][0]["error"]
    assert error["type"] == "RuntimeError"
    cause = error["cause"]
    assert cause["type"] == "JSONDecodeError"
    assert cause["message"].startswith("Expecting property name enclosed in double quotes: line 2 column 15")
    assert "implicit" not in cause  # `from e`: python's __cause__
    ours = [(f["file"], f["line"], f["function"]) for f in cause["frames"] if f["file"] == "steps.py"]
    assert ours == [("steps.py", 12, "chained"), ("steps.py", 6, "_read_config")]


def test_the_do_nothing_catalog_prints_the_causes_frames(project: Path, magnus: Any) -> None:
    done = magnus("execute", "-f", "chained.yaml", "-c", "nothing.yaml", "--run-id", "n1")
    assert done.returncode == 1
    assert f"  {CAUSE}" in done.stdout.splitlines()
    logs = magnus("logs", "n1", "a", "-c", "nothing.yaml").stderr.splitlines()
    assert "magnus:   traceback (most recent call last), as the run log keeps it:" in logs
    assert (
        "magnus:   caused by JSONDecodeError: Expecting property name enclosed in double quotes: line 2 "
        "column 15 (char 26):"
    ) in logs
    assert 'magnus:     File "steps.py", line 6, in _read_config' in logs


def test_implicit_chaining_is_kept_as_raised_while_handling(project: Path, magnus: Any) -> None:
    done = magnus("execute", "-f", "implicit.yaml", "--run-id", "i1")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    at = lines.index("a: ValueError: no b")
    assert lines[at + 1 : at + 3] == [
        "  at steps.py:21 in implicit",
        "  raised while handling KeyError: 'b', at steps.py:19 in implicit",
    ], done.stdout
    error = json.loads(magnus("logs", "i1", "a", "--json").stdout)["attempts"][0]["error"]
    assert error["cause"]["type"] == "KeyError" and error["cause"]["implicit"] is True


def test_a_step_run_alone_keeps_the_cause(project: Path, magnus: Any) -> None:
    """The per-step entry point with a catalog that keeps no output writes the step's JSON itself
    (single_plain): the cause is there too."""
    done = magnus("execute_single_node", "s1", "a", "-f", "chained.yaml", "-c", "nothing.yaml")
    assert done.returncode == 1
    assert f"magnus:   {CAUSE}" in done.stderr.splitlines()
    error = json.loads(magnus("logs", "s1", "a", "--json", "-c", "nothing.yaml").stdout)["attempts"][0][
        "error"
    ]
    assert error["cause"]["type"] == "JSONDecodeError"
