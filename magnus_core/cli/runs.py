"""`magnus runs`: list the runs in the configured run-log store, newest first."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from magnus_core.cli import cli

if TYPE_CHECKING:
    from rich.console import JustifyMethod


@cli.command("runs")
@click.option("--tag", default=None, help="Only runs with this tag.")
@click.option("--status", default=None, help="Only runs with this status (SUCCESS, FAIL, RUNNING, ...).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.option("-c", "--config-file", default=None, help="Config file naming the run-log store.")
@click.pass_context
def runs(
    ctx: click.Context,
    tag: str | None,
    status: str | None,
    limit: int | None,
    as_json: bool,
    config_file: str | None,
) -> None:
    """List the runs kept in the run-log store: id, status, tag, start, duration, steps, re-run of.

    \b
    Examples:
      magnus runs --limit 10
      magnus runs --status FAIL --json
    """
    from magnus_core.runs import list_runs, store_from_config

    if hasattr(sys.stdout, "reconfigure") and (sys.stdout.encoding or "").lower().replace("-", "") != "utf8":
        sys.stdout.reconfigure(errors="replace")  # a tag the terminal cannot show must not crash the list
    store = store_from_config(config_file or (ctx.obj or {}).get("config_file"))
    summaries = list_runs(store, tag=tag, status=status, limit=limit)
    if as_json:
        click.echo(
            json.dumps(
                {"schema": "magnus-runs/1", "store": store.where(), "runs": [s.to_json() for s in summaries]},
                indent=2,
                default=str,
            )
        )
        return
    _print_table(summaries, store.where())


def _print_table(summaries: list, where: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from magnus_core.diff_render import fmt_seconds
    from magnus_core.models.run_log import local_text

    console = Console()
    if not summaries:
        console.print(f"No runs in {where}", markup=False, highlight=False)
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("run id", "left"),
        ("status", "left"),
        ("tag", "left"),
        ("start", "left"),
        ("duration", "right"),
        ("steps", "right"),
        ("re-run of", "left"),
    )
    for name, justify in columns:
        # Ids and times are copied by users: never truncate or wrap them; the tag column gives way first.
        fixed = name in ("run id", "status", "start", "duration", "steps")
        table.add_column(
            name,
            justify=justify,
            no_wrap=fixed,
            min_width=max((len(s.run_id) for s in summaries), default=6) if name == "run id" else len(name),
        )
    colours = {"SUCCESS": "green", "FAIL": "red", "BROKEN": "red", "RUNNING": "yellow"}
    from rich.text import Text

    for s in summaries:
        state = s.state if s.state == s.status else f"{s.state} ({s.status})"
        table.add_row(
            Text(s.run_id),
            Text(state, style=colours.get(s.state, "yellow")),
            Text(s.tag),
            Text(local_text(s.start)),
            Text(fmt_seconds(s.duration) if s.duration is not None else "-"),
            Text(str(s.steps)),
            Text(s.original_run_id),
        )
    console.print(table)
    for s in summaries:
        if s.error:
            console.print(Text(f"{s.run_id}: {s.error}", style="red"), soft_wrap=True)
