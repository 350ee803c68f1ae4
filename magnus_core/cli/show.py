"""`magnus show RUN`: a run's summary, as `magnus execute` printed it at the end, or every step."""

from __future__ import annotations

import click

from magnus_core.cli import cli, complete


@cli.command("show")
@click.argument("run_id", shell_complete=complete.run_ids)
@click.option(
    "--steps",
    "every",
    is_flag=True,
    help="List every top-level step and locate every failed step, however many.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run log as JSON instead.")
@click.option("-c", "--config-file", default=None, help="Config file naming the run-log store.")
@click.pass_context
def show(ctx: click.Context, run_id: str, every: bool, as_json: bool, config_file: str | None) -> None:
    """Print a run's summary: its status, its steps, and each failed step's error and last output lines.

    Above 50 steps the summary shows the counts and the steps that matter (failed, retried, the slowest)
    and locates the first five failures; --steps lists every step and locates every failure. RUN_ID is a
    run id in the configured store (or its start or end when that names one run only, such as its last six
    characters; `last` is the newest run, as `magnus runs` lists it first) or a path to a run-log JSON
    file.

    \b
    Examples:
      magnus show 20240101120000_ab12cd
      magnus show 20240101120000_ab12cd --steps | grep FAIL
      magnus show last
    """
    from magnus_core.diff import looks_like_path, open_run
    from magnus_core.gcpause import off_for_this_command

    off_for_this_command()
    from magnus_core.summary import print_summary

    store = None
    if not looks_like_path(run_id):
        from magnus_core.runs import store_from_config

        store = store_from_config(config_file or (ctx.obj or {}).get("config_file"))
    run_log, source = open_run(run_id, store)
    if as_json:
        click.echo(run_log.model_dump_json(indent=4))
    else:
        print_summary(run_log, source, every=every)
        from magnus_core.runs import run_state

        if store is not None and store.keeps_runs and run_state(run_log) in ("FAIL", "INTERRUPTED"):
            from magnus_core.stop import resume_command

            click.echo(f"Resume with: {resume_command(run_log)}")
