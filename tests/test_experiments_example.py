"""examples/experiments/: the sweep script runs the training pipeline with a few learning rates under one tag
and compares them; every run has a loss curve and an AUC, and the comparison marks the best."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, git, run_magnus


def test_sweep_then_compare(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copytree(ROOT / "examples", project / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    git(project, "init", "-q", "-b", "main")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "160"}
    sweep = subprocess.run(
        [sys.executable, "examples/experiments/sweep.py", "--lr", "0.05", "1.0", "--epochs", "6", "--no-plot"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr
    table = sweep.stdout[sweep.stdout.index("run id") :].splitlines()
    assert table[0].split()[-3:] == ["metrics.accuracy", "metrics.auc", "metrics.loss"]
    assert len([line for line in table[1:] if "SUCCESS" in line]) == 2
    data = json.loads(run_magnus("compare", "--tag", "lr-sweep", "--json", cwd=project).stdout)
    lrs = {r["params"]["lr"]: r for r in data["runs"]}
    assert set(lrs) == {0.05, 1.0}
    assert data["best"]["metrics.loss"]["runs"] == [lrs[1.0]["run_id"]]  # the larger rate learns faster here
    assert all(0.5 < r["metrics"]["auc"] <= 1.0 for r in data["runs"])
    log = json.loads((project / ".run_log_store" / f"{lrs[0.05]['run_id']}.json").read_text())
    losses = [p["value"] for p in log["steps"]["train"]["metric_history"]["loss"]]
    assert len(losses) == 6 and losses == sorted(losses, reverse=True)  # it learns, epoch by epoch
