"""The click group of the `magnus` command line (`cli`) and its MagnusGroup: kept apart from the package's
own module so that a command line click need not parse (`magnus execute_single_node RUN STEP ...`, what
every Argo pod runs: cli/_step.py) never imports click (issue 19). `magnus_core.cli.cli` is this `cli`."""

from __future__ import annotations

from typing import Any

import click

from magnus_core import __version__
from magnus_core.cli import COMMANDS, CommandModuleError, _load, _register, run_guarded


class MagnusGroup(click.Group):
    """Turns our errors into one line on stderr and the documented exit codes; loads the module of a
    command when the command line names it (COMMANDS), every module only to list them all."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            info = COMMANDS.get(cmd_name)
            if info is None:  # not ours by name: every module, so the error can list what exists
                _register()
            else:
                _load(info.module)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """click's, with "Did you mean" offered only for a likely typo (suggest.close_commands)."""
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand:
            from magnus_core.suggest import close_commands

            name = str(args[0])
            raise click.exceptions.NoSuchCommand(
                name, possibilities=close_commands(name, self.commands), ctx=ctx
            ) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        _register()
        return super().list_commands(ctx)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The list of commands in `magnus --help`, from COMMANDS: no command module is imported to print
        it (as pip lists its commands). Each summary is shortened as click shortens a command's help."""
        from click.utils import make_default_short_help

        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [
            (name, make_default_short_help(info.summary, limit)) for name, info in sorted(COMMANDS.items())
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        done: list[Any] = []
        code = run_guarded(
            lambda: done.append(super(MagnusGroup, self).invoke(ctx)),
            passthrough=(
                click.exceptions.ClickException,
                click.exceptions.Exit,
                click.exceptions.Abort,
                CommandModuleError,  # the subcommand's module cannot be loaded: main() says so
            ),
        )
        if code is not None:
            ctx.exit(code)
        return done[0]


@click.group(
    cls=MagnusGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="magnus")
@click.option(
    "-c", "--config-file", default=None, help="Config file (for the workbench: where the runs are)."
)
@click.pass_context
def cli(ctx: click.Context, config_file: str | None) -> None:
    """Run pipelines of python functions, shell commands and notebooks, and keep a run log of each run.

    \b
    Start here:
      magnus execute --file pipeline.yaml      run a pipeline
      magnus runs                              list the runs kept in the run-log store
      magnus show RUN                          a run's summary: steps, errors, how to resume
      magnus logs RUN [STEP]                   what a run's steps printed
      magnus diff RUN_A RUN_B                  what changed between two runs
      magnus                                   open the terminal workbench

    Exit codes: 0 the run succeeded, 1 it failed, 2 usage or validation error, 130 interrupted (Ctrl-C),
    143 stopped (SIGTERM, `magnus stop`).
    """
    ctx.ensure_object(dict)
    ctx.obj["config_file"] = config_file
    if ctx.invoked_subcommand is None:
        from magnus_core.cli.tui import needs_terminal, open_workbench

        problem = needs_terminal()
        if problem is not None:  # in CI or a pipe: say what to do instead of drawing a screen nobody sees
            click.echo(ctx.get_help())
            raise problem
        open_workbench(config_file)


AFTER_DASHES = "magnus.parameters_after_dashes"


class ParametersCommand(click.Command):
    """`--` ends magnus's own options: every `--name value` after it is a parameter, whatever its name."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        from magnus_core.errors import UsageError

        for arg in args:  # bytes the terminal's encoding could not decode: nothing could record them
            if any("\udc80" <= ch <= "\udcff" for ch in arg):
                shown = repr(arg.encode("utf-8", "surrogateescape"))[2:-1]
                raise UsageError(
                    f"argument '{shown}' is not valid UTF-8 text (check the terminal's encoding)"
                )
        if "--" in args:
            cut = args.index("--")
            ctx.meta[AFTER_DASHES] = args[cut + 1 :]
            args = args[:cut]
        return super().parse_args(ctx, args)


def cli_parameters(ctx: click.Context) -> dict[str, Any]:
    """The parameters given on the command line: unknown `--name value` pairs before `--` (a name that looks
    like a mistyped option of this command is refused), then every pair after `--`."""
    from magnus_core.parameters import parse_cli_args

    names = [o for p in ctx.command.get_params(ctx) for o in (*p.opts, *p.secondary_opts)]
    options = [o[2:] for o in names if o.startswith("--")]
    before = parse_cli_args(list(ctx.args), options)
    after = parse_cli_args(list(ctx.meta.get(AFTER_DASHES, [])))
    return {**before, **after}
