"""`magnus compare`: many runs side by side, the parameters and metrics that differ, the best marked; and
terminal charts of a metric across runs (--plot) or of its series within each run (--plot-history)."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

import click

from magnus_core import jsonio as json
from magnus_core.cli import cli, complete, note

if TYPE_CHECKING:
    from magnus_core.compare import Comparison
    from magnus_core.stores.base import RunLogStore


@cli.command("compare")
@click.argument("run_ids", nargs=-1, shell_complete=complete.run_ids)
@click.option("--tag", default=None, shell_complete=complete.tags, help="Compare the runs with this tag.")
@click.option(
    "--where",
    default=None,
    metavar="FILTER",
    help="Compare the runs this filter matches (the syntax of `magnus runs --where`).",
)
@click.option(
    "--order-by",
    default=None,
    metavar="KEYS",
    help="Row order, e.g. 'metrics.auc DESC' (default: the runs given, else oldest first).",
)
@click.option(
    "--all",
    "all_columns",
    is_flag=True,
    help="Every parameter and metric (each step's too), not only those that differ.",
)
@click.option(
    "--best",
    multiple=True,
    metavar="METRIC=min|max",
    help="Which way is better for a metric (default: lower for loss, error, mse, rmse, mae, ...; "
    "higher otherwise). Repeatable.",
)
@click.option(
    "--plot",
    "plot",
    default=None,
    metavar="METRIC",
    help="Draw a metric across the runs (e.g. metrics.auc) in the terminal.",
)
@click.option(
    "--by",
    "by",
    default=None,
    metavar="KEY|time",
    help="With --plot: the x axis, a parameter (params.lr) or time (the run's start; default).",
)
@click.option(
    "--log-x/--linear-x",
    "log_x",
    default=None,
    help="With --plot --by a parameter: a log or linear x axis (default: log when every value is "
    "positive and the largest is at least 100 times the least, e.g. lr 1e-4 ... 1e-1).",
)
@click.option(
    "--plot-history",
    "plot_history",
    default=None,
    metavar="METRIC",
    help="Draw a metric's series (track_this(step=N, ...)) in each run, one line per run.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON (magnus-compare/1).")
@click.option("--csv", "as_csv", is_flag=True, help="Print the comparison as CSV.")
@click.option("-c", "--config-file", default=None, help="Config file naming the run-log store.")
@click.pass_context
def compare(
    ctx: click.Context,
    run_ids: tuple[str, ...],
    tag: str | None,
    where: str | None,
    order_by: str | None,
    all_columns: bool,
    best: tuple[str, ...],
    plot: str | None,
    by: str | None,
    log_x: bool | None,
    plot_history: str | None,
    as_json: bool,
    as_csv: bool,
    config_file: str | None,
) -> None:
    """Compare runs: one row per run, one column per parameter or metric that differs between them.

    The best value of each metric is marked (*): lower is better for names such as loss, error, mse,
    rmse and mae, higher otherwise; --best overrides. A run's metric `name` is the value recorded by the
    last step that tracked it; `step.name` is one step's (see `magnus runs --where`).

    Exit codes: 0, 1 when a chart has nothing to plot (no run has a value for it), 2 for bad usage.

    \b
    Examples:
      magnus compare --tag exp1
      magnus compare RUN_A RUN_B RUN_C --all --json
      magnus compare --where "params.lr < 0.1" --best metrics.auc=max --csv
      magnus compare --tag exp1 --plot metrics.auc --by params.lr
      magnus compare --tag exp1 --plot metrics.auc --by params.lr --linear-x
      magnus compare --tag exp1 --plot-history metrics.loss
    """
    from magnus_core.cli.runs import open_store_index, utf8_stdout
    from magnus_core.compare import compare_runs, parse_best, select_runs
    from magnus_core.errors import UsageError
    from magnus_core.index import key_hints
    from magnus_core.query import parse_filter, parse_key, parse_order_by

    if sum(bool(x) for x in (as_json, as_csv, plot, plot_history)) > 1:
        raise UsageError("choose one of --json, --csv, --plot and --plot-history")
    if by and not plot:
        raise UsageError("--by goes with --plot (the x axis of the chart)")
    if log_x is not None and (not by or by.strip().lower() == "time"):
        flag = "--log-x" if log_x else "--linear-x"
        raise UsageError(f"{flag} goes with --plot METRIC --by PARAMETER (the x axis it scales)")
    expr = parse_filter(where or "", "--where")
    order = parse_order_by(order_by or "", "--order-by")
    best_ways = parse_best(best)
    plot_key = parse_key(plot, "--plot") if plot else None
    by_key = None if by is None or by.strip().lower() == "time" else parse_key(by, "--by")
    history_key = parse_key(plot_history, "--plot-history") if plot_history else None
    utf8_stdout()
    store, index = open_store_index(config_file or (ctx.obj or {}).get("config_file"))
    try:
        run_ids = _typed_ids(store, run_ids, named=tag is None and where is None)
        runs, hints = select_runs(
            index, run_ids=list(run_ids), tag=tag, where=expr, order_by=order, store_where=store.where()
        )
        charted = [k for k in (plot_key, by_key, history_key) if k is not None]
        hints += key_hints(charted, index.names()) if charted else []
    finally:
        index.close()
    for hint in hints:
        note(f"hint: {hint}")
    if plot_key is not None or history_key is not None:
        scale = "auto" if log_x is None else "log" if log_x else "linear"
        oldest_first = not order and not run_ids
        drawn = _plot(store, runs, plot_key, by_key, history_key, oldest_first=oldest_first, scale=scale)
        ctx.exit(0 if drawn else 1)
    table = compare_runs(runs, all_columns=all_columns, best=best_ways)
    table.hints = hints
    if as_json:
        click.echo(json.dumps(table.to_json(store.where()), indent=2, default=str))
    elif as_csv:
        _csv(table)
    else:
        _print(table, store.where())


def _typed_ids(store: RunLogStore, run_ids: tuple[str, ...], *, named: bool) -> tuple[str, ...]:
    """The run ids as typed, completed as every other command completes one (runs.resolve_run_id: `last`
    for the newest run, a unique start or end of an id): `magnus compare last 1b3bf9` (it said `no run
    'last'` where `magnus show last` and `magnus diff last R` name the newest). `named`: the ids alone say
    which runs (no --tag or --where), so one that matches no run is refused with the nearest ids; with a
    filter it is left as typed (select_runs: the ids narrow the filter)."""
    from magnus_core.errors import RunNotFoundError
    from magnus_core.runs import resolve_run_id

    if not run_ids:
        return run_ids
    known = set(store.list_run_ids())
    out = []
    for text in run_ids:
        if text in known:
            out.append(text)
            continue
        try:
            out.append(resolve_run_id(store, text))
        except RunNotFoundError:
            if named:
                raise
            out.append(text)
    return tuple(out)


def _plot(
    store: RunLogStore,
    runs: list[Any],
    plot_key: Any,
    by_key: Any,
    history_key: Any,
    *,
    oldest_first: bool,
    scale: Any = "auto",
) -> bool:
    from magnus_core.compare import history_chart, metric_chart, run_labels
    from magnus_core.errors import MagnusError
    from magnus_core.plots import render_text
    from magnus_core.table import use_colour

    if history_key is not None:
        logs = []
        for run in runs:
            try:
                logs.append(store.get_run(run.summary.run_id))
            except MagnusError as exc:
                note(f"magnus: {run.summary.run_id} left out: {exc}")
        chart = history_chart(logs, history_key, run_labels(runs), last=oldest_first)  # the newest
    else:
        chart = metric_chart(runs, plot_key, by_key, x_scale=scale)
    for notice in chart.notices[:-1] if chart.empty else chart.notices:
        note(f"magnus: {notice}")
    if chart.empty:  # why: the last notice (no run has a number, none has the x axis, no series)
        # nothing drawn: stdout stays empty, exit 1 (grep with no match; docs/experiments.md)
        note(f"Nothing to plot: {chart.notices[-1] if chart.notices else chart.ylabel + ' has no points'}.")
        return False
    size = shutil.get_terminal_size((100, 24))
    colour = use_colour()
    click.echo(
        render_text(chart, width=size.columns, height=min(max(size.lines - 4, 12), 30), colour=colour),
        color=colour,
    )
    return True


def _csv(table: Comparison) -> None:
    import csv
    import sys

    from magnus_core.cli.runs import csv_value

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["run_id", "status", "tag", "start", *(c.label for c in table.columns)])
    for run in table.runs:
        s = run.summary
        writer.writerow(
            [s.run_id, s.state, s.tag, s.start, *(csv_value(table.value(run, c)) for c in table.columns)]
        )


def _print(table: Comparison, where: str) -> None:
    from magnus_core.cli.runs import STATE_STYLE
    from magnus_core.table import Cell, fmt_value, render, use_colour

    if not table.runs:
        click.echo(f"No runs to compare in {where}")
        return
    colour = use_colour()
    headers = ["run id", "status", *(c.label for c in table.columns)]
    rows = []
    for run in table.runs:
        row = [
            Cell(run.summary.run_id),
            Cell(run.summary.state, STATE_STYLE.get(run.summary.state, "yellow")),
        ]
        for column in table.columns:
            text = fmt_value(table.value(run, column))
            if run.summary.run_id in column.best_runs:
                row.append(Cell(f"{text} *", "bold green"))
            else:
                row.append(Cell(f"{text}  " if column.best else text))
        rows.append(row)
    right = set(range(2, len(headers)))
    click.echo(render(headers, rows, right=right, colour=colour), color=colour)
    if len(table.runs) > 1 and not table.columns:
        click.echo("The runs have the same parameters and metrics (--all shows them).")
    marked = [c for c in table.columns if c.best_runs]
    if marked:
        lower = [c.label for c in marked if c.best == "min"]
        higher = [c.label for c in marked if c.best == "max"]
        ways = "; ".join(
            p
            for p in (
                f"lower is better: {', '.join(lower)}" if lower else "",
                f"higher is better: {', '.join(higher)}" if higher else "",
            )
            if p
        )
        click.echo(f"* best ({ways}; --best METRIC=min|max to change)")
    for column in table.columns:
        if column.not_numbers:
            runs = ", ".join(column.not_numbers[:5])
            note(f"magnus: {column.label}: not a number in {runs}; not ranked")
