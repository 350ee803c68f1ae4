"""`magnus tui`: the terminal workbench (Textual is imported only here)."""

from __future__ import annotations

import click

from magnus_core.cli import cli


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
    open_workbench(config_file or ctx.obj.get("config_file"))
