"""The workbench's Step tab of a step whose processes the watcher stopped after magnus died (session 10,
trial 15 N4): it said only `interrupted: the run's process ended while attempt 0 ran`, nothing of the
shell's `sleep 300` (a GPU job) that the watcher stopped. It says so under that line, as `magnus show`
does: `its processes (pgid N) were stopped by the watcher: SIGTERM, then SIGKILL after 2 s`. A real run
killed with kill -9 (tests/test_watcher_record.py's), the real app under App.run_test()."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static
from tui_helpers import open_run_screen, plain, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.source import Project

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.test_orphans import marked_project  # noqa: E402
from tests.test_watcher_record import STUBBORN, _killed  # noqa: E402


@pytest.fixture
def project(git_repo: Path) -> Iterator[dict[str, Any]]:
    """Every process of the test marked, and killed at its end (tests/test_orphans.py)."""
    with marked_project(git_repo) as made:
        yield made


async def test_the_step_tab_says_what_the_watcher_stopped(project: dict[str, Any], monkeypatch) -> None:
    root = project["root"]
    _killed(project, STUBBORN, "st2", {"python-child", "shell"})
    shell = int((root / "pids" / "shell").read_text())
    monkeypatch.chdir(root)
    app = MagnusApp(Project.open(None, root), poll_interval=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_run_screen(pilot, "st2")
        said = f"its processes (pgid {shell}) were stopped by the watcher: SIGTERM, then SIGKILL after 2 s"
        message = screen.view.rows["par.shell.sh"].message
        assert message.splitlines()[-1] == said, message
        python = screen.view.rows["par.python.spawn"].message.splitlines()[-1]
        assert python.startswith("its processes (pid ") and python.endswith("SIGKILL after 2 s"), python
        shown = screen.query_one("#step-message", Static)  # the selected step's tab draws it
        await wait_for(pilot, lambda: "were stopped by the watcher" in plain(shown), what="the Step tab")
