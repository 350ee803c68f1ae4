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


# A process that runs one step (`magnus execute_single_node`, what every Argo pod runs) spends most of its
# life importing and reading: modules, classes, pydantic's schemas, the pipeline and the step's scope, a few
# hundred thousand objects, none of them garbage. The collector walked them over and over while they were
# made (about a tenth of such a process's CPU), and again at its end, when python collects before it frees
# the modules (another tenth). None while the collector is paused for the set-up; the value to put back.
_SET_UP: list[bool] = []


def pause_until_step_starts() -> None:
    """In a process made to run one step: no cyclic collection until the step's own code starts
    (`step_starts`), or until the process ends if it never does (a usage error, a step already done).
    Only for a process of its own (the command line's main()): in a long-lived process, such as a Dask
    worker running step after step, nothing changes."""
    if not _SET_UP:
        _SET_UP.append(gc.isenabled())
        gc.disable()


def step_starts() -> None:
    """The step's own code is about to run. After `pause_until_step_starts`: everything the set-up made is
    moved out of the collector's sight for good (`gc.freeze`: it is kept until the process ends anyway, so
    neither the step's collections nor the one at exit walk it again) and the collector runs as it did
    before, for the step's code and what it makes. A no-op in any other process."""
    if _SET_UP:
        was = _SET_UP.pop()
        gc.freeze()
        if was:
            gc.enable()
