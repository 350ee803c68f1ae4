"""`magnus runs`: list the runs in the configured run-log store, newest first, from the run index."""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING, Any

import click

from magnus_core import jsonio as json
from magnus_core.cli import cli, complete, note

if TYPE_CHECKING:
    from collections.abc import Sequence

    from magnus_core.index import IndexedRun, RunIndex, RunTable
    from magnus_core.stores.base import RunLogStore

ALL = "*"


def names_option(text: str | None) -> list[str] | None:
    """`--params lr,batch` -> ["lr", "batch"]; `--params` alone -> ["*"] (all); absent -> None."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names or ALL in names:
        return [ALL]
    out = []
    for name in names:  # `metrics.auc` and `auc` both name the metric auc
        out.append(name.split(".", 1)[1] if name.split(".", 1)[0] in ("params", "metrics") else name)
    return out


def utf8_stdout() -> None:
    """A tag or value the terminal cannot show must not crash the output."""
    if hasattr(sys.stdout, "reconfigure") and (sys.stdout.encoding or "").lower().replace("-", "") != "utf8":
        sys.stdout.reconfigure(errors="replace")


def open_store_index(config_file: str | None) -> tuple[RunLogStore, RunIndex]:
    """The configured store and its run index, with progress on stderr while many logs are read."""
    from magnus_core.index import open_index
    from magnus_core.runs import store_from_config

    store = store_from_config(config_file)
    progress = None
    if sys.stderr.isatty():

        def progress(done: int, total: int) -> None:
            text = f"indexing run logs: {done}/{total}"
            # the line goes when the work is done (trial 4: it stayed above the table), as pip's bars go
            click.echo(f"\r{' ' * len(text)}\r" if done >= total else f"\r{text}", err=True, nl=False)

    return store, open_index(store, notify=lambda m: note(f"magnus: {m}"), progress=progress)


@cli.command("runs")
@click.option(
    "--where",
    "where",
    default=None,
    metavar="FILTER",
    help="Only runs matching this filter "
    "(MLflow's search syntax: \"metrics.auc > 0.9 and params.lr = 0.1 and tag = 'exp1'\").",
)
@click.option(
    "--order-by",
    default=None,
    metavar="KEYS",
    help="Order by these keys, e.g. 'metrics.auc DESC, params.lr' (default: newest first).",
)
@click.option(
    "--params",
    "params",
    is_flag=False,
    flag_value=ALL,
    default=None,
    metavar="NAMES",
    help="Add parameter columns: a comma-separated list, or every parameter when given alone.",
)
@click.option(
    "--metrics",
    "metrics",
    is_flag=False,
    flag_value=ALL,
    default=None,
    metavar="NAMES",
    help="Add metric columns (`name` or `step.name`): a list, or every metric when given alone.",
)
@click.option("--tag", default=None, shell_complete=complete.tags, help="Only runs with this tag.")
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="NAME",
    shell_complete=complete.users,
    help="Only runs this user ran (their login name); given again, runs any of them ran.",
)
@click.option(
    "--status",
    default=None,
    shell_complete=complete.statuses,
    help="Only runs with this status, any case: SUCCESS, FAIL, RUNNING, PER-STEP, INTERRUPTED, PROCESSING, "
    "BROKEN.",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the list as CSV (one row per run).")
@click.option("-c", "--config-file", default=None, help="Config file naming the run-log store.")
@click.pass_context
def runs(
    ctx: click.Context,
    where: str | None,
    order_by: str | None,
    params: str | None,
    metrics: str | None,
    tag: str | None,
    users: tuple[str, ...],
    status: str | None,
    limit: int | None,
    as_json: bool,
    as_csv: bool,
    config_file: str | None,
) -> None:
    """List the runs kept in the run-log store: id, status, tag, start, duration, steps, re-run of.

    Answered from the run index, a cache of every run's summary, parameters and metrics in the user's
    cache folder; only logs that are new or changed since the last command are read. With --status FAIL,
    each run's failed step and its error follow the table (in --json: failed_step and failure). A `user`
    column (who ran each run) is added when the runs listed were run by more than one user (a team's
    shared store). PER-STEP: a run driven one step at a time (Argo, or execute_single_node by hand).

    \b
    Examples:
      magnus runs --limit 10
      magnus runs --status FAIL --json
      magnus runs --user alice --limit 5
      magnus runs --where "metrics.auc > 0.9 and params.lr < 0.1" --order-by "metrics.auc DESC"
      magnus runs --tag exp1 --params --metrics auc,loss --csv > runs.csv
    """
    from magnus_core.errors import UsageError
    from magnus_core.index import RunQuery, tag_hints, user_hints
    from magnus_core.query import parse_filter, parse_order_by

    if as_json and as_csv:
        raise UsageError("choose one of --json and --csv")
    if status is not None and status.upper() not in complete.RUN_STATES:
        import difflib

        near = difflib.get_close_matches(status.upper(), complete.RUN_STATES, n=1, cutoff=0.5)
        hint = f"; did you mean {near[0]}?" if near else ""
        raise UsageError(
            f"unknown status '{status}': expected one of {', '.join(complete.RUN_STATES)} (any case){hint}",
            field="--status",
        )
    if any(not name.strip() for name in users):
        raise UsageError("expected a login name, got an empty one", field="--user")
    user = users[0] if len(users) == 1 else None
    if len(users) > 1:  # several: the filter's IN, beside what --where asks (trial 9: the last one won)
        quoted = ", ".join("'" + name.replace("'", "''") + "'" for name in users)
        where = f"({where}) and user in ({quoted})" if where else f"user in ({quoted})"
    query = RunQuery(
        where=parse_filter(where or "", "--where"),
        order_by=parse_order_by(order_by or "", "--order-by"),
        tag=tag,
        user=user,
        status=status,
        limit=limit,
        params=names_option(params),
        metrics=names_option(metrics),
    )
    utf8_stdout()
    store, index = open_store_index(config_file or (ctx.obj or {}).get("config_file"))
    filters = [
        f"{flag} {_as_typed(value)}"
        for flag, value in (("--where", where), ("--tag", tag), ("--user", user), ("--status", status))
        if value
    ]
    table = None
    try:
        if as_json or as_csv:
            result = index.query(query)
            found, hints = len(result.runs), result.hints
            with_crashes(result.runs, store)
        else:  # column by column, straight from the index's rows (20,000 runs)
            table = index.table(query)
            found, hints = len(table.run_ids), table.hints
        everyone = index.query(RunQuery()).runs if filters and not found else []
    finally:
        index.close()
    total = len(everyone)
    found_hints = []
    if everyone:
        found_hints = tag_hints(everyone, tag, query.where) + user_hints(everyone, user, query.where)
    for hint in hints + found_hints:
        note(f"hint: {hint}")
    if table is not None:
        if found or not filters:
            param_cols = value_columns(table.params, query.params)
            metric_cols = value_columns(table.metrics, query.metrics)
            print_table(table, store.where(), param_cols, metric_cols)
        else:
            runs_word = "run is" if total == 1 else "runs are"
            click.echo(f"No runs match {' and '.join(filters)} ({total:,} {runs_word} in {store.where()})")
        return
    param_cols = value_columns([run.params for run in result.runs], query.params)
    metric_cols = value_columns([run.metrics for run in result.runs], query.metrics)
    if as_json:
        click.echo(json.dumps(runs_json(result.runs, store.where(), query), indent=2, default=str))
    else:
        write_csv(result.runs, param_cols, metric_cols)


def with_crashes(runs: list[IndexedRun], store: Any) -> None:
    """Give each run found dead (`INTERRUPTED (PROCESSING)`) with no failed step recorded the step a fatal
    signal hit and what `magnus show` says of it, as its `failed_step` and `failure` (logs.crash_failure:
    `fan.crashy.s`, `crashed (Segmentation fault) at mlproj/crashy.py:24 in branch_crash`), in place.
    Trial 15 N6: a script alerting on `--status INTERRUPTED` got "" for both. Read here, from the run's
    log and its catalog's fatal file, not kept by the index: the crash writes no log, so the index's row
    (made while the run ran) never hears of it; only these runs' logs are read."""
    from magnus_core.index.record import RUNNING_STATUSES
    from magnus_core.logs import crash_failure
    from magnus_core.runs import read_log

    for run in runs:
        summary = run.summary
        if summary.state != "INTERRUPTED" or summary.status not in RUNNING_STATUSES or summary.failed_step:
            continue
        log, _why = read_log(store, summary.run_id)
        found = crash_failure(log) if log is not None else None
        if found is not None:
            summary.failed_step, summary.failure = found


