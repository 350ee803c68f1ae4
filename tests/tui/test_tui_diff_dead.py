"""The workbench's compare screen of a run whose process died (trial 13 fault 3): it is the core's diff
(magnus_core.diff.compare), which read the dead run raw (`status PROCESSING → SUCCESS`, the branches'
attempts `0 → 1`) and its header drew the run's recorded status, PROCESSING, as running. Now the header
draws it interrupted (■) and the rows say `INTERRUPTED (PROCESSING)`, the cut-short attempts counted, as
`magnus show` says. A real run that segfaults in a parallel branch (tests/crashing.py); the real app under App.run_test()."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from textual.widgets import Static
from tui_helpers import plain

from tests.crashing import RUN, crashing_project
from tests.tui.test_tui_diff import listed, open_diff

ROOT = Path(__file__).resolve().parents[2]


def _execute(folder: Path, *args: str, crash: bool = False) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    if crash:
        env["CRASH"] = "segv"
    command = [sys.executable, "-m", "magnus_core", "execute", *RUN, *args]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, timeout=120).returncode


async def test_the_compare_screen_reads_a_dead_run_as_interrupted(make_app, project_dir) -> None:
    crashing_project(project_dir)
    assert _execute(project_dir, "--run-id", "pc1", crash=True) == -signal.SIGSEGV
    assert _execute(project_dir, "--use-cached", "pc1", "--run-id", "pc1r") == 0
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_diff(app, pilot, "pc1", "pc1r")
        header = plain(screen.query_one("#diff-summary", Static)).splitlines()
        assert header[0].startswith("A ■ pc1"), header
        rows = {key: text for _mark, key, text in listed(screen, "steps")}
        assert rows["fan › status"] == "INTERRUPTED (PROCESSING) → SUCCESS", rows
        assert rows["fan.crashy.s › status"] == "INTERRUPTED (PROCESSING) → SUCCESS", rows
        assert not [key for key in rows if key.endswith("attempts") and key.startswith("fan.")], rows
        run_rows = {key: text for _mark, key, text in listed(screen, "run")}
        assert run_rows["status"] == "INTERRUPTED (PROCESSING) → SUCCESS", run_rows
