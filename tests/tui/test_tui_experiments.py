"""The experiments screen under Pilot and as snapshots: a tag's runs with the parameters and metrics that
differ, the best marked, sorting, a metric chart against a parameter or time, histories of selected runs,
completion of names in the filter, Enter and diff, a bad filter, and runs that appear while it is open."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest
import time_machine
from textual import events
from tui_helpers import run_screen_ready, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.source import Project
from tests.runlog_factory import make_log, write_log

LRS = [0.1, 0.03, 0.01, 0.003]
AUC = [0.80, 0.83, 0.89, 0.86]


@pytest.fixture
def exp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    store = tmp_path / ".run_log_store"
    for i, lr in enumerate(LRS):
        loss = [round(0.9 - 0.1 * e - 0.05 * i, 3) for e in range(5)]
        write_log(
            store,
            make_log(
                f"lr{i}",
                minute=i,
                tag="exp1",
                params={"lr": lr, "epochs": 5},
                metrics={"train": {"loss": loss[-1]}, "evaluate": {"auc": AUC[i]}},
                history={"train": {"loss": loss}},
            ),
        )
    write_log(
        store, make_log("other", minute=9, tag="exp2", params={"lr": 1.0}, metrics={"evaluate": {"auc": 0.5}})
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path


def app_for(folder: Path) -> MagnusApp:
    app = MagnusApp(Project.open(None, folder), poll_interval=3600)
    app.theme = "textual-dark"
    return app


async def wait_loaded(pilot, screen) -> None:
    for _ in range(50):
        await pilot.pause(0.05)
        if screen.loaded is not None:
            break
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def open_screen(pilot, tag: str | None = None):
    """The experiments screen of `tag` (every run: None), its runs loaded."""
    from magnus_tui.screens.experiments import ExperimentsScreen

    pilot.app.open_experiments(tag)
    screen = pilot.app.screen
    assert isinstance(screen, ExperimentsScreen)
    await wait_loaded(pilot, screen)
    return screen


def column_labels(screen) -> list[str]:
    table = screen.query_one("#exp-table")
    return [str(c.label) for c in table.columns.values()]


async def test_open_from_the_runs_screen_on_a_tag(exp_dir: Path) -> None:
    from magnus_tui.screens.experiments import ExperimentsScreen

    app = app_for(exp_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        runs = app.screen
        runs.query_one("#runs").move_cursor(
            row=[str(k.value) for k in runs.query_one("#runs").rows].index("lr2")
        )
        await pilot.press("x")
        screen = app.screen
        assert isinstance(screen, ExperimentsScreen)
        await wait_loaded(pilot, screen)
        assert screen.query_one("#exp-query").value == "tag = 'exp1'"
        assert [r.summary.run_id for r in screen.rows] == ["lr0", "lr1", "lr2", "lr3"]
        assert column_labels(screen)[2:] == [
            "run id",
            "params.lr",
            "metrics.auc",
            "metrics.loss",
        ]  # no epochs
        table = screen.query_one("#exp-table")
        assert str(table.get_cell("lr2", "metrics.auc")) == "0.89 *"  # the best auc
        assert str(table.get_cell("lr3", "metrics.loss")) == "0.35 *"  # the lowest loss
        chart = screen.query_one("#exp-chart").chart
        # a top-level metric with a history (train's loss, per epoch) before one without (trial 8)
        assert chart.title == "metrics.loss by time" and chart.series[0].ys == [0.5, 0.45, 0.4, 0.35]


async def test_sort_chart_history_and_marks(exp_dir: Path) -> None:
    from magnus_tui.screens.diff import DiffScreen
    from magnus_tui.screens.run import RunScreen

    app = app_for(exp_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_screen(pilot, "exp1")
        table = screen.query_one("#exp-table")
        table.move_cursor(column=4)  # metrics.auc
        await pilot.press("o")
        assert [r.summary.run_id for r in screen.rows] == ["lr2", "lr3", "lr1", "lr0"]  # best first
        assert "metrics.auc ↓" in column_labels(screen)
        await pilot.press("o")
        assert [r.summary.run_id for r in screen.rows] == ["lr0", "lr1", "lr3", "lr2"]
        await pilot.press("c")  # chart metrics.auc
        table.move_cursor(column=3)  # params.lr: the x axis
        await pilot.press("c")
        chart = screen.query_one("#exp-chart").chart
        assert chart.title == "metrics.auc by params.lr"
        assert chart.series[0].xs == sorted(LRS) and chart.series[0].ys == [0.86, 0.89, 0.83, 0.80]
        await pilot.press("x")
        assert screen.query_one("#exp-chart").chart.title == "metrics.auc by time"
        table.move_cursor(row=[r.summary.run_id for r in screen.rows].index("lr0"), column=5)  # metrics.loss
        await pilot.press("space")
        table.move_cursor(row=[r.summary.run_id for r in screen.rows].index("lr3"))
        await pilot.press("space", "h")
        await app.workers.wait_for_complete()
        await pilot.pause()
        history = screen.query_one("#exp-chart").chart
        assert history.title == "metrics.loss history"
        # named by the parameter that varies between the runs shown, each its own marker in a key below
        assert {s.label: s.ys[-1] for s in history.series} == {"lr=0.1": 0.5, "lr=0.003": 0.35}
        assert screen.query_one("#exp-chart").key_line().plain == "* lr=0.1   x lr=0.003"
        assert screen.query_one("#chart-key").display
        await pilot.press("enter")
        assert isinstance(app.screen, RunScreen)
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("d", "up", "d")
        await pilot.pause()
        assert isinstance(app.screen, DiffScreen)


async def test_filter_completion_bad_filter_and_live_update(exp_dir: Path) -> None:

    app = app_for(exp_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_screen(pilot)
        assert len(screen.rows) == 5  # every run: no tag, no filter
        await pilot.press("slash")
        query = screen.query_one("#exp-query")
        query.value = ""
        await pilot.press(*"metrics.a")
        await pilot.pause(0.2)
        await pilot.press("right")  # take the suggestion
        assert query.value == "metrics.auc"
        await pilot.press(*" > 0.85", "enter")
        await wait_loaded(pilot, screen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [r.summary.run_id for r in screen.rows] == ["lr2", "lr3"]
        query.value = "metrics.auc >"
        await pilot.press("slash", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        shown = str(screen.query_one("#exp-hint").content)
        assert "column 14" in shown and "expected a number" in shown  # shown, no crash
        assert [r.summary.run_id for r in screen.rows] == ["lr2", "lr3"]  # the applied filter's runs
        assert query.has_focus  # the text to fix stays in the box
        query.value = "tag = 'exp1'"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(screen.rows) == 4
        write_log(
            exp_dir / ".run_log_store",
            make_log("lr4", minute=20, tag="exp1", params={"lr": 0.001}, metrics={"evaluate": {"auc": 0.95}}),
        )
        screen.load()  # what the poll timer does
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [r.summary.run_id for r in screen.rows][-1] == "lr4"
        assert str(screen.query_one("#exp-table").get_cell("lr4", "metrics.auc")) == "0.95 *"


async def test_filter_box_adds_to_the_filter_completes_at_the_cursor_and_applies_on_enter(
    exp_dir: Path,
) -> None:
    """`/` keeps the tag scope (cursor at the end, nothing selected); → completes the parameter or metric
    name being typed, at the end (Textual's suggestion) and in the middle of the text; nothing is applied
    until Enter, and a bad filter is named once in the line under the box, never as a toast."""

    app = app_for(exp_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_screen(pilot, "exp1")
        query = screen.query_one("#exp-query")
        hint = screen.query_one("#exp-hint")
        await pilot.press("slash")
        assert query.has_focus and query.selection.is_empty and query.cursor_at_end
        await pilot.press(*" and params.l")  # typed after the tag, not over it
        await app.workers.wait_for_complete()  # (the suggester runs in a worker: not a fixed pause)
        await pilot.pause()
        assert query._suggestion == "tag = 'exp1' and params.lr"  # drawn faded after the text
        await pilot.press("right")
        assert query.value == "tag = 'exp1' and params.lr"
        await pilot.press(*" < 0.05 or metrics.lo")
        screen.load()  # a poll while typing applies nothing: the table keeps the tag's four runs
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(screen.rows) == 4 and not app._notifications
        await pilot.press("enter")
        assert "column" in str(hint.content) and hint.display  # named once, under the box
        assert query.has_focus and len(screen.rows) == 4 and not app._notifications
        # in the middle: `metrics.lo|` followed by text, → inserts the rest of the name there
        query.value = "metrics.lo < 0.5"
        query.cursor_position = len("metrics.lo")
        await pilot.pause()
        assert "→ metrics.loss" in str(hint.content)
        await pilot.press("right")
        assert query.value == "metrics.loss < 0.5"
        await pilot.press("home", "right")  # not at the end of a name: → only moves
        assert query.value == "metrics.loss < 0.5" and query.cursor_position == 1
        await pilot.press("end", *" and (params.l")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("right", *" >= 0.01)", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.applied == "metrics.loss < 0.5 and (params.lr >= 0.01)"
        assert [r.summary.run_id for r in screen.rows] == ["lr1", "lr2"] and not hint.display
        assert screen.query_one("#exp-table").has_focus and not app._notifications
        await pilot.press("slash", *" junk", "escape")  # Esc puts the applied filter back
        assert query.value == screen.applied and screen.query_one("#exp-table").has_focus


SIZES = {"100x30": (100, 30), "80x24": (80, 24)}


async def test_the_history_chart_keeps_its_height_at_80x24(exp_dir: Path) -> None:
    """The table takes the rows its runs need, the chart the rest (at least 9 rows), its key below."""

    app = app_for(exp_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot, "exp1")
        screen.query_one("#exp-table").move_cursor(column=5)  # metrics.loss
        await pilot.press("h")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.query_one("#exp-table").size.height == 5  # header + 4 runs, no empty rows
        plot = screen.query_one("#exp-chart PlotextPlot")
        key = screen.query_one("#chart-key")
        assert plot.size.height >= 10 and key.size.height == 1
        assert key.region.y >= plot.region.bottom  # the key is below the plot, not over it
        assert len(screen.query_one("#exp-chart").chart.series) == 4


@pytest.mark.parametrize("size", SIZES)
def test_experiments_screen_snapshot(snap_compare, exp_dir: Path, size: str) -> None:
    async def open_screen(pilot) -> None:
        pilot.app.open_experiments("exp1")
        screen = pilot.app.screen
        await wait_loaded(pilot, screen)
        screen.query_one("#exp-query").cursor_blink = False
        screen.query_one("#exp-table").move_cursor(column=3)  # params.lr as the chart's x axis
        await pilot.press("c")
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    with time_machine.travel(dt.datetime(2026, 11, 25, 9, 0, 0), tick=False):
        assert snap_compare(app_for(exp_dir), terminal_size=SIZES[size], run_before=open_screen)


def test_experiments_history_snapshot_80x24(snap_compare, exp_dir: Path) -> None:
    async def open_history(pilot) -> None:
        pilot.app.open_experiments("exp1")
        screen = pilot.app.screen
        await wait_loaded(pilot, screen)
        screen.query_one("#exp-query").cursor_blink = False
        screen.query_one("#exp-table").move_cursor(column=5)  # metrics.loss
        await pilot.press("h")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    with time_machine.travel(dt.datetime(2026, 11, 25, 9, 0, 0), tick=False):
        assert snap_compare(app_for(exp_dir), terminal_size=(80, 24), run_before=open_history)


EIGHT_LRS = [0.1, 0.03, 0.01, 0.003, 0.3, 1.0, 0.0001, 0.001]


@pytest.fixture
def eight_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Eight runs of one tag, each with a loss series: a key that does not fit one line at 80 columns."""
    store = tmp_path / ".run_log_store"
    for i, lr in enumerate(EIGHT_LRS):
        loss = [round(1.0 - 0.08 * e - 0.04 * i, 3) for e in range(6)]
        write_log(
            store,
            make_log(
                f"lr{i}",
                minute=i,
                tag="sweep",
                params={"lr": lr},
                metrics={"train": {"loss": loss[-1]}, "evaluate": {"auc": 0.8 + 0.01 * i}},
                history={"train": {"loss": loss}},
            ),
        )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path


async def open_history_of_eight(pilot) -> None:
    screen = await open_screen(pilot, "sweep")
    screen.query_one("#exp-query").cursor_blink = False
    screen.query_one("#exp-table").move_cursor(column=5)  # metrics.loss
    await pilot.press("h")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def test_eight_runs_at_80x24_keep_nine_plot_rows_and_a_key_of_whole_entries(eight_dir: Path) -> None:
    """Trial 22: with 7 or more runs the key wrapped to 3 lines, broke an entry (`&` / ` lr=0.05`) and
    left the plot 1-3 rows. The plot keeps 9 rows; the key takes the rows beyond them, whole entries, the
    rest counted; every run of the table shows; the y ticks are round and evenly spaced."""
    import re

    app = app_for(eight_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_history_of_eight(pilot)
        screen = app.screen
        assert len(screen.query_one("#exp-chart").chart.series) == 8
        assert screen.query_one("#exp-table").size.height == 9  # header + 8 runs
        plot = screen.query_one("#exp-chart ChartPlot")
        key = screen.query_one("#chart-key")
        assert plot.size.height >= 9
        assert key.region.y >= plot.region.bottom
        lines = str(key.render()).splitlines()
        assert 1 <= len(lines) <= screen.query_one("#exp-chart").size.height - 9
        entry = r"[*xo+#@%&=~] lr=[\d.e-]+"
        for line in lines:  # whole entries only, `+N more` last
            assert re.fullmatch(rf"{entry}(   {entry})*(   \+\d+ more)?", line), line
        shown = sum(len(re.findall(entry, line)) for line in lines)
        more = re.search(r"\+(\d+) more", lines[-1])
        assert shown + (int(more.group(1)) if more else 0) == 8
        # the y ticks: round values, the same number of rows apart
        text = str(plot.render())
        ticks = [(row, float(m.group(1))) for row, line in enumerate(text.splitlines())
                 if (m := re.match(r"\s*(-?[\d.]+)┤", line))]  # fmt: skip
        assert len(ticks) >= 3
        rows_apart = {b[0] - a[0] for a, b in itertools.pairwise(ticks)}
        steps = {round(a[1] - b[1], 9) for a, b in itertools.pairwise(ticks)}
        assert len(rows_apart) == 1 and len(steps) == 1, ticks
        screen.query_one("#exp-table").move_cursor(column=3)  # params.lr: 1e-4 ... 1, four decades
        await pilot.press("c")
        await pilot.pause()
        chart = screen.query_one("#exp-chart").chart
        assert chart.x_log and chart.title == "metrics.loss by params.lr (log scale)"
        axis = str(plot.render()).splitlines()[-1].split()
        assert axis == ["0.0001", "0.001", "0.01", "0.1", "1"]
        await pilot.press("L")  # linear, then log again
        await pilot.pause()
        assert screen.query_one("#exp-chart").chart.title == "metrics.loss by params.lr"
        await pilot.press("L")
        await pilot.pause()
        assert screen.query_one("#exp-chart").chart.x_log
        screen.query_one("#exp-table").move_cursor(row=0, column=5)
        await pilot.press("space", "h")  # the history of one selected run: its key names it
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert str(key.render()) == "* lr0"
    async with app_for(eight_dir).run_test(size=(80, 30)) as pilot:  # more rows: the whole key
        await open_history_of_eight(pilot)
        lines = str(pilot.app.screen.query_one("#chart-key").render()).splitlines()
        assert "more" not in lines[-1] and sum(line.count(" lr=") for line in lines) == 8


def test_eight_runs_history_snapshot_80x24(snap_compare, eight_dir: Path) -> None:
    with time_machine.travel(dt.datetime(2026, 11, 25, 9, 0, 0), tick=False):
        assert snap_compare(app_for(eight_dir), terminal_size=(80, 24), run_before=open_history_of_eight)


async def test_the_chart_opens_on_a_top_level_metric_with_a_history_and_m_picks_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trial 8, finding 6: the chart opened on a metric tracked inside a map (fold_score, its first metric
    column); it opens on a top-level metric with a history (loss), and `m` lists the metrics to chart."""
    from magnus_tui.dialogs.pick import PickOne

    store = tmp_path / ".run_log_store"
    for i, lr in enumerate(LRS):
        loss = [round(0.9 - 0.1 * e - 0.05 * i, 3) for e in range(5)]
        metrics = {"folds.f0.cv": {"fold_score": 0.5 + i / 10}, "evaluate": {"mse": 0.2 - i / 100}}
        write_log(
            store,
            make_log(
                f"sweep{i}",
                minute=i,
                tag="mine",
                params={"lr": lr},
                metrics={**metrics, "train": {"loss": loss[-1]}},
                history={"train": {"loss": loss}},
            ),
        )
    monkeypatch.chdir(tmp_path)
    app = app_for(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_screen(pilot, "mine")
        labels = column_labels(screen)
        assert labels.index("metrics.fold_score") < labels.index("metrics.loss")  # (what it opened on)
        assert screen.chart_metric.label == "metrics.loss"
        await pilot.press("m")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, PickOne)
        shown = [label for _, label in picker.choices]
        assert shown[0] == "metrics.loss  history" and "metrics.mse" in shown
        assert shown[-1] == "metrics.fold_score  (tracked inside a branch)", shown
        await pilot.press("down", "enter")  # the one after loss
        await pilot.pause()
        assert app.screen is screen and screen.chart_metric.label == picker.choices[1][0]
        assert picker.choices[1][0] in str(screen.query_one("#exp-chart").chart.title)


@pytest.mark.parametrize(("keys", "opened"), [(("enter",), "lr0"), (("down", "down", "enter"), "lr2")])
async def test_keys_pressed_as_the_screen_opens_act_on_its_rows(exp_dir: Path, keys, opened) -> None:
    """Enter (and moves before it) pressed right as the experiments screen opens, before its table is
    filled: lost, or acted on another row than typed (a race noted in session 8). The keys wait for the
    table (MagnusApp.hold_keys / keys_ready, as a run's screen does), then act in the order typed."""
    app = app_for(exp_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        runs = app.screen.query_one("#runs")
        await wait_for(pilot, lambda: runs.row_count == 5, what="the runs list")
        runs.move_cursor(row=[str(k.value) for k in runs.rows].index("lr3"))
        for key in ("x", *keys):  # sent at once, as a terminal sends what is typed while the app is busy
            event = events.Key(key, {"enter": "\r"}.get(key))
            event.set_sender(app)
            app._driver.send_message(event)
        screen = await run_screen_ready(pilot)
        assert screen.run_id == opened
