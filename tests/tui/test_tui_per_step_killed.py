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
from magnus_tui.widgets.output_view import OutputView

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


async def test_the_step_tab_of_a_crashed_per_step_step_shows_what_it_held(
    project: dict[str, Any], monkeypatch
) -> None:
    """Session 12: a per-step process that segfaults within its first 50 ms (its line still held in memory,
    written through to its own `.magnus/steps/<step>.<pid>.held.log`) read on the Step tab `attempt 0 was
    cut short: its process (pid N) is gone; none of its output reached its file`, while `magnus show` says
    `crashed (Segmentation fault) at pkill9.py:12 in crash` and `magnus logs` shows the line. The tab now
    says the crash and points to the Output tab, which shows the line, as for a local run."""
    import signal
    import subprocess

    root = project["root"]
    crashed = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute_single_node", "ps4", "wait", "--file", "segv.yaml"],
        cwd=root,
        env=project["env"],
        capture_output=True,
        start_new_session=True,
        timeout=120,
    )
    assert crashed.returncode == -signal.SIGSEGV, crashed.stderr
    assert not list((root / ".catalog" / "ps4").glob("*.live"))  # (held only: no `.live` file was begun)
    monkeypatch.chdir(root)
    app = MagnusApp(Project.open(None, root), poll_interval=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_run_screen(pilot, "ps4")
        said = (
            "attempt 0 crashed (Segmentation fault) at pkill9.py:12 in crash; what it wrote until then: "
            "Output (o)"
        )
        assert screen.view.rows["wait"].message == said
        await pilot.press("o")
        output = screen.query_one(OutputView)
        line = "calling the C extension with batch 17"
        await wait_for(pilot, lambda: line in output.lines, what="the Output tab")
