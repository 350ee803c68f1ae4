"""Trial 5's workbench findings (a first-time user at 80×24, 237 runs in the store)."""

from __future__ import annotations

import json
import os
import re
import sys
import termios
import time
from pathlib import Path

import pexpect
import pytest
from tui_helpers import write_many_runs

from tests.conftest import ROOT


@pytest.mark.parametrize("when", ["at once", "once the terminal is raw"])
def test_keys_typed_as_the_workbench_starts_all_arrive_in_order(tmp_path: Path, when: str) -> None:
    """`/longfail⏎⏎` typed right after `magnus` (before the runs list is read and focused) filters the
    list and opens the one run it matches: the letters after `/` went to the screen with no widget to take
    them and were lost, and the Enters opened the top run (trial 5, finding 1). A real terminal: typed
    `at once`, the keys wait in the terminal's line mode (⌫ edits them there, Enter becomes a newline)
    until Textual reads it; typed once it is raw, they reach Textual before the list is there."""
    (tmp_path / ".run_log_store").mkdir()
    ids = write_many_runs(tmp_path / ".run_log_store", 40)
    wanted = tmp_path / ".run_log_store" / f"{ids[4]}.json"
    log = json.loads(wanted.read_text())
    log["tag"] = "longfail"
    wanted.write_text(json.dumps(log))
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "PYTHONPATH": str(ROOT),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(
        sys.executable, ["-m", "magnus_core"], cwd=str(tmp_path), env=env, dimensions=(24, 80), timeout=20
    )
    try:
        if when != "at once":
            deadline = time.monotonic() + 60
            while termios.tcgetattr(child.child_fd)[3] & termios.ICANON and time.monotonic() < deadline:
                time.sleep(0.002)
        child.send("/longfaill\x7f\r\r")  # (⌫ as a terminal sends it)
        # the run screen's header: its id and the tag (the list's panel never shows the tag)
        child.expect(re.compile(rb"(\d{8}-\d{3})(?:\x1b\[[0-9;]*m| )*tag (\w+)"))
        opened, tag = child.match.group(1).decode(), child.match.group(2).decode()
        seen = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", " ", child.before.decode("utf-8", "replace"))
    finally:
        child.sendcontrol("c")
        child.expect(pexpect.EOF)
        child.close()
    assert (opened, tag) == (ids[4], "longfail"), re.findall(r"\d+ +of +\d+ +runs", seen)
    assert re.search(r"1 +of +41 +runs", seen)
