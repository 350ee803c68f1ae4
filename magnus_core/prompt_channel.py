"""Asking the program that started a run for a secret, over a socket the run's process inherited.

A front end (the workbench) starts `magnus execute ... --prompt-fd N` with one end of a socket pair as file
descriptor N. When the run needs a secret the provider lacks (declared by the dag, or asked for by a step),
the run writes the secret's *name* on that socket and waits; the front end asks its user and writes the
value back. Values travel only through the socket: never a command line, an environment variable or a
file, so `ps`, /proc/PID/environ and the disk never see them.

The protocol is one JSON object per line, in both directions:

    run -> front end:   {"ask": "api_key"}
    front end -> run:   {"value": "..."}       or {"value": null} when the user gave up
    run -> front end:   {"event": "run-created", "run_id": "..."}    (no answer: the run log exists now)
    run -> front end:   {"event": "step-updated", "step": {...}, "parent": "map.0"}   (a step log was written)
    run -> front end:   {"event": "branch-updated", "name": "map.0", "status": "...", "parent": "map"}
    run -> front end:   {"event": "run-updated", "status": "...", "parameters": {...}}
    run -> front end:   {"event": "events-lost"}    (the front end fell behind: read the store once)

The step, branch and run notices are the run's store events (magnus_core.events), already masked as the
store keeps them: a front end that follows a run it started learns of each write the moment it is made,
without re-reading the run log (a file-system store spaces its writes; a big log costs a read). A step
travels without its branches (their own notices carry them).

    prompt = ChannelPrompt(fd)      # in the run: a secrets provider's `prompt`, callable from any thread
    prompt.tell(event)              # in the run: a notice for the front end (queued: never blocks the run)
    serve(sock, answer, on_event)   # in the front end: answers every question until the run closes its end
    event_message(event, run_log)   # in the run: a store event as a notice (None: not one a front end needs)
    message_event(message, run_id)  # in the front end: a notice back as a RunEvent (None: not an event)
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from magnus_core import jsonio as json
from magnus_core.errors import UsageError

if TYPE_CHECKING:
    from magnus_core.events import RunEvent
    from magnus_core.models.run_log import RunLog

MAX_LINE = 1 << 20  # bytes: a question or an answer longer than this is refused
MAX_QUEUED = 10_000  # notices waiting for a front end that does not read: beyond, they are dropped (and it is
# told "events-lost", so it reads the store once instead)


class ChannelPrompt:
    """A secrets provider's prompt that asks over file descriptor `fd` (see the module's docstring).

    Thread-safe: concurrent branches asking at once are asked one after the other. Returns None (the run
    then stops for want of the secret) when the front end gives up or has gone away."""

    def __init__(self, fd: int) -> None:
        try:
            self.sock = socket.socket(fileno=fd)
        except OSError as exc:
            raise UsageError(
                f"--prompt-fd {fd}: not an open socket ({exc.strerror or exc}); it is for programs that "
                "start magnus with a socket to answer secret prompts on",
                field="prompt-fd",
            ) from None
        os.set_inheritable(fd, False)  # the steps' own processes never get it
        self._reader = self.sock.makefile("rb")
        self._ask = threading.Lock()  # one question at a time
        self._send = threading.Lock()  # one line at a time on the socket
        self._notices: queue.Queue[bytes] = queue.Queue()
        self._lost = False
        self._gone = False  # the front end went away: notices are no longer sent
        self._sender: threading.Thread | None = None

    def __call__(self, name: str) -> str | None:
        with self._ask:
            try:
                with self._send:
                    self.sock.sendall(json.dumps({"ask": name}).encode("utf-8") + b"\n")
                line = self._reader.readline(MAX_LINE + 1)
            except OSError:
                return None
        if not line or len(line) > MAX_LINE:
            return None
        try:
            value = json.loads(line).get("value")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) and value else None

    def tell(self, event: dict[str, Any]) -> None:
        """A notice for the front end (`{"event": ...}`), which answers nothing; lost if it has gone.

        Queued and sent by a thread of its own: a front end busy asking its user for a secret, or one that
        stopped reading, never holds the run up. Past MAX_QUEUED waiting notices the rest are dropped and
        the front end is told (`events-lost`)."""
        if self._gone:
            return
        line = json.dumps(event, default=str).encode("utf-8") + b"\n"
        if self._notices.qsize() >= MAX_QUEUED or len(line) > MAX_LINE:
            self._lost = True  # the front end reads the store instead
            return
        self._notices.put(line)
        if self._sender is None:
            with self._send:
                if self._sender is None:
                    self._sender = threading.Thread(target=self._send_notices, name="prompt-fd", daemon=True)
                    self._sender.start()

    def flush(self, timeout: float = 5.0) -> None:
        """Wait (at most `timeout` seconds) until every queued notice has been sent: the run's last
        notices reach the front end before the process exits."""
        import time

        end = time.monotonic() + timeout
        while self._sender is not None and not self._gone and time.monotonic() < end:
            if self._notices.unfinished_tasks == 0:
                return
            time.sleep(0.005)

    def _send_notices(self) -> None:
        """Send what is queued, all of it in one write: the run's threads keep the interpreter busy, and a
        write per notice would wait its turn for each (the notices would fall behind a fast run)."""
        while True:
            lines = [self._notices.get()]
            size = len(lines[0])
            while size < MAX_LINE:
                try:
                    lines.append(self._notices.get_nowait())
                except queue.Empty:
                    break
                size += len(lines[-1])
            taken = len(lines)
            try:
                if self._lost and self._notices.qsize() < MAX_QUEUED // 2:
                    self._lost = False
                    lines.insert(0, json.dumps({"event": "events-lost"}).encode("utf-8") + b"\n")
                with self._send:
                    self.sock.sendall(b"".join(lines))
            except OSError:  # the front end has gone (a run kept going after the workbench quit)
                self._gone = True
                return
            finally:
                for _ in range(taken):
                    self._notices.task_done()


def serve(
    sock: socket.socket,
    answer: Callable[[str], str | None],
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Answer every question the run asks on `sock` with `answer(name)` (None: gave up), and pass its
    notices to `on_event`, until the run closes its end. Blocks: run it in a thread of its own. Never
    raises for a run that went away. A question is answered from a thread of its own, so the run's
    notices keep coming while the user types; a line longer than MAX_LINE is skipped whole."""
    # a big buffer: one read takes every notice waiting, so a busy front end does not fall behind a fast run
    reader = sock.makefile("rb", buffering=MAX_LINE)
    send = threading.Lock()

    def reply(name: str) -> None:
        value = answer(name)
        with send, contextlib.suppress(OSError):
            sock.sendall(json.dumps({"value": value}).encode("utf-8") + b"\n")

    askers: list[threading.Thread] = []
    try:
        while True:
            line = reader.readline(MAX_LINE + 1)
            if not line:
                return
            if len(line) > MAX_LINE and not line.endswith(b"\n"):  # too long: skip to its end, answer nothing
                while line and not line.endswith(b"\n"):
                    line = reader.readline(MAX_LINE + 1)
                continue
            try:
                message = json.loads(line)
            except ValueError:
                message = None
            if not isinstance(message, dict):
                message = {}
            if "event" in message:
                if on_event is not None:
                    on_event(message)
                continue
            name = message.get("ask")
            if isinstance(name, str) and name:
                asker = threading.Thread(target=reply, args=(name,), name=f"ask-{name}", daemon=True)
                askers.append(asker)
                asker.start()
            else:
                with send:
                    sock.sendall(json.dumps({"value": None}).encode("utf-8") + b"\n")
    except OSError:
        return
    finally:
        for asker in askers:  # an answer being typed still reaches the run (it waits for it)
            asker.join()
        reader.close()
        sock.close()


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """(front end's end, run's end): the run's end is inheritable, to be passed with `pass_fds`."""
    ours, theirs = socket.socketpair()
    theirs.set_inheritable(True)
    return ours, theirs


