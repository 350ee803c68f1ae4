"""Experiment trackers: the `experiment_tracker` config block (magnus 0.4's service), fed as the run executes.

    experiment_tracker:
      type: mlflow                          # do-nothing (default) | mlflow | a plugin's entry point
      config: {tracking_uri: sqlite:///mlflow.db, experiment_name: churn}

`follow(store, run_id, tracker, start=True)` subscribes the tracker to the store's events: when the run log
is created the tracker opens its run (and the run log records its id in
`run_config.experiment_tracker.run_id`); every step that succeeds sends its metrics (a series point by point,
with its step numbers); parameters are sent as they appear; the final status closes the tracker's run.
Per-step processes (Argo, Dask) follow with start=False and continue the run the log names.

The run log stays the record: a tracker that cannot be reached costs a one-line warning, never the run.
Nor can it hold the run up: every call to a tracker is waited for at most `tracker.timeout` seconds
(DEFAULT_TIMEOUT for a plugin; MLflow's own, see trackers/mlflow.py), after which the tracker is left out
for the rest of the run with that warning (MLflow's client retries an unreachable server for minutes).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from magnus_core.events import RUN_UPDATED, STEP_UPDATED, RunEvent
from magnus_core.models.run_log import FINISHED, SUCCESS, RunLog, StepLog
from magnus_core.registry import load_provider

if TYPE_CHECKING:
    from magnus_core.stores.base import RunLogStore

log = logging.getLogger("magnus")


DEFAULT_TIMEOUT = 60.0  # seconds a run waits for one call to a tracker before going on without it


class ExperimentTracker:
    """What a tracker implements. Every method may raise or block; `follow` turns a failure, or a call that
    takes longer than `timeout` seconds, into a warning and leaves the tracker out for the rest of the run."""

    service_name = "do-nothing"
    timeout: float = DEFAULT_TIMEOUT

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = dict(config or {})

    def describe(self) -> dict[str, Any]:
        """The block recorded in run_config (no credentials)."""
        return {"type": self.service_name, "config": dict(self.config)}

    @property
    def active(self) -> bool:
        """False for the do-nothing tracker: nothing is subscribed."""
        return True

    def start_run(self, run: RunLog) -> str:
        """Open the tracker's run for this magnus run; its id (recorded in the run log)."""
        return ""

    def attach(self, run: RunLog, tracker_run_id: str) -> None:
        """Continue the tracker's run `tracker_run_id` (a per-step process)."""

    def log_params(self, params: dict[str, Any]) -> None:
        """The run's parameters as they are now (called again as they change)."""

    def log_step(self, step: StepLog) -> None:
        """A finished step's metrics: `user_defined_metrics`, and each point of `metric_history`."""

    def end_run(self, status: str) -> None:
        """The run ended with this status (SUCCESS, FAIL, INTERRUPTED)."""


class DoNothingTracker(ExperimentTracker):
    """The default: the run log is the only record."""

    @property
    def active(self) -> bool:
        return False


def make_tracker(block: dict[str, Any] | None) -> ExperimentTracker:
    """The tracker a config block names ({"type": "mlflow", "config": {...}}); do-nothing by default."""
    tracker: ExperimentTracker = load_provider(
        "experiment_tracker", block or {"type": "do-nothing", "config": {}}
    )
    return tracker


