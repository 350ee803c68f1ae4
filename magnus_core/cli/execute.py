"""`magnus execute`: run a pipeline and print a summary (or the run log with --json)."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import click

from magnus_core.cli import LOG_LEVELS, cli, complete, note, setup_logging
from magnus_core.cli._group import AFTER_DASHES, ParametersCommand, cli_parameters

__all__ = ["AFTER_DASHES", "ExecuteCommand", "cli_parameters", "execute"]

# `--name value` parameters: ParametersCommand and cli_parameters live in _group.py (execute_single_node
# and fan take them too, and their --help must not import this module)
ExecuteCommand = ParametersCommand


@cli.command(
    "execute",
    cls=ExecuteCommand,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@complete.file_option()
@click.option("-c", "--config-file", default=None, help="Config file; its blocks override all others.")
@click.option("-p", "--parameters-file", default=None, help="YAML mapping of initial parameters.")
@click.option("-v", "--var-file", default=None, help="YAML mapping of values for ${name} placeholders.")
@click.option(
    "--log-level",
    default="WARNING",
    show_default=True,
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    help="Level of magnus's own logs (DEBUG also shows tracebacks).",
)
@click.option(
    "--tag", default="", help="A tag stored in the run log (a re-run: the original's, unless given)."
)
@click.option("--run-id", default=None, help="Id of the new run (default: timestamp_xxxxxx).")
@click.option(
    "--use-cached",
    "use_cached",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[OLD]",
    shell_complete=complete.run_ids,
    help="Re-run OLD (alone: the run named by --run-id, else the newest failed run of this pipeline not "
    "re-run to success since), reusing the steps that succeeded.",
)
@click.option("--strict", is_flag=True, help="With --use-cached: refuse if the dag, code or data changed.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the run log as JSON on stdout instead of a summary (a failure is said on stderr).",
)
@click.option(
    "--prompt-fd",
    type=click.IntRange(min=0),
    default=None,
    hidden=True,  # for programs that start runs (the workbench): magnus_core/prompt_channel.py
    help="Ask for missing secrets over this inherited socket instead of the terminal.",
)
@click.pass_context
def execute(
    ctx: click.Context,
    file: str,
    config_file: str | None,
    parameters_file: str | None,
    var_file: str | None,
    log_level: str,
    tag: str,
    run_id: str | None,
    use_cached: str | None,
    strict: bool,
    as_json: bool,
    prompt_fd: int | None,
) -> None:
    """Run a pipeline and write its run log.

    Every other `--name value` becomes parameter `name` (`--x 3` is the number 3, `--zip 02142` the text
    02142: see docs/parameters.md). A name close to one of the options below (`--fiel`) is refused as a
    typo; a parameter of such a name goes after `--`: `magnus execute -f p.yaml -- --fiel x`.

    \b
    Examples:
      magnus execute --file examples/getting-started.yaml --tag example
      magnus execute --file examples/getting-started.yaml --arg1 hello --arg2 world
      magnus execute --file examples/getting-started.yaml --use-cached OLD_RUN_ID

    Exit codes: 0 the run succeeded, 1 it failed (or its run log could not be written), 2 usage or
    validation error (nothing ran), 130 interrupted (Ctrl-C), 143 stopped (SIGTERM, `magnus stop`).
    """
    from magnus_core.errors import MagnusError, StoreError
    from magnus_core.runner import RunRequest, prepare
    from magnus_core.runner import execute as run

    setup_logging(log_level.upper())
    # a mistyped option is refused first (`--fiel p.yaml`: 'did you mean --file?'), not taken for a missing
    # pipeline.yaml (trial 19 F17: the default file's error named another pipeline, never --fiel)
    parameters = cli_parameters(ctx)
    _given_or_default(ctx, file)
    from magnus_core import output

    # From here every stream is masked (file descriptors too): a handler or a stream a module takes at
    # import (during prepare) is already the seam's.
    with output.installed(fds=True):
        # the seed's form: --run-id OLD --use-cached (the new run gets a new id)
        if use_cached == "" and run_id:
            use_cached, run_id = run_id, None
        request = RunRequest(
            file=file,
            config_file=config_file,
            parameters_file=parameters_file,
            var_file=var_file,
            run_id=run_id,
            tag=tag,
            parameters=parameters,
            use_cached=use_cached,
            strict=strict,
        )
        from magnus_core.gcpause import paused

        with paused():  # loading a pipeline makes about 100 acyclic objects per step (gcpause.py)
            prepared = prepare(request)
        if prepared.plan is not None and not as_json:
            from magnus_core.rerun import format_plan

            click.echo("\n".join(format_plan(prepared.plan)), err=True)
        for warning in prepared.warnings:
            note(f"Warning: {warning}")
        channel = None
        # a front end answers secret prompts (values never on a command line or file)
        if prompt_fd is not None:
            from magnus_core.prompt_channel import ChannelPrompt

            channel = prepared.secrets.prompt = ChannelPrompt(prompt_fd)
        elif sys.stdin.isatty():
            prepared.secrets.prompt = _ask_secret
        rendered = prepared.executor.render(prepared)  # argo: writes the workflow file instead of running
        if rendered is not None:
            click.echo(f"Wrote {rendered}")
            ctx.exit(0)
        progress = _progress_printer() if sys.stderr.isatty() and not as_json else None
        # What exists now (modules, the loaded pipeline and config) lives until the process ends: the cyclic
        # garbage collector stops walking it at every collection during the run (a third of its cost
        # at 3,000 steps, issue 19). Objects made from here on, the steps' among them, are collected as usual.
        import gc

        gc.freeze()
        if channel is not None:  # the front end learns of every write the moment it is made
            progress = _channel_notices(channel, prepared.store, progress)
        from magnus_core import processes
        from magnus_core.cli import one_process_per_command

        if one_process_per_command():  # this process dying at once takes what its steps started with it
            # (trial 13 fault 1; docs/crash-safety.md); should this process die, the watcher says so where
            # the user reads (trial 19 F13: a segfault ended the run with nothing of magnus's own said)
            processes.watch(own_group=True, report_fd=output.terminal_fd("stderr"))
            processes.name_run(prepared.run_id)
        try:
            try:
                run_log = run(prepared, output=sys.stderr if as_json else None, on_event=progress)
            finally:
                processes.unwatch_group()  # the run ended, however: what lives on is stopped or the user's
                if channel is not None:  # the run's last notices reach the front end before it exits
                    channel.flush()
        except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM: the entry point says so, and how to resume
            from magnus_core.rerun import resume_hint

            with contextlib.suppress(Exception):  # a hint, never a second failure while stopping
                exc.resume_hint = resume_hint(request, prepared.run_id, prepared.store)  # type: ignore[attr-defined]
            raise
        except StoreError as exc:  # the run stopped: what the store wrote before is intact, and resumable
            from magnus_core.rerun import resume_command

            try:  # the run as written so far: the values known only masked must be given again
                masked = prepared.store.get_run(prepared.run_id).masked_parameters
                written = True
            except (OSError, MagnusError):
                written = False
            note(f"Error: {exc}")  # after the store's own warnings, the last word
            if written and "--use-cached" not in str(exc):  # unless the store's message says how already
                resume = resume_command(request, prepared.run_id, masked)
                note(f"The run stopped. Once the cause is fixed, resume with: {resume}")
            ctx.exit(exc.exit_code)
        from magnus_core.cli import unprintable

        # What cannot be printed (stdout closed, a reader that went away) never changes the exit code: the
        # run log and each attempt's captured output hold it all.
        with unprintable():
            if as_json:
                click.echo(run_log.model_dump_json(indent=4))
                from magnus_core.cli import answered_on_stdout

                answered_on_stdout()
            else:
                from magnus_core.output import stdout_mid_line

                if stdout_mid_line():  # a step's last line had no newline: the summary starts its own
                    click.echo("")
                print_summary(run_log, prepared.store.location(run_log.run_id))
        if run_log.status != "SUCCESS":
            from magnus_core.rerun import resume_hint

            if as_json:  # stdout holds only the JSON: the failure is said on stderr, with the resume hint
                with unprintable():
                    say_failures(run_log)
            with unprintable():
                note(resume_hint(request, run_log.run_id, prepared.store, run_log.masked_parameters))
        ctx.exit(0 if run_log.status == "SUCCESS" else 1)


def _ask_secret(name: str) -> str | None:
    """Hidden input on the terminal for a secret the provider lacks; empty input gives up."""
    import getpass

    try:
        value = getpass.getpass(f"Secret '{name}' (input hidden): ")
    except (EOFError, KeyboardInterrupt):
        return None
    return value or None


def _channel_notices(channel: Any, store: Any, then: Any) -> Any:
    """An on_event that tells the front end on `channel` of every write to the run (the run log exists,
    each step, branch and run update: prompt_channel.event_message), then calls `then`."""
    from magnus_core.events import RUN_UPDATED
    from magnus_core.prompt_channel import event_message

    def on_event(event: Any) -> None:
        log = None
        if event.kind == RUN_UPDATED:
            with contextlib.suppress(Exception):  # the live run, in memory: its parameters as kept (masked)
                log = store.get_run(event.run_id)
        message = event_message(event, log)
        if message is not None:
            channel.tell(message)
        if then is not None:
            then(event)

    return on_event


def _progress_printer() -> Any:
    from magnus_core.events import STEP_UPDATED

    def on_event(event: Any) -> None:
        step = event.step_log
        if event.kind == STEP_UPDATED and step is not None and step.status in ("SUCCESS", "FAIL"):
            mark = "ok  " if step.status == "SUCCESS" else "FAIL"
            sys.stderr.write(f"  {mark} {step.internal_name}\n")

    return on_event


def say_failures(run_log: Any) -> None:
    """On stderr, each line headed `magnus: `: `Run R: FAIL`, then the summary's failure block
    (summary.failure_lines: each failed step's error, where it was raised, its last lines and the `magnus
    logs` command), for `--json`, whose stdout is the run log alone (trial 11: a CI log of `--json` runs
    said the run failed only through its exit code). Lines are not wrapped: a command stays one line."""
    from magnus_core.summary import FULL_TABLE, failure_lines

    every = sum(1 for _ in run_log.walk()) <= FULL_TABLE
    lines = [f"Run {run_log.run_id}: {run_log.status}", *failure_lines(run_log, every=every)]
    sys.stderr.write("".join(f"magnus: {line}\n" for line in lines))
    sys.stderr.flush()


def print_summary(run_log: Any, where: str) -> None:
    """The end-of-run summary (magnus_core.summary): every step up to 50, else the ones that matter."""
    from magnus_core.summary import print_summary as show

    show(run_log, where)


def _given_or_default(ctx: click.Context, file: str) -> None:
    """`magnus execute` with no --file where there is no pipeline.yaml (a new user's first command, in a
    folder of theirs): UsageError saying that --file names the pipeline and pipeline.yaml is only its
    default, with `magnus execute --file F` for the nearest YAML file (suggest.nearby_files, as the
    loader names them) as a command that works as typed (session 9, fault 5: `pipeline.yaml: pipeline file
    not found` said nothing of --file). A --file given and not found is left to the loader
    (loading.read_yaml), which names the nearest files."""
    import shlex
    from pathlib import Path

    from click.core import ParameterSource

    from magnus_core.errors import UsageError
    from magnus_core.suggest import nearby_files

    if ctx.get_parameter_source("file") is not ParameterSource.DEFAULT or Path(file).exists():
        return
    found = [name for name in nearby_files(file) if name.endswith((".yaml", ".yml"))]
    how = f": magnus execute --file {shlex.quote(found[0])}" if found else ""
    raise UsageError(
        f"pipeline file not found: with no --file, magnus execute runs {file} of this folder; give the "
        f"pipeline with --file{how}",
        file=file,
    )
