"""Bytes a step returns or tracks fail that step, whatever they hold (trial 12 fault 17: UTF-8 bytes became
text, so the next step got a str where bytes were returned, while the docs say bytes fail the step). The
real command line, in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

STEPS = """
from magnus import track_this


def ret_bytes():
    return {"blob": b"\\x00\\x01"}


def ret_nested():
    return {"report": {"rows": [1, b"ok"]}}


def track_bytes():
    track_this(model_size=b"\\x00\\x01")


def ret_text():
    return {"note": "caf\\u00e9", "empty": ""}


def reads(blob="missing"):
    print(type(blob).__name__)
"""

PIPELINE = """
dag:
  start_at: a
  steps:
    a: {{type: task, command: steps.{function}, next: b}}
    b: {{type: task, command: steps.reads, next: success}}
    success: {{type: success}}
    fail: {{type: fail}}
"""


@pytest.mark.parametrize(
    ("function", "said"),
    [
        ("ret_bytes", "returned parameter 'blob' holds bytes, which a run log cannot hold as JSON"),
        ("ret_nested", "returned parameter 'report' holds bytes at report['rows'][1], which a run log"),
        ("track_bytes", "metric 'model_size' holds bytes, which a run log cannot hold as JSON"),
    ],
)
def test_bytes_fail_the_step_that_returns_or_tracks_them(
    git_repo: Path, magnus: Any, function: str, said: str
) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE.format(function=function))
    done = magnus("execute", "-f", "p.yaml", "--run-id", "r", "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    log = json.loads(done.stdout)
    assert log["steps"]["a"]["status"] == "FAIL"
    assert said in log["steps"]["a"]["attempts"][0]["message"]
    assert ".decode()" in log["steps"]["a"]["attempts"][0]["message"]
    assert "b" not in log["steps"]  # the step after it never received a str in their place


def test_text_still_passes(git_repo: Path, magnus: Any) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE.format(function="ret_text"))
    done = magnus("execute", "-f", "p.yaml", "--run-id", "t", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["steps"]["a"]["returned_parameters"] == {"note": "caf\u00e9", "empty": ""}
