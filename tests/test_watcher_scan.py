"""The watcher takes a dying magnus's children for magnus's, not its group's (CI, session 15).

A killed magnus closes its files (the watcher's pipe reaches its end) before the kernel hands its children
to init, and a many-threaded magnus hands them first to its last thread to end: the watcher's first look
could see a python step's `sleep` still parented by magnus, a member of the group, and so take it for a
process of the group's (a script's next command) and leave it running. Here a real process stands for
magnus as it dies: alive, leading its group, its child not yet re-parented."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from magnus_core import watcher

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")

PARENT = """
import subprocess, sys, time
time.sleep(0.05)  # (its child starts at least one clock tick after it)
child = subprocess.Popen(["sleep", "60"])
print(child.pid, flush=True)
time.sleep(60)
"""


def test_a_child_still_parented_by_the_dead_magnus_is_taken() -> None:
    magnus = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    child = 0
    try:
        assert magnus.stdout is not None
        child = int(magnus.stdout.readline())
        stat = watcher._stat(child)
        assert stat is not None and stat[1] == magnus.pid and stat[2] == magnus.pid
        since = stat[3]  # the watcher started after magnus, before its step's child
        assert watcher._stat(magnus.pid)[3] < since  # type: ignore[index]

        taken = dict(watcher.Found(set(), magnus.pid, since, magnus=magnus.pid).scan())
        assert taken == {child: since}

        # without magnus named, its child reads as the group's own (the fault): nothing is taken
        assert watcher.Found(set(), magnus.pid, since).scan() == []
    finally:
        magnus.kill()
        magnus.wait()
        if child:
            subprocess.run(["kill", "-9", str(child)], check=False)
            time.sleep(0.05)