def follow(
    store: RunLogStore,
    run_id: str,
    tracker: ExperimentTracker,
    *,
    start: bool,
    warn: Callable[[str], None] | None = None,
) -> Callable[[], None]:
    """Feed `tracker` from the store's events for run `run_id`; returns the unsubscribe function.

    start=True opens the tracker's run now (the run log was just created) and records its id in the run
    log's `run_config.experiment_tracker.run_id`; start=False continues the run the log records.
    """
    if not tracker.active:
        return lambda: None
    say = warn or (lambda message: log.warning("%s", message))
    lock = threading.RLock()
    broken: list[str] = []
    worker = _Worker(tracker.service_name)

    def guarded(what: str, action: Callable[[], Any]) -> Any:
        if broken:
            return None
        try:
            with lock:
                return worker.call(action, tracker.timeout)
        except Exception as exc:
            broken.append(what)
            say(
                f"experiment tracker {tracker.service_name}: {what} failed ({exc.__class__.__name__}: "
                f"{str(exc)[:200]}); the run goes on, recorded in its run log only"
            )
            return None

    run = store.get_run(run_id)
    if start:
        tracker_id = guarded("starting its run", lambda: tracker.start_run(run))
        if tracker_id:
            config = dict(run.run_config)
            block = dict(config.get("experiment_tracker") or tracker.describe())
            block["run_id"] = tracker_id
            config["experiment_tracker"] = block
            store.update_run(run_id, run_config=config)
    else:
        recorded = run.run_config.get("experiment_tracker") if isinstance(run.run_config, dict) else None
        tracker_id = recorded.get("run_id") if isinstance(recorded, dict) else None
        if not tracker_id:
            worker.close()
            return lambda: None
        guarded("continuing its run", lambda: tracker.attach(run, str(tracker_id)))
    if broken:
        worker.close()
        return lambda: None
    guarded("sending parameters", lambda: tracker.log_params(dict(run.parameters)))

    def on_event(event: RunEvent) -> None:
        if event.run_id != run_id:
            return
        if event.kind == STEP_UPDATED and event.status == SUCCESS and event.step_log is not None:
            step = event.step_log
            if step.user_defined_metrics or step.metric_history:
                guarded(f"sending the metrics of step {step.internal_name}", lambda: tracker.log_step(step))
        elif event.kind == RUN_UPDATED:
            fields = event.extra.get("fields", [])
            if "parameters" in fields:
                params = dict(store.get_run(run_id).parameters)
                guarded("sending parameters", lambda: tracker.log_params(params))
            if "status" in fields and event.status in FINISHED:
                guarded("closing its run", lambda: tracker.end_run(str(event.status)))

    unsubscribe: Callable[[], None] = store.events.subscribe(on_event)

    def stop() -> None:
        unsubscribe()
        worker.close()

    return stop


class _Worker:
    """Runs a tracker's calls one at a time in a daemon thread, each waited for at most a number of seconds.

    A call still running when its time is up is left behind (TimeoutError for the caller): the thread is a
    daemon, so it can neither hold the run up nor keep the process alive at exit. The thread starts with the
    first call and ends with close().
    """

    def __init__(self, name: str) -> None:
        import queue

        self.name = name
        self.jobs: queue.SimpleQueue[tuple[Callable[[], Any], dict[str, Any], threading.Event]] = (
            queue.SimpleQueue()
        )
        self.thread: threading.Thread | None = None

    def _serve(self) -> None:
        while True:
            action, box, done = self.jobs.get()
            if box.get("stop"):
                return
            try:
                box["value"] = action()
            except BaseException as exc:  # handed to the caller, who decides
                box["error"] = exc
            finally:
                done.set()

    def close(self) -> None:
        """The thread ends once the call it runs (if any) returns."""
        if self.thread is not None:
            self.jobs.put((lambda: None, {"stop": True}, threading.Event()))
            self.thread = None

    def call(self, action: Callable[[], Any], seconds: float) -> Any:
        """action()'s result or its exception; TimeoutError when it has not returned after `seconds`."""
        if self.thread is None:
            self.thread = threading.Thread(
                target=self._serve, name=f"magnus-tracker-{self.name}", daemon=True
            )
            self.thread.start()
        box: dict[str, Any] = {}
        done = threading.Event()
        self.jobs.put((action, box, done))
        if not done.wait(seconds):
            raise TimeoutError(f"no answer within {seconds:g} s")
        if "error" in box:
            raise box["error"]
        return box.get("value")
