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