def event_message(event: RunEvent, run_log: RunLog | None = None) -> dict[str, Any] | None:
    """A store event (magnus_core.events) as the notice a front end reads (see the module's docstring);
    `run_log`: the run as the store holds it now (its parameters go with a run-updated notice). None for
    an event a front end has no use for."""
    from magnus_core.events import BRANCH_UPDATED, RUN_CREATED, RUN_UPDATED, STEP_UPDATED

    if event.kind == STEP_UPDATED and event.step_log is not None:
        step = event.step_log.model_dump(mode="json", exclude={"branches"})
        return {"event": STEP_UPDATED, "step": step, "parent": event.parent}
    if event.kind == BRANCH_UPDATED:
        return {
            "event": BRANCH_UPDATED,
            "name": event.internal_name,
            "status": event.status,
            "parent": event.parent,
        }
    if event.kind == RUN_CREATED:
        return {"event": RUN_CREATED, "run_id": event.run_id}
    if event.kind == RUN_UPDATED:
        message: dict[str, Any] = {"event": RUN_UPDATED, "status": event.status}
        if run_log is not None:
            message["parameters"] = run_log.parameters
        return message
    return None


def message_event(message: dict[str, Any], run_id: str) -> RunEvent | None:
    """A notice read by `serve` as the RunEvent the run's store emitted (a step-updated one carries the step
    log, without its branches); None for a notice that is not an event of the run or is malformed."""
    from pydantic import ValidationError

    from magnus_core.events import BRANCH_UPDATED, RUN_CREATED, RUN_UPDATED, STEP_UPDATED, RunEvent
    from magnus_core.models.run_log import StepLog

    kind = message.get("event")
    parent = message.get("parent")
    parent = parent if isinstance(parent, str) else None
    if kind == STEP_UPDATED:
        try:
            step = StepLog.model_validate(message.get("step"))
        except ValidationError:
            return None
        return RunEvent(
            kind=kind,
            run_id=run_id,
            internal_name=step.internal_name,
            status=step.status,
            step_log=step,
            parent=parent,
        )
    status = message.get("status")
    status = status if isinstance(status, str) else ""
    if kind == BRANCH_UPDATED and isinstance(message.get("name"), str):
        return RunEvent(kind=kind, run_id=run_id, internal_name=message["name"], status=status, parent=parent)
    if kind == RUN_UPDATED:
        parameters = message.get("parameters")
        extra = {"parameters": parameters} if isinstance(parameters, dict) else {}
        return RunEvent(kind=kind, run_id=run_id, status=status, extra=extra)
    if kind == RUN_CREATED:
        return RunEvent(kind=kind, run_id=run_id)
    return None
