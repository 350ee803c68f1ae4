"""`magnus tui`: the terminal workbench (Textual is imported only here)."""

from __future__ import annotations

from typing import Any

import click

from magnus_core.cli._group import cli


def needs_terminal() -> Any:
    """A UsageError when stdin or stdout is not a terminal (CI, a pipe, `magnus < /dev/null`): the workbench
    would wait for keys nobody types, writing escape codes nobody reads. None on a terminal."""
    import sys

    from magnus_core.errors import UsageError

    if sys.stdin.isatty() and sys.stdout.isatty():
        return None
    which = "stdin" if not sys.stdin.isatty() else "stdout"
    return UsageError(
        f"the workbench needs a terminal ({which} is not one); without one, run a command: "
        "magnus execute --file pipeline.yaml, magnus runs, magnus diff A B (see magnus --help)"
    )


def open_workbench(config_file: str | None) -> None:
    import importlib

    try:
        # The one hand-over from the headless core to the workbench, looked up by name at run time so the
        # core keeps no import of it (the import-linter contract and tests/test_architecture.py hold).
        run_app = importlib.import_module("magnus_tui.app").run_app
    except (ImportError, AttributeError) as exc:
        from magnus_core.errors import NotBuiltError

        raise NotBuiltError(f"the workbench is not available here ({exc}); see `magnus --help`") from None
    run_app(config_file=config_file)


@cli.command("tui")
@click.option("-c", "--config-file", default=None, help="Config file naming the run-log store to browse.")
@click.pass_context
def tui(ctx: click.Context, config_file: str | None) -> None:
    """Open the terminal workbench: browse, watch, start and compare runs."""
    problem = needs_terminal()
    if problem is not None:
        raise problem
    open_workbench(config_file or ctx.obj.get("config_file"))
