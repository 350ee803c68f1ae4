"""Issue 16 F6: F1 on the run screen said nothing of the Output tab's search from the dag (`/` there finds a
step), and on the Output tab listed `/`, `n`, `N` among the moves (`Move`, with ↑/↓). Now the Output tab's
own keys are their own section (`This view`), and from the dag a line under the keys says how to search
the Output tab. The real app under App.run_test(); what the help screen shows."""

from __future__ import annotations

from tui_helpers import open_run_screen, screen_lines, wait_for

from magnus_tui.dialogs.help import HelpScreen, key_rows
from magnus_tui.widgets.dag_tree import DagTree
from magnus_tui.widgets.output_view import OutputView


async def test_help_lists_the_output_tabs_search(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_run_screen(pilot, "failure_run")
        await pilot.press("i")  # (a failed run opens on its Output tab) the Step tab: the dag has the keys
        await wait_for(pilot, lambda: screen.query_one(DagTree).has_focus, what="the dag's focus")
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
        await pilot.pause(0.1)
        shown = "\n".join(screen_lines(app))
        assert "Find step" in shown, shown
        box = app.screen.query_one("#help-note").region  # (its lines, wrapped at the help's width)
        words = " ".join(
            " ".join(line[box.x : box.right].split()) for line in screen_lines(app)[box.y : box.bottom]
        )
        assert "On the Output tab (o): / searches its lines, n / N go to the next and previous match" in words
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, what="the help to close")

        await pilot.press("o")
        view = screen.query_one(OutputView)
        await wait_for(pilot, lambda: view.log_widget.has_focus, what="the output's focus")
        sections = dict(key_rows(app.screen))
        assert ("/", "Search") in sections["This view"], sections  # (the old code: under "Move")
        assert ("n", "Next match") in sections["This view"] and ("N", "Previous match") in sections[
            "This view"
        ]
        assert not any(text in ("Search", "Next match") for _, text in sections["Move"]), sections
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
        await pilot.pause(0.1)
        shown = "\n".join(screen_lines(app))
        assert "This view" in shown and "Next match" in shown, shown
        assert "On the Output tab (o)" not in shown  # its keys are listed: no line about them
