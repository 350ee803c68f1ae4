"""The workbench's Step tab of a step run by `magnus execute_single_node` whose process was killed (session
10, trial 15 N8): it read `▶ running` for ever. It says what `magnus show` says: `attempt 0 was cut short:
its process (pid N) is gone`, and points to what it wrote. A real per-step process killed with kill -9
(tests/test_per_step_killed.py's), the real app under App.run_test()."""

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

from tests import test_per_step_killed as killed  # noqa: E402


@pytest.fixture
def project(git_repo: Path) -> Iterator[dict[str, Any]]:
    """The per-step test's project: every process marked, and killed at the end."""
    yield from killed.project.__wrapped__(git_repo)  # type: ignore[attr-defined]


async def test_the_step_tab_says_the_per_step_process_is_gone(project: dict[str, Any], monkeypatch) -> None:
    root = project["root"]
    pid = killed._killed(project, "psk2", ["--file", "shell.yaml"])
    monkeypatch.chdir(root)
    app = MagnusApp(Project.open(None, root), poll_interval=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_run_screen(pilot, "psk2")
        said = (
            f"attempt 0 was cut short: its process (pid {pid}) is gone; what it wrote until then: Output (o)"
        )
        assert screen.view.rows["wait"].message == said
        shown = screen.query_one("#step-message", Static)
        await wait_for(pilot, lambda: "its process (pid" in plain(shown), what="the Step tab")
