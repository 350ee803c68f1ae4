"""`magnus compare`: rows per run, columns that differ (all with --all), the best value per metric, JSON and
CSV; metric charts against a parameter or time and metric histories, checked in their text output; a metric
that is not a number is kept, shown, left out of plots with a notice; bad input exits 2."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from pathlib import Path

import pytest

from magnus_core.compare import (
    Chart,
    Series,
    compare_runs,
    direction,
    history_chart,
    metric_chart,
    parse_best,
)
from magnus_core.errors import UsageError
from magnus_core.index import IndexedRun
from magnus_core.plots import render_text
from magnus_core.query import Key
from magnus_core.runs import RunSummary
from magnus_core.stores.file_system import FileSystemRunLogStore
from tests.conftest import run_magnus
from tests.runlog_factory import make_log, store_config, write_log

LRS = [0.1, 0.03, 0.01, 0.003]
AUC = [0.80, 0.83, 0.89, 0.86]
LOSS = [0.5, 0.4, 0.3, 0.45]


def series(i: int) -> list[float]:
    """Run i's loss over 5 epochs, ending at LOSS[i]."""
    return [round(LOSS[i] + (4 - e) * 0.1, 3) for e in range(5)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    for i, lr in enumerate(LRS):
        write_log(
            folder,
            make_log(
                f"lr{i}",
                minute=i,
                tag="exp1",
                params={"lr": lr, "epochs": 5},
                metrics={"train": {"loss": LOSS[i]}, "evaluate": {"auc": AUC[i]}},
                history={"train": {"loss": series(i)}},
            ),
        )
    write_log(
        folder,
        make_log(
            "odd",
            minute=9,
            tag="exp1",
            params={"lr": "auto", "epochs": 5},
            metrics={"evaluate": {"auc": "n/a"}},
        ),
    )
    write_log(
        folder,
        make_log("other", minute=10, tag="exp2", params={"lr": 0.5}, metrics={"evaluate": {"auc": 0.99}}),
    )
    store_config(tmp_path, folder)
    return tmp_path


def compare(project: Path, *args: str, env: dict[str, str] | None = None):
    return run_magnus("compare", "-c", str(project / "store.yaml"), *args, cwd=project, env=env)


def test_direction_of_metrics() -> None:
    for lower in ("loss", "val_loss", "train.loss", "test-error", "rmse", "MAE", "mse", "trainloss"):
        assert direction(lower) == "min", lower
    for higher in ("auc", "accuracy", "f1", "lossless_ratio_x", "evaluate.recall"):
        assert direction(higher) == "max", higher
    assert parse_best(["metrics.auc=min", "f1=max"]) == {"metrics.auc": "min", "metrics.f1": "max"}
    with pytest.raises(UsageError, match=r"expected metrics\.<name>=min"):
        parse_best(["metrics.auc=best"])


def test_table_of_a_tag_marks_the_best_and_hides_what_is_equal(project: Path) -> None:
    out = compare(project, "--tag", "exp1")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == [
        "run",
        "id",
        "status",
        "params.lr",
        "metrics.auc",
        "metrics.loss",
    ]  # no epochs
    rows = {line.split()[0]: line for line in lines[1:6]}
    assert list(rows) == ["lr0", "lr1", "lr2", "lr3", "odd"]  # oldest first
    assert re.search(r"0\.89 \*", rows["lr2"]) and re.search(r"0\.3 \*", rows["lr2"])
    assert "*" not in rows["lr0"] + rows["lr1"] + rows["lr3"]
    assert "n/a" in rows["odd"]  # kept and shown
    assert "lower is better: metrics.loss; higher is better: metrics.auc" in out.stdout
    assert "metrics.auc: not a number in odd; not ranked" in out.stderr


def test_all_columns_best_override_and_explicit_runs(project: Path) -> None:
    data = json.loads(compare(project, "lr3", "lr0", "--all", "--best", "metrics.auc=min", "--json").stdout)
    assert data["schema"] == "magnus-compare/1"
    assert [r["run_id"] for r in data["runs"]] == ["lr3", "lr0"]  # in the order given
    assert {"params.epochs", "metrics.evaluate.auc", "metrics.train.loss"} <= set(data["columns"])
    assert data["best"]["metrics.auc"] == {"direction": "min", "value": 0.8, "runs": ["lr0"]}
    assert data["best"]["metrics.loss"]["runs"] == ["lr3"]  # 0.45 < 0.5
    assert data["runs"][0]["params"] == {"epochs": 5, "lr": 0.003}


def test_where_order_and_csv(project: Path) -> None:
    text = compare(project, "--where", "params.lr < 0.05", "--order-by", "metrics.auc desc", "--csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["run_id"], r["metrics.auc"]) for r in rows] == [
        ("lr2", "0.89"),
        ("lr3", "0.86"),
        ("lr1", "0.83"),
    ]
    assert set(rows[0]) == {"run_id", "status", "tag", "start", "params.lr", "metrics.auc", "metrics.loss"}


def test_bad_input_exits_2(project: Path) -> None:
    for args, words in (
        ((), "name the runs to compare"),
        (("lr0", "lr9"), "no run 'lr9'"),
        (("--tag", "exp1", "--best", "auc"), "--best 'auc'"),
        (("--tag", "exp1", "--by", "params.lr"), "--by goes with --plot"),
        (("--tag", "exp1", "--plot", "params.lr"), "plot a metric"),
        (("--tag", "exp1", "--plot", "metrics.auc >"), "--plot"),
        (("--tag", "exp1", "--json", "--csv"), "choose one of"),
        (("--where", "metrics.auc >"), "column 14"),
    ):
        out = compare(project, *args)
        assert out.returncode == 2, (args, out.stdout)
        assert words in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)


