"""The mlflow experiment tracker against a real local MLflow tracking store (SQLite, no server): a run's
parameters, metric series (with their steps), tags and status read back through MLflow's own client, and
the run log records the MLflow run id; a tracker that cannot be reached never stops the run."""

from __future__ import annotations

import json
import os
import socket
import textwrap
import uuid
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient  # the dev extra installs magnus[mlflow]

from magnus_core.models.run_log import FAIL, SUCCESS
from magnus_core.runner import RunRequest, execute, prepare
from magnus_core.trackers.mlflow import LOCAL_TIMEOUT, REMOTE_TIMEOUT, MLflowTracker

FUNCTIONS = """
from magnus import track_this

def train(lr=0.1, epochs=3):
    for epoch in range(1, epochs + 1):
        track_this(step=epoch, loss=round(1.0 / (epoch * lr * 10), 4))
    track_this(auc=0.9, note="not a number")
    return {"model": "m.pkl"}

def boom():
    raise ValueError("no")
"""


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One MLflow SQLite database for the module: creating one runs MLflow's migrations (seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith(("MAGNUS_PRM_", "MAGNUS_TRACK_", "MLFLOW_"))]:
        monkeypatch.delenv(key)


def run(repo: Path, uri: str, step: str = "train", **request: object):
    mod = f"ml_{uuid.uuid4().hex[:8]}"
    (repo / f"{mod}.py").write_text(FUNCTIONS)
    (repo / "pipeline.yaml").write_text(
        textwrap.dedent(
            f"""
            dag:
              start_at: fit
              steps:
                fit: {{type: task, command: {mod}.{step}, next: success}}
                success: {{type: success}}
                fail: {{type: fail}}
            """
        )
    )
    (repo / "config.yaml").write_text(
        f"experiment_tracker:\n  type: mlflow\n  config:\n    tracking_uri: {uri}\n"
        "    experiment_name: churn\n    tags: {team: data}\n"
    )
    prepared = prepare(RunRequest(file="pipeline.yaml", config_file="config.yaml", **request))  # type: ignore[arg-type]
    return execute(prepared)


def test_a_run_read_back_through_mlflows_client(git_repo: Path, tracking_uri: str) -> None:
    log = run(git_repo, tracking_uri, run_id="ml-1", tag="exp1", parameters={"lr": 0.5, "epochs": 4})
    assert log.status == SUCCESS
    recorded = log.run_config["experiment_tracker"]
    assert recorded["type"] == "mlflow" and recorded["run_id"]
    client = MlflowClient(tracking_uri)
    mlrun = client.get_run(recorded["run_id"])
    assert mlrun.info.status == "FINISHED" and mlrun.info.run_name == "ml-1"
    assert client.get_experiment(mlrun.info.experiment_id).name == "churn"
    assert mlrun.data.params == {"lr": "0.5", "epochs": "4", "model": "m.pkl"}  # the step's returned one too
    tags = mlrun.data.tags
    assert (tags["magnus.run_id"], tags["magnus.tag"], tags["magnus.pipeline"], tags["team"]) == (
        "ml-1",
        "exp1",
        "pipeline.yaml",
        "data",
    )
    history = client.get_metric_history(mlrun.info.run_id, "loss")
    step = log.find_step("fit")
    assert step is not None
    ours = [(p.step, p.value) for p in step.metric_history["loss"]]
    assert sorted((m.step, m.value) for m in history) == ours == [(1, 0.2), (2, 0.1), (3, 0.0667), (4, 0.05)]
    assert mlrun.data.metrics == {"loss": 0.05, "auc": 0.9}  # `note` is not a number: not sent
    found = client.search_runs([mlrun.info.experiment_id], "tags.`magnus.run_id` = 'ml-1'")
    assert [r.info.run_id for r in found] == [mlrun.info.run_id]


def test_a_failed_run_is_failed_in_mlflow(git_repo: Path, tracking_uri: str) -> None:
    log = run(git_repo, tracking_uri, step="boom", run_id="ml-2")
    assert log.status == FAIL
    mlrun = MlflowClient(tracking_uri).get_run(log.run_config["experiment_tracker"]["run_id"])
    assert mlrun.info.status == "FAILED"


