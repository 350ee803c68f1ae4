"""`experiment_tracker: {type: mlflow, config: {tracking_uri: ..., experiment_name: ...}}` (extra
`magnus[mlflow]`: mlflow-skinny, with sqlalchemy and alembic for MLflow's SQLite store).

Each magnus run is one MLflow run in the experiment (created if missing), named by the magnus run id and
tagged `magnus.run_id`, `magnus.tag`, `magnus.pipeline`, `magnus.dag_hash`. Parameters are logged as they
appear (MLflow keeps a parameter's first value: a value a step later changes is also set as the tag
`magnus.param.<name>`); each step's numeric metrics are logged as it succeeds, a series point by point with
its step numbers and times, a plain metric at step 0; metrics that are not numbers are not sent (MLflow
metrics are numbers). The final status ends the MLflow run: FINISHED, FAILED or KILLED (interrupted).

A server that cannot be reached never holds the run up: an `http(s)://` tracking URI is first tried with a
plain connection (refused at once: one warning, "cannot reach the MLflow server at ..."), and every call is
waited for at most `timeout` seconds (magnus_core.tracking.follow), where MLflow's own client retries for
minutes (MLFLOW_HTTP_REQUEST_MAX_RETRIES 7, with backoff, and 120 s per request). The default is
REMOTE_TIMEOUT for a server (http, https, databricks: a request answers in well under a second) and
LOCAL_TIMEOUT for a database or folder MLflow opens itself (sqlite:, a database URL, a path: the first use
creates the schema, seconds on a busy machine).
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from magnus_core.errors import ConfigError, install_extra
from magnus_core.models.run_log import INTERRUPTED, SUCCESS, RunLog, StepLog, parse_time
from magnus_core.registry import parse_options
from magnus_core.tracking import ExperimentTracker

_MAX_PARAM = 6000  # MLflow's limit on a parameter value's length
REMOTE_TIMEOUT = 5.0  # seconds one call to an MLflow server may take (default)
LOCAL_TIMEOUT = 60.0  # seconds one call to a store MLflow opens itself may take (default)
SERVER_SCHEMES = ("http", "https", "databricks")


class MLflowOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # (registry.plain_options)
    tracking_uri: str | None = None  # None: MLflow's own default (MLFLOW_TRACKING_URI, else ./mlflow.db)
    experiment_name: str = "magnus"
    tags: dict[str, str] = {}  # extra tags on every run
    timeout: float | None = Field(default=None, gt=0, le=3600)  # seconds one call may take (None: by URI)


def _strip_credentials(uri: str) -> str:
    from magnus_core.identity import _strip_credentials as strip

    return strip(uri)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _millis(text: str | datetime | None) -> int:
    moment = parse_time(text)
    return int(moment.timestamp() * 1000) if moment is not None else int(time.time() * 1000)


class MLflowTracker(ExperimentTracker):
    service_name = "mlflow"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.options = parse_options(MLflowOptions, self.config, "experiment_tracker")
        try:
            import mlflow  # noqa: F401 - checked here: the config is refused before anything runs
        except ImportError:
            raise ConfigError(
                f"the mlflow experiment tracker needs MLflow: {install_extra('mlflow')}",
                field="experiment_tracker.type",
            ) from None
        self.timeout = self.options.timeout or (
            REMOTE_TIMEOUT if _scheme(self.options.tracking_uri) in SERVER_SCHEMES else LOCAL_TIMEOUT
        )
        self._client: Any = None
        self.run_id = ""
        self._params: dict[str, str] = {}

    def describe(self) -> dict[str, Any]:
        config = dict(self.config)
        if config.get("tracking_uri"):
            config["tracking_uri"] = _strip_credentials(str(config["tracking_uri"]))
        return {"type": self.service_name, "config": config}

    @property
    def client(self) -> Any:
        if self._client is None:
            # before MLflow's imports, which take seconds on a busy machine
            check_reachable(self.options.tracking_uri, self.timeout)
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.options.tracking_uri)
        return self._client

    def _experiment_id(self) -> str:
        name = self.options.experiment_name
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(self.client.create_experiment(name))
        except Exception:  # created by another process meanwhile
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return str(found.experiment_id)

    def start_run(self, run: RunLog) -> str:
        config = run.run_config if isinstance(run.run_config, dict) else {}
        tags = {
            "magnus.run_id": run.run_id,
            "magnus.tag": run.tag or "",
            "magnus.pipeline": str(config.get("dag_file") or ""),
            "magnus.dag_hash": run.dag_hash or "",
            **self.options.tags,
        }
        created = self.client.create_run(self._experiment_id(), run_name=run.run_id, tags=tags)
        self.run_id = str(created.info.run_id)
        return self.run_id

    def attach(self, run: RunLog, tracker_run_id: str) -> None:
        self.run_id = tracker_run_id
        existing = self.client.get_run(tracker_run_id).data.params
        self._params = {k: str(v) for k, v in existing.items()}

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        new = []
        for key, value in params.items():
            text = value if isinstance(value, str) else _json(value)
            text = text[:_MAX_PARAM]
            if key not in self._params:
                new.append(Param(key, text))
                self._params[key] = text
            elif self._params[key] != text:  # MLflow never changes a parameter: the final value as a tag
                self.client.set_tag(self.run_id, f"magnus.param.{key}", text[:5000])
        if new:
            self.client.log_batch(self.run_id, params=new)

    def log_step(self, step: StepLog) -> None:
        from mlflow.entities import Metric

        metrics = []
        for name, points in step.metric_history.items():
            for point in points:
                value = _number(point.value)
                if value is not None:
                    metrics.append(Metric(name, value, _millis(point.time), point.step))
        ended = step.attempts[-1].end_time if step.attempts else ""
        for name, value in step.user_defined_metrics.items():
            number = _number(value)
            if number is not None and name not in step.metric_history:
                metrics.append(Metric(name, number, _millis(ended), 0))
        for start in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics a batch
            self.client.log_batch(self.run_id, metrics=metrics[start : start + 1000])

    def end_run(self, status: str) -> None:
        state = "FINISHED" if status == SUCCESS else "KILLED" if status == INTERRUPTED else "FAILED"
        self.client.set_terminated(self.run_id, state)


def _json(value: Any) -> str:
    from magnus_core import jsonio as json

    return json.dumps(value, default=str)


def _scheme(uri: str | None) -> str:
    """The scheme of the tracking URI MLflow will use: the configured one, else MLFLOW_TRACKING_URI."""
    import os
    from urllib.parse import urlsplit

    return urlsplit(uri or os.environ.get("MLFLOW_TRACKING_URI", "")).scheme.lower()


def check_reachable(uri: str | None, seconds: float) -> None:
    """For an `http(s)://` tracking URI (the configured one, else MLFLOW_TRACKING_URI): a TCP connection to
    its host and port, given up after `seconds`. ConnectionError naming the server (credentials left out)
    when nothing answers there, so an unreachable server costs a warning at once, not MLflow's minutes of
    retries. Skipped for other URIs (sqlite:, file:, databricks) and when a proxy would carry the requests
    (the host itself may be unreachable from here)."""
    import os
    import socket
    import urllib.request
    from urllib.parse import urlsplit

    text = uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    if urllib.request.getproxies().get(parts.scheme) and not urllib.request.proxy_bypass(parts.hostname):
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return  # MLflow reports the malformed URI itself
    try:
        socket.create_connection((parts.hostname, port), timeout=seconds).close()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        if isinstance(exc, TimeoutError | socket.timeout):
            reason = f"no answer within {seconds:g} s"
        raise ConnectionError(
            f"cannot reach the MLflow server at {_strip_credentials(text)} ({reason})"
        ) from None