def test_a_name_no_run_has_gives_a_hint(project: Path) -> None:
    out = compare(project, "--where", "metrics.acu > 0")
    assert out.returncode == 0 and "No runs to compare" in out.stdout
    assert "nearest: metrics.auc" in out.stderr


def test_a_tag_or_chart_name_no_run_has_gives_the_nearest(project: Path) -> None:
    """--tag, `tag = ` in a filter, --plot/--by/--plot-history names: the same hints as --where's."""
    from magnus_core.compare import select_runs
    from magnus_core.index import open_index
    from magnus_core.query import parse_filter

    out = compare(project, "--tag", "exp")
    assert out.returncode == 0 and "No runs to compare" in out.stdout
    assert "hint: no run has the tag 'exp'; nearest: exp2, exp1" in out.stderr  # difflib's order
    out = run_magnus("runs", "-c", str(project / "store.yaml"), "--tag", "exp", cwd=project)
    assert out.returncode == 0 and "No runs match --tag exp" in out.stdout
    assert "hint: no run has the tag 'exp'; nearest: exp2, exp1" in out.stderr  # magnus runs: the same
    out = compare(project, "--tag", "exp1", "--plot", "metrics.ac")
    assert out.returncode == 1  # nothing drawn: 1, as grep's when nothing matched; stdout stays empty
    assert out.stderr.splitlines() == [
        "hint: no run has metrics.ac; nearest: metrics.auc",
        "Nothing to plot: no run has a number for metrics.ac.",
    ]
    assert out.stdout == ""
    index = open_index(FileSystemRunLogStore({"log_folder": str(project / "logs")}))
    try:
        assert select_runs(index, where=parse_filter("tag = 'nosuchtag'"))[1] == [
            "no run has the tag 'nosuchtag'; the tags runs have: exp1, exp2"
        ]
        assert select_runs(index, tag="exp1", where=parse_filter("tag = 'exp2'")) == ([], [])  # both exist
        assert select_runs(index, tag="exp2")[1] == []
    finally:
        index.close()
    out = compare(project, "--tag", "exp1", "--plot", "metrics.auc", "--by", "params.l")
    assert "hint: no run has params.l; nearest: params.lr" in out.stderr
    assert out.returncode == 1 and "Nothing to plot: 4 run(s) with no params.l left out" in out.stderr
    out = compare(project, "--tag", "exp1", "--plot-history", "metrics.auc")  # auc has no series
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.strip() == (
        "Nothing to plot: none of the 5 runs has a series for metrics.auc (track_this(step=N, ...))."
    )


def runs_of(project: Path) -> list[IndexedRun]:
    from magnus_core.index import open_index
    from magnus_core.query import parse_filter

    index = open_index(FileSystemRunLogStore({"log_folder": str(project / "logs")}))
    try:
        from magnus_core.compare import select_runs

        return select_runs(index, where=parse_filter("tag = 'exp1'"))[0]
    finally:
        index.close()


