"""`magnus stop RUN`: stop a running run from another terminal (magnus_core/stop.py)."""

from __future__ import annotations

import sys

import click

from magnus_core import jsonio as json
from magnus_core.cli import cli, complete, note


@cli.command("stop")
@click.argument("run_id", shell_complete=complete.run_ids)
@click.option(
    "-t",
    "--timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="How long the run may take to stop cleanly before its process is killed (SIGKILL).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.option("-c", "--config-file", default=None, help="Config file naming the run-log store.")
@click.pass_context
def stop(ctx: click.Context, run_id: str, timeout: float, as_json: bool, config_file: str | None) -> None:
    """Stop a running run: the steps in progress are recorded INTERRUPTED, the run ends INTERRUPTED with what
    it had done kept, and `magnus execute --use-cached RUN` resumes it.

    The run log names the process running it (pid, host and the process's start time); only a process on
    this host whose pid and start time both match is signalled, so a pid reused by another process is never
    touched. The process gets SIGTERM (as Ctrl-C in its terminal); one that has not ended after --timeout
    seconds gets SIGKILL. A step that ignores SIGTERM (a library's own handler) keeps the run going until
    then; a run that ends SUCCESS or FAIL first is said to have ended on its own (exit 2).

    \b
    Examples:
      magnus stop 20261125062239_de1af9
      magnus stop 20261125062239_de1af9 --timeout 5

    Exit codes: 0 stopped, 1 the run may still be running but cannot be stopped from here (another host,
    another user's process), 2 no such run, or the run is not running (it ended: nothing to stop), or it
    ended on its own before it could be stopped.
    """
    from magnus_core.runs import get_typed_run, store_from_config
    from magnus_core.stop import stop_run

    store = store_from_config(config_file or (ctx.obj or {}).get("config_file"))
    run_id = get_typed_run(store, run_id).run_id  # a unique prefix or suffix of the id, or `last`, too
    told = False

    def waiting(seconds: float) -> None:
        nonlocal told
        if not told and seconds >= 1 and not as_json and sys.stderr.isatty():
            note(f"Stopping {run_id} (up to {timeout:g} s before it is killed)...")
            told = True

    outcome = stop_run(store, run_id, timeout=timeout, on_wait=waiting)
    if as_json:
        click.echo(json.dumps(outcome.to_json(), indent=2))
    elif outcome.on_its_own:  # SIGTERM did not stop it: it ran on to its end (trial 16 F4)
        again = f"; resume it with: {outcome.resume}" if outcome.status != "SUCCESS" else ""
        click.echo(
            f"Run {run_id} ended {outcome.status} on its own {outcome.seconds:.1f} s after SIGTERM, before "
            f"it could be stopped (pid {outcome.pid}): a step ignored the signal, or it was ending anyway"
            f"{again}"
        )
    elif not outcome.killed and outcome.status == "PROCESSING":  # SIGTERM ended it before it recorded
        click.echo(  # anything: its handler bypassed, a step's SIGTERM set to the default from C (trial 21)
            f"Run {run_id} ended at the SIGTERM without recording its end (pid {outcome.pid}, "
            f"{outcome.seconds:.1f} s): {outcome.state} (PROCESSING): a step had left SIGTERM to its default "
            f"action (from C), bypassing magnus's handler; resume it with: {outcome.resume}"
        )
    else:
        how = "killed after the timeout" if outcome.killed else "stopped"
        click.echo(
            f"Run {run_id} {how} (pid {outcome.pid}, {outcome.seconds:.1f} s): {outcome.state}; "
            f"resume it with: {outcome.resume}"
        )
    ctx.exit(2 if outcome.on_its_own else 0)  # (nothing was stopped: as for a run that had ended)
