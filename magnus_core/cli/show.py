"""`magnus show RUN`: a run's summary, as `magnus execute` printed it at the end, or every step."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from magnus_core.cli import cli, complete
from magnus_core.cli.runs import ALL

if TYPE_CHECKING:
    from magnus_core.models.run_log import RunLog


@cli.command("show")
@click.argument("run_id", required=False, shell_complete=complete.run_ids)
@click.option(
    "--steps",
    "every",
    is_flag=True,
    help="List every top-level step and locate every failed step, however many.",
)
@click.option(
    "--params",
    "params",
    is_flag=False,
    flag_value=ALL,
    default=None,
    metavar="NAMES",
    help="Add the run's parameters: a comma-separated list, or every parameter when given alone.",
)
@click.option(
    "--metrics",
    "metrics",
    is_flag=False,
    flag_value=ALL,
    default=None,
    metavar="NAMES",
    help="Add the run's metrics and the step that tracked each (`name` or `step.name`): a list, or every "
    "metric when given alone.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the run log as JSON instead (it holds every step, parameter and metric: not with --steps, "
    "--params or --metrics; with `crash` added when a fatal signal ended its process).",
)
@click.option("-c", "--config-file", default=None, help="Config file naming the run-log store.")
@click.pass_context
def show(
    ctx: click.Context,
    run_id: str | None,
    every: bool,
    params: str | None,
    metrics: str | None,
    as_json: bool,
    config_file: str | None,
) -> None:
    """Print a run's summary: its status, its steps, and each failed step's error and last output lines.

    Above 50 steps the summary shows the counts and the steps that matter (failed, retried, the slowest)
    and locates the first five failures; --steps lists every step and locates every failure. RUN_ID is a
    run id in the configured store (or its start or end when that names one run only, such as its last six
    characters; `last` is the newest run, as `magnus runs` lists it first) or a path to a run-log JSON
    file.

    --params and --metrics add the run's parameters and metrics under the summary, as `magnus runs
    --params --metrics` lists them for many runs.

    \b
    Examples:
      magnus show 20240101120000_ab12cd
      magnus show 20240101120000_ab12cd --steps | grep FAIL
      magnus show last --params --metrics
      magnus show last --params lr,epochs --metrics auc
    """
    from magnus_core.diff import looks_like_path, open_run
    from magnus_core.errors import UsageError
    from magnus_core.gcpause import off_for_this_command

    off_for_this_command()
    from magnus_core.summary import print_summary

    if run_id is None:  # `magnus show --params last`: the option took the run as its names
        for given in (params, metrics):
            if given not in (None, ALL) and "," not in given:
                run_id = given
                params = ALL if params == given else params
                metrics = ALL if metrics == given else metrics
                break
        else:
            said = "missing: a run id (or its last six characters), `last`, or a run-log file"
            raise UsageError(said, field="RUN_ID")
    shaping = [
        flag
        for flag, given in (
            ("--steps", every),
            ("--params", params is not None),
            ("--metrics", metrics is not None),
        )
        if given
    ]
    if as_json and shaping:  # (they shape the summary: with --json they were ignored without a word, core9)
        raise UsageError(
            f"{', '.join(shaping[:-1])}{' and ' if len(shaping) > 1 else ''}{shaping[-1]} "
            f"shape{'s' if len(shaping) == 1 else ''} the summary; --json prints the "
            "whole run log, which holds every step, parameter and metric: give one or the other"
        )

    store = None
    if not looks_like_path(run_id):
        from magnus_core.runs import store_from_config

        store = store_from_config(config_file or (ctx.obj or {}).get("config_file"))
    run_log, source = open_run(run_id, store)
    if as_json:
        from magnus_core.logs import crash_json, cut_short
        from magnus_core.stopped import record_of

        crash = crash_json(*cut_short(run_log))  # a fatal signal located: added to the log as stored
        # what the watcher stopped as the run's process died (trial 15 N4): added likewise
        stopped = record_of(run_log)
        added = {
            key: value
            for key, value in (("crash", crash), ("stopped", stopped.as_json() if stopped else None))
            if value is not None
        }
        if not added:
            click.echo(run_log.model_dump_json(indent=4))
        else:
            from magnus_core import jsonio as json

            click.echo(json.dumps({**run_log.model_dump(mode="json"), **added}, indent=4, ensure_ascii=False))
    else:
        print_summary(run_log, source, every=every)
        if params is not None or metrics is not None:
            _values(run_log, params, metrics)
        from magnus_core.runs import run_state

        if store is not None and store.keeps_runs and run_state(run_log) in ("FAIL", "INTERRUPTED"):
            from magnus_core.stop import resume_line

            click.echo(resume_line(run_log))


def _values(run_log: RunLog, params: str | None, metrics: str | None) -> None:
    """The parameters and metrics tables under the summary (summary.value_lines), a note on stderr for
    each name the run has not recorded."""
    from magnus_core.cli import note
    from magnus_core.cli.runs import names_option
    from magnus_core.summary import value_lines
    from magnus_core.table import use_colour

    lines, notes = value_lines(run_log, names_option(params), names_option(metrics), colour=use_colour())
    click.echo("\n".join(lines))
    for text in notes:
        note(f"magnus: {text}")
