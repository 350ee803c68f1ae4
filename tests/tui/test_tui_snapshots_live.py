"""SVG snapshots of a live run (issue 20) at 100x30 and 80x24, time frozen: the run screen mid-way, its output
view, the stop confirmation and the quit prompt.

The run is tests/data/tui/live: `watch.yaml` run by magnus and killed while `train` ran (then its times set
to fixed ones; `earlier_run` is a whole run of the same pipeline, the estimate). Its log names this test's
own process as the run's process, so the run reads as RUNNING. The stop and quit dialogs are given a fixed
log and paths, so no pid or home folder of the machine is in the pictures.

Update after an intended change with `pytest tests/tui/test_tui_snapshots_live.py --snapshot-update` and look
at the report before committing the new SVGs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import time_machine
from tui_helpers import LIVE, live_project

from magnus_core.models.run_log import RunLog
from magnus_tui.app import MagnusApp
from magnus_tui.source import Project

FROZEN = dt.datetime(2026, 11, 25, 9, 0, 0, tzinfo=dt.UTC)  # the run began at 08:58:00
SIZES = {"100x30": (100, 30), "80x24": (80, 24)}


@pytest.fixture
def live_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project folder of the live run, its process this test's own (alive), as the cwd."""
    live_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path


@pytest.fixture(autouse=True)
def frozen_time(live_dir: Path):
    with time_machine.travel(FROZEN, tick=False):
        yield


def app_for(folder: Path) -> MagnusApp:
    app = MagnusApp(Project.open(None, folder), poll_interval=3600)
    app.theme = "textual-dark"
    return app


async def until(pilot, condition) -> None:
    for _ in range(1500):  # up to 30 s on a loaded machine; a few tenths of a second when quiet
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("the screen never got there")


def shown_with_focus(pilot, dialog: type, button: str) -> bool:
    """`dialog` is the screen and its button `button` has the focus: a dialog focuses its button in on_mount,
    which Textual applies a moment later (a picture taken between had no focused button: flaky at load 13)."""
    screen = pilot.app.screen
    return isinstance(screen, dialog) and screen.focused is not None and screen.focused.id == button


async def live_run(pilot) -> None:
    """The run screen of the live run, its estimate found, settled."""
    pilot.app.open_run("live_run")

    def estimated() -> bool:
        headers = pilot.app.screen.query("#run-header")
        ready = getattr(pilot.app.screen, "ready", False)  # the tabs: after the first frame with the dag
        return bool(headers) and ready and "of ~3m 10s" in str(headers.first().content)

    await until(pilot, estimated)
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_live_run_mid_way(snap_compare, live_dir: Path, size: str) -> None:
    """Every planned step listed (the two not reached dimmed), 1/4 with a bar, the elapsed clock and the
    estimate from the earlier run, the running step's time and attempt."""
    assert snap_compare(app_for(live_dir), terminal_size=SIZES[size], run_before=live_run)


@pytest.mark.parametrize("size", SIZES)
def test_live_output_view(snap_compare, live_dir: Path, size: str) -> None:
    """The running step's output so far, read from its live file."""

    async def output(pilot) -> None:
        await live_run(pilot)
        await pilot.press("o")
        await until(pilot, lambda: bool(pilot.app.screen.query("#output-view")))  # mounted after the dag
        view = pilot.app.screen.query_one("#output-view")
        await until(pilot, lambda: "epoch 3 loss 0.48" in view.lines)
        await pilot.pause()

    assert snap_compare(app_for(live_dir), terminal_size=SIZES[size], run_before=output)


@pytest.mark.parametrize("size", SIZES)
def test_stop_confirmation(snap_compare, live_dir: Path, size: str) -> None:
    from magnus_tui.dialogs.stop import ConfirmStop

    async def stop(pilot) -> None:
        await live_run(pilot)
        log = RunLog.model_validate_json((LIVE / "runs" / "live_run.json").read_text())  # pid 4242 on vm
        pilot.app.push_screen(ConfirmStop(log, 4242, started_here=True))
        await until(pilot, lambda: shown_with_focus(pilot, ConfirmStop, "cancel"))
        await pilot.pause()

    assert snap_compare(app_for(live_dir), terminal_size=SIZES[size], run_before=stop)


@pytest.mark.parametrize("size", SIZES)
def test_quit_prompt(snap_compare, live_dir: Path, size: str) -> None:
    from magnus_tui.dialogs.quit import QuitPrompt

    async def leave(pilot) -> None:
        await live_run(pilot)
        console = Path("~/.local/state/magnus/console/live_run.log")  # shown as given, no real home
        pilot.app.push_screen(QuitPrompt(["live_run"], [console]))
        await until(pilot, lambda: shown_with_focus(pilot, QuitPrompt, "stay"))
        await pilot.pause()

    assert snap_compare(app_for(live_dir), terminal_size=SIZES[size], run_before=leave)
