"""Run events: what changed in a run, as it happens.

The store emits one event per write. In-process watchers subscribe with a callback; watchers in another
process follow the store (see `magnus_core.follow`). Events are frozen and keyword-only so fields can be
added without breaking subscribers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from magnus_core.models.run_log import StepLog

RUN_CREATED = "run-created"
RUN_UPDATED = "run-updated"  # status or parameters of the run changed
STEP_UPDATED = "step-updated"  # a step log was written (started, attempt recorded, finished)
BRANCH_UPDATED = "branch-updated"


@dataclass(frozen=True, kw_only=True)
class RunEvent:
    kind: str
    run_id: str
    internal_name: str = ""
    status: str = ""
    step_log: StepLog | None = None
    parent: str | None = None  # the branch (for steps) or the step (for branches) this belongs to
    extra: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[RunEvent], None]


class EventBus:
    """A list of callbacks; a failing subscriber never breaks the run."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def emit(self, event: RunEvent) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                import logging

                logging.getLogger("magnus").debug("event subscriber failed", exc_info=True)

    def __bool__(self) -> bool:
        return bool(self._subscribers)
