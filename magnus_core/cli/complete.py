"""Shell completion (click's, for bash, zsh and fish): run ids, step names, tags, pipeline files.

`magnus completion bash|zsh|fish` prints the script to source (docs/cli.md#shell-completion). Completing
must be fast and never fail: a store that cannot be read, or a pipeline that does not load, completes
nothing instead of printing an error into the user's command line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

from magnus_core.cli import cli

SHELLS = ("bash", "zsh", "fish")
MAX = 200  # completions offered at most (the newest runs first)


def _config_file(ctx: click.Context) -> str | None:
    """The --config-file given on the line so far (this command's or the group's)."""
    while ctx is not None:
        value = ctx.params.get("config_file")
        if value:
            return str(value)
        ctx = ctx.parent  # type: ignore[assignment]
    return None


def _quiet(func: Callable[..., list[CompletionItem]]) -> Callable[..., list[CompletionItem]]:
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        with contextlib.suppress(Exception):
            return func(ctx, param, incomplete)[:MAX]
        return []

    complete.__doc__ = func.__doc__
    return complete


@_quiet
def run_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Run ids of the configured store (`-c` on the line is honoured) starting with what is typed; a path
    (with '/' or ending .json) completes as a file, for `magnus diff old.json new.json`."""
    if "/" in incomplete or incomplete.endswith(".json"):
        return [CompletionItem(incomplete, type="file")]
    from magnus_core.runs import store_from_config

    store = store_from_config(_config_file(ctx))
    ids = sorted((i for i in store.list_run_ids() if i.startswith(incomplete)), reverse=True)
    return [CompletionItem(i) for i in ids]


@_quiet
def step_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Internal names of the steps of the pipeline named by --file (as execute_single_node takes them:
    '%' for spaces, the map placeholder for items); `magnus fan` completes composite steps only."""
    from magnus_core.graph import walk
    from magnus_core.loading import load_pipeline

    pipeline = load_pipeline(ctx.params.get("file") or "pipeline.yaml")
    composites_only = ctx.command.name == "fan"
    names = []
    for visit in walk(pipeline.dag):
        if composites_only and not visit.node.is_composite:
            continue
        name = visit.internal_name.replace(" ", "%")
        if name.startswith(incomplete):
            names.append(CompletionItem(name, help=visit.node.type))
    return names


@_quiet
def run_steps(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Internal names of the steps the run named before it on the line recorded (`magnus logs RUN <Tab>`),
    in the order they ran, composite steps, their branches (`fan.B`, a map's item `each.c`) and the steps
    inside them (logs.known_names); nothing when the run is unknown."""
    return _names(ctx, incomplete, branches=True)


def _names(ctx: click.Context, incomplete: str, *, branches: bool) -> list[CompletionItem]:
    from magnus_core.logs import known_names, known_steps
    from magnus_core.runs import get_typed_run, store_from_config

    run_id = ctx.params.get("run_id")
    if not run_id:
        return []
    run_log = get_typed_run(store_from_config(_config_file(ctx)), run_id)
    types = {step.internal_name: step.step_type for step in run_log.walk()}
    return [
        CompletionItem(name.replace(" ", "%"), help=types.get(name, "branch"))  # as logs takes it
        for name in (known_names(run_log) if branches else known_steps(run_log))
        if name.replace(" ", "%").startswith(incomplete)
    ]


@_quiet
def diff_steps(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """`magnus diff A B --output <Tab>`: the steps of run A (as `magnus logs RUN <Tab>` completes them,
    without the branches).
    While an option's value is completed, click leaves the arguments unparsed, in ctx.args."""
    words = [w for w in ctx.args if not w.startswith("-")]
    ctx.params["run_id"] = ctx.params.get("run_a") or (words[0] if words else None)
    return _names(ctx, incomplete, branches=False)  # (--output takes steps, not branches)


@_quiet
def tags(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Tags of the runs in the configured store."""
    from magnus_core.runs import list_runs, store_from_config

    store = store_from_config(_config_file(ctx))
    found = {s.tag for s in list_runs(store) if s.tag and s.tag.startswith(incomplete)}
    return [CompletionItem(t) for t in sorted(found)]


@_quiet
def users(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Users who ran the runs in the configured store (`magnus runs --user`)."""
    from magnus_core.runs import list_runs, store_from_config

    store = store_from_config(_config_file(ctx))
    found = {s.user for s in list_runs(store) if s.user and s.user.startswith(incomplete)}
    return [CompletionItem(u) for u in sorted(found)]


@_quiet
def statuses(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The statuses `magnus runs --status` takes."""
    return [CompletionItem(s) for s in RUN_STATES if s.lower().startswith(incomplete.lower())]


from magnus_core.models import RUN_STATES  # noqa: E402 - what --status matches, beside its completer


@_quiet
def pipeline_files(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """YAML files: those below the working folder whose path starts with what is typed (two levels deep),
    then the shell's own file completion."""
    root = Path.cwd()
    found = sorted(
        p.relative_to(root).as_posix()
        for pattern in ("*.yaml", "*.yml", "*/*.yaml", "*/*.yml")
        for p in root.glob(pattern)
        if not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    matches = [CompletionItem(f) for f in found if f.startswith(incomplete)]
    return matches or [CompletionItem(incomplete, type="file")]


def file_option(help: str = "The pipeline file.") -> Any:
    """`-f/--file`, the pipeline file, completing YAML files: for execute and the per-step commands."""
    return click.option(
        "-f",
        "--file",
        "file",
        default="pipeline.yaml",
        show_default=True,
        shell_complete=pipeline_files,
        help=help,
    )


@cli.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell-completion script for SHELL (bash, zsh or fish): commands, options, run ids, step
    names, tags and pipeline files complete with Tab.

    \b
    Install it once:
      bash:  echo 'eval "$(magnus completion bash)"' >> ~/.bashrc
      zsh:   echo 'eval "$(magnus completion zsh)"' >> ~/.zshrc
      fish:  magnus completion fish > ~/.config/fish/completions/magnus.fish
    """
    from click.shell_completion import get_completion_class

    root = ctx.find_root()
    cls: Any = get_completion_class(shell)
    click.echo(cls(root.command, {}, "magnus", "_MAGNUS_COMPLETE").source())
