"""`magnus show RUN --params [NAMES] --metrics [NAMES]`: a run's parameters and metrics under its summary,
as `magnus runs --params --metrics` lists them for many runs (trial 10, item 14: `show` had no `--params`,
which the user guessed from `runs --params`). Real runs in subprocesses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_magnus

STEPS = """
from magnus import track_this


def train(lr=0.1, epochs=3):
    track_this(auc=0.91, loss=0.3)
    return {"note": "x" * 3000}


def evaluate():
    track_this(loss=0.2)
"""

PIPELINE = """
dag:
  start_at: train
  steps:
    train: {type: task, command: steps.train, next: evaluate}
    evaluate: {type: task, command: steps.evaluate, next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("values")
    (folder / "steps.py").write_text(STEPS)
    (folder / "p.yaml").write_text(PIPELINE)
    done = run_magnus(
        "execute", "-f", "p.yaml", "--run-id", "m1", "--lr", "0.05", "--epochs", "7", cwd=folder
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


def _after(text: str, heading: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(heading)
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), len(lines))
    return [" ".join(line.split()) for line in lines[start + 1 : end]]


def test_every_parameter_and_metric_under_the_summary(project: Path) -> None:
    shown = run_magnus("show", "m1", "--params", "--metrics", cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Run m1: SUCCESS")
    params = _after(shown.stdout, "Parameters:")
    assert params[:3] == ["parameter value", "lr 0.05", "epochs 7"], params
    # a long value is cut as every shown line is (docs/logs.md), the run log keeps it whole
    assert params[3] == f"note {'x' * 1000}\u2026 (2,000 more characters)", params[3][-40:]
    metrics = _after(shown.stdout, "Metrics:")
    assert metrics == ["metric value step", "auc 0.91 train", "loss 0.3 train", "loss 0.2 evaluate"]


def test_names_choose_the_rows_and_an_unknown_one_is_said(project: Path) -> None:
    shown = run_magnus("show", "m1", "--params", "lr,eposh", "--metrics", "evaluate.loss", cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert _after(shown.stdout, "Parameters:") == ["parameter value", "lr 0.05"]
    assert _after(shown.stdout, "Metrics:") == ["metric value step", "loss 0.2 evaluate"]
    assert shown.stderr == "magnus: run m1 has no parameter 'eposh'; did you mean epochs?\n"


def test_the_option_before_the_run_and_the_help(project: Path) -> None:
    before = run_magnus("show", "--params", "m1", cwd=project)  # the option took the run as its value
    assert before.returncode == 0, before.stderr
    assert _after(before.stdout, "Parameters:")[1] == "lr 0.05"
    bare = run_magnus("show", cwd=project)
    assert bare.returncode == 2 and "argument RUN_ID: missing: a run id" in bare.stderr
    helped = run_magnus("show", "--help", cwd=project).stdout
    assert "--params NAMES" in helped and "--metrics NAMES" in helped
