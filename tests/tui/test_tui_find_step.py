"""Finding a step by name in a big run (trial 8, finding 3): `/` on the run screen finds steps as you type
(the cursor on the first match, the matches marked, `n`/`N` next and previous, escape clears), and the
command palette goes to a step by name."""

from __future__ import annotations

import time
from pathlib import Path

from textual import events

from magnus_core.models.run_log import RunLog, StepAttempt, StepLog
from magnus_core.stores.file_system import FileSystemRunLogStore
from magnus_tui.screens.run import RunScreen

STEPS = 2000


def write_big_run(folder: Path) -> None:
    """A run of STEPS steps s0 … s1999 (a linear dag, every step succeeded)."""
    t = "2026-01-01T10:00:00+00:00"
    log = RunLog(run_id="big", status="SUCCESS")
    for i in range(STEPS):
        attempt = StepAttempt(attempt_number=0, start_time=t, end_time=t, status="SUCCESS")
        log.steps[f"s{i}"] = StepLog(
            name=f"s{i}", internal_name=f"s{i}", status="SUCCESS", attempts=[attempt]
        )
    store = FileSystemRunLogStore({"log_folder": str(folder / ".run_log_store")})
    store.create_run(log)
    store.flush("big")


async def opened(app, pilot) -> RunScreen:
    app.open_run("big")
    deadline = time.monotonic() + 30
    while not (isinstance(app.screen, RunScreen) and app.screen.ready and app.screen.query_one("#dag").lines):
        assert time.monotonic() < deadline, "the run screen did not open"
        await pilot.pause(0.02)
    return app.screen


async def wait_for(pilot, condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the screen"
        await pilot.pause(0.02)


async def test_slash_finds_a_step_by_name_as_you_type(make_app, project_dir: Path) -> None:
    write_big_run(project_dir)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(app, pilot)
        tree = screen.query_one("#dag")
        # typed at once, as a fast typist or a paste: every letter goes into the box
        for key, char in [("slash", "/"), *((c, c) for c in "s150")]:
            app.post_message(events.Key(key, char))
        await wait_for(pilot, lambda: screen.selected == "s150")
        assert screen.query_one("#dag-find").value == "s150"
        assert tree.cursor_key == "s150"
        assert tree.border_title == "/s150 1/11"  # s150, s1500 … s1509
        await pilot.press("0")  # incremental: s1500
        assert tree.cursor_key == "s1500" and tree.border_title == "/s1500 1/1"
        await pilot.press("enter")  # kept: the keys are the dag's again
        assert screen.focused is tree and tree.find_text == "s1500"
        assert "s1500" in "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        await pilot.press("slash", *"S150", "enter", "n")  # a new search (any case), from s1500
        assert tree.cursor_key == "s1501" and tree.border_title == "/s150 3/11"
        await pilot.press("N", "N")
        assert tree.cursor_key == "s150"
        await pilot.press("N")  # round past the top
        assert tree.cursor_key == "s1509"
        await pilot.press("escape")  # clears the search; the cursor stays; the screen stays
        assert tree.find_text == "" and tree.border_title is None and app.screen is screen
        assert tree.cursor_key == "s1509"
        await pilot.press("slash", *"nosuch", "enter")
        assert tree.border_title == "/nosuch: no step" and tree.cursor_key == "s1509"
        await pilot.press("escape", "escape")  # the search, then the screen
        assert app.screen is not screen


async def test_the_palette_goes_to_a_step_by_name(make_app, project_dir: Path) -> None:
    write_big_run(project_dir)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        for char in "go to step s1500":
            await pilot.press(char if char != " " else "space")
        from textual.command import CommandList

        found = app.screen.query_one(CommandList)
        deadline = time.monotonic() + 10
        while not any("Go to step s1500" in str(o.prompt) for o in found._options):
            assert time.monotonic() < deadline, [str(o.prompt) for o in found._options]
            await pilot.pause(0.05)
        assert "Go to step s1500" in str(found._options[0].prompt)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.selected == "s1500")
        assert app.screen is screen and screen.query_one("#dag").cursor_key == "s1500"


async def test_the_runs_list_opens_a_runs_output_straight_away(
    make_app, project_dir: Path, monkeypatch
) -> None:
    """`l` (k9s's logs) and `o` (the run screen's Output) on the runs list open the run on its Output tab:
    the whole run for a run that did not fail, the failed step for one that did; `v` pages the run log's
    JSON (it was `o`; trial 8: `o` opened the JSON, not the output)."""
    from magnus_tui.screens import runs

    paged: list[str] = []
    monkeypatch.setattr(runs.RunsScreen, "action_page_log", lambda self: paged.append(self.highlighted()))
    app = make_app(poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot, lambda: bool(app.screen.query("#runs")) and app.screen.highlighted() is not None
        )
        listed = app.screen
        first = listed.highlighted()
        await pilot.press("v")
        assert paged == [first] and app.screen is listed
        for key in ("l", "o"):
            await pilot.press(key)
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ready)
            screen = app.screen
            await wait_for(pilot, lambda s=screen: s.query_one("#tabs").active == "output")
            output = screen.query_one("#output-view")
            failed = screen.view.first_failure()
            assert output.whole_run == (failed is None) and screen.run_id == first
            assert screen.focused is screen.query_one("#output-log")
            await pilot.press("escape", "escape")
            await wait_for(pilot, lambda: app.screen is listed)
