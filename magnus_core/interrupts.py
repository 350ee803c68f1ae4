"""Whether an interruption was a signal: Ctrl-C or SIGTERM that reached this process, or a step's own code
raising KeyboardInterrupt.

    signal.signal(signal.SIGINT, on_sigint)       # the command line installs it (cli.main)
    mark = received()                             # when an attempt begins
    ...
    except KeyboardInterrupt:
        if from_signal(mark): stop the run        # INTERRUPTED, exit 130 / 143
        else: fail the step                       # the code raised it: located, on_failure followed

A KeyboardInterrupt is what Python raises on SIGINT, but user code can raise it too (a library stopping a
loop, `raise KeyboardInterrupt("...")`). Trial 10 found such a step stop the whole run as Ctrl-C does,
while docs/logs.md says an exception of any kind fails its step. The handlers here count the signals that
arrive (SIGINT here, SIGTERM through cli._on_sigterm: note_signal), so the attempt can tell: a signal
since the attempt began means the user (or `magnus stop`) asked the run to stop, even when the step caught
it and raised another KeyboardInterrupt; none means the step's code raised it.

Where this process's SIGINT handler is not on_sigint (magnus called in a process of someone else's, which
keeps Python's default handler), nothing can be told apart, and every KeyboardInterrupt stops the run, as
it did before.
"""

from __future__ import annotations

import signal
from typing import Any

_RECEIVED = [0]  # SIGINT and SIGTERM that reached this process's handlers, ever


def note_signal() -> None:
    """A stopping signal arrived (called by the handlers, before they raise)."""
    _RECEIVED[0] += 1


def on_sigint(signum: int, frame: Any) -> None:
    """The SIGINT handler of the command line: counted, then KeyboardInterrupt as Python's own raises."""
    note_signal()
    raise KeyboardInterrupt


def received() -> int:
    """How many stopping signals arrived so far: a mark to compare with from_signal."""
    return _RECEIVED[0]


def from_signal(mark: int) -> bool:
    """Whether a KeyboardInterrupt seen now is a stop asked for by a signal: one arrived since `mark`
    (received() then), or this process's handler is not on_sigint and it cannot be told (True: stop)."""
    if _RECEIVED[0] != mark:
        return True
    try:
        return signal.getsignal(signal.SIGINT) is not on_sigint
    except (ValueError, OSError):  # (no signals here)
        return True