def test_metric_chart_against_a_parameter_and_time(project: Path) -> None:
    runs = runs_of(project)
    by_lr = metric_chart(runs, Key("metric", "auc"), Key("param", "lr"))
    # `odd` (auc 'n/a', lr 'auto') is left out with a notice, so lr stays a number axis
    assert by_lr.notices == ["metrics.auc: 1 value not a number, left out: odd ('n/a')"]
    assert by_lr.x_labels is None
    assert by_lr.series[0].xs == sorted(LRS) and by_lr.series[0].ys == [0.86, 0.89, 0.83, 0.80]
    by_optimizer = metric_chart(runs, Key("metric", "loss"), Key("param", "lr"))
    assert by_optimizer.x_labels is None and len(by_optimizer.series[0].ys) == 4
    by_time = metric_chart(runs, Key("metric", "auc"), None)
    assert by_time.x_is_time and by_time.series[0].ys == AUC
    assert by_time.series[0].xs[0].startswith("2026-01-01 10:00")
    assert "10:00:00" in render_text(by_time, width=80, height=20)  # time ticks, not numbers


def test_the_plot_text_shows_its_series(project: Path) -> None:
    out = compare(
        project,
        "--tag",
        "exp1",
        "--plot",
        "metrics.auc",
        "--by",
        "params.lr",
        env={"COLUMNS": "100", "LINES": "30"},
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "metrics.auc by params.lr" in text and "params.lr" in text.rstrip().splitlines()[-1]
    for tick in ("0.90", "0.80"):  # the y axis spans the series, in round ticks
        assert tick in text
    for tick in ("0.02", "0.10"):  # the x axis spans the parameter (0.003 ... 0.1: not 2 decades, linear)
        assert tick in text
    assert "log scale" not in text
    assert sum(ch in "⠁⠂⠄⡀⠈⠐⠠⢀⣀⠉⠒⠤⠑⠢⠔⡠⢄⡈⠊⠡⢂⡐⠃⠘⡄⢠⣿" or 0x2800 <= ord(ch) <= 0x28FF for ch in text) >= 4
    assert "\x1b[" not in text  # not a terminal: no colour codes
    assert "left out: odd ('n/a')" in out.stderr


def test_history_plot_one_line_per_run(project: Path) -> None:
    store = FileSystemRunLogStore({"log_folder": str(project / "logs")})
    logs = [store.get_run(f"lr{i}") for i in range(4)] + [store.get_run("odd")]
    chart = history_chart(logs, Key("metric", "loss"))
    assert [s.label for s in chart.series] == ["lr0", "lr1", "lr2", "lr3"]
    assert chart.series[0].xs == [1, 2, 3, 4, 5] and chart.series[0].ys == series(0)
    assert [s.ys for s in chart.series] == [series(i) for i in range(4)]
    assert chart.notices == ["1 run(s) have no series for metrics.loss (track_this(step=N, ...)): odd"]
    step = history_chart(logs, Key("metric", "train.loss"))
    assert [s.ys for s in step.series] == [s.ys for s in chart.series]
    out = compare(project, "--tag", "exp1", "--plot-history", "metrics.loss", env={"COLUMNS": "100"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # each line named by the parameter that varies, with its own marker, in a key below the plot
    assert lines[-1].split() == ["*", "lr=0.1", "x", "lr=0.03", "o", "lr=0.01", "+", "lr=0.003"]
    assert not any("lr=" in line or "lr0" in line for line in lines[:-1])  # nothing drawn over the data
    ticks = y_ticks(out.stdout)  # the y axis over the points (0.3 ... 0.9), round ticks evenly apart
    assert ticks[0][1] >= 0.9 and ticks[-1][1] <= 0.4
    assert len({b[0] - a[0] for a, b in itertools.pairwise(ticks)}) == 1
    assert "no series for metrics.loss" in out.stderr


def y_ticks(text: str) -> list[tuple[int, float]]:
    """The y axis's ticks of a chart as printed: (row, value), top first."""
    import re

    return [
        (row, float(m.group(1)))
        for row, line in enumerate(text.splitlines())
        if (m := re.match(r"\s*(-?[\d.]+)┤", line))
    ]


def test_render_text_of_a_small_chart() -> None:
    chart = Chart("t", "x", "y", [Series("a", [1, 2, 3], [1.0, 2.0, 3.0]), Series("b", [1, 2], [3.0, 1.0])])
    text = render_text(chart, width=50, height=12)
    assert " a" in text and " b" in text
    assert [value for _, value in y_ticks(text)] == [3.5, 3.0, 2.5, 2.0, 1.5, 1.0]
    assert len(text.splitlines()) <= 13


def test_compare_of_identical_runs_says_so() -> None:
    runs = [
        IndexedRun(RunSummary(run_id=r, status="SUCCESS", state="SUCCESS"), {"lr": 1}, {"auc": 0.5})
        for r in "ab"
    ]
    table = compare_runs(runs)
    assert table.columns == []
    assert [c.label for c in compare_runs(runs, all_columns=True).columns] == ["params.lr", "metrics.auc"]


def test_without_colour_each_series_has_its_own_marker_in_the_legend() -> None:
    from magnus_core.compare import Chart, Series
    from magnus_core.plots import DISTINCT, render_text

    chart = Chart(
        title="loss",
        xlabel="step",
        ylabel="loss",
        series=[Series("run-a", [1, 2, 3], [3, 2, 1]), Series("run-b", [1, 2, 3], [1, 2, 3])],
    )
    text = render_text(chart, width=60, height=15, colour=False)
    assert text.splitlines()[-1] == f"{DISTINCT[0]} run-a   {DISTINCT[1]} run-b"  # the key, below
    assert len(text.splitlines()) == 15 and "\x1b[" not in text
    plot = "\n".join(text.splitlines()[:-1])
    assert DISTINCT[0] in plot and DISTINCT[1] in plot and "run-a" not in plot  # no legend over the data
    coloured = render_text(chart, width=60, height=15, colour=True)
    assert "\x1b[38;2;" in coloured.splitlines()[-1]  # with colour: coloured markers (and lines) too


def test_key_wraps_to_the_width_and_history_series_are_named_by_what_varies() -> None:
    from magnus_core.compare import run_labels
    from magnus_core.plots import KeyEntry, key_text

    entries = [KeyEntry("*", (0, 0, 0), "lr=0.1 batch=32"), KeyEntry("x", (0, 0, 0), "lr=0.01 batch=64")]
    assert key_text(entries, 80) == ["* lr=0.1 batch=32   x lr=0.01 batch=64"]
    assert key_text(entries, 30) == ["* lr=0.1 batch=32", "x lr=0.01 batch=64"]
    assert key_text([KeyEntry("*", (0, 0, 0), "a" * 50)], 30) == ["* " + "a" * 25 + "…"]

    def run(run_id: str, **params: object) -> IndexedRun:
        return IndexedRun(RunSummary(run_id=run_id, status="SUCCESS", state="SUCCESS"), params, {})

    sweep = [run("r1", lr=0.1, seed=1, batch=32), run("r2", lr=0.01, seed=1, batch=64)]
    assert run_labels(sweep) == {"r1": "batch=32 lr=0.1", "r2": "batch=64 lr=0.01"}  # seed is the same
    assert run_labels([run("r1", lr=0.1), run("r2", lr=0.1)]) == {"r1": "r1", "r2": "r2"}  # none varies
    same = [run("r1", lr=0.1, seed=1), run("r2", lr=0.1, seed=2), run("r3", lr=0.1, seed=2)]
    assert run_labels(same) == {"r1": "r1", "r2": "r2", "r3": "r3"}  # two would share a name
    assert run_labels([run("r1", lr=0.1)]) == {"r1": "r1"}
    assert run_labels([run("r1", lr=0.1), run("r2")]) == {"r1": "lr=0.1", "r2": "lr=-"}


def test_a_history_chart_draws_at_most_ten_runs_and_says_how_many_were_left_out() -> None:
    """475 runs on one history chart had a key of 140 lines and markers shared by many runs (trial 3): the
    first HISTORY_MOST runs in the order given are drawn, and a notice says how many have a series."""
    from magnus_core.compare import HISTORY_MOST, history_chart
    from magnus_core.models.run_log import MetricPoint, RunLog, StepLog
    from magnus_core.query import parse_key

    def log(run_id: str) -> RunLog:
        points = [MetricPoint(step=i, value=1.0 / (i + 1)) for i in range(3)]
        step = StepLog(name="train", internal_name="train", metric_history={"loss": points})
        return RunLog(run_id=run_id, steps={"train": step})

    logs = [log(f"r{i:02d}") for i in range(25)]
    chart = history_chart(logs, parse_key("metrics.loss"))
    assert [s.label for s in chart.series] == [f"r{i:02d}" for i in range(HISTORY_MOST)]
    assert any("25 runs have a series for metrics.loss" in n for n in chart.notices)
    assert not any("--limit" in n for n in chart.notices)  # trial 4: an option compare does not have
    newest = history_chart(logs, parse_key("metrics.loss"), last=True)  # runs listed oldest first
    assert [s.label for s in newest.series] == [f"r{i:02d}" for i in range(25 - HISTORY_MOST, 25)]
    assert any("the last 10 (the newest) are drawn" in n for n in newest.notices)
    few = history_chart(logs[:3], parse_key("metrics.loss"))
    assert len(few.series) == 3 and not few.notices


def test_y_ticks_are_round_and_evenly_spaced_at_any_height() -> None:
    """Trial 22: ticks 3.58, 3.03, 1.94, 1.39, 0.29 one row apart each (gaps 0.55 / 1.09): plotext spaces
    the values evenly and rounds them to rows. Round values, the same number of rows apart, every height."""
    from magnus_core.plots import nice_axis

    chart = Chart("t", "x", "y", [Series("a", [1, 2, 3, 4], [0.29, 3.58, 1.2, 2.4])])
    for height in range(8, 31):
        ticks = y_ticks(render_text(chart, width=60, height=height))
        assert len(ticks) >= 2, height
        assert len({b[0] - a[0] for a, b in itertools.pairwise(ticks)}) == 1, (height, ticks)
        assert len({round(a[1] - b[1], 9) for a, b in itertools.pairwise(ticks)}) == 1, (height, ticks)
        step = ticks[0][1] - ticks[1][1]
        assert all(round(value / step, 6).is_integer() for _, value in ticks), (height, ticks)
    for low, high, rows in [(0.15, 0.9, 8), (-3, 120, 10), (5, 5, 6), (1e-4, 3, 9), (0.358, 0.693, 5)]:
        bottom, top, ticks = nice_axis(low, high, rows)
        assert bottom <= low and top >= high and ticks[0] >= bottom and ticks[-1] <= top
        per_row = (top - bottom) / (rows - 1)
        assert all(abs((t - bottom) / per_row - round((t - bottom) / per_row)) < 1e-6 for t in ticks)


def test_a_sweep_over_decades_gets_a_log_axis(tmp_path: Path) -> None:
    """Trial 22: lr 1e-4 ... 1e-1 crowded into the first columns of a linear axis. Positive values that
    span two decades or more go on a log axis by themselves (ticks at powers of ten, the title says so);
    --linear-x and --log-x choose; --log-x leaves out a value <= 0 with a notice."""
    folder = tmp_path / "logs"
    for i, lr in enumerate([1e-4, 1e-3, 1e-2, 1e-1, 0.0]):
        write_log(
            folder,
            make_log(f"r{i}", minute=i, tag="sweep", params={"lr": lr}, metrics={"s": {"auc": 0.7 + i / 50}}),
        )
    store_config(tmp_path, folder)
    by_lr = ("--tag", "sweep", "--where", "params.lr > 0", "--plot", "metrics.auc", "--by", "params.lr")
    out = compare(tmp_path, *by_lr, env={"COLUMNS": "80", "LINES": "24"})
    assert out.returncode == 0, out.stderr
    assert "metrics.auc by params.lr (log scale)" in out.stdout
    axis = next(line for line in out.stdout.splitlines() if "0.0001" in line)
    assert axis.split() == ["0.0001", "0.001", "0.01", "0.1"]
    columns = [axis.index(t) + len(t) // 2 for t in axis.split()]  # a decade takes the same width
    assert (
        max(columns[i + 1] - columns[i] for i in range(3))
        - min(columns[i + 1] - columns[i] for i in range(3))
        <= 2
    )
    out = compare(tmp_path, *by_lr, "--linear-x", env={"COLUMNS": "80", "LINES": "24"})
    assert out.returncode == 0 and "log scale" not in out.stdout and "0.0001" not in out.stdout
    out = compare(tmp_path, "--tag", "sweep", "--plot", "metrics.auc", "--by", "params.lr", "--log-x")
    assert out.returncode == 0 and "(log scale)" in out.stdout
    assert "1 run(s) with params.lr <= 0 left out of the log axis: r4 (0)" in out.stderr
    out = compare(tmp_path, "--tag", "sweep", "--plot", "metrics.auc", "--log-x")
    assert out.returncode == 2 and "--log-x goes with --plot METRIC --by PARAMETER" in out.stderr
    runs = runs_of_tag(tmp_path, "sweep")
    assert metric_chart(runs, Key("metric", "auc"), Key("param", "lr")).x_log is False  # 0 in the sweep
    assert metric_chart(runs[:2], Key("metric", "auc"), Key("param", "lr")).x_log is False  # one decade


def runs_of_tag(project: Path, tag: str) -> list[IndexedRun]:
    from magnus_core.compare import select_runs
    from magnus_core.index import open_index

    index = open_index(FileSystemRunLogStore({"log_folder": str(project / "logs")}))
    try:
        return select_runs(index, tag=tag)[0]
    finally:
        index.close()


def test_a_nan_value_is_named_nan_and_the_run_id_comes_early() -> None:
    """Trial 22: `...left out of the plot: RUN (None)` for a NaN (kept as null), and at 80 columns the run
    id was cut off the workbench's line. MLflow prints nan; the id is within 80 columns."""
    from magnus_core.compare import _not_number_notice

    notice = _not_number_notice("metrics.loss", [("20261130161439_d18e7b", None)])
    assert notice == "metrics.loss: 1 value not a number, left out: 20261130161439_d18e7b (nan)"
    assert len(notice) <= 78
    assert "('diverged')" in _not_number_notice("metrics.auc", [("r", "diverged")])


def test_key_lines_keep_entries_whole_and_count_what_does_not_fit() -> None:
    from magnus_core.plots import KeyEntry, key_text

    entries = [
        KeyEntry(m, (0, 0, 0), f"lr={v}")
        for m, v in zip("*xo+#@%&", [0.1, 0.03, 0.01, 0.003, 0.3, 1, 1e-4, 1e-3], strict=False)
    ]
    assert key_text(entries, 78) == [
        "* lr=0.1   x lr=0.03   o lr=0.01   + lr=0.003   # lr=0.3   @ lr=1",
        "% lr=0.0001   & lr=0.001",
    ]
    assert key_text(entries, 78, max_lines=1) == [
        "* lr=0.1   x lr=0.03   o lr=0.01   + lr=0.003   # lr=0.3   @ lr=1   +2 more"
    ]
    assert key_text(entries, 20, max_lines=1) == ["* lr=0.1   +7 more"]
    assert key_text(entries, 78, max_lines=2) == key_text(entries, 78)


def test_a_history_of_one_run_names_the_run_in_its_key(project: Path) -> None:
    """Trial 22: the workbench's history of a single selected run had no key line, so it was not clear
    which run was drawn. A history names its runs even when there is one; a metric across runs (one
    series, named by the title) still has no key."""
    from magnus_core.plots import key_entries

    store = FileSystemRunLogStore({"log_folder": str(project / "logs")})
    one = history_chart([store.get_run("lr2")], Key("metric", "loss"), {"lr2": "lr=0.01"})
    assert [(e.marker, e.label) for e in key_entries(one)] == [("*", "lr=0.01")]
    assert render_text(one, width=60, height=14).splitlines()[-1] == "* lr=0.01"
    assert key_entries(metric_chart(runs_of(project), Key("metric", "auc"), None)) == []
    out = compare(project, "lr2", "--plot-history", "metrics.loss", env={"COLUMNS": "80"})
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "* lr2"


def test_a_time_axis_is_labelled_with_the_runs_own_times_each_once() -> None:
    """Trial 22: runs a second apart gave `16:16:14   16:16:14   16:16:15` (plotext's evenly spaced
    ticks, formatted to the second). The ticks are runs' own start times, each once; one day is said once, in the title."""
    times = ["2026-11-30 16:16:14", "2026-11-30 16:16:14", "2026-11-30 16:16:15", "2026-11-30 16:16:17"]
    chart = Chart("m by time", "run start", "m", [Series("m", times, [1.0, 2.0, 3.0, 4.0])], x_is_time=True)
    text = render_text(chart, width=80, height=14).splitlines()
    assert text[-2].split() == ["16:16:14", "16:16:15", "16:16:17"]
    assert text[0].strip() == "m by time (2026-11-30)"  # the day, once
    many = [f"2026-11-{day:02d} 10:00:00" for day in range(1, 11)]
    chart = Chart("m by time", "run start", "m", [Series("m", many, [1.0] * 10)], x_is_time=True)
    axis = render_text(chart, width=100, height=14).splitlines()[-2].split()
    assert axis == ["11-01", "10:00:00", "11-04", "10:00:00", "11-07", "10:00:00", "11-10", "10:00:00"]