def value_columns(values: Sequence[dict[str, Any]] | None, wanted: list[str] | None) -> list[str]:
    """The parameter or metric columns to show: those asked for, or every one the runs have (`*`), given
    the runs' values (one dict per run)."""
    if wanted is None:
        return []
    if ALL not in wanted:
        return wanted
    seen: dict[str, None] = {}
    for run_values in values or ():
        for name in run_values:
            seen.setdefault(name, None)
    from magnus_core.compare import own_metric_names

    own = own_metric_names(seen)  # (a dot alone does not tell: `val.loss`, trial 17 F22)
    return sorted(seen, key=lambda n: (n not in own, n))  # the run's own metrics before <step>.<name>


def runs_json(runs: list[IndexedRun], where: str, query: Any) -> dict[str, Any]:
    out = []
    for run in runs:
        item = run.summary.to_json()
        if query.params is not None:
            item["params"] = run.params
        if query.metrics is not None:
            item["metrics"] = run.metrics
        out.append(item)
    return {"schema": "magnus-runs/2", "store": where, "runs": out}


SUMMARY_FIELDS = ("run_id", "status", "state", "tag", "start", "end", "duration", "steps", "steps_done")
MORE_FIELDS = (
    "original_run_id",
    "pipeline",
    "dag_hash",
    "commit",
    "dirty",
    "broken_reason",
    "failed_step",
    "failure",
    "user",
    "driven",
)


