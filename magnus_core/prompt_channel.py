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

    prompt = ChannelPrompt(fd)      # in the run: a secrets provider's `prompt`, callable from any thread
    prompt.tell(event)              # in the run: a notice for the front end
    serve(sock, answer, on_event)   # in the front end: answers every question until the run closes its end
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from magnus_core.errors import UsageError

MAX_LINE = 1 << 20  # bytes: a question or an answer longer than this is refused


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
        self._lock = threading.Lock()

    def __call__(self, name: str) -> str | None:
        with self._lock:
            try:
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
        """A notice for the front end (`{"event": ...}`), which answers nothing; lost if it has gone."""
        with self._lock, contextlib.suppress(OSError):
            self.sock.sendall(json.dumps(event).encode("utf-8") + b"\n")


def serve(
    sock: socket.socket,
    answer: Callable[[str], str | None],
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Answer every question the run asks on `sock` with `answer(name)` (None: gave up), and pass its
    notices to `on_event`, until the run closes its end. Blocks: run it in a thread of its own. Never
    raises for a run that went away."""
    reader = sock.makefile("rb")
    try:
        while True:
            line = reader.readline(MAX_LINE + 1)
            if not line:
                return
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
            value = answer(name) if isinstance(name, str) and name else None
            sock.sendall(json.dumps({"value": value}).encode("utf-8") + b"\n")
    except OSError:
        return
    finally:
        reader.close()
        sock.close()


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """(front end's end, run's end): the run's end is inheritable, to be passed with `pass_fds`."""
    ours, theirs = socket.socketpair()
    theirs.set_inheritable(True)
    return ours, theirs
