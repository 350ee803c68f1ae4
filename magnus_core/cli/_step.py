"""`magnus execute_single_node RUN STEP [options]` without click: what every Argo pod and each per-step
process runs, so its start-up is paid once per step (issue 19). The usual command line, its arguments and
options only, is read here; anything else (--help, a flag that does not exist, a missing value, shell
completion, options before the command) is left to click (`parse` returns None), so help and usage errors
are click's, exactly as for every other command (exit 2, one line). The step then runs as the click command
runs it (cli/nodes.py: `run_step`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from magnus_core.cli import LOG_LEVELS

COMMAND = "execute_single_node"
# option -> the parameter it sets, as cli/nodes.py declares them (tests/test_single_node.py checks the two
# agree: a new option of the command must be added here too, or every line naming it goes to click)
OPTIONS = {
    "-f": "file",
    "--file": "file",
    "-c": "config_file",
    "--config-file": "config_file",
    "-p": "parameters_file",
    "--parameters-file": "parameters_file",
    "-v": "var_file",
    "--var-file": "var_file",
    "--map-variable": "map_variable",
    "--log-level": "log_level",
    "--tag": "tag",
}
DEFAULTS: dict[str, str | None] = {
    "file": "pipeline.yaml",
    "config_file": None,
    "parameters_file": None,
    "var_file": None,
    "map_variable": None,
    "log_level": "WARNING",
    "tag": "",
}


def parse(args: list[str]) -> Callable[[], int] | None:
    """The step to run (called, it runs it and returns the exit code) when `args` is a plain
    `execute_single_node RUN STEP [options]` line; None when click must read it."""
    if not args or args[0] != COMMAND or "_MAGNUS_COMPLETE" in os.environ:
        return None
    values = dict(DEFAULTS)
    positional: list[str] = []
    parameters: list[str] = []
    rest = iter(args[1:])
    for token in rest:
        if token == "--":  # parameters, as the argo renderer carries them (`-- --lr=0.4`)
            parameters = list(rest)
            break
        if not token.startswith("-") or token == "-":
            positional.append(token)
            continue
        name, equals, value = token.partition("=")
        if name not in OPTIONS or (equals and not name.startswith("--")):
            return None  # --help, -h, --, a typo, -fpipeline.yaml: click's to read (or refuse)
        if not equals:
            given = next(rest, None)
            if given is None:
                return None  # an option without its value: click says so
            value = given
        values[OPTIONS[name]] = value
    level = (values["log_level"] or "").upper()
    if len(positional) != 2 or level not in LOG_LEVELS:
        return None
    values["log_level"] = level
    run_id, step = positional

    def run() -> int:
        from magnus_core.parameters import parse_cli_args

        return run_step(run_id, step, **values, parameters=parse_cli_args(parameters))  # type: ignore[arg-type]

    return run


def run_step(
    run_id: str,
    step: str,
    *,
    file: str,
    config_file: str | None,
    parameters_file: str | None,
    var_file: str | None,
    map_variable: str | None,
    log_level: str,
    tag: str,
    parameters: dict[str, Any] | None = None,
) -> int:
    """Run step `step` of run `run_id` in this process, its output (file descriptors included) masked; the
    exit code: 0 the step succeeded, 1 it failed (or it is the fail node). Raises MagnusError on bad input.
    `parameters` (from `--name value`) are used, as the parameters file is, if this step creates the run."""
    from magnus_core.cli import one_process_per_command

    if one_process_per_command():  # this process runs this step only (not click's CliRunner in a test)
        from magnus_core.gcpause import pause_until_step_starts

        pause_until_step_starts()  # before the imports: most of the process is making their objects
    from magnus_core import output
    from magnus_core.cli import setup_logging

    setup_logging(log_level.upper())
    with output.installed(fds=True):  # the step's output, file descriptors included, is masked
        from magnus_core import single_plain

        files: dict[str, Any] = {
            "file": file,
            "config_file": config_file,
            "parameters_file": parameters_file,
            "var_file": var_file,
            "map_variable": map_variable,
            "tag": tag,
        }
        # the usual step, run without pydantic (None: the models' path)
        planned = single_plain.plan(run_id, step, **files, parameters=dict(parameters or {}))
        if planned is not None and os.environ.get(single_plain.OFF) != "1":
            return single_plain.run(planned)
        from magnus_core.single import execute_single_node, job_from_files

        job = job_from_files(run_id, step, **files, parameters=parameters)
        return execute_single_node(job, say_failure=True)
