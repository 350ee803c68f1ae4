"""`magnus diff A B`: what changed between two runs (run ids in the store, or run-log JSON files)."""

from __future__ import annotations

import json
import sys

import click

from magnus_core.cli import cli, data_console, hold_until_exit, printing
from magnus_core.cli.complete import run_ids


@cli.command("diff")
@click.argument("run_a", shell_complete=run_ids)
@click.argument("run_b", shell_complete=run_ids)
@click.option("--all", "show_all", is_flag=True, help="Show equal items too, not only what changed.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON (schema magnus-diff/2).")
@click.option(
    "--exit-code", is_flag=True, help="Exit 1 when the runs differ, 0 when they do not (like diff)."
)
@click.option("-c", "--config-file", default=None, help="Config file naming the run-log store.")
@click.pass_context
def diff(
    ctx: click.Context,
    run_a: str,
    run_b: str,
    show_all: bool,
    as_json: bool,
    exit_code: bool,
    config_file: str | None,
) -> None:
    """Compare run A (before) with run B (after): dag, code, data, parameters, metrics and steps.

    RUN_A and RUN_B are run ids in the configured run-log store (or their starts or ends when those name
    one run only; `last` is the newest run) or paths to run-log JSON files (logs written by the original
    magnus too).

    \b
    Examples:
      magnus diff 20240101120000_ab12cd 20240102090000_ef34a9
      magnus diff old.json new.json --json
      magnus diff ab12cd last
      magnus diff A B --exit-code && echo same
    """
    from magnus_core.diff import compare, looks_like_path, open_plain
    from magnus_core.gcpause import off_for_this_command

    off_for_this_command()

    store = None
    if not (looks_like_path(run_a) and looks_like_path(run_b)):
        from magnus_core.runs import store_from_config

        store = store_from_config(config_file or (ctx.obj or {}).get("config_file"))
    a, source_a = open_plain(run_a, store)
    b, source_b = open_plain(run_b, store)
    result = compare(a, b, a_source=source_a, b_source=source_b)
    from magnus_core.diff_render import can_encode

    utf = can_encode(sys.stdout)
    if not utf and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")  # a value the terminal cannot show must not crash the diff
    with printing():  # `magnus diff A B | head -1`: quiet, and --exit-code still says whether they differ
        if as_json:
            click.echo(
                json.dumps(
                    result.to_json(include_equal=show_all), indent=2, default=str, ensure_ascii=not utf
                )
            )
        else:
            from magnus_core.diff_render import render

            render(result, data_console(), show_all=show_all)
    hold_until_exit(a, b, result)  # the process ends without freeing them one by one
    ctx.exit(1 if exit_code and result.differs else 0)
