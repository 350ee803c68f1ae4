"""Keys typed while a big run's screen opens (it reads the log and draws the dag first: ~0.3 s at 10,000
steps) act on that screen once it is ready, in the order typed; none runs on the runs list behind it
(trials 8 and 9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events
from textual.widgets import TabbedContent
from tui_helpers import WAIT, keys_handled, leave_screen, open_run_screen, run_screen_ready, wait_for

from magnus_core.files import atomic_write
from magnus_core.models.run_log import BranchLog, CodeIdentity, RunLog, StepAttempt, StepLog
from magnus_tui.screens.run import RunScreen
from magnus_tui.screens.runs import RunsScreen
from magnus_tui.widgets.dag_tree import DagTree

STEPS = 10_000


def big_log(run_id: str, n: int) -> RunLog:
    """A finished run of `n` steps: 9 at the top, then a map whose items hold 9 steps each."""
    identity = [CodeIdentity(code_identifier="0" * 40, code_identifier_dependable=True)]

    def step(name: str, internal: str, i: int) -> StepLog:
        t = f"2026-01-01 10:{(i // 60) % 60:02d}:{i % 60:02d}.000000"
        attempt = StepAttempt(attempt_number=0, start_time=t, end_time=t, status="SUCCESS")
        return StepLog(
            name=name, internal_name=internal, status="SUCCESS", code_identities=identity, attempts=[attempt]
        )

    log = RunLog(run_id=run_id, status="SUCCESS", tag="big")
    for i in range(9):
        log.steps[f"s{i}"] = step(f"s{i}", f"s{i}", i)
    mapped = StepLog(name="map", internal_name="map", status="SUCCESS", step_type="map")
    count, item = 9, 0
    while count < n:
        branch = BranchLog(internal_name=f"map.{item}", status="SUCCESS")
        for j in range(min(9, n - count)):
            branch.steps[f"map.{item}.t{j}"] = step(f"t{j}", f"map.{item}.t{j}", count)
            count += 1
        mapped.branches[branch.internal_name] = branch
        item += 1
    log.steps["map"] = mapped
    return log


@pytest.fixture
def big_store(project_dir: Path) -> Path:
    """The project's store with a 10,000-step run `big`, the oldest run: the last in the list."""
    path = project_dir / ".run_log_store" / "big.json"
    atomic_write(path, big_log("big", STEPS).model_dump_json())
    import os

    os.utime(path, (1, 1))
    return project_dir


async def type_while_it_opens(pilot, *keys: str) -> None:
    """Enter on the highlighted run and `keys` right after it, all sent as a terminal sends what is typed
    while the app is busy: the app reads them after Enter, whatever it is doing."""
    app = pilot.app
    for key in ("enter", *keys):
        character = key if len(key) == 1 else {"enter": "\r", "slash": "/", "escape": "\x1b"}.get(key)
        event = events.Key(key, character)
        event.set_sender(app)
        app._driver.send_message(event)


async def on_the_big_run(pilot) -> RunsScreen:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.highlighted() is not None)
    screen = app.screen
    await pilot.press("G")
    assert screen.highlighted() == "big"
    return screen


@pytest.mark.parametrize(
    ("keys", "cursor", "tab"),
    [
        (("j", "j", "j", "p"), "s3", "run"),  # moves in the dag, then a tab
        (("slash", "s", "5", "enter", "i"), "s5", "step"),  # a search typed whole, then a tab
        (("o",), None, "output"),
    ],
)
async def test_keys_typed_while_a_big_run_opens_act_on_it_in_order(
    make_app, big_store: Path, keys: tuple[str, ...], cursor: str | None, tab: str
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        runs = await on_the_big_run(pilot)
        row = runs.query_one("#runs").cursor_row
        await type_while_it_opens(pilot, *keys)
        screen = await run_screen_ready(pilot, timeout=WAIT)
        await keys_handled(pilot)
        await wait_for(pilot, lambda: screen.query_one(TabbedContent).active == tab, what=f"the {tab} tab")
        if cursor is not None:
            assert screen.query_one("#dag").cursor_key == cursor
        assert isinstance(app.screen, RunScreen) and app.screen.run_id == "big"
        assert runs.query_one("#runs").cursor_row == row  # nothing ran on the list behind


async def test_escape_typed_while_a_big_run_opens_goes_back_and_the_keys_after_it_are_the_lists(
    make_app, big_store: Path
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        runs = await on_the_big_run(pilot)
        row = runs.query_one("#runs").cursor_row
        await type_while_it_opens(pilot, "escape", "k", "k")
        table = runs.query_one("#runs")
        await wait_for(  # (escape opened nothing else: each k once, on the list, after escape)
            pilot,
            lambda: app.screen is runs and table.cursor_row == row - 2 and app._early_keys is None,
            what="the runs list back on top, two rows up",
            why=lambda: f"{app.screen!r} on top, the list's cursor on row {table.cursor_row}",
        )
        await keys_handled(pilot)
        assert table.cursor_row == row - 2


async def test_a_tab_key_as_a_failed_run_opens_on_its_output_keeps_that_tab(make_app) -> None:
    """`i` pressed as a failed run opens on its Output tab (the lines focused, the Step tab asked for in the
    same moment) shows the Step tab and stays there with the keys on the dag: the lines' focus, whose message
    came later, showed the Output tab again (Textual's TabbedContent follows a focused pane; the run screen's
    tabs ignore a focus that has left). Five openings: the order of the two depends on the machine's load."""
    app = make_app(poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(5):
            screen = await open_run_screen(pilot, "failure_run")
            await pilot.press("i")
            await pilot.pause(0.5)
            tabs = screen.query_one(TabbedContent)
            assert tabs.active == "step", "the Output tab came back after i"
            assert isinstance(screen.focused, DagTree)
            await leave_screen(pilot)
