"""Following a run another process is writing: poll the store, get events for what changed.

    follower = Follower(store, run_id)
    for event in follower.poll():     # call as often as you like; cheap when nothing changed
        ...                           # RunEvent(kind=..., internal_name=..., step_log=..., parent=...)
    follower.run_log                  # the run's latest state

The store is the source of truth: the first poll reports every step (so a view can be built from
events alone), later polls only what changed. Between polls, `follower.wait(seconds)` returns as soon as
a store that notifies (postgres) says the run changed, and sleeps otherwise. Runs started in this process
can instead subscribe to `store.events` directly; both give the same RunEvent objects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from magnus_core.errors import MagnusError, RunNotFoundError
from magnus_core.events import BRANCH_UPDATED, RUN_CREATED, RUN_UPDATED, STEP_UPDATED, RunEvent
from magnus_core.models.run_log import FINISHED, RunLog, StepLog
from magnus_core.stores.base import RunLogStore
from magnus_core.stores.parts import walk_with_parents


def step_signature(step: StepLog) -> tuple[Any, ...]:
    """What a watcher shows of a step, cheap to compare: equal signatures, nothing to redraw."""
    last = step.attempts[-1] if step.attempts else None
    return (
        step.status,
        step.start_time,
        step.message,
        step.mock,
        len(step.attempts),
        last.end_time if last else "",
        last.status if last else "",
        len(step.data_catalog),
        step.user_defined_metrics,  # compared, never hashed: a metric's new value is a change
        len(step.branches),
    )


class Follower:
    """Turns successive reads of one run into RunEvents."""

    def __init__(self, store: RunLogStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.run_log: RunLog | None = None
        self.error: str = ""
        self._version: Any = object()
        self._seen: dict[str, tuple[Any, ...]] = {}
        self._run_sig: tuple[Any, ...] | None = None

    def wait(self, timeout: float) -> None:
        """Until the run may have changed, at most `timeout` seconds. A store that notifies (postgres:
        LISTEN/NOTIFY) wakes this as soon as a write commits; others just sleep the timeout."""
        if not self.store.notifies or self.run_log is None:
            time.sleep(timeout)
            return
        try:
            self.store.wait_for_change(self.run_id, self._version, timeout)
        except MagnusError as exc:  # the store is away: report, and poll again after the timeout
            self.error = str(exc)
            time.sleep(timeout)

    @property
    def finished(self) -> bool:
        return self.run_log is not None and self.run_log.status in FINISHED

    def poll(self) -> list[RunEvent]:
        version = self.store.version(self.run_id)  # None: the store cannot tell, so read every time
        if version is not None and version == self._version:
            return []
        try:
            log = self.store.get_run(self.run_id)
        except RunNotFoundError:
            return []
        except MagnusError as exc:  # half-written or corrupt: report, try again next poll
            self.error = str(exc)
            return []
        self.error = ""
        self._version = version
        events: list[RunEvent] = []
        if self.run_log is None:
            events.append(RunEvent(kind=RUN_CREATED, run_id=self.run_id, status=log.status))
        for item, parent in walk_with_parents(log):
            if isinstance(item, StepLog):
                sig = step_signature(item)
                if self._seen.get(item.internal_name) != sig:
                    self._seen[item.internal_name] = sig
                    events.append(
                        RunEvent(
                            kind=STEP_UPDATED,
                            run_id=self.run_id,
                            internal_name=item.internal_name,
                            status=item.status,
                            step_log=item,
                            parent=parent,
                        )
                    )
            else:
                key = "\0" + item.internal_name
                sig = (item.status,)
                if self._seen.get(key) != sig:
                    self._seen[key] = sig
                    events.append(
                        RunEvent(
                            kind=BRANCH_UPDATED,
                            run_id=self.run_id,
                            internal_name=item.internal_name,
                            status=item.status,
                            parent=parent,
                        )
                    )
        run_sig = (log.status, len(log.parameters), tuple(sorted(log.parameters)))
        if run_sig != self._run_sig:
            self._run_sig = run_sig
            events.append(RunEvent(kind=RUN_UPDATED, run_id=self.run_id, status=log.status))
        self.run_log = log
        return events


def follow(
    store: RunLogStore,
    run_id: str,
    callback: Callable[[RunEvent], None],
    *,
    interval: float = 0.05,
    stop: threading.Event | None = None,
) -> threading.Thread:
    """Poll in a daemon thread, calling `callback` per event, until the run finishes or `stop` is set."""
    stop = stop or threading.Event()
    follower = Follower(store, run_id)

    def loop() -> None:
        while not stop.is_set():
            for event in follower.poll():
                callback(event)
            if follower.finished:
                return
            if store.notifies:
                follower.wait(interval)
            else:
                stop.wait(interval)

    thread = threading.Thread(target=loop, name=f"magnus-follow-{run_id}", daemon=True)
    thread.start()
    return thread
