"""The runs list at any width: the columns shown fit whole (a name may be cut with an ellipsis, nothing else
is cut), → and ← bring the others in a column at a time, and the counts under the list are never cut
(trials 8 and 9: `ste` for `started` at 80 columns, `d on anoth…` in the counts)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from rich.text import Text
from tui_helpers import screen_lines, wait_for, write_diff_pair, write_many_runs

from magnus_tui.screens.runs import RunsScreen

LONG_TAG = "example-with-a-long-tag"


def many_runs(store: Path) -> None:
    """45 runs (two pipelines, three tags, failed, interrupted and a broken log), some with a long tag."""
    ids = write_many_runs(store, 45)
    for run_id in ids[::4]:
        path = store / f"{run_id}.json"
        log = json.loads(path.read_text())
        log["tag"] = LONG_TAG
        path.write_text(json.dumps(log))
    write_diff_pair(store)


def whole(token: str, values: list[str]) -> bool:
    """`token`, as drawn, is one of `values` whole, or one cut with an ellipsis."""
    if token in values:
        return True
    return token.endswith("…") and any(value.startswith(token[:-1]) for value in values)


def cuts(app) -> list[str]:
    """Every cell of the list drawn cut (not whole, not ended by an ellipsis), as `row: text`."""
    screen = app.screen
    assert isinstance(screen, RunsScreen)
    table = screen.query_one("#runs")
    lines = screen_lines(app)
    left, top = table.region.x, table.region.y
    right = left + table.scrollable_content_region.width  # (not the scrollbar)
    found = []
    labels = [Text.assemble(column.label).plain for column in table.ordered_columns]
    for token in re.split(r" {2,}", lines[top][left:right].strip()):
        if not whole(token, labels):
            found.append(f"header: {token!r}")
    keys = [str(key.value) for key in table.rows]
    for y in range(1, table.region.height):
        index = int(table.scroll_y) + y - 1
        if index >= len(keys):
            break
        values = [cell.plain if isinstance(cell, Text) else str(cell) for cell in screen.cells(keys[index])]
        for token in re.split(r" {2,}", lines[top + y][left:right].strip()):
            if token and not whole(token, values):
                found.append(f"{keys[index]}: {token!r}")
    return found


async def test_the_columns_shown_fit_whole_at_every_width(make_app, project_dir: Path) -> None:
    many_runs(project_dir / ".run_log_store")
    app = make_app(poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.highlighted() is not None
        )
        for width in (80, 44, 52, 61, 67, 73, 86, 93, 101, 112, 125, 150):
            await pilot.resize_terminal(width, 24)
            await pilot.pause()
            assert cuts(app) == [], width
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        table = app.screen.query_one("#runs")
        for _ in range(6):  # → a column at a time to the last, each drawn whole, then ← back
            await pilot.press("right")
            await pilot.pause()
            assert cuts(app) == []
        header = screen_lines(app)[table.region.y]
        assert header.rstrip().endswith("re-run of") or "re-run of  " in header  # the last one in view
        for _ in range(6):
            await pilot.press("left")
            await pilot.pause()
            assert cuts(app) == []
        assert table.scroll_x == 0


async def test_at_80_columns_the_counts_go_on_a_second_line_rather_than_be_cut(
    make_app, project_dir: Path
) -> None:
    many_runs(project_dir / ".run_log_store")
    app = make_app(poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.highlighted() is not None
        )
        await pilot.press("D", "d")  # sorted, and a run marked: the counts, the sort and the mark's hint
        await pilot.pause()
        hint = app.screen.query_one("#hint")
        drawn = [line for line in screen_lines(app)[hint.region.y : hint.region.bottom]]
        text = " ".join(drawn)
        assert "…" not in text and "d on another to diff" in text and "by duration ↓" in text, drawn
        assert len(drawn) == 2 and all(len(line.rstrip()) <= 80 for line in drawn)
        assert cuts(app) == []


def test_fit_columns_gives_every_column_shown_its_room_and_the_rest_to_the_last() -> None:
    """fit_columns alone: mark, status, id fixed; pipeline and tag may be narrowed down to 10."""
    from magnus_tui.screens.runs import fit_columns

    natural = [1, 1, 21, 15, 23, 11, 8, 5, 9]
    least = [1, 1, 21, 10, 10, 11, 8, 5, 9]
    for room in range(30, 140):
        for first in range(3, 9):
            fit = fit_columns(natural, least, 3, room, first)
            shown = sum(w + 2 for w in fit.widths[:3]) + sum(w + 2 for w in fit.widths[fit.first : fit.last])
            assert shown <= room
            if fit.last < len(natural) or fit.first > 3:
                assert shown == room or fit.last == fit.first, (
                    room,
                    first,
                    fit,
                )  # the next starts at the edge
            for index in range(fit.first, fit.last):
                assert fit.widths[index] >= min(least[index], room - 31)
    assert fit_columns(natural, least, 3, 200, 3).widths == natural  # room for all: as they are
