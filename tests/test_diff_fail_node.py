"""Session 10, trial 14 fault F2: `magnus diff` of a good run against a failed one said
`fail  not run in A (ran in B: SUCCESS)` for the dag's fail node, where the summary, `magnus show` and the
workbench say FAIL (docs/runs.md: "The dag's fail node, reached, reads FAIL in every view"; its log says
SUCCESS, the original's format). The workbench's diff screen reads the same changes. Real runs and commands
in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STEPS = """def load(rows=10):
    print(f"loading {rows} rows")
    return {"rows": rows}


def features(rows, key="z"):
    print("building features")
    return {"feat": {"x": 1}[key]}
"""

PIPELINE = """
dag:
  start_at: load
  steps:
    load: {type: task, command: steps.load, next: features}
    features: {type: task, command: steps.features, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def magnus(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "magnus_core", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200"},
        timeout=120,
    )


def test_the_diff_reads_the_reached_fail_node_as_fail(tmp_path: Path) -> None:
    """Session 11: the dag's success and fail nodes are not steps (docs/runs.md: where a run or a branch
    ended), so the diff of a good run and a failed one lists neither as not run (it read `fail  not run in
    A (ran in B: FAIL)` and `success  not run in B (ran in A: SUCCESS)`, two of its four step differences;
    the runs' status and the failed step say how each ended). Where both runs reached their fail node it is
    compared, and reads FAIL as in every view (trial 14 F2)."""
    (tmp_path / "steps.py").write_text(STEPS)
    (tmp_path / "p1.yaml").write_text(PIPELINE)
    assert magnus(tmp_path, "execute", "-f", "p1.yaml", "--run-id", "good", "--key", "x").returncode == 0
    assert magnus(tmp_path, "execute", "-f", "p1.yaml", "--run-id", "bad").returncode == 1
    assert magnus(tmp_path, "execute", "-f", "p1.yaml", "--run-id", "bad2").returncode == 1
    shown = magnus(tmp_path, "show", "bad").stdout
    assert any(line.split()[:3] == ["fail", "fail", "FAIL"] for line in shown.splitlines()), shown
    diff = magnus(tmp_path, "diff", "good", "bad").stdout
    rows = {line.split()[1]: line for line in diff.splitlines() if line.strip()[:1] in "~·+-="}
    assert "fail" not in rows and "success" not in rows, diff
    assert "not run" not in diff, diff
    assert "steps      2 differences" in diff, diff  # features' status and error
    assert "features › status" in rows or any("features" in row for row in rows.values()), diff
    doc = json.loads(magnus(tmp_path, "diff", "good", "bad", "--json").stdout)
    assert {c["step"] for c in doc["groups"]["steps"]["changes"]} == {"features"}, doc
    both = magnus(tmp_path, "diff", "bad", "bad2", "--all").stdout
    steps = both.split("\nsteps ", 1)[1]
    assert ["=", "fail", "FAIL"] in [line.split() for line in steps.splitlines()], both