def write_csv(runs: list[IndexedRun], param_cols: list[str], metric_cols: list[str]) -> None:
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(
        [
            *SUMMARY_FIELDS,
            *MORE_FIELDS,
            *(f"params.{p}" for p in param_cols),
            *(f"metrics.{m}" for m in metric_cols),
        ]
    )
    for run in runs:
        data = run.summary.to_json()
        writer.writerow(
            [
                *("" if data[f] is None else data[f] for f in (*SUMMARY_FIELDS, *MORE_FIELDS)),
                *(csv_value(run.params.get(p)) for p in param_cols),
                *(csv_value(run.metrics.get(m)) for m in metric_cols),
            ]
        )


def csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


STATE_STYLE = {"SUCCESS": "green", "FAIL": "red", "BROKEN": "red", "RUNNING": "yellow", "PER-STEP": "cyan"}


USER_UNKNOWN = "unknown"  # the user cell of a run whose user is not recorded (its --json `user` is "")


def print_table(table: RunTable, where: str, param_cols: list[str], metric_cols: list[str]) -> None:
    """The runs as an aligned table, newest first (or in the query's order), column by column: 20,000 runs
    in a tenth of the time of a cell per value (bench/runs.py). Piped, every column and nothing cut; on a
    narrow terminal whole columns give way (see below)."""
    from magnus_core.runs import several_users
    from magnus_core.table import fit_column_widths, fmt_value, render_columns, terminal_width, use_colour

    if not table.run_ids:
        click.echo(f"No runs in {where}")
        return
    headers = ["run id", "status", "tag", "start", "duration", "steps", "re-run of"]
    users = several_users(table.users)
    headers += [f"params.{p}" for p in param_cols] + [f"metrics.{m}" for m in metric_cols]
    states = table.states
    params, metrics = table.params or (), table.metrics or ()
    columns: list[Sequence[str]] = [
        table.run_ids,
        table.statuses  # (every run's state its status: no run recorded as running; a C comparison)
        if states is table.statuses or states == table.statuses
        else [
            state if state == status else f"{state} ({status})"
            for state, status in zip(states, table.statuses, strict=True)
        ],
        table.tags,
        table.start_texts,
        table.duration_texts,
        table.step_texts,
        table.original_run_ids,
        *([fmt_value(values.get(p)) for values in params] for p in param_cols),
        *([fmt_value(values.get(m)) for values in metrics] for m in metric_cols),
    ]
    right = {4, 5} | {7 + i for i in range(len(param_cols) + len(metric_cols))}
    # Piped (grep, a file): every column, nothing cut. On a terminal too narrow for every column, whole
    # columns give way in this order, never the run id: re-run of, steps, duration, start, tag, then the
    # metrics and parameters asked for with --params/--metrics (the last first: they are why the user
    # typed the command; trial 4 saw exactly them hidden at 80 columns), the user, status last.
    extra = list(range(len(headers) - 1, 6, -1))
    order = [6, 5, 4, 3, 2, *extra, 1]
    if users:  # after the run id: who ran it is a team's first question (the last to give way but status)
        headers.insert(1, "user")
        shown = table.users  # (a C search first: most stores have no run without a user)
        columns.insert(1, [u or USER_UNKNOWN for u in shown] if "" in shown else shown)
        right = {i + 1 for i in right}
        order = [i + 1 for i in order[:-1]] + [1, 2]
    widths = [max(len(h), max(map(len, col), default=0)) for h, col in zip(headers, columns, strict=True)]
    keep = fit_column_widths(widths, terminal_width(), order)
    colour = use_colour()
    styles: list[list[str] | None] = [None] * len(headers)
    styles[2 if users else 1] = [STATE_STYLE.get(state, "yellow") for state in states] if colour else None
    text = render_columns(
        [headers[i] for i in keep],
        [columns[i] for i in keep],
        right={keep.index(i) for i in right if i in keep},
        styles=[styles[i] for i in keep],
        colour=colour,
        widths=[widths[i] for i in keep],
    )
    if colour:
        click.echo(text, color=True)
    else:  # (click.echo would look for colour codes to strip in every line of 20,000)
        sys.stdout.write(text + "\n")
    hidden = [headers[i] for i in range(len(headers)) if i not in keep]
    if hidden:
        note(
            f"({len(hidden)} column(s) hidden to fit the terminal: {', '.join(hidden)}; widen it, or pipe "
            "the output, to see every column)"
        )
    for run_id, error in zip(table.run_ids, table.errors, strict=True):
        if error:
            line = f"{run_id}: {error}"
            click.echo(f"\x1b[31m{line}\x1b[0m" if colour else line, color=colour)
    for run_id, failure in zip(table.run_ids, table.failures, strict=False):  # (--status FAIL)
        if failure:
            line = f"{run_id}: {failure}"
            click.echo(f"\x1b[31m{line}\x1b[0m" if colour else line, color=colour)


def _as_typed(value: str) -> str:
    """A filter as a user would type it in a shell: `"status = 'FAIL'"`, not shlex's quote-escaping."""
    if "'" in value and not any(c in value for c in '"$`\\!'):
        return f'"{value}"'
    return shlex.quote(value)