def test_an_unreachable_tracker_never_stops_the_run(git_repo: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocked = git_repo / "not-a-folder"
    blocked.write_text("a file where the database's folder should be")
    log = run(git_repo, f"sqlite:///{blocked}/mlflow.db", run_id="ml-3")
    assert log.status == SUCCESS
    assert "run_id" not in log.run_config["experiment_tracker"]
    assert any("experiment tracker mlflow: starting its run failed" in r.getMessage() for r in caplog.records)


def test_a_bad_tracker_config_is_refused_before_anything_runs(git_repo: Path, magnus) -> None:
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: stub, next: success}\n    success: {type: success}\n    fail: {type: fail}\n"
    )
    (git_repo / "c.yaml").write_text("experiment_tracker:\n  type: mlflow\n  config: {tracking_url: x}\n")
    out = magnus("execute", "-f", "p.yaml", "-c", "c.yaml")
    assert out.returncode == 2
    assert "experiment_tracker.config.tracking_url" in out.stderr and "unknown option" in out.stderr
    assert not (git_repo / ".run_log_store").exists()
    (git_repo / "c.yaml").write_text("experiment_tracker:\n  type: wandb\n")
    out = magnus("execute", "-f", "p.yaml", "-c", "c.yaml")
    assert out.returncode == 2 and "unknown type 'wandb' (known: do-nothing, mlflow)" in out.stderr


def _tracker_config(repo: Path, uri: str, extra: str = "") -> None:
    (repo / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: stub, next: success}\n    success: {type: success}\n    fail: {type: fail}\n"
    )
    (repo / "c.yaml").write_text(
        f"experiment_tracker:\n  type: mlflow\n  config:\n    tracking_uri: {uri}\n{extra}"
    )


def test_a_server_refusing_connections_costs_one_warning_at_once(git_repo: Path, magnus) -> None:
    with socket.socket() as probe:  # a port nothing listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _tracker_config(git_repo, f"http://127.0.0.1:{port}")
    # MLflow's client alone retries a refused connection for minutes (7 retries, backoff 2 s doubling)
    out = magnus("execute", "-f", "p.yaml", "-c", "c.yaml", "--run-id", "refused", timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"cannot reach the MLflow server at http://127.0.0.1:{port} (Connection refused)" in out.stderr
    assert "the run goes on" in out.stderr and out.stderr.count("experiment tracker mlflow") == 1
    log = json.loads((git_repo / ".run_log_store" / "refused.json").read_text())
    assert log["status"] == SUCCESS and "run_id" not in log["run_config"]["experiment_tracker"]


def test_a_server_that_never_answers_is_given_up_after_the_timeout(git_repo: Path, magnus) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        _tracker_config(git_repo, f"http://127.0.0.1:{silent.getsockname()[1]}", "    timeout: 1\n")
        # MLflow's client alone waits 120 s for each of its 8 tries
        out = magnus("execute", "-f", "p.yaml", "-c", "c.yaml", "--run-id", "silent", timeout=120)
    assert out.returncode == 0, out.stderr
    assert "starting its run failed (TimeoutError: no answer within 1 s)" in out.stderr
    assert json.loads((git_repo / ".run_log_store" / "silent.json").read_text())["status"] == SUCCESS


@pytest.mark.parametrize("timeout", ["0", "soon"])
def test_a_bad_timeout_is_refused_before_anything_runs(git_repo: Path, magnus, timeout: str) -> None:
    _tracker_config(git_repo, "http://127.0.0.1:9", f"    timeout: {timeout}\n")
    out = magnus("execute", "-f", "p.yaml", "-c", "c.yaml")
    assert out.returncode == 2 and "experiment_tracker.config.timeout" in out.stderr
    assert not (git_repo / ".run_log_store").exists()


@pytest.mark.parametrize(
    ("config", "seconds"),
    [
        ({"tracking_uri": "http://mlflow.example:5000"}, REMOTE_TIMEOUT),
        ({"tracking_uri": "https://mlflow.example"}, REMOTE_TIMEOUT),
        ({"tracking_uri": "sqlite:///mlflow.db"}, LOCAL_TIMEOUT),  # its first use creates the schema
        ({}, LOCAL_TIMEOUT),  # MLflow's own default: sqlite:///mlflow.db
        ({"tracking_uri": "http://mlflow.example", "timeout": 2.5}, 2.5),
    ],
)
def test_a_server_is_given_seconds_and_a_local_store_a_minute(config: dict, seconds: float) -> None:
    assert MLflowTracker(config).timeout == seconds
