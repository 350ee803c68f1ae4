"""tui9: a `run_test` that ended right after a run screen was pushed failed with `NoMatches: HeaderTitle`
(Textual's Header draws its title from coroutines queued at its mount, which ran after the closing app had
removed the header's children), then `NoMatches: DagTree` (the screen's on_mount loading the run while its
widgets were being removed). The app, closing as a run screen opens, must end clean whenever it ends: at
once, after a few turns of the event loop, or as the screen reads its run. The real app, the original's
run logs."""

from __future__ import annotations

import asyncio

import pytest


@pytest.mark.parametrize("run_id", ["gs_run", "failure_run"])
async def test_the_app_ends_clean_as_a_run_screen_opens(make_app, run_id: str) -> None:
    for turns in (0, 1, 2, 3, 5, 8, 13, 20, 40):
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:  # (raises what the app raised, as it ends)
            await pilot.pause()
            app.open_run(run_id)
            for _ in range(turns):
                await asyncio.sleep(0)
        assert app.return_code in (None, 0), (turns, app.return_code)
