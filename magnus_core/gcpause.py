"""Reading many objects without the cyclic garbage collector walking them again and again.

A 10,000-step run log read into models is about a million objects, none of them in a reference cycle
(JSON is a tree; the models hold no back references). While they are being made, CPython's cyclic
collector runs every few hundred allocations and walks the ever larger set of young and then old objects:
half of the time of reading such a log (bench/diff.py). Reference counting frees all of these objects
as soon as they are dropped; pausing the cyclic collector only for the reading changes nothing else.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (and back as it was after it, even on error). For
    code that makes many acyclic objects: reading run logs, building the run index."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def off_for_this_command() -> None:
    """A short command that reads and prints (diff, show, runs, compare) makes no cycles worth collecting:
    the collector stays off until the process ends (reference counting still frees everything)."""
    gc.disable()
