"""Two `magnus execute` of one pipeline at once, in one folder, never share or overwrite a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PIPELINE = """
dag:
  start_at: a
  steps:
    a: {type: task, command_type: shell, command: "sleep 0.3; echo $MAGNUS_RUN_ID >> ids.txt", next: success}
    success: {type: success}
    fail: {type: fail}
"""


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", *args],
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("store", ["file-system", "chunked-fs", "postgres"])
def test_same_run_id_at_once_one_wins_the_other_is_refused(git_repo: Path, store: str, store_block) -> None:
    (git_repo / "p.yaml").write_text(PIPELINE)
    (git_repo / "c.yaml").write_text(json.dumps({"run_log_store": store_block(store)}))
    procs = [_start("-c", "c.yaml", "--run-id", "same", "--who", str(i)) for i in range(2)]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "already exists" in loser and "Traceback" not in loser
    assert (git_repo / "ids.txt").read_text().split() == ["same"]  # the refused run ran nothing


def test_runs_started_together_get_their_own_ids_and_logs(git_repo: Path) -> None:
    (git_repo / "p.yaml").write_text(PIPELINE)
    procs = [_start() for _ in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    ids = (git_repo / "ids.txt").read_text().split()
    assert len(set(ids)) == 4
    logs = sorted((git_repo / ".run_log_store").glob("*.json"))
    assert sorted(p.stem for p in logs) == sorted(ids)
    for path in logs:
        assert json.loads(path.read_text())["status"] == "SUCCESS"
