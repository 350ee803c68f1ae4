"""A run log read while it was being written in place (a user's `cp` over it, an old tool: magnus's stores
write atomically) is listed broken; the list reads it again at its next polls, so it shows as the run it
is once written, even when the write left its change token as it was (trials 8 and 9: BROKEN until the log
changed again)."""

from __future__ import annotations

import os
from pathlib import Path

from tui_helpers import RUN_LOGS, column, wait_for

from magnus_tui.screens.runs import RunsScreen


def write_in_place(path: Path, text: str, mtime_ns: int) -> None:
    """`text` written over the file's bytes (the same inode), its modification time set to `mtime_ns`."""
    with path.open("r+") as handle:
        handle.write(text)
        handle.truncate()
    os.utime(path, ns=(mtime_ns, mtime_ns))


async def test_a_log_read_half_written_is_read_again_once_written(make_app, project_dir: Path) -> None:
    whole = next(iter(sorted(RUN_LOGS.glob("*.json")))).read_text().replace('"run_id": "', '"run_id": "x', 1)
    half = whole[: len(whole) // 2].ljust(len(whole))  # as a copy caught half way: the same size at the end
    path = project_dir / ".run_log_store" / "copied.json"
    path.write_text(half)
    mtime = path.stat().st_mtime_ns
    app = make_app(poll_interval=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and "copied" in app.screen.entries)
        screen = app.screen
        assert screen.entries["copied"].summary.state == "BROKEN"
        # the copy ends: the same inode, size and modification time (one tick of the clock): the same token
        write_in_place(path, whole, mtime)
        await wait_for(
            pilot,
            lambda: screen.entries["copied"].summary.state != "BROKEN",
            timeout=5.0,
            what="the log read again",
        )
        table = screen.query_one("#runs")
        await wait_for(
            pilot, lambda: column(table, "tag")[column(table, "run_id").index("copied")] != "broken log"
        )
