"""`magnus diff A B`: what changed between two runs (run ids in the store, or run-log JSON files)."""

from __future__ import annotations

import sys
from typing import Any

import click

from magnus_core import jsonio as json
from magnus_core.cli import cli, data_console, hold_until_exit, note, printing
from magnus_core.cli.complete import diff_steps, run_ids


@cli.command("diff")
@click.argument("run_a", shell_complete=run_ids)
@click.argument("run_b", shell_complete=run_ids)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Show equal items too, not only what changed (not with --output or --code).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON (schema magnus-diff/2).")
@click.option(
    "--exit-code", is_flag=True, help="Exit 1 when the runs differ, 0 when they do not (like diff)."
)
@click.option(
    "--output",
    "output_step",
    default=None,
    metavar="STEP",
    shell_complete=diff_steps,
    help="Instead: what STEP printed in A and in B (its last attempt), as a unified diff (diff -u).",
)
@click.option(
    "--code",
    "code",
    is_flag=True,
    help="Instead: the content change between the code A ran and the code B ran (their commits and their "
    "uncommitted changes), as a unified diff; the git repository here is asked for the commits.",
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
    output_step: str | None,
    code: bool,
    config_file: str | None,
) -> None:
    """Compare run A (before) with run B (after): dag, code, data, parameters, metrics and steps.

    RUN_A and RUN_B are run ids in the configured run-log store (or their starts or ends when those name
    one run only; `last` is the newest run, as `magnus runs` lists it first) or paths to run-log JSON
    files (logs written by the original magnus too).

    \b
    Examples:
      magnus diff 20240101120000_ab12cd 20240102090000_ef34a9
      magnus diff old.json new.json --json
      magnus diff ab12cd last
      magnus diff A B --exit-code && echo same
      magnus diff A B --output train    # what the step train printed, A against B
      magnus diff A B --code            # what changed in the code, uncommitted changes included
    """
    from magnus_core.diff import compare, looks_like_path, open_plain
    from magnus_core.gcpause import off_for_this_command

    off_for_this_command()

    store = None
    if not (looks_like_path(run_a) and looks_like_path(run_b)):
        from magnus_core.runs import store_from_config

        store = store_from_config(config_file or (ctx.obj or {}).get("config_file"))
    if output_step is not None and code:
        from magnus_core.errors import UsageError

        raise UsageError("--output and --code ask for different comparisons: give one", field="--code")
    if show_all and (output_step is not None or code):  # (a unified diff's --all was ignored, core9)
        from magnus_core.errors import UsageError

        other = "--output" if output_step is not None else "--code"
        raise UsageError(
            f"--all shows the equal items of the runs' comparison; {other} prints a unified diff of what "
            "changed: give one or the other"
        )
    if output_step is not None:
        ctx.exit(_output_diff(run_a, run_b, output_step, store, as_json=as_json, exit_code=exit_code))
    if code:
        ctx.exit(_code_diff(run_a, run_b, store, as_json=as_json, exit_code=exit_code))
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

            render(result, data_console(), show_all=show_all, refs=(run_a, run_b))
    hold_until_exit(a, b, result)  # the process ends without freeing them one by one
    ctx.exit(1 if exit_code and result.differs else 0)


def _output_diff(run_a: str, run_b: str, step: str, store: Any, *, as_json: bool, exit_code: bool) -> int:
    """`--output STEP`: the step's output in A against B, a unified diff (coloured on a terminal) or
    magnus-output-diff/1 JSON; what one side cannot show is said on stderr. The exit code, as --exit-code
    asks."""
    from magnus_core.diff import open_run
    from magnus_core.diff_output import step_output, unified

    runs = store.get_run if store is not None else None
    a = step_output(open_run(run_a, store)[0], step, runs=runs, side="A")
    b = step_output(open_run(run_b, store)[0], step, runs=runs, side="B")
    lines = unified(a, b)
    with printing():
        if as_json:
            data: dict[str, Any] = {"schema": "magnus-output-diff/1", "step": a.step}
            data.update(a=a.to_json(), b=b.to_json(), differs=bool(lines), diff=lines)
            click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            for side, out in (("A", a), ("B", b)):
                if out.problem:
                    note(f"magnus: {out.step} in {side} ({out.run_id}): {out.problem}")
            _print_unified(lines, a, b)
    return 1 if exit_code and lines else 0


def _code_diff(run_a: str, run_b: str, store: Any, *, as_json: bool, exit_code: bool) -> int:
    """`--code`: code_patch.code_change of the two runs, a unified diff (coloured on a terminal) or
    magnus-code-diff/1 JSON; how it was made, and what could not be, on stderr."""
    from magnus_core.code_patch import code_change
    from magnus_core.diff import open_run

    a = open_run(run_a, store)[0]
    b = open_run(run_b, store)[0]
    change = code_change(a, b)
    with printing():
        if as_json:
            data: dict[str, Any] = {"schema": "magnus-code-diff/1", "a": a.run_id, "b": b.run_id}
            data.update(change.to_json(), differs=bool(change.lines))
            click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            for line in change.notes:
                note(f"magnus: {line}")
            if not change.lines:
                note("magnus: the code is the same in both runs")
            _print_patch(change.lines)
    return 1 if exit_code and change.lines else 0


def _print_patch(lines: list[str]) -> None:
    from magnus_core.table import use_colour

    colour = use_colour()
    for line in lines:
        if colour and line.startswith(("diff --git", "index ", "--- ", "+++ ", "# ")):
            line = click.style(line, bold=True)
        elif colour and line[:1] in ("@", "+", "-"):
            line = click.style(line, fg={"@": "cyan", "+": "green", "-": "red"}[line[:1]])
        click.echo(line, color=colour)


def _print_unified(lines: list[str], a: Any, b: Any) -> None:
    from magnus_core.table import use_colour

    if not lines:
        same = "printed the same" if a.lines else "printed nothing, in both runs"
        count = len(a.lines)
        click.echo(f"{a.step} {same} ({count:,} line{'' if count == 1 else 's'}).", err=not a.lines)
        return
    colour = use_colour()
    styles = {"+": "green", "-": "red", "@": "cyan"}
    for index, line in enumerate(lines):
        style = styles.get(line[:1]) if index >= 2 else None  # (the two file lines: bold)
        click.echo(click.style(line, fg=style, bold=index < 2) if colour else line, color=colour)
