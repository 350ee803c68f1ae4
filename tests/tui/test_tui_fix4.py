"""Trial 4's workbench findings (a first-time user at 80×24 and 120×40, a store of 2,000 runs)."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import DataTable, Static
from tui_helpers import column, plain


async def test_g_at_80x24_keeps_the_last_run_in_view_when_its_reason_grows(
    make_app, project_dir: Path, monkeypatch
) -> None:
    """G on a list whose last run failed: the panel under the list grows to say why (after the list
    scrolled), and the list keeps the run in view, not under the horizontal scrollbar (trial 4, 1)."""
    from tui_helpers import write_many_runs

    from magnus_tui.screens import runs

    monkeypatch.setattr(runs, "PAGE", 20)
    ids = write_many_runs(project_dir / ".run_log_store", 46)  # the newest (45) failed
    store = project_dir / ".run_log_store"
    (store / "zz-broken.json").unlink()  # (listed last whatever the order)
    newest = json.loads((store / f"{ids[45]}.json").read_text())
    newest["steps"]["shell"]["message"] = "ValueError: score below threshold " + "and a long why " * 6
    (store / f"{ids[45]}.json").write_text(json.dumps(newest))
    app = make_app(poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#runs", DataTable)
        await pilot.press("A", "A", "G")  # oldest first: the newest, failed, is last
        for _ in range(5):
            await pilot.pause()
        assert column(table, "run_id")[-1] == ids[45] and table.cursor_row == table.row_count - 1
        assert "score below threshold" in plain(app.screen.query_one("#reason", Static))
        assert table.max_scroll_y > 0 and table.scroll_y == table.max_scroll_y, (
            table.scroll_y,
            table.max_scroll_y,
        )


async def test_a_burst_of_keys_in_the_filter_acts_in_the_order_typed(
    make_app, project_dir: Path, monkeypatch
) -> None:
    """Backspace, escape and Enter typed in a burst act between the letters typed before and after them
    (their bindings ran when the key had bubbled up to the app, after the next letters: `20261` for
    `lr-sweep abcdef`), and an escape before `/` does not take the keys back to the list (trial 4, 2)."""
    from textual import events
    from textual.widgets import Input
    from tui_helpers import write_many_runs

    from magnus_tui.screens import runs

    ran: list[str] = []
    monkeypatch.setattr(runs.RunsScreen, "action_edit_pipeline", lambda self: ran.append("e"))
    monkeypatch.setattr(runs.RunsScreen, "action_page_log", lambda self: ran.append("o"))
    monkeypatch.setattr(runs.RunsScreen, "action_mark", lambda self: ran.append("d"))
    write_many_runs(project_dir / ".run_log_store", 300)
    app = make_app(poll_interval=3600)

    def typed(*keys: str) -> None:
        names = {"/": "slash", " ": "space", "-": "minus", "⌫": "backspace", "⎋": "escape", "⏎": "enter"}
        chars = {"⌫": None, "⎋": None, "⏎": "\r"}
        for key in keys:
            for char in key if len(key) == 1 or key.isalnum() else [key]:
                app.post_message(events.Key(names.get(char, char), chars.get(char, char)))

    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        box = app.screen.query_one("#filter", Input)
        table = app.screen.query_one("#runs", DataTable)
        typed("⎋", "/", *"sweep 2026113", *"⌫" * 8, *"oed")
        for _ in range(10):
            await pilot.pause()
        assert (box.value, ran, app.screen.focused) == ("sweepoed", [], box)
        typed(*"⌫" * 3, "⏎", "j", "j")  # Enter: the keys after it are the list's
        for _ in range(10):
            await pilot.pause()
        assert (box.value, app.screen.focused, table.cursor_row) == ("sweep", table, 2)
        assert all(column(table, "tag")[i] == "sweep" for i in range(table.row_count))
