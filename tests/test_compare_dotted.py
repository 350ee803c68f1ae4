"""A metric whose name holds a dot (`val.loss`, `top.1`) or a space is the run's own, not a step's (trial 17
F22): `magnus compare` took every dotted name for `<step>.<name>` and left it out of what differs, so two
runs whose `val.loss` differed read 'The runs have the same parameters and metrics'. Real runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from magnus_core.compare import own_metric_names

STEPS = """
import os
from magnus import track_this

def train():
    track_this(**{"val.loss": float(os.environ["V"]), "top.1": 0.5, "my metric": 2})
"""

PIPELINE = """
dag:
  start_at: train
  steps:
    train: {type: task, command: steps.train, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_compare_shows_a_dotted_metric_that_differs(git_repo: Path, magnus: Any) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    for run_id, value in (("r1", "1"), ("r2", "2")):
        assert magnus("execute", "-f", "p.yaml", "--run-id", run_id, env={"V": value}).returncode == 0
    shown = magnus("compare", "r1", "r2", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["columns"] == ["metrics.val.loss"], shown.stdout
    table = magnus("compare", "r1", "r2").stdout
    assert "same parameters and metrics" not in table and "metrics.val.loss" in table, table


def test_the_runs_own_metrics_are_told_from_each_steps() -> None:
    keys = {"val.loss": 1, "top.1": 2, "loss": 3, "train.val.loss": 1, "train.top.1": 2, "train.loss": 3}
    keys |= {"each.a.work.loss": 3}
    assert own_metric_names(keys) == {"val.loss", "top.1", "loss"}
    assert own_metric_names({"auc": 1, "x.auc": 1}) == {"auc"}
    assert own_metric_names({"auc": 1}) == {"auc"}  # (no step's recorded: the names without a dot)
