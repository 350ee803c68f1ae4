"""Getting run events onto the UI thread from a follower thread.

Events are queued thread-safely and one `RunEventsReady` message (coalesced) tells the screen to drain
the queue, so a burst of a thousand step updates costs one redraw, not a thousand.
"""

from __future__ import annotations

import threading
from collections import deque

from textual.message import Message
from textual.message_pump import MessagePump

from magnus_core.events import RunEvent


class RunEventsReady(Message):
    """Some events are waiting in the pump; one pending message stands for any number of them."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunEventsReady)


class EventPump:
    """A thread-safe queue of RunEvents for one screen."""

    def __init__(self, target: MessagePump) -> None:
        self.target = target
        self._queue: deque[RunEvent] = deque()
        self._lock = threading.Lock()
        self._pending = False

    def push(self, event: RunEvent) -> None:
        with self._lock:
            self._queue.append(event)
            if self._pending:
                return
            self._pending = True
        self.target.post_message(RunEventsReady())

    def drain(self) -> list[RunEvent]:
        with self._lock:
            events = list(self._queue)
            self._queue.clear()
            self._pending = False
        return events
