"""`magnus execute_single_node` and `magnus fan`: one step of a run per process, for orchestrators."""

from __future__ import annotations

from typing import Any

import click

from magnus_core import jsonio as json
from magnus_core.cli import LOG_LEVELS, cli, complete, setup_logging
from magnus_core.cli._group import ParametersCommand, cli_parameters


def _common(func: Any) -> Any:
    options = [
        complete.file_option(),
        click.option(
            "-c", "--config-file", default=None, help="Config file (the shared run-log store and catalog)."
        ),
        click.option(
            "-p",
            "--parameters-file",
            default=None,
            help="Initial parameters, used when this step creates the run log.",
        ),
        click.option(
            "-v", "--var-file", default=None, help="YAML mapping of values for ${name} placeholders."
        ),
        click.option(
            "--map-variable",
            default=None,
            help='JSON object of map items for steps inside a map, e.g. \'{"chunk": "a"}\'.',
        ),
        click.option(
            "--log-level",
            default="WARNING",
            show_default=True,
            type=click.Choice(LOG_LEVELS, case_sensitive=False),
            help="Level of magnus's own logs.",
        ),
        click.option("--tag", default="", help="A tag stored in the run log (when this step creates it)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


# Every other `--name value` (and every pair after `--`) is a parameter, as for `magnus execute`
_PARAMETERS = {"ignore_unknown_options": True, "allow_extra_args": True}


@cli.command("execute_single_node", cls=ParametersCommand, context_settings=_PARAMETERS)
@click.argument("run_id", shell_complete=complete.run_ids)
@click.argument("step_internal_name", metavar="STEP", shell_complete=complete.step_names)
@_common
@click.pass_context
def execute_single_node(
    ctx: click.Context,
    run_id: str,
    step_internal_name: str,
    file: str,
    config_file: str | None,
    parameters_file: str | None,
    var_file: str | None,
    map_variable: str | None,
    log_level: str,
    tag: str,
) -> None:
    """Run exactly one step of run RUN_ID (for orchestrators such as Argo and Dask).

    STEP is the step's internal name, a dot path, with '%' for spaces (`parallel%step.branch%a.a1`); inside
    a map, the item is `map_variable_placeholder` and --map-variable gives it. The run log is created if this
    is the first step. A step that already succeeded is not run again.

    Every other `--name value` is a parameter, as for `magnus execute` (a name like one of the options
    below goes after `--`); like -p, parameters are used when this step creates the run log, and later
    steps read them from it.

    Exit code: 0 the step succeeded, 1 it failed (or it is the fail node), 2 usage error.
    """
    from magnus_core.cli._step import run_step

    code = run_step(
        run_id,
        step_internal_name,
        file=file,
        config_file=config_file,
        parameters_file=parameters_file,
        var_file=var_file,
        map_variable=map_variable,
        log_level=log_level,
        tag=tag,
        parameters=cli_parameters(ctx),
    )
    ctx.exit(code)


@cli.command("fan", cls=ParametersCommand, context_settings=_PARAMETERS)
@click.argument("run_id", shell_complete=complete.run_ids)
@click.argument("step_internal_name", metavar="STEP", shell_complete=complete.step_names)
@click.option(
    "-m",
    "--mode",
    type=click.Choice(["in", "out"]),
    required=True,
    help="out: record the branches before they run; in: decide the step's status after.",
)
@click.option(
    "--items-file",
    default=None,
    help="Also write the branches to run now that are run per item (a map's items, a loop's next "
    "iteration) here, as a JSON list of --map-variable values.",
)
@click.option(
    "--outputs-dir",
    default=None,
    help="Write each value an engine may route on to a file of this folder named after it (a "
    "conditional's 'branch', a loop's 'break' and 'iterations'), as Argo reads output parameters.",
)
@_common
@click.pass_context
def fan(
    ctx: click.Context,
    run_id: str,
    step_internal_name: str,
    mode: str,
    items_file: str | None,
    outputs_dir: str | None,
    file: str,
    config_file: str | None,
    parameters_file: str | None,
    var_file: str | None,
    map_variable: str | None,
    log_level: str,
    tag: str,
) -> None:
    """Fan out (-m out) or fan in (-m in) the composite step STEP of run RUN_ID.

    Fan-out prints the branches to run that are run per item as a JSON list (each item the --map-variable
    of one branch: a map's items), so an engine can run one branch per item. A fan-in decides the step,
    or, for a step that runs in rounds (a loop), prints the next round's branches the same way and leaves
    the step running. Every other `--name value` is a parameter, used if this creates the run log (as
    for execute_single_node). Exit code: 0 success (or a next round), 1 the step failed (one line on
    stderr says which branches failed and the `magnus logs` command that shows them), 2 usage error.
    """
    from magnus_core.single import branch_items, fan_in_result, fan_out_result, job_from_files

    setup_logging(log_level.upper())
    job = job_from_files(
        run_id,
        step_internal_name,
        file=file,
        config_file=config_file,
        parameters_file=parameters_file,
        var_file=var_file,
        map_variable=map_variable,
        tag=tag,
        parameters=cli_parameters(ctx),
    )
    result = fan_in_result(job) if mode == "in" else fan_out_result(job)
    text = json.dumps(branch_items(result.branches))
    from pathlib import Path

    from magnus_core.files import atomic_write

    if items_file:
        atomic_write(Path(items_file), text)
    if outputs_dir:
        for name, value in result.outputs.items():
            atomic_write(Path(outputs_dir) / name, value if isinstance(value, str) else json.dumps(value))
    if mode == "out" or result.branches:
        click.echo(text)
    if result.said:  # a failed step says which branches failed and where to look (the pod's log)
        click.echo(f"magnus: {result.said}", err=True)
    ctx.exit(result.code)
